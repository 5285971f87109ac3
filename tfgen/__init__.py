"""tfgen: iterative and multi-scale image generators for TensorFlow / Keras 3.

Sub-packages: `data` (sources, pipelines, pyramids), `mcmc` (TFP transition
kernels and the compiled chain runner), `nets` (Keras networks), `models` (one
file per family), `metrics`, `train` (distributed loop, checkpoints), `vis`.
"""

__version__ = "0.1.0"
