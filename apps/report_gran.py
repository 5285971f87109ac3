r"""The GRAN paper's experiments on digits, as one report.

    python -m apps.report gran --output=DIR [--workdir_root=DIR/workdirs]
        [--multigrid_workdir=WD | --multigrid_samples=NPZ] [--smoke]

Trains (or reuses, when finished with the same settings) through
`python -m apps.train`:

* GRAN1, GRAN3, GRAN5 (`apps/configs/gran{1,,5}_digits.cfg`, identical
  settings but T, in the paper's unconditional setting: `PAPER_FLAGS`
  turn off the flagfiles' class conditioning and mode-seeking term) for
  `--gran_num_steps` steps, once per `--gran_seeds`;
* GRAN3 with per-step noise (`--noise_mode=per_step`), first seed only;
* a multigrid EBM (`multigrid_digits.cfg` with `--multigrid_num_steps`)
  unless `--multigrid_workdir` or `--multigrid_samples` gives one,

then measures (`apps.report_gran_measures`): Table 2 (every pair of GRAN1/3/5
battles, per seed, with bootstrap intervals), Table 3 (the fraction of
non-adversarial images each GRAN discriminator calls real: multigrid
samples, blurred training digits, a pixel GaussianMixture), Table 4 (GRAN5
sampled with T' = `--sampling_canvas_steps`), the canvas panels and their
per-step numbers, nearest training images (`apps.evaluate
--neighbours_png`) and per-step vs shared noise. Writes DIR/report.json,
DIR/report.md (`apps.report_gran_checks`, `apps.report_gran_tables`)
and PNGs.

`apps.report` owns --output, --workdir_root, --num_steps_scale, --seed,
--cache_dir, --notes and --smoke and calls `run` here; the flags below are
this experiment's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Optional

from absl import app
from absl import flags

from apps import report_common

GRAN_NUM_STEPS = flags.DEFINE_integer(
    "gran_num_steps", 1500, "Training steps of every GRAN (Table 2's models "
    "and the per-step-noise GRAN3); identical for all.")
GRAN_SEEDS = flags.DEFINE_list(
    "gran_seeds", ["0", "1"], "Training seeds of GRAN1/3/5: Table 2 is "
    "battled once per seed.")
NUM_BATTLE_SAMPLES = flags.DEFINE_integer(
    "num_battle_samples", 1000, "Samples per model in every battle, Table 3 "
    "source and sample-quality score.")
SAMPLING_CANVAS_STEPS = flags.DEFINE_list(
    "sampling_canvas_steps", ["5", "7", "9"], "Table 4: the canvas steps T' "
    "GRAN5 is sampled with.")
MULTIGRID_WORKDIR = report_common.MULTIGRID_WORKDIR
MULTIGRID_SAMPLES = flags.DEFINE_string(
    "multigrid_samples", None, "Table 3: an apps.sample .npz of multigrid "
    "samples (`images` in [0, 1]) instead of a workdir.")
MULTIGRID_NUM_STEPS = flags.DEFINE_integer(
    "multigrid_num_steps", 1000, "Steps of the multigrid EBM the report "
    "trains when given neither --multigrid_workdir nor --multigrid_samples "
    "(multigrid_digits.cfg has 4000: ~15 min alone).")
BLUR_SIGMA = flags.DEFINE_float(
    "blur_sigma", 1.0, "Table 3: Gaussian blur (pixels) of the blurred "
    "training digits.")

GRAN_FLAGFILES = {1: "gran1_digits.cfg", 3: "gran_digits.cfg",
                  5: "gran5_digits.cfg"}
SMOKE_GRAN_FLAGS = ["--num_steps=2", "--batch_size=8",
                    "--generator_width=0.25", "--discriminator_width=0.25",
                    "--checkpoint_every=2", "--sample_every=2",
                    "--summary_every=1", "--num_sample_images=4"]
SMOKE_MULTIGRID_FLAGS = ["--num_steps=2", "--batch_size=8",
                         "--net_width=0.125", "--num_langevin_steps=2",
                         "--num_sampling_steps=2", "--checkpoint_every=2",
                         "--sample_every=2", "--summary_every=1",
                         "--num_sample_images=4"]
SMOKE_NUM_SAMPLES = 40
# The paper's GRAN is unconditional, without a diversity term; the digits
# flagfiles' defaults are not (docs/gran.md), so the report turns them off.
PAPER_FLAGS = ["--nocondition_on_label", "--diversity_weight=0"]


def _positive_ints(flag, minimum: int = 1) -> list[int]:
  """The integers of a list flag, or a usage error naming it."""
  try:
    values = [int(v) for v in flag.value]
  except ValueError:
    values = []
  if not values or any(v < minimum for v in values):
    raise app.UsageError(
        f"--{flag.name}={','.join(flag.value)} must be integers >= "
        f"{minimum}, e.g. --{flag.name}={','.join(flag.default)}.")
  return values


def check_flags() -> dict:
  """Validates this experiment's flags; {sampling_canvas_steps, seeds}."""
  canvas_steps = _positive_ints(SAMPLING_CANVAS_STEPS)
  seeds = _positive_ints(GRAN_SEEDS, minimum=0)
  if len(set(seeds)) != len(seeds):
    raise app.UsageError(f"--gran_seeds={','.join(GRAN_SEEDS.value)} repeats "
                         "a seed; list distinct seeds, e.g. 0,1.")
  for flag in (GRAN_NUM_STEPS, MULTIGRID_NUM_STEPS):
    if flag.value < 1:
      raise app.UsageError(f"--{flag.name}={flag.value} must be >= 1, e.g. "
                           f"--{flag.name}={flag.default}.")
  if NUM_BATTLE_SAMPLES.value < 10:
    raise app.UsageError(f"--num_battle_samples={NUM_BATTLE_SAMPLES.value} "
                         "must be >= 10, e.g. 1000.")
  if not BLUR_SIGMA.value > 0:
    raise app.UsageError(f"--blur_sigma={BLUR_SIGMA.value} must be > 0 "
                         "(pixels), e.g. 1.0.")
  if MULTIGRID_WORKDIR.value and MULTIGRID_SAMPLES.value:
    raise app.UsageError("--multigrid_workdir and --multigrid_samples both "
                         "give Table 3's multigrid samples; pass one.")
  if MULTIGRID_WORKDIR.value:
    check_multigrid_workdir(MULTIGRID_WORKDIR.value)
  if MULTIGRID_SAMPLES.value:
    if not os.path.isfile(MULTIGRID_SAMPLES.value):
      raise app.UsageError(
          f"--multigrid_samples={MULTIGRID_SAMPLES.value!r} does not exist; "
          "pass an apps.sample .npz of a multigrid workdir (python -m "
          "apps.sample --workdir=WD --output=S.npz), or drop the flag.")
    read_multigrid_samples(MULTIGRID_SAMPLES.value)  # Refused before training.
  return dict(sampling_canvas_steps=canvas_steps, seeds=seeds)


