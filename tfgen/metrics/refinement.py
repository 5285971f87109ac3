"""LAPGAN's conditional-refinement error (after the official code's test).

For each held-out image x (float NHWC in [-1, 1]) the model refines the
coarsest level of x's Laplacian pyramid K times (K different seeds) and the
error is the smallest L2 distance between x and one of the K refinements,

    refinement_error(x) = min_k || refine_k(coarse(x)) - x ||_2,

in [0, 1] pixel units (images mapped to [0, 1] first). A model whose
refinements cover the plausible fine images of a coarse image gets a small
error; one that ignores its noise gets the same (often larger) error for
every K. The reference `upsampled_coarse_l2` is the distance when no
residual is added at all (the blur-up-sampled coarse image).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from tfgen.data import pyramid


def _l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Per-image L2 distance of [N, ...] images in [-1, 1], in [0, 1] units."""
  diff = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) / 2.0
  return np.sqrt(np.sum(diff.reshape(len(diff), -1)**2, axis=1))


def refinement_error(model, images, num_refinements: int = 16, seed: int = 0,
                     labels: Optional[np.ndarray] = None,
                     batch_size: int = 64) -> dict:
  """Conditional-refinement error of a LAPGAN on held-out `images`.

  Args:
    model: a `tfgen.models.LAPGAN` (anything with `level_sizes`, `channels`,
      `num_classes` and `refine(coarse, seed, class_id, first_index)`).
    images: [N, S, S, C] held-out images in [-1, 1], S the model's finest
      level, N >= 1.
    num_refinements: K >= 1 refinements per image.
    seed: the refinements' seed (refinement k of image i is row i * K + k of
      one `refine` call with this seed, whatever `batch_size` is).
    labels: int [N] classes, needed by a class-conditional model.
    batch_size: images per `refine` call (memory only).

  Returns:
    {"num_images", "num_refinements", "min_l2" (mean over images of the
     minimum over K), "mean_l2" (mean over images and refinements),
     "upsampled_coarse_l2" (mean distance with no residuals)}: floats >= 0.
  """
  images = np.asarray(images, np.float32)
  size = model.level_sizes[-1]
  if images.ndim != 4 or images.shape[1:] != (size, size, model.channels) or (
      not len(images)):
    raise ValueError(f"images have shape {images.shape}; they must be "
                     f"[N, {size}, {size}, {model.channels}] with N >= 1.")
  if isinstance(num_refinements, bool) or int(num_refinements) != (
      num_refinements) or num_refinements < 1:
    raise ValueError(f"num_refinements={num_refinements!r} must be an int "
                     ">= 1, e.g. 16.")
  if model.num_classes and labels is None:
    raise ValueError("labels are needed: the model is class-conditional.")
  if len(model.level_sizes) < 2:
    raise ValueError(f"level_sizes={list(model.level_sizes)}: a single-level "
                     "GAN refines nothing; the error needs >= 2 levels.")
  k = int(num_refinements)
  coarse, residuals = pyramid.laplacian_pyramid(tf.constant(images),
                                                model.level_sizes)
  upsampled = pyramid.reconstruct_laplacian(
      coarse, [tf.zeros_like(r) for r in residuals])[-1].numpy()
  coarse = coarse.numpy()
  best, every = [], []
  for start in range(0, len(images), batch_size):
    stop = min(start + batch_size, len(images))
    repeated = np.repeat(coarse[start:stop], k, axis=0)
    classes = (None if not model.num_classes else
               np.repeat(np.asarray(labels[start:stop], np.int64), k))
    fine = model.refine(repeated, seed=seed, class_id=classes,
                        first_index=start * k)[-1].numpy()
    distances = _l2(fine, np.repeat(images[start:stop], k, axis=0))
    distances = distances.reshape(stop - start, k)
    best.append(distances.min(axis=1))
    every.append(distances.mean(axis=1))
  return {"num_images": int(len(images)), "num_refinements": k,
          "min_l2": float(np.mean(np.concatenate(best))),
          "mean_l2": float(np.mean(np.concatenate(every))),
          "upsampled_coarse_l2": float(np.mean(_l2(upsampled, images)))}
