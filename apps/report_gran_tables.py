"""The GRAN report's markdown (`apps.report gran`).

`render_markdown` turns the `report.json` dict that `apps.report_gran`
builds (with the checks of `apps.report_gran_checks`) into `report.md`:
every table, the paper's observations next to ours, the disagreements and
what was checked about each.
"""

from __future__ import annotations

from typing import Optional

from apps import report_checks
from apps import report_gran_checks

fmt = report_checks.fmt
_kind = report_gran_checks.kind
PAPER_TABLE3 = report_gran_checks.PAPER_TABLE3
paper_checks = report_gran_checks.paper_checks


def _table(header, rows) -> list[str]:
  return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
          ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
          + [""])


def _interval(values) -> str:
  return f"[{fmt(values[0], 3)}, {fmt(values[1], 3)}]"


def _table2_section(results: dict) -> list[str]:
  lines = ["## Table 2: GRAN1 vs GRAN3 vs GRAN5 (GAM)", "",
           f"{results['settings']['num_samples']} samples a side, the "
           f"{results['table2_num_test']} test digits; 95% bootstrap "
           "intervals. 'winner': the default rule (|r_test - 1| <= 0.3 and "
           "r_sample's interval excludes 1, else tie); 'lenient': also valid "
           "when the test errors do not differ significantly; 'battle.py': "
           "the official code's accuracy ratio, never a tie. Paper (MNIST): "
           "GRAN1 vs GRAN3 r_test 0.79, r_sample 1.75, GRAN3; GRAN1 vs "
           "GRAN5 0.95, 1.19, GRAN5.", ""]
  rows = []
  for seed, table in results["table2"].items():
    for b in table["battles"]:
      rows.append([seed, f"{_kind(b['name_1'])} vs {_kind(b['name_2'])}",
                   f"{b['test_error_1']:.3f} / {b['test_error_2']:.3f}",
                   f"{b['sample_error_1_on_2']:.3f} / "
                   f"{b['sample_error_2_on_1']:.3f}",
                   f"{fmt(b['r_test'], 3)} {_interval(b['r_test_interval'])}",
                   f"{fmt(b['r_sample'], 3)} "
                   f"{_interval(b['r_sample_interval'])}",
                   _kind(b["winner_name"]),
                   _kind(b["winner_ratio_or_difference"]),
                   _kind(b["winner_name_official"])])
  lines += _table(["seed", "battle", "ε test D1 / D2", "ε D1(G2) / D2(G1)",
                   "r_test [CI]", "r_sample [CI]", "winner", "lenient",
                   "battle.py"], rows)
  lines += ["Sample quality (apps.evaluate's classifier) and the D x G "
            "matrix (fraction of G's samples each D calls real; last column: "
            "fraction of test digits it calls fake):", ""]
  rows = []
  for seed, table in results["table2"].items():
    for name, q in table["quality"].items():
      matrix = table["matrix"][name]
      rows.append([seed, _kind(name), q["classifier_score"],
                   q["classes_covered"], q["mean_top_probability"],
                   q["frechet_distance"], q["nearest_train_distance"]] +
                  [matrix[g] for g in table["quality"]] + [matrix["test"]])
  real = results["real_test_quality"]
  rows.append(["-", "test digits", real["classifier_score"],
               real["classes_covered"], real["mean_top_probability"],
               real["frechet_distance"], real["nearest_train_distance"]] +
              ["", "", "", ""])
  lines += _table(["seed", "model", "classifier score", "classes",
                   "mean top prob.", "Fréchet distance", "L2 to nearest train",
                   "D on G1", "D on G3", "D on G5", "D on test"], rows)
  rows = [[_kind(n) + f" (seed {n.split('_seed')[1]})",
           sum(r.values()) / len(r),
           ", ".join(f"{_kind(j)}: {v:.3f}" for j, v in r.items())]
          for t in results["table2"].values()
          for n, r in t.get("referees", {}).items()]
  if rows:
    lines += ["Referees: the fraction of each model's samples that the other "
              "seed's discriminators (trained against neither generator) "
              "call real:", ""]
    lines += _table(["model", "mean", "each referee D"], rows)
  history = next(iter(results["table2"].values())).get("history", {})
  if history:
    lines += ["Over training (first seed, every saved checkpoint): the D's "
              "fraction of test digits called fake and of its own "
              "generator's samples called real, and the samples' classifier "
              "score:", ""]
    lines += _table(["model", "step", "D: test called fake",
                     "D: own samples called real", "classifier score",
                     "classes"],
                    [[_kind(n), h["step"], h["d_test_error"], h["d_own_real"],
                      h["classifier_score"], h["classes_covered"]]
                     for n, rows in history.items() for h in rows])
  return lines


