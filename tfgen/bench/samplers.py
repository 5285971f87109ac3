"""The Langevin sampler variants that `apps.benchmark sampler` compares.

Every variant runs the same chain on the same net: `num_steps` updates

    x <- clip(x + step_size**2 / 2 * grad log p(x)
              + noise_scale * step_size * N(0, I), -1, 1),
    log p(x) = f(x) - ||x||**2 / 2,

from the same start, with step t's noise drawn from `fold_in(seed, t)`:

* `tfgen`: the model's path, `LangevinKernel` + `runner.run_chain` in
  `runner.compile_fn` (a `tf.function`), as in training and `sample()`;
* `hand_loop`: a hand-written `tf.function` with a `tf.range` loop and a
  `GradientTape` per step, the least a TF user would write;
* `eager`: the same loop in eager mode;
* `xla`: tfgen's path with `jit_compile=True`;
* `tfgen_keras_leaky_relu` (a diagnostic, not in the default list): tfgen's
  path on a copy of the net with Keras' own `LeakyReLU` layers, whose
  gradient reads the pre-activation (the graph before
  `tfgen.nets.activations`, see docs/benchmarks.md);
* `torch_eager`, `torch_channels_last`: the same net and loop in PyTorch
  (`tfgen.bench.torch_port`), when torch is installed.

`tfgen`, `hand_loop` and `eager` give the same chain (up to float rounding),
which `apps.benchmark` checks; XLA draws other noise for the same seed and
PyTorch has its own generator.

Nets: `reference_net` (conv3x3-64 s1, conv4x4-128 s2, conv4x4-256 s2,
leaky ReLU 0.2, dense-1, "same" padding) and the finest energy net of a
`MultigridEBM` with the digits config's grids (`multigrid_grid_sizes`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from tfgen.core import precision
from tfgen.mcmc import langevin
from tfgen.mcmc import runner
from tfgen.models import multigrid
from tfgen.nets import activations
from tfgen.nets import energy

NET_KINDS = ("reference", "multigrid")
TF_VARIANTS = ("tfgen", "hand_loop", "eager", "xla", "hand_loop_log_prob",
               "tfgen_keras_leaky_relu", "tfgen_bfloat16", "tfgen_float16")
TORCH_VARIANTS = ("torch_eager", "torch_channels_last")
VARIANTS = TF_VARIANTS + TORCH_VARIANTS
REFERENCE_SPEC = energy.EnergyNetSpec(filters=(64, 128, 256),
                                      kernel_sizes=(3, 4, 4),
                                      strides=(1, 2, 2))


def parse_shape(text: str) -> tuple[int, int, int]:
  """'32x32x3' -> (32, 32, 3)."""
  try:
    shape = tuple(int(part) for part in text.lower().split("x"))
  except ValueError:
    shape = ()
  if len(shape) != 3 or min(shape) < 1 or shape[0] != shape[1]:
    raise ValueError(f"shape={text!r} must be SIZExSIZExCHANNELS with a "
                     "square image, e.g. 32x32x3.")
  return shape


def reference_net(image_shape, width: float = 1.0) -> keras.Model:
  """The reference energy net at `image_shape` (H, W, C), widths x `width`."""
  if not width > 0:
    raise ValueError(f"width={width} must be > 0, e.g. 1.0.")
  spec = dataclasses.replace(
      REFERENCE_SPEC,
      filters=tuple(max(1, int(round(f * width)))
                    for f in REFERENCE_SPEC.filters))
  return energy.build_energy_net(image_shape[0], image_shape[2], spec,
                                 name=f"reference_{image_shape[0]}")


def multigrid_grid_sizes(image_size: int) -> tuple[int, ...]:
  """The digits config's grids extended to `image_size`: 1, 4, 16, ..., S.

  16 -> (1, 4, 16) (the digits config), 32 -> (1, 4, 16, 32),
  64 -> (1, 4, 16, 64), 8 -> (1, 4, 8).
  """
  sizes, grid = [1], 4
  while grid < image_size:
    sizes.append(grid)
    grid *= 4
  return tuple(sizes + [image_size])


@dataclasses.dataclass
class Setup:
  """One net and the chain to benchmark on it.

  Attributes:
    name: e.g. "reference 32x32x3".
    net: the Keras energy net f.
    log_prob_fn: x -> log p(x) per image, [B].
    kernel: the `LangevinKernel` tfgen would build for it.
    image_shape: (H, W, C).
    step_size, noise_scale, clip_range, reference_stddev: the update.
  """
  name: str
  net: keras.Model
  log_prob_fn: Callable[[tf.Tensor], tf.Tensor]
  kernel: langevin.LangevinKernel
  image_shape: tuple
  step_size: float
  noise_scale: float
  clip_range: tuple = (-1.0, 1.0)
  reference_stddev: float = 1.0


def reference_setup(image_shape, width: float = 1.0, step_size: float = 0.3,
                    noise_scale: float = 1.0) -> Setup:
  """The reference net with tfgen's kernel (the model's log p and update)."""
  net = reference_net(image_shape, width)

  def log_prob(x):
    return (net(x, training=False)[:, 0] -
            0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3]))

  kernel = langevin.LangevinKernel(log_prob, step_size=step_size,
                                   noise_scale=noise_scale,
                                   clip_range=(-1.0, 1.0))
  return Setup(f"reference {_shape_text(image_shape)}", net, log_prob,
               kernel, tuple(image_shape), step_size, noise_scale)


def multigrid_setup(image_shape, width: float = 1.0, step_size: float = 0.3,
                    noise_scale: float = 1.0) -> Setup:
  """The finest energy net of a MultigridEBM and the model's own kernel."""
  model = multigrid.MultigridEBM(
      grid_sizes=multigrid_grid_sizes(image_shape[0]),
      channels=image_shape[2], step_size=step_size, noise_scale=noise_scale,
      net_width=width)
  index = len(model.model_grids) - 1
  return Setup(f"multigrid {_shape_text(image_shape)}",
               model.energy_nets[index],
               lambda x: model.log_prob(x, index), model.kernel(index),
               tuple(image_shape), step_size, noise_scale,
               reference_stddev=model.reference_stddev)


