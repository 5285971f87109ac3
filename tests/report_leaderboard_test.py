"""`python -m apps.report leaderboard`: one table for every family."""

import json
import os
import sys

import numpy as np
import pytest

import support
from apps import report_leaderboard


def test_the_settings_hash_follows_the_flagfile_and_its_parents(tmp_path):
  parent = tmp_path / "parent.cfg"
  child = tmp_path / "child.cfg"
  parent.write_text("--family=gran\n# a comment\n--num_steps=10\n")
  child.write_text(f"--flagfile={parent}\n--num_canvas_steps=1\n")
  text = report_leaderboard.flagfile_text(str(child))
  assert text.split("\n") == ["--family=gran", "--num_steps=10",
                              "--num_canvas_steps=1"]
  assert report_leaderboard.family_of(str(child)) == "gran"
  before = report_leaderboard.settings_hash(str(child), [])
  assert report_leaderboard.settings_hash(str(child), []) == before
  assert report_leaderboard.settings_hash(str(child), ["--seed=1"]) != before
  parent.write_text("--family=gran\n--num_steps=11\n")  # A parent changed.
  assert report_leaderboard.settings_hash(str(child), []) != before


def test_every_row_names_a_flagfile_of_the_repository():
  for name, (flagfile, _, _) in report_leaderboard.MODELS.items():
    path = os.path.join(support.REPO, "apps", "configs", flagfile)
    assert os.path.isfile(path), name
    family = report_leaderboard.family_of(path)
    assert family in report_leaderboard.SMOKE_FLAGS, (name, family)
  assert set(report_leaderboard.DEFAULT_MODELS) <= set(
      report_leaderboard.MODELS)


def test_last_json_reads_the_object_an_app_printed_last():
  printed = 'I0000 log line\n{"a": 1}\n{\n "b": {\n  "c": 2\n }\n}\n'
  assert report_leaderboard.last_json(printed) == {"b": {"c": 2}}
  assert report_leaderboard.last_json('{"a": 1}') == {"a": 1}


def test_an_unknown_model_is_refused_by_name(tmp_path):
  result = support.run_report("leaderboard", f"--output={tmp_path}",
                              "--leaderboard_models=multigrid,bogus",
                              timeout=120)
  assert result.returncode != 0
  assert "bogus" in result.stderr and "choose from" in result.stderr


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  """A smoke leaderboard of a model without a discriminator (CD-1) and one
  with (the single-level GAN): every phase, tiny."""
  output = str(tmp_path_factory.mktemp("leaderboard"))
  result = support.run_report("leaderboard", f"--output={output}", "--smoke",
                              "--leaderboard_models=cd1,gan", timeout=900)
  assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
  with open(os.path.join(output, "leaderboard.json")) as f:
    return output, json.load(f)


@pytest.mark.slow
def test_smoke_leaderboard_measures_every_column_of_every_row(smoke):
  output, results = smoke
  rows = {row["name"]: row for row in results["rows"]}
  assert list(rows) == ["cd1", "gan"]
  for name, row in rows.items():
    assert os.path.basename(row["workdir"]).startswith(name + "-")
    assert row["step"] == row["num_steps"] == 2
    assert row["train_peak_rss_bytes"] > 100 * 2**20  # TF alone is more.
    assert row["sample_images_per_s"] > 0 and row["export_p50_latency_s"] > 0
    scores = row["evaluate"]["samples"]
    assert scores["num_images"] == 20 and 1 <= scores["classes_covered"] <= 10
    assert os.path.isfile(os.path.splitext(row["samples"])[0] + ".png")
  # CD-1 inpaints (a multigrid EBM); the GAN does not.
  assert 0 <= rows["cd1"]["inpaint"]["mae_missing"] <= 1
  assert rows["gan"]["inpaint"] is None and rows["gan"]["battle"]
  with open(os.path.join(output, "leaderboard.md")) as f:
    markdown = f.read()
  assert "| cd1: multigrid baseline: CD-1 |" in markdown
  assert "real test digits (reference)" in markdown


@pytest.mark.slow
def test_the_gam_matrix_judges_the_non_adversarial_samples_too(smoke):
  _, results = smoke
  gam = results["gam"]
  gan = next(r for r in results["rows"] if r["name"] == "gan")
  cd1 = next(r for r in results["rows"] if r["name"] == "cd1")
  assert gam["matrix"]["names"] == [os.path.basename(gan["workdir"])]
  fraction = gam["against"][cd1["samples"]][
      os.path.basename(gan["workdir"])]["fraction_real"]
  # The GAN's discriminator on the CD-1 samples, recomputed here.
  from tfgen.metrics import gam as gam_lib
  from tfgen.train import workdir as workdir_lib
  model, _, _ = workdir_lib.load_model(gan["workdir"])
  with np.load(cd1["samples"]) as archive:
    images = archive["images"] * 2.0 - 1.0
  assert len(images) == 20
  logits = model.discriminator_logits(images.astype(np.float32)).numpy()
  assert fraction == pytest.approx(
      gam_lib.fraction_called_real(logits)["fraction_real"])
  assert 0.0 <= gam["matrix"]["test_error"][0] <= 1.0
  assert "apps.battle" in gam["command"] and gam["markdown"]


@pytest.mark.slow
def test_a_second_run_reuses_the_trained_workdir_and_its_memory_record(
    smoke):
  output, first = smoke
  result = support.run_report(
      "leaderboard", f"--output={output}", "--smoke",
      "--leaderboard_models=cd1", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(output, "leaderboard.json")) as f:
    second = json.load(f)
  row = second["rows"][0]
  assert row["reused"] and row["workdir"] == first["rows"][0]["workdir"]
  assert row["train_peak_rss_bytes"] == first["rows"][0][
      "train_peak_rss_bytes"]
  assert "skipped" in second["gam"]  # No model with a discriminator.


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
