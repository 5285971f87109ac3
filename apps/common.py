"""Helpers shared by the apps: quiet TF logging, deterministic .npz files,
loading a finished workdir."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def save_npz(path: str, **arrays: np.ndarray) -> str:
  """Like `np.savez`, but byte-identical for identical arrays.

  `np.savez` stamps the current time into the zip entries; this writes them
  with a fixed timestamp, in sorted order, atomically (temp file + rename).
  """
  tmp = path + ".tmp"
  with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
    for name in sorted(arrays):
      buffer = io.BytesIO()
      np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]),
                                allow_pickle=False)
      info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
      archive.writestr(info, buffer.getvalue())
  os.replace(tmp, path)
  return path


def require_capability(workdir: str, capability: str, what: str) -> None:
  """Refuses (ValueError) a workdir whose family lacks `capability`.

  Reads only its config.json (before any model is built), so an app
  refuses a workdir of the wrong family at once, naming the family and
  what to run instead (`tfgen.families.require`). A workdir without a
  config is left to the loader's own message.
  """
  # pylint: disable=g-import-not-at-top
  from tfgen import families
  from tfgen.train import workdir as workdir_lib
  if not os.path.isdir(workdir):
    return
  config = workdir_lib.read_config(workdir)
  if config is not None:
    try:
      families.require(config, capability, what)
    except ValueError as error:
      raise ValueError(f"--workdir={workdir!r}: {error}") from None


def load_finished_model(workdir: str, allow_unfinished: bool = False):
  """(model, config, step) of a workdir, refusing an unfinished run.

  Raises ValueError (naming the workdir, the step and the fix) when the
  workdir has no config/checkpoint, or its newest checkpoint is before the
  config's num_steps and `allow_unfinished` is False.
  """
  # pylint: disable=g-import-not-at-top
  from tfgen.train import workdir as workdir_lib
  if not os.path.isdir(workdir):
    raise ValueError(f"--workdir={workdir!r} does not exist: train one with "
                     "python -m apps.train --workdir=... first.")
  model, config, step = workdir_lib.load_model(workdir)
  if step < config.train.num_steps and not allow_unfinished:
    raise ValueError(
        f"--workdir={workdir!r} holds an unfinished run: its newest "
        f"checkpoint is at step {step} of num_steps="
        f"{config.train.num_steps}. Finish it (rerun apps.train with the "
        "same flags) or pass --allow_unfinished to use the step-"
        f"{step} model.")
  return model, config, step
