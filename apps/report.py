r"""Every experiment of the multigrid paper on digits, as one report.

    python -m apps.report multigrid --output=DIR [--workdir_root=DIR/workdirs]
    python -m apps.report gran --output=DIR    # the GRAN paper: apps.report_gran
    python -m apps.report ppgn --output=DIR    # the PPGN paper: apps.report_ppgn
    python -m apps.report leaderboard --output=DIR  # every family: apps.report_leaderboard

Trains (or reuses, when already trained with the same settings) one workdir
per method with its flagfile (`apps/configs/{multigrid,single_grid,cd1,
persistent_cd}_digits.cfg`, run through `python -m apps.train`), then
measures:

* synthesis: classifier score, Frechet distance, ... of `--num_samples`
  samples per method (as `apps.evaluate`);
* inpainting: error and PSNR over the missing pixels for the square, doodle
  and pepper-and-salt masks x 4 methods, on the test split (as
  `apps.inpaint`); where multigrid is not best, the same with twice the
  sampling steps;
* the multigrid model's Y0/Y30 chain correlation per grid (Langevin, HMC)
  and its scores f(Y) of training, testing, synthesised and negative images;
* features: linear-SVM test error on each model's features, and a supervised
  CNN of the same structure, for a few labelled-set sizes.

Writes DIR/report.json, DIR/report.md (tables, the paper's orderings next to
ours, the disagreements, the command and its wall time) and small PNGs.
`--smoke` shrinks everything (tiny nets, 2 training steps, few images) to
test the pipeline; its numbers mean nothing.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import sys
import time

from apps import common
from apps import report_checks
from apps import report_common
from apps import report_gran
from apps import report_leaderboard
from apps import report_ppgn
from apps import report_ppgn_tables
from apps import report_tables
from absl import app
from absl import flags

OUTPUT = flags.DEFINE_string("output", None, "Folder for report.md, "
                             "report.json and the PNGs.")
WORKDIR_ROOT = flags.DEFINE_string(
    "workdir_root", None, "Folder of the per-method workdirs (default "
    "OUTPUT/workdirs); finished ones with the same settings are reused.")
NUM_STEPS_SCALE = flags.DEFINE_float(
    "num_steps_scale", 1.0, "Multiplies every flagfile's --num_steps.")
NUM_SAMPLES = flags.DEFINE_integer("num_samples", 500,
                                   "Samples per method for synthesis scores.")
NUM_INPAINT_IMAGES = flags.DEFINE_integer(
    "num_inpaint_images", 0, "Test images per mask (0 = the whole split).")
NUM_CHAINS = flags.DEFINE_integer("num_chains", 300, "Chains of the Y0/Y30 "
                                  "correlation and images per score set.")
NUM_LABELLED = flags.DEFINE_list("num_labelled", ["100", "300", "1000"],
                                 "Labelled-set sizes of the feature table.")
SEED = flags.DEFINE_integer("seed", 0, "Seed of samples, masks and chains.")
CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Cached classifiers (as "
                                "apps.evaluate; --smoke uses OUTPUT/cache).")
NOTES = flags.DEFINE_string("notes", None, "Markdown file appended to the "
                            "report (investigation notes).")
SMOKE = flags.DEFINE_bool("smoke", False, "Tiny settings everywhere, to test "
                          "the pipeline; the numbers mean nothing.")

EXPERIMENTS = ("multigrid", "gran", "ppgn", "leaderboard")
CONFIG_DIR = report_common.CONFIG_DIR
FLAGFILES = {"multigrid": "multigrid_digits.cfg",
             "single_grid": "single_grid_digits.cfg",
             "cd1": "cd1_digits.cfg",
             "persistent_cd": "persistent_cd_digits.cfg"}
MASK_SEEDS = {"square": 101, "doodle": 102, "pepper_salt": 103}
SMOKE_TRAIN_FLAGS = ["--num_steps=2", "--batch_size=8", "--net_width=0.125",
                     "--num_langevin_steps=2", "--num_sampling_steps=2",
                     "--start_bank_size=16", "--persistent_bank_size=16",
                     "--num_sample_images=4", "--checkpoint_every=2",
                     "--sample_every=2", "--summary_every=2"]
SMOKE_SIZES = dict(num_samples=20, num_inpaint_images=12, num_chains=12,
                   num_labelled=(20, 40), cnn_epochs=1, feature_cnn_epochs=2)
PANEL_ROWS = 8


log = report_common.log
flagfile_value = report_common.flagfile_value
training_time_span = report_common.training_time_span


def train(method: str, workdir: str, log_path: str, flagfile: str = None,
          smoke_flags=None, extra_flags=()) -> dict:
  """Runs apps.train for `method` (a no-op when already trained)."""
  flagfile = os.path.join(CONFIG_DIR, flagfile or FLAGFILES[method])
  args = []
  if SMOKE.value:
    args += SMOKE_TRAIN_FLAGS if smoke_flags is None else list(smoke_flags)
  elif NUM_STEPS_SCALE.value != 1.0 and os.path.isfile(flagfile):
    steps = int(flagfile_value(flagfile, "num_steps") or 4000)
    args.append(f"--num_steps={max(1, round(steps * NUM_STEPS_SCALE.value))}")
  args += list(extra_flags)
  return report_common.run_training(method, flagfile, workdir, log_path, args)


def method_info(model, config, step, trained: dict) -> dict:
  m = config.model
  return dict(trained, step=step, num_steps=config.train.num_steps,
              training_time_s=training_time_span(trained["workdir"]),
              batch_size=config.train.batch_size,
              num_langevin_steps=list(model.num_langevin_steps),
              num_sampling_steps=list(model.num_sampling_steps),
              sampler=m.sampler, method=m.method,
              grid_sizes=list(m.grid_sizes))


def _finite_or_none(value: float):
  """JSON has no NaN: an undefined correlation becomes null."""
  return float(value) if math.isfinite(value) else None


def _to01(images):
  import numpy as np  # pylint: disable=g-import-not-at-top
  return np.clip((np.asarray(images) + 1.0) / 2.0, 0.0, 1.0).astype(
      np.float32)


def run_report(output: str, workdir_root: str) -> dict:
  """Trains/loads the four models and measures everything; the results."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from tfgen import data
  from tfgen.data import masks as masks_lib
  from tfgen.metrics import classifier
  from tfgen.metrics import diagnostics
  from tfgen.metrics import features as features_lib
  from tfgen.metrics import inpainting
  from tfgen.metrics import sample_quality
  from tfgen.vis import grid as grid_lib
  from tfgen.vis import plots
  sizes = dict(num_samples=NUM_SAMPLES.value,
               num_inpaint_images=NUM_INPAINT_IMAGES.value,
               num_chains=NUM_CHAINS.value,
               num_labelled=tuple(int(n) for n in NUM_LABELLED.value),
               cnn_epochs=features_lib.CNN_EPOCHS,
               feature_cnn_epochs=features_lib.FEATURE_CNN_EPOCHS)
  if SMOKE.value:
    sizes.update(SMOKE_SIZES)
  timings, results = {}, {"methods": {}, "sizes": dict(sizes)}
  clock = time.time()

  def lap(phase):
    nonlocal clock
    now = time.time()
    timings[phase] = timings.get(phase, 0.0) + now - clock
    clock = now

  models, configs, workdirs = {}, {}, {}
  for method in FLAGFILES:
    workdir = workdirs[method] = os.path.join(workdir_root, method)
    trained = train(method, workdir, os.path.join(workdir_root,
                                                  f"{method}.log"))
    try:
      model, config, step = common.load_finished_model(workdir)
    except ValueError as error:
      raise app.UsageError(str(error)) from error
    models[method], configs[method] = model, config
    results["methods"][method] = method_info(model, config, step, trained)
  lap("training")

  config = configs["multigrid"]
  dataset, size = config.data.dataset, config.data.image_size
  results.update(dataset=dataset, image_size=size)
  train_images, train_labels = data.arrays(dataset, "train", size)
  test_images, test_labels = data.arrays(dataset, "test", size)
  seed = SEED.value

  # Synthesis.
  settings = (classifier.TrainingSettings(num_epochs=1, max_steps=20)
              if SMOKE.value else classifier.TrainingSettings())
  cache_dir = (os.path.join(output, "cache") if SMOKE.value
               else CACHE_DIR.value)
  bundle = classifier.get_classifier(dataset, size, cache_dir,
                                     settings=settings)
  test_features = bundle.outputs(test_images)[1]
  synthesis = {"real_test_images": sample_quality.evaluate_real_images(
      test_images, bundle, train_images)}
  samples = {}
  for method, model in models.items():
    images = np.concatenate([
        np.asarray(model.sample(min(500, sizes["num_samples"] - start),
                                seed=seed, first_index=start)[-1])
        for start in range(0, sizes["num_samples"], 500)])
    samples[method] = np.clip(images, -1.0, 1.0)
    synthesis[method] = sample_quality.evaluate_images(
        samples[method], bundle, test_images, train_images, test_features)
    grid_lib.save_png(_to01(samples[method][:64]),
                      os.path.join(output, f"samples_{method}.png"))
    log(f"synthesis {method}: {json.dumps(synthesis[method])}")
  results["synthesis"] = synthesis
  results["classifier_test_accuracy"] = bundle.test_accuracy
  lap("synthesis")

  # Inpainting.
  count = sizes["num_inpaint_images"] or len(test_images)
  images = test_images[:count]
  originals = _to01(images)
  results["inpainting"], results["inpainting_sampler_checks"] = {}, []
  results["inpainting_reference"] = {}
  results["inpainting_settings"] = dict(
      num_images=int(count), mask_seeds=MASK_SEEDS, chain_seed=seed,
      fractions=masks_lib.DEFAULT_FRACTIONS)
  for kind in masks_lib.MASK_KINDS:
    masks = masks_lib.make_masks(kind, count, size, MASK_SEEDS[kind])
    filled = {m: _to01(inpainting.inpaint(model, images, masks, seed=seed))
              for m, model in models.items()}
    results["inpainting"][kind] = {
        m: inpainting.evaluate(originals, f, masks) for m, f in filled.items()}
    results["inpainting_reference"][kind] = inpainting.evaluate(
        originals, inpainting.diffusion_fill(originals, masks), masks)
    log(f"inpainting {kind}: {json.dumps(results['inpainting'][kind])}; "
        "diffusion fill: "
        f"{json.dumps(results['inpainting_reference'][kind])}")
    rows = min(PANEL_ROWS, count)
    columns = [originals[:rows], inpainting.masked_images(originals[:rows],
                                                          masks[:rows])]
    columns += [filled[m][:rows] for m in models]
    panel = np.stack(columns, axis=1).reshape((-1,) + originals.shape[1:])
    grid_lib.save_png(panel, os.path.join(output, f"inpaint_{kind}.png"),
                      columns=len(columns))
    scores = results["inpainting"][kind]
    if (min(scores, key=lambda m: scores[m]["mae_missing"]) != "multigrid"
        or max(scores, key=lambda m: scores[m]["psnr_missing"])
        != "multigrid"):
      # Investigate: is the ordering a matter of too short chains?
      doubled = {}
      for m, model in models.items():
        steps = [2 * s for s in model.num_sampling_steps]
        doubled[m] = inpainting.evaluate(originals, _to01(inpainting.inpaint(
            model, images, masks, seed=seed, num_steps=steps)),
                                         masks)
      results["inpainting_sampler_checks"].append(dict(
          mask=kind, num_langevin_steps_factor=2, results=doubled))
      log(f"inpainting {kind}, 2x steps: {json.dumps(doubled)}")
  lap("inpainting")

  # Chain correlation and scores of the multigrid model.
  model = models["multigrid"]
  chains = test_images[:sizes["num_chains"]]
  results["correlation"] = {"num_chains": int(len(chains))}
  for sampler in ("langevin", "hmc"):
    states = diagnostics.chain_states(model, chains, seed, sampler)
    for over, suffix in (("chains", ""), ("pixels", "_over_pixels")):
      results["correlation"][sampler + suffix] = {
          str(g): _finite_or_none(diagnostics.pixel_correlation(y0, yt, over))
          for g, (y0, yt) in states.items()}
  log(f"correlation: {json.dumps(results['correlation'])}")
  lap("correlation")
  sets = {"training": train_images[:sizes["num_chains"]],
          "testing": test_images[:sizes["num_chains"]],
          "synthesized": samples["multigrid"][:sizes["num_chains"]]}
  for name, negatives in diagnostics.negative_images(
      test_images[:sizes["num_chains"]], seed).items():
    sets[f"negative ({name})"] = negatives
  table = diagnostics.score_table(model, sets)
  results["scores"] = {name: {str(g): [float(v) for v in stats]
                              for g, stats in per_grid.items()}
                       for name, per_grid in table.items()}
  history = diagnostics.gradient_norm_history(workdirs["multigrid"])
  plots.plot_gradient_norms(history, os.path.join(
      output, "gradient_norms_multigrid.png"))
  results["gradient_norms"] = {
      str(g): {"first": values[0][1], "last": values[-1][1],
               "max": max(v for _, v in values), "num_points": len(values)}
      for g, values in history.items()}
  lap("scores")

  # Features.
  results["features"] = {}
  # The CNN on feature maps needs 2 labels per class (an early-stopping
  # slice); with fewer, its row is skipped rather than failing the report.
  map_epochs = sizes["feature_cnn_epochs"]
  if min(sizes["num_labelled"]) < 2 * (int(np.max(train_labels)) + 1):
    log(f"features: --num_labelled={min(sizes['num_labelled'])} gives "
        "fewer than 2 labels per class; skipping the CNN on feature maps.")
    map_epochs = 0
  for method, model in models.items():
    results["features"][method] = features_lib.evaluate_features(
        model, train_images, train_labels, test_images, test_labels,
        num_labelled=sizes["num_labelled"], seed=seed,
        cnn_epochs=sizes["cnn_epochs"] if method == "multigrid" else 0,
        feature_cnn_epochs=map_epochs if method == "multigrid" else 0)
    log(f"features {method}: {json.dumps(results['features'][method])}")
  lap("features")
  results["timings"] = timings
  return results


