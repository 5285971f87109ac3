"""Behaviour of tfgen.models.MultigridEBM on tiny shapes."""

import functools
import sys
import numpy as np
import pytest
import tensorflow as tf

import support
from tfgen import data
from tfgen.models import MultigridEBM


tiny_model = functools.partial(support.tiny_multigrid, num_langevin_steps=3)


def digits(image_size=8, count=32):
  images, _ = data.arrays("digits", "train", image_size, max_examples=count)
  return images


def test_sample_returns_every_grid_with_its_shape_and_range():
  model = tiny_model()
  model.adapt(digits())
  grids = model.sample(5, seed=1)
  assert [g.shape.as_list() for g in grids] == [
      [5, 1, 1, 1], [5, 4, 4, 1], [5, 8, 8, 1]]
  for images in grids:
    assert np.all(np.abs(images.numpy()) <= 1.0)


def test_same_seed_gives_identical_samples_and_other_seeds_differ():
  model = tiny_model()
  model.adapt(digits())
  first = model.sample(4, seed=7)[-1].numpy()
  again = model.sample(4, seed=7)[-1].numpy()
  other = model.sample(4, seed=8)[-1].numpy()
  np.testing.assert_array_equal(first, again)
  assert np.abs(first - other).max() > 1e-3


def test_sampling_starts_from_training_images_one_by_one_averages():
  model = tiny_model()
  images = digits(count=16)
  model.adapt(images)
  starts = model.start_images(50, seed=tf.constant([0, 1])).numpy()
  means = images.mean(axis=(1, 2, 3))
  for value in starts.reshape(-1):
    assert np.min(np.abs(means - value)) < 1e-5


def test_sampling_before_adapt_or_training_is_refused():
  model = tiny_model()
  with pytest.raises(RuntimeError, match="adapt"):
    model.sample(2, seed=0)


def test_log_prob_is_score_minus_gaussian_reference():
  model = tiny_model(reference_stddev=0.5)
  x = tf.random.stateless_uniform([3, 8, 8, 1], seed=[1, 2], minval=-1,
                                  maxval=1)
  expected = (model.score(x, 1) -
              tf.reduce_sum(x**2, axis=[1, 2, 3]) / (2 * 0.5**2))
  np.testing.assert_allclose(model.log_prob(x, 1), expected, rtol=1e-6)


def test_noise_free_chains_are_deterministic_given_the_start():
  model = tiny_model(noise_scale=0.0)
  model.adapt(digits())
  start = model.start_images(3, seed=tf.constant([0, 0]))
  a = model.sample(3, seed=1, start_images=start)[-1]
  b = model.sample(3, seed=2, start_images=start)[-1]
  np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("overrides, match", [
    (dict(grid_sizes=(1, 8, 4)), "increasing"),
    (dict(grid_sizes=(1, 3, 8)), "divide"),
    (dict(step_size=0.0), "step_size"),
    (dict(num_langevin_steps=-1), "num_langevin_steps"),
    (dict(noise_scale=-1.0), "noise_scale"),
    (dict(step_size=(0.1, 0.2, 0.3)), "step_size"),
])
def test_bad_settings_are_rejected_with_the_setting_named(overrides, match):
  with pytest.raises(ValueError, match=match):
    tiny_model(**overrides)


def test_get_config_rebuilds_an_equal_model():
  model = tiny_model(step_size=(0.2, 0.1), noise_scale=(1.0, 0.5))
  clone = MultigridEBM(**model.get_config())
  assert clone.get_config() == model.get_config()


def test_each_sample_depends_only_on_its_own_seed():
  model = tiny_model()
  model.adapt(digits())
  batch = model.sample_from_seeds(tf.constant([5, 6, 7], tf.int64))[-1]
  alone = model.sample_from_seeds(tf.constant([6], tf.int64))[-1]
  np.testing.assert_allclose(alone[0], batch[1], atol=1e-6)
  assert np.abs(batch[0] - batch[2]).max() > 1e-3


def test_chunked_sampling_equals_one_call():
  model = tiny_model()
  model.adapt(digits())
  whole = model.sample(5, seed=9)[-1].numpy()
  first = model.sample(2, seed=9)[-1].numpy()
  rest = model.sample(3, seed=9, first_index=2)[-1].numpy()
  np.testing.assert_allclose(np.concatenate([first, rest]), whole, atol=1e-6)


def test_inpainting_keeps_observed_pixels_and_fills_missing_ones():
  model = tiny_model()
  images = tf.constant(digits()[:3])
  masks = np.zeros((3, 8, 8, 1), np.float32)
  masks[:, 2:6, 2:6] = 1.0  # A missing square in the middle.
  filled = model.inpaint_from_seeds(images, masks, tf.constant([1, 2, 3]))
  assert [g.shape[1] for g in filled] == [1, 4, 8]
  final = filled[-1].numpy()
  observed = masks == 0
  np.testing.assert_allclose(final[np.broadcast_to(observed, final.shape)],
                             images.numpy()[observed.repeat(1, -1)],
                             atol=1e-6)
  assert np.abs(final - images.numpy())[:, 2:6, 2:6].max() > 1e-3


# ---- methods: single grid, CD, persistent CD; HMC; conditioning ----------
@pytest.mark.parametrize("method", ["single_grid", "cd", "persistent_cd"])
def test_baseline_methods_need_one_model_grid(method):
  with pytest.raises(ValueError, match="grid_sizes"):
    tiny_model(method=method)
  assert len(tiny_model(method=method, grid_sizes=(1, 8)).energy_nets) == 1


def test_unknown_method_and_sampler_are_rejected():
  with pytest.raises(ValueError, match="method='mcmc'"):
    tiny_model(method="mcmc")
  with pytest.raises(ValueError, match="sampler='gibbs'"):
    tiny_model(sampler="gibbs")


def test_synthesize_sampler_override_changes_the_chain():
  model = tiny_model(noise_scale=0.0, num_langevin_steps=3)
  starts = tf.constant(digits(count=4)).numpy().mean(
      axis=(1, 2, 3), keepdims=True)
  seed = tf.constant([3, 4])
  langevin = model.synthesize(starts, seed)[-1]
  hmc = model.synthesize(starts, seed, sampler="hmc")[-1]
  assert np.abs(langevin.numpy() - hmc.numpy()).max() > 1e-3
  with pytest.raises(ValueError, match="sampler"):
    model.synthesize(starts, seed, sampler="nuts")


def test_conditional_score_is_the_labels_output():
  model = tiny_model(num_classes=3)
  images = tf.constant(digits(count=4))
  outputs = model.energy_nets[0](pyramid_down(images, 4)).numpy()
  labels = np.array([2, 0, 1, 2])
  np.testing.assert_allclose(model.score(pyramid_down(images, 4), 0, labels),
                             outputs[np.arange(4), labels], atol=1e-6)
  with pytest.raises(ValueError, match="labels"):
    model.score(pyramid_down(images, 4), 0)


def pyramid_down(images, size):
  return data.downsample(images, size)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
