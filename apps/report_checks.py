"""The paper's orderings next to ours, for the multigrid report.

A pure function of the `report.json` dict that `apps.report` writes:
`paper_checks` lists each ordering the paper claims next to ours (agrees or
not); the labels and paper values here are shared with `apps.report_tables`,
which renders the dict as `report.md`.
"""

from __future__ import annotations

import math

# Column order of every table: the paper's method, then its baselines.
METHOD_LABELS = {"multigrid": "multigrid (MG)", "single_grid":
                 "single-grid (SG)", "cd1": "CD-1", "persistent_cd":
                 "persistent CD (PCD)"}
MASK_LABELS = {"square": "square (1/4 of the area)",
               "doodle": "doodle (~25%)", "pepper_salt": "pepper-and-salt (~60%)"}
# Paper Table 4 (CelebA 64x64): error and PSNR per mask and method (CE, the
# Context Encoder, is not reproduced here).
PAPER_INPAINTING = {
    "mae_missing": {
        "square": {"persistent_cd": 0.056, "cd1": 0.081, "single_grid": 0.066,
                   "multigrid": 0.042},
        "doodle": {"persistent_cd": 0.055, "cd1": 0.078, "single_grid": 0.055,
                   "multigrid": 0.045},
        "pepper_salt": {"persistent_cd": 0.069, "cd1": 0.084,
                        "single_grid": 0.054, "multigrid": 0.036}},
    "psnr_missing": {
        "square": {"persistent_cd": 12.81, "cd1": 12.66, "single_grid": 15.97,
                   "multigrid": 16.42},
        "doodle": {"persistent_cd": 12.92, "cd1": 12.68, "single_grid": 14.79,
                   "multigrid": 16.98},
        "pepper_salt": {"persistent_cd": 14.93, "cd1": 15.00,
                        "single_grid": 15.36, "multigrid": 19.34}},
}
# Paper Table 2 (SVHN, L2-SVM on the learned features): test error (%) with
# 1000 labelled images; Table 3: the supervised CNN of the same structure.
PAPER_SVM_ERROR_1000 = {"persistent_cd": 45.74, "cd1": 44.38,
                        "single_grid": 36.69, "multigrid": 30.23}
PAPER_SUPERVISED_CNN_ERROR_1000 = 39.04
# Table 3: "multi-grid method + CNN classifier" (1000 labelled images).
PAPER_FEATURE_CNN_ERROR_1000 = 19.73
# Supplement Table 2 (CelebA): correlation of Y0 and Y30 per grid.
PAPER_CORRELATION = {"langevin": [0.62, 0.83, 0.94], "hmc": [0.62, 0.82, 0.91]}


def method_names(results: dict) -> list[str]:
  return [m for m in METHOD_LABELS if m in results.get("methods", {})]


def fmt(value, digits: int = 3) -> str:
  if value is None:
    return "n/a"
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  if isinstance(value, float):
    return f"{value:.{digits}f}"
  return str(value)


def _ranking(values: dict, higher_is_better: bool) -> list[str]:
  return sorted(values, key=lambda m: -values[m] if higher_is_better
                else values[m])


def order_text(values: dict, higher_is_better: bool) -> str:
  ranked = _ranking(values, higher_is_better)
  sign = " > " if higher_is_better else " < "
  return sign.join(f"{m} {fmt(values[m])}" for m in ranked)


def _best_check(claim: str, paper: str, values: dict,
                higher_is_better: bool, best: str = "multigrid") -> dict:
  ours = order_text(values, higher_is_better)
  agrees = best in values and _ranking(values, higher_is_better)[0] == best
  return dict(claim=claim, paper=paper, ours=ours, agrees=bool(agrees))