def main(argv):
  if len(argv) != 2 or argv[1] not in EXPERIMENTS:
    raise app.UsageError(
        f"Name one experiment: python -m apps.report "
        f"{'|'.join(EXPERIMENTS)} --output=DIR (got {argv[1:]}).")
  if not OUTPUT.value:
    raise app.UsageError("--output is required: a folder for report.md and "
                         "report.json, e.g. --output=/tmp/report.")
  if not NUM_STEPS_SCALE.value > 0:
    raise app.UsageError(f"--num_steps_scale={NUM_STEPS_SCALE.value} must "
                         "be > 0, e.g. 0.5 to halve every training.")
  for flag in (NUM_SAMPLES, NUM_CHAINS):
    if flag.value < 2:
      raise app.UsageError(f"--{flag.name}={flag.value} must be >= 2.")
  if NUM_INPAINT_IMAGES.value < 0:
    raise app.UsageError(f"--num_inpaint_images={NUM_INPAINT_IMAGES.value} "
                         "must be >= 0 (0 = the whole test split).")
  try:
    if any(int(n) <= 0 for n in NUM_LABELLED.value):
      raise ValueError
  except ValueError:
    raise app.UsageError(f"--num_labelled={','.join(NUM_LABELLED.value)} "
                         "must be positive integers, e.g. 100,300,1000.")
  notes = None
  if NOTES.value:
    if not os.path.isfile(NOTES.value):
      raise app.UsageError(f"--notes={NOTES.value!r} does not exist.")
    with open(NOTES.value) as f:
      notes = f.read()
  if argv[1] == "gran":
    report_gran.check_flags()
  if argv[1] == "leaderboard":
    report_leaderboard.check_flags()
  output = OUTPUT.value
  workdir_root = WORKDIR_ROOT.value or os.path.join(output, "workdirs")
  os.makedirs(workdir_root, exist_ok=True)
  start = time.time()
  from tfgen.bench import timing  # pylint: disable=g-import-not-at-top
  load_start = (timing.load_average() or (None,))[0]
  if argv[1] == "leaderboard":
    results = report_leaderboard.run(output, workdir_root, SMOKE.value,
                                     SEED.value, CACHE_DIR.value,
                                     NUM_SAMPLES.value)
  elif argv[1] == "gran":
    results = report_gran.run(output, workdir_root, SMOKE.value, SEED.value,
                              CACHE_DIR.value, NUM_STEPS_SCALE.value)
  elif argv[1] == "ppgn":
    results = report_ppgn.from_flags(output, workdir_root, train,
                                     training_time_span, log)
  else:
    results = run_report(output, workdir_root)
  results["wall_time_s"] = time.time() - start
  results["command"] = "python -m apps.report " + " ".join(
      shlex.quote(a) for a in sys.argv[1:])
  results["machine"] = (f"{platform.machine()} {os.cpu_count()} CPUs, "
                        f"{platform.platform()}")
  results["smoke"] = SMOKE.value
  results["load_start"] = load_start
  results["load_end"] = (timing.load_average() or (None,))[0]
  if argv[1] == "leaderboard":
    report_leaderboard.write(results, output)
    return
  if argv[1] == "gran":
    report_gran.write(results, output, notes)
    return
  tables = report_ppgn_tables if argv[1] == "ppgn" else None
  results["checks"] = (tables or report_checks).paper_checks(results)
  with open(os.path.join(output, "report.json"), "w") as f:
    json.dump(results, f, indent=1)
  with open(os.path.join(output, "report.md"), "w") as f:
    f.write((tables or report_tables).render_markdown(results, notes))
  log(f"Wrote {output}/report.md and report.json in "
      f"{results['wall_time_s']:.0f} s.")


if __name__ == "__main__":
  common.run(main)
