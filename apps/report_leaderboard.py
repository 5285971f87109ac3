r"""`python -m apps.report leaderboard`: every family on digits, in one table.

    python -m apps.report leaderboard --output=DIR [--workdir_root=DIR/workdirs]
        [--leaderboard_models=multigrid,cd1,...] [--num_samples=500] [--smoke]

For each model of `--leaderboard_models` (`MODELS` below: every registered
family's default digits flagfile, the single-level GAN, the multigrid
baselines and the GRAN/PPGN variants) it

1. trains the flagfile with `python -m apps.train` into
   WORKDIR_ROOT/NAME-HASH, HASH being the SHA-256 of the flagfile's text
   (parent flagfiles included) and the extra flags: a finished workdir of
   the same settings is reused, changed settings train a new one;
2. measures training wall time and steps/s (the workdir's TensorBoard
   events, so also for a reused workdir), peak RSS of the `apps.train`
   process (recorded beside the workdir when it trained), in-process
   sampling images/s (`model.sample` of `SAMPLE_BATCH` images, median of 3
   after a compiling call) and the p50 latency of one sample from the
   export (`python -m export`, then the SavedModel's `serving_default` with
   one seed, `LATENCY_CALLS` calls);
3. runs `python -m apps.evaluate --workdir=... --num_samples=N --seed=S`
   (the same command a user runs; its JSON is kept whole) and, where the
   family inpaints, `python -m apps.inpaint --mask=square` on
   `--num_inpaint_images` test images;
4. runs `python -m apps.battle` once over every model with a discriminator
   (GAM: eq. 10-11's ratios, bootstrap intervals, the winner rule, the
   matrix of every D on every G and on the test split) with the samples of
   the models without one (`apps.sample` .npz files) as `--against`.

Writes DIR/leaderboard.json, DIR/leaderboard.md (the table, the GAM matrix,
the battles, the commands and the wall time) and DIR/samples/NAME.png.
`--smoke` trains every model for a few steps at tiny width to test the
pipeline; its numbers mean nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from typing import Optional, Sequence

from apps import report_common
from apps import report_gran
from apps import report_leaderboard_tables as tables
from apps import report_ppgn
from absl import app
from absl import flags

# name -> (flagfile in apps/configs, extra apps.train flags, what it is).
MODELS = {
    "multigrid": ("multigrid_digits.cfg", (), "multigrid EBM (default)"),
    "single_grid": ("single_grid_digits.cfg", (), "multigrid baseline: one "
                    "16x16 grid, 60 Langevin steps"),
    "cd1": ("cd1_digits.cfg", (), "multigrid baseline: CD-1"),
    "persistent_cd": ("persistent_cd_digits.cfg", (),
                      "multigrid baseline: persistent CD"),
    "lapgan": ("lapgan_digits.cfg", (), "LAPGAN (default)"),
    "gan": ("gan_digits.cfg", (), "single-level GAN"),
    "gran1": ("gran1_digits.cfg", (), "GRAN, T = 1"),
    "gran3": ("gran_digits.cfg", (), "GRAN, T = 3 (default)"),
    "gran5": ("gran5_digits.cfg", (), "GRAN, T = 5"),
    "ppgn": ("ppgn_digits.cfg", (), "Noiseless Joint PPGN-h (default)"),
    "ppgn_joint": ("ppgn_joint_digits.cfg", (), "Joint PPGN-h"),
}
# The single-grid baseline (~32 min) and Joint PPGN-h (~17 min) stay out of
# the default so that the whole command fits in 90 minutes on 2 cores.
DEFAULT_MODELS = ("multigrid", "cd1", "persistent_cd", "lapgan", "gan",
                  "gran1", "gran3", "gran5", "ppgn")
SMOKE_FLAGS = {
    "multigrid": report_gran.SMOKE_MULTIGRID_FLAGS + [
        "--start_bank_size=16", "--persistent_bank_size=16"],
    "lapgan": ["--num_steps=2", "--batch_size=8", "--noise_dim=8",
               "--generator_width=0.125", "--discriminator_width=0.25",
               "--checkpoint_every=2", "--sample_every=2",
               "--summary_every=1", "--num_sample_images=4"],
    "gran": report_gran.SMOKE_GRAN_FLAGS,
    "ppgn": report_ppgn.SMOKE_TRAIN_FLAGS,
}
SMOKE_SIZES = dict(num_samples=20, num_inpaint_images=8, num_test=100,
                   num_bootstrap=50, latency_calls=3)
SAMPLE_BATCH = 100
LATENCY_CALLS = 20
PNG_IMAGES = 64

MODELS_FLAG = flags.DEFINE_list(
    "leaderboard_models", list(DEFAULT_MODELS),
    f"leaderboard: the rows, from {', '.join(MODELS)}.")
NUM_INPAINT = flags.DEFINE_integer(
    "leaderboard_inpaint_images", 200, "leaderboard: test images of the "
    "square-mask inpainting error (families that inpaint).")
NUM_BATTLE_SAMPLES = flags.DEFINE_integer(
    "leaderboard_battle_samples", 500, "leaderboard: samples per model in "
    "the GAM battles and matrix.")

log = report_common.log


def check_flags() -> None:
  unknown = [m for m in MODELS_FLAG.value if m not in MODELS]
  if unknown or not MODELS_FLAG.value:
    raise app.UsageError(
        f"--leaderboard_models={','.join(MODELS_FLAG.value)!r}: "
        f"{unknown or 'empty'}; choose from {', '.join(MODELS)}.")
  for flag in (NUM_INPAINT, NUM_BATTLE_SAMPLES):
    if flag.value < 2:
      raise app.UsageError(f"--{flag.name}={flag.value} must be >= 2.")


def flagfile_text(path: str) -> str:
  """The flagfile's lines with every nested --flagfile expanded in place."""
  lines = []
  with open(path) as f:
    for line in f:
      line = line.strip()
      if line.startswith("--flagfile="):
        nested = line.split("=", 1)[1]
        if not os.path.isabs(nested):
          nested = os.path.join(report_common.REPOSITORY_ROOT, nested)
        lines.append(flagfile_text(nested))
      elif line and not line.startswith("#"):
        lines.append(line)
  return "\n".join(lines)


