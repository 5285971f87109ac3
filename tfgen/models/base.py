"""The family contract: what every model family's `keras.Model` implements.

A family's model subclasses `GenerativeModel` and provides

* `update_step(batch, step) -> dict of scalar metrics`: one per-replica
  training update (every optimizer the family owns), the noise a pure
  function of `step` (an int64 scalar tensor) and the model's seed;
* `sample_from_seeds(seeds, **conditions) -> list of images`: one image per
  seed (an image depends only on its seed and conditions, never on its
  batch-mates), coarse to fine or step by step, the final image last; float32
  NHWC in [-1, 1];
* `get_config()` (and the constructor it feeds, so `from_config` and
  `keras.saving.load_model` round-trip);
* `checkpoint_objects()`: the trackables a training checkpoint holds besides
  the Trainer's step counter (default: the model alone, which tracks its nets
  and the optimizers it owns as attributes);
* `metric_info()`: {metric name: `MetricInfo`}, the structured scale of each
  metric (which grid / level / canvas step it belongs to) so the Trainer
  never parses names;
* `set_learning_rate_scale(scale)`: every owned optimizer at `scale` times
  its configured rate (divergence back-off);
* 'inpaint' families: `inpaint_from_seeds(images, masks, seeds, labels=None,
  **options)` (one chain per seed fills the pixels where `masks` is 1,
  keeping the others exactly; the filled image last) and
  `inpaint_options(num_steps)` (the keyword `options` of that call for its
  sampler steps, as apps.inpaint's --num_langevin_steps gives them);
* `weight_averages()`: [(optimizer, variables)] of the optimizers that
  keep a moving average of the sampling nets' weights (`ema_momentum` > 0;
  default none); `use_averaged_weights()` then puts the averages into the
  nets (what the apps sample, evaluate and export);
* optionally `discriminator_logits(images, **conditions)` (GAM battles),
  `needs_adapt` / `adapt(images, labels)` (data sampling needs, e.g. the
  multigrid start bank);
* `final_image_size`, `channels`, `num_classes` (0 = unconditional),
  `sample(num_samples, seed, **conditions)` (the eager entry point: a list
  like `sample_from_seeds`'), `sample_names()` (a name per image of that
  list, e.g. 'grid16': the TensorBoard and PNG names) and
  `sampler_settings(num_steps)` (what an export records).

`train_step(batch)` (what Keras `fit` and `tfgen.train`'s loop call) is
defined here: it runs `update_step` at the current step and, when the model
counts its own steps (Keras `fit`), advances the counter. Under the Trainer
the counter is the Trainer's `tf.Variable` (`attach_step_counter`), saved in
every checkpoint and advanced by the Trainer once per global step, so no
family needs an optimizer just to count steps.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import keras
import tensorflow as tf

from tfgen.mcmc import noise


def _keeps_average(optimizer) -> bool:
  """Whether a Keras optimizer (or the one a LossScaleOptimizer wraps)
  keeps a moving average of its weights."""
  if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
    optimizer = optimizer.inner_optimizer
  return bool(optimizer.use_ema)


class MetricInfo(NamedTuple):
  """What a training metric measures and at which scale.

  quantity: e.g. 'loss', 'd_loss', 'delta_rms'.
  scale_kind: 'grid', 'level', 'canvas_step', or None (whole model).
  scale: the grid / level side in pixels or the step index (None if none).
  show: whether the progress line prints it.
  """
  quantity: str
  scale_kind: Optional[str] = None
  scale: Optional[int] = None
  show: bool = False


class _StepSource:
  """Holds the step counter outside Keras / TF tracking (not a weight).

  The counter belongs to whoever trains the model (the Trainer's checkpoint
  saves it), so it must not become a variable of the model itself: the
  model's checkpoints and `.keras` files stay the same with or without it.
  """

  def __init__(self, variable: tf.Variable, owned: bool):
    self.variable = variable
    self.owned = owned


class GenerativeModel(keras.Model):
  """Base class of every family's model (see the module docstring)."""

  # ---- the step counter --------------------------------------------------
  def attach_step_counter(self, variable: tf.Variable) -> None:
    """Uses `variable` (int64 scalar, advanced by its owner) as the step."""
    self.__dict__["_tfgen_step_source"] = _StepSource(variable, owned=False)

  @property
  def step_counter(self) -> tf.Variable:
    """The int64 step whose value seeds the next `train_step`.

    Created on first use when nothing is attached (Keras `fit`); then
    `train_step` advances it itself.
    """
    source = self.__dict__.get("_tfgen_step_source")
    if source is None:
      with tf.init_scope():
        variable = tf.Variable(0, dtype=tf.int64, trainable=False,
                               name="tfgen_step")
      source = _StepSource(variable, owned=True)
      self.__dict__["_tfgen_step_source"] = source
    return source.variable

  def train_step(self, data):
    """One update of every net at the current step; scalar metrics."""
    counter = self.step_counter
    metrics = self.update_step(data, tf.convert_to_tensor(counter))
    if self.__dict__["_tfgen_step_source"].owned:
      counter.assign_add(1)
    return metrics

  # ---- what each family implements -------------------------------------
  def update_step(self, batch, step: tf.Tensor) -> dict:
    """One per-replica update at `step` (int64 scalar); scalar metrics."""
    raise NotImplementedError(f"{type(self).__name__}.update_step")

  def sample_from_seeds(self, seeds, **conditions) -> list:
    """One image per seed (int64 [B] or int32 [B, 2]); final image last."""
    raise NotImplementedError(f"{type(self).__name__}.sample_from_seeds")

  def checkpoint_objects(self) -> dict:
    """Trackables of a training checkpoint, by checkpoint key."""
    return {"model": self}

  def metric_info(self) -> dict:
    """{metric name: MetricInfo} of the metrics `update_step` returns."""
    return {}

  def set_learning_rate_scale(self, scale: float) -> None:
    """Sets every owned optimizer's learning rate to `scale` x configured.

    Divergence back-off halves `scale`; 1.0 restores the configured rates.
    Families with several optimizers (and rates) override this.
    """
    raise NotImplementedError(f"{type(self).__name__}.set_learning_rate_scale")

  def backoff_settings(self) -> dict:
    """Current values of the settings back-off changes, for messages."""
    return {}

  # ---- weight averages (ema_momentum) ------------------------------------
  def weight_averages(self) -> list:
    """[(optimizer, variables)] whose optimizer averages `variables`.

    `variables` is the list the optimizer was built with. Families list the
    optimizers of the nets that sampling runs (energy nets, generators),
    never those of discriminators, whose raw weights GAM battles judge.
    Default: none.
    """
    return []

  def use_averaged_weights(self) -> bool:
    """Overwrites the sampling nets' weights with their moving averages.

    For a trained model about to sample or be exported; training on after
    this would start from the averages. Returns whether anything changed
    (False when the model was trained without `ema_momentum`).
    """
    averaged = [(optimizer, variables)
                for optimizer, variables in self.weight_averages()
                if _keeps_average(optimizer)]
    for optimizer, variables in averaged:
      optimizer.finalize_variable_values(variables)
    return bool(averaged)

  def inpaint_from_seeds(self, images, masks, seeds, labels=None,
                         **options) -> list:
    """'inpaint' families: fills the missing pixels of `images`.

    images: float32 [B, S, S, C] in [-1, 1]; masks: [B, S, S, 1 or C], 1 =
    missing; seeds: int [B] or int32 [B, 2] (row b depends only on its own
    seed, image and label); labels: int [B] classes (class-conditional
    models). Returns a list of images in [-1, 1], the last the filled one
    [B, S, S, C], equal to `images` where masks is 0.
    """
    raise NotImplementedError(f"{type(self).__name__} does not inpaint.")

  def inpaint_options(self, num_steps=None) -> dict:
    """'inpaint' families: the `inpaint_from_seeds` options for `num_steps`.

    num_steps: None (the trained sampler steps) or a list of ints, one or
    one per stage of the family's sampler (multigrid: per model grid; PPGN:
    one, the MALA-approx steps). The options are JSON-ready (apps.inpaint
    prints them). Raises ValueError naming num_steps and the fix.
    """
    raise NotImplementedError(f"{type(self).__name__} does not inpaint.")

  @property
  def chain_samplers(self) -> tuple:
    """'chain_diagnostics' families: the kernels `trace_chains` runs."""
    return ()

  def trace_chains(self, num_chains: int, seed=(0, 0), num_steps=200,
                   num_coordinates: int = 4, sampler=None,
                   class_id=None) -> list:
    """'chain_diagnostics' families: traced MCMC chains of the sampler.

    num_chains independent chains (chain i from `example_seeds(seed)[i]`,
    as `sample` draws), each `num_steps` steps (per stage) of `sampler`
    (one of `chain_samplers`; default the model's), all of class
    `class_id` where the model takes one. Returns one
    `tfgen.mcmc.traces.ChainTrace` per stage of the sampler (numpy arrays:
    log p, `num_coordinates` fixed state coordinates and the images after
    every step). Raises ValueError naming a bad argument.
    """
    raise NotImplementedError(
        f"{type(self).__name__} has no MCMC chains to trace.")

  def discriminator_logits(self, images: tf.Tensor, **conditions):
    """Logits [B] of the model's final discriminator ('battle' families).

    images: float32 [B, S, S, C] in [-1, 1], S = `final_image_size`.
    """
    raise NotImplementedError(
        f"{type(self).__name__} has no discriminator to battle with.")

  @property
  def has_conditional_discriminator(self) -> bool:
    """Whether `discriminator_logits` takes `class_ids` ('battle' families;
    default: when the model is conditional)."""
    return self.is_conditional

  @property
  def is_conditional(self) -> bool:
    """Whether samples take a class (`num_classes` > 0)."""
    return self.num_classes > 0

  def example_seeds(self, seed, num_samples: int,
                    first_index: int = 0) -> tf.Tensor:
    """int32 [N, 2] seed pairs of examples first_index.. of a call's seed."""
    return noise.example_seeds(seed, num_samples, first_index)

  @property
  def needs_adapt(self) -> bool:
    """Whether `adapt(images, labels)` must run before training/sampling."""
    return False

  @property
  def num_adapt_examples(self) -> int:
    """How many training examples `adapt` reads (0 = none)."""
    return 0

  def adapt(self, images, labels=None) -> None:
    """Reads what sampling needs from training data (default: nothing)."""
    del images, labels

  def sampler_settings(self, num_steps=None) -> dict:
    """JSON-ready settings of the sampler an export runs (default: none).

    Multigrid: {'num_langevin_steps': [...], 'step_size': [...]}.
    """
    del num_steps
    return {}

  def sample_names(self) -> list:
    """Names of `sample`'s images, in order (e.g. 'grid4', 'step3')."""
    raise NotImplementedError(f"{type(self).__name__}.sample_names")

  @property
  def final_image_size(self) -> int:
    """Side in pixels of the images `sample_from_seeds` returns last."""
    raise NotImplementedError(f"{type(self).__name__}.final_image_size")
