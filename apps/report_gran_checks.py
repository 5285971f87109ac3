"""The GRAN paper's observations next to ours (`apps.report gran`).

Pure functions of the `report.json` dict that `apps.report_gran` builds:
`paper_checks` puts each observation of the paper (spec §4) next to ours;
`investigation` lists the measured facts bearing on a disagreement. The
markdown is `apps.report_gran_tables`.
"""

from __future__ import annotations

from apps import report_checks

fmt = report_checks.fmt
# Paper Table 2 (MNIST rows) and Table 3 (MNIST), quoted in the spec §2.3.
PAPER_TABLE2_MNIST = {("gran1", "gran3"): (0.79, 1.75, "GRAN3"),
                      ("gran1", "gran5"): (0.95, 1.19, "GRAN5")}
PAPER_TABLE3 = "GRAN1 vs DVAE 0.058, GRAN3 vs DVAE 0.01, GRAN1 vs DRAW " \
               "0.347, GRAN3 vs DRAW 0.106"


def kind(name: str) -> str:
  """'gran3_seed0' -> 'gran3'; 'gran5_seed1@7' -> 'gran5@7'."""
  base, _, steps = name.partition("@")
  return base.split("_seed")[0] + (f"@{steps}" if steps else "")


def paper_checks(results: dict) -> list[dict]:
  """[{claim, paper, ours, agrees}] for every measured observation."""
  checks = []
  battles = [(seed, b) for seed, t in results.get("table2", {}).items()
             for b in t["battles"]]
  for pair, later in ((("gran1", "gran3"), "gran3"),
                      (("gran1", "gran5"), "gran5"),
                      (("gran3", "gran5"), "gran5")):
    rows = [(seed, b) for seed, b in battles
            if (kind(b["name_1"]), kind(b["name_2"])) == pair]
    if not rows:
      continue
    ours = "; ".join(
        f"seed {seed}: {kind(b['winner_name'])} (lenient validity: "
        f"{kind(b['winner_ratio_or_difference'])}, battle.py: "
        f"{kind(b['winner_name_official'])})" for seed, b in rows)
    checks.append(dict(
        topic="table2", pair=list(pair),
        claim=f"Table 2: {later.upper()} beats {pair[0].upper()}",
        paper="GRAN3 and GRAN5 beat GRAN1 on MNIST, CIFAR, LSUN; GRAN5 "
              "beats GRAN3 on CIFAR, LSUN",
        ours=ours, agrees=all(kind(b["winner_name"]) == later
                              for _, b in rows)))
  if battles:
    valid = [b for _, b in battles
             if abs(float(b["r_test"]) - 1) <= b["test_ratio_tolerance"]]
    checks.append(dict(
        topic="validity",
        claim="Table 2: the validity check r_test ~ 1 holds in every battle",
        paper="r_test in [0.79, 1.29] in every reported battle",
        ours=f"{len(valid)} of {len(battles)} battles have |r_test - 1| <= "
             f"{battles[0][1]['test_ratio_tolerance']}; r_test: " + ", ".join(
                 fmt(b["r_test"], 2) for _, b in battles),
        agrees=len(valid) == len(battles)))
  table3 = {s: row for s, row in results.get("table3", {}).items()
            if "reference" not in s}
  if table3:
    fractions = {(s, j): v["fraction_real"] for s, row in table3.items()
                 for j, v in row["called_real"].items()}
    checks.append(dict(
        topic="table3",
        claim="Table 3: every GRAN D calls < 50% of non-adversarial images "
              "real", paper=PAPER_TABLE3,
        ours=f"largest: {max(fractions.values()):.3f} "
             f"({max(fractions, key=fractions.get)[1]} on "
             f"{max(fractions, key=fractions.get)[0]})",
        agrees=max(fractions.values()) < 0.5))
    pairs = [(s, j, j.replace("gran1", "gran3")) for s, j in fractions
             if j.startswith("gran1")]
    checks.append(dict(
        topic="table3_order",
        claim="Table 3: GRAN3's D is fooled less than GRAN1's (same seed)",
        paper="0.01 < 0.058 (DVAE), 0.106 < 0.347 (DRAW)",
        ours="; ".join(f"{s.split(' (')[0]}, seed {g1.split('seed')[1]}: "
                       f"{fractions[(s, g3)]:.3f} vs {fractions[(s, g1)]:.3f}"
                       for s, g1, g3 in pairs),
        agrees=all(fractions[(s, g3)] < fractions[(s, g1)] or
                   fractions[(s, g3)] == fractions[(s, g1)] == 0
                   for s, g1, g3 in pairs)))
  for seed, t4 in results.get("table4", {}).items():
    steps = sorted(t4["per_steps"], key=int)
    means = [t4["per_steps"][s]["mean_pixel"] for s in steps]
    checks.append(dict(
        topic="brightness", seed=seed,
        claim=f"Table 4, seed {seed}: sampling GRAN5 longer (T' > 5) makes "
              "brighter samples", paper="'the samples get brighter' (CIFAR)",
        ours="mean pixel " + ", ".join(f"T'={s}: {m:.3f}"
                                       for s, m in zip(steps, means)),
        agrees=all(a < b for a, b in zip(means, means[1:]))))
    checks.append(dict(
        claim=f"Table 4, seed {seed}: GAM prefers T' = 7", paper=(
            "'the winner of the battle was GRAN7' (its own Table 4 rows are "
            "intransitive)"),
        ours="; ".join(f"{kind(b['name_1'])} vs {kind(b['name_2'])}: "
                       f"{kind(b['winner_name'])} (battle.py: "
                       f"{kind(b['winner_name_official'])})"
                       for b in t4["battles"]),
        agrees=all(kind(b["winner_name"]).endswith("@7") for b in
                   t4["battles"] if "@7" in b["name_1"] + b["name_2"])))
  for key, stats in results.get("canvases", {}).items():
    if "per_step" in key:
      continue
    confidences = [row["mean_top_probability"] for row in stats["per_step"]]
    checks.append(dict(
        claim=f"canvases {kind(key)}: each step adds detail (classifier "
              "confidence of C_t rises)",
        paper="Figs. 9-10: the drawing sharpens step by step",
        ours=", ".join(f"t={i + 1}: {c:.3f}" for i, c in
                       enumerate(confidences)),
        agrees=all(a <= b for a, b in zip(confidences, confidences[1:]))))
  modes = results.get("noise_modes")
  if modes:
    shared, per_step = modes["shared"], modes["per_step"]
    checks.append(dict(
        claim="per-step noise: more near-duplicate samples than shared",
        paper="Figs. 11-12: per-step noise gives near-duplicates",
        ours=f"per-step {per_step['near_duplicate_fraction']:.3f} vs shared "
             f"{shared['near_duplicate_fraction']:.3f} (test digits "
             f"{modes['test_digits']['near_duplicate_fraction']:.3f})",
        agrees=per_step["near_duplicate_fraction"] >
        shared["near_duplicate_fraction"]))
    checks.append(dict(
        claim="per-step noise: covers fewer classes than shared",
        paper="collapse with long training",
        ours=f"per-step {per_step['quality']['classes_covered']} vs shared "
             f"{shared['quality']['classes_covered']} classes",
        agrees=per_step["quality"]["classes_covered"] <
        shared["quality"]["classes_covered"]))
  copies = results.get("copies")
  if copies:
    checks.append(dict(
        claim="nearest neighbours: the samples are not training copies",
        paper="Figs. 7-8: no training-set copies",
        ours="; ".join(f"{kind(n)}: {c['copy_fraction']:.3f} closer to a "
                       "training digit than any test digit is"
                       for n, c in copies.items()),
        agrees=all(c["copy_fraction"] < 0.05 for c in copies.values())))
  return checks


