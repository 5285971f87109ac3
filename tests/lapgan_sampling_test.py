"""Tests for tfgen.models.lapgan_sampling: sample, refine, classes.

Tiny untrained LAPGANs (levels 4 -> 8, narrow nets): what is checked is the
seed and class plumbing, not image quality.
"""

import sys

import numpy as np
import pytest
import tensorflow as tf

import support

_images = support.digits_batch
_model = support.tiny_lapgan


def test_sample_is_one_image_per_level_determined_by_its_seed():
  model = _model()
  levels = model.sample(6, seed=3)
  assert [tuple(x.shape) for x in levels] == [(6, 4, 4, 1), (6, 8, 8, 1)]
  for x in levels:
    assert -1.0 <= float(tf.reduce_min(x)) <= float(tf.reduce_max(x)) <= 1.0
  again = model.sample(6, seed=3)
  np.testing.assert_array_equal(levels[-1].numpy(), again[-1].numpy())
  tail = model.sample(2, seed=3, first_index=4)  # Chunking changes nothing.
  np.testing.assert_allclose(tail[-1].numpy(), levels[-1].numpy()[4:],
                             atol=1e-6)
  other = model.sample(6, seed=4)[-1].numpy()
  assert np.abs(other - levels[-1].numpy()).max() > 1e-3


def test_refine_gives_different_fine_images_of_one_coarse_image():
  model = _model()
  coarse = tf.repeat(model.sample(1, seed=0)[0], 5, axis=0)
  refined = model.refine(coarse, seed=1)
  np.testing.assert_array_equal(refined[0].numpy(), coarse.numpy())
  fine = refined[-1].numpy()
  assert fine.shape == (5, 8, 8, 1)
  assert np.std(fine, axis=0).mean() > 1e-4
  np.testing.assert_array_equal(fine, model.refine(coarse, seed=1)[-1].numpy())


def test_refine_rejects_images_that_are_not_a_coarser_level():
  model = _model()
  with pytest.raises(ValueError, match=r"coarse_images has shape .* \[4\]"):
    model.refine(tf.zeros([2, 8, 8, 1]))
  with pytest.raises(ValueError, match="coarse_images has shape"):
    model.refine(tf.zeros([2, 4, 4, 3]))


def test_conditional_model_samples_the_requested_class():
  model = _model(num_classes=3)
  images, labels = _images()
  metrics = model.train_step((images, labels % 3))
  assert np.isfinite(float(metrics["g_loss/level8"]))
  first = model.sample(4, seed=1, class_id=0)[-1].numpy()
  second = model.sample(4, seed=1, class_id=2)[-1].numpy()
  assert np.abs(first - second).max() > 1e-4  # The class changes the image.
  mixed = model.sample(4, seed=1, class_id=[0, 0, 2, 2])[-1].numpy()
  np.testing.assert_allclose(mixed[:2], first[:2], atol=1e-6)
  np.testing.assert_allclose(mixed[2:], second[2:], atol=1e-6)
  with pytest.raises(ValueError, match=r"class_id=\[3\] must be integers in "
                     r"\[0, 3\)"):
    model.sample(1, class_id=[3])
  with pytest.raises(ValueError, match="class_id has 2 entries"):
    model.sample(3, class_id=[0, 1])
  drawn = model.sample_classes(50, seed=5)
  assert drawn.shape == (50,) and set(drawn) == {0, 1, 2}
  np.testing.assert_array_equal(model.sample_classes(10, seed=5,
                                                     first_index=40),
                                drawn[40:])
  np.testing.assert_array_equal(model.sample_classes(2, class_id=1), [1, 1])


def test_unconditional_model_refuses_a_class_and_bad_counts():
  model = _model()
  with pytest.raises(ValueError, match="class_id=1 needs a class-conditional "
                     "model"):
    model.sample(2, class_id=1)
  assert model.sample_classes(3, seed=0) is None
  with pytest.raises(ValueError, match="num_samples=0"):
    model.sample(0)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
