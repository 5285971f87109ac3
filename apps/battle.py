r"""GAM battles between trained generative adversarial models (Im et al. 2016).

    python -m apps.battle --workdirs=runs/gran1,runs/gran3,runs/gran5 \
        --num_samples=1000 --output=battles.json
    python -m apps.battle --workdirs=runs/gran5@5,runs/gran5@7,runs/gran5@9 ...
    python -m apps.battle --workdirs=runs/gran1,runs/gran3 \
        --against=multigrid_samples.npz --output=table3.json

Every pair of models battles (`tfgen.metrics.gam`: eq. 10-11's error
ratios, bootstrap intervals, and the winner rule: a winner only where
|r_test - 1| <= --test_ratio_tolerance and r_sample's interval excludes 1,
else a tie); the full matrix (every discriminator on every generator and on
the test split) is written too. `--against=NPZ[,NPZ]` scores samples of
models without a discriminator (`apps.sample` output, `images` in [0, 1]):
the fraction each discriminator calls real (the paper's Table 3).

A workdir may end in `@T` to sample a GRAN with T canvas steps (Table 4);
a `.keras` file is accepted in place of a workdir (then --dataset and
--image_size say what it was trained on). Writes FILE.json and FILE.md
(Markdown tables); prints the tables.
"""

from __future__ import annotations

import json
import os

from apps import common
from absl import app
from absl import flags

WORKDIRS = flags.DEFINE_list(
    "workdirs", None, "Comma-separated trained workdirs (or .keras files), "
    "each optionally NAME@STEPS for a GRAN sampled with STEPS canvas steps.")
AGAINST = flags.DEFINE_list(
    "against", [], ".npz sample files of other models (images in [0, 1]) "
    "to score with every discriminator (Table 3).")
DATASET = flags.DEFINE_string("dataset", None, "Test images' dataset "
                              "(default: the workdirs' dataset).")
IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Image size (default: "
                                  "the workdirs').")
SPLIT = flags.DEFINE_string("split", "test", "Split of the real images.")
NUM_TEST = flags.DEFINE_integer("num_test", 0, "Real images (0 = the whole "
                                "split).")
NUM_SAMPLES = flags.DEFINE_integer("num_samples", 1000, "Samples per model.")
SEED = flags.DEFINE_integer("seed", 0, "Seed of the samples and bootstrap.")
BATCH_SIZE = flags.DEFINE_integer(
    "batch_size", 100, "Images per discriminator call (single-source "
    "batches; a batch-statistics discriminator depends on it).")
TOLERANCE = flags.DEFINE_float(
    "test_ratio_tolerance", 0.3, "A winner needs |r_test - 1| <= this "
    "(0.3 admits every battle the paper's Table 2 decided).")
VALIDITY = flags.DEFINE_enum(
    "validity", "ratio", ["ratio", "ratio_or_difference"],
    "When a battle is valid: 'ratio' (the paper's: |r_test - 1| <= "
    "--test_ratio_tolerance) or 'ratio_or_difference' (also when the test "
    "errors' difference is not significant; for small test splits).")
NUM_BOOTSTRAP = flags.DEFINE_integer("num_bootstrap", 1000,
                                     "Bootstrap resamples of the intervals.")
CONFIDENCE = flags.DEFINE_float("confidence", 0.95, "Interval confidence.")
OUTPUT = flags.DEFINE_string("output", None, "Output .json path (a .md "
                             "beside it).")


def _split_steps(entry: str) -> tuple[str, int | None]:
  path, _, steps = entry.rpartition("@") if "@" in entry else (entry, "", "")
  if not steps:
    return entry, None
  try:
    value = int(steps)
  except ValueError:
    value = 0
  if value < 1:
    raise app.UsageError(f"--workdirs entry {entry!r}: the canvas steps after "
                         "'@' must be an integer >= 1, e.g. runs/gran5@7.")
  return path, value


