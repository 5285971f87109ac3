"""The PPGN report's paper checks and markdown (pure functions of its dict).

`paper_checks(results)` lists each claim of Nguyen et al. (2017) that the
report measures, the paper's statement next to our numbers and whether they
agree; `render_markdown(results, notes)` writes report.md. Both read the
dict `apps.report_ppgn.run_report` returns (plus command, wall time).
"""

from __future__ import annotations

from typing import Optional

from apps.report_checks import fmt

LABELS = {"dgn_am": "DGN-AM (no prior)", "ppgn_x": "PPGN-x (x-DAE)",
          "ppgn_h": "PPGN-h (h-DAE)", "joint_ppgn_h": "Joint PPGN-h",
          "noiseless_joint_ppgn_h": "Noiseless Joint PPGN-h"}
# Diversity ratios closer than this count as "similar" (PPGN-h vs DGN-AM).
SIMILAR = 0.05


def _table(header, rows) -> list[str]:
  return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
          ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows] +
          [""])


def _check(claim, paper, ours, agrees) -> dict:
  return dict(claim=claim, paper=paper, ours=ours, agrees=bool(agrees))


def paper_checks(results: dict) -> list[dict]:
  """[{claim, paper, ours, agrees}] for the claims measured in `results`."""
  t = results.get("treatments", {})
  checks = []
  if {"dgn_am", "noiseless_joint_ppgn_h"} <= set(t):
    a, b = t["noiseless_joint_ppgn_h"], t["dgn_am"]
    checks.append(_check(
        "The learned prior gives more diverse samples than DGN-AM at equal "
        "class probability (central claim, Figs. 2, S10)",
        "PPGN: 'substantially larger diversity than DGN-AM'",
        f"within-class distance / real: Noiseless {fmt(a['diversity_ratio'])}"
        f" vs DGN-AM {fmt(b['diversity_ratio'])} (mean class probability "
        f"{fmt(a['mean_class_probability'])} vs "
        f"{fmt(b['mean_class_probability'])}); among samples with p >= 0.9: "
        f"{fmt(a['confident_diversity_ratio'])} vs "
        f"{fmt(b['confident_diversity_ratio'])}",
        a["confident_diversity_ratio"] is not None and
        b["confident_diversity_ratio"] is not None and
        a["confident_diversity_ratio"] > b["confident_diversity_ratio"]))
    checks.append(_check(
        "DGN-AM mixes poorly; the Noiseless Joint PPGN-h mixes faster (§3.5)",
        "Noiseless mixes substantially faster than DGN-AM",
        f"mean change per snapshot: Noiseless "
        f"{fmt(a['mixing']['mean_change'])} vs DGN-AM "
        f"{fmt(b['mixing']['mean_change'])}",
        a["mixing"]["mean_change"] > b["mixing"]["mean_change"]))
  if {"dgn_am", "ppgn_h"} <= set(t):
    a, b = t["ppgn_h"], t["dgn_am"]
    checks.append(_check(
        "PPGN-h samples are qualitatively similar to DGN-AM's (§3.3)",
        "h-DAE prior no better than none",
        f"diversity {fmt(a['diversity_ratio'])} vs {fmt(b['diversity_ratio'])}"
        f", FD {fmt(a['frechet_distance'])} vs {fmt(b['frechet_distance'])}",
        abs(a["diversity_ratio"] - b["diversity_ratio"]) <= SIMILAR))
  quality = {m: s["frechet_distance"] for m, s in t.items()}
  if len(quality) >= 2:
    best = min(quality, key=quality.get)
    checks.append(_check(
        "The Noiseless Joint PPGN-h has the best image quality (§3.5)",
        "Noiseless best", "FD: " + ", ".join(
            f"{LABELS[m]} {fmt(v)}" for m, v in sorted(
                quality.items(), key=lambda kv: kv[1])),
        best == "noiseless_joint_ppgn_h"))
  if {"joint_ppgn_h", "noiseless_joint_ppgn_h"} <= set(t):
    a, b = t["joint_ppgn_h"], t["noiseless_joint_ppgn_h"]
    checks.append(_check(
        "Joint PPGN-h mixes slightly faster than the Noiseless one (Fig. S13)",
        "Joint faster", f"mean change {fmt(a['mixing']['mean_change'])} vs "
        f"{fmt(b['mixing']['mean_change'])}",
        a["mixing"]["mean_change"] > b["mixing"]["mean_change"]))
  if {"ppgn_x", "noiseless_joint_ppgn_h"} <= set(t):
    a, b = t["ppgn_x"], t["noiseless_joint_ppgn_h"]
    checks.append(_check(
        "PPGN-x models the data poorly (blurry) (§3.1)",
        "PPGN-x worse than the Noiseless Joint PPGN-h",
        f"FD {fmt(a['frechet_distance'])} vs {fmt(b['frechet_distance'])}",
        a["frechet_distance"] > b["frechet_distance"]))
  sweep = results.get("epsilon3_sweep", [])
  if len(sweep) >= 2:
    high, low = sweep[0], sweep[-1]
    checks.append(_check(
        "Larger epsilon3 gives worse images, not necessarily faster mixing "
        "(Fig. S15)", "1e-17 best quality",
        f"FD at {high['sampler_noise']:g}: {fmt(high['frechet_distance'])}, "
        f"at {low['sampler_noise']:g}: {fmt(low['frechet_distance'])}",
        high["frechet_distance"] >= low["frechet_distance"]))
  robust = {r["sigma_of_mean_h"]: r for r in results.get("robustness", [])}
  if 0.0 in robust and 0.2 in robust:
    clean, noisy = robust[0.0], robust[0.2]
    checks.append(_check(
        "G is robust to noise on h up to 20% of the mean activation "
        "(Fig. S16)", "images still recognisable at 20%",
        f"classifier accuracy of G(h + noise): {fmt(clean['class_accuracy'])}"
        f" clean, {fmt(noisy['class_accuracy'])} at 20%",
        noisy["class_accuracy"] >= 0.9 * clean["class_accuracy"]))
  masks = results.get("inpainting", {}).get("masks", {})
  for kind, row in masks.items():
    checks.append(_check(
        f"The context term improves inpainting ({kind}) (Fig. 7)",
        "context better than clamping only",
        f"missing-pixel error {fmt(row['ppgn_context']['mae_missing'])} vs "
        f"{fmt(row['ppgn_clamp_only']['mae_missing'])}",
        row["ppgn_context"]["mae_missing"] <=
        row["ppgn_clamp_only"]["mae_missing"]))
  return checks