def paper_checks(results: dict) -> list[dict]:
  """Each ordering the paper claims, with our values: [{claim, paper, ours,
  agrees}]. Only claims whose measurements are in `results` are checked."""
  checks = []
  methods = method_names(results)
  synthesis = results.get("synthesis", {})
  if all(m in synthesis for m in methods) and len(methods) > 1:
    for key, higher, name in (("classifier_score", True, "classifier score"),
                              ("frechet_distance", False,
                               "Frechet distance")):
      values = {m: synthesis[m][key] for m in methods}
      checks.append(_best_check(
          f"synthesis: multigrid has the best {name}",
          "multigrid synthesises realistic images; single-grid is worse, "
          "CD-1 and PCD 'cannot synthesize realistic images' (Fig. 2)",
          values, higher))
  for mask, per_method in results.get("inpainting", {}).items():
    for key, higher, name in (("mae_missing", False, "error"),
                              ("psnr_missing", True, "PSNR")):
      values = {m: per_method[m][key] for m in methods if m in per_method}
      paper = {m: PAPER_INPAINTING[key][mask][m] for m in values}
      checks.append(dict(_best_check(
          f"inpainting {mask}: multigrid has the best {name}",
          order_text(paper, higher), values, higher), mask=mask,
                         metric=name))
  correlation = results.get("correlation", {})
  langevin = correlation.get("langevin")
  if langevin and len(langevin) > 1:
    values = [langevin[g] for g in sorted(langevin, key=int)]
    checks.append(dict(
        claim="Y0/Y30 correlation: coarser grids have smaller correlation "
              "(Langevin)",
        paper=" < ".join(fmt(v, 2) for v in PAPER_CORRELATION["langevin"]),
        ours=", ".join(f"grid {g}: {fmt(langevin[g])}"
                       for g in sorted(langevin, key=int)),
        agrees=None not in values and all(
            a < b for a, b in zip(values, values[1:]))))
  hmc = correlation.get("hmc")
  if langevin and hmc:
    grids = sorted(set(langevin) & set(hmc), key=int)
    checks.append(dict(
        claim="Y0/Y30 correlation: HMC has smaller correlations than "
              "Langevin",
        paper="HMC 0.62, 0.82, 0.91 vs Langevin 0.62, 0.83, 0.94 (<= on "
              "every grid)",
        ours=", ".join(f"grid {g}: HMC {fmt(hmc[g])} vs Langevin "
                       f"{fmt(langevin[g])}" for g in grids),
        agrees=all(hmc[g] is not None and langevin[g] is not None
                   and hmc[g] <= langevin[g] for g in grids)))
  scores = results.get("scores", {})
  if "training" in scores and "testing" in scores:
    negatives = [s for s in scores if s.startswith("negative")]
    for grid in sorted(scores["training"], key=int):
      train = scores["training"][grid][0]
      test = scores["testing"][grid][0]
      lowest_real = min(train, test)
      top_negative = max((scores[s][grid][0] for s in negatives),
                         default=-math.inf)
      checks.append(dict(
          claim=f"scores, grid {grid}: training and testing above every "
                "negative set",
          paper="training 5.33, testing 5.33, negative 4.10 (x1e4, grid 1)",
          ours=f"training {fmt(train)}, testing {fmt(test)}, highest "
               f"negative {fmt(top_negative)}",
          agrees=lowest_real > top_negative))
      if "synthesized" in scores and negatives:
        synth = scores["synthesized"][grid][0]
        checks.append(dict(
            claim=f"scores, grid {grid}: synthesized closer to training than "
                  "the negatives are",
            paper="synthesized 5.15 vs training 5.33, negative 4.10 (grid 1)",
            ours=f"synthesized {fmt(synth)}, training {fmt(train)}, "
                 f"highest negative {fmt(top_negative)}",
            agrees=abs(synth - train) < abs(train - top_negative)))
  features = results.get("features", {})
  if all(m in features for m in methods) and len(methods) > 1:
    counts = [row["num_labelled"] for row in features[methods[0]]]
    for index, count in enumerate(counts):
      values = {m: features[m][index]["svm_error"] for m in methods}
      checks.append(_best_check(
          f"features, {count} labels: multigrid features give the lowest "
          "SVM error", order_text(
              {m: PAPER_SVM_ERROR_1000[m] for m in values}, False)
          + " (%, SVHN, 1000 labels)", values, False))
  if "multigrid" in features:
    for row in features["multigrid"]:
      cnn = row.get("supervised_cnn_error")
      if cnn is None:
        continue
      checks.append(dict(
          claim=f"features, {row['num_labelled']} labels: SVM on multigrid "
                "features beats the supervised CNN of the same structure",
          paper=f"{PAPER_SVM_ERROR_1000['multigrid']} vs "
                f"{PAPER_SUPERVISED_CNN_ERROR_1000} (%, SVHN, 1000 labels)",
          ours=f"{fmt(row['svm_error'])} vs {fmt(cnn)}",
          agrees=row["svm_error"] < cnn))
      map_cnn = row.get("feature_cnn_error")
      if map_cnn is None:
        continue
      checks.append(dict(
          claim=f"features, {row['num_labelled']} labels: a CNN on the "
                "multigrid feature maps beats the supervised CNN of the "
                "same structure",
          paper=f"{PAPER_FEATURE_CNN_ERROR_1000} vs "
                f"{PAPER_SUPERVISED_CNN_ERROR_1000} (%, SVHN, 1000 labels)",
          ours=f"{fmt(map_cnn)} vs {fmt(cnn)}", agrees=map_cnn < cnn))
  return checks


# ---- markdown ---------------------------------------------------------------
