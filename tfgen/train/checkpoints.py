"""Checkpoints that survive kills: what is saved, what restores, repairs.

`tf.train.CheckpointManager.save` writes `ckpt-N.index` and `ckpt-N.data-*`
(through a temporary folder that is renamed when complete) and only then
rewrites the `checkpoint` state file, atomically, to name ckpt-N the latest.
A process killed while saving thus leaves the previous checkpoint the latest.
`restore` goes further and falls back, with a logged warning, past anything
that does not restore: a truncated or garbled index or data file, a state
file that is truncated, empty or names missing files (the ckpt-*.index files
on disk are then the candidates). `make_manager` rewrites such a state file
so that later saves keep and rotate the right files.

A checkpoint holds the Trainer's step counter ('step'), what the family's
model lists in `checkpoint_objects()` (the model with the nets and
optimizers it owns; multigrid's optimizer under 'optimizer') and a
`TrainingState`: the divergence back-off factors, so that a resumed run
keeps them. Checkpoints written before the step had its own entry restore
too: their step is the 'optimizer' iteration count that used to be it.
"""

from __future__ import annotations

import os
import re
from typing import Callable, Optional

from absl import logging
import tensorflow as tf

STATE_FILE = "checkpoint"
PREFIX = "ckpt"

Warn = Callable[[str], None]


class CheckpointError(ValueError):
  """A checkpoint is corrupt or does not match the configured model."""


class TrainingState(tf.Module):
  """Training settings changed during a run (by divergence back-off)."""

  def __init__(self):
    super().__init__(name="training_state")
    # Factors on the configured Langevin step size and learning rate.
    self.step_size_scale = tf.Variable(1.0, trainable=False,
                                       name="step_size_scale")
    self.learning_rate_scale = tf.Variable(1.0, trainable=False,
                                           name="learning_rate_scale")
    # Divergences recovered from by `--on_divergence=restore`, in all runs.
    self.divergences = tf.Variable(0, dtype=tf.int64, trainable=False,
                                   name="divergences")


