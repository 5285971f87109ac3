"""Helpers shared by the tests: tiny models, tiny trained workdirs, apps.

Tiny means 8x8 digits, grids 1, 4, 8, nets at 1/8 width and 2 Langevin
steps: enough to exercise every code path in seconds, never to judge
quality (that is `-m slow`'s job).
"""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# `apps.train` flags of the tiny multigrid model (add --workdir, --num_steps).
TINY_MULTIGRID_FLAGS = ("--image_size=8", "--grid_sizes=1,4,8",
                        "--num_langevin_steps=2", "--net_width=0.125",
                        "--batch_size=8", "--start_bank_size=16",
                        "--num_sample_images=4")


def tiny_config(family: str = "multigrid", model: dict | None = None,
                **train_overrides):
  """A validated tiny 8x8 digits ExperimentConfig of any registered family.

  The model is the family's `tiny_settings` (tfgen.families) updated with
  `model`; training runs 4 steps of batch 8, checkpoints every 2.
  """
  # pylint: disable=g-import-not-at-top
  from tfgen import config as config_lib
  from tfgen import families
  row = families.get(family)
  train = dict(num_steps=4, batch_size=8, checkpoint_every=2, summary_every=1,
               sample_every=100, num_sample_images=4, learning_rate=1e-3)
  train.update(train_overrides)
  return config_lib.ExperimentConfig(
      family=family,
      data=config_lib.DataConfig(dataset="digits", image_size=8),
      model=row.config_class(**dict(row.tiny_settings, **(model or {}))),
      train=config_lib.TrainConfig(**train)).validate()


def tiny_flags(family: str) -> tuple[str, ...]:
  """`apps.train` flags of `tiny_config(family)` (add --workdir, --num_steps)."""
  from tfgen import families  # pylint: disable=g-import-not-at-top
  flags = [f"--family={family}", "--image_size=8", "--batch_size=8",
           "--num_sample_images=4"]
  for name, value in families.get(family).tiny_settings.items():
    if isinstance(value, (list, tuple)):
      value = ",".join(str(v) for v in value)
    flags.append(f"--{name}={value}")
  return tuple(flags)


def run_module(module: str, *args: str, timeout: float = 240,
               env: dict | None = None) -> subprocess.CompletedProcess:
  """`python -m module args...` from the repository root; output captured."""
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO,
                        capture_output=True, text=True, timeout=timeout,
                        env=env)


def run_report(*args: str, timeout: float = 900
               ) -> subprocess.CompletedProcess:
  """`python -m apps.report args...` (the report tests' one entry point)."""
  return run_module("apps.report", *args, timeout=timeout)


def json_numbers(value, kinds=(float,)):
  """Every number of `kinds` in a JSON-like value (dicts, lists), depth
  first; bools are never numbers."""
  if isinstance(value, dict):
    for item in value.values():
      yield from json_numbers(item, kinds)
  elif isinstance(value, list):
    for item in value:
      yield from json_numbers(item, kinds)
  elif isinstance(value, kinds) and not isinstance(value, bool):
    yield value


def train_tiny_workdir(path: str, *extra_flags: str,
                       num_steps: int = 2) -> str:
  """Trains the tiny multigrid model into `path` with `apps.train`."""
  result = run_module("apps.train", f"--workdir={path}",
                      *TINY_MULTIGRID_FLAGS, f"--num_steps={num_steps}",
                      *extra_flags)
  assert result.returncode == 0, result.stderr[-2000:]
  return path


