"""The workdir: config.json, checkpoints/, summaries/, samples/.

`prepare` checks a workdir against a requested config (resume or refuse),
`build_model` / `build_optimizer` make what a config describes,
`apply_training_state` sets the step size and learning rate that divergence
back-off left in a checkpoint, `load_model` rebuilds a trained model for the
apps. Checkpoint saving and restoring live in `tfgen.train.checkpoints`.
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import Optional

import keras

from tfgen import config as config_lib
from tfgen import models
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


@contextlib.contextmanager
def _python_random_seed(seed: int):
  """Seeds Python's `random` inside the block only, then puts it back.

  Keras draws the seed of every unseeded initializer from Python's `random`
  (`keras.random.make_default_seed`), so this makes a model's initial
  weights a function of `seed` without a lasting global side effect.
  """
  saved = random.getstate()
  random.seed(seed)
  try:
    yield
  finally:
    random.setstate(saved)


def build_model(config: config_lib.ExperimentConfig) -> keras.Model:
  """The model a config describes (inside the caller's strategy scope).

  Its initial weights depend on `config.train.seed` only, so that two runs
  with the same seed (one killed and resumed, one not; one process or
  several workers) start from the same weights.
  """
  m = config.model
  if config.family == "lapgan":
    num_classes = config.data.num_classes if m.condition_on_label else 0
    with _python_random_seed(config.train.seed):
      return models.LAPGAN(
          level_sizes=m.level_sizes, channels=config.data.channels,
          num_classes=num_classes, noise_dim=m.noise_dim,
          generator_width=m.generator_width,
          discriminator_width=m.discriminator_width,
          discriminator_dropout=m.discriminator_dropout,
          d_steps_per_g_step=m.d_steps_per_g_step,
          diversity_weight=m.diversity_weight,
          learning_rate=config.train.learning_rate,
          beta_1=config.train.beta_1, seed=config.train.seed)
  with _python_random_seed(config.train.seed):
    return models.MultigridEBM(
        grid_sizes=m.grid_sizes, channels=config.data.channels,
        num_langevin_steps=m.num_langevin_steps, step_size=m.step_size,
        noise_scale=m.noise_scale, reference_stddev=m.reference_stddev,
        clip_samples=m.clip_samples, net_width=m.net_width,
        activation=m.activation, start_bank_size=m.start_bank_size,
        seed=config.train.seed, jit_compile=config.train.jit_compile,
        method=m.method, sampler=m.sampler,
        num_leapfrog_steps=m.num_leapfrog_steps, metropolis=m.metropolis,
        num_classes=config.data.num_classes if m.condition_on_label else 0,
        persistent_bank_size=m.persistent_bank_size,
        num_sampling_steps=m.num_sampling_steps or None)


def build_optimizer(config: config_lib.ExperimentConfig
                    ) -> keras.optimizers.Optimizer:
  """The optimizer given to `model.compile`; its `iterations` is the step.

  LAPGAN's levels own their Adam optimizers (saved with the model); its
  compiled optimizer applies no gradients and only counts steps (plain SGD:
  no slot variables).
  """
  if config.family == "lapgan":
    return keras.optimizers.SGD(config.train.learning_rate)
  return keras.optimizers.Adam(config.train.learning_rate,
                               beta_1=config.train.beta_1)


def set_step_size(model: keras.Model, step_size) -> None:
  """Sets a model's per-grid step size (the model retraces its samplers).

  The step size is a Python constant of the traced train step and samplers:
  callers must rebuild their own compiled train step too.
  """
  model.set_step_size(step_size)


def effective_step_size(config: config_lib.ExperimentConfig,
                        state: checkpoints.TrainingState,
                        num_model_grids: int) -> tuple[float, ...]:
  """The configured step size times the back-off factor of `state`."""
  values = config.model.step_size
  if len(values) == 1:
    values = values * num_model_grids
  scale = float(state.step_size_scale.numpy())
  return tuple(float(v) * scale for v in values)


def apply_training_state(model: keras.Model, optimizer,
                         config: config_lib.ExperimentConfig,
                         state: checkpoints.TrainingState) -> bool:
  """Gives `model` and `optimizer` the back-off factors of `state`.

  Returns whether the step size changed (then retrace the train step).
  Models without a sampler step size (LAPGAN) get only the learning rate,
  on their own optimizers too (`model.set_learning_rate`).
  """
  learning_rate = (config.train.learning_rate *
                   float(state.learning_rate_scale.numpy()))
  if hasattr(model, "set_learning_rate"):
    model.set_learning_rate(learning_rate)
  if not hasattr(model, "step_size"):
    if optimizer is not None:
      optimizer.learning_rate = learning_rate
    return False
  step_size = effective_step_size(config, state, len(model.model_grids))
  changed = tuple(model.step_size) != step_size
  if changed:
    set_step_size(model, step_size)
  if optimizer is not None:
    optimizer.learning_rate = (config.train.learning_rate *
                               float(state.learning_rate_scale.numpy()))
  return changed


def load_model(workdir: str):
  """Rebuilds the trained model of `workdir`; returns (model, config, step)."""
  config = read_config(workdir)
  if config is None:
    raise ValueError(f"workdir={workdir!r} has no {CONFIG_FILE}: it is not a "
                     "tfgen training directory. Train with apps.train first.")
  model = build_model(config)
  optimizer = build_optimizer(config)
  checkpoint = checkpoints.make_checkpoint(model, optimizer)
  if checkpoints.restore(checkpoint, paths(workdir)["checkpoints"],
                         expect_optimizer=False) is None:
    raise ValueError(f"workdir={workdir!r} has no checkpoint yet: train "
                     "with apps.train (it saves every --checkpoint_every "
                     "steps and on exit).")
  apply_training_state(model, None, config, checkpoint.training)
  step = int(optimizer.iterations.numpy())
  return model, config, step