def keras_leaky_relu_setup(setup: Setup) -> Setup:
  """`setup` with its net copied (same weights) onto Keras' `LeakyReLU`.

  Keras' layer differentiates from its input, which keeps each conv's
  `BiasAdd` alive for the backward pass; tfgen's layer
  (`activations.LeakyReLU`) differentiates from its output. Values and
  gradients are the same; the diagnostic variant times the difference.
  """

  def clone(layer):
    if isinstance(layer, activations.LeakyReLU):
      return keras.layers.LeakyReLU(negative_slope=layer.negative_slope,
                                    name=layer.name)
    return layer.__class__.from_config(layer.get_config())

  net = keras.models.clone_model(setup.net, clone_function=clone)
  return _with_net(setup, net)


def _with_net(setup: Setup, net: keras.Model) -> Setup:
  """`setup` on `net` (given `setup.net`'s weights): the same log p (energy
  as float32, Gaussian reference) and Langevin update."""
  net.set_weights(setup.net.get_weights())
  variance = setup.reference_stddev**2

  def log_prob(x):
    return (tf.cast(net(x, training=False)[:, 0], tf.float32) -
            0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3]) / variance)

  kernel = langevin.LangevinKernel(log_prob, step_size=setup.step_size,
                                   noise_scale=setup.noise_scale,
                                   clip_range=setup.clip_range)
  return dataclasses.replace(setup, net=net, log_prob_fn=log_prob,
                             kernel=kernel)


def precision_setup(setup: Setup, precision_name: str) -> Setup:
  """`setup` with its net rebuilt (same weights) computing in `precision_name`
  (`tfgen.core.precision`): bfloat16 / float16 convs, float32 energies and
  Langevin update, as a family built with `--precision` samples."""
  def clone(layer):  # Without its saved dtype: it takes the policy's.
    config = layer.get_config()
    config.pop("dtype", None)
    return layer.__class__.from_config(config)

  with precision.policy(precision_name):
    net = keras.models.clone_model(setup.net, clone_function=clone)
  return _with_net(setup, net)


def make_setup(kind: str, image_shape, width: float = 1.0,
               step_size: float = 0.3, noise_scale: float = 1.0) -> Setup:
  builders = {"reference": reference_setup, "multigrid": multigrid_setup}
  if kind not in builders:
    raise ValueError(f"net={kind!r} must be one of {NET_KINDS}.")
  return builders[kind](image_shape, width, step_size, noise_scale)


def _shape_text(shape) -> str:
  return "x".join(str(s) for s in shape)


# ---- the variants --------------------------------------------------------------
def _update(setup: Setup, x, grad, seed):
  """The kernel's update, written out (same expression order)."""
  step_size = tf.cast(setup.step_size, x.dtype)
  x = x + 0.5 * step_size**2 * grad
  if setup.noise_scale:
    x += setup.noise_scale * step_size * tf.random.stateless_normal(
        tf.shape(x), seed=seed)
  return tf.clip_by_value(x, *setup.clip_range)


def _grad(setup: Setup, x):
  with tf.GradientTape() as tape:
    tape.watch(x)
    total = tf.reduce_sum(setup.log_prob_fn(x))
  return tape.gradient(total, x)


