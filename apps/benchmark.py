r"""Benchmarks: `python -m apps.benchmark sampler [--json]`.

Times tfgen's multigrid sampler (the default digits model: grids 1, 4, 16,
30 Langevin steps per grid) compiled with plain `tf.function` and with XLA
(`jit_compile=True`), interleaved in one process, median / min / max of
`--repeats` runs after a warm-up. Reports image-steps per second (one
image-step = one forward + backward pass of one image through one grid's
energy net). This is what `--jit_compile` defaults are chosen from.
"""

from __future__ import annotations

import json
import statistics
import time

from apps import common  # pylint: disable=unused-import
from absl import app
from absl import flags

BATCH = flags.DEFINE_integer("batch_size", 100, "Images per sampler call.")
REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs per variant.")
IMAGE_SIZE = flags.DEFINE_integer("image_size", 16, "Finest grid.")
GRIDS = flags.DEFINE_list("grid_sizes", ["1", "4", "16"], "Grids.")
STEPS = flags.DEFINE_integer("num_langevin_steps", 30, "Steps per grid.")
WIDTH = flags.DEFINE_float("net_width", 1.0, "Energy net width.")
JSON = flags.DEFINE_bool("json", False, "Print one JSON object only.")


def time_sampler(jit_compile: bool, images) -> dict:
  """Builds a sampler with `jit_compile` and returns a timing closure."""
  from tfgen.models import MultigridEBM  # pylint: disable=g-import-not-at-top
  model = MultigridEBM(
      grid_sizes=[int(g) for g in GRIDS.value], channels=images.shape[-1],
      num_langevin_steps=STEPS.value, net_width=WIDTH.value,
      noise_scale=(0.3, 0.0) if len(GRIDS.value) == 3 else 0.3,
      jit_compile=jit_compile)
  model.adapt(images)

  def run() -> float:
    start = time.perf_counter()
    model.sample(BATCH.value, seed=0)[-1].numpy()
    return time.perf_counter() - start
  return run


def main(argv):
  if argv[1:] != ["sampler"]:
    raise app.UsageError("usage: python -m apps.benchmark sampler [--json]")
  for flag in (BATCH, REPEATS, STEPS):
    if flag.value <= 0:
      raise app.UsageError(f"--{flag.name}={flag.value} must be positive.")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfgen import data  # pylint: disable=g-import-not-at-top
  images, _ = data.arrays("digits", "train", IMAGE_SIZE.value)
  variants = {"tf_function": time_sampler(False, images),
              "tf_function_xla": time_sampler(True, images)}
  compile_seconds = {name: run() for name, run in variants.items()}
  times = {name: [] for name in variants}
  for _ in range(REPEATS.value):  # Interleaved: noise hits both alike.
    for name, run in variants.items():
      times[name].append(run())
  image_steps = BATCH.value * STEPS.value * (len(GRIDS.value) - 1)
  report = {"benchmark": "sampler", "batch_size": BATCH.value,
            "grid_sizes": [int(g) for g in GRIDS.value],
            "num_langevin_steps": STEPS.value, "repeats": REPEATS.value,
            "tensorflow": tf.__version__, "variants": {}}
  for name, values in times.items():
    median = statistics.median(values)
    report["variants"][name] = {
        "first_call_seconds": round(compile_seconds[name], 3),
        "median_seconds": round(median, 4),
        "min_seconds": round(min(values), 4),
        "max_seconds": round(max(values), 4),
        "image_steps_per_second": round(image_steps / median, 1)}
  v = report["variants"]
  report["xla_speedup"] = round(v["tf_function"]["median_seconds"] /
                                v["tf_function_xla"]["median_seconds"], 3)
  if JSON.value:
    print(json.dumps(report))
    return
  for name, values in v.items():
    print(f"{name:16s} {values['image_steps_per_second']:>10.1f} "
          f"image-steps/s (median {values['median_seconds']}s, min "
          f"{values['min_seconds']}, max {values['max_seconds']})")
  print(f"XLA speed-up: {report['xla_speedup']}x (< 1 means XLA is slower)")


if __name__ == "__main__":
  app.run(main)