def _table3_section(results: dict) -> list[str]:
  table = results["table3"]
  judges = list(next(iter(table.values()))["called_real"])
  rows = [[source, row["quality"]["classifier_score"],
           row["quality"]["frechet_distance"]] +
          [f"{row['called_real'][j]['fraction_real']:.3f} "
           f"{_interval(row['called_real'][j]['interval'])}" for j in judges]
          for source, row in table.items()]
  return (["## Table 3: GRAN discriminators on non-adversarial images", "",
           "Fraction called real (the paper's 'error'), 95% Wilson "
           f"intervals. Paper (MNIST): {PAPER_TABLE3}.", ""] +
          _table(["images", "classifier score", "Fréchet distance"] + judges,
                 rows))


def _table4_section(results: dict) -> list[str]:
  lines = ["## Table 4: GRAN5 sampled with T' canvas steps", "",
           "Paper (CIFAR): GRAN5 vs GRAN7 r_test 1.01, r_sample 0.94; GRAN5 "
           "vs GRAN9 1.09, 1.07; 'brighter' samples, winner GRAN7. One D "
           "judges both sides, so r_test = 1 by construction.", ""]
  rows, battles = [], []
  for seed, t4 in results["table4"].items():
    for steps, row in t4["per_steps"].items():
      q = row["quality"]
      rows.append([seed, steps, row["mean_pixel"], q["classifier_score"],
                   q["classes_covered"], q["mean_top_probability"],
                   q["frechet_distance"], row["own_d_real"],
                   row["gran3_d_real"]])
    battles += [[seed, f"{_kind(b['name_1'])} vs {_kind(b['name_2'])}",
                 fmt(b["r_test"], 3), f"{fmt(b['r_sample'], 3)} "
                 f"{_interval(b['r_sample_interval'])}",
                 _kind(b["winner_name"]), _kind(b["winner_name_official"])]
                for b in t4["battles"]]
  return (lines + _table(["seed", "T'", "mean pixel", "classifier score",
                          "classes", "mean top prob.", "Fréchet distance",
                          "own D: real", "GRAN3's D: real"], rows) +
          _table(["seed", "battle", "r_test", "r_sample [CI]", "winner",
                  "battle.py"], battles))


def _canvas_section(results: dict) -> list[str]:
  lines = ["## Canvases over t (Figs. 9-10)", "",
           "Rows = samples, columns = t. ΔC RMS: pre-sigmoid update; change: "
           "RMS |C_t - C_{t-1}| in [0, 1] pixels (C_0 = grey).", ""]
  for key, stats in results["canvases"].items():
    lines += [f"![{key}]({stats['panel']})", ""]
    lines += _table(["model", "t", "ΔC RMS", "change RMS", "mean pixel",
                     "mean top prob.", "classes"],
                    [[_kind(key), r["t"], r["delta_rms"],
                      r["canvas_change_rms"], r["mean_pixel"],
                      r["mean_top_probability"], r["classes_covered"]]
                     for r in stats["per_step"]])
  return lines


