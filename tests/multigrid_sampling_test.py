"""Behaviour of tfgen.models.multigrid_sampling: start bank, classes, steps."""

import functools
import sys

import numpy as np
import pytest
import tensorflow as tf

import support


tiny_model = functools.partial(support.tiny_multigrid, start_bank_size=30)


def class_images(num_classes=3, per_class=10):
  """Images whose 1x1 average names their class: class k is flat 0.3*k-0.3."""
  labels = np.repeat(np.arange(num_classes), per_class).astype(np.int32)
  values = 0.3 * labels - 0.3
  images = np.broadcast_to(values[:, None, None, None],
                           (len(labels), 8, 8, 1)).astype(np.float32)
  return images, labels


def test_class_id_starts_chains_from_images_of_that_class():
  model = tiny_model(num_classes=3)
  images, labels = class_images()
  model.adapt(images, labels=labels)
  for class_id in range(3):
    starts = model.sample(6, seed=class_id, class_id=class_id,
                          )[0].numpy().reshape(-1)
    np.testing.assert_allclose(starts, 0.3 * class_id - 0.3, atol=1e-6)


def test_without_class_id_the_start_images_label_is_sampled():
  model = tiny_model(num_classes=3)
  images, labels = class_images()
  model.adapt(images, labels=labels)
  classes = model.sample_classes(40, seed=5)
  starts = model.sample(40, seed=5)[0].numpy().reshape(-1)
  np.testing.assert_allclose(starts, 0.3 * classes - 0.3, atol=1e-6)
  assert len(set(classes.tolist())) == 3
  np.testing.assert_array_equal(model.sample_classes(4, seed=5, class_id=2),
                                [2, 2, 2, 2])


def test_class_conditional_sampling_is_seeded_per_example():
  model = tiny_model(num_classes=3)
  images, labels = class_images()
  model.adapt(images, labels=labels)
  whole = model.sample(4, seed=9, class_id=1)[-1].numpy()
  rest = model.sample(2, seed=9, first_index=2, class_id=1)[-1].numpy()
  np.testing.assert_allclose(whole[2:], rest, atol=1e-6)


@pytest.mark.parametrize("class_id, match", [
    (3, r"class_id=3 must be an integer in \[0, 3\)"),
    (-1, "class_id=-1"), (1.5, "class_id=1.5"), (True, "class_id=True")])
def test_bad_class_id_is_refused_with_its_value(class_id, match):
  model = tiny_model(num_classes=3)
  model.adapt(*class_images())
  with pytest.raises(ValueError, match=match):
    model.sample(2, seed=0, class_id=class_id)


@pytest.mark.parametrize("steps, expected", [(None, (2, 2)), (5, (5, 5)),
                                             ([0, 3], (0, 3))])
def test_sampling_steps_default_to_the_models_and_expand_per_grid(steps,
                                                                  expected):
  assert tiny_model().sampling_steps(steps) == expected


@pytest.mark.parametrize("steps", [[1, 2, 3], [-1], [1.5], [True]])
def test_bad_sampling_steps_name_the_value_and_the_grids(steps):
  with pytest.raises(ValueError, match=r"num_langevin_steps=.* must be one "
                     r"int >= 0 or one per model grid \(2, grids \[4, 8\]\)"):
    tiny_model().sampling_steps(steps)


def test_class_missing_from_the_start_bank_is_refused_naming_the_classes():
  model = tiny_model(num_classes=3)
  images, labels = class_images()
  model.adapt(images[labels != 2], labels=labels[labels != 2])
  with pytest.raises(ValueError, match=r"class_id=2 has no start image in "
                     r"this model's start bank \(its classes: \[0, 1\]\)"):
    model.sample(2, seed=0, class_id=2)
  assert model.sample(2, seed=0, class_id=1)[-1].shape == (2, 8, 8, 1)


def test_class_id_on_an_unconditional_model_is_refused():
  model = tiny_model()
  model.adapt(class_images()[0])
  with pytest.raises(ValueError, match="unconditional"):
    model.sample(2, seed=0, class_id=0)
  assert model.sample_classes(3, seed=0) is None


def test_conditional_adapt_needs_labels_in_range():
  model = tiny_model(num_classes=3)
  images, labels = class_images()
  with pytest.raises(ValueError, match="labels"):
    model.adapt(images)
  with pytest.raises(ValueError, match="labels must be in"):
    model.adapt(images, labels=labels + 1)


