"""One trainer per workdir: `WORKDIR/trainer.lock`, held while training.

`acquire(workdir)` takes the lock or raises `WorkdirLocked` naming the
holder (host, PID, start time, heartbeat age); `WorkdirLock.release()` (or
process exit) gives it back. Under multi-worker training only the chief
takes it (the other workers write nothing into the workdir).

How it works, and what it guarantees:

* The lock is an exclusive `flock` on the file `trainer.lock`, whose text
  (JSON) names the holder. The kernel drops a `flock` when its process
  dies, even by kill -9, so on one host two trainers can never hold it at
  once, and a lock file left by a dead process is *stale*: the next
  trainer takes it over, with a warning naming the dead holder.
* A thread of the holder touches the file every `HEARTBEAT_S` seconds.
* On a shared filesystem (NFS), Linux maps `flock` to the server's byte-range
  locks (NLM / NFSv4), which exclude across hosts where the server supports
  locking. Where it does not (the lock fails, or is only host-local), the
  file's text still refuses a second trainer whose holder looks alive: the
  same host and a live PID (with the same process start time, so that a
  reused PID is not mistaken for it), or another host with a heartbeat
  younger than `STALE_AFTER_S`. A holder on another host that died is
  therefore taken over only after `STALE_AFTER_S`; and on a filesystem
  without working locks two trainers started within the same moment could
  both proceed (no atomic primitive is left there): use a local or
  lock-capable filesystem for workdirs.
* Within one process the lock is re-entrant (reference counted): several
  `Trainer`s of one workdir in one process share it, as the tests do.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import threading
import time
import weakref
from typing import Callable, Optional

from absl import logging

LOCK_FILE = "trainer.lock"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 120.0

Warn = Callable[[str], None]

_HELD: dict = {}  # realpath of the lock file -> WorkdirLock of this process.
_HELD_GUARD = threading.Lock()


class WorkdirLocked(ValueError):
  """Another trainer holds the workdir; `holder` is its lock record."""

  def __init__(self, message: str, holder: Optional[dict] = None):
    super().__init__(message)
    self.holder = holder or {}


def _process_start(pid: int) -> Optional[str]:
  """The kernel's start time of `pid` (Linux /proc), to tell reused PIDs."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[19]
  except (OSError, IndexError):
    return None


def _pid_alive(pid: int, start: Optional[str]) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    pass
  now = _process_start(pid)
  return start is None or now is None or now == start


def _record() -> dict:
  now = time.time()
  return {"host": socket.gethostname(), "pid": os.getpid(),
          "process_start": _process_start(os.getpid()),
          "started": time.strftime("%Y-%m-%d %H:%M:%S %Z",
                                   time.localtime(now)),
          "started_unix": now}


def _read(fd: int) -> Optional[dict]:
  os.lseek(fd, 0, os.SEEK_SET)
  text = b""
  while True:
    chunk = os.read(fd, 65536)
    if not chunk:
      break
    text += chunk
  if not text.strip():
    return None
  try:
    record = json.loads(text)
  except ValueError:
    return {"unreadable": text[:200].decode("utf-8", "replace")}
  return record if isinstance(record, dict) else {"unreadable": str(record)}


def describe(holder: dict, heartbeat_age: Optional[float] = None) -> str:
  if "unreadable" in holder:
    return f"an unknown process (lock text {holder['unreadable']!r})"
  text = (f"PID {holder.get('pid')} on host {holder.get('host')!r}, "
          f"started {holder.get('started')}")
  if heartbeat_age is not None:
    text += f", last heartbeat {heartbeat_age:.0f} s ago"
  return text


def _alive(holder: dict, heartbeat_age: float) -> bool:
  """Whether the process a lock record names may still be running."""
  if "unreadable" in holder or "pid" not in holder:
    return heartbeat_age < STALE_AFTER_S
  if holder.get("host") == socket.gethostname():
    return _pid_alive(int(holder["pid"]), holder.get("process_start"))
  return heartbeat_age < STALE_AFTER_S


class _Shared:
  """The flock of one lock file, shared by this process's holds."""

  def __init__(self, path: str, fd: int, record: dict):
    self.path, self._fd, self.record = path, fd, record
    self._count = 1
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._heartbeat, daemon=True,
                                    name="tfgen-workdir-lock")
    self._thread.start()

  def _heartbeat(self) -> None:
    while not self._stop.wait(HEARTBEAT_S):
      try:
        os.utime(self.path)
      except OSError:
        pass

  @property
  def held(self) -> bool:
    return self._fd is not None

  def release(self) -> None:
    with _HELD_GUARD:
      if self._fd is None:
        return
      self._count -= 1
      if self._count > 0:
        return
      _HELD.pop(self.path, None)
      self._stop.set()
      try:
        os.unlink(self.path)  # Still holding the flock: nobody reads it now.
      except OSError:
        pass
      try:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
      except OSError:
        pass
      os.close(self._fd)
      self._fd = None


