"""tfgen.train.lock: one trainer per workdir, stale locks taken over.

Two `apps.train` processes on one workdir: the second is refused naming the
first (host, PID, start time) and leaves the workdir as it was; after the
first is killed (-9) its stale lock is taken over with a warning. Every
subprocess is killed by its PID when the test ends.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import support
from tfgen.train import lock as lock_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_train(workdir, *extra):
  env = dict(os.environ)
  env.pop("TF_CONFIG", None)
  return subprocess.Popen(
      [sys.executable, "-m", "apps.train", f"--workdir={workdir}",
       *support.TINY_MULTIGRID_FLAGS, *extra], cwd=REPO, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def dead_pid():
  process = subprocess.Popen([sys.executable, "-c", "pass"])
  process.wait()
  return process.pid


def write_lock(workdir, **record):
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, lock_lib.LOCK_FILE)
  with open(path, "w") as f:
    json.dump(record, f)
  return path


def test_a_second_trainer_is_refused_naming_the_holder_then_a_stale_lock_is_taken_over(
    tmp_path):
  workdir = str(tmp_path / "run")
  lock_path = os.path.join(workdir, lock_lib.LOCK_FILE)
  first = start_train(workdir, "--num_steps=100000", "--checkpoint_every=50",
                      "--sample_every=100000")
  try:
    deadline = time.time() + 180
    while not (os.path.exists(os.path.join(workdir, "config.json"))
               and os.path.exists(lock_path)):
      assert first.poll() is None, first.communicate()[1][-2000:]
      assert time.time() < deadline, "the first trainer did not start"
      time.sleep(0.1)
    with open(os.path.join(workdir, "config.json")) as f:
      config_before = f.read()
    second = start_train(workdir, "--num_steps=100001")
    try:
      _, err = second.communicate(timeout=240)
    finally:
      if second.poll() is None:
        second.kill()
    assert second.returncode == 1, err[-2000:]
    assert (f"is in use by another trainer: PID {first.pid} on host "
            f"{socket.gethostname()!r}, started ") in err, err[-2000:]
    assert "rerun the same command to resume" in err
    with open(os.path.join(workdir, "config.json")) as f:
      assert f.read() == config_before  # The refused run wrote nothing.
    assert first.poll() is None
  finally:
    if first.poll() is None:
      os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=60)
  assert os.path.exists(lock_path)  # kill -9 leaves the file: stale.
  third = start_train(workdir, "--num_steps=100000", "--checkpoint_every=50",
                      "--sample_every=100000", "--num_steps=1")
  try:
    _, err = third.communicate(timeout=240)
  finally:
    if third.poll() is None:
      third.kill()
  assert third.returncode == 0, err[-2000:]
  assert f"Took over the stale lock {lock_path!r} of PID {first.pid}" in err
  assert not os.path.exists(lock_path)  # Given back at the end.


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(
    tmp_path):
  workdir = str(tmp_path / "run")
  pid = dead_pid()
  write_lock(workdir, host=socket.gethostname(), pid=pid,
             started="2020-01-01 00:00:00 UTC")
  warnings = []
  hold = lock_lib.acquire(workdir, warn=warnings.append)
  try:
    assert len(warnings) == 1 and f"PID {pid} on host" in warnings[0]
    assert "no longer running" in warnings[0]
    with open(os.path.join(workdir, lock_lib.LOCK_FILE)) as f:
      assert json.load(f)["pid"] == os.getpid()
  finally:
    hold.release()
  assert not os.path.exists(os.path.join(workdir, lock_lib.LOCK_FILE))


def test_a_live_holder_on_another_host_is_refused_until_its_heartbeat_is_stale(
    tmp_path):
  workdir = str(tmp_path / "run")
  path = write_lock(workdir, host="other-host", pid=1,
                    started="2020-01-01 00:00:00 UTC")
  with pytest.raises(lock_lib.WorkdirLocked,
                     match=r"in use by another trainer: PID 1 on host "
                     r"'other-host', started 2020-01-01 00:00:00 UTC, last "
                     r"heartbeat \d+ s ago"):
    lock_lib.acquire(workdir)
  old = time.time() - lock_lib.STALE_AFTER_S - 10
  os.utime(path, (old, old))
  warnings = []
  lock_lib.acquire(workdir, warn=warnings.append).release()
  assert "Took over the stale lock" in warnings[0]


def test_the_lock_is_reentrant_within_a_process_and_released_by_the_last_hold(
    tmp_path):
  workdir = str(tmp_path / "run")
  first = lock_lib.acquire(workdir)
  second = lock_lib.acquire(workdir)
  path = os.path.join(workdir, lock_lib.LOCK_FILE)
  first.release()
  first.release()  # Idempotent.
  assert os.path.exists(path)
  second.release()
  assert not os.path.exists(path)


def tiny_config(num_steps=2):
  from tfgen import config as config_lib  # pylint: disable=g-import-not-at-top
  return config_lib.ExperimentConfig(
      data=config_lib.DataConfig(dataset="digits", image_size=8),
      model=config_lib.MultigridConfig(
          grid_sizes=(1, 4, 8), num_langevin_steps=(2,), net_width=0.125,
          start_bank_size=16),
      train=config_lib.TrainConfig(num_steps=num_steps, batch_size=8,
                                   sample_every=100, num_sample_images=4))


def test_a_refused_trainer_leaves_the_workdir_exactly_as_it_was(tmp_path):
  from tfgen.train import loop  # pylint: disable=g-import-not-at-top
  from tfgen.train import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / "run")
  loop.Trainer(tiny_config(), workdir, printer=lambda _: None).run()
  assert not os.path.exists(os.path.join(workdir, lock_lib.LOCK_FILE))
  directory = os.path.join(workdir, "checkpoints")
  for name in os.listdir(directory):
    if ".data-" in name:
      with open(os.path.join(directory, name), "r+b") as f:
        f.truncate(10)

  def snapshot():
    found = {}
    for root, _, names in os.walk(workdir):
      for name in names:
        with open(os.path.join(root, name), "rb") as f:
          found[os.path.relpath(os.path.join(root, name), workdir)] = f.read()
    return found

  before = snapshot()
  with pytest.raises(workdir_lib.CheckpointError):
    loop.Trainer(tiny_config(num_steps=5), workdir, printer=lambda _: None)
  assert snapshot() == before  # num_steps in config.json not rewritten.
  # A new workdir refused in the same way is not left behind either.
  fresh = str(tmp_path / "fresh")
  os.makedirs(os.path.join(fresh, "checkpoints"))
  with open(os.path.join(fresh, "checkpoints", "ckpt-1.index"), "wb") as f:
    f.write(b"garbage")
  with pytest.raises(workdir_lib.CheckpointError):
    loop.Trainer(tiny_config(), fresh, printer=lambda _: None)
  assert os.listdir(fresh) == ["checkpoints"]


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
