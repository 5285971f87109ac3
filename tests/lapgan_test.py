"""Tests for tfgen.models.lapgan: training step, sampling, refinement, resume.

Tiny shapes (levels 4 -> 8, narrow nets, batch 8) and few steps.
"""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfgen import config as config_lib
from tfgen import data
from tfgen.data import pyramid
from tfgen.models import lapgan
from tfgen.train import checkpoints
from tfgen.train import loop
from tfgen.train import workdir as workdir_lib

TINY = dict(level_sizes=(4, 8), channels=1, noise_dim=8, generator_width=0.125,
            discriminator_width=0.25)


def _images(batch=8, size=8):
  images, labels = data.arrays("digits", "train", size, max_examples=batch)
  return tf.constant(images), tf.constant(labels)


def _model(**overrides):
  model = lapgan.LAPGAN(**dict(TINY, **overrides))
  model.compile()
  return model


def _weights(nets):
  return [w.numpy().copy() for net in nets for w in net.trainable_weights]


def test_pyramid_batch_holds_the_laplacian_pyramid_of_the_images():
  images, labels = _images()
  batch = lapgan.pyramid_batch(images, labels, (4, 8))
  assert sorted(batch) == ["coarse_up/level8", "images/level4", "labels",
                           "residual/level8"]
  rebuilt = batch["coarse_up/level8"] + batch["residual/level8"]
  np.testing.assert_allclose(rebuilt.numpy(), images.numpy(), atol=1e-5)
  np.testing.assert_allclose(
      batch["images/level4"].numpy(),
      pyramid.blur_downsample(images).numpy(), atol=1e-6)


def test_train_step_updates_every_level_and_reports_paired_metrics():
  model = _model()
  images, labels = _images()
  before_g = _weights(model.generators)
  before_d = _weights(model.discriminators)
  metrics = model.train_step((images, labels))
  names = {f"{kind}/level{s}" for s in (4, 8)
           for kind in ("d_loss", "g_loss", "d_accuracy", "d_real_logit",
                        "d_fake_logit")}
  assert set(metrics) == names
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert 0.0 <= float(metrics["d_accuracy/level8"]) <= 1.0
  assert int(model.optimizer.iterations.numpy()) == 1
  for before, after in ((before_g, _weights(model.generators)),
                        (before_d, _weights(model.discriminators))):
    assert all(np.abs(a - b).max() > 0 for a, b in zip(before, after))
  for optimizer in model.g_optimizers + model.d_optimizers:
    assert int(optimizer.iterations.numpy()) == 1


def test_d_steps_per_g_step_sets_how_often_discriminators_update():
  model = _model(d_steps_per_g_step=3)
  model.train_step(_images())
  assert [int(o.iterations.numpy()) for o in model.d_optimizers] == [3, 3]
  assert [int(o.iterations.numpy()) for o in model.g_optimizers] == [1, 1]


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


def test_diversity_weight_adds_the_mode_seeking_metric_per_level():
  model = _model(diversity_weight=0.1)
  metrics = model.train_step(_images())
  for size in (4, 8):
    assert float(metrics[f"g_diversity/level{size}"]) > 0.0
  assert "g_diversity/level8" not in _model().train_step(_images())


def test_one_level_is_a_plain_gan_at_the_image_size():
  model = _model(level_sizes=(8,))
  metrics = model.train_step(_images())
  assert sorted(k for k in metrics if "_loss/" in k) == ["d_loss/level8",
                                                          "g_loss/level8"]
  assert model.sample(3, seed=0)[-1].shape == (3, 8, 8, 1)


@pytest.mark.parametrize("overrides,message", [
    (dict(level_sizes=(4, 16)), "double"),
    (dict(noise_dim=0), "noise_dim=0"),
    (dict(d_steps_per_g_step=0), "d_steps_per_g_step=0"),
    (dict(num_classes=-1), "num_classes=-1"),
    (dict(generator_width=0.0), "generator_width=0.0"),
    (dict(diversity_weight=-1.0), "diversity_weight=-1.0"),
])
def test_bad_settings_are_rejected(overrides, message):
  with pytest.raises(ValueError, match=message):
    lapgan.LAPGAN(**dict(TINY, **overrides))


