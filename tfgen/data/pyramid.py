"""Pure image-pyramid operations of the multigrid model and LAPGAN.

All functions take and return float32 NHWC tensors.

Multigrid: `downsample` is the average over non-overlapping blocks (the
paper's 1x1 <- 4x4 <- 16x16 grids); `upsample` is nearest neighbour (each
coarse pixel becomes a constant block).

LAPGAN (Burt and Adelson's Laplacian pyramid): `blur_downsample` blurs with
the 5-tap binomial kernel [1, 4, 6, 4, 1] / 16 and keeps every second pixel
(H -> H / 2), `blur_upsample` inserts zeros and blurs with the same kernel
(h -> 2h, constant images stay constant). `laplacian_pyramid` splits images
into the coarsest Gaussian level plus one residual per finer level,

    residual_s = gaussian_s - blur_upsample(gaussian_{s/2}),

and `reconstruct_laplacian` inverts it exactly (up to float round-off):
gaussian_s = blur_upsample(gaussian_{s/2}) + residual_s.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

import tensorflow as tf


def _spatial_size(images: tf.Tensor) -> int:
  size = images.shape[1]
  if size is None or images.shape[2] != size:
    raise ValueError(
        f"images must be square with a static size, got shape {images.shape}.")
  return int(size)


def downsample(images: tf.Tensor, size: int) -> tf.Tensor:
  """Averages `images` [B, H, H, C] over H/size blocks -> [B, size, size, C].

  `size` must divide H. `size == H` returns the input unchanged.
  """
  height = _spatial_size(images)
  if size <= 0 or height % size:
    raise ValueError(
        f"size={size} must be a positive divisor of the image size {height}.")
  factor = height // size
  if factor == 1:
    return images
  return tf.nn.avg_pool2d(images, ksize=factor, strides=factor, padding="VALID")


def upsample(images: tf.Tensor, size: int) -> tf.Tensor:
  """Nearest-neighbour up-sampling of [B, h, h, C] to [B, size, size, C].

  `h` must divide `size`; every coarse pixel is repeated as a block.
  """
  height = _spatial_size(images)
  if size <= 0 or size % height:
    raise ValueError(
        f"size={size} must be a positive multiple of the image size {height}.")
  factor = size // height
  if factor == 1:
    return images
  images = tf.repeat(images, factor, axis=1)
  return tf.repeat(images, factor, axis=2)


def gaussian_pyramid(images: tf.Tensor,
                     grid_sizes: Sequence[int]) -> list[tf.Tensor]:
  """Returns [downsample(images, g) for g in grid_sizes] (coarse to fine)."""
  return [downsample(images, size) for size in grid_sizes]


def observed_pyramid(images: tf.Tensor, observed: tf.Tensor,
                     grid_sizes: Sequence[int]
                     ) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
  """Pyramid of a partly observed image, for inpainting.

  Args:
    images: [B, S, S, C]; values where `observed` is 0 are ignored.
    observed: [B, S, S, C], 1 where a pixel is observed, 0 where missing.
    grid_sizes: sizes to down-sample to, each dividing S.

  Returns:
    (known, values): per grid, `known` is 1 where every pixel of the block is
    observed (0 otherwise) and `values` the mean of the block's observed
    pixels (0 where none is).
  """
  known, values = [], []
  for size in grid_sizes:
    fraction = downsample(observed, size)
    known.append(tf.cast(fraction > 1.0 - 1e-4, images.dtype))
    values.append(downsample(images * observed, size) /
                  tf.maximum(fraction, 1e-6))
  return known, values


def observed_neighbour_mean(values: tf.Tensor, fraction: tf.Tensor
                            ) -> tuple[tf.Tensor, tf.Tensor]:
  """Each pixel's estimate from the observed pixels at and around it.

  Args:
    values: [B, g, g, C], the mean of each pixel's observed pixels
      (`observed_pyramid`'s values; anything where `fraction` is 0).
    fraction: [B, g, g, C] in [0, 1], the observed share of each pixel
      (`downsample(observed, g)`; at the image size 0 or 1).

  Returns:
    (estimate, has_estimate): a pixel with observed pixels keeps `values`;
    a pixel without, but with some in its 3x3 neighbourhood, gets their
    mean weighted by `fraction`; `has_estimate` is 1 where either holds
    and 0 where nothing around the pixel is observed (`estimate` 0 there).
  """
  channels = values.shape[-1]
  window = tf.ones([3, 3, channels, 1], values.dtype)
  strides = [1, 1, 1, 1]
  weight = tf.nn.depthwise_conv2d(fraction, window, strides, "SAME")
  total = tf.nn.depthwise_conv2d(values * fraction, window, strides, "SAME")
  around = total / tf.maximum(weight, 1e-6)
  seen = tf.cast(fraction > 1e-6, values.dtype)
  near = tf.cast(weight > 1e-6, values.dtype)
  estimate = seen * values + (1.0 - seen) * near * around
  return estimate, tf.maximum(seen, near)


def validate_grid_sizes(grid_sizes: Sequence[int], image_size: int) -> tuple:
  """Checks a grid list for the multigrid model and returns it as a tuple.

  Grids must be strictly increasing positive integers, each dividing the next,
  and the last one must equal `image_size`.
  """
  grid_sizes = tuple(int(g) for g in grid_sizes)
  if len(grid_sizes) < 2:
    raise ValueError(
        f"grid_sizes={list(grid_sizes)} needs at least two grids (a start grid "
        "such as 1 and the image size), e.g. grid_sizes=1,4,16.")
  if any(g <= 0 for g in grid_sizes):
    raise ValueError(f"grid_sizes={list(grid_sizes)} must all be positive.")
  for coarse, fine in zip(grid_sizes, grid_sizes[1:]):
    if fine <= coarse:
      raise ValueError(
          f"grid_sizes={list(grid_sizes)} must be strictly increasing "
          f"({coarse} is followed by {fine}); e.g. grid_sizes=1,4,16.")
    if fine % coarse:
      raise ValueError(
          f"grid_sizes={list(grid_sizes)}: each grid must divide the next "
          f"({coarse} does not divide {fine}); e.g. grid_sizes=1,4,16.")
  if grid_sizes[-1] != image_size:
    raise ValueError(
        f"grid_sizes={list(grid_sizes)} cannot reach image_size={image_size}: "
        f"the last grid must equal the image size, e.g. grid_sizes=1,4,"
        f"{image_size} or image_size={grid_sizes[-1]}.")
  return grid_sizes


# ---- Laplacian pyramid (LAPGAN) ---------------------------------------------
_BINOMIAL_TAPS = np.array([1.0, 4.0, 6.0, 4.0, 1.0], np.float32) / 16.0


def _blur(images: tf.Tensor, gain: float) -> tf.Tensor:
  """5x5 binomial blur (times `gain`) with reflected borders, same size."""
  channels = images.shape[-1]
  kernel = np.outer(_BINOMIAL_TAPS, _BINOMIAL_TAPS) * gain
  kernel = np.tile(kernel[:, :, None, None], [1, 1, channels, 1])
  padded = tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT")
  return tf.nn.depthwise_conv2d(padded, tf.constant(kernel, images.dtype),
                                strides=[1, 1, 1, 1], padding="VALID")


def blur_downsample(images: tf.Tensor) -> tf.Tensor:
  """Blurs [B, H, H, C] (H even, >= 4) and keeps every 2nd pixel -> H / 2."""
  height = _spatial_size(images)
  if height < 4 or height % 2:
    raise ValueError(f"blur_downsample needs an even image size >= 4, got "
                     f"{height} (shape {images.shape}).")
  return _blur(images, 1.0)[:, ::2, ::2, :]


def blur_upsample(images: tf.Tensor) -> tf.Tensor:
  """[B, h, h, C] (h >= 2) -> [B, 2h, 2h, C]: zeros inserted, then blurred.

  The blur has gain 4 (2 per axis) so a constant image stays constant.
  """
  height = _spatial_size(images)
  if height < 2:
    raise ValueError(f"blur_upsample needs an image size >= 2, got {height} "
                     f"(shape {images.shape}).")
  zeros = tf.zeros_like(images)
  # Interleave along width, then along height: x at even positions.
  rows = tf.reshape(tf.stack([images, zeros], axis=3),
                    [-1, height, 2 * height, images.shape[-1]])
  full = tf.reshape(tf.stack([rows, tf.zeros_like(rows)], axis=2),
                    [-1, 2 * height, 2 * height, images.shape[-1]])
  return _blur(full, 4.0)


def validate_level_sizes(level_sizes: Sequence[int], image_size: int) -> tuple:
  """Checks LAPGAN level sizes (coarse to fine) and returns them as a tuple.

  Each level doubles the previous one, the coarsest is >= 2 and the finest
  equals `image_size`; one level alone is a plain single-level GAN.
  """
  level_sizes = tuple(int(s) for s in level_sizes)
  example = f"e.g. level_sizes={image_size // 4},{image_size // 2},{image_size}"
  if not level_sizes:
    raise ValueError(f"level_sizes=[] needs at least one level, {example}.")
  if level_sizes[0] < 2:
    raise ValueError(f"level_sizes={list(level_sizes)}: the coarsest level "
                     f"must be >= 2 pixels, {example}.")
  for coarse, fine in zip(level_sizes, level_sizes[1:]):
    if fine != 2 * coarse:
      raise ValueError(
          f"level_sizes={list(level_sizes)}: each level must double the "
          f"previous one ({coarse} is followed by {fine}), {example}.")
  if level_sizes[-1] != image_size:
    raise ValueError(
        f"level_sizes={list(level_sizes)} cannot reach image_size="
        f"{image_size}: the last level must equal the image size, {example} "
        f"or image_size={level_sizes[-1]}.")
  return level_sizes


def laplacian_pyramid(images: tf.Tensor, level_sizes: Sequence[int]
                      ) -> tuple[tf.Tensor, list[tf.Tensor]]:
  """Splits images into the coarsest Gaussian level and residuals.

  Args:
    images: [B, S, S, C] with S = level_sizes[-1].
    level_sizes: coarse to fine, each doubling the previous (see
      `validate_level_sizes`).

  Returns:
    (coarsest, residuals): coarsest [B, s0, s0, C] (the Gaussian pyramid's
    level s0), and for each finer level s, in order, residual_s [B, s, s, C]
    = gaussian_s - blur_upsample(gaussian_{s/2}).
  """
  level_sizes = validate_level_sizes(level_sizes, _spatial_size(images))
  gaussians = [images]
  for _ in level_sizes[:-1]:
    gaussians.append(blur_downsample(gaussians[-1]))
  gaussians.reverse()  # Coarse to fine.
  residuals = [fine - blur_upsample(coarse)
               for coarse, fine in zip(gaussians, gaussians[1:])]
  return gaussians[0], residuals


def reconstruct_laplacian(coarsest: tf.Tensor,
                          residuals: Sequence[tf.Tensor]) -> list[tf.Tensor]:
  """Inverts `laplacian_pyramid`: the Gaussian level of every size.

  Returns [coarsest, level 2*s0, ..., finest image], coarse to fine; the last
  equals the pyramid's input up to float round-off.
  """
  levels = [coarsest]
  for residual in residuals:
    levels.append(blur_upsample(levels[-1]) + residual)
  return levels
