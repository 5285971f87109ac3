"""Checks of a training run that come before anything is written.

`check_config(config)` refuses settings that `ExperimentConfig.validate`
lets through but that fail later (a non-finite number); `check_run(config, workdir)` adds the dataset (tfds prepared,
folder images decodable: `tfgen.data.checks`) and the workdir (a writable
directory, or one that can be created). Each raises ValueError with one
line naming the setting or path, the value and the fix; `check_output` does
the same for the apps' output files.
"""

from __future__ import annotations

import dataclasses
import math
import os

from tfgen import config as config_lib
from tfgen.data import checks as data_checks

def check_finite(config: config_lib.ExperimentConfig) -> None:
  """Every float setting is a finite number (inf / nan are refused)."""
  for section in (config.data, config.model, config.train):
    for field in dataclasses.fields(section):
      value = getattr(section, field.name)
      values = value if isinstance(value, tuple) else (value,)
      if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        shown = list(value) if isinstance(value, tuple) else value
        raise ValueError(f"{field.name}={shown} must be a finite number "
                         f"(got {'a list with ' if isinstance(value, tuple) else ''}"
                         "inf or nan).")


def check_config(config: config_lib.ExperimentConfig) -> None:
  """What `validate` does not catch: non-finite numbers of any setting.

  (Names with a fixed set of values, e.g. `activation`, are checked by the
  family's settings, once: `settings.choice`.)
  """
  check_finite(config)


def check_writable_dir(path: str, what: str) -> None:
  """`path` is (or can be created as) a directory this process can write."""
  if os.path.exists(path):
    if not os.path.isdir(path):
      raise ValueError(f"--{what}={path!r} is a file, not a directory; pass "
                       "a directory (it is created if missing).")
    if not os.access(path, os.W_OK | os.X_OK):
      raise ValueError(f"--{what}={path!r} is not writable by this user; "
                       "pass a directory you can write.")
    return
  parent = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise ValueError(f"--{what}={path!r} cannot be created: {parent!r} is a "
                     "file, not a directory.")
  if not os.access(parent, os.W_OK | os.X_OK):
    raise ValueError(f"--{what}={path!r} cannot be created: {parent!r} is "
                     "not writable by this user.")


def check_output(path: str, what: str = "output") -> None:
  """An output file can be written at `path` (checked before the work)."""
  if os.path.isdir(path):
    raise ValueError(f"--{what}={path!r} is a directory; pass a file path.")
  if os.path.exists(path) and not os.access(path, os.W_OK):
    raise ValueError(f"--{what}={path!r} exists and is not writable by this "
                     "user.")
  parent = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise ValueError(f"--{what}={path!r} cannot be written: {parent!r} is a "
                     "file, not a directory.")
  if not os.access(parent, os.W_OK | os.X_OK):
    raise ValueError(f"--{what}={path!r} cannot be written: {parent!r} is "
                     "not writable by this user.")


def check_run(config: config_lib.ExperimentConfig, workdir: str,
              write: bool = True) -> None:
  """Everything a run needs, checked before the workdir is touched."""
  check_config(config)
  if write:
    check_writable_dir(workdir, "workdir")
  data = config.data
  data_checks.check_available(data.dataset, data.data_dir, data.download,
                              data.folder_channels)