def make_step_counter() -> tf.Variable:
  """The Trainer's step counter (int64; create it in the strategy scope)."""
  return tf.Variable(
      0, dtype=tf.int64, trainable=False, name="step",
      aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


def make_checkpoint(objects: dict, step: Optional[tf.Variable] = None
                    ) -> tf.train.Checkpoint:
  """The checkpoint of a training run: the step, `objects` and the state.

  objects: {key: trackable}, a model's `checkpoint_objects()` (the model,
  and the multigrid optimizer under 'optimizer').
  step: the Trainer's step counter (default: a new one at 0).
  """
  if step is None:
    step = make_step_counter()
  checkpoint = tf.train.Checkpoint(step=step, training=TrainingState(),
                                   **objects)
  # Created now (it is lazy), so that every write holds the same objects.
  checkpoint.save_counter  # pylint: disable=pointless-statement
  return checkpoint


def number(path: str) -> int:
  """N of a '.../ckpt-N' prefix (-1 for other names)."""
  found = re.fullmatch(PREFIX + r"-(\d+)", os.path.basename(path))
  return int(found.group(1)) if found else -1


def on_disk(directory: str) -> list[str]:
  """Prefixes of the ckpt-N.index files in `directory`, newest first."""
  paths = tf.io.gfile.glob(os.path.join(directory, PREFIX + "-*.index"))
  prefixes = {p[:-len(".index")] for p in paths}
  return sorted((p for p in prefixes if number(p) >= 0), key=number,
                reverse=True)


def _read_state(directory: str):
  """The parsed state file; None if there is none; ValueError if unusable."""
  if not tf.io.gfile.exists(os.path.join(directory, STATE_FILE)):
    return None
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (ValueError, tf.errors.OpError) as error:
    raise ValueError(str(error).strip().splitlines()[0][:200]) from error
  if state is None or not state.model_checkpoint_path:
    raise ValueError("it names no checkpoint (truncated or garbled)")
  return state


def candidates(directory: str, warn: Warn = logging.warning) -> list[str]:
  """Checkpoint prefixes to try restoring, newest first."""
  disk = on_disk(directory)
  state_path = os.path.join(directory, STATE_FILE)
  try:
    state = _read_state(directory)
  except ValueError as error:
    if disk:
      warn(f"The checkpoint state file {state_path!r} is unreadable "
           f"({error}); trying the checkpoints on disk instead, newest "
           f"first: {[os.path.basename(p) for p in disk]}.")
    return disk
  if state is None:
    if disk:
      warn(f"{directory!r} has checkpoints but no state file {STATE_FILE!r} "
           "(a save was interrupted?); trying them, newest first.")
    return disk
  listed = set(state.all_model_checkpoint_paths)
  listed.add(state.model_checkpoint_path)
  listed = sorted(listed, key=number, reverse=True)
  existing = [p for p in listed if tf.io.gfile.exists(p + ".index")]
  if len(existing) < len(listed):
    missing = [os.path.basename(p) for p in listed if p not in existing]
    warn(f"The checkpoint state file {state_path!r} names checkpoints that "
         f"are not on disk: {missing}; skipping them.")
  if not existing and disk:
    warn(f"Trying the checkpoints on disk instead, newest first: "
         f"{[os.path.basename(p) for p in disk]}.")
    return disk
  return existing


def _restore_error(path: str, error: Exception) -> CheckpointError:
  summary = str(error).strip().splitlines()[0][:300] if str(error) else (
      type(error).__name__)
  return CheckpointError(
      f"checkpoint {path!r} cannot be restored into this model ({summary}). "
      "It is corrupt or was written by a run with other model settings: "
      "use the workdir's config.json settings, delete the checkpoints/ "
      "folder to start over, or use a new --workdir.")


def restore_path(checkpoint: tf.train.Checkpoint, path: str,
                 expect_optimizer: bool = True) -> str:
  """Restores `path` into `checkpoint` or raises CheckpointError."""
  try:
    names = {name for name, _ in tf.train.list_variables(path)}
    target = checkpoint
    legacy = not any(name.startswith("step/") for name in names)
    if legacy:
      # Written before the Trainer owned the step (and, older still, before
      # checkpoints held a TrainingState): restore what it holds, read the
      # step from the optimizer that counted it (key 'optimizer').
      parts = {key: value for key, value in (
          ("model", getattr(checkpoint, "model", None)),
          ("optimizer", getattr(checkpoint, "optimizer", None)),
          ("training", checkpoint.training)) if value is not None}
      if not any(name.startswith("training/") for name in names):
        parts.pop("training")
      target = tf.train.Checkpoint(**parts)
    status = target.restore(path)
    if expect_optimizer:
      status.assert_existing_objects_matched()
    else:
      status.expect_partial()
    if legacy:
      checkpoint.step.assign(_legacy_step(path, names))
  except (tf.errors.OpError, ValueError, AssertionError, IndexError,
          KeyError, RuntimeError, TypeError) as error:
    raise _restore_error(path, error) from error
  return path


_LEGACY_STEP = "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"


def _legacy_step(path: str, names: set) -> int:
  """The step of a checkpoint written before it held 'step/'."""
  if _LEGACY_STEP not in names:
    raise ValueError(f"it holds neither 'step' nor {_LEGACY_STEP!r}")
  return int(tf.train.load_checkpoint(path).get_tensor(_LEGACY_STEP))


def restore(checkpoint: tf.train.Checkpoint, directory: str,
            expect_optimizer: bool = True,
            warn: Warn = logging.warning) -> Optional[str]:
  """Restores the newest checkpoint of `directory` that restores.

  Returns its path, or None if there is no checkpoint. Each checkpoint that
  fails is logged (`warn`) and the previous one tried; if none restores,
  raises the newest one's CheckpointError (with the path and the fix).
  """
  paths = candidates(directory, warn)
  first_error = None
  for path in paths:
    try:
      restore_path(checkpoint, path, expect_optimizer)
    except CheckpointError as error:
      first_error = first_error or error
      warn(f"{error} Falling back to the previous checkpoint.")
      continue
    if first_error is not None:
      warn(f"Restored {path!r}, the newest checkpoint that restores; the "
           "newer ones above are skipped (a kill or a disk error while "
           "saving?).")
    return path
  if first_error is not None:
    if len(paths) > 1:
      raise CheckpointError(f"{first_error} No older checkpoint of "
                            f"{directory!r} restores either.")
    raise first_error
  return None


def _write_state(directory: str, latest: str, older: list[str]) -> None:
  """Writes the state file atomically (temp file + rename)."""
  lines = [f'model_checkpoint_path: "{os.path.basename(latest)}"']
  lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"'
            for p in older + [latest]]
  state_path = os.path.join(directory, STATE_FILE)
  tmp = state_path + ".tmp"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
  tf.io.gfile.rename(tmp, state_path, overwrite=True)


def make_manager(checkpoint: tf.train.Checkpoint, directory: str,
                 max_to_keep: int, restored: Optional[str],
                 warn: Warn = logging.warning) -> tf.train.CheckpointManager:
  """The writer's CheckpointManager of `directory`.

  First makes the state file name `restored` (what `restore` returned) as
  the latest, rewriting it if it is damaged or names newer checkpoints that
  did not restore, and moving an unusable one aside when nothing restored.
  """
  state_path = os.path.join(directory, STATE_FILE)
  try:
    state = _read_state(directory)
  except ValueError:
    state = False  # Exists but unusable.
  if restored is None:
    if state is not None:
      aside = state_path + ".unreadable"
      tf.io.gfile.rename(state_path, aside, overwrite=True)
      warn(f"Moved the checkpoint state file that names no restorable "
           f"checkpoint to {aside!r}.")
  elif not state or (os.path.abspath(state.model_checkpoint_path)
                     != os.path.abspath(restored)):
    older = [p for p in reversed(on_disk(directory))
             if number(p) < number(restored)]
    older = older[-(max_to_keep - 1):] if max_to_keep > 1 else []
    _write_state(directory, restored, older)
    warn(f"Rewrote {state_path!r} to name {os.path.basename(restored)!r} "
         "as the latest checkpoint.")
  return tf.train.CheckpointManager(checkpoint, directory,
                                    max_to_keep=max_to_keep,
                                    checkpoint_name=PREFIX)