def _noise_section(results: dict) -> list[str]:
  modes = results["noise_modes"]
  lines = ["## Per-step vs shared noise (Figs. 11-12), and neighbours", "",
           "Near-duplicate: among as many samples as there are test digits "
           f"({modes['test_digits']['num_images']}), one whose closest other "
           f"sample is within {modes['threshold']:.3f} (L2 in [0, 1] "
           "pixels: the 5th percentile of the test digits' closest-other "
           "distances, so ~5% of test digits count). 'history': the same "
           "over the saved checkpoints.", ""]
  rows = []
  for mode in ("shared", "per_step"):
    m = modes[mode]
    rows.append([mode, m["quality"]["classes_covered"],
                 m["quality"]["classifier_score"],
                 m["quality"]["frechet_distance"],
                 m["near_duplicate_fraction"],
                 m["mean_closest_sample_distance"],
                 ", ".join(f"{h['step']}: {h['classes_covered']} cl. / "
                           f"{h['near_duplicate_fraction']:.3f} dup."
                           for h in m["history"])])
  rows.append(["test digits", "", "", "",
               modes["test_digits"]["near_duplicate_fraction"],
               modes["test_digits"]["mean_closest_sample_distance"], ""])
  lines += _table(["noise", "classes", "classifier score", "Fréchet distance",
                   "near-duplicates", "mean closest-sample L2", "history"],
                  rows)
  for name, n in results["neighbours"].items():
    lines += [f"Nearest training digits of {_kind(name)} (`{n['command']}`):"
              "", "", f"![neighbours {name}]({n['png']})", ""]
  copies = results.get("copies", {})
  lines += _table(["model", "copies (closer than any test digit)",
                   "mean L2 to nearest train"],
                  [[_kind(n), c["copy_fraction"], c["mean_nearest_train"]]
                   for n, c in copies.items()])
  return lines


def render_markdown(results: dict, notes: Optional[str] = None) -> str:
  """report.md: the command, every table, the claims, the disagreements."""
  wall = results.get("wall_time_s", 0.0)
  lines = ["# GRAN report: the paper's experiments on digits", "",
           "Generated by `python -m apps.report gran`; do not edit by hand.",
           "", "```", results.get("command", ""), "```", "",
           f"Wall time: {wall:.0f} s ({wall / 60:.1f} min) on "
           f"{results.get('machine', '?')}; load average at the start "
           f"{results.get('load_average_start', '?')}, at the end "
           f"{results.get('load_average_end', '?')}." +
           (" **Smoke settings: the numbers mean nothing.**"
            if results.get("smoke") else ""), ""]
  spans = {n: r.get("training_time_s") for n, r in results["runs"].items()}
  lines += ["Time per phase: " + ", ".join(
      f"{k} {v:.0f} s" for k, v in results.get("timings", {}).items()) + ".",
            "", "## Training", ""]
  lines += _table(["run", "flagfile", "steps", "batch", "recorded training",
                   "this run", "command"],
                  [[n, r.get("flagfile", "given"), r.get("step"),
                    r.get("batch_size"),
                    "n/a" if spans[n] is None else f"{spans[n] / 60:.1f} min",
                    "reused" if r.get("reused") or r.get("given") else
                    f"{r['train_wall_s'] / 60:.1f} min",
                    f"`{r.get('train_command', r['workdir'])}`"]
                   for n, r in results["runs"].items()])
  lines += _table2_section(results) + _table3_section(results)
  lines += _table4_section(results) + _canvas_section(results)
  lines += _noise_section(results)
  checks = results.get("checks") or report_gran_checks.paper_checks(
      results)
  lines += ["## The paper's observations next to ours", ""]
  lines += _table(["claim", "paper", "ours", "agrees"],
                  [[c["claim"], c["paper"], c["ours"],
                    "yes" if c["agrees"] else "**no**"] for c in checks])
  lines += ["## Disagreements with the paper", ""]
  disagreements = [c for c in checks if not c["agrees"]]
  for c in disagreements:
    lines.append(f"* {c['claim']}: ours {c['ours']}.")
    lines += [f"  * Checked: {line}" for line in report_gran_checks.investigation(c, results)]
  if not disagreements:
    lines.append("None: every checked claim agrees.")
  lines.append("")
  if notes:
    lines += [notes.strip(), ""]
  return "\n".join(lines)