def settings_hash(flagfile: str, extra: Sequence[str]) -> str:
  """12 hex digits naming the settings of a training run."""
  text = flagfile_text(flagfile) + "\n" + "\n".join(extra)
  return hashlib.sha256(text.encode()).hexdigest()[:12]


def family_of(flagfile: str) -> str:
  return [line.split("=", 1)[1] for line in flagfile_text(flagfile).split(
      "\n") if line.startswith("--family=")][-1]


def run_module(module: str, args: Sequence[str], what: str,
               timeout: float = 3600) -> str:
  """`python -m module args` from the repository root; its stdout."""
  command = [sys.executable, "-m", module, *args]
  log(f"{what}: python -m {module} {' '.join(shlex.quote(a) for a in args)}")
  result = subprocess.run(command, capture_output=True, text=True,
                          cwd=report_common.REPOSITORY_ROOT, timeout=timeout,
                          check=False)
  if result.returncode:
    raise app.UsageError(f"{what}: python -m {module} failed (exit "
                         f"{result.returncode}):\n{result.stderr[-3000:]}")
  return result.stdout


def last_json(stdout: str) -> dict:
  """The JSON object an app printed last (its '{' starts a line)."""
  index = stdout.rfind("\n{")
  start = index + 1 if index >= 0 else 0
  return json.JSONDecoder().raw_decode(stdout[start:])[0]


def train(name: str, workdir_root: str, smoke: bool) -> dict:
  """Trains (or reuses) model `name`; the training facts of its row."""
  flagfile_name, extra, what = MODELS[name]
  flagfile = os.path.join(report_common.CONFIG_DIR, flagfile_name)
  family = family_of(flagfile)
  extra = list(extra) + (list(SMOKE_FLAGS[family]) if smoke else [])
  workdir = os.path.join(workdir_root,
                         f"{name}-{settings_hash(flagfile, extra)}")
  record_path = workdir + ".training.json"
  trained = report_common.run_training(name, flagfile, workdir,
                                       workdir + ".train.log", extra)
  if trained["reused"] and os.path.isfile(record_path):
    with open(record_path) as f:
      trained["train_peak_rss_bytes"] = json.load(f)["train_peak_rss_bytes"]
  elif trained["reused"]:
    trained["train_peak_rss_bytes"] = None  # Trained elsewhere: unknown.
  else:
    with open(record_path, "w") as f:
      json.dump({k: trained[k] for k in ("train_wall_s",
                                         "train_peak_rss_bytes")}, f)
  return dict(trained, name=name, what=what, family=family)


