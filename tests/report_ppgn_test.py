"""`python -m apps.report ppgn --smoke`: the whole PPGN pipeline, tiny.

Checks that every table is filled from the runs (the workdirs trained here,
the treatments sampled from them, the checks derived from the numbers) and
that the markdown holds every section; plus the pure checks' logic and the
usage errors.
"""

import json
import math
import os
import sys

import pytest

import support

from apps import report_ppgn_tables

TREATMENTS = ("dgn_am", "ppgn_x", "ppgn_h", "joint_ppgn_h",
              "noiseless_joint_ppgn_h")
SMOKE_MASKS = ("square",)     # the full run adds doodle and pepper_salt


def run(*args):
  return support.run_report(*args, timeout=1800)




@pytest.fixture(scope="module")
def report(tmp_path_factory):
  output = str(tmp_path_factory.mktemp("report_ppgn"))
  result = run("ppgn", f"--output={output}", "--smoke")
  assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
  return output, json.load(open(os.path.join(output, "report.json")))


@pytest.mark.slow
def test_smoke_report_trains_both_workdirs(report):
  output, results = report
  assert set(results["workdirs"]) == {"ppgn", "joint"}
  variants = {n: w["variant"] for n, w in results["workdirs"].items()}
  assert variants == {"ppgn": "noiseless_joint_ppgn_h",
                      "joint": "joint_ppgn_h"}
  for name, info in results["workdirs"].items():
    assert info["step"] == info["num_steps"] and not info["reused"]
    assert os.path.isdir(os.path.join(output, "workdirs", name,
                                      "checkpoints"))
    pauses = info["pause_rates"]
    # --summary_every=1: every G-stage step (2 in the smoke run) is seen.
    assert pauses["num_steps_seen"] == info["stage_steps"]["generator"]
    assert 0 <= pauses["d_paused"] <= 1 and 0 <= pauses["g_paused"] <= 1


@pytest.mark.slow
def test_smoke_report_scores_every_treatment(report):
  output, results = report
  chains = results["sizes"]["chains_per_class"] * 10
  assert set(results["treatments"]) == set(TREATMENTS)
  priors = {m: t["prior"] for m, t in results["treatments"].items()}
  assert priors == {"dgn_am": "none", "ppgn_x": "image_dae",
                    "ppgn_h": "code_dae", "joint_ppgn_h": "encoder",
                    "noiseless_joint_ppgn_h": "encoder"}
  for name, scores in results["treatments"].items():
    assert scores["num_images"] == scores["num_chains"] == chains
    assert 0 <= scores["class_accuracy"] <= 1
    assert 0 <= scores["keep_rate"] <= 1
    assert scores["mixing"]["num_snapshots"] == results["sizes"][
        "num_snapshots"]
    assert scores["sampler"]["num_mcmc_steps"] == results["sizes"][
        "num_mcmc_steps"]
    for png in (f"samples_{name}.png", f"chains_{name}.png"):
      assert os.path.getsize(os.path.join(output, png)) > 0
  sweep = [r["sampler_noise"] for r in results["epsilon3_sweep"]]
  assert sweep == sorted(sweep, reverse=True) and 1e-1 in sweep
  # The run's own epsilon3 is the Noiseless treatment's row (same chains).
  own = [r for r in results["epsilon3_sweep"] if r["run_default"]]
  assert len(own) == 1 and own[0]["frechet_distance"] == results[
      "treatments"]["noiseless_joint_ppgn_h"]["frechet_distance"]
  assert [r["sigma_of_mean_h"] for r in results["robustness"]] == [
      0.0, 0.01, 0.1, 0.2, 0.3, 0.4]
  assert set(results["memorisation"]) == {"ppgn", "joint"}
  assert set(results["inpainting"]["masks"]) == set(SMOKE_MASKS)
  for row in results["inpainting"]["masks"].values():
    assert {"ppgn_clamp_only", "ppgn_context", "diffusion_fill"} <= set(row)
  numbers = list(support.json_numbers({k: results[k] for k in (
      "treatments", "epsilon3_sweep", "robustness", "memorisation",
      "inpainting")}))
  assert numbers and all(math.isfinite(v) for v in numbers)
  for png in ("epsilon3_sweep.png", "robustness_h_noise.png",
              "inpaint_square.png"):
    assert os.path.getsize(os.path.join(output, png)) > 0


@pytest.mark.slow
def test_smoke_report_checks_and_markdown_come_from_the_numbers(report):
  output, results = report
  assert results["checks"] == report_ppgn_tables.paper_checks(results)
  central = results["checks"][0]
  assert "DGN-AM" in central["claim"]
  noiseless = results["treatments"]["noiseless_joint_ppgn_h"]
  assert report_ppgn_tables.fmt(noiseless["diversity_ratio"]) in (
      central["ours"])
  markdown = open(os.path.join(output, "report.md")).read()
  for heading in ("## Training and GAN pause rates", "## Treatments",
                  "## epsilon3 sweep", "## G's robustness",
                  "## Memorisation", "## Inpainting",
                  "## The paper's claims next to ours", "## Disagreements",
                  "Smoke run"):
    assert heading in markdown
  assert "python -m apps.report ppgn" in markdown and "--smoke" in markdown
  assert results["wall_time_s"] > 0 and results["smoke"]


def _fake_treatment(diversity, change, fd, confident=None):
  return dict(diversity_ratio=diversity, mean_class_probability=0.95,
              confident_diversity_ratio=confident or diversity,
              mixing={"mean_change": change}, frechet_distance=fd)


def test_central_claim_check_follows_the_equal_probability_diversity():
  results = {"treatments": {
      "dgn_am": _fake_treatment(0.8, 0.5, 50.0, confident=0.7),
      "noiseless_joint_ppgn_h": _fake_treatment(0.6, 0.9, 40.0,
                                                confident=0.9)}}
  checks = report_ppgn_tables.paper_checks(results)
  assert checks[0]["agrees"]      # 0.9 > 0.7 among confident samples
  results["treatments"]["dgn_am"]["confident_diversity_ratio"] = 0.95
  assert not report_ppgn_tables.paper_checks(results)[0]["agrees"]
  quality = [c for c in checks if "best image quality" in c["claim"]][0]
  assert quality["agrees"]


def test_num_steps_scale_is_refused_for_ppgn(tmp_path):
  result = run("ppgn", f"--output={tmp_path}", "--num_steps_scale=0.5")
  assert result.returncode != 0
  assert "--num_steps_scale=0.5 does not apply to the ppgn report" in (
      result.stderr)


def test_missing_multigrid_workdir_is_refused(tmp_path):
  result = run("ppgn", f"--output={tmp_path}",
               f"--multigrid_workdir={tmp_path}/nope")
  assert result.returncode != 0
  assert "--multigrid_workdir=" in result.stderr and "does not exist" in (
      result.stderr)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
