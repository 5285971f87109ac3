r"""Benchmarks: `python -m apps.benchmark sampler|ops|train|serve [--json]`.

* `sampler`: Langevin sampling speed of tfgen's sampler (LangevinKernel +
  run_chain in a tf.function, the model's path) against a hand-written
  `tf.function` loop, eager, XLA and PyTorch (eager and channels-last, when
  torch is installed), on the reference net and the multigrid energy nets,
  with the machine's float32 matmul rate measured in the same run. Reports
  image-steps/s, GFLOP/s (analytic, checked against TF's profiler and
  PyTorch's FlopCounterMode) and the ratios the targets are set on.
* `ops`: where one call of tfgen's sampler spends its time, by op type and
  graph node (TF's profiler), with the conv kernels' GFLOP/s next to the
  matmul rate measured just before: what bounds the sampler's speed.
* `train`: seconds per training iteration, images/s, compile time and peak
  RSS of the digits config, and how they grow with the image size (one
  subprocess per configuration, so each gets its own peak RSS).
* `serve`: p50/p95 latency of the exported SavedModel, called in-process
  through `tf.saved_model.load` and through the REST dev server
  (`python -m export.serve`), against the model's own `sample_from_seeds`;
  with `--serve_steps`, p50/p90 latency of `sample_steps` against the
  request's number of steps.

Variants are timed interleaved (each round runs every variant once), median
/ min / max of `--repeats` rounds after a warm-up call: on a shared machine
read the ratios, not the absolute rates. docs/benchmarks.md has the results.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time

from apps import common  # pylint: disable=unused-import  (quiet TF logs)
from absl import app
from absl import flags

USAGE = "usage: python -m apps.benchmark sampler|ops|train|serve [--json]"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

JSON = flags.DEFINE_bool("json", False, "Print one JSON object only.")
REPEATS = flags.DEFINE_integer("repeats", 5, "Timed rounds after warm-up "
                               "(sampler, train iterations, serve requests).")
BATCH = flags.DEFINE_integer("batch_size", 100, "Images per chain / batch.")
STEPS = flags.DEFINE_integer("num_langevin_steps", 30, "Steps per chain "
                             "(per grid for train and serve).")
WIDTH = flags.DEFINE_float("net_width", 1.0, "Width multiplier of the nets.")
# sampler
SHAPES = flags.DEFINE_list("shapes", ["16x16x1", "32x32x3"],
                           "Image shapes SIZExSIZExCHANNELS.")
NETS = flags.DEFINE_list("nets", ["reference", "multigrid"],
                         "reference and/or multigrid (the digits config's "
                         "finest energy net at each shape).")
VARIANTS = flags.DEFINE_list(
    "variants", ["tfgen", "hand_loop", "eager", "xla", "tfgen_bfloat16",
                 "torch_eager", "torch_channels_last"], "Sampler variants "
    "to time (tfgen_bfloat16 / tfgen_float16: tfgen's sampler with the net "
    "in mixed precision); "
    "also the diagnostics hand_loop_log_prob (the hand loop keeping log p "
    "alive) and tfgen_keras_leaky_relu (tfgen's sampler on the net with "
    "Keras' LeakyReLU layers).")
MATMUL = flags.DEFINE_integer("matmul_size", 4096, "Side of the float32 "
                              "matmul that measures the machine's rate.")
SETTLE = flags.DEFINE_float(
    "settle_seconds", 0.3, "Untimed sleep before each timed call, so that "
    "thread pools spinning after the previous call (OpenBLAS, OpenMP) go "
    "idle.")
NOISE = flags.DEFINE_float("noise_scale", 1.0, "Langevin noise multiplier of "
                           "every variant (step size 0.3).")
# train
TRAIN_CONFIGS = flags.DEFINE_list(
    "train_configs", ["1-4-16", "1-4-16-32", "1-4-16-64"],
    "Grid sizes per configuration, '-'-joined; the last is the image size. "
    "The first is the default digits config.")
PRECISIONS = flags.DEFINE_list(
    "precisions", ["float32"], "train: the --precision of each measured run "
    "(float32, mixed_bfloat16, mixed_float16); every configuration is timed "
    "in each. The sampler's bfloat16 / float16 speed is its tfgen_bfloat16 / "
    "tfgen_float16 variants.")
# serve
WORKDIR = flags.DEFINE_string("workdir", None, "Trained multigrid workdir to "
                              "export and serve; default: train a tiny one.")
GRIDS = flags.DEFINE_list("grid_sizes", ["1", "4", "16"], "Grids of the "
                          "model `serve` trains when --workdir is not given.")
SERVE_BATCHES = flags.DEFINE_list("serve_batches", ["1", "16", "64"],
                                  "Samples per request.")
SERVE_REQUESTS = flags.DEFINE_integer("serve_requests", 30, "Timed requests "
                                      "per batch size and path.")
SERVE_STEPS = flags.DEFINE_list(
    "serve_steps", [], "serve: numbers of Langevin steps per grid at which "
    "the export's sample_steps signature is timed (p50 / p90 latency "
    "against steps, SavedModel and REST), e.g. 10,30,90; none: not timed.")
SERVE_STEPS_BATCH = flags.DEFINE_integer(
    "serve_steps_batch", 1, "Samples per request of the --serve_steps "
    "timings.")


def _progress(text: str) -> None:
  print(text, file=sys.stderr, flush=True)


def _positive(*flag_holders) -> None:
  for holder in flag_holders:
    if holder.value <= 0:
      raise app.UsageError(f"--{holder.name}={holder.value} must be "
                           "positive.")


def _checked_groups(check_variants: bool) -> list:
  """Validates the sampler / ops flags; returns the parsed --shapes."""
  from tfgen.bench import samplers  # pylint: disable=g-import-not-at-top
  _positive(REPEATS, BATCH, STEPS, MATMUL)
  try:
    shapes = [samplers.parse_shape(s) for s in SHAPES.value]
  except ValueError as error:
    raise app.UsageError(f"--shapes: {error}") from error
  checks = [("nets", samplers.NET_KINDS, NETS.value)]
  if check_variants:
    checks.append(("variants", samplers.VARIANTS, VARIANTS.value))
  for name, allowed, values in checks:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
      raise app.UsageError(f"--{name}: {unknown} not in {list(allowed)}.")
  return shapes


# ---- sampler -------------------------------------------------------------------
def _sampler_group(kind, shape, torch_module) -> dict:
  # pylint: disable=g-import-not-at-top
  from tfgen.bench import flops
  from tfgen.bench import samplers
  from tfgen.bench import timing
  setup = samplers.make_setup(kind, shape, WIDTH.value,
                              noise_scale=NOISE.value)
  _progress(f"{setup.name}: tracing and warming up "
            f"{', '.join(VARIANTS.value)}")
  chains = samplers.chain_functions(setup, STEPS.value, VARIANTS.value,
                                    torch_module)
  start = samplers.start_state(setup, BATCH.value).numpy()
  states = {}

  def call(name):
    def run():
      states[name] = chains[name](start, 1)
    return run

  calls = {name: call(name) for name in chains}
  calls.update(timing.matmul_variants(MATMUL.value))
  first, times, cpu = timing.interleave(
      calls, REPEATS.value, settle_seconds=SETTLE.value,
      on_round=lambda r: _progress(f"  round {r + 1}/{REPEATS.value}"))
  image_steps = BATCH.value * STEPS.value
  step_flops = flops.langevin_step_flops(setup.net)
  variants = {}
  for name in chains:
    summary = timing.summarize(times[name], image_steps)
    variants[name] = {
        "first_call_seconds": first[name],
        "median_seconds": summary["median_seconds"],
        "min_seconds": summary["min_seconds"],
        "max_seconds": summary["max_seconds"],
        "image_steps_per_second": summary["per_second"],
        "gflops": summary["per_second"] * step_flops / 1e9,
        "median_cpu_seconds": timing.summarize(cpu[name])["median_seconds"]}
  matmul = {name.split("_", 1)[1]: timing.matmul_flops(MATMUL.value) /
            timing.summarize(times[name])["median_seconds"] / 1e9
            for name in ("matmul_tf", "matmul_numpy")}
  matmul["peak"] = max(matmul.values())
  check = flops.check_against_profiler(setup.net, setup.log_prob_fn)
  if torch_module is not None:
    from tfgen.bench import torch_port  # pylint: disable=g-import-not-at-top
    check["torch_flop_counter"] = torch_port.flops(
        torch_port.convert(setup.net), shape, setup.reference_stddev)
  group = {"net": kind, "image_shape": list(shape),
           "flops_per_image_step": step_flops, "flops_check": check,
           "variants": variants, "matmul_gflops": matmul,
           "max_abs_difference_vs_hand_loop":
               samplers.max_abs_difference(states)}
  group["ratios"] = _ratios(variants, matmul["peak"])
  group["cpu_time_ratios"] = _cpu_time_ratios(variants)
  return group


def _ratios(variants: dict, matmul_peak: float) -> dict:
  ratios = {}
  if "tfgen" not in variants:
    return ratios
  tfgen = variants["tfgen"]
  ratios["tfgen_vs_matmul_peak"] = tfgen["gflops"] / matmul_peak
  torch = [variants[n]["image_steps_per_second"] for n in
           ("torch_eager", "torch_channels_last") if n in variants]
  if torch:
    ratios["tfgen_vs_torch_best"] = tfgen["image_steps_per_second"] / max(
        torch)
  for name in ("hand_loop", "eager", "xla", "hand_loop_log_prob",
               "tfgen_keras_leaky_relu"):
    if name in variants:
      ratios[f"tfgen_vs_{name}"] = (tfgen["image_steps_per_second"] /
                                    variants[name]["image_steps_per_second"])
  return ratios


def _cpu_time_ratios(variants: dict) -> dict:
  """Speed of tfgen / another variant from CPU seconds (busy machines)."""
  if "tfgen" not in variants:
    return {}
  tfgen = variants["tfgen"]["median_cpu_seconds"]
  return {f"tfgen_vs_{name}": v["median_cpu_seconds"] / tfgen
          for name, v in variants.items() if name != "tfgen" and tfgen > 0}


def _sampler_targets(groups: list) -> list:
  """The issue's targets, on the largest reference group and every group."""
  targets = []
  reference = [g for g in groups if g["net"] == "reference"]
  if reference:
    group = max(reference, key=lambda g: g["flops_per_image_step"])
    where = f"reference {'x'.join(map(str, group['image_shape']))}"
    for key, bound in (("tfgen_vs_matmul_peak", 0.85),
                       ("tfgen_vs_torch_best", 1.25)):
      value = group["ratios"].get(key)
      targets.append({"target": f"{key} >= {bound}", "where": where,
                      "value": value,
                      "met": None if value is None else value >= bound})
  for group in groups:
    value = group["ratios"].get("tfgen_vs_hand_loop")
    if value is not None:
      where = f"{group['net']} {'x'.join(map(str, group['image_shape']))}"
      targets.append({"target": "tfgen_vs_hand_loop >= 0.95", "where": where,
                      "value": value, "met": value >= 0.95})
  return targets