def load_battler(entry: str):
  """(Player, dataset or None, image size) of one --workdirs entry."""
  # pylint: disable=g-import-not-at-top
  import keras
  from tfgen import families as families_lib
  from tfgen.metrics import gam
  path, steps = _split_steps(entry)
  base = os.path.basename(os.path.normpath(path))
  if base.endswith(".keras"):  # runs/gran3/model.keras -> gran3
    stem = base[:-len(".keras")]
    base = os.path.basename(os.path.dirname(os.path.abspath(path))) if (
        stem == "model") else stem
  name = base + (f"@{steps}" if steps else "")
  if path.endswith(".keras"):
    if not os.path.exists(path):
      raise app.UsageError(f"--workdirs entry {path!r} does not exist.")
    import tfgen.models.gran  # pylint: disable=unused-import
    model, dataset = keras.saving.load_model(path), None
  else:
    try:
      model, config, _ = common.load_finished_model(path,
                                                    allow_unfinished=True)
    except ValueError as error:
      raise app.UsageError(str(error)) from error
    dataset = (config.data.dataset, config.data.image_size)
  kwargs = {}
  if steps is not None:
    if not families_lib.of_model(model).has("canvas_steps"):
      raise app.UsageError(f"--workdirs entry {entry!r}: '@{steps}' sets "
                           "canvas steps, which only a GRAN has.")
    kwargs["num_canvas_steps"] = steps
  has_d = families_lib.of_model(model).has("battle")
  return (gam.player_of(model, name, has_discriminator=has_d, **kwargs),
          dataset, model.final_image_size)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}.")
  if not OUTPUT.value or not OUTPUT.value.endswith(".json"):
    raise app.UsageError(f"--output={OUTPUT.value!r} must be a path ending "
                         "in .json, e.g. --output=/tmp/battles.json.")
  entries = WORKDIRS.value or []
  if len(entries) < 2 and not (entries and AGAINST.value):
    raise app.UsageError(
        f"--workdirs={','.join(entries)!r} names {len(entries)} model(s); a "
        "battle needs at least two (--workdirs=A,B), or one with "
        "--against=SAMPLES.npz.")
  for flag in (NUM_SAMPLES, BATCH_SIZE):
    if flag.value <= 0:
      raise app.UsageError(f"--{flag.name}={flag.value} must be positive.")
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from tfgen import data
  from tfgen.metrics import gam
  battlers = [load_battler(entry) for entry in entries]
  trained_on = {d for _, d, _ in battlers if d is not None}
  sizes = {size for _, _, size in battlers}
  if len(trained_on) > 1 or len(sizes) > 1:
    raise app.UsageError(
        f"--workdirs were trained on different data {sorted(trained_on)} / "
        f"image sizes {sorted(sizes)}; battle models of one dataset and "
        "image size.")
  dataset = DATASET.value or (next(iter(trained_on))[0] if trained_on
                              else None)
  if dataset is None:
    raise app.UsageError("--dataset is required when no workdir says what "
                         "its model was trained on (.keras files).")
  size = IMAGE_SIZE.value or next(iter(sizes))
  players = [player for player, _, _ in battlers]
  try:
    gam.check_battlers(players, np.zeros([1, size, size,
                                          players[0].image_shape[-1]]),
                       min_players=1 if AGAINST.value else 2)
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  test = data.arrays(dataset, SPLIT.value, size,
                     max_examples=NUM_TEST.value or None)[0]
  options = dict(test_ratio_tolerance=TOLERANCE.value,
                 validity=VALIDITY.value,
                 num_bootstrap=NUM_BOOTSTRAP.value,
                 confidence=CONFIDENCE.value)
  results = []
  for i in range(len(players)):
    for j in range(i + 1, len(players)):
      results.append(gam.battle(players[i], players[j], test,
                                NUM_SAMPLES.value, SEED.value,
                                BATCH_SIZE.value, **options))
  report = {"dataset": dataset, "image_size": size, "split": SPLIT.value,
            "num_test": int(len(test)), "options": options,
            "battles": [r.to_dict() for r in results],
            "matrix": gam.cross_matrix(players, test, NUM_SAMPLES.value,
                                       SEED.value, BATCH_SIZE.value),
            "against": {}}
  lines = [f"GAM on {dataset} {SPLIT.value} ({len(test)} images), "
           f"{NUM_SAMPLES.value} samples per model", ""]
  if results:
    lines += [gam.markdown_table(results), ""]
  for path in AGAINST.value:
    with np.load(path) as archive:
      images = archive["images"] * 2.0 - 1.0
    if images.shape[1:3] != (size, size):
      raise app.UsageError(f"--against={path!r} holds {images.shape[1:3]} "
                           f"images; the models make {size}x{size}.")
    scores = {p.name: gam.fraction_called_real(
        np.concatenate([p.discriminate(images[k:k + BATCH_SIZE.value])
                        for k in range(0, len(images), BATCH_SIZE.value)]),
        CONFIDENCE.value) for p in players}
    report["against"][path] = scores
    lines.append(f"Fraction of {os.path.basename(path)} ({len(images)}) "
                 "called real:")
    lines += [f"- D of {name}: {s['fraction_real']:.3f} "
              f"[{s['interval'][0]:.3f}, {s['interval'][1]:.3f}]"
              for name, s in scores.items()]
  matrix = report["matrix"]
  lines += ["", "| D \\ G | " + " | ".join(matrix["names"]) + " | test |",
            "|---" * (len(matrix["names"]) + 2) + "|"]
  for name, row, test_error in zip(matrix["names"], matrix["sample_error"],
                                   matrix["test_error"]):
    lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) +
                 f" | {test_error:.3f} |")
  os.makedirs(os.path.dirname(os.path.abspath(OUTPUT.value)), exist_ok=True)
  with open(OUTPUT.value, "w") as f:
    json.dump(report, f, indent=1, default=float)
  markdown = "\n".join(lines) + "\n"
  with open(os.path.splitext(OUTPUT.value)[0] + ".md", "w") as f:
    f.write(markdown)
  print(markdown)


if __name__ == "__main__":
  app.run(main)
