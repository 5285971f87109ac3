"""The multigrid report's comparisons with the paper and its markdown.

Pure functions of the `report.json` dict that `apps.report` writes:
`paper_checks` lists each ordering the paper claims next to ours (agrees or
not), `render_markdown` turns the whole dict into `report.md`.
"""

from __future__ import annotations

import math
from typing import Optional

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
# Supplement Table 2 (CelebA): correlation of Y0 and Y30 per grid.
PAPER_CORRELATION = {"langevin": [0.62, 0.83, 0.94], "hmc": [0.62, 0.82, 0.91]}


def _methods(results: dict) -> list[str]:
  return [m for m in METHOD_LABELS if m in results.get("methods", {})]


def _fmt(value, digits: int = 3) -> str:
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


def _order_text(values: dict, higher_is_better: bool) -> str:
  ranked = _ranking(values, higher_is_better)
  sign = " > " if higher_is_better else " < "
  return sign.join(f"{m} {_fmt(values[m])}" for m in ranked)


def _best_check(claim: str, paper: str, values: dict,
                higher_is_better: bool, best: str = "multigrid") -> dict:
  ours = _order_text(values, higher_is_better)
  agrees = best in values and _ranking(values, higher_is_better)[0] == best
  return dict(claim=claim, paper=paper, ours=ours, agrees=bool(agrees))


