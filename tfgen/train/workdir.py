"""The workdir: config.json, checkpoints/, summaries/, samples/.

`prepare` checks a workdir against a requested config (resume or refuse),
`make_checkpoint` and `restore` wrap `tf.train.CheckpointManager` with errors
that say what to do, `load_model` rebuilds a trained model for the apps.
"""

from __future__ import annotations

import os
from typing import Optional

import keras
import tensorflow as tf

from tfgen import config as config_lib
from tfgen import models

CONFIG_FILE = "config.json"


class CheckpointError(ValueError):
  """A checkpoint is corrupt or does not match the configured model."""


def paths(workdir: str) -> dict:
  return {name: os.path.join(workdir, name)
          for name in ("checkpoints", "summaries", "samples")}


def read_config(workdir: str) -> Optional[config_lib.ExperimentConfig]:
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    text = f.read()
  try:
    return config_lib.ExperimentConfig.from_json(text)
  except (ValueError, TypeError) as error:
    raise ValueError(f"workdir={workdir!r}: {CONFIG_FILE} is unreadable "
                     f"({error}); use a new --workdir.") from error


def prepare(workdir: str, requested: config_lib.ExperimentConfig
            ) -> config_lib.ExperimentConfig:
  """Creates the workdir or checks it can be resumed with `requested`."""
  saved = read_config(workdir)
  if saved is not None:
    differences = config_lib.conflicts(saved, requested)
    if differences:
      raise ValueError(
          f"workdir={workdir!r} holds a run with other settings: "
          + "; ".join(differences)
          + ". Pass the saved values (or --flagfile the same file) to resume, "
          "or use a new --workdir.")
  for path in paths(workdir).values():
    os.makedirs(path, exist_ok=True)
  tmp = os.path.join(workdir, CONFIG_FILE + ".tmp")
  with open(tmp, "w") as f:
    f.write(requested.to_json())
  os.replace(tmp, os.path.join(workdir, CONFIG_FILE))
  return requested


def build_model(config: config_lib.ExperimentConfig) -> keras.Model:
  """The model a config describes (inside the caller's strategy scope)."""
  m = config.model
  return models.MultigridEBM(
      grid_sizes=m.grid_sizes, channels=config.data.channels,
      num_langevin_steps=m.num_langevin_steps, step_size=m.step_size,
      noise_scale=m.noise_scale, reference_stddev=m.reference_stddev,
      clip_samples=m.clip_samples, net_width=m.net_width,
      activation=m.activation, start_bank_size=m.start_bank_size,
      seed=config.train.seed, jit_compile=config.train.jit_compile)


def build_optimizer(config: config_lib.ExperimentConfig
                    ) -> keras.optimizers.Optimizer:
  return keras.optimizers.Adam(config.train.learning_rate,
                               beta_1=config.train.beta_1)


def make_checkpoint(model: keras.Model, optimizer, workdir: str,
                    max_to_keep: int = 3):
  checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
  manager = tf.train.CheckpointManager(
      checkpoint, paths(workdir)["checkpoints"], max_to_keep=max_to_keep)
  return checkpoint, manager


def restore(checkpoint: tf.train.Checkpoint,
            manager: tf.train.CheckpointManager,
            expect_optimizer: bool = True) -> Optional[str]:
  """Restores the latest checkpoint; None if there is none.

  Raises CheckpointError (with the path and the fix) if the files are corrupt
  or hold variables of another shape or model.
  """
  path = manager.latest_checkpoint
  if path is None:
    return None
  try:
    status = checkpoint.restore(path)
    if expect_optimizer:
      status.assert_existing_objects_matched()
    else:
      status.expect_partial()
  except (tf.errors.OpError, ValueError, AssertionError, IndexError,
          KeyError, RuntimeError) as error:
    summary = str(error).strip().splitlines()[0][:300]
    raise CheckpointError(
        f"checkpoint {path!r} cannot be restored into this model ({summary}). "
        "It is corrupt or was written by a run with other model settings: "
        "use the workdir's config.json settings, delete the checkpoints/ "
        "folder to start over, or use a new --workdir.") from error
  return path


def load_model(workdir: str):
  """Rebuilds the trained model of `workdir`; returns (model, config, step)."""
  config = read_config(workdir)
  if config is None:
    raise ValueError(f"workdir={workdir!r} has no {CONFIG_FILE}: it is not a "
                     "tfgen training directory. Train with apps.train first.")
  model = build_model(config)
  optimizer = build_optimizer(config)
  checkpoint, manager = make_checkpoint(model, optimizer, workdir)
  if restore(checkpoint, manager, expect_optimizer=False) is None:
    raise ValueError(f"workdir={workdir!r} has no checkpoint yet: train "
                     "with apps.train (it saves every --checkpoint_every "
                     "steps and on exit).")
  step = int(optimizer.iterations.numpy())
  return model, config, step
