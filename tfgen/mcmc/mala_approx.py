"""MALA-approx (Nguyen et al. 2017, Eq. 11) as a `tfp.mcmc.TransitionKernel`.

The state h is a batch of codes (or images, for PPGN-x). One step:

    d = prior_weight * (R(h) - h)                      # the learned prior
        + condition_weight * grad_h objective(G(h))    # the plugged-in condition
        + noise_scale * N(0, I)
    h <- clip(h + lr_t * d / mean|d|, low, high)       # normalize='mean_abs'
    h <- clip(h + lr_t * d, low, high)                 # normalize=None (Eq. 11)

with the paper's (epsilon1, epsilon2, epsilon3) = (prior_weight,
condition_weight, noise_scale). `R` is a reconstruction: E(G(h)) for the
(Noiseless) Joint PPGN-h, an h-DAE for PPGN-h, an x-DAE for PPGN-x, or none
(DGN-AM); the residual R(h) - h is used as a direction, never differentiated
(Alain & Bengio's DAE gradient estimate). The official sampler
(Evolving-AI-Lab/ppgn sampler.py) rescales d to a mean absolute size of 1 per
chain, so that only the ratios of the three weights matter and `lr_t` is the
mean absolute change of h per step; `normalize='mean_abs'` does that per
chain (per row of the batch: a chain depends only on its own seed), and
`normalize=None` is the literal Eq. 11. `lr_t` runs linearly from
`step_size` to `step_size_end` over `num_schedule_steps` steps and stays
there (the official code keeps extrapolating on the global step, which
turns negative with several conditions).

A condition is a callable (images, step) -> `ConditionOutput(objective,
log_prob, prob)`, each [B]: `objective` is what is differentiated (e.g. the
official `stop_gradient(1 - p_c) * logit_c`), `log_prob` the true
log p(condition | x), `prob` the probability used to filter samples.
Inpainting passes `composite_fn` (x -> M x + (1 - M) x_real, applied before
the condition and the prior see the image) and a `context_fn` (x -> [B]
objective, e.g. minus half the squared error on the observed pixels)
weighted by `context_weight` (the official epsilon4).
"""

from __future__ import annotations

import collections
from typing import Callable, Optional

import tensorflow as tf
import tensorflow_probability as tfp

from tfgen.mcmc import runner
from tfgen.mcmc.langevin import standard_normal_noise

ConditionOutput = collections.namedtuple(
    "ConditionOutput", ["objective", "log_prob", "prob"])

# step: int32 []. image: [B, ...] the (composited) image of the state moved
# FROM (what the official sampler records). condition_log_prob,
# condition_prob: [B] of that image. update_scale: [B] mean |d| per chain
# before normalisation.
MalaApproxResults = collections.namedtuple(
    "MalaApproxResults",
    ["step", "image", "condition_log_prob", "condition_prob", "update_scale"])

NORMALIZE = (None, "mean_abs")
_TINY = 1e-12


def step_schedule(step, step_size: float, step_size_end: Optional[float],
                  num_schedule_steps: Optional[int]) -> tf.Tensor:
  """lr at `step`: linear from step_size to step_size_end, then constant."""
  step_size = tf.cast(step_size, tf.float32)
  if step_size_end is None or num_schedule_steps is None:
    return step_size
  fraction = tf.minimum(tf.cast(step, tf.float32) / tf.cast(
      tf.maximum(num_schedule_steps, 1), tf.float32), 1.0)
  return step_size + (tf.cast(step_size_end, tf.float32) - step_size) * (
      fraction)