def test_num_sampling_steps_is_the_default_of_sampling_only():
  model = tiny_model(num_langevin_steps=1, num_sampling_steps=(0, 0),
                     noise_scale=0.0)
  model.adapt(class_images()[0])
  grids = model.sample(3, seed=1)
  # No sampling steps: the finest image is the up-sampled start.
  np.testing.assert_allclose(grids[-1].numpy().std(axis=(1, 2, 3)), 0,
                             atol=1e-6)
  moved = model.sample_from_seeds(tf.constant([1, 2]), num_langevin_steps=3)
  assert moved[-1].numpy().std(axis=(1, 2, 3)).max() > 1e-4
  assert model.get_config()["num_sampling_steps"] == [0, 0]


def test_set_step_size_changes_what_sample_computes():
  model = tiny_model(noise_scale=0.0)
  model.adapt(class_images()[0])
  before = model.sample(2, seed=1)[-1].numpy()
  model.set_step_size((0.05, 0.05))
  after = model.sample(2, seed=1)[-1].numpy()
  assert model.step_size == (0.05, 0.05)
  assert np.abs(before - after).max() > 1e-4


def test_hmc_inpainting_keeps_observed_pixels():
  model = tiny_model(sampler="hmc", num_leapfrog_steps=2)
  images = tf.constant(np.random.default_rng(0).uniform(
      -1, 1, (2, 8, 8, 1)).astype(np.float32))
  masks = np.zeros((2, 8, 8, 1), np.float32)
  masks[:, :4] = 1.0
  filled = model.inpaint_from_seeds(images, masks, tf.constant([1, 2]))[-1]
  np.testing.assert_allclose(filled.numpy()[:, 4:], images.numpy()[:, 4:],
                             atol=1e-6)
  assert np.abs(filled.numpy()[:, :4] - images.numpy()[:, :4]).max() > 1e-3


def unmoved_inpainting(seed):
  """(images, masks, per-grid results) of 0-step inpainting of two random
  8x8 images with 60% of pixels missing at random: the chains' starts."""
  rng = np.random.default_rng(seed)
  images = rng.uniform(-1, 1, (2, 8, 8, 1)).astype(np.float32)
  masks = (rng.uniform(size=(2, 8, 8, 1)) < 0.6).astype(np.float32)
  out = tiny_model().inpaint_from_seeds(images, masks, tf.constant([1, 2]),
                                        num_langevin_steps=0)
  return images, masks, out


def test_inpainting_starts_partly_observed_blocks_at_their_observed_mean():
  images, masks, out = unmoved_inpainting(1)
  observed = 1 - masks
  blocks = lambda x: x.reshape(2, 4, 2, 4, 2, 1).sum(axis=(2, 4))
  counts = blocks(observed)
  means = blocks(images * observed) / np.maximum(counts, 1)
  seen = counts > 0
  assert seen.mean() > 0.8 and (counts == 4).mean() < 0.2  # Mostly partial.
  np.testing.assert_allclose(out[1].numpy()[seen], means[seen], atol=1e-5)
  final = out[-1].numpy()
  np.testing.assert_allclose(final[observed > 0], images[observed > 0],
                             atol=1e-6)


def test_inpainting_starts_missing_pixels_at_their_observed_neighbours_mean():
  images, masks, out = unmoved_inpainting(2)
  final = out[-1].numpy()
  observed = np.pad(1 - masks, [(0, 0), (1, 1), (1, 1), (0, 0)])
  padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)]) * observed
  window = lambda x: sum(x[:, dy:dy + 8, dx:dx + 8]
                         for dy in range(3) for dx in range(3))
  counts = window(observed)
  near = (masks > 0) & (counts > 0)
  assert near.mean() > 0.4
  np.testing.assert_allclose(final[near],
                             (window(padded) / np.maximum(counts, 1))[near],
                             atol=1e-5)


def test_num_inpainting_steps_is_the_default_of_inpainting_only():
  model = tiny_model(num_inpainting_steps=(0, 0), noise_scale=0.0)
  model.adapt(class_images()[0])
  images = np.random.default_rng(3).uniform(-1, 1, (2, 8, 8, 1)).astype(
      np.float32)
  masks = np.zeros((2, 8, 8, 1), np.float32)
  masks[:, :, :4] = 1.0
  seeds = tf.constant([1, 2])
  default = model.inpaint_from_seeds(images, masks, seeds)[-1].numpy()
  unmoved = model.inpaint_from_seeds(images, masks, seeds,
                                     num_langevin_steps=0)[-1].numpy()
  np.testing.assert_allclose(default, unmoved, atol=1e-6)
  moved = model.inpaint_from_seeds(images, masks, seeds,
                                   num_langevin_steps=3)[-1].numpy()
  assert np.abs(moved - default).max() > 1e-4
  assert model.inpaint_options() == {"num_langevin_steps": [0, 0]}
  assert model.sampling_steps() == model.num_langevin_steps  # Unchanged.
  assert model.get_config()["num_inpainting_steps"] == [0, 0]


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