class WorkdirLock:
  """One hold of a workdir's lock; `release()` it (idempotent)."""

  def __init__(self, shared: _Shared):
    self._shared = shared
    self.path, self.record = shared.path, shared.record

  @property
  def held(self) -> bool:
    return self._shared is not None

  def release(self) -> None:
    shared, self._shared = self._shared, None
    if shared is not None:
      shared.release()


def acquire(workdir: str, warn: Warn = logging.warning) -> WorkdirLock:
  """Takes the trainer lock of `workdir` (created if missing).

  Raises:
    WorkdirLocked: another live trainer holds it; the message names it.
    OSError: the workdir cannot be created or written.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.realpath(os.path.join(workdir, LOCK_FILE))
  with _HELD_GUARD:
    held = _HELD.get(path)
    if held is not None and held.held:
      held._count += 1  # pylint: disable=protected-access
      return WorkdirLock(held)
  for _ in range(10):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        holder = _read(fd) or {}
        age = time.time() - os.fstat(fd).st_mtime
        raise WorkdirLocked(_locked_message(workdir, path, holder, age),
                            holder) from None
      except OSError as error:
        if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
          raise
        logging.warning("%s: this filesystem has no file locks (%s); the "
                        "lock relies on its holder record only.", path, error)
      try:
        same = os.fstat(fd).st_ino == os.stat(path).st_ino
      except FileNotFoundError:
        same = False
      if not same:  # Released (unlinked) while we opened it: retry.
        os.close(fd)
        continue
      holder = _read(fd)
      age = time.time() - os.fstat(fd).st_mtime
      if holder and holder.get("pid") != os.getpid():
        if _alive(holder, age):  # The filesystem's lock did not exclude it.
          raise WorkdirLocked(_locked_message(workdir, path, holder, age),
                              holder)
        warn(f"Took over the stale lock {path!r} of {describe(holder, age)}, "
             "which is no longer running (killed?).")
      record = _record()
      os.ftruncate(fd, 0)
      os.lseek(fd, 0, os.SEEK_SET)
      os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
      os.fsync(fd)
    except BaseException:
      os.close(fd)
      raise
    shared = _Shared(path, fd, record)
    with _HELD_GUARD:
      _HELD[path] = shared
    return WorkdirLock(shared)
  raise WorkdirLocked(f"workdir={workdir!r}: could not take {path!r} (it "
                      "kept being released and re-created); retry.")


def _locked_message(workdir: str, path: str, holder: dict,
                    age: float) -> str:
  return (f"workdir={workdir!r} is in use by another trainer: "
          f"{describe(holder, age)} holds {path}. Wait for it to finish (or "
          "stop it: it saves a checkpoint on SIGTERM), then rerun the same "
          "command to resume; or use another --workdir.")


# ---- a Trainer's use --------------------------------------------------------
def _take(trainer) -> None:
  """Gives a chief `trainer` (with .workdir, .is_chief) its own hold."""
  if trainer.is_chief and trainer._lock is None:  # pylint: disable=protected-access
    hold = acquire(trainer.workdir)
    trainer._lock = hold  # pylint: disable=protected-access
    weakref.finalize(trainer, hold.release)  # A Trainer never run.


def _give_back(trainer) -> None:
  hold, trainer._lock = trainer._lock, None  # pylint: disable=protected-access
  if hold is not None:
    hold.release()


@contextlib.contextmanager
def opening(trainer, workdir: str):
  """Holds the lock while a Trainer sets up; a refusal leaves no trace.

  If the block raises, the lock is given back and a workdir that this
  call created is removed again (it is then empty).
  """
  created = not os.path.exists(workdir)
  _take(trainer)
  try:
    yield
  except BaseException:
    _give_back(trainer)
    if created:
      with contextlib.suppress(OSError):
        os.rmdir(workdir)
    raise


@contextlib.contextmanager
def holding(trainer):
  """Holds the lock during `Trainer.run`, gives it back at the end."""
  _take(trainer)
  try:
    yield
  finally:
    _give_back(trainer)
