"""PPGN condition terms: callables (images, step) -> `ConditionOutput`.

Each condition wraps a network G never trained against and returns, per
image, the `objective` the sampler differentiates, the true `log_prob` of
the condition and the `prob` used to filter samples (each [B]).

* `class_condition`: a class of a classifier's logits. `gradient='official'`
  differentiates `stop_gradient(1 - p_c) * logit_c` (what the official
  sampler back-propagates: a one-hot top diff of 1 - p_c on the logit),
  `'log_softmax'` the exact log p_c (the paper's Table S2 c). The class may
  follow a schedule along the chain ([B, K] classes, `segment_steps` each).
* `unit_condition`: a hidden unit, with the official pseudo-softmax over
  the layer's units (`p_u`, objective `stop_gradient(1 - p_u) * a_u`).
* `sum_condition`: a weighted sum of conditions (several at once); its
  prob is the product of theirs.
* `context_objective`: the inpainting context term, minus half the squared
  error on the observed pixels.
"""

from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf

from tfgen.mcmc.mala_approx import ConditionOutput

GRADIENTS = ("official", "log_softmax")


def _softmax_term(values: tf.Tensor, index: tf.Tensor,
                  gradient: str) -> ConditionOutput:
  """values [B, K] (logits / activations), index int [B] -> output."""
  index = tf.cast(index, tf.int32)
  log_probs = tf.nn.log_softmax(values)
  target_log_prob = tf.gather(log_probs, index, batch_dims=1)
  prob = tf.exp(target_log_prob)
  if gradient == "official":
    objective = (tf.stop_gradient(1.0 - prob) *
                 tf.gather(values, index, batch_dims=1))
  else:
    objective = target_log_prob
  return ConditionOutput(objective, target_log_prob, prob)


def class_condition(logits_fn: Callable[[tf.Tensor], tf.Tensor], class_ids,
                    gradient: str = "official",
                    segment_steps=None) -> Callable:
  """Condition on a class of `logits_fn(images)` ([B, K] logits).

  Args:
    logits_fn: images -> logits [B, K].
    class_ids: int [B] (one class per chain) or [B, N] (a schedule: class
      n for steps [n * segment_steps, (n + 1) * segment_steps), the last
      one after that).
    gradient: 'official' or 'log_softmax' (module docstring).
    segment_steps: steps per scheduled class (needed with [B, N]).
  """
  if gradient not in GRADIENTS:
    raise ValueError(f"condition_gradient={gradient!r} must be one of "
                     f"{GRADIENTS}.")
  class_ids = tf.cast(class_ids, tf.int32)
  schedule = class_ids.shape.rank == 2

  def condition(images, step):
    ids = class_ids
    if schedule:
      index = tf.minimum(tf.cast(step, tf.int32) // tf.cast(
          tf.maximum(segment_steps, 1), tf.int32), tf.shape(ids)[1] - 1)
      ids = tf.gather(ids, index, axis=1)
    return _softmax_term(logits_fn(images), ids, gradient)

  return condition


def unit_condition(activation_fn: Callable[[tf.Tensor], tf.Tensor],
                   unit: int) -> Callable:
  """Condition on unit `unit` of `activation_fn(images)` ([B, U])."""
  def condition(images, step):
    del step
    values = activation_fn(images)
    index = tf.fill(tf.shape(values)[:1], int(unit))
    return _softmax_term(values, index, "official")
  return condition


def sum_condition(terms: Sequence[tuple[float, Callable]]) -> Callable:
  """Weighted sum of (weight, condition) terms; prob = product of probs."""
  if not terms:
    raise ValueError("sum_condition needs at least one term.")

  def condition(images, step):
    outputs = [(w, c(images, step)) for w, c in terms]
    return ConditionOutput(
        tf.add_n([w * o.objective for w, o in outputs]),
        tf.add_n([w * o.log_prob for w, o in outputs]),
        tf.reduce_prod(tf.stack([o.prob for _, o in outputs]), axis=0))

  return condition


def context_objective(observed_images: tf.Tensor,
                      masks: tf.Tensor) -> Callable[[tf.Tensor], tf.Tensor]:
  """images -> [B] -1/2 sum over observed pixels (mask 0) of squared error."""
  observed = 1.0 - masks

  def objective(images):
    error = observed * tf.square(observed_images - images)
    return -0.5 * tf.reduce_sum(error, axis=[1, 2, 3])

  return objective