def tiny_config(**train_overrides):
  train = dict(num_steps=4, batch_size=8, checkpoint_every=2, summary_every=1,
               sample_every=100, num_sample_images=4, learning_rate=1e-3)
  train.update(train_overrides)
  return config_lib.ExperimentConfig(
      family="lapgan",
      data=config_lib.DataConfig(dataset="digits", image_size=8),
      model=config_lib.LapganConfig(level_sizes=(4, 8), noise_dim=8,
                                    generator_width=0.125,
                                    discriminator_width=0.25),
      train=config_lib.TrainConfig(**train))


def test_trainer_resumed_run_equals_a_continuous_run(tmp_path):
  continuous = str(tmp_path / "continuous")
  loop.Trainer(tiny_config(), continuous, printer=lambda _: 0,
               handle_signals=False).run()
  resumed = str(tmp_path / "resumed")
  loop.Trainer(tiny_config(num_steps=2), resumed, printer=lambda _: 0,
               handle_signals=False).run()
  lines = []
  loop.Trainer(tiny_config(), resumed, printer=lines.append,
               handle_signals=False).run()
  assert any("Resuming" in line and "step 2" in line for line in lines)
  a, _, step_a = workdir_lib.load_model(continuous)
  b, _, step_b = workdir_lib.load_model(resumed)
  assert step_a == step_b == 4
  for net_a, net_b in zip(a.generators + a.discriminators,
                          b.generators + b.discriminators):
    for wa, wb in zip(net_a.weights, net_b.weights):  # Incl. batch norm stats.
      np.testing.assert_allclose(wa.numpy(), wb.numpy(), atol=1e-5)
  for opt_a, opt_b in zip(a.g_optimizers + a.d_optimizers,
                          b.g_optimizers + b.d_optimizers):
    assert int(opt_a.iterations.numpy()) == int(opt_b.iterations.numpy()) == 4
    for va, vb in zip(opt_a.variables, opt_b.variables):
      np.testing.assert_allclose(np.asarray(va), np.asarray(vb), atol=1e-5)
  np.testing.assert_allclose(a.sample(4, seed=1)[-1].numpy(),
                             b.sample(4, seed=1)[-1].numpy(), atol=1e-4)


def test_checkpoint_holds_every_level_optimizer(tmp_path):
  config = tiny_config()
  model = workdir_lib.build_model(config)
  optimizer = workdir_lib.build_optimizer(config)
  model.compile(optimizer=optimizer)
  model.train_step(_images())
  path = checkpoints.make_checkpoint(model, optimizer).save(
      os.path.join(str(tmp_path), "ckpt"))
  names = [name for name, _ in tf.train.list_variables(path)]
  for size in (4, 8):
    for kind in ("g", "d"):
      assert any(f"{kind}_optimizer_level{size}" in n for n in names), size
  restored = workdir_lib.build_model(config)
  restored_optimizer = workdir_lib.build_optimizer(config)
  restored.compile(optimizer=restored_optimizer)
  checkpoints.make_checkpoint(restored, restored_optimizer).restore(
      path).assert_existing_objects_matched()
  assert int(restored.d_optimizers[1].iterations.numpy()) == 1
  assert int(restored_optimizer.iterations.numpy()) == 1


def test_nan_losses_stop_training_naming_the_level(tmp_path, monkeypatch):
  original = lapgan.LAPGAN._train_level

  def poisoned(self, index, *args):
    metrics = original(self, index, *args)
    if self.level_sizes[index] == 8:
      metrics["d_loss/level8"] = metrics["d_loss/level8"] * np.nan
    return metrics

  monkeypatch.setattr(lapgan.LAPGAN, "_train_level", poisoned)
  trainer = loop.Trainer(tiny_config(), str(tmp_path / "nan"),
                         printer=lambda _: 0, handle_signals=False)
  with pytest.raises(loop.DivergenceError,
                     match=r"step 1: level 8x8 first \(d_loss/level8=nan\)"
                     r".*--learning_rate"):
    trainer.run()


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
