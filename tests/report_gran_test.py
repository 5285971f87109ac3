"""`python -m apps.report gran --smoke`: the GRAN report's pipeline, tiny."""

import json
import math
import os
import sys

import numpy as np
import pytest

import support

KINDS = ("gran1", "gran3", "gran5")


def run(*args):
  return support.run_report(*args, timeout=900)




def test_the_reports_grans_train_in_the_papers_unconditional_setting():
  from apps import report_gran  # pylint: disable=g-import-not-at-top
  runs = report_gran.gran_runs([0, 1], "/unused")
  assert len(runs) == 7
  for flagfile, _, extra in runs.values():
    assert "--nocondition_on_label" in extra and "--diversity_weight=0" in extra
    assert os.path.basename(flagfile).startswith("gran")
  with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "apps",
                         "configs", "gran_digits.cfg")) as f:
    assert "--condition_on_label" in f.read().split()  # What is turned off.


@pytest.fixture(scope="module")
def report(tmp_path_factory):
  """One smoke run: one seed, T' = 5, 6, multigrid samples from a file (a
  trained multigrid workdir would be one more apps.train run)."""
  root = tmp_path_factory.mktemp("report_gran")
  samples = str(root / "multigrid_samples.npz")
  np.savez(samples, images=np.random.default_rng(0).uniform(
      size=(30, 16, 16, 1)).astype(np.float32))
  output = str(root / "out")
  result = run("gran", f"--output={output}", "--smoke", "--gran_seeds=0",
               "--sampling_canvas_steps=5,6", f"--multigrid_samples={samples}")
  assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
  return output


@pytest.mark.slow
def test_smoke_report_writes_every_table_from_the_runs(report):
  with open(os.path.join(report, "report.json")) as f:
    results = json.load(f)  # allow_nan=False on writing: strict JSON.
  runs = results["runs"]
  assert set(runs) == {"gran1_seed0", "gran3_seed0", "gran5_seed0",
                       "gran3_per_step_seed0"}
  for info in runs.values():
    assert info["step"] == 2 and info["training_seed"] == 0
    assert info["training_time_s"] is not None and not info["reused"]
    assert os.path.isdir(info["workdir"])
  battles = results["table2"]["0"]["battles"]
  assert [(b["name_1"], b["name_2"]) for b in battles] == [
      ("gran1_seed0", "gran3_seed0"), ("gran1_seed0", "gran5_seed0"),
      ("gran3_seed0", "gran5_seed0")]
  for b in battles:
    assert b["num_test"] == results["table2_num_test"] == 359
    assert b["num_samples_1"] == b["num_samples_2"] == 40
    assert b["winner_name"] in (b["name_1"], b["name_2"], "tie")
    assert 0 <= b["test_error_1"] <= 1 and 0 <= b["sample_error_1_on_2"] <= 1
  history = results["table2"]["0"]["history"]
  assert set(history) == {f"{k}_seed0" for k in KINDS}
  assert all(rows[-1]["step"] == 2 and 0 <= rows[-1]["d_test_error"] <= 1
             for rows in history.values())
  assert results["table2"]["0"]["referees"] == {}  # One seed: no referee.
  table3 = results["table3"]
  assert any(s.startswith("multigrid") for s in table3)
  assert any(s.startswith("blurred") for s in table3)
  assert any(s.startswith("GaussianMixture") for s in table3)
  for row in table3.values():
    assert set(row["called_real"]) == {f"{k}_seed0" for k in KINDS}
    for value in row["called_real"].values():
      low, high = value["interval"]
      # The Wilson bounds are rounded: 1 - 1e-16 for a fraction of 1.
      assert -1e-9 <= low <= value["fraction_real"] + 1e-9
      assert value["fraction_real"] <= high + 1e-9 <= 1 + 2e-9
  per_steps = results["table4"]["0"]["per_steps"]
  assert set(per_steps) == {"5", "6"}
  # One D on both sides: r_test = 1, or 0/0 = 'nan' if it calls no test
  # digit fake (strict JSON: non-finite ratios are strings).
  assert [b["r_test"] for b in results["table4"]["0"]["battles"]] in (
      [1.0], ["nan"])
  assert set(results["canvases"]) == {
      "gran3_seed0@3", "gran5_seed0@5", "gran5_seed0@6",
      "gran3_per_step_seed0@3"}
  for stats in results["canvases"].values():
    assert [r["t"] for r in stats["per_step"]] == list(
        range(1, stats["steps"] + 1))
    assert os.path.getsize(os.path.join(report, stats["panel"])) > 0
  modes = results["noise_modes"]
  assert modes["per_step"]["history"][-1]["step"] == 2
  assert 0 <= modes["shared"]["near_duplicate_fraction"] <= 1
  for n in results["neighbours"].values():
    assert os.path.getsize(os.path.join(report, n["png"])) > 0
    assert "apps.evaluate" in n["command"] and "--neighbours_png" in n[
        "command"]
  assert results["checks"] and all(isinstance(c["agrees"], bool)
                                   for c in results["checks"])
  numbers = list(support.json_numbers({k: results[k] for k in (
      "table2", "table3", "table4", "canvases", "noise_modes", "copies")},
      kinds=(int, float)))
  assert numbers and all(math.isfinite(v) for v in numbers)
  assert results["wall_time_s"] > 0 and results["smoke"] is True
  with open(os.path.join(report, "report.md")) as f:
    markdown = f.read()
  for heading in ("## Table 2", "## Table 3", "## Table 4", "## Canvases",
                  "## Per-step vs shared noise", "## Disagreements"):
    assert heading in markdown
  assert "python -m apps.report gran" in markdown and "--smoke" in markdown


