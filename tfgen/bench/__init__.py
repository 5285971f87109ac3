"""Benchmark support for `python -m apps.benchmark` (sampler, train, serve).

* `flops`: FLOPs of a Langevin step (forward + backward to the input),
  counted analytically from a Keras energy net and checked against TF's
  profiler.
* `timing`: interleaved repetitions, median / min / max, percentiles, the
  machine's float32 matmul rate, peak RSS and a description of the machine.
* `samplers`: the sampler variants that are compared (tfgen's kernel +
  runner, a hand-written `tf.function` loop, eager, XLA) and the nets they
  run (the reference net, the multigrid energy nets).
* `torch_port`: the same nets and loop in PyTorch (optional: needs `torch`,
  `pip install -e .[bench]`).
* `train_cost`: seconds per training iteration, compile time and peak RSS of
  one multigrid configuration.

This `__init__` imports nothing, so `torch_port` stays optional.
"""
