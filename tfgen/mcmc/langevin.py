"""Langevin dynamics as a `tfp.mcmc.TransitionKernel`.

The update is the one of Gao et al. (2018), with the papers' step size delta:

    x <- x + step_size**2 / 2 * grad log p(x) + noise_scale * step_size * N(0, I)

`noise_scale=1` is Langevin dynamics proper (TFP's `UncalibratedLangevin`
with its `step_size = delta**2`), `noise_scale=0` is the official multigrid
code's noise-free gradient ascent. `clip_range=(lo, hi)` clips every state to
the data range after each step, and `constraint_fn` projects it (e.g. clamps
the observed pixels of an inpainting chain). The kernel is uncalibrated (no Metropolis
correction), like the paper's finite-step sampler.

Each step evaluates the gradient of log p once, at the state it moves from,
and carries nothing between steps but the step count: a T-step chain costs T
forward and backward passes, like a hand-written loop. (TFP's
`UncalibratedLangevin` instead keeps log p and its gradient at the state it
returns, which a Metropolis correction needs, at the price of one more
gradient per chain: 1/T more work, 3% for T = 30; docs/benchmarks.md has
the before / after measurements.)
"""

from __future__ import annotations

import collections
from typing import Callable, Optional

import tensorflow as tf
import tensorflow_probability as tfp

# `step`: int32 scalar, the number of steps taken. Log p along a chain is a
# `trace_fn` away: `lambda state, _: target_log_prob_fn(state)`.
LangevinResults = collections.namedtuple("LangevinResults", ["step"])


def standard_normal_noise(shape: tf.Tensor, seed: tf.Tensor,
                          step: tf.Tensor = None) -> tf.Tensor:
  """Default noise source: stateless N(0, 1) of `shape` from an int32[2] seed.

  `step` (the number of steps taken so far) is unused here; noise sources
  that pre-draw noise per example index it instead of the seed.
  """
  del step
  return tf.random.stateless_normal(shape, seed=seed)


class LangevinKernel(tfp.mcmc.TransitionKernel):
  """Uncalibrated (optionally noise-free, optionally clipped) Langevin kernel.

  The state is one float tensor, e.g. a batch of images [B, H, W, C];
  `target_log_prob_fn(state)` returns one log-probability per chain, [B].
  Each step costs one forward and one backward pass of the target, at the
  state it moves from.
  """

  def __init__(self,
               target_log_prob_fn: Callable[[tf.Tensor], tf.Tensor],
               step_size: float,
               noise_scale: float = 1.0,
               clip_range: Optional[tuple[float, float]] = None,
               noise_fn: Callable[..., tf.Tensor] = standard_normal_noise,
               constraint_fn: Optional[Callable[[tf.Tensor],
                                                tf.Tensor]] = None,
               name: Optional[str] = None):
    """Creates the kernel.

    Args:
      target_log_prob_fn: state -> log p(state) per chain.
      step_size: the papers' delta (> 0).
      noise_scale: multiplier of the injected noise (>= 0; 0 = noise-free).
      clip_range: optional (low, high) the state is clipped to after a step.
      noise_fn: (shape, seed, step) -> N(0, I) noise of `shape`; `step` is
        the number of steps taken before this one. Replaceable so that a
        distributed caller can draw one global batch of noise and slice it,
        or a sampler can pre-draw noise per example.
      constraint_fn: optional state -> state projection applied after every
        update (after clipping), e.g. clamping observed pixels.
      name: name scope of the ops.
    """
    if not step_size > 0:
      raise ValueError(f"step_size={step_size!r} must be > 0, e.g. 0.3.")
    if not noise_scale >= 0:
      raise ValueError(f"noise_scale={noise_scale!r} must be >= 0.")
    if clip_range is not None and not clip_range[0] < clip_range[1]:
      raise ValueError(f"clip_range={clip_range!r} must be (low, high), "
                       "low < high, e.g. (-1.0, 1.0).")
    self._parameters = dict(
        target_log_prob_fn=target_log_prob_fn, step_size=step_size,
        noise_scale=noise_scale, clip_range=clip_range, noise_fn=noise_fn,
        constraint_fn=constraint_fn, name=name)

  @property
  def target_log_prob_fn(self):
    return self._parameters["target_log_prob_fn"]

  @property
  def step_size(self):
    return self._parameters["step_size"]

  @property
  def noise_scale(self):
    return self._parameters["noise_scale"]

  @property
  def clip_range(self):
    return self._parameters["clip_range"]

  @property
  def parameters(self):
    return self._parameters

  @property
  def is_calibrated(self):
    return False

  def _grad(self, state):
    return tfp.math.value_and_gradient(self.target_log_prob_fn, state)[1]

  def one_step(self, current_state, previous_kernel_results, seed=None):
    with tf.name_scope(self._parameters["name"] or "langevin_one_step"):
      step_size = tf.cast(self.step_size, current_state.dtype)
      next_state = (current_state +
                    0.5 * step_size**2 * self._grad(current_state))
      if self.noise_scale:
        seed = tfp.random.sanitize_seed(seed)
        noise = self._parameters["noise_fn"](
            tf.shape(current_state), seed, previous_kernel_results.step)
        next_state += self.noise_scale * step_size * noise
      if self.clip_range is not None:
        next_state = tf.clip_by_value(next_state, *self.clip_range)
      if self._parameters["constraint_fn"] is not None:
        next_state = self._parameters["constraint_fn"](next_state)
      return next_state, LangevinResults(previous_kernel_results.step + 1)

  def bootstrap_results(self, init_state):
    del init_state  # Nothing is evaluated before the first step.
    return LangevinResults(tf.constant(0, tf.int32))
