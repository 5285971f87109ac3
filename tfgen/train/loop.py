"""The distributed training loop shared by every family.

`Trainer(config, workdir).run()` builds the model under a `tf.distribute`
strategy, resumes from the workdir's latest checkpoint, runs the family's
per-replica `train_step` under `strategy.run`, and writes checkpoints,
TensorBoard summaries and PNG sample grids. A NaN/inf metric stops training
with the step and the grid named, without overwriting the last good
checkpoint; any other exit (end, Ctrl-C, an exception) saves first.
"""

from __future__ import annotations

import math
import os
import time
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from tfgen import config as config_lib
from tfgen import data
from tfgen.train import strategy as strategy_lib
from tfgen.train import workdir as workdir_lib
from tfgen.vis import grid as grid_lib


class DivergenceError(RuntimeError):
  """A training quantity became NaN or infinite."""


def find_divergence(metrics: dict) -> Optional[str]:
  """Names the non-finite metrics (e.g. 'loss/grid16=nan'), or None."""
  bad = [f"{name}={value}" for name, value in sorted(metrics.items())
         if not math.isfinite(value)]
  return ", ".join(bad) if bad else None


class Progress:
  """One-line progress: step, steps/s, ETA and a few metrics."""

  def __init__(self, start_step: int, num_steps: int, every: int = 10,
               printer: Callable[[str], None] = print):
    self.start_step, self.num_steps, self.every = start_step, num_steps, every
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
                     if k.startswith("loss/"))
    self.printer(f"[{'=' * filled}{'.' * (width - filled)}] {step}/"
                 f"{self.num_steps} {rate:.2f} steps/s ETA {eta:.0f}s {shown}")


class Trainer:
  """Trains `config` in `workdir`; rerunning resumes at the saved step."""

  def __init__(self, config: config_lib.ExperimentConfig, workdir: str,
               strategy: Optional[tf.distribute.Strategy] = None,
               printer: Callable[[str], None] = print):
    self.strategy = strategy or strategy_lib.make_strategy(
        config.train.strategy)
    self.config = config.validate(self.strategy.num_replicas_in_sync)
    self.workdir = workdir
    self.printer = printer
    workdir_lib.prepare(workdir, self.config)
    self.paths = workdir_lib.paths(workdir)
    with self.strategy.scope():
      self.model = workdir_lib.build_model(self.config)
      self.optimizer = workdir_lib.build_optimizer(self.config)
      self.model.compile(optimizer=self.optimizer)
      self.optimizer.build(self.model.trainable_variables)
    self.checkpoint, self.manager = workdir_lib.make_checkpoint(
        self.model, self.optimizer, workdir, self.config.train.max_checkpoints)
    self.restored_from = workdir_lib.restore(self.checkpoint, self.manager)
    self.writer = tf.summary.create_file_writer(self.paths["summaries"])
    self._step_fn = None

  @property
  def step(self) -> int:
    return int(self.optimizer.iterations.numpy())

  def dataset(self) -> tf.data.Dataset:
    c = self.config
    # Reseed the shuffle on resume so a restarted run does not replay the
    # first batches of the original order.
    return data.load(c.data.dataset, "train", c.data.image_size,
                     c.train.batch_size, seed=c.train.seed + self.step,
                     data_dir=c.data.data_dir, download=c.data.download,
                     folder_channels=c.data.folder_channels)

  def _make_step_fn(self):
    strategy, model = self.strategy, self.model

    def step_fn(iterator):
      per_replica = strategy.run(model.train_step, args=(next(iterator),))
      return {name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value,
                                    axis=None)
              for name, value in per_replica.items()}

    return tf.function(step_fn, jit_compile=False)

  def save(self) -> Optional[str]:
    return self.manager.save(checkpoint_number=self.step)

  def write_samples(self, step: int) -> None:
    c = self.config.train
    images = self.model.sample(c.num_sample_images, seed=(c.seed, step))
    with self.writer.as_default(step=step):
      for size, grid_images in zip(self.model.grid_sizes, images):
        unit = (grid_images.numpy() + 1.0) / 2.0
        tf.summary.image(f"samples/grid{size}", unit, max_outputs=8)
        grid_lib.save_png(
            unit, os.path.join(self.paths["samples"],
                               f"step{step:07d}_grid{size}.png"))

  def run(self) -> dict:
    """Trains to `config.train.num_steps`; returns the last metrics."""
    c = self.config.train
    start = self.step
    if self.restored_from:
      self.printer(f"Resuming from {self.restored_from} at step {start}.")
    if start >= c.num_steps:
      self.printer(f"Already trained to step {start} >= num_steps="
                   f"{c.num_steps}; nothing to do.")
      return {}
    if not self.model.is_adapted:
      images, _ = data.arrays(
          self.config.data.dataset, "train", self.config.data.image_size,
          max_examples=self.model.start_bank_size,
          data_dir=self.config.data.data_dir,
          download=self.config.data.download)
      self.model.adapt(images)
    iterator = iter(self.strategy.experimental_distribute_dataset(
        self.dataset()))
    self._step_fn = self._step_fn or self._make_step_fn()
    progress = Progress(start, c.num_steps, printer=self.printer)
    metrics = {}
    diverged = False
    try:
      for step in range(start + 1, c.num_steps + 1):
        metrics = {k: float(v) for k, v in self._step_fn(iterator).items()}
        bad = find_divergence(metrics)
        if bad:
          diverged = True
          last = self.manager.latest_checkpoint
          raise DivergenceError(
              f"Training diverged at step {step}: {bad}. Nothing was saved "
              f"after the last good checkpoint ({last}). Lower --step_size "
              "or --learning_rate (or raise --reference_stddev's pull, i.e. "
              "lower it) and rerun the same command to resume.")
        progress.update(step, metrics)
        if step % c.summary_every == 0 or step == c.num_steps:
          with self.writer.as_default(step=step):
            for name, value in metrics.items():
              tf.summary.scalar(name, value)
        if step % c.checkpoint_every == 0:
          self.save()
        if step % c.sample_every == 0 or step == c.num_steps:
          self.write_samples(step)
    finally:
      if not diverged and self.step > start:
        path = self.save()
        self.printer(f"Saved checkpoint {path} at step {self.step}.")
      self.writer.flush()
    return metrics
