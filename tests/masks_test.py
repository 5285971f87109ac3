"""Tests for tfgen.data.masks: achieved fractions, shapes, determinism, errors."""

import sys

import numpy as np
import pytest

from tfgen.data import masks


@pytest.mark.parametrize("kind", masks.MASK_KINDS)
@pytest.mark.parametrize("size", [16, 64])
def test_default_fractions_are_met_per_image_and_on_average(kind, size):
  out = masks.make_masks(kind, 50, size, seed=0)
  assert out.shape == (50, size, size, 1) and out.dtype == np.float32
  assert set(np.unique(out)) <= {0.0, 1.0}
  fractions = masks.missing_fractions(out)
  target = masks.DEFAULT_FRACTIONS[kind]
  # Doodles stop at the first brush stamp that reaches the target: the
  # overshoot is below one stamp (5 pixels at 16x16, 49 at 64x64).
  stamp = len(masks._brush_offsets(masks.brush_radius(size)))  # pylint: disable=protected-access
  per_image_tolerance = stamp / size**2 if kind == "doodle" else 1 / size**2
  assert np.all(fractions >= target - 1 / size**2)
  assert np.all(fractions <= target + per_image_tolerance)
  assert abs(fractions.mean() - target) <= per_image_tolerance


@pytest.mark.parametrize("kind, fraction", [
    ("square", 0.1), ("square", 0.5), ("doodle", 0.1), ("doodle", 0.5),
    ("pepper_salt", 0.2), ("pepper_salt", 0.9)])
def test_requested_fractions_are_met(kind, fraction):
  fractions = masks.missing_fractions(
      masks.make_masks(kind, 20, 32, seed=3, fraction=fraction))
  # The square's side is rounded to whole pixels: within one row/column.
  tolerance = 2 * 32 / 32**2 if kind == "square" else 13 / 32**2
  assert np.all(np.abs(fractions - fraction) <= tolerance), fractions


def test_square_is_one_contiguous_square_of_half_the_side():
  out = masks.square_masks(30, 16, seed=1)[..., 0]
  tops_and_lefts = set()
  for mask in out:
    rows, cols = np.nonzero(mask)
    assert rows.max() - rows.min() + 1 == 8 and cols.max() - cols.min() + 1 == 8
    assert mask.sum() == 64  # a full 8x8 block, no holes
    tops_and_lefts.add((rows.min(), cols.min()))
  assert len(tops_and_lefts) > 10  # random positions, not one fixed place


def test_doodle_strokes_are_connected_blobs_not_scattered_pixels():
  out = masks.doodle_masks(20, 32, seed=2)[..., 0].astype(bool)
  # A hidden pixel of a stroke has hidden 4-neighbours; random pixels at 25%
  # would have on average one.
  padded = np.pad(out, ((0, 0), (1, 1), (1, 1)))
  neighbours = (padded[:, :-2, 1:-1].astype(int) + padded[:, 2:, 1:-1] +
                padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:])
  assert neighbours[out].mean() > 2.5


def test_pepper_salt_hides_exactly_the_rounded_count_at_random():
  out = masks.pepper_salt_masks(10, 16, seed=4, fraction=0.6)
  assert np.all(out.reshape(10, -1).sum(axis=1) == round(0.6 * 256))
  assert not np.array_equal(out[0], out[1])


@pytest.mark.parametrize("kind", masks.MASK_KINDS)
def test_same_seed_gives_same_masks_other_seed_other_masks(kind):
  first = masks.make_masks(kind, 8, 16, seed=7)
  np.testing.assert_array_equal(first, masks.make_masks(kind, 8, 16, seed=7))
  assert not np.array_equal(first, masks.make_masks(kind, 8, 16, seed=8))


@pytest.mark.parametrize("call, message", [
    (lambda: masks.make_masks("circle", 2, 16, 0),
     "mask='circle' is not a known mask; use one of square, doodle, "
     "pepper_salt"),
    (lambda: masks.make_masks("square", 2, 16, 0, fraction=0.0),
     "fraction=0.0 (the share of missing pixels of the 'square' mask) must "
     "be in (0, 1), e.g. 0.25"),
    (lambda: masks.make_masks("doodle", 2, 16, 0, fraction=1.0),
     "fraction=1.0"),
    (lambda: masks.make_masks("pepper_salt", 2, 16, 0, fraction=-0.5),
     "fraction=-0.5"),
    (lambda: masks.make_masks("pepper_salt", 2, 16, 0, fraction="a lot"),
     "fraction='a lot'"),
    (lambda: masks.make_masks("square", 0, 16, 0), "num=0 must be a positive"),
    (lambda: masks.make_masks("square", 2, -16, 0),
     "size=-16 must be a positive"),
    (lambda: masks.doodle_masks(2, 16, 0, radius=0), "radius=0.0 must be > 0"),
])
def test_bad_arguments_name_the_argument_and_value(call, message):
  with pytest.raises(ValueError) as error:
    call()
  assert message in str(error.value)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
