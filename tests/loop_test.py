"""Behaviour of the training loop (tfgen.train.loop.Trainer) and workdir."""

import sys
import dataclasses
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfgen import config as config_lib
from tfgen.models.base import MetricInfo
from tfgen.train import loop
from tfgen.train import workdir as workdir_lib


def tiny_config(**train_overrides):
  train = dict(num_steps=4, batch_size=8, checkpoint_every=2, summary_every=1,
               sample_every=2, num_sample_images=4, learning_rate=1e-3)
  train.update(train_overrides)
  return config_lib.ExperimentConfig(
      data=config_lib.DataConfig(dataset="digits", image_size=8),
      model=config_lib.MultigridConfig(
          grid_sizes=(1, 4, 8), num_langevin_steps=(2,), net_width=0.125,
          start_bank_size=16),
      train=config_lib.TrainConfig(**train))


def test_run_writes_config_checkpoints_summaries_and_sample_grids(tmp_path):
  workdir = str(tmp_path / "run")
  lines = []
  metrics = loop.Trainer(tiny_config(), workdir, printer=lines.append).run()
  assert set(k.split("/")[0] for k in metrics) >= {"loss", "grad_l1"}
  saved = config_lib.ExperimentConfig.from_json(
      open(os.path.join(workdir, "config.json")).read())
  assert saved == tiny_config()
  assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  assert glob.glob(os.path.join(workdir, "summaries", "events.out.*"))
  assert os.path.exists(os.path.join(workdir, "samples",
                                     "step0000004_grid8.png"))
  assert any("steps/s" in line and "ETA" in line for line in lines)


def test_rerun_resumes_at_the_saved_step_and_continues(tmp_path):
  workdir = str(tmp_path / "run")
  loop.Trainer(tiny_config(num_steps=2), workdir, printer=lambda _: 0).run()
  lines = []
  trainer = loop.Trainer(tiny_config(num_steps=4), workdir,
                         printer=lines.append)
  assert trainer.step == 2
  trainer.run()
  assert trainer.step == 4
  assert any("Resuming" in line and "step 2" in line for line in lines)
  model, _, step = workdir_lib.load_model(workdir)
  assert step == 4
  assert model.sample(2, seed=0)[-1].shape == (2, 8, 8, 1)


def test_workdir_with_other_model_settings_is_refused(tmp_path):
  workdir = str(tmp_path / "run")
  loop.Trainer(tiny_config(num_steps=1), workdir, printer=lambda _: 0).run()
  other = dataclasses.replace(
      tiny_config(), model=dataclasses.replace(tiny_config().model,
                                               step_size=(0.1,)))
  with pytest.raises(ValueError, match=r"step_size: saved \(0.3,\)"):
    loop.Trainer(other, workdir)


def test_mismatched_checkpoint_is_reported_with_the_fix(tmp_path):
  workdir = str(tmp_path / "run")
  loop.Trainer(tiny_config(num_steps=1), workdir, printer=lambda _: 0).run()
  wider = dataclasses.replace(
      tiny_config(), model=dataclasses.replace(tiny_config().model,
                                               net_width=0.25))
  # Simulate a config.json edited by hand to other model settings.
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(wider.to_json())
  with pytest.raises(workdir_lib.CheckpointError, match="new --workdir"):
    loop.Trainer(wider, workdir)


def test_corrupt_checkpoint_is_reported_not_restored(tmp_path):
  workdir = str(tmp_path / "run")
  loop.Trainer(tiny_config(num_steps=1), workdir, printer=lambda _: 0).run()
  for path in glob.glob(os.path.join(workdir, "checkpoints", "*.data-*")):
    with open(path, "r+b") as f:
      f.truncate(10)
  with pytest.raises(workdir_lib.CheckpointError, match="corrupt"):
    loop.Trainer(tiny_config(), workdir)


def test_divergence_stops_with_step_and_grid_and_keeps_last_checkpoint(
    tmp_path):
  workdir = str(tmp_path / "run")
  loop.Trainer(tiny_config(num_steps=2), workdir, printer=lambda _: 0).run()
  trainer = loop.Trainer(tiny_config(num_steps=4), workdir,
                         printer=lambda _: 0)
  kernel = trainer.model.energy_nets[-1].get_layer("score").kernel
  kernel.assign(tf.fill(kernel.shape, np.nan))
  with pytest.raises(loop.DivergenceError, match=r"step 3: .*grid8=nan"):
    trainer.run()
  checkpoints = tf.train.get_checkpoint_state(
      os.path.join(workdir, "checkpoints")).all_model_checkpoint_paths
  assert checkpoints[-1].endswith("ckpt-2")
  _, _, step = workdir_lib.load_model(workdir)
  assert step == 2


@pytest.mark.parametrize("train, match", [
    (dict(num_steps=0), "num_steps=0"),
    (dict(batch_size=-4), "batch_size=-4"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(strategy="tpu"), "strategy='tpu'"),
])
def test_bad_training_settings_fail_before_training(tmp_path, train, match):
  with pytest.raises(ValueError, match=match):
    loop.Trainer(tiny_config(**train), str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "config.json")


def test_find_divergence_names_only_non_finite_metrics_coarsest_first():
  # The scales come from the model's metric_info(), never from the names.
  info = {"loss/grid4": MetricInfo("loss", "grid", 4),
          "score_observed/grid16": MetricInfo("score_observed", "grid", 16),
          "loss/grid16": MetricInfo("loss", "grid", 16),
          "sample_abs_max/grid4": MetricInfo("sample_abs_max", "grid", 4),
          "delta_rms/step2": MetricInfo("delta_rms", "canvas_step", 2)}
  assert loop.find_divergence({"loss/grid4": 1.0}, info) is None
  assert loop.find_divergence(
      {"loss/grid4": 1.0, "score_observed/grid16": float("inf")}, info
  ) == "grid 16x16 first (score_observed/grid16=inf)"
  assert loop.find_divergence(
      {"loss/grid16": float("nan"), "sample_abs_max/grid4": float("inf")},
      info) == "grid 4x4 first (loss/grid16=nan, sample_abs_max/grid4=inf)"
  assert loop.find_divergence(
      {"delta_rms/step2": float("nan")}, info
  ) == "canvas step 2 first (delta_rms/step2=nan)"
  assert loop.find_divergence({"loss": float("nan")}, info) == "loss=nan"
  # Without metric info (or for an unknown name): the names only.
  assert loop.find_divergence({"loss/grid16": float("nan")}) == (
      "loss/grid16=nan")


def test_load_model_of_an_empty_directory_says_to_train_first(tmp_path):
  with pytest.raises(ValueError, match="apps.train"):
    workdir_lib.load_model(str(tmp_path))


def test_load_model_restores_the_trained_weights(tmp_path):
  workdir = str(tmp_path / "run")
  trainer = loop.Trainer(tiny_config(num_steps=2), workdir,
                         printer=lambda _: 0)
  trainer.run()
  model, _, _ = workdir_lib.load_model(workdir)
  assert len(model.weights) == len(trainer.model.weights)
  for restored, trained in zip(model.weights, trainer.model.weights):
    np.testing.assert_array_equal(np.asarray(restored), np.asarray(trained))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
