"""Tests for tfgen.models.lapgan: training step, sampling, refinement, resume.

Tiny shapes (levels 4 -> 8, narrow nets, batch 8) and few steps.
"""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

import support
from tfgen import config as config_lib
from tfgen.data import pyramid
from tfgen.models import lapgan
from tfgen.train import checkpoints
from tfgen.train import loop
from tfgen.train import workdir as workdir_lib

_images = support.digits_batch
_model = support.tiny_lapgan


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
  assert int(model.step_counter.numpy()) == 1  # Keras-style: its own.
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
    lapgan.LAPGAN(**dict(support.TINY_LAPGAN, **overrides))


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
  model.train_step(_images())
  path = checkpoints.make_checkpoint(model.checkpoint_objects()).save(
      os.path.join(str(tmp_path), "ckpt"))
  names = [name for name, _ in tf.train.list_variables(path)]
  for size in (4, 8):
    for kind in ("g", "d"):
      assert any(f"{kind}_optimizer_level{size}" in n for n in names), size
  restored = workdir_lib.build_model(config)
  checkpoints.make_checkpoint(restored.checkpoint_objects()).restore(
      path).assert_existing_objects_matched()
  assert int(restored.d_optimizers[1].iterations.numpy()) == 1


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