def paper_checks(results: dict) -> list[dict]:
  """Each ordering the paper claims, with our values: [{claim, paper, ours,
  agrees}]. Only claims whose measurements are in `results` are checked."""
  checks = []
  methods = _methods(results)
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
          _order_text(paper, higher), values, higher), mask=mask,
                         metric=name))
  correlation = results.get("correlation", {})
  langevin = correlation.get("langevin")
  if langevin and len(langevin) > 1:
    values = [langevin[g] for g in sorted(langevin, key=int)]
    checks.append(dict(
        claim="Y0/Y30 correlation: coarser grids have smaller correlation "
              "(Langevin)",
        paper=" < ".join(_fmt(v, 2) for v in PAPER_CORRELATION["langevin"]),
        ours=", ".join(f"grid {g}: {_fmt(langevin[g])}"
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
        ours=", ".join(f"grid {g}: HMC {_fmt(hmc[g])} vs Langevin "
                       f"{_fmt(langevin[g])}" for g in grids),
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
          ours=f"training {_fmt(train)}, testing {_fmt(test)}, highest "
               f"negative {_fmt(top_negative)}",
          agrees=lowest_real > top_negative))
      if "synthesized" in scores and negatives:
        synth = scores["synthesized"][grid][0]
        checks.append(dict(
            claim=f"scores, grid {grid}: synthesized closer to training than "
                  "the negatives are",
            paper="synthesized 5.15 vs training 5.33, negative 4.10 (grid 1)",
            ours=f"synthesized {_fmt(synth)}, training {_fmt(train)}, "
                 f"highest negative {_fmt(top_negative)}",
            agrees=abs(synth - train) < abs(train - top_negative)))
  features = results.get("features", {})
  if all(m in features for m in methods) and len(methods) > 1:
    counts = [row["num_labelled"] for row in features[methods[0]]]
    for index, count in enumerate(counts):
      values = {m: features[m][index]["svm_error"] for m in methods}
      checks.append(_best_check(
          f"features, {count} labels: multigrid features give the lowest "
          "SVM error", _order_text(
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
          ours=f"{_fmt(row['svm_error'])} vs {_fmt(cnn)}",
          agrees=row["svm_error"] < cnn))
  return checks


# ---- markdown ---------------------------------------------------------------
def _table(header: list[str], rows: list[list]) -> list[str]:
  lines = ["| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
  return lines + [""]


def _training_section(results: dict) -> list[str]:
  rows = []
  for m in _methods(results):
    info = results["methods"][m]
    span = info.get("training_time_s")
    rows.append([METHOD_LABELS[m], info["flagfile"], info["step"],
                 info["batch_size"], info["num_langevin_steps"],
                 info["num_sampling_steps"], info["sampler"],
                 "n/a" if span is None else f"{span / 60:.1f} min",
                 "reused" if info["reused"] else
                 f"{info['train_wall_s'] / 60:.1f} min"])
  return (["## Training", "",
           "Training time: from the first to the last TensorBoard event of "
           "the workdir's runs, also for reused workdirs (it leaves out each "
           "run's start-up, ~10-45 s). This run: the time "
           "`apps.train` took here ('reused' = already trained with the same "
           "settings).", ""] + _table(
               ["method", "flagfile", "steps", "batch",
                "MCMC steps in training", "steps when sampling", "sampler",
                "training time", "this run"], rows))


def _synthesis_section(results: dict) -> list[str]:
  synthesis = results.get("synthesis", {})
  keys = ["classifier_score", "classes_covered", "mean_top_probability",
          "frechet_distance", "nearest_train_distance", "num_images"]
  rows = [[METHOD_LABELS[m]] + [synthesis[m][k] for k in keys]
          for m in _methods(results) if m in synthesis]
  if "real_test_images" in synthesis:
    rows.append(["real test images (reference)"] +
                [synthesis["real_test_images"][k] for k in keys])
  return (["## Synthesis (paper Exp. 1)", "",
           "Samples from each model (seed 0), scored by the cached digits "
           "classifier of `apps.evaluate` (classifier score higher is better, "
           "Frechet distance lower is better). The paper shows no numbers "
           "for these baselines; it reports that CD-1 and PCD cannot "
           "synthesise realistic images and that single-grid is worse.", ""]
          + _table(["method", "classifier score", "classes covered",
                    "mean top prob.", "Frechet distance",
                    "L2 to nearest train", "images"], rows)
          + ["Samples: " + ", ".join(
              f"[{METHOD_LABELS[m]}](samples_{m}.png)"
              for m in _methods(results) if m in synthesis) + ".", ""])


def _inpainting_section(results: dict) -> list[str]:
  methods = _methods(results)
  settings = results.get("inpainting_settings", {})
  lines = ["## Inpainting (paper Table 4)", "",
           f"{settings.get('num_images', '?')} held-out test images per mask "
           "(the same masks for every method). Error: mean absolute error "
           "over the missing pixels of images in [0, 1] (lower is better); "
           "PSNR: over the missing pixels, dB (higher is better). The paper's "
           "values are CelebA 64x64, ours digits "
           f"{results.get('image_size', '?')}x{results.get('image_size', '?')}"
           ": compare orderings, not values. 'Diffusion fill' relaxes each "
           "missing pixel to the mean of its neighbours (no model): the "
           "level any learned inpainting should beat.", ""]
  reference = results.get("inpainting_reference", {})
  header = ["mask", "metric"] + [METHOD_LABELS[m] for m in methods] + (
      ["diffusion fill (not learned)"] if reference else []) + [
          "paper (PCD / CD-1 / SG / MG)"]
  rows = []
  for mask, per_method in results.get("inpainting", {}).items():
    for key, name, digits in (("mae_missing", "error", 3),
                              ("psnr_missing", "PSNR", 2)):
      paper = " / ".join(_fmt(PAPER_INPAINTING[key][mask][m], digits)
                         for m in ("persistent_cd", "cd1", "single_grid",
                                   "multigrid"))
      rows.append([MASK_LABELS.get(mask, mask), name] +
                  [_fmt(per_method[m][key], digits) for m in methods]
                  + ([_fmt(reference[mask][key], digits)] if reference
                     else []) + [paper])
  lines += _table(header, rows)
  lines += ["Panels (columns: original, masked, then " + ", ".join(
      METHOD_LABELS[m] for m in methods) + "): " + ", ".join(
          f"[{mask}](inpaint_{mask}.png)"
          for mask in results.get("inpainting", {})) + ".", ""]
  for extra in results.get("inpainting_sampler_checks", []):
    lines.append(f"* Sampler check, {extra['mask']} with "
                 f"{extra['num_langevin_steps_factor']}x the sampling steps: "
                 + ", ".join(f"{m} error {_fmt(v['mae_missing'])} / PSNR "
                             f"{_fmt(v['psnr_missing'], 2)}"
                             for m, v in extra["results"].items()) + ".")
  return lines + ([""] if results.get("inpainting_sampler_checks") else [])


def _correlation_section(results: dict) -> list[str]:
  correlation = results.get("correlation")
  if not correlation:
    return []
  grids = sorted(correlation["langevin"], key=int)
  names = {"langevin": "Langevin, per pixel across chains",
           "hmc": "HMC, per pixel across chains",
           "langevin_over_pixels": "Langevin, per chain over pixels",
           "hmc_over_pixels": "HMC, per chain over pixels"}
  rows = [[label] + [correlation[key].get(g) for g in grids]
          for key, label in names.items() if key in correlation]
  rows += [[f"paper {s} (CelebA, RGB)"] + PAPER_CORRELATION[s][:len(grids)]
           for s in ("langevin", "hmc")]
  return (["## Y0 / Y30 correlation (supplement Table 2)", "",
           f"Multigrid model, {correlation.get('num_chains', '?')} chains "
           "from test images' 1x1 averages; per grid the mean Pearson "
           "correlation between the chains' starts Y0 (the up-sampled "
           "previous grid) and their ends. 'Per pixel across chains' "
           "correlates each pixel's start and end values over the batch of "
           "chains, then averages over pixels (defined on every grid); "
           "'per chain over pixels' correlates each chain's start and end "
           "images, then averages over chains (n/a where the start is a "
           "single grey level: the first grid of a one-channel model). "
           "The orderings below use the first reading.", ""]
          + _table(["correlation"] + [f"grid {g}x{g}" for g in grids], rows))


def _scores_section(results: dict) -> list[str]:
  scores = results.get("scores")
  if not scores:
    return []
  grids = sorted(next(iter(scores.values())), key=int)
  rows = [[name] + [f"{s[g][0]:.4g} ± {s[g][1]:.3g}" for g in grids]
          for name, s in scores.items()]
  return (["## Scores f(Y) per image set (supplement Table 1)", "",
           "Multigrid model; mean ± std of each grid's score f_g of the "
           "images down-sampled to that grid.", ""]
          + _table(["images"] + [f"grid {g}x{g}" for g in grids], rows))


def _gradient_section(results: dict) -> list[str]:
  norms = results.get("gradient_norms")
  if not norms:
    return []
  rows = [[f"{g}x{g}", v["first"], v["last"], v["max"], v["num_points"]]
          for g, v in sorted(norms.items(), key=lambda item: int(item[0]))]
  return (["## Gradient norms over training (supplement Fig. 7)", "",
           "L1 norm of each multigrid energy net's gradient, from the "
           "workdir's TensorBoard scalars: "
           "![gradient norms](gradient_norms_multigrid.png)", ""]
          + _table(["grid", "first", "last", "max", "points"], rows))


def _features_section(results: dict) -> list[str]:
  features = results.get("features")
  if not features:
    return []
  methods = [m for m in _methods(results) if m in features]
  counts = [row["num_labelled"] for row in features[methods[0]]]
  rows = []
  for index, count in enumerate(counts):
    cnn = features.get("multigrid", features[methods[0]])[index].get(
        "supervised_cnn_error")
    rows.append([count] + [features[m][index]["svm_error"] for m in methods]
                + [cnn])
  return (["## Feature learning (paper Tables 2-3)", "",
           "Test error (fraction) of a linear SVM on each model's energy-net "
           "features with a balanced labelled subset of the digits train "
           "split, and of a supervised CNN of the same structure trained on "
           "the same subset. Paper (SVHN, 1000 labels, %): PCD 45.74, CD-1 "
           "44.38, SG 36.69, MG 30.23; supervised CNN 39.04.", ""]
          + _table(["labelled images"] + [f"SVM on {METHOD_LABELS[m]}"
                                          for m in methods]
                   + ["supervised CNN"], rows))


def render_markdown(results: dict, notes: Optional[str] = None) -> str:
  """report.md: the settings, every table, and the orderings vs the paper."""
  lines = ["# Multigrid report: every experiment of the paper on digits", "",
           "Generated by `apps.report`; do not edit by hand.", "",
           "```", results.get("command", ""), "```", "",
           f"Wall time: {_fmt(results.get('wall_time_s'), 0)} s "
           f"({_fmt(results.get('wall_time_s', 0) / 60, 1)} min) on "
           f"{results.get('machine', 'this machine')}."
           + (" **Smoke settings (tiny models): the numbers mean nothing.**"
              if results.get("smoke") else ""), ""]
  spans = [results["methods"][m].get("training_time_s")
           for m in _methods(results)]
  evaluation = sum(v for k, v in results.get("timings", {}).items()
                   if k != "training")
  if spans and None not in spans and results.get("timings"):
    total = sum(spans) + evaluation
    lines += [f"End to end from empty workdirs: {total / 60:.1f} min = "
              f"training {sum(spans) / 60:.1f} min (the methods' recorded "
              f"training times) + evaluation {evaluation / 60:.1f} min.", ""]
  if results.get("timings"):
    lines += ["Time per phase: " + ", ".join(
        f"{k} {_fmt(v, 0)} s" for k, v in results["timings"].items()) + ".",
              ""]
  lines += _training_section(results)
  lines += _synthesis_section(results)
  lines += _inpainting_section(results)
  lines += _correlation_section(results)
  lines += _scores_section(results)
  lines += _gradient_section(results)
  lines += _features_section(results)
  checks = results.get("checks") or paper_checks(results)
  lines += ["## Orderings: the paper's claims next to ours", ""]
  lines += _table(["claim", "paper", "ours", "agrees"],
                  [[c["claim"], c["paper"], c["ours"],
                    "yes" if c["agrees"] else "**no**"] for c in checks])
  disagreements = [c for c in checks if not c["agrees"]]
  lines += ["## Disagreements with the paper and what was checked", ""]
  sampler_checks = {c["mask"]: c for c in
                    results.get("inpainting_sampler_checks", [])}
  for c in disagreements:
    lines.append(f"* {c['claim']}: ours {c['ours']}; paper {c['paper']}.")
    mask = c.get("mask")
    if mask in sampler_checks:
      check = sampler_checks[mask]
      key, higher = ("mae_missing", False) if c["metric"] == "error" else (
          "psnr_missing", True)
      values = {m: v[key] for m, v in check["results"].items()}
      lines.append(f"  * Checked the sampler: with "
                   f"{check['num_langevin_steps_factor']}x the sampling "
                   f"steps, {_order_text(values, higher)}.")
  if not disagreements:
    lines.append("None: every checked ordering agrees.")
  lines.append("")
  if notes:
    lines += [notes.strip(), ""]
  return "\n".join(lines)
