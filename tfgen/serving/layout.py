"""TF Serving's directory layout: `BASE/NAME/N/` versions and models.config.

TF Serving watches `BASE/NAME/` and serves the highest all-digits folder
name as the model's version; other names (here `.tmp-N-PID` while writing,
`.old-N-PID` while replacing) are ignored. `write_version` therefore writes
a version into a temporary folder and renames it into place: a version
folder is either absent or complete, even if the writer is killed.

Concurrent writers into one `BASE/NAME/` first reserve their version with
`os.mkdir(".lock-N")`, which is atomic (also on NFS): two exporters without
a version get different ones, and a writer of an explicit version that
another live writer holds is refused, so no export silently replaces
another. A reservation of a dead writer is stale and is taken over.

`update_models_config` adds or updates the model's entry in
`BASE/models.config`, TF Serving's `--model_config_file` (text proto):

    model_config_list {
      config {
        name: "NAME" base_path: "/models/NAME" model_platform: "tensorflow"
      }
    }

`base_path` is the path *inside the server* (e.g. the Docker container that
mounts BASE at /models), not necessarily this machine's path.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import posixpath
import json
import re
import shutil
import socket
import time
from typing import Callable, Optional

MODELS_CONFIG = "models.config"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SCRATCH = re.compile(r"^\.(tmp|old)-(\d+)-(\d+)$")
_RESERVED = re.compile(r"^\.lock-(\d+)$")
_OWNER = "owner.json"
# A reservation without an owner record (its writer died between mkdir and
# writing it), or one of another host, is stale after this many seconds.
RESERVATION_STALE_S = 3600.0


def check_model_name(model_name: str) -> str:
  """A name usable in a URL and as a folder: letters, digits, `_.-`."""
  if (not isinstance(model_name, str) or not _NAME.match(model_name)
      or model_name.isdigit()):
    raise ValueError(
        f"model_name={model_name!r} must start with a letter or digit, hold "
        "only letters, digits, '_', '.', '-', and not be all digits, e.g. "
        "'multigrid'.")
  return model_name


def versions(model_dir: str) -> list[int]:
  """Sorted versions (all-digits folder names) under `model_dir`."""
  if not os.path.isdir(model_dir):
    return []
  return sorted(int(name) for name in os.listdir(model_dir)
                if name.isdigit() and os.path.isdir(
                    os.path.join(model_dir, name)))


def reserved(model_dir: str) -> list[int]:
  """Versions that writers have reserved (`.lock-N`) but not yet written."""
  if not os.path.isdir(model_dir):
    return []
  return sorted(int(m.group(1)) for m in map(_RESERVED.match,
                                              os.listdir(model_dir)) if m)


def next_version(model_dir: str) -> int:
  """One above the highest version (written or reserved), or 1."""
  existing = versions(model_dir) + reserved(model_dir)
  return max(existing) + 1 if existing else 1


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def remove_stale_scratch(model_dir: str) -> list[str]:
  """Cleans up after writers that died (e.g. killed) mid-write.

  `.tmp-N-PID` folders of dead processes are removed; an `.old-N-PID` folder
  (a version being replaced) is put back as `N` if `N` is missing, else
  removed; stale `.lock-N` reservations are removed. Returns the names
  handled.
  """
  handled = []
  if not os.path.isdir(model_dir):
    return handled
  for name in sorted(os.listdir(model_dir)):
    if _RESERVED.match(name):
      if _stale(os.path.join(model_dir, name)):  # Its writer died.
        shutil.rmtree(os.path.join(model_dir, name), ignore_errors=True)
        handled.append(name)
      continue
    match = _SCRATCH.match(name)
    if not match or _alive(int(match.group(3))):
      continue
    path = os.path.join(model_dir, name)
    target = os.path.join(model_dir, match.group(2))
    if match.group(1) == "old" and not os.path.exists(target):
      os.rename(path, target)
    else:
      shutil.rmtree(path, ignore_errors=True)
    handled.append(name)
  return handled


def _owner(reservation: str) -> Optional[dict]:
  try:
    with open(os.path.join(reservation, _OWNER)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _stale(reservation: str) -> bool:
  owner = _owner(reservation)
  try:
    age = time.time() - os.path.getmtime(reservation)
  except OSError:
    return False
  if not isinstance(owner, dict) or "pid" not in owner:
    return age > RESERVATION_STALE_S
  if owner.get("host") == socket.gethostname():
    return not _alive(int(owner["pid"]))
  return age > RESERVATION_STALE_S


def _describe_owner(reservation: str) -> str:
  owner = _owner(reservation) or {}
  return (f"PID {owner.get('pid', '?')} on host {owner.get('host', '?')!r}, "
          f"since {owner.get('started', '?')}")


def reserve_version(model_dir: str, version: Optional[int] = None
                    ) -> tuple[int, str]:
  """Atomically reserves `version` (default: the next free) of `model_dir`.

  Returns (version, reservation folder); remove the folder when the version
  is written. Raises FileExistsError if another live writer holds an
  explicit `version`.
  """
  candidate = version if version is not None else next_version(model_dir)
  while True:
    reservation = os.path.join(model_dir, f".lock-{candidate}")
    try:
      os.mkdir(reservation)
    except FileExistsError:
      if _stale(reservation):
        shutil.rmtree(reservation, ignore_errors=True)
        continue
      if version is not None:
        raise FileExistsError(
            f"{os.path.join(model_dir, str(candidate))} is being written by "
            f"another export ({_describe_owner(reservation)}): wait for it "
            f"to finish, or omit --version to write version "
            f"{next_version(model_dir)}.") from None
      candidate = max(candidate + 1, next_version(model_dir))
      continue
    with open(os.path.join(reservation, _OWNER), "w") as f:
      json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                 "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}, f)
    if version is None and os.path.exists(
        os.path.join(model_dir, str(candidate))):
      shutil.rmtree(reservation, ignore_errors=True)  # Written meanwhile.
      candidate = next_version(model_dir)
      continue
    return candidate, reservation


def _fsync_tree(path: str) -> None:
  """Flushes every file and folder under `path` to disk before the rename."""
  for root, _, files in os.walk(path):
    for name in files:
      with open(os.path.join(root, name), "rb") as f:
        os.fsync(f.fileno())
    descriptor = os.open(root, os.O_RDONLY)
    try:
      os.fsync(descriptor)
    finally:
      os.close(descriptor)


def write_version(model_dir: str, write_fn: Callable[[str], None],
                  version: Optional[int] = None,
                  overwrite: bool = False) -> tuple[int, str]:
  """Writes one version of a model atomically.

  Args:
    model_dir: `BASE/NAME`; created if missing.
    write_fn: path -> None, writes the complete version (a SavedModel) into
      the path it is given (a scratch folder that it may create).
    version: the version number (>= 1); default: `next_version`.
    overwrite: replace an existing version (TF Serving does not reload a
      version it already serves; this is for development).

  Returns:
    (version, path of `BASE/NAME/version`).

  Raises:
    FileExistsError: the version exists and `overwrite` is False, or
      another live writer is writing it (see `reserve_version`).
  """
  if version is not None and (not isinstance(version, int)
                              or isinstance(version, bool) or version < 1):
    raise ValueError(f"version={version!r} must be an int >= 1 (TF Serving "
                     "versions are positive integers).")
  os.makedirs(model_dir, exist_ok=True)
  remove_stale_scratch(model_dir)
  version, reservation = reserve_version(model_dir, version)
  final = os.path.join(model_dir, str(version))
  if os.path.exists(final) and not overwrite:
    shutil.rmtree(reservation, ignore_errors=True)
    raise FileExistsError(
        f"{final} exists: pass --overwrite to replace version {version}, or "
        f"omit --version to write version {next_version(model_dir)}.")
  scratch = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")
  shutil.rmtree(scratch, ignore_errors=True)
  try:
    write_fn(scratch)
    if not os.path.isdir(scratch):
      raise RuntimeError(f"write_fn wrote nothing to {scratch}.")
    _fsync_tree(scratch)
    if os.path.exists(final):
      old = os.path.join(model_dir, f".old-{version}-{os.getpid()}")
      os.rename(final, old)
      os.rename(scratch, final)
      shutil.rmtree(old, ignore_errors=True)
    else:
      # Fails (rather than merging) if another writer created `final` since
      # the check above and put files in it.
      os.rename(scratch, final)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(reservation, ignore_errors=True)
  return version, final


@contextlib.contextmanager
def _locked(path: str):
  with open(path, "a") as lock:
    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def update_models_config(export_base: str, model_name: str,
                         serving_base_path: str = "/models") -> str:
  """Adds or updates `model_name` in `export_base/models.config`.

  Args:
    export_base: the folder holding the model folders.
    model_name: the model; its `base_path` becomes
      `serving_base_path/model_name`.
    serving_base_path: where the server sees `export_base` (the Docker
      mount point, e.g. `/models`; or the real path for a local server).

  Returns:
    The path of models.config. Other models' entries are kept.
  """
  # pylint: disable=g-import-not-at-top
  from google.protobuf import text_format
  try:
    from tensorflow_serving.config import model_server_config_pb2
  except ImportError as error:
    raise ImportError(
        "Writing models.config needs tensorflow-serving-api: `pip install "
        "tensorflow-serving-api`.") from error
  check_model_name(model_name)
  if not serving_base_path or not serving_base_path.startswith("/"):
    raise ValueError(f"serving_base_path={serving_base_path!r} must be an "
                     "absolute path as the server sees it, e.g. '/models' "
                     "(the Docker mount of the export base).")
  os.makedirs(export_base, exist_ok=True)
  path = os.path.join(export_base, MODELS_CONFIG)
  with _locked(os.path.join(export_base, f".{MODELS_CONFIG}.lock")):
    config = model_server_config_pb2.ModelServerConfig()
    if os.path.exists(path):
      with open(path) as f:
        text = f.read()
      try:
        text_format.Parse(text, config)
      except text_format.ParseError as error:
        raise ValueError(f"{path} is not a valid ModelServerConfig text "
                         f"proto ({error}); fix or delete it.") from error
      if config.WhichOneof("config") == "custom_model_config":
        raise ValueError(f"{path} uses custom_model_config; tfgen only "
                         "writes model_config_list: edit it by hand.")
    entries = config.model_config_list.config
    entry = next((e for e in entries if e.name == model_name), None)
    if entry is None:
      entry = entries.add(name=model_name)
    entry.base_path = posixpath.join(serving_base_path, model_name)
    entry.model_platform = "tensorflow"
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
      f.write(text_format.MessageToString(config))
    os.replace(tmp, path)
  return path
