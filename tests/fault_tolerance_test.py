"""Faults during training: kill -9, SIGTERM, damaged checkpoints, divergence.

* kill -9 at a random point, then the same command: it resumes from the last
  checkpoint and its final checkpoint equals, bitwise, an uninterrupted
  run's (initial weights, data order and noise are functions of the seed and
  the step).
* SIGTERM: the run finishes its step, saves and exits with 143.
* A save killed half-way (files of ckpt-N without a state-file update), a
  truncated data file, a truncated or empty state file: restore falls back
  to the newest checkpoint that restores, with a logged warning.
* --on_divergence=stop|restore with an exploding step size and with a
  fixture that reports NaN until the back-off takes effect.

Every subprocess runs under a timeout and is killed by its PID.
"""

import dataclasses
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

from absl import logging
import numpy as np
import pytest
import tensorflow as tf

import support
from tfgen import config as config_lib
from tfgen.train import checkpoints
from tfgen.train import loop
from tfgen.train import workdir as workdir_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [*support.TINY_MULTIGRID_FLAGS, "--summary_every=5"]


def tiny_config(model=None, **train_overrides):
  train = dict(num_steps=4, batch_size=8, checkpoint_every=2, summary_every=1,
               sample_every=100, num_sample_images=4, learning_rate=1e-3)
  train.update(train_overrides)
  return config_lib.ExperimentConfig(
      data=config_lib.DataConfig(dataset="digits", image_size=8),
      model=config_lib.MultigridConfig(
          grid_sizes=(1, 4, 8), num_langevin_steps=(2,), net_width=0.125,
          start_bank_size=16, **(model or {})),
      train=config_lib.TrainConfig(**train))


def checkpoint_values(path):
  """{name: array} of a checkpoint, without its save counter."""
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if "save_counter" not in name and not name.startswith("_")}


def wait_for_checkpoint(process, workdir, deadline_s=180):
  deadline = time.time() + deadline_s
  while not glob.glob(os.path.join(workdir, "checkpoints", "ckpt-*.index")):
    assert process.poll() is None, process.communicate()[1][-2000:]
    assert time.time() < deadline, f"no checkpoint within {deadline_s} s"
    time.sleep(0.05)


def start_app(*args):
  return subprocess.Popen([sys.executable, "-m", "apps.train", *args],
                          cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def finish(process, timeout=120):
  try:
    return process.communicate(timeout=timeout)
  finally:
    if process.poll() is None:
      process.kill()  # By PID.
      process.wait(timeout=30)


# ---- kill -9 and SIGTERM ------------------------------------------------------


def test_kill_9_then_rerun_resumes_and_equals_an_uninterrupted_run(tmp_path):
  workdir = str(tmp_path / "killed")
  args = TINY + ["--num_steps=300", "--checkpoint_every=10",
                 "--sample_every=300", f"--workdir={workdir}"]
  process = start_app(*args)
  try:
    wait_for_checkpoint(process, workdir)
    delay = random.uniform(0.0, 0.5)
    time.sleep(delay)
    assert process.poll() is None, "finished before the kill; raise num_steps"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
  finally:
    finish(process)
  assert process.returncode == -signal.SIGKILL
  last = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  killed_at = checkpoints.number(last)
  assert 10 <= killed_at < 300, (delay, last)
  rerun = support.run_module("apps.train", *args, timeout=240)
  assert rerun.returncode == 0, rerun.stderr[-2000:]
  assert f"Resuming from {last} at step {killed_at}." in rerun.stdout
  assert "at step 300" in rerun.stdout

  # The same command, never interrupted (in this process).
  config = workdir_lib.read_config(workdir)
  reference = str(tmp_path / "uninterrupted")
  loop.Trainer(config, reference, printer=lambda _: None).run()
  resumed = checkpoint_values(os.path.join(workdir, "checkpoints",
                                           "ckpt-300"))
  expected = checkpoint_values(os.path.join(reference, "checkpoints",
                                            "ckpt-300"))
  assert sorted(resumed) == sorted(expected)
  assert any("optimizer" in name for name in expected)
  for name, value in expected.items():
    np.testing.assert_array_equal(resumed[name], value, err_msg=(
        f"{name} differs after a kill -9 {delay:.2f} s after the first "
        f"checkpoint (resumed from step {killed_at})"))


def test_sigterm_saves_at_the_next_step_and_exits_143(tmp_path):
  workdir = str(tmp_path / "run")
  process = start_app(*TINY, "--num_steps=100000", "--checkpoint_every=7",
                      "--sample_every=100000", f"--workdir={workdir}")
  try:
    wait_for_checkpoint(process, workdir)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
  finally:
    finish(process)
  assert process.returncode == 143, err[-2000:]
  assert "Stopped by SIGTERM after step" in out
  step = int(out.split("Stopped by SIGTERM after step ")[1].split(" ")[0])
  latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  assert checkpoints.number(latest) == step >= 7
  # Saved then, or already by the periodic save when `step` is a multiple of
  # --checkpoint_every=7; the message names it in both cases.
  assert f"(checkpoint {latest})" in out, out


@pytest.mark.parametrize("stop_at", [2, 3])  # On a checkpoint step, and off.
def test_a_stop_names_the_checkpoint_to_resume_from(tmp_path, stop_at):
  workdir = str(tmp_path / "run")
  printed = []
  trainer = loop.Trainer(tiny_config(num_steps=100), workdir,
                         printer=printed.append)

  def send_sigterm(step, _):
    if step == stop_at:
      os.kill(os.getpid(), signal.SIGTERM)

  trainer.on_step = send_sigterm
  trainer.run()
  latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  assert trainer.stopped_by == "SIGTERM"
  assert checkpoints.number(latest) == stop_at + 1  # Finishes its step.
  assert printed[-1] == (f"Stopped by SIGTERM after step {stop_at + 1} "
                         f"(checkpoint {latest}); rerun the same command to "
                         "resume."), printed


# ---- damaged checkpoints ------------------------------------------------------


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("trained") / "run")
  loop.Trainer(tiny_config(), workdir, printer=lambda _: None).run()
  directory = os.path.join(workdir, "checkpoints")
  return workdir, {
      step: checkpoint_values(os.path.join(directory, f"ckpt-{step}"))
      for step in (2, 4)}


