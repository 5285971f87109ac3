"""`python -m apps.evaluate features|diagnostics` (apps/analysis.py)."""

import json
import os
import sys

import numpy as np
from PIL import Image
import pytest

import support

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_MODEL = [*support.TINY_MULTIGRID_FLAGS, "--summary_every=1"]


def run(module, *args):
  return support.python("-m", module, *args, timeout=400)


def train(path, *extra):
  result = run("apps.train", f"--workdir={path}", *TINY_MODEL,
               "--num_steps=3", *extra)
  assert result.returncode == 0, result.stderr[-2000:]
  return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return train(str(tmp_path_factory.mktemp("trained")))


@pytest.fixture(scope="module")
def conditional_workdir(tmp_path_factory):
  # A start bank large enough to hold every class (the tiny default of 16
  # would leave classes out, and class-conditional sampling needs them).
  return train(str(tmp_path_factory.mktemp("conditional")),
               "--condition_on_label", "--start_bank_size=400")


def test_features_subcommand_reports_svm_and_cnn_errors(workdir, tmp_path):
  output = str(tmp_path / "features.json")
  result = run("apps.evaluate", "features", f"--workdir={workdir}",
               "--num_labelled=20,50", "--cnn_epochs=2",
               "--feature_cnn_epochs=4", f"--output={output}")
  assert result.returncode == 0, result.stderr[-3000:]
  printed = json.loads(result.stdout)
  with open(output) as f:
    assert json.load(f) == printed
  assert [r["num_labelled"] for r in printed["rows"]] == [20, 50]
  for row in printed["rows"]:
    assert 0.0 <= row["svm_error"] <= 1.0
    assert 0.0 <= row["supervised_cnn_error"] <= 1.0
    assert 0.0 <= row["feature_cnn_error"] <= 1.0
    assert 1 <= row["feature_cnn_epochs_trained"] <= 4
  # Conv features of digits beat chance (0.9) even after 3 training steps.
  assert printed["rows"][1]["svm_error"] < 0.6
  assert printed["rows"][1]["feature_cnn_error"] < 0.7
  # Grid 4's 2x2x8 and grid 8's 4x4x8 conv maps, at 4x4.
  assert printed["feature_map_shape"] == [4, 4, 16]
  assert "feature_cnn_error: two 3x3 conv layers" in printed["notes"]
  assert printed["feature_dim"] == 2 * 2 * 8 + 2 * 2 * 8
  assert printed["feature_grids"] == [4, 8]
  assert printed["source"]["step"] == 3


def test_diagnostics_subcommand_writes_json_and_gradient_plot(workdir,
                                                             tmp_path):
  output_dir = str(tmp_path / "diagnostics")
  result = run("apps.evaluate", "diagnostics", f"--workdir={workdir}",
               f"--output_dir={output_dir}", "--num_chains=6",
               "--num_score_images=6", "--num_steps=3")
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(output_dir, "diagnostics.json")) as f:
    saved = json.load(f)
  correlation = saved["chain_correlation"]
  assert sorted(correlation) == ["hmc", "langevin"]
  for sampler in correlation.values():
    assert sampler["pixels"]["4"] is None  # Grey-scale: constant 1x1 start.
    assert -1.0 <= sampler["pixels"]["8"] <= 1.0
    assert -1.0 <= sampler["chains"]["4"] <= 1.0
  assert sorted(saved["scores"]) == [
      "held_out", "negative_pixel_permuted", "negative_uniform_noise",
      "synthesized", "training"]
  for grids in saved["scores"].values():
    assert sorted(grids) == ["4", "8"]
    assert grids["8"]["std"] >= 0.0
  norms = saved["gradient_l1_norm"]
  assert norms["4"]["steps"] == [1, 2, 3] and len(norms["8"]["values"]) == 3
  assert Image.open(saved["gradient_norms_png"]).size == (640, 400)
  printed = json.loads(result.stdout)
  assert "values" not in printed["gradient_l1_norm"]["4"]


def test_conditional_samples_get_a_per_class_accuracy(conditional_workdir,
                                                      tmp_path):
  env = dict(os.environ, TFGEN_CACHE_DIR=str(tmp_path / "cache"))
  result = support.python(
      "-m", "apps.evaluate", f"--workdir={conditional_workdir}",
      "--num_samples=25", env=env, timeout=400)
  assert result.returncode == 0, result.stderr[-3000:]
  accuracy = json.loads(result.stdout)["samples"]["class_accuracy"]
  # 25 samples spread evenly over 10 classes: 5 x 3 + 5 x 2.
  assert sorted(accuracy["counts"].values()) == [2] * 5 + [3] * 5
  assert 0.0 <= accuracy["accuracy"] <= 1.0
  values = [v for v in accuracy["per_class"].values()]
  counts = [accuracy["counts"][k] for k in accuracy["per_class"]]
  assert accuracy["accuracy"] == pytest.approx(
      np.dot(values, counts) / 25)