def run_sampler() -> dict:
  # pylint: disable=g-import-not-at-top
  from tfgen.bench import samplers
  from tfgen.bench import timing
  from tfgen.bench import torch_port
  shapes = _checked_groups(check_variants=True)
  wants_torch = set(VARIANTS.value) & set(samplers.TORCH_VARIANTS)
  torch_module = torch_port.load() if wants_torch else None
  groups = [_sampler_group(kind, shape, torch_module)
            for kind in NETS.value for shape in shapes]
  xla = [g["ratios"]["tfgen_vs_xla"] for g in groups
         if "tfgen_vs_xla" in g["ratios"]]
  return {
      "benchmark": "sampler", "machine": timing.machine(torch_module),
      "settings": {"batch_size": BATCH.value,
                   "num_langevin_steps": STEPS.value,
                   "repeats": REPEATS.value, "net_width": WIDTH.value,
                   "step_size": 0.3, "noise_scale": NOISE.value,
                   "matmul_size": MATMUL.value,
                   "settle_seconds": SETTLE.value},
      "torch": (torch_module.__version__ if torch_module is not None else
                "skipped: torch is not installed (pip install -e .[bench])"
                if wants_torch else "skipped: not in --variants"),
      "groups": groups, "targets": _sampler_targets(groups),
      # XLA wins when tfgen's plain graph is slower than it everywhere.
      "jit_compile_recommended": bool(xla) and max(xla) < 1.0,
  }