def speed(workdir: str, export_base: str, latency_calls: int) -> dict:
  """In-process sampling images/s and the export's p50 one-sample latency."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  import tensorflow as tf
  from apps import benchmark_serve
  from tfgen.bench import timing
  from tfgen.train import workdir as workdir_lib
  model, config, step = workdir_lib.load_model(workdir)

  def sample():
    return np.asarray(model.sample(SAMPLE_BATCH, seed=0)[-1])

  first = timing.time_call(sample)
  seconds = [timing.time_call(sample) for _ in range(3)]
  version = benchmark_serve.export(workdir, export_base)
  loaded = tf.saved_model.load(version)
  serving = loaded.signatures["serving_default"]
  inputs = {"seed": tf.constant([7], tf.int64)}
  if "class_id" in serving.structured_input_signature[1]:
    inputs["class_id"] = tf.constant([3], tf.int64)  # Conditional models.
  call = lambda: serving(**inputs)["images"].numpy()
  call()  # The first call of a loaded signature pays for its set-up.
  latencies = [timing.time_call(call) for _ in range(latency_calls)]
  return {"step": step, "num_steps": config.train.num_steps,
          "sample_first_call_s": first,
          "sample_images_per_s": SAMPLE_BATCH / float(np.median(seconds)),
          "export_p50_latency_s": timing.percentiles(latencies)["p50"],
          "export": version}


def quality(row: dict, output: str, sizes: dict, seed: int,
            cache_dir: Optional[str], can_inpaint: bool) -> dict:
  """apps.evaluate's JSON (and apps.inpaint's, when the family inpaints)."""
  name, workdir = row["name"], row["workdir"]
  cache = [f"--cache_dir={cache_dir}"] if cache_dir else []
  evaluation = last_json(run_module("apps.evaluate", [
      f"--workdir={workdir}", f"--num_samples={sizes['num_samples']}",
      f"--seed={seed}", *cache], f"{name}: evaluate"))
  inpainting = None
  if can_inpaint:
    inpainting = last_json(run_module("apps.inpaint", [
        f"--workdir={workdir}", "--mask=square",
        f"--num_images={sizes['num_inpaint_images']}", f"--seed={seed}",
        "--png_images=8",
        f"--output={os.path.join(output, 'inpaint', name + '.npz')}"],
        f"{name}: inpaint"))
  samples = os.path.join(output, "samples", f"{name}.npz")
  run_module("apps.sample", [f"--workdir={workdir}",
                             f"--num_samples={sizes['num_samples']}",
                             f"--seed={seed}", f"--png_images={PNG_IMAGES}",
                             f"--output={samples}"], f"{name}: sample")
  return {"evaluate": evaluation, "inpaint": inpainting, "samples": samples}


def gam(rows: Sequence[dict], output: str, sizes: dict, seed: int) -> dict:
  """apps.battle over the rows with a discriminator, the others --against."""
  players = [r["workdir"] for r in rows if r["battle"]]
  against = [r["samples"] for r in rows if not r["battle"]]
  if not players:
    return {"skipped": "no model with a discriminator"}
  if len(players) < 2 and not against:
    return {"skipped": "one model with a discriminator and no other"}
  path = os.path.join(output, "gam", "battles.json")
  args = [f"--workdirs={','.join(players)}", f"--output={path}",
          f"--num_samples={sizes['battle_samples']}", f"--seed={seed}",
          f"--num_bootstrap={sizes['num_bootstrap']}"]
  if sizes.get("num_test"):
    args.append(f"--num_test={sizes['num_test']}")
  if against:
    args.append(f"--against={','.join(against)}")
  run_module("apps.battle", args, "GAM")
  with open(path) as f:
    result = json.load(f)
  with open(os.path.splitext(path)[0] + ".md") as f:
    result["markdown"] = f.read()
  result["command"] = "python -m apps.battle " + " ".join(
      shlex.quote(a) for a in args)
  return result


def run(output: str, workdir_root: str, smoke: bool, seed: int,
        cache_dir: Optional[str], num_samples: int) -> dict:
  """Trains/reuses every model, measures and battles them; the results."""
  # pylint: disable=g-import-not-at-top
  from tfgen import families
  sizes = dict(num_samples=num_samples,
               num_inpaint_images=NUM_INPAINT.value,
               battle_samples=NUM_BATTLE_SAMPLES.value, num_test=0,
               num_bootstrap=1000, latency_calls=LATENCY_CALLS)
  if smoke:
    sizes.update(SMOKE_SIZES, battle_samples=SMOKE_SIZES["num_samples"])
    cache_dir = cache_dir or os.path.join(output, "cache")
  for folder in ("samples", "inpaint", "gam", "exports"):
    os.makedirs(os.path.join(output, folder), exist_ok=True)
  phases, rows = {}, []
  from tfgen.bench import timing  # pylint: disable=g-import-not-at-top
  matmul = timing.matmul_gflops()
  for name in MODELS_FLAG.value:
    start = time.time()
    row = train(name, workdir_root, smoke)
    family = families.get(row["family"])
    row["battle"] = family.has("battle")
    row["training_time_s"] = report_common.training_time_span(row["workdir"])
    phases[f"train/{name}"] = time.time() - start
    start = time.time()
    row.update(speed(row["workdir"], os.path.join(output, "exports", name),
                     sizes["latency_calls"]))
    row["steps_per_s"] = (row["step"] / row["training_time_s"]
                          if row["training_time_s"] else None)
    row.update(quality(row, output, sizes, seed, cache_dir,
                       family.has("inpaint")))
    phases[f"measure/{name}"] = time.time() - start
    rows.append(row)
  start = time.time()
  battles = gam(rows, output, sizes, seed)
  phases["gam"] = time.time() - start
  return {"rows": rows, "gam": battles, "sizes": sizes, "seed": seed,
          "phases_s": phases, "matmul_gflops": matmul}



def write(results: dict, output: str) -> None:
  with open(os.path.join(output, "leaderboard.json"), "w") as f:
    json.dump(results, f, indent=1, default=float)
  with open(os.path.join(output, "leaderboard.md"), "w") as f:
    f.write(tables.render_markdown(results))
  log(f"Wrote {output}/leaderboard.md and leaderboard.json in "
      f"{results['wall_time_s']:.0f} s.")
