"""tfgen.train.checkpoints: restore the newest good checkpoint, repair state.

A small Keras model stands in for a tfgen model: the module handles any
`tf.train.Checkpoint` of (model, optimizer, training state). Kills during
real training runs are in fault_tolerance_test.py.
"""

import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.train import checkpoints


def small_checkpoint(units=3, value=None):
  model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(units)])
  if value is not None:
    model.set_weights([np.full(w.shape, value, np.float32)
                       for w in model.get_weights()])
  return checkpoints.make_checkpoint(
      {"model": model, "optimizer": keras.optimizers.Adam()})


def saved(directory, values=(1.0, 2.0, 3.0)):
  """Saves one checkpoint per value (ckpt-1, ckpt-2, ...) into directory."""
  for number, value in enumerate(values, start=1):
    latest = checkpoints.restore(small_checkpoint(), directory)
    manager = checkpoints.make_manager(small_checkpoint(value=value),
                                       directory, 5, latest)
    manager.save(checkpoint_number=number)
  return checkpoints.on_disk(directory)


def restored_value(directory, warnings):
  checkpoint = small_checkpoint()
  path = checkpoints.restore(checkpoint, directory, warn=warnings.append)
  return path, float(checkpoint.model.get_weights()[0].flat[0])


def test_newest_checkpoint_restores_and_numbers_order_the_files(tmp_path):
  paths = saved(str(tmp_path))
  assert [checkpoints.number(p) for p in paths] == [3, 2, 1]
  assert checkpoints.number(str(tmp_path / "other")) == -1
  warnings = []
  path, value = restored_value(str(tmp_path), warnings)
  assert checkpoints.number(path) == 3 and value == 3.0 and not warnings


def test_a_garbled_newest_checkpoint_falls_back_with_a_warning(tmp_path):
  paths = saved(str(tmp_path))
  with open(paths[0] + ".index", "wb") as f:
    f.write(b"garbage")
  warnings = []
  path, value = restored_value(str(tmp_path), warnings)
  assert checkpoints.number(path) == 2 and value == 2.0
  assert any("Falling back to the previous checkpoint" in w for w in warnings)


def test_a_truncated_state_file_uses_the_files_on_disk_and_is_rewritten(
    tmp_path):
  saved(str(tmp_path))
  with open(tmp_path / checkpoints.STATE_FILE, "w") as f:
    f.write("")
  warnings = []
  path, value = restored_value(str(tmp_path), warnings)
  assert value == 3.0 and "unreadable" in warnings[0]
  checkpoints.make_manager(small_checkpoint(), str(tmp_path), 5, path,
                           warn=warnings.append)
  assert tf.train.latest_checkpoint(str(tmp_path)) == path


def test_a_mismatched_model_names_the_path_and_the_fix(tmp_path):
  saved(str(tmp_path), values=(1.0,))
  with pytest.raises(checkpoints.CheckpointError,
                     match=r"cannot be restored into this model .* use the "
                     r"workdir's config.json settings"):
    checkpoints.restore(small_checkpoint(units=4), str(tmp_path),
                        warn=lambda _: None)


def test_an_empty_directory_has_nothing_to_restore(tmp_path):
  assert checkpoints.restore(small_checkpoint(), str(tmp_path)) is None
  assert not os.listdir(tmp_path)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