class MalaApproxKernel(tfp.mcmc.TransitionKernel):
  """PPGN's three-term MALA-approx update (uncalibrated: no accept/reject)."""

  def __init__(self,
               decode_fn: Callable[[tf.Tensor], tf.Tensor],
               condition: Optional[Callable[..., ConditionOutput]],
               reconstruct_fn: Optional[Callable[..., tf.Tensor]] = None,
               prior_weight: float = 1e-5,
               condition_weight: float = 1.0,
               noise_scale: float = 0.0,
               step_size: float = 1.0,
               step_size_end: Optional[float] = None,
               num_schedule_steps: Optional[int] = None,
               normalize: Optional[str] = "mean_abs",
               clip_range: Optional[tuple] = None,
               composite_fn: Optional[Callable[[tf.Tensor],
                                               tf.Tensor]] = None,
               context_fn: Optional[Callable[[tf.Tensor], tf.Tensor]] = None,
               context_weight: float = 0.0,
               noise_fn: Callable[..., tf.Tensor] = standard_normal_noise,
               image_shape: Optional[tuple] = None,
               name: Optional[str] = None):
    """Creates the kernel.

    Args:
      decode_fn: state h [B, ...] -> images [B, S, S, C] (G; identity for
        PPGN-x).
      condition: (images, step) -> ConditionOutput of [B] tensors, or None
        (no condition term: the prior alone).
      reconstruct_fn: (h, images, seed, step) -> R(h), same shape as h;
        `images` is decode_fn(h) after `composite_fn`, `step` the steps
        taken; None = no prior term (DGN-AM).
      prior_weight, condition_weight, noise_scale: the paper's epsilon1,
        epsilon2, epsilon3 (each >= 0).
      step_size, step_size_end, num_schedule_steps: the lr schedule (see the
        module docstring); step_size > 0.
      normalize: 'mean_abs' (official: d / mean|d| per chain) or None.
      clip_range: (low, high) the state is clipped to after each step.
      composite_fn: images -> images the condition, prior and trace see.
      context_fn: images (before compositing) -> [B] objective, e.g. the
        inpainting context term; weighted by context_weight (>= 0).
      noise_fn: (shape, seed, step) -> N(0, I) of `shape` (replace with a
        per-example bank so that a chain depends only on its own seed).
      image_shape: (S, S, C) of decode_fn's output (sizes the results of
        `bootstrap_results` without a forward pass).
      name: name scope of the ops.
    """
    for arg, value in (("prior_weight", prior_weight),
                       ("condition_weight", condition_weight),
                       ("noise_scale", noise_scale),
                       ("context_weight", context_weight)):
      if not value >= 0:
        raise ValueError(f"{arg}={value!r} must be >= 0 (0 turns its term "
                         "off).")
    if isinstance(step_size, (int, float)) and not step_size > 0:
      raise ValueError(f"step_size={step_size!r} must be > 0, e.g. 1.0.")
    if isinstance(step_size_end, (int, float)) and not step_size_end >= 0:
      raise ValueError(f"step_size_end={step_size_end!r} must be >= 0.")
    if normalize not in NORMALIZE:
      raise ValueError(f"normalize={normalize!r} must be one of {NORMALIZE}.")
    if clip_range is not None and all(
        isinstance(c, (int, float)) for c in clip_range) and not (
            clip_range[0] < clip_range[1]):
      raise ValueError(f"clip_range={clip_range!r} must be (low, high) with "
                       "low < high.")
    self._parameters = dict(
        decode_fn=decode_fn, condition=condition,
        reconstruct_fn=reconstruct_fn, prior_weight=float(prior_weight),
        condition_weight=float(condition_weight),
        noise_scale=float(noise_scale), step_size=step_size,
        step_size_end=step_size_end, num_schedule_steps=num_schedule_steps,
        normalize=normalize, clip_range=clip_range, composite_fn=composite_fn,
        context_fn=context_fn, context_weight=float(context_weight),
        noise_fn=noise_fn, image_shape=image_shape, name=name)

  @property
  def parameters(self):
    return self._parameters

  @property
  def is_calibrated(self):
    return False

  def __getattr__(self, name):
    parameters = self.__dict__.get("_parameters", {})
    if name in parameters:
      return parameters[name]
    raise AttributeError(name)

  def one_step(self, current_state, previous_kernel_results, seed=None):
    p = self._parameters
    with tf.name_scope(p["name"] or "mala_approx_one_step"):
      seed = tfp.random.sanitize_seed(seed)
      step = previous_kernel_results.step
      h = current_state
      batch = tf.shape(h)[0]
      with tf.GradientTape() as tape:
        tape.watch(h)
        raw = p["decode_fn"](h)
        images = p["composite_fn"](raw) if p["composite_fn"] else raw
        objective = tf.zeros([batch])
        log_prob = tf.zeros([batch])
        prob = tf.ones([batch])
        if p["condition"] is not None:
          out = p["condition"](images, step)
          objective = p["condition_weight"] * out.objective
          log_prob, prob = out.log_prob, out.prob
        if p["context_fn"] is not None and p["context_weight"]:
          objective += p["context_weight"] * p["context_fn"](raw)
        total = tf.reduce_sum(objective)
      if p["condition"] is not None or p["context_fn"] is not None:
        d = tape.gradient(total, h,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
      else:
        d = tf.zeros_like(h)
      if p["reconstruct_fn"] is not None and p["prior_weight"]:
        reconstruction = p["reconstruct_fn"](
            h, tf.stop_gradient(images), runner.fold_in(seed, 1), step)
        d += p["prior_weight"] * (tf.stop_gradient(reconstruction) - h)
      if p["noise_scale"]:
        d += p["noise_scale"] * p["noise_fn"](tf.shape(h), seed, step)
      axes = list(range(1, len(h.shape)))
      mean_abs = tf.reduce_mean(tf.abs(d), axis=axes)
      if p["normalize"] == "mean_abs":
        shape = tf.concat([[batch], tf.ones([len(axes)], tf.int32)], 0)
        d = d / tf.reshape(tf.maximum(mean_abs, _TINY), shape)
      lr = step_schedule(step, p["step_size"], p["step_size_end"],
                         p["num_schedule_steps"])
      next_state = h + lr * d
      if p["clip_range"] is not None:
        next_state = tf.clip_by_value(next_state, *p["clip_range"])
      return next_state, MalaApproxResults(
          step + 1, images, log_prob, prob, mean_abs)

  def bootstrap_results(self, init_state):
    batch = tf.shape(init_state)[0]
    shape = self._parameters["image_shape"]
    if shape is None:
      image = tf.zeros_like(init_state)
    else:
      image = tf.zeros(tf.concat([[batch], list(shape)], 0))
    zeros = tf.zeros([batch])
    return MalaApproxResults(tf.constant(0, tf.int32), image, zeros,
                             zeros, zeros)
