"""Timing helpers: interleaved repetitions, summaries, the machine's limits.

Benchmarks on a shared machine are noisy (other processes come and go), so
variants are timed *interleaved*: every round runs each variant once (in a
new random order each round), and a slow patch of time slows all of them
alike. Compare variants as ratios of medians taken in the same run.
"""

from __future__ import annotations

import os
import platform
import random
import resource
import statistics
import sys
import time
from typing import Callable, Optional

import numpy as np


def summarize(seconds: list[float], work: Optional[float] = None) -> dict:
  """Median, min and max of `seconds`; with `work` (units per call, e.g.
  image-steps), also `per_second` = work / median."""
  if not seconds:
    raise ValueError("summarize() needs at least one time.")
  median = statistics.median(seconds)
  summary = {"repeats": len(seconds), "median_seconds": median,
             "min_seconds": min(seconds), "max_seconds": max(seconds)}
  if work is not None:
    summary["per_second"] = work / median if median > 0 else float("inf")
  return summary


def percentiles(seconds: list[float], qs=(50, 95)) -> dict:
  """{"p50": ..., "p95": ...} (linear interpolation between samples)."""
  if not seconds:
    raise ValueError("percentiles() needs at least one time.")
  return {f"p{q:g}": float(np.percentile(seconds, q)) for q in qs}


def time_call(fn: Callable[[], object]) -> float:
  """Seconds one call of `fn` takes (it must return when its work is done)."""
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def interleave(variants: dict[str, Callable[[], object]], repeats: int,
               warmup: int = 1, settle_seconds: float = 0.0,
               shuffle_seed: Optional[int] = 0,
               on_round: Optional[Callable[[int], None]] = None
               ) -> tuple[dict, dict, dict]:
  """Times every variant `repeats` times, interleaved.

  Thread pools keep spinning for a while after their work (OpenBLAS's for up
  to ~0.1 s, OpenMP's and TF's briefly), stealing a core from whatever runs
  next. So each round runs the variants in a fresh random order (a fixed
  order would always give a variant the same predecessor), and
  `settle_seconds` of sleep before each call lets those threads go idle.

  Args:
    variants: name -> zero-argument callable doing one unit of work and
      returning when it is done (e.g. fetching the result to numpy).
    repeats: timed rounds (>= 1).
    warmup: untimed calls of each variant first (tracing, compilation,
      caches); the first one's time is returned as `first_call`.
    settle_seconds: sleep before every call, not timed.
    shuffle_seed: seed of the per-round orders; None rotates the given
      order by one variant per round instead.
    on_round: optional callback(round index) after each timed round
      (progress output).

  Returns:
    (first_call seconds per variant, wall-clock seconds per variant, CPU
    seconds of this process per variant). Wall time is what the targets
    use; CPU time (all threads) is less sensitive to other processes on a
    busy machine, but counts threads that spin while they wait.
  """
  if repeats < 1:
    raise ValueError(f"repeats={repeats} must be >= 1.")
  names = list(variants)
  first_call = {}
  for name in names:
    for index in range(max(warmup, 1)):
      time.sleep(settle_seconds)
      seconds = time_call(variants[name])
      if index == 0:
        first_call[name] = seconds
  wall = {name: [] for name in names}
  cpu = {name: [] for name in names}
  for round_index in range(repeats):
    if shuffle_seed is None:
      shift = round_index % len(names)
      order = names[shift:] + names[:shift]
    else:
      order = list(names)
      random.Random(shuffle_seed * 7919 + round_index).shuffle(order)
    for name in order:
      time.sleep(settle_seconds)
      cpu_start = time.process_time()
      wall[name].append(time_call(variants[name]))
      cpu[name].append(time.process_time() - cpu_start)
    if on_round:
      on_round(round_index)
  return first_call, wall, cpu


# ---- the machine -------------------------------------------------------------
def matmul_flops(size: int) -> int:
  """FLOPs of one [size, size] x [size, size] matmul."""
  return 2 * size**3


def matmul_variants(size: int = 4096) -> dict[str, Callable[[], object]]:
  """Zero-argument float32 matmul calls (TF eager and numpy) for `interleave`.

  The machine's dense-compute limit as these libraries reach it: GFLOP/s =
  `matmul_flops(size)` / seconds.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  a = rng.standard_normal((size, size), dtype=np.float32)
  b = rng.standard_normal((size, size), dtype=np.float32)
  ta, tb = tf.constant(a), tf.constant(b)
  out = np.empty((size, size), np.float32)
  return {
      "matmul_tf": lambda: tf.linalg.matmul(ta, tb)[0, 0].numpy(),
      "matmul_numpy": lambda: np.matmul(a, b, out=out),
  }


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
  """The machine's float32 TF matmul rate (best of `repeats`), GFLOP/s:
  hosts of one kind differ, so a time measured here comes with it."""
  call = matmul_variants(size)["matmul_tf"]
  call()
  best = min(time_call(call) for _ in range(repeats))
  return matmul_flops(size) / best / 1e9


def peak_rss_bytes() -> int:
  """This process's peak resident memory so far (Linux: ru_maxrss in KiB)."""
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> Optional[int]:
  """Resident memory now (Linux /proc), None elsewhere."""
  try:
    with open("/proc/self/statm") as f:
      return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
  except (OSError, ValueError, IndexError):
    return None


def cpu_model() -> str:
  """The CPU model name of /proc/cpuinfo (or `platform.processor()`)."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def load_average() -> Optional[tuple[float, float, float]]:
  try:
    return tuple(round(v, 2) for v in os.getloadavg())
  except OSError:
    return None


def machine(torch_module=None) -> dict:
  """Cores, CPU model, load and library versions: JSON-ready."""
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow as tf
  import tensorflow_probability as tfp
  try:
    cores = len(os.sched_getaffinity(0))
  except AttributeError:
    cores = os.cpu_count()
  info = {
      "cpu_model": cpu_model(),
      "cores": cores,
      "load_average": load_average(),
      "devices": [d.device_type for d in tf.config.list_physical_devices()],
      "python": platform.python_version(),
      "tensorflow": tf.__version__,
      "keras": keras.__version__,
      "tensorflow_probability": tfp.__version__,
      "numpy": np.__version__,
      "torch": getattr(torch_module, "__version__", None),
  }
  if torch_module is not None:
    info["torch_threads"] = torch_module.get_num_threads()
  return info