@pytest.fixture
def trained(trained_once, tmp_path):
  """A copy of a workdir trained to step 4, checkpoints at steps 2 and 4."""
  original, values = trained_once
  workdir = str(tmp_path / "run")
  shutil.copytree(original, workdir)
  return workdir, os.path.join(workdir, "checkpoints"), values


def assert_restored(workdir, values, step):
  """A new Trainer on `workdir` starts at `step` holding exactly `values`."""
  trainer = loop.Trainer(tiny_config(num_steps=6), workdir,
                         printer=lambda _: None)
  assert trainer.step == step
  path = trainer.checkpoint.write(os.path.join(workdir, "compare", "ckpt"))
  saved = checkpoint_values(path)
  assert sorted(saved) == sorted(values)
  for name, value in saved.items():
    np.testing.assert_array_equal(value, values[name], err_msg=name)
  return trainer


def test_save_killed_before_the_state_file_update_resumes_the_previous(
    trained, caplog):
  workdir, directory, values = trained
  # A save of step 6 killed half-way: its files exist (one truncated), the
  # state file still names ckpt-4.
  shutil.copy(os.path.join(directory, "ckpt-4.index"),
              os.path.join(directory, "ckpt-6.index"))
  with open(os.path.join(directory, "ckpt-6.data-00000-of-00001"), "wb") as f:
    f.write(b"\0" * 10)
  trainer = assert_restored(workdir, values[4], 4)
  trainer.run()
  assert trainer.step == 6
  assert checkpoint_values(os.path.join(directory, "ckpt-6"))  # Rewritten.


def test_truncated_newest_checkpoint_falls_back_with_a_warning(
    trained, caplog):
  workdir, directory, values = trained
  with open(os.path.join(directory, "ckpt-4.data-00000-of-00001"),
            "r+b") as f:
    f.truncate(10)
  with caplog.at_level(logging.WARNING):
    trainer = assert_restored(workdir, values[2], 2)
  assert "ckpt-4' cannot be restored" in caplog.text
  assert "Falling back to the previous checkpoint" in caplog.text
  # The state file now names ckpt-2, so a later run does not retry ckpt-4.
  assert tf.train.latest_checkpoint(directory).endswith("ckpt-2")
  trainer.run()
  assert tf.train.latest_checkpoint(directory).endswith("ckpt-6")


