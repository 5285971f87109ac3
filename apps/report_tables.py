"""The multigrid report's markdown.

`render_markdown` turns the `report.json` dict that `apps.report` writes
(with the `paper_checks` of `apps.report_checks`) into `report.md`.
"""

from __future__ import annotations

from typing import Optional

from apps import report_checks


def _table(header: list[str], rows: list[list]) -> list[str]:
  lines = ["| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(report_checks.fmt(v) for v in row) + " |" for row in rows]
  return lines + [""]


def _training_section(results: dict) -> list[str]:
  rows = []
  for m in report_checks.method_names(results):
    info = results["methods"][m]
    span = info.get("training_time_s")
    rows.append([report_checks.METHOD_LABELS[m], info["flagfile"], info["step"],
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
  rows = [[report_checks.METHOD_LABELS[m]] + [synthesis[m][k] for k in keys]
          for m in report_checks.method_names(results) if m in synthesis]
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
              f"[{report_checks.METHOD_LABELS[m]}](samples_{m}.png)"
              for m in report_checks.method_names(results) if m in synthesis) + ".", ""])


def _inpainting_section(results: dict) -> list[str]:
  methods = report_checks.method_names(results)
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
  header = ["mask", "metric"] + [report_checks.METHOD_LABELS[m] for m in methods] + (
      ["diffusion fill (not learned)"] if reference else []) + [
          "paper (PCD / CD-1 / SG / MG)"]
  rows = []
  for mask, per_method in results.get("inpainting", {}).items():
    for key, name, digits in (("mae_missing", "error", 3),
                              ("psnr_missing", "PSNR", 2)):
      paper = " / ".join(report_checks.fmt(report_checks.PAPER_INPAINTING[key][mask][m], digits)
                         for m in ("persistent_cd", "cd1", "single_grid",
                                   "multigrid"))
      rows.append([report_checks.MASK_LABELS.get(mask, mask), name] +
                  [report_checks.fmt(per_method[m][key], digits) for m in methods]
                  + ([report_checks.fmt(reference[mask][key], digits)] if reference
                     else []) + [paper])
  lines += _table(header, rows)
  lines += ["Panels (columns: original, masked, then " + ", ".join(
      report_checks.METHOD_LABELS[m] for m in methods) + "): " + ", ".join(
          f"[{mask}](inpaint_{mask}.png)"
          for mask in results.get("inpainting", {})) + ".", ""]
  for extra in results.get("inpainting_sampler_checks", []):
    lines.append(f"* Sampler check, {extra['mask']} with "
                 f"{extra['num_langevin_steps_factor']}x the sampling steps: "
                 + ", ".join(f"{m} error {report_checks.fmt(v['mae_missing'])} / PSNR "
                             f"{report_checks.fmt(v['psnr_missing'], 2)}"
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
  rows += [[f"paper {s} (CelebA, RGB)"] + report_checks.PAPER_CORRELATION[s][:len(grids)]
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
  methods = [m for m in report_checks.method_names(results) if m in features]
  counts = [row["num_labelled"] for row in features[methods[0]]]
  reference = features.get("multigrid", features[methods[0]])
  # Reports written before the feature-map CNN existed lack its column.
  map_cnn = any(row.get("feature_cnn_error") is not None for row in reference)
  rows = []
  for index, count in enumerate(counts):
    cnn = reference[index].get("supervised_cnn_error")
    rows.append([count] + [features[m][index]["svm_error"] for m in methods]
                + [cnn] + ([reference[index].get("feature_cnn_error")]
                           if map_cnn else []))
  return (["## Feature learning (paper Tables 2-3)", "",
           "Test error (fraction) of a linear SVM on each model's energy-net "
           "features with a balanced labelled subset of the digits train "
           "split, and of a supervised CNN of the same structure trained on "
           "the same subset, and (when run) of a 2-layer CNN on the feature "
           "maps of all multigrid grids. Paper (SVHN, 1000 labels, %): PCD "
           "45.74, CD-1 44.38, SG 36.69, MG 30.23; supervised CNN 39.04; MG "
           "+ CNN classifier 19.73.", ""]
          + _table(["labelled images"] + [f"SVM on {report_checks.METHOD_LABELS[m]}"
                                          for m in methods]
                   + ["supervised CNN"]
                   + (["2-layer CNN on multigrid feature maps"]
                      if map_cnn else []), rows))


def render_markdown(results: dict, notes: Optional[str] = None) -> str:
  """report.md: the settings, every table, and the orderings vs the paper."""
  lines = ["# Multigrid report: every experiment of the paper on digits", "",
           "Generated by `apps.report`; do not edit by hand.", "",
           "```", results.get("command", ""), "```", "",
           f"Wall time: {report_checks.fmt(results.get('wall_time_s'), 0)} s "
           f"({report_checks.fmt(results.get('wall_time_s', 0) / 60, 1)} min) on "
           f"{results.get('machine', 'this machine')}."
           + (" **Smoke settings (tiny models): the numbers mean nothing.**"
              if results.get("smoke") else ""), ""]
  spans = [results["methods"][m].get("training_time_s")
           for m in report_checks.method_names(results)]
  evaluation = sum(v for k, v in results.get("timings", {}).items()
                   if k != "training")
  if spans and None not in spans and results.get("timings"):
    total = sum(spans) + evaluation
    lines += [f"End to end from empty workdirs: {total / 60:.1f} min = "
              f"training {sum(spans) / 60:.1f} min (the methods' recorded "
              f"training times) + evaluation {evaluation / 60:.1f} min.", ""]
  if results.get("timings"):
    lines += ["Time per phase: " + ", ".join(
        f"{k} {report_checks.fmt(v, 0)} s" for k, v in results["timings"].items()) + ".",
              ""]
  lines += _training_section(results)
  lines += _synthesis_section(results)
  lines += _inpainting_section(results)
  lines += _correlation_section(results)
  lines += _scores_section(results)
  lines += _gradient_section(results)
  lines += _features_section(results)
  checks = results.get("checks") or report_checks.paper_checks(results)
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
                   f"steps, {report_checks.order_text(values, higher)}.")
  if not disagreements:
    lines.append("None: every checked ordering agrees.")
  lines.append("")
  if notes:
    lines += [notes.strip(), ""]
  return "\n".join(lines)
