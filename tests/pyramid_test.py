"""Tests for tfgen.data.pyramid: block averages, block repeats, grid lists."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfgen.data import pyramid


def _images(batch=2, size=16, channels=3, seed=0):
  rng = np.random.default_rng(seed)
  return rng.uniform(-1, 1, (batch, size, size, channels)).astype(np.float32)


def _block_mean(images, size):
  """numpy reference: mean over non-overlapping (H/size)x(H/size) blocks."""
  batch, height, _, channels = images.shape
  factor = height // size
  blocks = images.reshape(batch, size, factor, size, factor, channels)
  return blocks.mean(axis=(2, 4))


@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_downsample_is_block_average(size):
  images = _images()
  out = pyramid.downsample(tf.constant(images), size)
  assert out.shape == (2, size, size, 3)
  np.testing.assert_allclose(out.numpy(), _block_mean(images, size),
                             rtol=0, atol=1e-6)


def test_downsample_to_one_pixel_is_image_mean():
  images = _images(channels=1)
  out = pyramid.downsample(tf.constant(images), 1).numpy()
  np.testing.assert_allclose(out[:, 0, 0, 0], images.mean(axis=(1, 2, 3)),
                             rtol=0, atol=1e-6)


def test_downsample_to_same_size_is_identity():
  images = tf.constant(_images())
  np.testing.assert_array_equal(pyramid.downsample(images, 16).numpy(),
                                images.numpy())


def test_upsample_repeats_each_pixel_as_block():
  images = _images(size=4)
  out = pyramid.upsample(tf.constant(images), 16).numpy()
  assert out.shape == (2, 16, 16, 3)
  expected = np.repeat(np.repeat(images, 4, axis=1), 4, axis=2)
  np.testing.assert_array_equal(out, expected)
  # The top-left 4x4 block is a constant copy of pixel (0, 0).
  np.testing.assert_array_equal(out[:, :4, :4, :],
                                np.broadcast_to(images[:, :1, :1, :],
                                                (2, 4, 4, 3)))


def test_upsample_from_one_pixel_is_constant_image():
  images = _images(size=1)
  out = pyramid.upsample(tf.constant(images), 8).numpy()
  np.testing.assert_array_equal(
      out, np.broadcast_to(images, (2, 8, 8, 3)))


@pytest.mark.parametrize("coarse,fine", [(1, 4), (4, 16), (2, 8), (8, 8)])
def test_downsample_inverts_upsample(coarse, fine):
  images = tf.constant(_images(size=coarse))
  round_trip = pyramid.downsample(pyramid.upsample(images, fine), coarse)
  np.testing.assert_allclose(round_trip.numpy(), images.numpy(),
                             rtol=0, atol=1e-6)


def test_gaussian_pyramid_is_coarse_to_fine():
  images = _images()
  levels = pyramid.gaussian_pyramid(tf.constant(images), (1, 4, 16))
  assert [tuple(level.shape) for level in levels] == [
      (2, 1, 1, 3), (2, 4, 4, 3), (2, 16, 16, 3)]
  np.testing.assert_allclose(levels[1].numpy(), _block_mean(images, 4),
                             rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [0, -4, 3, 5, 32])
def test_downsample_rejects_non_divisor(size):
  with pytest.raises(ValueError, match=f"size={size}"):
    pyramid.downsample(tf.constant(_images()), size)


@pytest.mark.parametrize("size", [0, -8, 6, 2])
def test_upsample_rejects_non_multiple(size):
  with pytest.raises(ValueError, match=f"size={size}"):
    pyramid.upsample(tf.constant(_images(size=4)), size)


def test_non_square_images_are_rejected():
  images = tf.zeros([2, 8, 4, 1])
  with pytest.raises(ValueError, match="square"):
    pyramid.downsample(images, 4)
  with pytest.raises(ValueError, match="square"):
    pyramid.upsample(images, 16)


@pytest.mark.parametrize("grid_sizes,image_size", [
    ((1, 4, 16), 16), ([1, 4, 16, 64], 64), ((4, 16), 16), ((1, 2), 2),
    (("1", "4", "16"), 16)])
def test_validate_grid_sizes_accepts(grid_sizes, image_size):
  out = pyramid.validate_grid_sizes(grid_sizes, image_size)
  assert out == tuple(int(g) for g in grid_sizes)
  assert isinstance(out, tuple)


@pytest.mark.parametrize("grid_sizes,image_size,reason", [
    ((16,), 16, "at least two"),
    ((), 16, "at least two"),
    ((4, 1, 16), 16, "strictly increasing"),
    ((1, 4, 4, 16), 16, "strictly increasing"),
    ((1, 3, 16), 16, "divide"),
    ((1, 4, 10), 10, "divide"),
    ((1, 4, 16), 64, "image_size=64"),
    ((1, 4, 8), 16, "image_size=16"),
    ((0, 4, 16), 16, "positive"),
    ((-1, 4, 16), 16, "positive"),
])
def test_validate_grid_sizes_rejects(grid_sizes, image_size, reason):
  with pytest.raises(ValueError) as error:
    pyramid.validate_grid_sizes(grid_sizes, image_size)
  message = str(error.value)
  assert f"grid_sizes={list(grid_sizes)}" in message
  assert reason in message


def test_observed_pyramid_averages_only_observed_pixels():
  images = tf.constant(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
  observed = np.ones((1, 4, 4, 1), np.float32)
  observed[0, 0, 0, 0] = 0.0  # One missing pixel in the top-left block.
  known, values = pyramid.observed_pyramid(images, tf.constant(observed),
                                           (1, 2, 4))
  np.testing.assert_array_equal(known[1][0, :, :, 0], [[0, 1], [1, 1]])
  np.testing.assert_allclose(values[1][0, 0, 0, 0], (1 + 4 + 5) / 3)
  np.testing.assert_allclose(values[0][0, 0, 0, 0], (120 - 0) / 15)
  np.testing.assert_array_equal(known[2][..., 0], observed[..., 0])


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
