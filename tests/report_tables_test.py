"""Tests for apps.report_tables: the paper's orderings vs ours, report.md."""

import copy
import sys

import pytest

from apps import report_tables

METHODS = ("multigrid", "single_grid", "cd1", "persistent_cd")


def _results():
  """A report.json dict where multigrid wins everything the paper claims."""
  rank = {"multigrid": 0, "single_grid": 1, "persistent_cd": 2, "cd1": 3}
  methods = {m: dict(flagfile=f"configs/{m}.cfg", step=10, batch_size=8,
                     num_langevin_steps=[30], num_sampling_steps=[30],
                     sampler="langevin", reused=m != "multigrid",
                     train_wall_s=12.0, training_time_s=600.0)
             for m in METHODS}
  synthesis = {m: dict(classifier_score=8.0 - rank[m],
                       classes_covered=10, mean_top_probability=0.9,
                       frechet_distance=10.0 + rank[m],
                       nearest_train_distance=1.5, num_images=500)
               for m in METHODS}
  synthesis["real_test_images"] = dict(synthesis["multigrid"])
  inpainting = {mask: {m: dict(mae_missing=0.1 + 0.01 * rank[m],
                               psnr_missing=16.0 - rank[m],
                               psnr_whole_image=20.0, missing_fraction=0.25)
                       for m in METHODS}
                for mask in ("square", "doodle", "pepper_salt")}
  features = {m: [dict(num_labelled=n, svm_error=0.1 + 0.01 * rank[m],
                       supervised_cnn_error=0.3 if m == "multigrid" else None)
                  for n in (100, 300)] for m in METHODS}
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


def test_every_claim_agrees_when_multigrid_wins_everything():
  checks = report_tables.paper_checks(_results())
  # 2 synthesis + 6 inpainting + 2 correlation + 4 scores + 2 SVM + 2 CNN.
  assert len(checks) == 18
  assert all(c["agrees"] for c in checks), [c for c in checks
                                             if not c["agrees"]]


def test_a_baseline_beating_multigrid_is_a_disagreement_with_both_orderings():
  results = _results()
  results["inpainting"]["pepper_salt"]["single_grid"]["mae_missing"] = 0.05
  checks = {c["claim"]: c for c in report_tables.paper_checks(results)}
  check = checks["inpainting pepper_salt: multigrid has the best error"]
  assert not check["agrees"]
  assert check["ours"].startswith("single_grid 0.050 < multigrid 0.100")
  assert check["paper"] == ("multigrid 0.036 < single_grid 0.054 < "
                            "persistent_cd 0.069 < cd1 0.084")
  assert checks["inpainting pepper_salt: multigrid has the best PSNR"][
      "agrees"]
  markdown = report_tables.render_markdown(results)
  disagreements = markdown.split(
      "## Disagreements with the paper and what was checked")[1]
  assert "inpainting pepper_salt: multigrid has the best error" in disagreements
  assert "| **no** |" in markdown
  assert "Checked the sampler" not in markdown


def test_an_inpainting_disagreement_lists_the_sampler_check():
  results = _results()
  results["inpainting"]["square"]["cd1"]["psnr_missing"] = 30.0
  doubled = {m: dict(v) for m, v in results["inpainting"]["square"].items()}
  doubled["multigrid"]["psnr_missing"] = 31.0
  results["inpainting_sampler_checks"] = [dict(
      mask="square", num_langevin_steps_factor=2, results=doubled)]
  disagreements = report_tables.render_markdown(results).split(
      "## Disagreements")[1]
  lines = disagreements.splitlines()
  index = [i for i, l in enumerate(lines)
           if "inpainting square: multigrid has the best PSNR" in l][0]
  assert lines[index + 1] == (
      "  * Checked the sampler: with 2x the sampling steps, multigrid "
      "31.000 > cd1 30.000 > single_grid 15.000 > persistent_cd 14.000.")


@pytest.mark.parametrize("edit, claim", [
    (lambda r: r["correlation"]["langevin"].update({"4": 0.95}),
     "Y0/Y30 correlation: coarser grids have smaller correlation (Langevin)"),
    (lambda r: r["correlation"]["langevin"].update({"4": None}),
     "Y0/Y30 correlation: coarser grids have smaller correlation (Langevin)"),
    (lambda r: r["correlation"]["hmc"].update({"16": 0.99}),
     "Y0/Y30 correlation: HMC has smaller correlations than Langevin"),
    (lambda r: r["scores"]["negative (uniform_noise)"]["16"].__setitem__(
        0, 5.0), "scores, grid 16: training and testing above every negative "
                 "set"),
    (lambda r: r["synthesis"]["cd1"].update(frechet_distance=1.0),
     "synthesis: multigrid has the best Frechet distance"),
    (lambda r: r["features"]["multigrid"][1].update(svm_error=0.5),
     "features, 300 labels: multigrid features give the lowest SVM error"),
])
def test_each_kind_of_claim_detects_its_reversal(edit, claim):
  results = copy.deepcopy(_results())
  edit(results)
  checks = {c["claim"]: c["agrees"] for c in report_tables.paper_checks(
      results)}
  assert checks[claim] is False
  assert sum(not v for v in checks.values()) >= 1


def test_markdown_has_every_table_the_command_and_the_wall_time():
  markdown = report_tables.render_markdown(_results(), notes="## Notes\nx")
  for heading in ("## Training", "## Synthesis", "## Inpainting (paper Table 4)",
                  "## Y0 / Y30 correlation", "## Scores f(Y) per image set",
                  "## Gradient norms over training",
                  "## Feature learning", "## Orderings",
                  "## Disagreements"):
    assert heading in markdown
  assert "python -m apps.report multigrid --output=/tmp/r" in markdown
  assert "Wall time: 600 s (10.0 min)" in markdown
  # Four methods trained 10 min each (reused or not) + 2 min of evaluation.
  assert ("End to end from empty workdirs: 42.0 min = training 40.0 min "
          "(the methods' recorded training times) + evaluation 2.0 min."
          in markdown)
  assert "| multigrid (MG) | configs/multigrid.cfg | 10 |" in markdown
  assert "| 10.0 min | 0.2 min |" in markdown and "| 10.0 min | reused |" in (
      markdown)
  assert "| 4x4 | 10.000 | 2.000 | 12.000 | 80 |" in markdown
  assert "None: every checked ordering agrees." in markdown
  assert markdown.rstrip().endswith("## Notes\nx")
  # The inpainting table: one row per mask and metric, one column per method.
  rows = [l for l in markdown.splitlines() if l.startswith("| square")]
  assert len(rows) == 2 and rows[0].count("|") == 2 + 4 + 2
  results = _results()
  results["inpainting_reference"] = {
      mask: dict(mae_missing=0.5, psnr_missing=9.0)
      for mask in results["inpainting"]}
  markdown = report_tables.render_markdown(results)
  rows = [l for l in markdown.splitlines() if l.startswith("| square")]
  assert rows[0].count("|") == 2 + 4 + 3 and "| 0.500 |" in rows[0]


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
