"""Tests for tfgen.vis.grid: tiling image batches and writing PNG grids."""

import os
import sys

import numpy as np
import pytest
from PIL import Image

from tfgen.vis import grid


def _images(count, size=4, channels=3, seed=0):
  rng = np.random.default_rng(seed)
  return rng.uniform(0, 1, (count, size, size, channels)).astype(np.float32)


@pytest.mark.parametrize("count,columns,rows_cols", [
    (1, None, (1, 1)), (4, None, (2, 2)), (5, None, (2, 3)),
    (10, None, (3, 4)), (6, 6, (1, 6)), (6, 1, (6, 1)), (7, 2, (4, 2))])
def test_tile_shape(count, columns, rows_cols):
  rows, cols = rows_cols
  out = grid.tile(_images(count, size=4), columns=columns, padding=1)
  assert out.shape == (rows * 5 - 1, cols * 5 - 1, 3)
  assert out.dtype == np.float32


def test_tile_places_images_row_major_with_white_padding():
  images = _images(5, size=3, channels=1)
  out = grid.tile(images, columns=3, padding=2)
  assert out.shape == (2 * 5 - 2, 3 * 5 - 2, 1)
  for i in range(5):
    r, c = divmod(i, 3)
    np.testing.assert_array_equal(out[r * 5:r * 5 + 3, c * 5:c * 5 + 3],
                                  images[i])
  # Padding and the unused sixth cell are white (1.0).
  np.testing.assert_array_equal(out[3:5, :], 1.0)
  np.testing.assert_array_equal(out[:, 3:5], 1.0)
  np.testing.assert_array_equal(out[5:, 10:], 1.0)


def test_tile_without_padding_is_a_mosaic():
  images = _images(4, size=2)
  out = grid.tile(images, padding=0)
  assert out.shape == (4, 4, 3)
  np.testing.assert_array_equal(out[2:, :2], images[2])


def test_tile_rejects_non_batches():
  with pytest.raises(ValueError, match=r"\(4, 4, 3\)"):
    grid.tile(np.zeros([4, 4, 3]))


def test_to_uint8_rounds_clips_and_drops_grey_channel():
  image = np.array([[[-0.5], [0.0]], [[0.5], [1.5]]], np.float32)
  out = grid.to_uint8(image)
  assert out.dtype == np.uint8 and out.shape == (2, 2)
  np.testing.assert_array_equal(out, [[0, 0], [128, 255]])
  assert grid.to_uint8(np.zeros([2, 2, 3])).shape == (2, 2, 3)


@pytest.mark.parametrize("channels,mode", [(1, "L"), (3, "RGB")])
def test_save_png_writes_enlarged_grid(tmp_path, channels, mode):
  images = _images(4, size=8, channels=channels)
  path = os.path.join(tmp_path, "nested", "dir", "grid.png")
  assert grid.save_png(images, path) == path
  with Image.open(path) as picture:
    assert picture.format == "PNG"
    assert picture.mode == mode
    # The 17x17 grid is enlarged 16x (nearest) to reach min_side=256.
    assert picture.size == (17 * 16, 17 * 16)
    pixels = np.asarray(picture)
  expected = grid.to_uint8(grid.tile(images))
  np.testing.assert_array_equal(pixels[::16, ::16], expected)
  np.testing.assert_array_equal(pixels[15::16, 15::16], expected)


def test_save_png_keeps_large_grids_at_native_size(tmp_path):
  images = _images(6, size=8)
  path = grid.save_png(images, os.path.join(tmp_path, "grid.png"), columns=3,
                       min_side=10)
  with Image.open(path) as picture:
    assert picture.size == (3 * 9 - 1, 2 * 9 - 1)  # (width, height)
    np.testing.assert_array_equal(np.asarray(picture),
                                  grid.to_uint8(grid.tile(images, 3)))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
