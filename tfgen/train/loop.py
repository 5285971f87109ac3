"""The distributed training loop shared by every family.

`Trainer(config, workdir).run()` builds the model under a `tf.distribute`
strategy ('default', 'mirrored' or 'multi_worker'), resumes from the newest
checkpoint of the workdir that restores, runs the family's per-replica
`train_step` under `strategy.run` on batches whose order is a pure function
of (seed, step) (`tfgen.train.input`), and writes checkpoints, TensorBoard
summaries and PNG sample grids. Under 'multi_worker' only the chief writes
the workdir; the other workers save into a scratch folder that is removed.

Faults: SIGTERM or Ctrl-C stops at the next step boundary with a checkpoint
(`tfgen.train.signals`); any other exit saves too, except a divergence. A
NaN/inf metric either stops training with the step and the quantities named
(`on_divergence='stop'`), or restores the last good checkpoint, halves the
step size or the learning rate (recorded in the checkpoint) and goes on
(`'restore'`, at most `max_divergence_retries` times per run).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from typing import Callable, Optional

from absl import logging
import tensorflow as tf

from tfgen import config as config_lib
from tfgen import data
from tfgen import families
from tfgen.train import checkpoints
from tfgen.train import input as input_lib
from tfgen.train import lock as lock_lib
from tfgen.train import preflight
from tfgen.train import signals
from tfgen.train import strategy as strategy_lib
from tfgen.train import workdir as workdir_lib
from tfgen.vis import grid as grid_lib

_STOP = "_stop_requests"  # Summed over replicas inside the step.


class DivergenceError(RuntimeError):
  """A training quantity became NaN or infinite."""


def find_divergence(metrics: dict, info: Optional[dict] = None
                    ) -> Optional[str]:
  """Names the non-finite metrics (e.g. 'loss/grid16=nan'), or None.

  `info` ({name: `MetricInfo`}, the model's `metric_info()`) gives each
  metric's scale: the message then starts with the coarsest grid / level /
  first canvas step that diverged, where the trouble began (finer scales
  start from its output).
  """
  bad = [(name, value) for name, value in sorted(metrics.items())
         if not math.isfinite(value)]
  if not bad:
    return None
  listed = ", ".join(f"{name}={value}" for name, value in bad)
  scaled = [(info or {}).get(name) for name, _ in bad]
  scaled = sorted((i.scale_kind, i.scale) for i in scaled
                  if i is not None and i.scale_kind and i.scale is not None)
  if scaled:
    kind, scale = min(scaled, key=lambda pair: pair[1])
    where = f"{scale}x{scale}" if kind in ("grid", "level") else str(scale)
    return f"{kind.replace('_', ' ')} {where} first ({listed})"
  return listed


class Progress:
  """One-line progress: step, steps/s, ETA and a few metrics."""

  def __init__(self, start_step: int, num_steps: int, every: int = 10,
               printer: Callable[[str], None] = print,
               shown: Optional[set] = None):
    self.start_step, self.num_steps, self.every = start_step, num_steps, every
    self.shown = shown
    self.start_time = time.time()
    self.printer = printer

  def update(self, step: int, metrics: dict) -> None:
    if step % self.every and step != self.num_steps:
      return
    done = step - self.start_step
    elapsed = max(time.time() - self.start_time, 1e-9)
    rate = done / elapsed
    eta = (self.num_steps - step) / rate if rate > 0 else float("inf")
    width = 30
    filled = int(width * step / max(self.num_steps, 1))
    shown = " ".join(f"{k}={v:.3g}" for k, v in sorted(metrics.items())
                     if self.shown is None or k in self.shown)
    self.printer(f"[{'=' * filled}{'.' * (width - filled)}] {step}/"
                 f"{self.num_steps} {rate:.2f} steps/s ETA {eta:.0f}s {shown}")


class Trainer:
  """Trains `config` in `workdir`; rerunning resumes at the saved step.

  Args:
    config: the experiment (validated against the strategy's replicas).
    workdir: the run's directory (see `tfgen.train.workdir`).
    strategy: a `tf.distribute.Strategy` (default: `config.train.strategy`).
    printer: where progress and notes go.
    on_step: optional `(step, metrics)` callback after every finite step.
    handle_signals: stop cleanly on SIGTERM / SIGINT during `run`.

  After `run`, `stopped_by` names the signal that stopped it ('SIGTERM',
  'SIGINT', 'peer' for another worker's), or is None.
  """

  def __init__(self, config: config_lib.ExperimentConfig, workdir: str,
               strategy: Optional[tf.distribute.Strategy] = None,
               printer: Callable[[str], None] = print,
               on_step: Optional[Callable[[int, dict], None]] = None,
               handle_signals: bool = True):
    self.strategy = strategy or strategy_lib.make_strategy(
        config.train.strategy)
    self.config = config.validate(self.strategy.num_replicas_in_sync)
    self.workdir = workdir
    self.printer = printer
    self.on_step = on_step
    self.handle_signals = handle_signals
    self.is_chief = strategy_lib.is_chief(self.strategy)
    # Refusals come before anything is written (config.json only once the
    # checkpoint restored); the chief holds the workdir's lock while training.
    preflight.check_run(self.config, workdir, write=self.is_chief)
    workdir_lib.prepare(workdir, self.config, write=False)
    self._lock = None
    with lock_lib.opening(self, workdir):
      self._open(workdir)

  def _open(self, workdir: str) -> None:
    """Builds the model, restores the newest checkpoint, writes config.json."""
    self.paths = workdir_lib.paths(workdir)
    self.family = families.get(self.config.family)
    with self.strategy.scope():
      self.model = workdir_lib.build_model(self.config)
      # The step counter is the Trainer's: saved in every checkpoint,
      # advanced once per global step (`_make_step_fn`).
      self.step_counter = checkpoints.make_step_counter()
    self.model.attach_step_counter(self.step_counter)
    self.checkpoint = checkpoints.make_checkpoint(
        self.model.checkpoint_objects(), self.step_counter)
    self.training_state = self.checkpoint.training
    self.restored_from = checkpoints.restore(self.checkpoint,
                                             self.paths["checkpoints"])
    workdir_lib.prepare(workdir, self.config, write=self.is_chief)
    self.manager = None
    if self.is_chief:
      self.manager = checkpoints.make_manager(
          self.checkpoint, self.paths["checkpoints"],
          self.config.train.max_checkpoints, self.restored_from)
      self.writer = tf.summary.create_file_writer(self.paths["summaries"])
    else:
      self.writer = tf.summary.create_noop_writer()
    workdir_lib.apply_training_state(self.model, self.config,
                                     self.training_state)
    if float(self.training_state.step_size_scale.numpy()) != 1.0 or float(
        self.training_state.learning_rate_scale.numpy()) != 1.0:
      settings = self.model.backoff_settings()
      self.printer(
          f"Using the backed-off step_size={settings.get('step_size', [])} "
          f"and learning_rate={settings.get('learning_rate', 0.0):.3g} "
          "recorded in the checkpoint (divergence back-off).")
    self._step_fn = None
    self._saved_step = self.step  # Saved, or the empty start.
    self.stopped_by: Optional[str] = None


  @property
  def step(self) -> int:
    return int(self.step_counter.numpy())

  def dataset(self) -> tf.data.Dataset:
    """Global batches from the current step (see `tfgen.train.input`)."""
    return input_lib.global_batches(self.config, self.step)

  def _make_step_fn(self):
    strategy, model, counter = self.strategy, self.model, self.step_counter

    def step_fn(iterator, stop_flag):
      per_replica = strategy.run(model.train_step, args=(next(iterator),))
      counter.assign_add(1)
      metrics = {name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value,
                                       axis=None)
                 for name, value in per_replica.items()}
      metrics[_STOP] = strategy.reduce(
          tf.distribute.ReduceOp.SUM,
          strategy.run(tf.identity, args=(stop_flag,)), axis=None)
      return metrics

    return tf.function(step_fn, jit_compile=False)

  def _iterator(self):
    return iter(input_lib.distributed_batches(self.strategy, self.config,
                                              self.step))

  def save(self) -> Optional[str]:
    """Saves at the current step (every worker must call it).

    The chief writes the workdir's checkpoint; other workers write the same
    checkpoint into a scratch folder that is removed at once (saving may
    need every worker's participation).
    """
    self._saved_step = self.step
    if self.is_chief:
      return self.manager.save(checkpoint_number=self.step)
    scratch = tempfile.mkdtemp(
        prefix=f"tfgen-worker{strategy_lib.task_id(self.strategy)}-")
    try:
      self.checkpoint.write(os.path.join(scratch, "ckpt"))
    finally:
      shutil.rmtree(scratch, ignore_errors=True)
    return None

  def write_samples(self, step: int) -> None:
    """PNG grids and TensorBoard images of every grid (chief only)."""
    if not self.is_chief:
      return
    c = self.config.train
    images = self.model.sample(c.num_sample_images, seed=(c.seed, step))
    with self.writer.as_default(step=step):
      for name, scale_images in zip(self.model.sample_names(), images):
        unit = (scale_images.numpy() + 1.0) / 2.0
        tf.summary.image(f"samples/{name}", unit, max_outputs=8)
        grid_lib.save_png(
            unit, os.path.join(self.paths["samples"],
                               f"step{step:07d}_{name}.png"))

  def _recover(self, step: int, bad: str, retry: int, snapshot: Optional[str]
               ) -> None:
    """Restores the last good checkpoint and halves the back-off setting."""
    c = self.config.train
    state = self.training_state
    scales = {"step_size": float(state.step_size_scale.numpy()) / 2,
              "learning_rate": float(state.learning_rate_scale.numpy()) / 2}
    divergences = int(state.divergences.numpy()) + 1
    path = checkpoints.restore(self.checkpoint, self.paths["checkpoints"])
    if path is None:  # Diverged before the first checkpoint.
      checkpoints.restore_path(self.checkpoint, snapshot)
      path = "the start of this run"
    self._saved_step = self.step
    backoff = c.divergence_backoff
    if backoff == "step_size":
      state.step_size_scale.assign(scales["step_size"])
    else:
      state.learning_rate_scale.assign(scales["learning_rate"])
    state.divergences.assign(divergences)
    workdir_lib.apply_training_state(self.model, self.config, state)
    self._step_fn = self._make_step_fn()  # Retrace: new step size.
    value = self.model.backoff_settings().get(backoff)
    message = (f"Training diverged at step {step}: {bad}. Restored {path} "
               f"(step {self.step}) and halved {backoff} to {value} (retry "
               f"{retry} of --max_divergence_retries={c.max_divergence_retries}"
               "); it is saved with the next checkpoint.")
    logging.warning(message)
    self.printer("WARNING: " + message)

  def _diverged(self, step: int, bad: str, retries: int) -> DivergenceError:
    c = self.config.train
    last = checkpoints.candidates(self.paths["checkpoints"])
    last = repr(last[0]) if last else "none was written yet"
    settings = self.model.backoff_settings()
    # Settings a rerun may change (config.RESUMABLE_FIELDS): half the
    # configured values; the checkpoint's back-off factors still apply.
    rate = f"--learning_rate={c.learning_rate / 2:.3g}"
    if self.family.has("step_size_backoff"):
      step_size = ",".join(f"{v / 2:.6g}" for v in self.config.model.step_size)
      fix = (f"rerun the same command with --step_size={step_size} (half the "
             "configured value) or "
             f"{rate}; both may change when a run is resumed (config.json "
             "records the change in its history)")
    else:
      fix = (f"rerun the same command with {rate} (half the configured "
             "value), which may change when a run is resumed (config.json "
             "records the change in its history)")
    resume = ("To resume from it, " if last != "none was written yet"
              else "To start again, ")
    if c.on_divergence == "restore":
      return DivergenceError(
          f"Training diverged at step {step}: {bad}. Gave up after {retries} "
          f"restores (--max_divergence_retries={c.max_divergence_retries}; "
          f"step_size is now {settings.get('step_size', [])}, learning_rate "
          f"{settings.get('learning_rate', 0.0):.3g}). Nothing was "
          f"saved after the last good checkpoint ({last}). {resume}{fix}; "
          "or raise --max_divergence_retries.")
    if not self.family.has("step_size_backoff"):  # E.g. a GAN.
      return DivergenceError(
          f"Training diverged at step {step}: {bad}. Nothing was saved "
          f"after the last good checkpoint ({last}). {resume}{fix}; or "
          "pass --on_divergence=restore --divergence_backoff=learning_rate "
          "to back off automatically.")
    return DivergenceError(
        f"Training diverged at step {step}: {bad}. Nothing was saved "
        f"after the last good checkpoint ({last}). {resume}{fix}; or pass "
        "--on_divergence=restore to back off automatically.")

  def run(self) -> dict:
    """Trains to `config.train.num_steps`; returns the last metrics."""
    with lock_lib.holding(self):
      return self._run()

  def _run(self) -> dict:
    c = self.config.train
    start = self.step
    if self.restored_from:
      self.printer(f"Resuming from {self.restored_from} at step {start}.")
    if start >= c.num_steps:
      self.printer(f"Already trained to step {start} >= num_steps="
                   f"{c.num_steps}; nothing to do.")
      return {}
    if self.model.needs_adapt:
      images, labels = data.arrays(
          self.config.data.dataset, "train", self.config.data.image_size,
          max_examples=self.model.num_adapt_examples,
          data_dir=self.config.data.data_dir,
          download=self.config.data.download)
      self.model.adapt(images, labels=labels)
    snapshot_dir = None
    snapshot = None
    if c.on_divergence == "restore" and self.restored_from is None and (
        c.max_divergence_retries > 0):
      # The state to return to if training diverges before a checkpoint.
      snapshot_dir = tempfile.mkdtemp(prefix="tfgen-start-")
      snapshot = self.checkpoint.write(os.path.join(snapshot_dir, "start"))
    self._step_fn = self._step_fn or self._make_step_fn()
    info = self.model.metric_info()
    progress = Progress(start, c.num_steps, printer=self.printer,
                        shown={name for name, i in info.items() if i.show})
    metrics = {}
    diverged = False
    retries = 0
    stop = signals.StopRequest(self.handle_signals)
    try:
      with stop:
        iterator = self._iterator()
        step = start
        while step < c.num_steps:
          metrics = {k: float(v) for k, v in
                     self._step_fn(iterator, stop.flag()).items()}
          step += 1
          stop_requests = metrics.pop(_STOP)
          bad = find_divergence(metrics, info)
          if bad:
            if c.on_divergence == "restore" and (
                retries < c.max_divergence_retries):
              retries += 1
              self._recover(step, bad, retries, snapshot)
              step = self.step
              iterator = self._iterator()
              continue
            diverged = True
            raise self._diverged(step, bad, retries)
          self._after_step(step, metrics, progress)
          if stop_requests > 0:
            self.stopped_by = stop.name if stop.requested else "peer"
            break
    finally:
      if not diverged and self.step != self._saved_step:
        path = self.save()
        if path:
          self.printer(f"Saved checkpoint {path} at step {self.step}.")
      self.writer.flush()
      if snapshot_dir:
        shutil.rmtree(snapshot_dir, ignore_errors=True)
    if self.stopped_by:
      # The step is saved either just above or by the periodic save when the
      # stop fell on a multiple of `checkpoint_every`; name it either way.
      latest = self.manager.latest_checkpoint if self.is_chief else None
      where = f" (checkpoint {latest})" if latest else ""
      self.printer(f"Stopped by {self.stopped_by} after step {self.step}"
                   f"{where}; rerun the same command to resume.")
    return metrics

  def _after_step(self, step: int, metrics: dict, progress: Progress) -> None:
    """Progress, summaries, checkpoints and samples of a finite step."""
    c = self.config.train
    progress.update(step, metrics)
    if step % c.summary_every == 0 or step == c.num_steps:
      with self.writer.as_default(step=step):
        for name, value in metrics.items():
          tf.summary.scalar(name, value)
        tf.summary.scalar("train/step_size_scale",
                          self.training_state.step_size_scale)
        tf.summary.scalar("train/learning_rate_scale",
                          self.training_state.learning_rate_scale)
    if step % c.checkpoint_every == 0:
      self.save()
    if step % c.sample_every == 0 or step == c.num_steps:
      self.write_samples(step)
    if self.on_step is not None:
      self.on_step(step, metrics)