def _workdir_section(results) -> list[str]:
  rows = []
  for name, info in results.get("workdirs", {}).items():
    span = info.get("training_time_s")
    pauses = info["pause_rates"]
    rows.append([name, info["flagfile"], info["variant"], info["step"],
                 "n/a" if span is None else f"{span / 60:.1f} min",
                 "reused" if info["reused"] else
                 f"{info['train_wall_s'] / 60:.1f} min",
                 pauses["d_paused"], pauses["g_paused"],
                 pauses["median_loss_ratio"], pauses["num_steps_seen"]])
  return ["## Training and GAN pause rates (paper S9.1)", "",
          "Pause heuristic r = loss_D / loss_G: D paused while r < 0.1, G "
          "while r > 10 (the paper gives no rates). Rates over the G stage's "
          "steps, from the per-step summaries.", ""] + _table(
              ["workdir", "flagfile", "variant", "steps", "training time",
               "this run", "D paused", "G paused", "median r",
               "G-stage steps seen"], rows)


TREATMENT_KEYS = ("class_accuracy", "mean_top_probability",
                  "mean_class_probability", "classifier_score",
                  "classes_covered", "frechet_distance", "diversity_ratio",
                  "within_class_ssim", "confident_fraction",
                  "confident_diversity_ratio", "keep_rate",
                  "nearest_train_distance")


def _treatment_section(results) -> list[str]:
  t = results.get("treatments", {})
  rows = [[LABELS[m]] + [t[m][k] for k in TREATMENT_KEYS] +
          [t[m]["mixing"]["mean_change"],
           t[m]["mixing"]["distinct_neighbours"]] for m in LABELS if m in t]
  real = results.get("real_images")
  if real:
    rows.append(["real (train split vs test)"] + [
        real.get(k) for k in TREATMENT_KEYS] + [None, None])
  sizes = results["sizes"]
  any_row = next(iter(t.values()), {})
  sampler = ", ".join(f"{k}={v}" for k, v in any_row.get(
      "sampler", {}).items() if k != "prior")  # The prior is per row.
  return ["## Treatments (paper Figs. 2-3, S13-S14)", "",
          f"{sizes['chains_per_class']} chains x {sizes['num_mcmc_steps']} "
          f"steps per class, scored by the evaluation classifier (test "
          f"accuracy {fmt(results.get('classifier_test_accuracy'))}); never "
          "by E or the condition net. Diversity = mean pairwise L2 within a "
          "class / the same for real test digits (1 = as diverse); SSIM: "
          "mean pairwise within a class (lower = more diverse; real test "
          f"digits {fmt(real and real.get('real_ssim'))}). 'p>=0.9' columns:"
          " the samples the classifier gives >= 0.9 for their class (the "
          "equal-probability comparison). Keep rate: E's p >= 0.97 (the "
          "paper's filter). Mixing: mean L2 between snapshots "
          f"{sizes['num_mcmc_steps'] // max(sizes['num_snapshots'], 1)} "
          "steps apart; distinct nearest training images per chain over "
          f"{sizes['num_snapshots']} snapshots. Sampler: {sampler}.", ""] + (
              _table(["treatment", "class acc.", "top prob.", "class prob.",
                      "score", "classes", "FD", "diversity", "SSIM",
                      "p>=0.9 share", "p>=0.9 diversity", "keep rate",
                      "L2 to train", "mean change", "distinct NN"], rows))


