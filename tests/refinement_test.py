"""Tests for tfgen.metrics.refinement: the conditional-refinement error."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfgen import data
from tfgen.data import pyramid
from tfgen.metrics import refinement
from tfgen.models import lapgan


class PerfectRefiner:
  """Refines exactly into the held-out images (they are remembered)."""
  level_sizes, channels, num_classes = (4, 8), 1, 0

  def __init__(self, images):
    self.images = images

  def refine(self, coarse, seed, class_id, first_index):
    del seed, class_id
    rows = np.arange(first_index, first_index + len(coarse)) // self.k
    return [coarse, tf.constant(self.images[rows])]


def _images(count=6):
  return data.arrays("digits", "test", 8, max_examples=count)


def test_perfect_refinements_have_zero_error_and_upsampling_does_not():
  images, _ = _images()
  model = PerfectRefiner(images)
  model.k = 3
  result = refinement.refinement_error(model, images, num_refinements=3,
                                       batch_size=4)
  assert result["num_images"] == 6 and result["num_refinements"] == 3
  assert result["min_l2"] < 1e-6 and result["mean_l2"] < 1e-6
  assert result["upsampled_coarse_l2"] > 0.1


def test_more_refinements_never_raise_the_minimum_error():
  images, _ = _images(4)
  model = lapgan.LAPGAN(level_sizes=(4, 8), noise_dim=4, generator_width=0.125,
                        discriminator_width=0.125)
  few = refinement.refinement_error(model, images, num_refinements=1, seed=2)
  many = refinement.refinement_error(model, images, num_refinements=6, seed=2)
  assert many["min_l2"] <= few["min_l2"] + 1e-6
  assert many["min_l2"] <= many["mean_l2"]
  # Row i*K + k is the same refinement whatever the batch size.
  again = refinement.refinement_error(model, images, num_refinements=6,
                                      seed=2, batch_size=1)
  np.testing.assert_allclose(again["min_l2"], many["min_l2"], atol=1e-6)


def test_conditional_models_use_the_labels():
  images, labels = _images(4)
  model = lapgan.LAPGAN(level_sizes=(4, 8), num_classes=10, noise_dim=4,
                        generator_width=0.125, discriminator_width=0.125)
  with pytest.raises(ValueError, match="labels are needed"):
    refinement.refinement_error(model, images, 2)
  result = refinement.refinement_error(model, images, 2, labels=labels)
  assert np.isfinite(result["min_l2"])


@pytest.mark.parametrize("kwargs,message", [
    (dict(num_refinements=0), "num_refinements=0"),
    (dict(images=np.zeros([2, 16, 16, 1], np.float32)), r"\[N, 8, 8, 1\]"),
])
def test_bad_arguments_are_rejected(kwargs, message):
  images, _ = _images(2)
  model = PerfectRefiner(images)
  arguments = dict(images=images, num_refinements=2)
  arguments.update(kwargs)
  with pytest.raises(ValueError, match=message):
    refinement.refinement_error(model, **arguments)


def test_upsampled_coarse_reference_is_the_residual_free_reconstruction():
  images, _ = _images(2)
  coarse, _ = pyramid.laplacian_pyramid(tf.constant(images), (4, 8))
  expected = pyramid.blur_upsample(coarse).numpy()
  distance = np.sqrt(np.sum(((expected - images) / 2)**2, axis=(1, 2, 3)))
  model = PerfectRefiner(images)
  model.k = 1
  result = refinement.refinement_error(model, images, 1)
  np.testing.assert_allclose(result["upsampled_coarse_l2"], distance.mean(),
                             rtol=1e-5)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