@pytest.mark.parametrize("args, expected", [
    (["--sampling_canvas_steps=5,0"],
     "--sampling_canvas_steps=5,0 must be integers >= 1, e.g. "
     "--sampling_canvas_steps=5,7,9."),
    (["--gran_seeds=0,0"], "--gran_seeds=0,0 repeats a seed"),
    (["--gran_num_steps=0"], "--gran_num_steps=0 must be >= 1"),
    (["--multigrid_workdir=/nonexistent"],
     "--multigrid_workdir='/nonexistent' has no config.json"),
    (["--multigrid_samples=/nonexistent.npz"],
     "--multigrid_samples='/nonexistent.npz' does not exist"),
    (["--multigrid_workdir=a", "--multigrid_samples=b"],
     "--multigrid_workdir and --multigrid_samples both give"),
])
def test_bad_arguments_exit_1_naming_the_flag(args, expected, tmp_path):
  result = run("gran", f"--output={tmp_path}", *args)
  assert result.returncode == 1
  assert expected in result.stderr, result.stderr[-2000:]
  assert not os.listdir(tmp_path)  # Refused before anything is written.


def test_multigrid_samples_of_another_shape_are_refused(tmp_path):
  samples = str(tmp_path / "small.npz")
  np.savez(samples, images=np.zeros((4, 8, 8, 1), np.float32))
  result = run("gran", f"--output={tmp_path / 'out'}",
               f"--multigrid_samples={samples}")
  assert result.returncode == 1
  assert "holds images of shape (4, 8, 8, 1); the GRANs make" in (
      result.stderr), result.stderr[-2000:]
  assert not os.path.exists(tmp_path / "out")


def test_a_workdir_of_another_family_is_refused(tmp_path):
  workdir = tmp_path / "gran_run"
  workdir.mkdir()
  from tfgen import config as config_lib  # pylint: disable=g-import-not-at-top
  from tfgen.models import gran_config  # pylint: disable=g-import-not-at-top
  (workdir / "config.json").write_text(config_lib.ExperimentConfig(
      family="gran", model=gran_config.GranConfig()).to_json())
  result = run("gran", f"--output={tmp_path / 'out'}",
               f"--multigrid_workdir={workdir}")
  assert result.returncode == 1
  assert "is a 'gran' workdir, not a multigrid one" in result.stderr, (
      result.stderr[-2000:])


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