def print_sampler(report: dict) -> None:
  print(f"Sampler: batch {report['settings']['batch_size']}, "
        f"{report['settings']['num_langevin_steps']} steps, median of "
        f"{report['settings']['repeats']}; torch: {report['torch']}")
  for group in report["groups"]:
    shape = "x".join(map(str, group["image_shape"]))
    print(f"\n{group['net']} {shape}: "
          f"{group['flops_per_image_step'] / 1e6:.1f} MFLOP/image-step; "
          f"matmul TF {group['matmul_gflops']['tf']:.0f}, numpy "
          f"{group['matmul_gflops']['numpy']:.0f} GFLOP/s")
    print(f"  {'variant':20s} {'img-steps/s':>11s} {'GFLOP/s':>8s} "
          f"{'median s':>9s} {'min-max s':>15s} {'first s':>8s}")
    for name, v in group["variants"].items():
      print(f"  {name:20s} {v['image_steps_per_second']:11.0f} "
            f"{v['gflops']:8.1f} {v['median_seconds']:9.3f} "
            f"{v['min_seconds']:7.3f}-{v['max_seconds']:<7.3f} "
            f"{v['first_call_seconds']:8.2f}")
    print("  " + ", ".join(f"{k} {v:.3f}" for k, v in group["ratios"].items()))
    print("  by CPU time: " + ", ".join(
        f"{k} {v:.3f}" for k, v in group["cpu_time_ratios"].items()))
  print()
  for target in report["targets"]:
    value = target["value"]
    state = {True: "met", False: "MISSED", None: "not measured"}[
        target["met"]]
    shown = "-" if value is None else f"{value:.3f}"
    print(f"{target['target']:32s} {target['where']:20s} {shown:>6s} {state}")
  print(f"jit_compile recommended on this machine: "
        f"{report['jit_compile_recommended']}")