def check_multigrid_workdir(workdir: str) -> None:
  """UsageError unless `workdir` is a digits 16x16 multigrid workdir."""
  from tfgen.train import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  fix = ("pass a workdir trained with apps/configs/multigrid_digits.cfg, "
         "or --multigrid_samples=NPZ, or neither (the report trains one).")
  try:
    config = workdir_lib.read_config(workdir)
  except ValueError as error:
    raise app.UsageError(f"--multigrid_workdir: {error}") from error
  if config is None:
    raise app.UsageError(f"--multigrid_workdir={workdir!r} has no "
                         f"config.json: not a training directory; {fix}")
  family = config.family
  if family != "multigrid":
    raise app.UsageError(f"--multigrid_workdir={workdir!r} is a {family!r} "
                         f"workdir, not a multigrid one; {fix}")
  trained_on = (config.data.dataset, config.data.image_size)
  if trained_on != ("digits", 16):
    raise app.UsageError(f"--multigrid_workdir={workdir!r} was trained on "
                         f"{trained_on[0]} {trained_on[1]}x{trained_on[1]}, "
                         f"the GRANs on digits 16x16; {fix}")


def read_multigrid_samples(path: str):
  """`images` of an apps.sample .npz, float32 [N, 16, 16, 1] in [-1, 1]."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  try:
    with np.load(path) as archive:
      images = np.asarray(archive["images"], np.float32)
  except (KeyError, ValueError, OSError) as error:
    raise app.UsageError(f"--multigrid_samples={path!r} is not an apps.sample "
                         f".npz with `images` ({error}).") from error
  if images.ndim != 4 or images.shape[1:] != (16, 16, 1) or not len(images):
    raise app.UsageError(f"--multigrid_samples={path!r} holds images of shape "
                         f"{images.shape}; the GRANs make [N, 16, 16, 1] "
                         "digits (sample a digits 16x16 multigrid workdir).")
  return np.clip(images, 0.0, 1.0) * 2.0 - 1.0


def gran_runs(seeds: list[int], workdir_root: str) -> dict:
  """{run name: (flagfile, workdir, extra apps.train flags)} to train."""
  runs = {}
  for seed in seeds:
    for steps, flagfile in GRAN_FLAGFILES.items():
      runs[f"gran{steps}_seed{seed}"] = (flagfile,
                                         [f"--seed={seed}", *PAPER_FLAGS])
  runs[f"gran3_per_step_seed{seeds[0]}"] = (
      GRAN_FLAGFILES[3], [f"--seed={seeds[0]}", "--noise_mode=per_step",
                          *PAPER_FLAGS])
  return {name: (os.path.join(report_common.CONFIG_DIR, flagfile),
                 os.path.join(workdir_root, name), extra)
          for name, (flagfile, extra) in runs.items()}


def train_all(seeds, workdir_root: str, smoke: bool,
              num_steps_scale: float) -> dict:
  """Trains every GRAN (and the multigrid EBM when needed); run infos."""
  infos = {}
  gran_steps = max(1, round(GRAN_NUM_STEPS.value * num_steps_scale))
  for name, (flagfile, workdir, extra) in gran_runs(seeds,
                                                    workdir_root).items():
    args = extra + (SMOKE_GRAN_FLAGS if smoke else
                    [f"--num_steps={gran_steps}"])
    infos[name] = report_common.run_training(
        name, flagfile, workdir, os.path.join(workdir_root, f"{name}.log"),
        args)
  if not (MULTIGRID_WORKDIR.value or MULTIGRID_SAMPLES.value):
    steps = max(1, round(MULTIGRID_NUM_STEPS.value * num_steps_scale))
    infos["multigrid"] = report_common.run_training(
        "multigrid", os.path.join(report_common.CONFIG_DIR,
                                  "multigrid_digits.cfg"),
        os.path.join(workdir_root, "multigrid"),
        os.path.join(workdir_root, "multigrid.log"),
        SMOKE_MULTIGRID_FLAGS if smoke else [f"--num_steps={steps}"])
  for info in infos.values():
    info["training_time_s"] = report_common.training_time_span(
        info["workdir"])
  return infos


def write_neighbours(images, output: str, name: str, smoke: bool) -> dict:
  """Runs `apps.evaluate --samples --neighbours_png` on `images` ([-1, 1]).

  Returns apps.evaluate's JSON (its sample-quality numbers) plus the PNG
  and the command, so the figure is the one the app makes.
  """
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from apps import common
  npz = common.save_npz(os.path.join(output, f"samples_{name}.npz"),
                        images=(np.asarray(images) + 1.0) / 2.0)
  png = os.path.join(output, f"neighbours_{name}.png")
  args = [f"--samples={npz}", "--dataset=digits", f"--neighbours_png={png}",
          "--num_neighbour_rows=12", f"--output={npz[:-4]}_evaluate.json"]
  if smoke:
    args.append(f"--cache_dir={os.path.join(output, 'cache')}")
  command = [sys.executable, "-m", "apps.evaluate", *args]
  result = subprocess.run(command, capture_output=True, text=True,
                          check=False, cwd=report_common.REPOSITORY_ROOT)
  if result.returncode != 0:
    raise app.UsageError(f"apps.evaluate --neighbours_png failed (exit "
                         f"{result.returncode}):\n{result.stderr[-3000:]}")
  with open(f"{npz[:-4]}_evaluate.json") as f:
    evaluated = json.load(f)
  return dict(png=os.path.basename(png), samples=evaluated["samples"],
              command="python -m apps.evaluate " + " ".join(args))


def run(output: str, workdir_root: str, smoke: bool, seed: int,
        cache_dir: Optional[str], num_steps_scale: float) -> dict:
  """Trains, loads and measures everything; the report.json dict."""
  # pylint: disable=g-import-not-at-top
  from apps import common
  settings = check_flags()
  seeds = settings["seeds"]
  num_samples = SMOKE_NUM_SAMPLES if smoke else NUM_BATTLE_SAMPLES.value
  timings, clock = {}, [time.time()]

  def lap(phase):
    now = time.time()
    timings[phase] = timings.get(phase, 0.0) + now - clock[0]
    clock[0] = now

  results = {"load_average_start": [round(v, 2) for v in os.getloadavg()],
             "settings": dict(settings, num_samples=num_samples,
                              gran_num_steps=GRAN_NUM_STEPS.value,
                              multigrid_num_steps=MULTIGRID_NUM_STEPS.value,
                              blur_sigma=BLUR_SIGMA.value, seed=seed,
                              num_steps_scale=num_steps_scale)}
  results["runs"] = train_all(seeds, workdir_root, smoke, num_steps_scale)
  lap("training")
  models, configs = {}, {}
  for name, info in results["runs"].items():
    try:
      model, config, step = common.load_finished_model(info["workdir"])
    except ValueError as error:
      raise app.UsageError(str(error)) from error
    models[name], configs[name] = model, (config, info["workdir"])
    info.update(step=step, batch_size=config.train.batch_size,
                num_steps=config.train.num_steps, family=config.family,
                training_seed=config.train.seed)
  if MULTIGRID_WORKDIR.value:
    model, config, step = common.load_finished_model(MULTIGRID_WORKDIR.value,
                                                     allow_unfinished=True)
    models["multigrid"] = model
    results["runs"]["multigrid"] = dict(
        workdir=os.path.abspath(MULTIGRID_WORKDIR.value), step=step,
        given=True, num_steps=config.train.num_steps, family="multigrid",
        training_time_s=report_common.training_time_span(
            MULTIGRID_WORKDIR.value))
  multigrid_images = (read_multigrid_samples(MULTIGRID_SAMPLES.value)
                      if MULTIGRID_SAMPLES.value else None)
  lap("loading")
  from apps import report_gran_measures as measures
  context = measures.Context.create(models, configs, seed, num_samples, smoke,
                                    cache_dir or (os.path.join(
                                        output, "cache") if smoke else None))
  results.update(measures.measure_everything(
      context, seeds, settings["sampling_canvas_steps"], BLUR_SIGMA.value,
      output, multigrid_images, lap))
  results["neighbours"] = {}
  for name in (f"gran3_seed{seeds[0]}", f"gran3_per_step_seed{seeds[0]}"):
    results["neighbours"][name] = write_neighbours(
        context.samples(name), output, name, smoke)
  lap("neighbours")
  results["timings"] = timings
  return results


def json_safe(value):
  """`value` with NumPy scalars as Python numbers and the non-finite floats
  (r_test = 1/0 = inf, 0/0 = nan) as the strings 'inf', '-inf', 'nan'."""
  import math  # pylint: disable=g-import-not-at-top
  if isinstance(value, dict):
    return {str(k): json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(v) for v in value]
  if hasattr(value, "item") and not isinstance(value, (str, bytes)):
    value = value.item()  # NumPy scalar.
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  return value


def write(results: dict, output: str, notes: Optional[str]) -> None:
  """Adds the checks and writes OUTPUT/report.json and report.md."""
  # pylint: disable=g-import-not-at-top
  from apps import report_gran_checks
  from apps import report_gran_tables
  results["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
  results["checks"] = report_gran_checks.paper_checks(results)
  with open(os.path.join(output, "report.json"), "w") as f:
    json.dump(json_safe(results), f, indent=1, allow_nan=False)
  with open(os.path.join(output, "report.md"), "w") as f:
    f.write(report_gran_tables.render_markdown(results, notes))
  report_common.log(f"Wrote {output}/report.md and report.json in "
                    f"{results['wall_time_s']:.0f} s.")