def test_newest_checkpoint_damaged_twice_still_restores_the_next_good_one(
    trained, caplog):
  workdir, directory, values = trained

  def damage_newest():
    with open(os.path.join(directory, "ckpt-4.data-00000-of-00001"),
              "r+b") as f:
      f.truncate(10)

  damage_newest()
  # Falls back to ckpt-2, trains steps 3 and 4 again, saves ckpt-4.
  trainer = loop.Trainer(tiny_config(), workdir, printer=lambda _: None)
  assert trainer.step == 2
  trainer.run()
  state = tf.train.get_checkpoint_state(directory)
  assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
      "ckpt-2", "ckpt-4"]
  assert len(state.all_model_checkpoint_timestamps) == 2
  damage_newest()
  with caplog.at_level(logging.WARNING):
    model, _, step = workdir_lib.load_model(workdir)  # What apps.sample does.
  assert step == 2
  assert "Falling back to the previous checkpoint" in caplog.text
  assert "delete the checkpoints/" not in caplog.text
  del model


@pytest.mark.parametrize("state_text", [
    'model_checkpoint_path: "ckpt-4"\nall_model_checkpoint_paths: "ckp',
    "",
])
def test_truncated_or_empty_state_file_uses_the_checkpoints_on_disk(
    trained, caplog, state_text):
  workdir, directory, values = trained
  with open(os.path.join(directory, "checkpoint"), "w") as f:
    f.write(state_text)
  with caplog.at_level(logging.WARNING):
    assert_restored(workdir, values[4], 4)
  assert "is unreadable" in caplog.text
  assert tf.train.latest_checkpoint(directory).endswith("ckpt-4")


def test_checkpoint_without_training_state_restores_with_defaults(trained):
  workdir, directory, values = trained
  # As written before checkpoints held the divergence back-off state.
  trainer = loop.Trainer(tiny_config(), workdir, printer=lambda _: None)
  for path in glob.glob(os.path.join(directory, "ckpt-*")):
    os.remove(path)
  os.remove(os.path.join(directory, "checkpoint"))
  tf.train.CheckpointManager(
      tf.train.Checkpoint(model=trainer.model,
                          optimizer=trainer.model.optimizer),
      directory, max_to_keep=3).save(checkpoint_number=4)
  resumed = loop.Trainer(tiny_config(num_steps=5), workdir,
                         printer=lambda _: None)
  assert resumed.step == 4
  assert float(resumed.training_state.step_size_scale.numpy()) == 1.0
  resumed.run()
  assert resumed.step == 5


def test_no_checkpoint_restores_names_the_newest_and_the_fix(trained):
  workdir, directory, _ = trained
  for path in glob.glob(os.path.join(directory, "*.data-*")):
    with open(path, "r+b") as f:
      f.truncate(10)
  with pytest.raises(workdir_lib.CheckpointError,
                     match=r"ckpt-4' cannot be restored.*No older checkpoint"):
    loop.Trainer(tiny_config(), workdir, printer=lambda _: None)


# ---- divergence ---------------------------------------------------------------


EXPLODING = dict(step_size=(1e10,), clip_samples=False)


def test_exploding_step_size_stops_naming_step_grid_and_quantity(tmp_path):
  trainer = loop.Trainer(tiny_config(EXPLODING), str(tmp_path / "run"),
                         printer=lambda _: None)
  with pytest.raises(loop.DivergenceError,
                     match=r"diverged at step 1: grid 4x4 first \(.*"
                     r"loss/grid4=nan.*sample_abs_max/grid4=inf"):
    trainer.run()
  assert not glob.glob(str(tmp_path / "run" / "checkpoints" / "ckpt-*"))


def test_restore_gives_up_after_max_divergence_retries(tmp_path):
  lines = []
  trainer = loop.Trainer(
      tiny_config(EXPLODING, on_divergence="restore",
                  max_divergence_retries=2),
      str(tmp_path / "run"), printer=lines.append)
  with pytest.raises(loop.DivergenceError,
                     match=r"Gave up after 2 restores \(--max_divergence_"
                     r"retries=2; step_size is now \[2500000000.0, "):
    trainer.run()
  assert sum("halved step_size" in line for line in lines) == 2


def nan_until(trainer, diverges):
  """Makes the model report loss/grid8=NaN while `diverges()` holds.

  `diverges` is evaluated when the step is traced (step size) or inside it
  (a tensor condition), like a real divergence that a smaller step size or
  learning rate avoids.
  """
  train_step = trainer.model.train_step

  def step(data):
    metrics = dict(train_step(data))
    condition = diverges()
    if condition is not False:
      metrics["loss/grid8"] = tf.where(condition, np.nan,
                                       metrics["loss/grid8"])
    return metrics

  trainer.model.train_step = step


