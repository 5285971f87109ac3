"""Tests for tfgen.metrics.inpainting: hand-computed errors and PSNR, fill."""

import math
import sys

import numpy as np
import pytest

from tfgen import models
from tfgen.metrics import inpainting


def _pair():
  """Two 2x2 grey images; image 0 misses 2 pixels, image 1 misses 1."""
  original = np.zeros((2, 2, 2, 1), np.float32)
  filled = original.copy()
  masks = np.zeros((2, 2, 2, 1), np.float32)
  masks[0, 0, 0] = masks[0, 1, 1] = 1
  filled[0, 0, 0], filled[0, 1, 1] = 0.5, 0.1   # errors 0.5 and 0.1
  masks[1, 0, 1] = 1
  filled[1, 0, 1] = 0.2                          # error 0.2
  filled[1, 1, 0] = 0.9                          # observed: not scored
  return original, filled, masks


def test_mean_absolute_error_averages_missing_pixels_per_image_then_images():
  original, filled, masks = _pair()
  # image 0: (0.5 + 0.1) / 2 = 0.3; image 1: 0.2; mean 0.25.
  assert inpainting.masked_mean_absolute_error(
      original, filled, masks) == pytest.approx(0.25)


def test_psnr_over_missing_pixels_and_whole_image_by_hand():
  original, filled, masks = _pair()
  # Missing pixels: image 0 MSE (0.25 + 0.01) / 2 = 0.13, image 1 0.04.
  expected = (10 * math.log10(1 / 0.13) + 10 * math.log10(1 / 0.04)) / 2
  assert inpainting.psnr(original, filled, masks) == pytest.approx(expected)
  # Whole image: image 0 MSE 0.26 / 4, image 1 (0.04 + 0.81) / 4.
  expected = (10 * math.log10(4 / 0.26) + 10 * math.log10(4 / 0.85)) / 2
  assert inpainting.psnr(original, filled) == pytest.approx(expected)


def test_perfect_fill_scores_zero_error_and_a_finite_psnr():
  original, _, masks = _pair()
  assert inpainting.masked_mean_absolute_error(original, original, masks) == 0
  assert inpainting.psnr(original, original, masks) == pytest.approx(100.0)


def test_per_channel_masks_and_evaluate_dict():
  rng = np.random.default_rng(0)
  original = rng.uniform(0, 1, (3, 4, 4, 3))
  filled = rng.uniform(0, 1, (3, 4, 4, 3))
  masks = np.zeros((3, 4, 4, 1))
  masks[:, :2] = 1
  per_channel = np.broadcast_to(masks, original.shape)
  result = inpainting.evaluate(original, filled, masks)
  expected = np.abs(original - filled)[:, :2].mean()
  assert result["mae_missing"] == pytest.approx(expected)
  assert result["psnr_missing"] == pytest.approx(
      inpainting.psnr(original, filled, per_channel))
  assert result["missing_fraction"] == pytest.approx(0.5)


@pytest.mark.parametrize("args, message", [
    ((np.full((1, 2, 2, 1), 2.0), np.zeros((1, 2, 2, 1)), np.ones((1, 2, 2, 1))),
     "original must be in [0, 1]"),
    ((np.zeros((1, 2, 2, 1)), np.zeros((1, 3, 3, 1)), np.ones((1, 2, 2, 1))),
     "must have the same shape"),
    ((np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 2, 1)), np.ones((1, 2, 2, 2))),
     "masks must be [N, H, W, 1 or C]"),
    ((np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 2, 1)),
      np.full((1, 2, 2, 1), 0.5)), "only 0 (observed) and 1 (missing)"),
    ((np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 2, 1))),
     "masks of images [0] have no missing pixel"),
    ((np.zeros((2, 2, 1)), np.zeros((2, 2, 1)), np.ones((2, 2, 1))),
     "original must be [N, H, W, C]"),
])
def test_bad_inputs_are_named(args, message):
  with pytest.raises(ValueError) as error:
    inpainting.masked_mean_absolute_error(*args)
  assert message in str(error.value)


def test_diffusion_fill_keeps_observed_pixels_and_interpolates_linearly():
  # A horizontal ramp with its middle columns missing: the harmonic fill of
  # a linear function is the function itself.
  ramp = np.tile(np.linspace(0, 1, 8, dtype=np.float32),
                 (8, 1))[None, :, :, None]
  masks = np.zeros_like(ramp)
  masks[:, :, 2:6] = 1
  filled = inpainting.diffusion_fill(ramp, masks, num_iterations=500)
  np.testing.assert_array_equal(filled[masks == 0], ramp[masks == 0])
  np.testing.assert_allclose(filled, ramp, atol=1e-3)
  # Fewer sweeps leave it closer to the flat start: not converged.
  rough = inpainting.diffusion_fill(ramp, masks, num_iterations=1)
  assert np.abs(rough - ramp).max() > 0.05


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_iterations=0), "num_iterations=0 must be a positive integer"),
    (dict(masks=np.ones((1, 4, 4, 1))), "masks hide every pixel"),
])
def test_diffusion_fill_rejects_bad_input(kwargs, message):
  args = dict(images01=np.zeros((1, 4, 4, 1)), masks=np.zeros((1, 4, 4, 1)))
  args.update(kwargs)
  with pytest.raises(ValueError) as error:
    inpainting.diffusion_fill(**args)
  assert message in str(error.value)


def test_inpaint_keeps_observed_pixels_and_does_not_depend_on_batching():
  model = models.MultigridEBM(grid_sizes=(1, 2, 4), channels=1,
                              num_langevin_steps=2, net_width=0.125,
                              start_bank_size=4)
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (3, 4, 4, 1)).astype(np.float32)
  masks = np.zeros((3, 4, 4, 1), np.float32)
  masks[:, 1:3, 1:3] = 1
  whole = inpainting.inpaint(model, images, masks, seed=5, batch_size=3)
  split = inpainting.inpaint(model, images, masks, seed=5, batch_size=2)
  np.testing.assert_allclose(whole, split, atol=1e-5)
  observed = masks == 0
  np.testing.assert_array_equal(whole[observed], images[observed])
  assert np.abs(whole[~observed] - images[~observed]).max() > 1e-3
  assert np.all(np.abs(whole) <= 1.0)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
