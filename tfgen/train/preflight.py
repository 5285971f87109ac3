"""Checks of a training run that come before anything is written.

`check_run(config, workdir)` raises ValueError (one line, naming the
setting or path and the fix) for whatever would otherwise fail later and
leave a half-made workdir behind.
"""

from __future__ import annotations

import os

from tfgen import config as config_lib


def check_writable_dir(path: str, what: str) -> None:
  """`path` is (or can be created as) a directory this process can write."""
  if os.path.exists(path):
    if not os.path.isdir(path):
      raise ValueError(f"{what}={path!r} is a file, not a directory; pass a "
                       "directory (it is created if missing).")
    if not os.access(path, os.W_OK | os.X_OK):
      raise ValueError(f"{what}={path!r} is not writable by this user; pass "
                       "a directory you can write.")
    return
  parent = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise ValueError(f"{what}={path!r} cannot be created: {parent!r} is a "
                     "file, not a directory.")
  if not os.access(parent, os.W_OK | os.X_OK):
    raise ValueError(f"{what}={path!r} cannot be created: {parent!r} is not "
                     "writable by this user.")


def check_run(config: config_lib.ExperimentConfig, workdir: str,
              write: bool = True) -> None:
  """Everything a run needs, checked before the workdir is touched."""
  if write:
    check_writable_dir(workdir, "workdir")