def untrained_workdir(path: str, family: str, adjust=None,
                      model: dict | None = None) -> str:
  """A workdir of `tiny_config(family, model)`'s untrained model, in-process.

  Writes config.json and a checkpoint at step 0 (what `load_model` reads)
  without training: seconds instead of an `apps.train` run. `adjust(model)`
  runs before saving (e.g. `model.adapt(images)` for a multigrid start
  bank).
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tfgen import families
  from tfgen.train import checkpoints
  config = tiny_config(family, model)
  built = families.build_model(config)
  if adjust is not None:
    adjust(built)
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "config.json"), "w") as f:
    f.write(config.to_json())
  checkpoint = checkpoints.make_checkpoint(built.checkpoint_objects())
  tf.train.CheckpointManager(checkpoint, os.path.join(path, "checkpoints"),
                             max_to_keep=1,
                             checkpoint_name=checkpoints.PREFIX).save()
  return path


def tiny_multigrid(**overrides):
  """An untrained tiny `MultigridEBM` (grids 1, 4, 8; width 1/8; seed 3)."""
  from tfgen.models.multigrid import MultigridEBM  # pylint: disable=g-import-not-at-top
  settings = dict(grid_sizes=(1, 4, 8), channels=1, num_langevin_steps=2,
                  step_size=0.3, noise_scale=1.0, net_width=0.125,
                  start_bank_size=16, seed=3)
  settings.update(overrides)
  return MultigridEBM(**settings)


def digits(split: str = "train", image_size: int = 8, count: int = 32):
  """(images [count, S, S, 1] in [-1, 1], labels [count]) of bundled digits."""
  from tfgen import data  # pylint: disable=g-import-not-at-top
  return data.arrays("digits", split, image_size, max_examples=count)


# The tiny LAPGAN: levels 4 and 8, nets at 1/8 (G) and 1/4 (D) width.
TINY_LAPGAN = dict(level_sizes=(4, 8), channels=1, noise_dim=8,
                   generator_width=0.125, discriminator_width=0.25)


def tiny_lapgan(**overrides):
  """A compiled, untrained tiny `LAPGAN`."""
  from tfgen.models import lapgan  # pylint: disable=g-import-not-at-top
  model = lapgan.LAPGAN(**dict(TINY_LAPGAN, **overrides))
  model.compile()
  return model


def digits_batch(batch: int = 8, size: int = 8):
  """(images, labels) tensors of `batch` bundled digits at `size` pixels."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  images, labels = digits("train", size, batch)
  return tf.constant(images), tf.constant(labels)


REPORT_METHODS = ("multigrid", "single_grid", "cd1", "persistent_cd")


def report_results():
  """An `apps.report` report.json dict where multigrid wins every claim."""
  rank = {"multigrid": 0, "single_grid": 1, "persistent_cd": 2, "cd1": 3}
  methods = {m: dict(flagfile=f"configs/{m}.cfg", step=10, batch_size=8,
                     num_langevin_steps=[30], num_sampling_steps=[30],
                     sampler="langevin", reused=m != "multigrid",
                     train_wall_s=12.0, training_time_s=600.0)
             for m in REPORT_METHODS}
  synthesis = {m: dict(classifier_score=8.0 - rank[m],
                       classes_covered=10, mean_top_probability=0.9,
                       frechet_distance=10.0 + rank[m],
                       nearest_train_distance=1.5, num_images=500)
               for m in REPORT_METHODS}
  synthesis["real_test_images"] = dict(synthesis["multigrid"])
  inpainting = {mask: {m: dict(mae_missing=0.1 + 0.01 * rank[m],
                               psnr_missing=16.0 - rank[m],
                               psnr_whole_image=20.0, missing_fraction=0.25)
                       for m in REPORT_METHODS}
                for mask in ("square", "doodle", "pepper_salt")}
  features = {m: [dict(num_labelled=n, svm_error=0.1 + 0.01 * rank[m],
                       supervised_cnn_error=0.3 if m == "multigrid" else None,
                       feature_cnn_error=0.2 if m == "multigrid" else None)
                  for n in (100, 300)] for m in REPORT_METHODS}
  return dict(
      command="python -m apps.report multigrid --output=/tmp/r",
      wall_time_s=600.0, image_size=16, methods=methods, synthesis=synthesis,
      inpainting=inpainting, inpainting_settings=dict(num_images=360),
      inpainting_sampler_checks=[],
      correlation=dict(num_chains=300, langevin={"4": 0.5, "16": 0.9},
                       hmc={"4": 0.4, "16": 0.8}),
      scores={"training": {"4": [5.0, 1.0], "16": [3.0, 0.5]},
              "testing": {"4": [4.9, 1.0], "16": [2.9, 0.5]},
              "synthesized": {"4": [4.8, 1.0], "16": [2.8, 0.5]},
              "negative (uniform_noise)": {"4": [1.0, 1.0],
                                           "16": [-3.0, 0.5]}},
      features=features, timings={"training": 500.0, "synthesis": 60.0,
                                  "inpainting": 60.0},
      gradient_norms={"4": dict(first=10.0, last=2.0, max=12.0,
                                num_points=80)})