# ---- ops -----------------------------------------------------------------------
def run_ops() -> dict:
  # pylint: disable=g-import-not-at-top
  from apps import benchmark_ops
  shapes = _checked_groups(check_variants=False)
  return benchmark_ops.run(
      NETS.value, shapes, batch_size=BATCH.value, num_steps=STEPS.value,
      net_width=WIDTH.value, noise_scale=NOISE.value,
      matmul_size=MATMUL.value, repeats=REPEATS.value, printer=_progress)


# ---- train -----------------------------------------------------------------------
def _train_child_args(config_text: str, precision_name: str) -> list:
  return [sys.executable, "-m", "apps.benchmark", "train", "--json",
          f"--train_configs={config_text}", f"--repeats={REPEATS.value}",
          f"--precisions={precision_name}",
          f"--batch_size={BATCH.value}",
          f"--num_langevin_steps={STEPS.value}",
          f"--net_width={WIDTH.value}"]


def run_train() -> dict:
  _positive(REPEATS, BATCH, STEPS)
  # pylint: disable=g-import-not-at-top
  from tfgen.bench import train_cost
  try:
    grids = [train_cost.parse_grids(text) for text in TRAIN_CONFIGS.value]
  except ValueError as error:
    raise app.UsageError(f"--train_configs: {error}") from error
  from tfgen.core import precision  # pylint: disable=g-import-not-at-top
  for name in PRECISIONS.value:
    if name not in precision.PRECISIONS:
      raise app.UsageError(f"--precisions: {name!r} is not one of "
                           f"{', '.join(precision.PRECISIONS)}.")
  if len(grids) * len(PRECISIONS.value) == 1:  # Measured in this process.
    from tfgen.bench import timing  # pylint: disable=g-import-not-at-top
    config = train_cost.digits_config(grids[0], BATCH.value, STEPS.value,
                                      WIDTH.value, PRECISIONS.value[0])
    _progress(f"train {'-'.join(map(str, grids[0]))} "
              f"{PRECISIONS.value[0]}: compiling")
    row = train_cost.measure(config, REPEATS.value, printer=_progress)
    return {"benchmark": "train", "machine": timing.machine(),
            "rows": [row]}
  rows, machine = [], None
  for name in PRECISIONS.value:
    per_precision = []
    for text in TRAIN_CONFIGS.value:
      result = subprocess.run(_train_child_args(text, name), cwd=REPO,
                              capture_output=True, text=True, check=False)
      sys.stderr.write(result.stderr[-4000:] if result.returncode else "")
      if result.returncode:
        raise RuntimeError(f"train config {text} ({name}) failed (exit "
                           f"{result.returncode}).")
      child = json.loads(result.stdout.strip().splitlines()[-1])
      machine = child["machine"]
      per_precision += child["rows"]
      _progress(f"train {text} {name}: "
                f"{per_precision[-1]['median_seconds']:.2f} s/iteration")
    rows += train_cost.growth(per_precision)
  return {"benchmark": "train", "machine": machine, "rows": rows}


