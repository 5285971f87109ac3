"""Tests for apps.report_tables: report.md from a report.json dict."""

import sys

import pytest

import support
from apps import report_checks
from apps import report_tables

def test_a_baseline_beating_multigrid_is_a_disagreement_with_both_orderings():
  results = support.report_results()
  results["inpainting"]["pepper_salt"]["single_grid"]["mae_missing"] = 0.05
  checks = {c["claim"]: c for c in report_checks.paper_checks(results)}
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
  results = support.report_results()
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


def test_markdown_has_every_table_the_command_and_the_wall_time():
  markdown = report_tables.render_markdown(support.report_results(), notes="## Notes\nx")
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
  results = support.report_results()
  results["inpainting_reference"] = {
      mask: dict(mae_missing=0.5, psnr_missing=9.0)
      for mask in results["inpainting"]}
  markdown = report_tables.render_markdown(results)
  rows = [l for l in markdown.splitlines() if l.startswith("| square")]
  assert rows[0].count("|") == 2 + 4 + 3 and "| 0.500 |" in rows[0]


def test_the_feature_table_has_the_feature_map_cnn_column_only_when_run():
  results = support.report_results()
  header = [l for l in report_tables.render_markdown(results).splitlines()
            if l.startswith("| labelled images")][0]
  assert header.endswith("| supervised CNN | 2-layer CNN on multigrid "
                         "feature maps |")
  assert "| 100 | 0.100 | 0.110 | 0.130 | 0.120 | 0.300 | 0.200 |" in (
      report_tables.render_markdown(results))
  for rows in results["features"].values():  # A report from before it.
    for row in rows:
      del row["feature_cnn_error"]
  markdown = report_tables.render_markdown(results)
  assert "| 100 | 0.100 | 0.110 | 0.130 | 0.120 | 0.300 |\n" in markdown
  assert "feature maps |" not in markdown


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