def test_restore_halves_the_step_size_retraces_and_a_resume_keeps_it(
    tmp_path):
  workdir = str(tmp_path / "run")
  config = tiny_config(on_divergence="restore", num_steps=5)
  lines = []
  trainer = loop.Trainer(config, workdir, printer=lines.append)
  model = trainer.model
  # Diverges from step 3 on while the step size exceeds 0.2 (at tracing).
  nan_until(trainer, lambda: model.step_size[0] > 0.2 and (
      model.optimizer.iterations >= 3))
  trainer.run()
  assert trainer.step == 5
  assert [line for line in lines if "WARNING" in line] == [
      f"WARNING: Training diverged at step 3: grid 8x8 first (loss/grid8=nan"
      f"). Restored {workdir}/checkpoints/ckpt-2 (step 2) and halved "
      "step_size to [0.15, 0.15] (retry 1 of --max_divergence_retries=3); "
      "it is saved with the next checkpoint."]
  values = checkpoint_values(os.path.join(workdir, "checkpoints", "ckpt-5"))
  assert values["training/step_size_scale/.ATTRIBUTES/VARIABLE_VALUE"] == 0.5
  assert values["training/divergences/.ATTRIBUTES/VARIABLE_VALUE"] == 1
  resumed = loop.Trainer(dataclasses.replace(config, train=dataclasses.replace(
      config.train, num_steps=6)), workdir, printer=lines.append)
  assert resumed.model.step_size == (0.15, 0.15)
  assert "Using the backed-off step_size=[0.15, 0.15]" in lines[-1]
  model, _, _ = workdir_lib.load_model(workdir)
  assert model.step_size == (0.15, 0.15)


@pytest.mark.parametrize("flag", ["step_size", "learning_rate"])
def test_following_the_divergence_advice_finishes(tmp_path, flag):
  workdir = str(tmp_path / "run")
  config = tiny_config(num_steps=5)
  trainer = loop.Trainer(config, workdir, printer=lambda _: None)
  model, optimizer = trainer.model, trainer.model.optimizer
  # From step 3 on it diverges while step size (learning rate) is too high.
  too_high = ((lambda: model.step_size[0] > 0.2) if flag == "step_size"
              else (lambda: optimizer.learning_rate > 6e-4))
  nan_until(trainer, lambda: too_high() and (
      model.optimizer.iterations >= 3))
  with pytest.raises(loop.DivergenceError) as raised:
    trainer.run()
  advice = re.search(r"To resume from it, rerun the same command with "
                     r"--step_size=(\S+) \(half the configured value\) or "
                     r"--learning_rate=(\S+);", str(raised.value))
  assert advice, str(raised.value)
  assert advice.groups() == ("0.15", "0.0005")
  # The rerun with the printed flag (apps.train turns it into this config).
  if flag == "step_size":
    followed = dataclasses.replace(config, model=dataclasses.replace(
        config.model, step_size=(float(advice.group(1)),)))
  else:
    followed = dataclasses.replace(config, train=dataclasses.replace(
        config.train, learning_rate=float(advice.group(2))))
  resumed = loop.Trainer(followed, workdir, printer=lambda _: None)
  assert resumed.step == 2
  model, optimizer = resumed.model, resumed.model.optimizer
  nan_until(resumed, lambda: too_high() and (
      model.optimizer.iterations >= 3))
  resumed.run()
  assert resumed.step == 5
  with open(os.path.join(workdir, "config.json")) as f:
    history = json.load(f)["history"]
  assert list(history[-1]["changed"]) == [
      "model.step_size" if flag == "step_size" else "train.learning_rate"]


def test_restore_halves_the_learning_rate_before_the_first_checkpoint(
    tmp_path):
  workdir = str(tmp_path / "run")
  config = tiny_config(on_divergence="restore",
                       divergence_backoff="learning_rate", num_steps=3,
                       checkpoint_every=100)
  trainer = loop.Trainer(config, workdir, printer=lambda _: None)
  optimizer = trainer.model.optimizer
  nan_until(trainer, lambda: optimizer.learning_rate > 6e-4)
  trainer.run()
  assert trainer.step == 3
  assert trainer.model.step_size == (0.3, 0.3)
  values = checkpoint_values(os.path.join(workdir, "checkpoints", "ckpt-3"))
  assert values["training/learning_rate_scale/.ATTRIBUTES/VARIABLE_VALUE"] == (
      0.5)
  assert values["optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE"] == (
      pytest.approx(5e-4))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