def _sweep_section(results) -> list[str]:
  rows = [[f"{r['sampler_noise']:g}" + (" (run's)" if r.get("run_default")
                                         else ""), r["class_accuracy"],
           r["mean_class_probability"], r["frechet_distance"],
           r["diversity_ratio"], r["within_class_ssim"], r["mean_change"],
           r["distinct_neighbours"]] for r in results.get("epsilon3_sweep",
                                                          [])]
  return ["## epsilon3 sweep, Noiseless Joint PPGN-h (paper Fig. S15)", "",
          "Other settings as the run's, the same chains and seed; the run's "
          "own value is the treatments' row. `epsilon3_sweep.png`: one row "
          "per value, largest first.", ""] + _table(
              ["epsilon3", "class acc.", "class prob.", "FD", "diversity",
               "SSIM", "mean change", "distinct NN"], rows)


def _robustness_section(results) -> list[str]:
  rows = [[r["sigma_of_mean_h"], r["class_accuracy"], r["l2_to_input"],
           r["frechet_distance"]] for r in results.get("robustness", [])]
  mem = results.get("memorisation", {})
  mem_rows = [[name, m["train"]["l2"], m["test"]["l2"],
               m["test_over_train_l2"], m["train"]["class_accuracy"],
               m["test"]["class_accuracy"]] for name, m in mem.items()]
  return (["## G's robustness to noise on h (paper Fig. S16)", "",
           "G(E(x) + sigma * mean(h) * n), x = the test split; accuracy of "
           "the evaluation classifier against x's label, L2 to x ([0, 1] "
           "pixels), FD against the test split. `robustness_h_noise.png`: "
           "rows = x, then sigma = 0, 1%, 10%, ...", ""] + _table(
               ["sigma / mean h", "class acc.", "L2 to x", "FD"], rows) +
          ["## Memorisation: G(E(x)) on train vs test", ""] + _table(
              ["workdir", "train L2", "test L2", "test / train",
               "train class acc.", "test class acc."], mem_rows))


def _inpainting_section(results) -> list[str]:
  inp = results.get("inpainting", {})
  documented = inp.get("multigrid_documented")
  rows = []
  for kind, row in inp.get("masks", {}).items():
    mg = row.get("multigrid") or (documented or {}).get("masks", {}).get(kind)
    rows.append([kind] + [row[m]["mae_missing"] for m in (
        "ppgn_clamp_only", "ppgn_context", "diffusion_fill")] +
                [mg and mg["mae_missing"]] + [row[m]["psnr_missing"] for m in (
                    "ppgn_clamp_only", "ppgn_context", "diffusion_fill")] +
                [mg and mg["psnr_missing"]])
  s = inp.get("settings", {})
  source = ("run here (--multigrid_workdir)" if any(
      "multigrid" in r for r in inp.get("masks", {}).values()) else
            f"from {documented['source']} (same masks, seeds and test "
            f"images; `{documented['command']}`)" if documented else "n/a")
  return ["## Inpainting (paper Fig. 7)", "",
          f"{s.get('num_images')} test images per mask, "
          f"{s.get('num_mcmc_steps')} MALA-approx steps, each chain "
          "conditioned on E's top class of its masked image (no label "
          "given); clamp-only = epsilon4 0, context = epsilon4 "
          f"{fmt(s.get('context_weights', {}).get('context'))}. Error = mean "
          "absolute error over the missing pixels ([0, 1]); PSNR over them "
          f"(dB). Multigrid: {source}.", ""] + _table(
              ["mask", "error clamp", "error context", "error diffusion",
               "error multigrid", "PSNR clamp", "PSNR context",
               "PSNR diffusion", "PSNR multigrid"], rows)


def render_markdown(results: dict, notes: Optional[str] = None) -> str:
  lines = ["# PPGN on digits: the paper's experiments", "",
           f"Command: `{results.get('command')}`; wall time "
           f"{results.get('wall_time_s', 0) / 60:.1f} min on "
           f"{results.get('machine')}; load average at start / end "
           f"{fmt(results.get('load_average_start', [None])[0], 2)} / "
           f"{fmt(results.get('load_average_end', [None])[0], 2)} (a shared "
           "machine: times are upper bounds). Phases (s): " + ", ".join(
               f"{k} {v:.0f}" for k, v in results.get("timings", {}).items())
           + ".", ""]
  if results.get("smoke"):
    lines += ["**Smoke run (tiny nets, 2 steps): the numbers mean "
              "nothing.**", ""]
  lines += _workdir_section(results) + _treatment_section(results)
  lines += _sweep_section(results) + _robustness_section(results)
  lines += _inpainting_section(results)
  checks = results.get("checks", [])
  lines += ["## The paper's claims next to ours", ""] + _table(
      ["claim", "paper", "ours", "agrees"],
      [[c["claim"], c["paper"], c["ours"], "yes" if c["agrees"] else "**no**"]
       for c in checks])
  lines += ["## Disagreements", ""]
  lines += [f"* {c['claim']}: {c['ours']}." for c in checks
            if not c["agrees"]] or ["* none"]
  lines.append("")
  if notes:
    lines += ["## Investigation notes", "", notes.strip(), ""]
  return "\n".join(lines)
