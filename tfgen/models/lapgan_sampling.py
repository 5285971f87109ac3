"""Sampling and refinement of `LAPGAN` (a mixin; graph-traceable parts).

`sample_from_seeds` runs the whole pyramid, `refine_from_seeds` the levels
above given coarse images; both draw every example's noise (and, for a
class-conditional model without a given class, its class) from that
example's own seed pair, so an image does not depend on its batch-mates.
`sample`, `refine` and `sample_classes` are the eager entry points with
argument checks.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tfgen.core import seeds
from tfgen.data import pyramid
from tfgen.mcmc import noise
from tfgen.mcmc import runner


def _normal_per_example(pairs: tf.Tensor, shape: Sequence[int],
                        salt: int) -> tf.Tensor:
  """[B] + shape standard normals; row b depends only on pairs[b]."""
  return tf.map_fn(
      lambda pair: tf.random.stateless_normal(
          shape, seed=runner.fold_in(pair, salt)),
      pairs, fn_output_signature=tf.TensorSpec(shape, tf.float32))


class LapganSampling:
  """Mixin of `LAPGAN`: sample, refine, classes (needs its generators)."""

  def _class_ids(self, pairs: tf.Tensor, class_ids) -> Optional[tf.Tensor]:
    """int32 [B] classes: given, or drawn per seed; None if unconditional."""
    if not self.num_classes:
      return None
    if class_ids is None:
      return noise.per_example_choice(pairs, self.num_classes,
                                       seeds.LAPGAN_CLASS_CHOICE)
    class_ids = tf.cast(class_ids, tf.int32)
    return tf.broadcast_to(class_ids, tf.shape(pairs)[:1])

  def _refine(self, levels: list, first: int, pairs: tf.Tensor,
              one_hot) -> list:
    """Appends levels first.. to `levels` (the last is level first - 1)."""
    for index in range(first, len(self.level_sizes)):
      coarse_up = pyramid.blur_upsample(levels[-1])
      plane = _normal_per_example(pairs, self._noise_shape(index), index)
      residual = self._generate_level(index, coarse_up, plane, one_hot, False)
      levels.append(coarse_up + residual)
    return levels

  def sample_from_seeds(self, seeds, class_ids=None) -> list[tf.Tensor]:
    """One image per seed, whole pyramid; graph-traceable (for export).

    Args:
      seeds: int [B] per-instance seeds, or int32 [B, 2] seed pairs.
      class_ids: int [B] or a scalar class (conditional models; default: a
        class drawn uniformly from each seed). Ignored when unconditional.

    Returns:
      One [B, s, s, C] tensor per level, coarse to fine; the coarsest is in
      [-1, 1], finer levels are clipped to [-1, 1].
    """
    pairs = noise.seed_pairs(seeds)
    classes = self._class_ids(pairs, class_ids)
    one_hot = None if classes is None else self._one_hot(classes)
    vectors = _normal_per_example(pairs, self._noise_shape(0), 0)
    coarsest = self._generate_level(0, None, vectors, one_hot, False)
    levels = self._refine([coarsest], 1, pairs, one_hot)
    return [levels[0]] + [tf.clip_by_value(x, -1.0, 1.0) for x in levels[1:]]

  def refine_from_seeds(self, images: tf.Tensor, seeds,
                        class_ids=None) -> list[tf.Tensor]:
    """Refines one coarse image per seed; graph-traceable (for export).

    Args:
      images: [B, s, s, C] in [-1, 1] with a static s, one of the coarser
        levels.
      seeds: int [B] per-instance seeds or int32 [B, 2] pairs.
      class_ids: as in `sample_from_seeds`.

    Returns:
      [images, next level, ..., finest], finer levels clipped to [-1, 1].
    """
    pairs = noise.seed_pairs(seeds)
    size = images.shape[1]
    first = self.level_sizes.index(size) + 1
    classes = self._class_ids(pairs, class_ids)
    one_hot = None if classes is None else self._one_hot(classes)
    levels = self._refine([images], first, pairs, one_hot)
    return [levels[0]] + [tf.clip_by_value(x, -1.0, 1.0) for x in levels[1:]]

  def check_class_id(self, class_id, name: str = "class_id"):
    """Validates a class argument (an int or int [B]); returns int32 or None."""
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
      kind = "an integer" if values.ndim == 0 else "integers"
      raise ValueError(f"{name}={class_id!r} must be {kind} in "
                       f"[0, {self.num_classes}).")
    return tf.constant(values, tf.int32)

  def sample_classes(self, num_samples: int, seed=(0, 0), first_index: int = 0,
                     class_id=None) -> Optional[np.ndarray]:
    """int32 [N] classes that `sample(...)` with these arguments uses.

    None for an unconditional model; `class_id` repeated when given; else
    the class drawn from each example's seed.
    """
    classes = self.check_class_id(class_id)
    if not self.num_classes:
      return None
    if classes is not None:
      return np.broadcast_to(classes.numpy(), [num_samples]).astype(np.int32)
    pairs = self.example_seeds(seed, int(num_samples), int(first_index))
    return self._class_ids(pairs, None).numpy()

  def sample(self, num_samples: int, seed=(0, 0), first_index: int = 0,
             class_id=None) -> list[tf.Tensor]:
    """Samples `num_samples` images through the whole pyramid.

    `seed` is an int or int32[2]; example i uses `example_seeds(seed, ...)[i]`
    only, so `sample(n, seed, first_index=k)` continues `sample(k, seed)`.
    `class_id` (conditional models): an int for one class, an int [n] array,
    or None for a class drawn per example.

    Returns:
      One [n, s, s, C] tensor per level in [-1, 1], coarse to fine.
    """
    if (isinstance(num_samples, bool) or
        not isinstance(num_samples, (int, np.integer)) or num_samples <= 0):
      raise ValueError(f"num_samples={num_samples!r} must be a positive int.")
    classes = self.check_class_id(class_id)
    if classes is not None and classes.shape.rank == 1 and (
        classes.shape[0] != num_samples):
      raise ValueError(f"class_id has {classes.shape[0]} entries but "
                       f"num_samples={num_samples}; pass one int or one per "
                       "sample.")
    pairs = self.example_seeds(seed, int(num_samples), int(first_index))
    if classes is None:
      return self._compiled_sample(pairs)
    return self._compiled_sample(pairs, tf.broadcast_to(classes,
                                                        [num_samples]))

  def refine(self, coarse_images, seed=(0, 0), class_id=None,
             first_index: int = 0) -> list[tf.Tensor]:
    """Refines given coarse images through the finer levels.

    Args:
      coarse_images: [B, s, s, C] in [-1, 1], s one of `level_sizes` but the
        finest (usually the coarsest, e.g. a real image's Gaussian level).
        Repeat an image to get several refinements of it: each row has its
        own seed, so the refinements differ.
      seed: int or int32[2]; row i uses `example_seeds(seed, ...)[i]`.
      class_id: conditional models: an int, int [B], or None (drawn per row).
      first_index: as in `sample`.

    Returns:
      [coarse_images, next level, ..., finest images], each [B, s, s, C].
    """
    images = tf.convert_to_tensor(coarse_images, tf.float32)
    sizes = self.level_sizes[:-1]
    if (images.shape.rank != 4 or images.shape[1] != images.shape[2]
        or images.shape[1] not in sizes or images.shape[3] != self.channels
        or not images.shape[0]):
      raise ValueError(
          f"coarse_images has shape {images.shape}; it must be [B, s, s, "
          f"{self.channels}] with B >= 1 and s one of the coarser levels "
          f"{list(sizes)} of level_sizes={list(self.level_sizes)}.")
    batch = int(images.shape[0])
    classes = self.check_class_id(class_id)
    pairs = self.example_seeds(seed, batch, int(first_index))
    if classes is None:
      return self._compiled_refine(images, pairs)
    return self._compiled_refine(images, pairs,
                                 tf.broadcast_to(classes, [batch]))
