"""`python -m apps.report multigrid --smoke`: the whole pipeline, tiny."""

import json
import math
import os
import sys

import pytest

import support

METHODS = ("multigrid", "single_grid", "cd1", "persistent_cd")
MASKS = ("square", "doodle", "pepper_salt")


def run(*args):
  return support.run_report(*args, timeout=900)




@pytest.fixture(scope="module")
def report(tmp_path_factory):
  output = str(tmp_path_factory.mktemp("report"))
  result = run("multigrid", f"--output={output}", "--smoke")
  assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
  return output


@pytest.mark.slow
def test_smoke_report_writes_every_table_with_finite_values(report):
  results = json.load(open(os.path.join(report, "report.json")))
  assert set(results["methods"]) == set(METHODS)
  for method in METHODS:
    info = results["methods"][method]
    assert info["step"] == 2 and not info["reused"]
    assert info["training_time_s"] is not None and info["training_time_s"] >= 0
    assert os.path.exists(os.path.join(report, f"samples_{method}.png"))
  assert set(results["synthesis"]) == set(METHODS) | {"real_test_images"}
  assert set(results["inpainting"]) == set(MASKS)
  assert set(results["inpainting_reference"]) == set(MASKS)
  for mask in MASKS:
    assert set(results["inpainting"][mask]) == set(METHODS)
    assert os.path.exists(os.path.join(report, f"inpaint_{mask}.png"))
  assert set(results["correlation"]) >= {"langevin", "hmc"}
  assert set(results["correlation"]["langevin"]) == {"4", "16"}
  assert {"training", "testing", "synthesized"} <= set(results["scores"])
  for method in METHODS:
    assert [r["num_labelled"] for r in results["features"][method]] == [20, 40]
  # The CNN on feature maps: multigrid's row only.
  assert all(0 <= r["feature_cnn_error"] <= 1
             for r in results["features"]["multigrid"])
  assert all(r["feature_cnn_error"] is None
             for r in results["features"]["cd1"])
  assert results["checks"] and results["wall_time_s"] > 0
  assert set(results["gradient_norms"]) == {"4", "16"}
  assert os.path.exists(os.path.join(report, "gradient_norms_multigrid.png"))
  numbers = [v for v in support.json_numbers(
      {k: results[k] for k in ("synthesis", "inpainting", "scores",
                               "inpainting_reference", "features")})]
  assert numbers and all(math.isfinite(v) for v in numbers)
  # Correlations are finite or null (a constant chain start has none).
  correlation = [v for k, v in results["correlation"].items()
                 if k != "num_chains"]
  assert all(v is None or -1 <= v <= 1 for c in correlation
             for v in c.values())
  assert all(v is not None for v in results["correlation"]["langevin"].values())
  markdown = open(os.path.join(report, "report.md")).read()
  for heading in ("## Synthesis", "## Inpainting (paper Table 4)",
                  "## Y0 / Y30 correlation", "## Scores f(Y)",
                  "## Feature learning", "## Orderings", "## Disagreements"):
    assert heading in markdown
  assert "python -m apps.report multigrid" in markdown and "--smoke" in markdown


@pytest.mark.slow
def test_second_run_reuses_the_finished_workdirs(report):
  result = run("multigrid", f"--output={report}", "--smoke",
               "--num_labelled=20")
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.load(open(os.path.join(report, "report.json")))
  assert all(results["methods"][m]["reused"] for m in METHODS)


@pytest.mark.parametrize("args, expected", [
    (["lapgan", "--output=/tmp/x"], "Name one experiment: python -m "
                                    "apps.report multigrid|gran|ppgn|leaderboard "
                                    "--output=DIR"),
    (["multigrid"], "--output is required"),
    (["multigrid", "--output=/tmp/x", "--num_steps_scale=0"],
     "--num_steps_scale=0.0 must be > 0"),
    (["multigrid", "--output=/tmp/x", "--num_labelled=10,x"],
     "--num_labelled=10,x must be positive integers"),
    (["multigrid", "--output=/tmp/x", "--notes=/nonexistent.md"],
     "--notes='/nonexistent.md' does not exist"),
])
def test_bad_arguments_exit_1_naming_them(args, expected):
  result = run(*args)
  assert result.returncode == 1
  assert expected in result.stderr, result.stderr[-2000:]


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