def print_train(report: dict) -> None:
  print(f"{'grids':14s} {'precision':15s} {'iters':>5s} {'s/iter':>7s} {'min-max':>13s} {'img/s':>7s} "
        f"{'GFLOP/s':>8s} {'first s':>8s} {'peak RSS':>9s} {'x time':>7s} "
        f"{'x FLOPs':>7s}")
  for row in report["rows"]:
    print(f"{'-'.join(map(str, row['grid_sizes'])):14s} "
          f"{row['precision']:15s} {row['iterations']:5d} {row['median_seconds']:7.2f} {row['min_seconds']:6.2f}-"
          f"{row['max_seconds']:<6.2f} {row['images_per_second']:7.1f} "
          f"{row['gflops']:8.1f} {row['first_iteration_seconds']:8.1f} "
          f"{row['peak_rss_bytes'] / 2**30:7.2f}Gi "
          f"{row.get('time_vs_first', 1.0):7.2f} "
          f"{row.get('flops_vs_first', 1.0):7.2f}")
  print("share of an iteration: input / Langevin chains / parameter update "
        "(energies, gradients, Adam) / summaries")
  for row in report["rows"]:
    shares = row["iteration_shares"]
    print(f"{'-'.join(map(str, row['grid_sizes'])):14s} "
          f"{row['precision']:15s} " + " / ".join(
              f"{shares[k]:.1%}" for k in ("input", "langevin_chains",
                                           "parameter_update", "summaries")))


# ---- serve -----------------------------------------------------------------------
def run_serve() -> dict:
  _positive(SERVE_REQUESTS, BATCH, STEPS, SERVE_STEPS_BATCH)
  from apps import benchmark_serve  # pylint: disable=g-import-not-at-top
  try:
    batches = [int(b) for b in SERVE_BATCHES.value]
    grids = [int(g) for g in GRIDS.value]
  except ValueError as error:
    raise app.UsageError(f"--serve_batches / --grid_sizes must be integers "
                         f"({error}).") from error
  if min(batches) < 1:
    raise app.UsageError(f"--serve_batches={SERVE_BATCHES.value} must be "
                         ">= 1.")
  if not all(s.strip().isdigit() and int(s) >= 1 for s in SERVE_STEPS.value):
    raise app.UsageError(
        f"--serve_steps={','.join(SERVE_STEPS.value)} must be integers >= 1 "
        "(Langevin steps per grid), e.g. --serve_steps=10,30,90.")
  return benchmark_serve.run(
      WORKDIR.value, batches, SERVE_REQUESTS.value, grids=grids,
      batch_size=BATCH.value, num_langevin_steps=STEPS.value,
      net_width=WIDTH.value, settle_seconds=SETTLE.value, printer=_progress,
      steps=[int(s) for s in SERVE_STEPS.value],
      steps_batch=SERVE_STEPS_BATCH.value)


def _show(module: str):
  """The `show(report)` of apps.`module`, imported when called."""
  return lambda report: importlib.import_module(f"apps.{module}").show(report)


def main(argv):
  commands = {"sampler": (run_sampler, print_sampler),
              "ops": (run_ops, _show("benchmark_ops")),
              "train": (run_train, print_train),
              "serve": (run_serve, _show("benchmark_serve"))}
  if len(argv) != 2 or argv[1] not in commands:
    raise app.UsageError(USAGE)
  run, show = commands[argv[1]]
  from tfgen.bench import timing  # pylint: disable=g-import-not-at-top
  load_at_start = timing.load_average()
  start = time.perf_counter()
  report = run()
  report["wall_seconds"] = time.perf_counter() - start
  report["load_average"] = {"start": load_at_start, "end": timing.load_average()}
  if JSON.value:
    print(json.dumps(report))
  else:
    show(report)
    load = report["load_average"]
    print(f"\nwall time {report['wall_seconds']:.0f} s; load average "
          f"(1, 5, 15 min) at start {load['start']}, at end {load['end']} "
          f"on {report['machine']['cores']} cores")


if __name__ == "__main__":
  common.run(main)
