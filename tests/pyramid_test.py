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



def test_observed_neighbour_mean_keeps_observed_fills_from_neighbours_and_flags_isolated():
  values = np.zeros((1, 5, 5, 1), np.float32)
  fraction = np.zeros((1, 5, 5, 1), np.float32)
  values[0, 0, 0, 0], fraction[0, 0, 0, 0] = 0.8, 1.0  # Fully observed.
  values[0, 0, 1, 0], fraction[0, 0, 1, 0] = -0.4, 0.5  # Half observed.
  estimate, has = pyramid.observed_neighbour_mean(tf.constant(values),
                                                  tf.constant(fraction))
  estimate, has = estimate.numpy()[0, ..., 0], has.numpy()[0, ..., 0]
  assert estimate[0, 0] == pytest.approx(0.8)  # Its own value.
  assert estimate[0, 1] == pytest.approx(-0.4)
  # Missing, with both in its 3x3 window: weighted by observed share.
  assert estimate[1, 0] == pytest.approx((0.8 * 1 - 0.4 * 0.5) / 1.5)
  assert estimate[1, 2] == pytest.approx(-0.4)  # Only the half one near.
  assert has[:2, :3].all() and not has[3:].any() and not has[:, 3:].any()
  assert (estimate[3:] == 0).all()


# ---- Laplacian pyramid (LAPGAN) ---------------------------------------------


def _numpy_blur_downsample(images):
  """Reference: separable [1,4,6,4,1]/16 blur, reflected borders, stride 2."""
  taps = np.array([1, 4, 6, 4, 1], np.float64) / 16
  padded = np.pad(images.astype(np.float64), [(0, 0), (2, 2), (2, 2), (0, 0)],
                  mode="reflect")
  size = images.shape[1]
  out = np.zeros(images.shape, np.float64)
  for dy in range(5):
    for dx in range(5):
      out += taps[dy] * taps[dx] * padded[:, dy:dy + size, dx:dx + size]
  return out[:, ::2, ::2]


def test_blur_downsample_matches_numpy_reference():
  images = _images(size=8)
  out = pyramid.blur_downsample(tf.constant(images)).numpy()
  assert out.shape == (2, 4, 4, 3)
  np.testing.assert_allclose(out, _numpy_blur_downsample(images), atol=1e-6)


@pytest.mark.parametrize("size", [2, 4, 8])
def test_blur_up_and_down_keep_constant_images_constant(size):
  constant = tf.fill([1, size, size, 2], 0.3)
  np.testing.assert_allclose(pyramid.blur_upsample(constant).numpy(), 0.3,
                             atol=1e-6)
  if size >= 4:
    np.testing.assert_allclose(pyramid.blur_downsample(constant).numpy(), 0.3,
                               atol=1e-6)


def test_blur_upsample_puts_coarse_pixels_on_even_positions_blurred():
  coarse = np.zeros([1, 8, 8, 1], np.float32)
  coarse[0, 2, 2, 0] = 1.0  # An impulse away from the border.
  out = pyramid.blur_upsample(tf.constant(coarse)).numpy()[0, :, :, 0]
  assert out.shape == (16, 16)
  taps = np.array([1, 4, 6, 4, 1]) / 16 * 2
  np.testing.assert_allclose(out[2:7, 2:7], np.outer(taps, taps), atol=1e-6)
  np.testing.assert_allclose(out.sum(), 4.0, atol=1e-5)  # Gain 4 = 2 x 2.


@pytest.mark.parametrize("level_sizes,channels",
                         [((4, 8, 16), 1), ((8, 16, 32), 3), ((16,), 1)])
def test_laplacian_pyramid_reconstructs_images_exactly(level_sizes, channels):
  images = tf.constant(_images(batch=3, size=level_sizes[-1],
                               channels=channels, seed=1))
  coarsest, residuals = pyramid.laplacian_pyramid(images, level_sizes)
  assert coarsest.shape == (3, level_sizes[0], level_sizes[0], channels)
  assert [r.shape[1] for r in residuals] == list(level_sizes[1:])
  levels = pyramid.reconstruct_laplacian(coarsest, residuals)
  assert [level.shape[1] for level in levels] == list(level_sizes)
  error = np.abs(levels[-1].numpy() - images.numpy()).max()
  assert error < 1e-5, error


def test_laplacian_levels_are_the_gaussian_pyramid_and_residuals_are_detail():
  images = _images(batch=2, size=16, channels=1)
  coarsest, residuals = pyramid.laplacian_pyramid(tf.constant(images),
                                                  (4, 8, 16))
  down8 = _numpy_blur_downsample(images)
  np.testing.assert_allclose(coarsest.numpy(), _numpy_blur_downsample(down8),
                             atol=1e-5)
  # A smooth (constant) image has no detail at any level.
  _, flat_residuals = pyramid.laplacian_pyramid(tf.fill([1, 16, 16, 1], -0.5),
                                                (4, 8, 16))
  for residual in flat_residuals:
    np.testing.assert_allclose(residual.numpy(), 0.0, atol=1e-6)
  assert np.abs(residuals[-1].numpy()).max() > 0.1  # Noise has detail.


@pytest.mark.parametrize("level_sizes,image_size,reason", [
    ((), 16, "at least one level"),
    ((1, 2, 4), 4, "coarsest level must be >= 2"),
    ((4, 16), 16, "double"),
    ((4, 8, 8), 8, "double"),
    ((4, 8), 16, "image_size=16"),
])
def test_validate_level_sizes_rejects(level_sizes, image_size, reason):
  with pytest.raises(ValueError, match=reason) as error:
    pyramid.validate_level_sizes(level_sizes, image_size)
  assert f"level_sizes={list(level_sizes)}" in str(error.value)


def test_blur_resampling_rejects_too_small_images():
  with pytest.raises(ValueError, match="even image size >= 4, got 2"):
    pyramid.blur_downsample(tf.zeros([1, 2, 2, 1]))
  with pytest.raises(ValueError, match="size >= 2, got 1"):
    pyramid.blur_upsample(tf.zeros([1, 1, 1, 1]))

if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
