"""Cost of training one multigrid configuration: time, compile, memory.

`measure(config, iterations)` builds the model exactly as `apps.train` does
(`tfgen.train.workdir.build_model`, compiled as the Trainer gets it), wraps
its `train_step` in a `tf.function` (no XLA, like the Trainer's step)
and times its first call (tracing + first run) and `iterations` more calls
on batches of the configured dataset. Peak RSS is the process's, so measure
one configuration per process for a clean number (`apps.benchmark train`
does).

FLOPs of one iteration (conv and dense layers only, see `tfgen.bench.flops`),
with F_g the forward FLOPs of grid g's net per image, F1_g those of its first
layer, B the batch and T the Langevin steps:

    sum over grids of B * (T * 2 * F_g            Langevin steps
                           + 2 * (3 * F_g - F1_g))  loss on observed and
                                                  synthesised images:
                                                  forward, weight gradients,
                                                  input gradients but the
                                                  first layer's

That is the Langevin chain's whole work: `LangevinKernel.bootstrap_results`
evaluates nothing and each `one_step` takes one gradient of log p, so the
runner adds no gradient beyond the T per grid counted here.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from typing import Optional, Sequence

import tensorflow as tf

from tfgen import config as config_lib
from tfgen import data
from tfgen.bench import flops as flops_lib
from tfgen.bench import timing
from tfgen.data import pyramid
from tfgen.train import workdir as workdir_lib


def digits_config(grid_sizes: Sequence[int], batch_size: int = 100,
                  num_langevin_steps: int = 30,
                  net_width: float = 1.0, precision: str = "float32"
                  ) -> config_lib.ExperimentConfig:
  """The default digits config (apps/configs/multigrid_digits.cfg) at the
  image size `grid_sizes[-1]`: noise on the second grid only, as there;
  the nets in `precision` (`tfgen.core.precision`)."""
  grid_sizes = tuple(int(g) for g in grid_sizes)
  num_model_grids = len(grid_sizes) - 1
  default = config_lib.ExperimentConfig()
  noise = default.model.noise_scale[:1] + (0.0,) * (num_model_grids - 1)
  config = dataclasses.replace(
      default,
      data=dataclasses.replace(default.data, image_size=grid_sizes[-1]),
      model=dataclasses.replace(
          default.model, grid_sizes=grid_sizes,
          num_langevin_steps=(int(num_langevin_steps),),
          noise_scale=noise, net_width=float(net_width)),
      train=dataclasses.replace(default.train, batch_size=int(batch_size),
                                precision=precision))
  return config.validate()


def iteration_flops(model, batch_size: int) -> int:
  """Analytic FLOPs of one training iteration (formula in the docstring)."""
  total = 0
  for net, steps in zip(model.energy_nets, model.num_langevin_steps):
    layers = flops_lib.layer_forward_flops(net)
    forward = sum(count for _, count in layers)
    first = layers[0][1]
    total += batch_size * (steps * 2 * forward + 2 * (3 * forward - first))
  return int(total)


def measure(config: config_lib.ExperimentConfig, iterations: int = 3,
            printer=None) -> dict:
  """Times `iterations` training iterations after a first (compiling) one.

  Returns a JSON-ready dict: grid sizes, image size, batch size, Langevin
  steps, first-iteration seconds, median / min / max seconds per iteration,
  images/s, analytic GFLOP/s, RSS after start-up and peak RSS (bytes).
  """
  if iterations < 1:
    raise ValueError(f"iterations={iterations} must be >= 1.")
  rss_before = timing.current_rss_bytes()
  model = workdir_lib.build_model(config)  # Compiled, optimizer built.
  c = config
  images, _ = data.arrays(c.data.dataset, "train", c.data.image_size,
                          max_examples=model.num_adapt_examples)
  model.adapt(images)
  batches = iter(data.load(c.data.dataset, "train", c.data.image_size,
                           c.train.batch_size, seed=c.train.seed))
  step = tf.function(model.train_step, jit_compile=False)
  # The Langevin chains of one training step alone (the model's own
  # synthesis for its method, on the same batch pyramid), to split the step.
  chains = tf.function(lambda images, seed: model._training_samples(  # pylint: disable=protected-access
      pyramid.gaussian_pyramid(images, model.grid_sizes), seed, None))

  @tf.function
  def update(images, synthesized):
    """The rest of the step on given samples: energies, gradients, Adam."""
    grads, _ = model.gradients_from_samples(
        pyramid.gaussian_pyramid(images, model.grid_sizes), synthesized)
    model.apply_energy_gradients(grads)

  def one_iteration():
    metrics = step(next(batches))
    return {name: float(value) for name, value in metrics.items()}

  first = timing.time_call(one_iteration)
  seconds, input_seconds, chain_seconds, update_seconds = [], [], [], []
  for index in range(iterations):
    start = time.perf_counter()
    batch = next(batches)
    fetched = time.perf_counter()
    metrics = {name: float(v) for name, v in step(batch).items()}
    seconds.append(time.perf_counter() - start)
    input_seconds.append(fetched - start)
    images = batch[0] if isinstance(batch, (tuple, list)) else batch
    seed = tf.constant([index, 7], tf.int32)
    if index == 0:
      update(images, chains(images, seed))  # Traces both.
    start = time.perf_counter()
    synthesized = tf.nest.map_structure(lambda t: t.numpy(),
                                        chains(images, seed))
    chain_seconds.append(time.perf_counter() - start)
    start = time.perf_counter()
    update(images, synthesized)
    # A variable read waits for the update's assignments to finish.
    model.energy_nets[0].trainable_variables[0].numpy()
    update_seconds.append(time.perf_counter() - start)
    if printer:
      printer(f"  iteration {index + 1}/{iterations}: {seconds[-1]:.2f}s")
  summary = timing.summarize(seconds, work=c.train.batch_size)
  summary_seconds = _summary_seconds(metrics) / c.train.summary_every
  # Each part is timed on its own (fastest run: the least disturbed by
  # other processes) and the shares are of their sum. A split by
  # subtraction from the whole step went to 0 on tiny nets under load.
  shares = _shares(min(input_seconds), min(chain_seconds),
                   min(update_seconds), summary_seconds)
  work = iteration_flops(model, c.train.batch_size)
  return {
      "grid_sizes": list(c.model.grid_sizes),
      "precision": c.train.precision,
      "image_size": c.data.image_size,
      "channels": c.data.channels,
      "batch_size": c.train.batch_size,
      "num_langevin_steps": list(model.num_langevin_steps),
      "net_width": c.model.net_width,
      "iterations": iterations,
      "first_iteration_seconds": first,
      "compile_seconds": max(first - summary["median_seconds"], 0.0),
      "median_seconds": summary["median_seconds"],
      "min_seconds": summary["min_seconds"],
      "max_seconds": summary["max_seconds"],
      "images_per_second": summary["per_second"],
      "flops_per_iteration": work,
      "gflops": work / summary["median_seconds"] / 1e9,
      "rss_before_model_bytes": rss_before,
      "peak_rss_bytes": timing.peak_rss_bytes(),
      "finite_metrics": all(v == v and abs(v) != float("inf")
                            for v in metrics.values()),
      "iteration_shares": shares,
  }


def _summary_seconds(metrics: dict) -> float:
  """Seconds to write one step's scalars to TensorBoard, as the Trainer does
  every `summary_every` steps (median of 5 writes)."""
  with tempfile.TemporaryDirectory() as logdir:
    writer = tf.summary.create_file_writer(logdir)
    times = []
    for index in range(5):
      start = time.perf_counter()
      with writer.as_default(step=index):
        for name, value in metrics.items():
          tf.summary.scalar(name, value)
      writer.flush()
      times.append(time.perf_counter() - start)
    writer.close()
  return timing.summarize(times)["median_seconds"]


def _shares(input_s: float, chains: float, update: float,
            summaries: float) -> dict:
  """Fractions of one iteration: the input pipeline, the Langevin chains,
  the rest of the step (energies, gradients, parameter update) and the
  amortised summaries, each timed on its own; they sum to 1."""
  seconds = {"input": input_s, "langevin_chains": chains,
             "parameter_update": update, "summaries": summaries}
  total = sum(seconds.values())
  shares = {name: value / total for name, value in seconds.items()}
  return {**shares, "seconds": seconds}


def parse_grids(text: str) -> tuple[int, ...]:
  """'1-4-16' -> (1, 4, 16) (a `--train_configs` entry)."""
  try:
    grids = tuple(int(part) for part in text.split("-"))
  except ValueError:
    grids = ()
  if len(grids) < 2:
    raise ValueError(f"train config {text!r} must be grid sizes joined by "
                     "'-', e.g. 1-4-16 (the last is the image size).")
  return grids


def growth(rows: list[dict], baseline: Optional[dict] = None) -> list[dict]:
  """Adds each row's cost relative to `baseline` (default: the first row)."""
  if not rows:
    return rows
  base = baseline or rows[0]
  for row in rows:
    row["time_vs_first"] = row["median_seconds"] / base["median_seconds"]
    row["flops_vs_first"] = (row["flops_per_iteration"] /
                             base["flops_per_iteration"])
  return rows
