"""Sampling of `GRAN` (a mixin): canvases from per-example seeds.

Every example's noise (and, for a class-conditional model without a given
class, its class) comes from that example's own seed pair, and the
generator runs in inference mode (per-step moving statistics), so an image
depends only on its seed, never on its batch-mates:

* shared noise: z = stateless_normal([nz], fold_in(pair, GRAN_SHARED_NOISE));
* per-step noise: z_t = stateless_normal([nz],
  fold_in(fold_in(pair, GRAN_STEP_NOISE), t)),

so sampling with T' > T steps extends a sample without changing its first
T canvases. `sample_from_seeds` is graph-traceable (export); `sample` is
the eager entry point with argument checks; `final_canvas_from_seeds`
takes T' as a tensor (a serving request's `num_steps`) and loops over the
canvas steps in the graph, with the same noise, so it gives the images of
`sample_from_seeds` with that many steps.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from tfgen.core import seeds as seeds_lib
from tfgen.mcmc import noise
from tfgen.mcmc import runner


def step_noise(pairs: tf.Tensor, noise_dim: int, step) -> tf.Tensor:
  """[B, nz]: z_t of every example at canvas step `step` (an int or tensor)."""
  return tf.map_fn(
      lambda pair: tf.random.stateless_normal(
          [noise_dim], runner.fold_in(runner.fold_in(
              pair, seeds_lib.GRAN_STEP_NOISE), step)),
      pairs, fn_output_signature=tf.TensorSpec([noise_dim], tf.float32))


def per_example_noise(pairs: tf.Tensor, noise_dim: int, noise_mode: str,
                      num_steps: int) -> tf.Tensor:
  """[B, nz] (shared) or [B, num_steps, nz] (per step); row b from pairs[b]."""
  if noise_mode == "shared":
    return tf.map_fn(
        lambda pair: tf.random.stateless_normal(
            [noise_dim], runner.fold_in(pair, seeds_lib.GRAN_SHARED_NOISE)),
        pairs, fn_output_signature=tf.TensorSpec([noise_dim], tf.float32))

  def steps(pair):
    base = runner.fold_in(pair, seeds_lib.GRAN_STEP_NOISE)
    return tf.stack([tf.random.stateless_normal(
        [noise_dim], runner.fold_in(base, t)) for t in range(num_steps)])

  return tf.map_fn(steps, pairs, fn_output_signature=tf.TensorSpec(
      [num_steps, noise_dim], tf.float32))


class GranSampling:
  """Mixin of `GRAN`: sampling, classes, the discriminator for battles."""

  def sampling_steps(self, num_canvas_steps=None) -> int:
    """T' of a call: the argument, else num_sampling_steps, else T."""
    steps = num_canvas_steps
    if steps is None:
      steps = self.num_sampling_steps or self.num_canvas_steps
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or (
        steps < 1):
      raise ValueError(
          f"num_canvas_steps={steps!r} must be an integer >= 1 (the canvas "
          f"steps of sampling; the model was trained with "
          f"{self.num_canvas_steps}), e.g. --num_canvas_steps="
          f"{self.num_canvas_steps}.")
    return int(steps)

  def sample_names(self, num_canvas_steps=None) -> list[str]:
    """'canvas1', ..., f'canvas{T'}': the names of `sample`'s images."""
    return [f"canvas{t}" for t in range(
        1, self.sampling_steps(num_canvas_steps) + 1)]

  def sampler_settings(self, num_steps=None) -> dict:
    """What an export records: T, T' and the noise mode."""
    return {"num_canvas_steps": self.num_canvas_steps,
            "num_sampling_steps": self.sampling_steps(num_steps),
            "noise_mode": self.noise_mode}

  def _class_ids(self, pairs: tf.Tensor, class_ids) -> Optional[tf.Tensor]:
    if not self.num_classes:
      return None
    if class_ids is None:
      return noise.per_example_choice(pairs, self.num_classes,
                                      seeds_lib.GRAN_CLASS_CHOICE)
    return tf.broadcast_to(tf.cast(class_ids, tf.int32), tf.shape(pairs)[:1])

  def sample_from_seeds(self, seeds, class_ids=None,
                        num_canvas_steps=None) -> list[tf.Tensor]:
    """The canvases of one sample per seed; graph-traceable (for export).

    Args:
      seeds: int [B] per-instance seeds or int32 [B, 2] seed pairs.
      class_ids: conditional models: int [B] or a scalar (default: a class
        drawn from each seed). Ignored when unconditional.
      num_canvas_steps: T' (a Python int; default `sampling_steps()`).

    Returns:
      T' tensors [B, S, S, C] in [-1, 1]: the canvas after 1, ..., T' steps,
      tanh(0.5 * sum_{s <= t} ΔC_s) = 2 sigmoid(...) - 1; the last is the
      image.
    """
    return self.canvases_and_updates_from_seeds(seeds, class_ids,
                                                num_canvas_steps)[0]

  def canvases_and_updates_from_seeds(self, seeds, class_ids=None,
                                      num_canvas_steps=None):
    """(canvases, updates) of `sample_from_seeds` (same arguments): the T'
    canvases and the T' pre-sigmoid updates ΔC_t [B, S, S, C]."""
    steps = self.sampling_steps(num_canvas_steps)
    pairs = noise.seed_pairs(seeds)
    classes = self._class_ids(pairs, class_ids)
    z = per_example_noise(pairs, self.noise_dim, self.noise_mode, steps)
    return self.generate(z, classes, steps, training=False)

  def final_canvas_from_seeds(self, seeds, class_ids=None,
                              num_canvas_steps=None) -> tf.Tensor:
    """The image after T' canvas steps, T' a Python int or a tensor.

    Args:
      seeds, class_ids: as `sample_from_seeds`.
      num_canvas_steps: T' >= 1: an int (then `sample_from_seeds(...)[-1]`)
        or a scalar int tensor, e.g. a serving request's steps (checked by
        its signature), run as a `tf.while_loop` over the steps.

    Returns:
      [B, S, S, C] in [-1, 1], equal to `sample_from_seeds(seeds,
      class_ids, T')[-1]`: the same noise, layers and per-step statistics
      (step t >= T uses row T - 1, as there).
    """
    if not tf.is_tensor(num_canvas_steps):
      return self.sample_from_seeds(seeds, class_ids, num_canvas_steps)[-1]
    steps = tf.cast(num_canvas_steps, tf.int32)
    pairs = noise.seed_pairs(seeds)
    classes = self._class_ids(pairs, class_ids)
    one_hot = (None if classes is None
               else tf.one_hot(classes, self.num_classes))

    def project(z_t, step):
      inputs = z_t if one_hot is None else tf.concat([z_t, one_hot], -1)
      return self.project_z(inputs, step=step, training=False)

    shared = None
    if self.noise_mode == "shared":
      shared = project(per_example_noise(pairs, self.noise_dim, "shared", 1),
                       0)

    def decode(step, h_c):
      h_z = shared if shared is not None else project(
          step_noise(pairs, self.noise_dim, step), step)
      return self.decoder([h_z, h_c], step=step, training=False)

    def body(step, h_c, total):  # Every step but the last reads its update.
      delta = decode(step, h_c)
      return (step + 1, self.encoder(delta, step=step, training=False),
              total + delta)

    batch = tf.shape(pairs)[0]
    start = (tf.constant(0), tf.zeros([batch, self.noise_dim]),
             tf.zeros([batch, self.image_size, self.image_size,
                       self.channels]))
    step, h_c, total = tf.while_loop(lambda step, *_: step < steps - 1, body,
                                     start)
    return tf.tanh(0.5 * (total + decode(step, h_c)))

  def check_class_id(self, class_id, name: str = "class_id"):
    """Validates a class argument (an int or int [B]); int32 or None."""
    if class_id is None:
      return None
    if not self.num_classes:
      raise ValueError(
          f"{name}={class_id!r} needs a class-conditional model; this one "
          "is unconditional (train with --condition_on_label).")
    values = np.asarray(class_id)
    if (not np.issubdtype(values.dtype, np.integer) or values.size == 0
        or values.ndim > 1 or values.min() < 0
        or values.max() >= self.num_classes):
      raise ValueError(f"{name}={class_id!r} must be integers in "
                       f"[0, {self.num_classes}).")
    return tf.constant(values, tf.int32)

  def sample_classes(self, num_samples: int, seed=(0, 0),
                     first_index: int = 0, class_id=None):
    """int32 [N] classes `sample(...)` with these arguments uses (None if
    unconditional): `class_id` repeated, else drawn from each seed."""
    classes = self.check_class_id(class_id)
    if not self.num_classes:
      return None
    if classes is not None:
      return np.broadcast_to(classes.numpy(), [num_samples]).astype(np.int32)
    pairs = self.example_seeds(seed, int(num_samples), int(first_index))
    return self._class_ids(pairs, None).numpy()

  def sample(self, num_samples: int, seed=(0, 0), first_index: int = 0,
             class_id=None, num_canvas_steps=None) -> list[tf.Tensor]:
    """`num_samples` samples: the canvases over t, the image last.

    Example i uses `example_seeds(seed, ...)[i]` only, so
    `sample(n, seed, first_index=k)` continues `sample(k, seed)`.
    """
    if (isinstance(num_samples, bool) or
        not isinstance(num_samples, (int, np.integer)) or num_samples <= 0):
      raise ValueError(f"num_samples={num_samples!r} must be a positive int.")
    steps = self.sampling_steps(num_canvas_steps)
    classes = self.check_class_id(class_id)
    pairs = self.example_seeds(seed, int(num_samples), int(first_index))
    if classes is not None:
      classes = tf.broadcast_to(classes, [num_samples])
    return self._compiled_sample(pairs, classes, steps)

  def discriminator_logits(self, images: tf.Tensor, class_ids=None):
    """Logits [B] of the discriminator (> 0 = real), inference mode.

    With `discriminator_norm='batch'` (the paper's) the logits depend on the
    batch: pass single-source batches of a fixed size (GAM does).
    """
    images = tf.convert_to_tensor(images, tf.float32)
    inputs = [images]
    if self.num_classes:
      if class_ids is None:
        raise ValueError("class_ids is required by a class-conditional "
                         "discriminator.")
      inputs.append(tf.one_hot(tf.cast(class_ids, tf.int32) * tf.ones(
          tf.shape(images)[:1], tf.int32), self.num_classes))
    return self.discriminator(inputs, training=False)[:, 0]