def test_conditional_model_diagnostics_score_with_labels(conditional_workdir,
                                                         tmp_path):
  result = run("apps.evaluate", "diagnostics",
               f"--workdir={conditional_workdir}",
               f"--output_dir={tmp_path}", "--num_chains=4",
               "--num_score_images=4", "--num_steps=1", "--samplers=langevin")
  assert result.returncode == 0, result.stderr[-3000:]
  saved = json.loads(result.stdout)
  assert list(saved["chain_correlation"]) == ["langevin"]
  assert "Conditional model" in saved["notes"]


@pytest.mark.parametrize("args, expected", [
    (["features", "--workdir={workdir}", "--num_labelled=5000"],
     "--num_labelled: num_labelled=5000 is larger than the 1438 labelled"),
    (["features", "--workdir={workdir}", "--num_labelled=0"],
     "--num_labelled=0 must be positive integers"),
    (["features", "--workdir={workdir}", "--num_labelled=ten"],
     "--num_labelled=ten must be a list of integers"),
    (["features", "--workdir={workdir}", "--num_labelled=15"],
     "--num_labelled=15: num_labelled=15 gives class"),
    (["features", "--workdir={workdir}", "--feature_cnn_epochs=-1"],
     "--feature_cnn_epochs=-1 must be >= 0 (0 skips the CNN on the feature "
     "maps), e.g. 100."),
    (["features", "--workdir={workdir}", "--feature_map_size=0"],
     "--feature_map_size=0 must be positive, e.g. 4"),
    (["--workdir={workdir}", "--feature_cnn_epochs=3"],
     "--feature_cnn_epochs=3 does not apply to `apps.evaluate sample "
     "quality"),
    (["features", "--workdir={workdir}", "--feature_grids=16"],
     "--feature_grids=16: [16] are not model grids"),
    (["features", "--workdir={workdir}", "--num_chains=5"],
     "--num_chains=5 does not apply to `apps.evaluate features`"),
    (["features", "--workdir={empty}"], "has no config.json"),
    (["features"], "`apps.evaluate features` needs --workdir"),
    (["diagnostics", "--workdir={workdir}"], "needs --workdir"),
    (["diagnostics", "--workdir={workdir}", "--output_dir={empty}",
      "--samplers=nuts"], "--samplers=nuts must list"),
    (["diagnostics", "--workdir={workdir}", "--output_dir={empty}",
      "--num_chains=1"], "--num_chains=1 must be >= 2"),
    (["diagnostics", "--workdir={workdir}", "--output_dir={empty}",
      "--negatives=imagenet"], "--negatives='imagenet': dataset='imagenet'"),
    (["diagnostics", "--workdir={workdir}", "--output_dir={empty}",
      "--num_labelled=5"], "--num_labelled=['5'] does not apply"),
    (["plots", "--workdir={workdir}"], "Subcommands: features, diagnostics"),
    (["--workdir={workdir}", "--cnn_epochs=3"],
     "--cnn_epochs=3 does not apply to `apps.evaluate sample quality"),
])
def test_bad_subcommand_input_is_reported(args, expected, workdir, tmp_path):
  args = [a.format(workdir=workdir, empty=tmp_path) for a in args]
  result = run("apps.evaluate", *args)
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-3000:]


def test_a_lapgan_workdir_is_refused_naming_its_family(tmp_path):
  lapgan = str(tmp_path / "lapgan")
  result = run("apps.train", f"--workdir={lapgan}", "--family=lapgan",
               "--image_size=8", "--level_sizes=4,8", "--noise_dim=4",
               "--generator_width=0.125", "--discriminator_width=0.125",
               "--batch_size=8", "--num_steps=1")
  assert result.returncode == 0, result.stderr[-2000:]
  for args in (["features"], ["diagnostics", f"--output_dir={tmp_path}"]):
    result = run("apps.evaluate", *args, f"--workdir={lapgan}")
    assert result.returncode == 1
    assert (f"--workdir={lapgan!r}: `apps.evaluate {args[0]}` needs a model "
            "that has energy-net features") in result.stderr, (
                result.stderr[-2000:])
    assert "(family='lapgan'), which does not. Instead, score its " in (
        result.stderr)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
