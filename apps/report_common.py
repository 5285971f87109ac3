"""What every `apps.report` experiment shares: training runs and their time.

`run_training` runs `python -m apps.train --flagfile=... --workdir=...` as a
subprocess (a no-op when the workdir already finished with the same
settings); `training_time_span` reads a workdir's training time from its
TensorBoard events, also for a reused workdir. No flags are defined here:
the experiments pass their settings in.
"""

from __future__ import annotations

import glob
import os
import shlex
import subprocess
import sys
import time
from typing import Optional, Sequence

from absl import app
from absl import flags

# Shared by the reports that use a trained multigrid model.
MULTIGRID_WORKDIR = flags.DEFINE_string(
    "multigrid_workdir", None, "A trained multigrid workdir (apps/configs/"
    "multigrid_digits.cfg). gran: Table 3 judges its samples (default: train "
    "one); ppgn: its inpainter runs on the PPGN report's masks (default: the "
    "scores in docs/report/report.json, which used the same masks).")

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "configs")
REPOSITORY_ROOT = os.path.dirname(os.path.dirname(CONFIG_DIR))


def log(message: str) -> None:
  print(f"[report {time.strftime('%H:%M:%S')}] {message}", flush=True)


def flagfile_value(path: str, name: str) -> Optional[str]:
  """The last `--name=value` of a flagfile (None when absent)."""
  value = None
  with open(path) as f:
    for line in f:
      line = line.strip()
      if line.startswith(f"--{name}="):
        value = line.split("=", 1)[1]
  return value


def run_training(name: str, flagfile: str, workdir: str, log_path: str,
                 extra_args: Sequence[str] = ()) -> dict:
  """Trains `workdir` with `flagfile` plus `extra_args` through apps.train.

  Args:
    name: what the run is called in messages (e.g. 'gran3' or 'cd1').
    flagfile: path of an apps/configs/*.cfg file.
    workdir: the run's workdir; a finished one with the same settings is
      reused (apps.train prints 'Already trained to step ...' and exits).
    log_path: apps.train's stdout and stderr go here.
    extra_args: more apps.train flags, after the flagfile (they win).

  Returns:
    {flagfile (relative to the repository), workdir, train_wall_s (this
    call's seconds), train_peak_rss_bytes (the apps.train process's peak
    resident memory), reused (bool), train_command}.

  Raises:
    app.UsageError: the flagfile is missing or apps.train failed (the
      message holds the end of its log).
  """
  if not os.path.isfile(flagfile):
    raise app.UsageError(f"The flagfile of {name!r}, {flagfile!r}, does not "
                         "exist.")
  workdir = os.path.abspath(workdir)
  # Relative to the repository root, where apps.train runs (below).
  args = [f"--flagfile={os.path.relpath(flagfile, REPOSITORY_ROOT)}",
          f"--workdir={workdir}", *extra_args]
  command = [sys.executable, "-m", "apps.train", *args]
  log(f"{name}: {' '.join(shlex.quote(a) for a in command[1:])} "
      f"(log: {log_path})")
  start = time.time()
  with open(log_path, "w") as out:
    # From the repository root: flagfiles name their parent flagfiles
    # relative to it (gran1_digits.cfg reads apps/configs/gran_digits.cfg).
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                               text=True, cwd=REPOSITORY_ROOT)
    try:
      # wait4: this child's own resource use (ru_maxrss in KiB on Linux).
      _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
      process.kill()
      process.wait()
      raise
    process.returncode = os.waitstatus_to_exitcode(status)
  wall = time.time() - start
  with open(log_path) as f:
    text = f.read()
  if process.returncode != 0:
    raise app.UsageError(
        f"Training {name!r} in {workdir!r} failed (exit "
        f"{process.returncode}); the end of {log_path}:\n{text[-3000:]}\nIf "
        "the workdir holds a run with other settings, pass another "
        "--workdir_root or delete it.")
  return dict(flagfile=os.path.relpath(flagfile, REPOSITORY_ROOT),
              workdir=workdir, train_wall_s=wall,
              train_peak_rss_bytes=int(usage.ru_maxrss) * 1024,
              reused="Already trained to step" in text,
              train_command="python -m apps.train " + " ".join(
                  shlex.quote(a) for a in args))


def training_time_span(workdir: str) -> Optional[float]:
  """Seconds of training recorded in WORKDIR/summaries (None if none).

  Per TensorBoard event file (one per apps.train run; a resumed run adds
  one), the time from its first to its last event, summed: the training
  time of the workdir even when a report reused it.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  total, found = 0.0, False
  pattern = os.path.join(workdir, "summaries", "events.out.tfevents.*")
  for path in sorted(glob.glob(pattern)):
    times = []
    try:
      for event in tf.compat.v1.train.summary_iterator(path):
        times.append(event.wall_time)
    except tf.errors.DataLossError:
      pass  # A file cut short by a killed run: keep what was read.
    if len(times) > 1:
      total, found = total + max(times) - min(times), True
  return total if found else None
