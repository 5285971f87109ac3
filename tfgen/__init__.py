"""tfgen: iterative and multi-scale image generators for TensorFlow / Keras 3.

`families` is the registry of model families (the only place that knows
which exist), `config` the experiment settings. Sub-packages: `core` (seeds,
settings, paired GAN losses), `data` (sources, pipelines, pyramids), `mcmc`
(TFP transition kernels and the compiled chain runner), `nets` (Keras
networks), `models` (the family contract and one module per family),
`metrics`, `train` (distributed loop, checkpoints), `serving`, `vis`.
"""

__version__ = "0.1.0"
