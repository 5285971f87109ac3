"""Inpainting: fill masked images with a model, and score the filling.

Scores are on images in [0, 1] (the library's [-1, 1] images mapped by
(x + 1) / 2), as in the multigrid paper's Table 4:

* `masked_mean_absolute_error`: per image, the mean |original - filled| over
  the missing pixels (every channel), then the mean over images.
* `psnr`: per image, 10 * log10(1 / MSE) with MSE over the missing pixels
  (`masks` given; the report's and `apps.inpaint`'s "psnr") or over the whole
  image (`masks=None`), then the mean over images. The peak value is 1; an
  MSE below 1e-10 counts as 1e-10 (100 dB) so that a perfect fill is finite.

Both score only what the model filled: observed pixels are clamped to the
original, so a whole-image score mostly measures the mask's size.

`inpaint` runs the model of any family with the 'inpaint' capability
(multigrid, PPGN); `diffusion_fill` is a non-learned
reference (each missing pixel relaxed to the mean of its neighbours).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

MIN_MSE = 1e-10


def _check_images(name: str, images) -> np.ndarray:
  images = np.asarray(images, np.float64)
  if images.ndim != 4:
    raise ValueError(f"{name} must be [N, H, W, C] images in [0, 1], got "
                     f"shape {images.shape}.")
  if images.size and (not np.all(np.isfinite(images))
                      or images.min() < 0.0 or images.max() > 1.0):
    raise ValueError(f"{name} must be in [0, 1] (map [-1, 1] images with "
                     f"(x + 1) / 2), got values in [{images.min()}, "
                     f"{images.max()}].")
  return images


def _check_pair(original, filled, masks):
  original = _check_images("original", original)
  filled = _check_images("filled", filled)
  if original.shape != filled.shape:
    raise ValueError(f"original {original.shape} and filled {filled.shape} "
                     "must have the same shape.")
  if masks is None:
    return original, filled, np.ones_like(original)
  masks = np.asarray(masks, np.float64)
  expected = original.shape[:3]
  if masks.ndim != 4 or masks.shape[:3] != expected or \
      masks.shape[3] not in (1, original.shape[3]):
    raise ValueError(f"masks must be [N, H, W, 1 or C] = {expected + (1,)} "
                     f"for images {original.shape}, got {masks.shape}.")
  if not np.all((masks == 0) | (masks == 1)):
    raise ValueError("masks must hold only 0 (observed) and 1 (missing).")
  masks = np.broadcast_to(masks, original.shape)
  empty = np.flatnonzero(masks.reshape(masks.shape[0], -1).sum(axis=1) == 0)
  if empty.size:
    raise ValueError(f"masks of images {empty.tolist()[:10]} have no missing "
                     "pixel: there is nothing to score.")
  return original, filled, masks


def _per_image_mean(values: np.ndarray, masks: np.ndarray) -> np.ndarray:
  axes = tuple(range(1, values.ndim))
  return (values * masks).sum(axis=axes) / masks.sum(axis=axes)


def masked_mean_absolute_error(original, filled, masks) -> float:
  """Mean over images of the mean |original - filled| on missing pixels.

  Args:
    original, filled: [N, H, W, C] in [0, 1].
    masks: [N, H, W, 1 or C], 1 = missing (every image needs one).
  """
  original, filled, masks = _check_pair(original, filled, masks)
  return float(np.mean(_per_image_mean(np.abs(original - filled), masks)))


def psnr(original, filled, masks=None) -> float:
  """Mean over images of the PSNR (dB, peak 1) on missing pixels or all."""
  original, filled, masks = _check_pair(original, filled, masks)
  mse = np.maximum(_per_image_mean(np.square(original - filled), masks),
                   MIN_MSE)
  return float(np.mean(10.0 * np.log10(1.0 / mse)))


def masked_images(images, masks, fill_value: float = 0.5) -> np.ndarray:
  """`images` in [0, 1] with missing pixels set to `fill_value` (to show)."""
  images = np.asarray(images, np.float32)
  masks = np.broadcast_to(np.asarray(masks, np.float32), images.shape)
  return images * (1.0 - masks) + fill_value * masks


def inpaint(model, images, masks, seed: int = 0, batch_size: int = 500,
            num_steps=None, labels=None, options=None) -> np.ndarray:
  """Fills the missing pixels of `images` with an 'inpaint' family's model.

  Args:
    model: a model of a family with the 'inpaint' capability
      (`inpaint_from_seeds`, `inpaint_options`; multigrid: coarse-to-fine
      Langevin chains, PPGN: PPGN-context MALA-approx chains).
    images: [N, S, S, C] in [-1, 1].
    masks: [N, S, S, 1], 1 = missing.
    seed: image i uses the seed pair `model.example_seeds(seed, N)[i]` only,
      so batching does not change the result.
    batch_size: images per compiled call (memory bound).
    num_steps: optional sampler steps, `model.inpaint_options(num_steps)`
      (multigrid: one or one per model grid; default: trained).
    labels: int [N] class labels, for class-conditional models only.
    options: the `inpaint_from_seeds` options instead (then num_steps must
      be None).

  Returns:
    float32 [N, S, S, C] in [-1, 1], equal to `images` where masks is 0.
  """
  images = np.asarray(images, np.float32)
  masks = np.asarray(masks, np.float32)
  if batch_size <= 0:
    raise ValueError(f"batch_size={batch_size!r} must be positive.")
  if options is not None and num_steps is not None:
    raise ValueError("Pass num_steps or options, not both.")
  num = images.shape[0]
  pairs = model.example_seeds(seed, num)
  kwargs = dict(model.inpaint_options(num_steps) if options is None
                else options)

  if labels is None:
    fill = tf.function(
        lambda x, m, p: model.inpaint_from_seeds(x, m, p, **kwargs)[-1])
  else:
    fill = tf.function(lambda x, m, p, y: model.inpaint_from_seeds(
        x, m, p, labels=y, **kwargs)[-1])
  chunks = []
  for start in range(0, num, batch_size):
    part = slice(start, start + batch_size)
    args = [tf.constant(images[part]), tf.constant(masks[part]), pairs[part]]
    if labels is not None:
      args.append(tf.constant(np.asarray(labels, np.int32)[part]))
    chunks.append(fill(*args).numpy())
  return np.concatenate(chunks).astype(np.float32)


def diffusion_fill(images01, masks, num_iterations: int = 300) -> np.ndarray:
  """A non-learned reference: missing pixels relaxed to their neighbours.

  Missing pixels start at each image's mean observed value, then
  `num_iterations` times take the mean of their 4 neighbours (edges
  replicated) while observed pixels stay fixed: a discrete harmonic
  (Laplace) fill, which any learned inpainting should beat.

  Args:
    images01: [N, H, W, C] in [0, 1] (missing pixels may hold anything).
    masks: [N, H, W, 1 or C], 1 = missing; each image needs an observed pixel.
    num_iterations: relaxation sweeps (> 0).

  Returns:
    float32 [N, H, W, C] in [0, 1], equal to `images01` where masks is 0.
  """
  images = _check_images("images01", images01)
  masks = np.broadcast_to(np.asarray(masks, np.float64), images.shape)
  if isinstance(num_iterations, bool) or not isinstance(
      num_iterations, (int, np.integer)) or num_iterations <= 0:
    raise ValueError(f"num_iterations={num_iterations!r} must be a positive "
                     "integer, e.g. 300.")
  observed = 1.0 - masks
  counts = observed.sum(axis=(1, 2, 3), keepdims=True)
  if np.any(counts == 0):
    raise ValueError("masks hide every pixel of some image: a diffusion fill "
                     "needs at least one observed pixel.")
  mean = (images * observed).sum(axis=(1, 2, 3), keepdims=True) / counts
  state = images * observed + mean * masks
  for _ in range(int(num_iterations)):
    padded = np.pad(state, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    neighbours = (padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] +
                  padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]) / 4.0
    state = images * observed + neighbours * masks
  return state.astype(np.float32)


def evaluate(original01, filled01, masks) -> dict:
  """Scores of one inpainting run (images in [0, 1]) as a JSON-able dict."""
  return dict(
      mae_missing=masked_mean_absolute_error(original01, filled01, masks),
      psnr_missing=psnr(original01, filled01, masks),
      psnr_whole_image=psnr(original01, filled01, None),
      missing_fraction=float(np.mean(masks)))
