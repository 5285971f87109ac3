"""Pure image-pyramid operations used by the multigrid model.

All functions take and return float32 NHWC tensors. Down-sampling is the
average over non-overlapping blocks (the paper's 1x1 <- 4x4 <- 16x16 grids);
up-sampling is nearest neighbour (each coarse pixel becomes a constant block).
"""

from __future__ import annotations

from typing import Sequence

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