def _count(fraction: float, total: int) -> str:
  return f"{round(fraction * total)}/{total}"


def investigation(check: dict, results: dict) -> list[str]:
  """Measured facts bearing on a disagreement (sub-bullets of report.md)."""
  topic, lines = check.get("topic"), []
  if topic == "table2":
    for seed, table in results["table2"].items():
      names = [f"{k}_seed{seed}" for k in check["pair"]]
      q = [table["quality"][n] for n in names]
      battle = next(b for b in table["battles"]
                    if [b["name_1"], b["name_2"]] == names)
      lines.append(
          f"seed {seed}, apps.evaluate's classifier: score {check['pair'][0]}"
          f" {q[0]['classifier_score']:.2f} vs {check['pair'][1]} "
          f"{q[1]['classifier_score']:.2f}, Fréchet distance "
          f"{q[0]['frechet_distance']:.1f} vs {q[1]['frechet_distance']:.1f}"
          f"; test digits called fake {_count(battle['test_error_1'], battle['num_test'])}"
          f" vs {_count(battle['test_error_2'], battle['num_test'])}, so "
          f"r_test = {fmt(battle['r_test'], 2)}; samples passing the other D "
          f"{battle['sample_error_2_on_1']:.3f} ({check['pair'][0]}) vs "
          f"{battle['sample_error_1_on_2']:.3f} ({check['pair'][1]}).")
      referees = table.get("referees", {})
      if referees:
        means = [sum(referees[n].values()) / len(referees[n]) for n in names]
        lines.append(
            f"seed {seed}, judged by the other seeds' discriminators "
            f"(trained against neither): {check['pair'][0]} {means[0]:.3f} "
            f"vs {check['pair'][1]} {means[1]:.3f} of the samples called "
            "real (mean over referees).")
  elif topic == "validity":
    battles = [b for t in results["table2"].values() for b in t["battles"]]
    zero = sum(1 for b in battles if 0 in (b["test_error_1"],
                                           b["test_error_2"]))
    lines.append(f"{zero} of {len(battles)} battles have a discriminator "
                 f"that calls none of the {battles[0]['num_test']} test "
                 "digits fake: r_test is then 0, inf or nan whatever the "
                 "other D does; the 'lenient' column uses the bootstrap "
                 "interval of the difference instead.")
  elif topic == "table3":
    table = results["table3"]
    for judge in next(iter(table.values()))["called_real"]:
      fooled = {source.split(" (")[0]: row["called_real"][judge]
                ["fraction_real"] for source, row in table.items()}
      if max(v for k, v in fooled.items() if "digits" not in k or
             "blurred" in k) >= 0.5:
        lines.append(f"{judge} calls real: " + ", ".join(
            f"{k} {v:.3f}" for k, v in fooled.items()) + ".")
  elif topic == "table3_order":
    table = results["table3"]
    test = table["test digits (reference)"]["called_real"]
    lines.append("each D's own acceptance of real test digits: " + ", ".join(
        f"{j} {v['fraction_real']:.3f}" for j, v in test.items()) +
                 "; a D that rejects many real digits also rejects other "
                 "images, so divided by it:")
    for source, row in table.items():
      if "reference" not in source:
        lines.append(f"{source.split(' (')[0]}: " + ", ".join(
            f"{j} {v['fraction_real'] / max(test[j]['fraction_real'], 1e-9):.3f}"
            for j, v in row["called_real"].items()) + ".")
  elif topic == "brightness":
    per_steps = results["table4"][check["seed"]]["per_steps"]
    lines.append("mean top-class probability by T': " + ", ".join(
        f"{t}: {v['quality']['mean_top_probability']:.3f}"
        for t, v in sorted(per_steps.items(), key=lambda kv: int(kv[0]))) +
                 "; per-step canvas numbers past t = 5 in the gran5@9 canvas "
                 "table.")
  return lines
