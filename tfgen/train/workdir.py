"""The workdir: config.json, checkpoints/, summaries/, samples/.

`prepare` checks a workdir against a requested config (resume or refuse),
`build_model` makes what a config describes (through `tfgen.families`),
`apply_training_state` sets the step size and learning rate that divergence
back-off left in a checkpoint, `load_model` rebuilds a trained model for the
apps. Checkpoint saving and restoring live in `tfgen.train.checkpoints`.
"""

from __future__ import annotations

import os
from typing import Optional

import keras

from tfgen import config as config_lib
from tfgen import families
from tfgen.train import checkpoints
from tfgen.train import history

CONFIG_FILE = "config.json"
CheckpointError = checkpoints.CheckpointError


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


def prepare(workdir: str, requested: config_lib.ExperimentConfig,
            write: bool = True) -> config_lib.ExperimentConfig:
  """Creates the workdir or checks it can be resumed with `requested`.

  With `write=False` (non-chief workers) it only checks: nothing is created.
  """
  saved = read_config(workdir)
  if saved is not None:
    differences = config_lib.conflicts(saved, requested)
    if differences:
      raise ValueError(
          f"workdir={workdir!r} holds a run with other settings: "
          + "; ".join(differences)
          + ". Pass the saved values (or --flagfile the same file) to resume, "
          "or use a new --workdir.")
  if not write:
    return requested
  for path in paths(workdir).values():
    os.makedirs(path, exist_ok=True)
  tmp = os.path.join(workdir, CONFIG_FILE + ".tmp")
  with open(tmp, "w") as f:  # With the history of changed settings.
    f.write(history.config_json(workdir, saved, requested, CONFIG_FILE))
  os.replace(tmp, os.path.join(workdir, CONFIG_FILE))
  return requested


def build_model(config: config_lib.ExperimentConfig) -> keras.Model:
  """The compiled model a config describes (see `tfgen.families`)."""
  return families.build_model(config)


def apply_training_state(model: keras.Model,
                         config: config_lib.ExperimentConfig,
                         state: checkpoints.TrainingState) -> bool:
  """Gives `model` the divergence back-off factors of `state`.

  Returns whether the sampler step size changed (then retrace the train
  step). Families without a step size (`step_size_backoff`) get only the
  learning-rate factor.
  """
  model.set_learning_rate_scale(float(state.learning_rate_scale.numpy()))
  if not families.of(config).has("step_size_backoff"):
    return False
  return model.set_step_size_scale(float(state.step_size_scale.numpy()))


WEIGHTS = ("averaged", "last")


def load_model(workdir: str, weights: str = "averaged"):
  """Rebuilds the trained model of `workdir`; returns (model, config, step).

  weights: 'averaged' puts the moving averages of the sampling nets'
  weights into them when the run kept some (`--ema_momentum` > 0; otherwise
  the same as 'last'); 'last' keeps the weights of the newest step.
  """
  if weights not in WEIGHTS:
    raise ValueError(f"weights={weights!r} is not one of {list(WEIGHTS)}; "
                     "pass --weights=averaged (the default) or last.")
  config = read_config(workdir)
  if config is None:
    raise ValueError(f"workdir={workdir!r} has no {CONFIG_FILE}: it is not a "
                     "tfgen training directory. Train with apps.train first.")
  model = build_model(config)
  checkpoint = checkpoints.make_checkpoint(model.checkpoint_objects())
  if checkpoints.restore(checkpoint, paths(workdir)["checkpoints"],
                         expect_optimizer=False) is None:
    raise ValueError(f"workdir={workdir!r} has no checkpoint yet: train "
                     "with apps.train (it saves every --checkpoint_every "
                     "steps and on exit).")
  apply_training_state(model, config, checkpoint.training)
  if weights == "averaged":
    model.use_averaged_weights()
  return model, config, int(checkpoint.step.numpy())