def tfgen_chain(setup: Setup, num_steps: int, jit_compile: bool = False):
  """tfgen's sampler: (x, seed) -> final state, compiled like the model's."""
  return runner.compile_fn(
      lambda x, seed: runner.run_chain(setup.kernel, x, num_steps,
                                       seed).state, jit_compile)


def hand_loop_chain(setup: Setup, num_steps: int):
  """A plain `tf.function`: tf.range loop, one GradientTape per step."""

  @tf.function
  def chain(x, seed):
    for step in tf.range(num_steps):
      x = _update(setup, x, _grad(setup, x), runner.fold_in(seed, step))
    return x

  return chain


def hand_loop_log_prob_chain(setup: Setup, num_steps: int):
  """The hand loop that also carries log p(x) [B] through the loop.

  A diagnostic variant (not in the default `--variants`): it measures what
  returning log p next to the gradient would cost. tfgen's kernel does not
  return it (`LangevinKernel.one_step` keeps only the gradient of
  `value_and_gradient` and carries a step counter; `bootstrap_results`
  evaluates nothing), so the kernel differs from the plain hand loop only
  by TFP's seed handling and that counter.
  """

  @tf.function
  def chain(x, seed):
    log_prob = tf.zeros(tf.shape(x)[:1], x.dtype)
    for step in tf.range(num_steps):
      with tf.GradientTape() as tape:
        tape.watch(x)
        log_prob = setup.log_prob_fn(x)
        total = tf.reduce_sum(log_prob)
      x = _update(setup, x, tape.gradient(total, x),
                  runner.fold_in(seed, step))
    return x, log_prob

  return lambda x, seed: chain(x, seed)[0]


def eager_chain(setup: Setup, num_steps: int):
  """The same loop run eagerly (op by op from Python)."""

  def chain(x, seed):
    for step in range(num_steps):
      x = _update(setup, x, _grad(setup, x), runner.fold_in(seed, step))
    return x

  return chain


def start_state(setup: Setup, batch_size: int, seed=(7, 11)) -> tf.Tensor:
  """A fixed start in [-1, 1], [batch_size, H, W, C]."""
  return tf.random.stateless_uniform([batch_size, *setup.image_shape],
                                     seed=seed, minval=-1.0, maxval=1.0)


def chain_functions(setup: Setup, num_steps: int,
                    names=TF_VARIANTS, torch_module=None) -> dict:
  """name -> chain(x0 [B, H, W, C] float32 numpy, seed int) -> numpy state.

  Torch variants are included when `torch_module` is given.
  """
  builders = {
      "tfgen": lambda: tfgen_chain(setup, num_steps),
      "hand_loop": lambda: hand_loop_chain(setup, num_steps),
      "eager": lambda: eager_chain(setup, num_steps),
      "xla": lambda: tfgen_chain(setup, num_steps, jit_compile=True),
      "hand_loop_log_prob": lambda: hand_loop_log_prob_chain(setup,
                                                             num_steps),
      "tfgen_keras_leaky_relu": lambda: tfgen_chain(
          keras_leaky_relu_setup(setup), num_steps),
      "tfgen_bfloat16": lambda: tfgen_chain(
          precision_setup(setup, "mixed_bfloat16"), num_steps),
      "tfgen_float16": lambda: tfgen_chain(
          precision_setup(setup, "mixed_float16"), num_steps),
  }
  functions = {}
  for name in names:
    if name in builders:
      fn = builders[name]()
      functions[name] = (lambda fn: lambda x0, seed: np.asarray(
          fn(tf.constant(x0), tf.constant([0, seed], tf.int32))))(fn)
    elif name in TORCH_VARIANTS:
      if torch_module is None:
        continue
      from tfgen.bench import torch_port  # pylint: disable=g-import-not-at-top
      functions[name] = torch_port.chain(
          torch_port.convert(setup.net,
                             channels_last=name == "torch_channels_last"),
          num_steps, setup.step_size, setup.noise_scale, setup.clip_range,
          setup.reference_stddev,
          channels_last=name == "torch_channels_last")
    else:
      raise ValueError(f"variant={name!r} must be one of {VARIANTS}.")
  return functions


def max_abs_difference(states: dict, against: str = "hand_loop",
                       names=("tfgen", "eager", "hand_loop_log_prob",
                              "tfgen_keras_leaky_relu", "tfgen_bfloat16",
                              "tfgen_float16")
                       ) -> dict[str, Optional[float]]:
  """Largest |difference| of each variant's final state from `against`'s."""
  if against not in states:
    return {}
  return {name: float(np.max(np.abs(states[name] - states[against])))
          for name in names if name in states}
