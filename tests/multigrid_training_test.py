"""Behaviour of tfgen.models.multigrid_training: every method's train step."""

import functools
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import support
from tfgen import data


tiny_model = functools.partial(support.tiny_multigrid, num_langevin_steps=3)


def digits(image_size=8, count=32):
  images, _ = data.arrays("digits", "train", image_size, max_examples=count)
  return images


def _compile(model):
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  model.optimizer.build(model.trainable_variables)
  return model


def test_train_step_reports_per_grid_metrics_and_updates_every_net():
  model = tiny_model()
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  images = digits()
  model.adapt(images)
  before = [net.get_weights()[0].copy() for net in model.energy_nets]
  metrics = model.train_step((tf.constant(images[:8]), None))
  for grid in (4, 8):
    for name in ("loss", "score_observed", "score_synthesized", "grad_l1"):
      assert np.isfinite(float(metrics[f"{name}/grid{grid}"]))
    np.testing.assert_allclose(
        float(metrics[f"loss/grid{grid}"]),
        float(metrics[f"score_synthesized/grid{grid}"]) -
        float(metrics[f"score_observed/grid{grid}"]), rtol=1e-5, atol=1e-5)
  for net, old in zip(model.energy_nets, before):
    assert np.abs(net.get_weights()[0] - old).max() > 0


def test_synthesised_images_carry_no_gradient_into_the_loss():
  model = tiny_model()
  images = tf.constant(digits()[:4])
  grads, _, _ = model.compute_gradients(images, tf.constant([1, 2]))
  # Reference: the same loss with synthesised images held as constants.
  observed = data.gaussian_pyramid(images, model.grid_sizes)
  synthesized = model.synthesize(observed[0], tf.constant([1, 2]))
  net = model.energy_nets[-1]
  with tf.GradientTape() as tape:
    loss = (tf.reduce_mean(model.score(synthesized[-1], 1)) -
            tf.reduce_mean(model.score(observed[-1], 1)))
  expected = tape.gradient(loss, net.trainable_variables)
  for got, want in zip(grads[-1], expected):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_fit_adapts_trains_and_then_samples():
  model = tiny_model()
  model.compile()
  dataset = data.load("digits", "train", 8, batch_size=8)
  history = model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)
  assert "loss/grid8" in history.history
  assert model.is_adapted
  assert model.sample(2, seed=0)[-1].shape == (2, 8, 8, 1)


def test_cd_training_chains_start_at_the_observed_images():
  images = tf.constant(digits()[:4])
  seed = tf.constant([1, 2])
  cd = tiny_model(method="cd", grid_sizes=(1, 8), num_langevin_steps=1,
                  step_size=0.01, noise_scale=0.0)
  _, _, synthesized = cd.compute_gradients(images, seed)
  # One tiny noise-free step moves the chains by step**2/2 * grad only.
  assert np.abs(synthesized[-1].numpy() - images.numpy()).max() < 0.01
  single = tiny_model(method="single_grid", grid_sizes=(1, 8),
                      num_langevin_steps=1, step_size=0.01, noise_scale=0.0)
  _, _, synthesized = single.compute_gradients(images, seed)
  # Single grid starts from the flat 1x1 average instead.
  assert np.abs(synthesized[-1].numpy() - images.numpy()).max() > 0.3


def test_persistent_cd_carries_its_chains_across_steps_in_bank_order():
  model = _compile(tiny_model(method="persistent_cd", grid_sizes=(1, 8),
                              persistent_bank_size=6, num_langevin_steps=2))
  images = digits(count=8)
  model.adapt(images)
  before = model.persistent_chains.numpy().copy()
  # Chains start from the training images' up-sampled 1x1 averages.
  np.testing.assert_allclose(before[:, 0, 0, 0], images[:6].mean(axis=(1, 2, 3)),
                             atol=1e-5)
  model.train_step(tf.constant(images[:4]))
  after_one = model.persistent_chains.numpy().copy()
  moved = np.abs(after_one - before).reshape(6, -1).max(axis=1) > 1e-4
  np.testing.assert_array_equal(moved, [True] * 4 + [False] * 2)
  model.train_step(tf.constant(images[4:8]))  # Rows 4, 5, 0, 1 (cyclic).
  after_two = model.persistent_chains.numpy()
  moved = np.abs(after_two - after_one).reshape(6, -1).max(axis=1) > 1e-4
  np.testing.assert_array_equal(moved, [True, True, False, False, True, True])


def test_persistent_chains_are_saved_in_checkpoints(tmp_path):
  model = _compile(tiny_model(method="persistent_cd", grid_sizes=(1, 8),
                              persistent_bank_size=4))
  model.adapt(digits(count=8))
  model.train_step(tf.constant(digits(count=4)))
  path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
  clone = _compile(tiny_model(method="persistent_cd", grid_sizes=(1, 8),
                              persistent_bank_size=4))
  tf.train.Checkpoint(model=clone).read(path).assert_consumed()
  np.testing.assert_array_equal(clone.persistent_chains.numpy(),
                                model.persistent_chains.numpy())


def test_hmc_training_and_sampling_run_and_stay_in_range():
  model = _compile(tiny_model(sampler="hmc", num_leapfrog_steps=2,
                              num_langevin_steps=2))
  model.adapt(digits())
  metrics = model.train_step(tf.constant(digits(count=4)))
  assert all(np.isfinite(float(v)) for v in metrics.values())
  grids = model.sample(3, seed=4)
  assert np.all(np.abs(grids[-1].numpy()) <= 1.0)
  np.testing.assert_array_equal(grids[-1], model.sample(3, seed=4)[-1])


def test_conditional_training_needs_labels_and_uses_them():
  model = _compile(tiny_model(num_classes=10, num_langevin_steps=1))
  images, labels = data.arrays("digits", "train", 8, max_examples=8)
  model.adapt(images, labels=labels)
  metrics = model.train_step((tf.constant(images), tf.constant(labels)))
  assert np.isfinite(float(metrics["loss/grid8"]))
  with pytest.raises(ValueError, match="labels"):
    model.train_step(tf.constant(images))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
