"""The leaderboard's markdown (`apps.report leaderboard`).

`render_markdown` turns the dict of `apps.report_leaderboard.run` (plus the
command, machine and wall time `apps.report` adds) into leaderboard.md: one
row per model, the GAM matrix of every discriminator on every model's
samples and on the test split, and apps.battle's own battle tables.
"""

from __future__ import annotations

import os
from typing import Optional


def fmt(value, digits: int = 3) -> str:
  if value is None:
    return "—"
  if isinstance(value, bool):
    return "yes" if value else "no"
  if isinstance(value, int):
    return str(value)
  if isinstance(value, float):
    return f"{value:.{digits}f}"
  return str(value)


def _minutes(seconds: Optional[float]) -> str:
  return "—" if seconds is None else f"{seconds / 60:.1f} min"


def _mib(size: Optional[int]) -> str:
  return "—" if size is None else f"{size / 2**20:.0f} MiB"


def model_row(row: dict) -> list[str]:
  """The leaderboard cells of one model."""
  scores = row["evaluate"]["samples"]
  inpaint = row.get("inpaint")
  diversity = scores.get("within_class_diversity") or {}
  return [f"{row['name']}: {row['what']}", row["flagfile"], row["step"],
          _minutes(row.get("training_time_s")), fmt(row.get("steps_per_s"), 2),
          _mib(row.get("train_peak_rss_bytes")),
          fmt(row["sample_images_per_s"], 1),
          fmt(row["export_p50_latency_s"] * 1000, 1),
          fmt(scores["classifier_score"], 2), fmt(scores["classes_covered"]),
          fmt(scores["mean_top_probability"]),
          fmt(scores["frechet_distance"], 1),
          fmt(scores["nearest_train_distance"], 2),
          fmt(diversity.get("distance_ratio"), 2),
          fmt((scores.get("class_accuracy") or {}).get("accuracy")),
          fmt(inpaint["mae_missing"]) if inpaint else "—"]


HEADER = ["model", "flagfile", "steps", "training time", "steps/s",
          "peak RSS (train)", "sampling images/s", "export p50 ms (1 image)",
          "classifier score", "classes", "mean top prob.", "Fréchet dist.",
          "L2 to nearest train", "within-class diversity / real",
          "class accuracy", "inpaint MAE (square)"]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
  return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
          ["| " + " | ".join(str(c) for c in row) + " |" for row in rows] +
          [""])


def real_row(rows: list[dict]) -> list[str]:
  real = rows[0]["evaluate"]["real_test_images"]
  cells = ["real test digits (reference)"] + ["—"] * 7 + [
      fmt(real.get("classifier_score"), 2), fmt(real.get("classes_covered")),
      fmt(real.get("mean_top_probability")),
      fmt(real.get("frechet_distance"), 1),
      fmt(real.get("nearest_train_distance"), 2), "1.00", "—", "—"]
  return cells


def gam_matrix(results: dict) -> list[str]:
  """Fraction of each model's samples each D calls real; D's test error."""
  battles = results["gam"]
  if "matrix" not in battles:
    return [f"GAM skipped: {battles.get('skipped')}.", ""]
  matrix, rows = battles["matrix"], results["rows"]
  by_samples = {r["samples"]: r["name"] for r in rows}
  against = {by_samples.get(path, os.path.basename(path)): scores
             for path, scores in battles.get("against", {}).items()}
  # apps.battle names a player by its workdir's folder (NAME-HASH).
  by_folder = {os.path.basename(r["workdir"]): r["name"] for r in rows}
  players = matrix["names"]
  header = (["D \\ samples of"] + [by_folder.get(p, p) for p in players] +
            list(against) + ["test error"])
  cells = []
  for i, player in enumerate(players):
    cells.append([f"D of {by_folder.get(player, player)}"] +
                 [fmt(v) for v in matrix["sample_error"][i]] +
                 [fmt(against[g][player]["fraction_real"]) for g in against] +
                 [fmt(matrix["test_error"][i])])
  return (["Each cell: the fraction of the column model's samples that the "
           "row model's discriminator calls real (higher = the samples fool "
           "it more); `test error`: the fraction of real test digits it "
           "calls fake. GAN rows judge their own generator on the diagonal.",
           ""] + _table(header, cells))


def render_markdown(results: dict) -> str:
  rows = results["rows"]
  sizes = results["sizes"]
  lines = ["# Leaderboard: every family on digits", ""]
  if results.get("smoke"):
    lines += ["**Smoke run: tiny models, a few steps; the numbers mean "
              "nothing.**", ""]
  lines += [f"Command: `{results['command']}`; wall time "
            f"{_minutes(results['wall_time_s'])} on {results['machine']}; "
            f"load average at start / end {results.get('load_start')} / "
            f"{results.get('load_end')}; float32 matmul (TF, 2048x2048) "
            f"{fmt(results.get('matmul_gflops'), 0)} GFLOP/s.", "",
            f"Samples per model: {sizes['num_samples']} (seed "
            f"{results['seed']}), scored by `python -m apps.evaluate "
            f"--workdir=W --num_samples={sizes['num_samples']} "
            f"--seed={results['seed']}`; inpainting: `python -m apps.inpaint "
            f"--mask=square --num_images={sizes['num_inpaint_images']}`; "
            "training time is the workdir's first-to-last TensorBoard event; "
            "peak RSS is the apps.train process's (— when the workdir was "
            "trained elsewhere); sampling images/s is `model.sample` of 100 "
            "images in-process; export p50 is the SavedModel's "
            "`serving_default` for one seed.", ""]
  lines += _table(HEADER, [model_row(r) for r in rows] + [real_row(rows)])
  lines += ["## GAM across families", ""]
  lines += gam_matrix(results)
  battles = results["gam"]
  if "command" in battles:
    lines += [f"`{battles['command']}`", ""]
    lines += ["### apps.battle's tables", "", battles["markdown"], ""]
  lines += ["## Samples", ""]
  lines += [f"- {r['name']}: `{os.path.splitext(r['samples'])[0]}.png`"
            for r in rows]
  lines += ["", "## Phases (s)", ""]
  lines += [", ".join(f"{k} {v:.0f}" for k, v in
                      results["phases_s"].items()), ""]
  return "\n".join(lines) + "\n"
