r"""The PPGN paper's experiments on digits (`python -m apps.report ppgn`).

    python -m apps.report ppgn --output=DIR [--workdir_root=DIR/workdirs]

Trains (or reuses) two workdirs with `apps.report.train`: `ppgn`
(`apps/configs/ppgn_digits.cfg`: E, the Noiseless G shared by DGN-AM,
PPGN-h and the Noiseless Joint PPGN-h, the h-DAE and the x-DAE) and `joint`
(`apps/configs/ppgn_joint_digits.cfg`: the Joint PPGN-h's noisy 4-loss G),
each with `--summary_every=1` so that the GAN pause rates are exact. Then,
every sample scored by the evaluation classifier of `apps.evaluate` (never
by E or the condition net):

* per treatment (DGN-AM, PPGN-x, PPGN-h, Joint, Noiseless Joint PPGN-h),
  `chains_per_class` chains x `num_mcmc_steps` steps per class: class
  accuracy, mean top-class and target-class probability, classifier score,
  classes covered, Frechet distance, within-class diversity (pairwise L2
  relative to real test digits, SSIM; also over the samples the classifier
  gives >= 0.9 for their class, the equal-probability comparison), mixing
  (mean change between snapshots, distinct nearest training images), the
  keep rate of the paper's filter (E's p >= 0.97);
* the epsilon3 sweep (Fig. S15), G's robustness to noise on h (Fig. S16),
  inpainting error / PSNR (clamp-only and with the context term, next to the
  diffusion fill and the multigrid inpainter), the GAN pause rates, and
  G(E(x)) reconstruction error on train vs test (memorisation).

`apps.report_ppgn_tables` renders report.md and the paper checks.
"""

from __future__ import annotations

import glob
import json
import os
import time

from absl import app
from absl import flags
import numpy as np

from apps import report_common
from apps import report_ppgn_phases as phases

MULTIGRID_WORKDIR = report_common.MULTIGRID_WORKDIR

WORKDIRS = {"ppgn": "ppgn_digits.cfg", "joint": "ppgn_joint_digits.cfg"}
# Treatment -> (workdir, sampler prior). Every treatment samples with its
# workdir's sampler settings (`PpgnConfig`), so DGN-AM differs from the
# Noiseless Joint PPGN-h only by its prior (as in the paper, section 3.5).
TREATMENTS = {"dgn_am": ("ppgn", "none"), "ppgn_x": ("ppgn", "image_dae"),
              "ppgn_h": ("ppgn", "code_dae"), "joint_ppgn_h": ("joint",
                                                               "encoder"),
              "noiseless_joint_ppgn_h": ("ppgn", "encoder")}
EPSILON3_SWEEP = (1e-1, 1e-5, 1e-9, 1e-17)          # paper Fig. S15
FILTER_PROBABILITY = 0.97                            # paper Fig. S11
CONFIDENT_PROBABILITY = 0.9
SMOKE_TRAIN_FLAGS = [
    "--encoder_width=0.25", "--generator_width=0.25",
    "--discriminator_width=0.25", "--code_dim=16", "--encoder_steps=2",
    "--stats_steps=1", "--generator_steps=2", "--dae_steps=2",
    "--num_steps=7", "--batch_size=8", "--num_mcmc_steps=2",
    "--checkpoint_every=7", "--sample_every=7", "--num_sample_images=4"]
SMOKE_JOINT_FLAGS = [f for f in SMOKE_TRAIN_FLAGS if not f.startswith(
    ("--dae_steps", "--num_steps"))] + ["--dae_steps=0", "--num_steps=5"]
# The official inpainting ran 20 steps (script 7); the epsilon3 sweep uses
# the treatments' chains, so its row at the run's own epsilon3 is theirs.
SIZES = dict(chains_per_class=10, num_mcmc_steps=200, num_snapshots=10,
             num_inpaint_images=0, inpaint_steps=20,
             epsilon3_values=EPSILON3_SWEEP,
             masks=("square", "doodle", "pepper_salt"))
# Fewer compiled chains (each traces for seconds) in the smoke run.
SMOKE_SIZES = dict(chains_per_class=2, num_mcmc_steps=2, num_snapshots=2,
                   num_inpaint_images=6, inpaint_steps=2,
                   epsilon3_values=(1e-1,), masks=("square",))


def _to01(images) -> np.ndarray:
  return np.clip((np.asarray(images) + 1.0) / 2.0, 0.0, 1.0).astype(
      np.float32)


def pause_rates(workdir: str) -> dict:
  """Fractions of G-stage steps with D / G paused, from the summaries.

  Reads the `stage`, `d_paused`, `g_paused` and `loss_ratio` scalars of
  WORKDIR/summaries (exact when trained with --summary_every=1).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  series = {"stage": {}, "d_paused": {}, "g_paused": {}, "loss_ratio": {}}
  for path in sorted(glob.glob(os.path.join(workdir, "summaries",
                                            "events.out.tfevents.*"))):
    try:
      for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
          if value.tag in series:
            series[value.tag][event.step] = float(
                tf.make_ndarray(value.tensor)) if value.HasField(
                    "tensor") else value.simple_value
    except tf.errors.DataLossError:
      pass
  steps = sorted(s for s, stage in series["stage"].items() if stage == 2.0)
  if not steps:
    return {"num_steps_seen": 0, "d_paused": None, "g_paused": None,
            "median_loss_ratio": None}
  return {"num_steps_seen": len(steps),
          "d_paused": float(np.mean([series["d_paused"].get(s, 0.0)
                                     for s in steps])),
          "g_paused": float(np.mean([series["g_paused"].get(s, 0.0)
                                     for s in steps])),
          "median_loss_ratio": float(np.median(
              [series["loss_ratio"].get(s, np.nan) for s in steps]))}


class Scorer:
  """Scores conditioned samples with the evaluation classifier."""

  def __init__(self, bundle, train, test):
    from tfgen.metrics import sample_quality  # pylint: disable=g-import-not-at-top
    self.bundle, self.sq = bundle, sample_quality
    self.train_images, self.train_labels = train
    self.test_images, self.test_labels = test
    self.test_features = bundle.outputs(self.test_images)[1]

  def score(self, images, labels, snapshots=None) -> dict:
    """images [N, S, S, C] in [-1, 1] made for `labels` int [N]."""
    from tfgen.metrics import diversity  # pylint: disable=g-import-not-at-top
    images = np.clip(np.asarray(images, np.float32), -1.0, 1.0)
    scores = self.sq.evaluate_images(images, self.bundle, self.test_images,
                                     self.train_images, self.test_features)
    probs = self.bundle.probabilities(images)
    accuracy = self.sq.per_class_accuracy(probs, labels)
    target = probs[np.arange(len(labels)), labels]
    scores.update(class_accuracy=accuracy["accuracy"],
                  per_class_accuracy=accuracy["per_class"],
                  mean_class_probability=float(np.mean(target)))
    div = diversity.within_class_diversity(images, labels, self.test_images,
                                           self.test_labels)
    scores.update(diversity_ratio=div["distance_ratio"],
                  within_class_distance=div["distance"],
                  real_within_class_distance=div["real_distance"],
                  within_class_ssim=div["ssim"], real_ssim=div["real_ssim"])
    confident = target >= CONFIDENT_PROBABILITY
    scores["confident_fraction"] = float(np.mean(confident))
    try:
      sub = diversity.within_class_diversity(
          images[confident], labels[confident], self.test_images,
          self.test_labels)
      scores["confident_diversity_ratio"] = sub["distance_ratio"]
      scores["confident_ssim"] = sub["ssim"]
    except ValueError:
      scores["confident_diversity_ratio"] = scores["confident_ssim"] = None
    if snapshots is not None and len(snapshots) >= 2:
      scores["mixing"] = diversity.chain_mixing(
          [np.clip(s, -1.0, 1.0) for s in snapshots], self.train_images,
          self.train_labels)
    return scores


def _sample(model, labels, seed, prior, steps, snapshots, sampler=None):
  """Snapshots [T] of [N, S, S, C] (last = final) of chains for labels."""
  out = model.sample(len(labels), seed=seed, class_id=labels, prior=prior,
                     num_steps=steps, num_snapshots=snapshots,
                     sampler=dict(phases.PAPER_SAMPLER, **(sampler or {})))
  return [np.asarray(s) for s in out]


def _class_grid(images, labels, path, per_row: int) -> None:
  from tfgen.vis import grid as grid_lib  # pylint: disable=g-import-not-at-top
  order = np.argsort(labels, kind="stable")
  grid_lib.save_png(_to01(images[order]), path, columns=per_row)


def treatments_phase(models, scorer, sizes, seed, output, log) -> dict:
  """({treatment: scores}, {treatment: final images}); writes the PNGs."""
  from tfgen.vis import grid as grid_lib  # pylint: disable=g-import-not-at-top
  per_class = sizes["chains_per_class"]
  results, finals = {}, {}
  for name, (workdir, prior) in TREATMENTS.items():
    model = models[workdir]
    labels = model.cycled_classes(per_class * model.num_classes)
    start = time.time()
    snaps = _sample(model, labels, seed, prior, sizes["num_mcmc_steps"],
                    sizes["num_snapshots"])
    wall = time.time() - start
    scores = scorer.score(snaps[-1], labels, snaps)
    kept = model.condition_probability(
        snaps[-1], labels,
        class_condition=phases.PAPER_SAMPLER["class_condition"]).numpy() >= (
            FILTER_PROBABILITY)
    eval_top = np.argmax(scorer.bundle.probabilities(
        np.clip(snaps[-1], -1, 1)), axis=1) == labels
    scores.update(keep_rate=float(np.mean(kept)),
                  kept_class_accuracy=float(np.mean(eval_top[kept]))
                  if kept.any() else None,
                  sampling_wall_s=wall, workdir=workdir, prior=prior,
                  sampler=dict(model.sampler_settings(
                      sizes["num_mcmc_steps"]), **phases.PAPER_SAMPLER),
                  num_chains=int(len(labels)))
    scores["sampler"]["prior"] = prior
    results[name] = scores
    finals[name] = snaps[-1]
    _class_grid(snaps[-1], labels, os.path.join(output, f"samples_{name}.png"),
                per_class)
    first = [int(np.flatnonzero(labels == k)[0])
             for k in range(model.num_classes)]
    chain = np.stack([s[first] for s in snaps], axis=1)
    grid_lib.save_png(_to01(chain.reshape(-1, *chain.shape[2:])),
                      os.path.join(output, f"chains_{name}.png"),
                      columns=len(snaps))
    log(f"{name}: accuracy {scores['class_accuracy']:.3f}, diversity "
        f"{scores['diversity_ratio']:.3f}, FD {scores['frechet_distance']:.1f}"
        f" ({wall:.0f} s)")
  return results, finals


def epsilon3_phase(model, scorer, sizes, seed, output, log,
                   done=None) -> list:
  """Fig. S15: the Noiseless Joint PPGN-h at each epsilon3 (else as run).

  `done`: (scores, final images) of the treatments' Noiseless chains, the
  row of the run's own epsilon3 (same chains, seed and settings).
  """
  labels = model.cycled_classes(sizes["chains_per_class"] *
                                model.num_classes)
  own = float(model.settings.sampler_noise)
  values = sorted(set(sizes["epsilon3_values"]) | {own}, reverse=True)
  rows, finals = [], []
  for value in values:
    if done is not None and value == own:
      scores, final = done
    else:
      snaps = _sample(model, labels, seed, "encoder",
                      sizes["num_mcmc_steps"], sizes["num_snapshots"],
                      {"sampler_noise": float(value)})
      scores, final = scorer.score(snaps[-1], labels, snaps), snaps[-1]
    rows.append(dict(sampler_noise=float(value), run_default=value == own,
                     **{k: scores[k] for k in (
                         "class_accuracy", "mean_class_probability",
                         "frechet_distance", "diversity_ratio",
                         "within_class_ssim")},
                     mean_change=scores["mixing"]["mean_change"],
                     distinct_neighbours=scores["mixing"][
                         "distinct_neighbours"]))
    finals.append(np.clip(final, -1, 1)[np.argsort(labels, kind="stable")])
    log(f"epsilon3 {value:g}: {json.dumps(rows[-1])}")
  from tfgen.vis import grid as grid_lib  # pylint: disable=g-import-not-at-top
  grid_lib.save_png(_to01(np.concatenate(finals)), os.path.join(
      output, "epsilon3_sweep.png"), columns=len(labels))
  return rows


def workdir_info(model, config, step, trained: dict, span) -> dict:
  m = config.model
  return dict(trained, step=step, num_steps=config.train.num_steps,
              training_time_s=span, batch_size=config.train.batch_size,
              variant=m.variant, stage_steps=dict(
                  encoder=m.encoder_steps, stats=m.stats_steps,
                  generator=m.generator_steps, dae=m.dae_steps),
              sampler=model.sampler_settings(), pause_rates=pause_rates(
                  trained["workdir"]))


def run_report(output: str, workdir_root: str, *, smoke: bool, seed: int,
               cache_dir, multigrid_workdir, train_fn, span_fn, log) -> dict:
  """Trains/loads both workdirs and measures everything; the results dict.

  `train_fn(name, workdir, log_path, flagfile=, smoke_flags=, extra_flags=)`
  is `apps.report.train`, `span_fn(workdir)` its training-time reader.
  """
  # pylint: disable=g-import-not-at-top
  from apps import common
  from tfgen import data
  from tfgen.metrics import classifier
  sizes = dict(SMOKE_SIZES if smoke else SIZES)
  results = {"experiment": "ppgn", "sizes": dict(sizes), "workdirs": {},
             "load_average_start": list(os.getloadavg())}
  timings, clock = {}, [time.time()]

  def lap(phase):
    now = time.time()
    timings[phase] = timings.get(phase, 0.0) + now - clock[0]
    clock[0] = now

  models = {}
  for name, flagfile in WORKDIRS.items():
    workdir = os.path.join(workdir_root, name)
    smoke_flags = SMOKE_JOINT_FLAGS if name == "joint" else SMOKE_TRAIN_FLAGS
    trained = train_fn(name, workdir, os.path.join(workdir_root,
                                                   f"{name}.log"),
                       flagfile=flagfile, smoke_flags=smoke_flags,
                       extra_flags=["--summary_every=1"])
    try:
      model, config, step = common.load_finished_model(workdir)
    except ValueError as error:
      raise RuntimeError(str(error)) from error
    models[name] = model
    results["workdirs"][name] = workdir_info(model, config, step, trained,
                                             span_fn(workdir))
    log(f"{name}: step {step}, pause rates "
        f"{results['workdirs'][name]['pause_rates']}")
  lap("training")

  dataset, size = config.data.dataset, config.data.image_size
  results.update(dataset=dataset, image_size=size)
  train = data.arrays(dataset, "train", size)
  test = data.arrays(dataset, "test", size)
  settings = (classifier.TrainingSettings(num_epochs=1, max_steps=20)
              if smoke else classifier.TrainingSettings())
  bundle = classifier.get_classifier(
      dataset, size, os.path.join(output, "cache") if smoke else cache_dir,
      settings=settings)
  scorer = Scorer(bundle, train, test)
  results["classifier_test_accuracy"] = bundle.test_accuracy
  real = scorer.sq.evaluate_real_images(test[0], bundle, train[0])
  from tfgen.metrics import diversity
  real_div = diversity.within_class_diversity(
      train[0], train[1], test[0], test[1])
  real.update(diversity_ratio=real_div["distance_ratio"],
              within_class_ssim=real_div["ssim"],
              real_ssim=real_div["real_ssim"],
              note="train split's diversity relative to the test split's")
  results["real_images"] = real
  lap("classifier")

  results["treatments"], finals = treatments_phase(models, scorer, sizes,
                                                   seed, output, log)
  lap("treatments")
  noiseless = "noiseless_joint_ppgn_h"
  results["epsilon3_sweep"] = epsilon3_phase(
      models["ppgn"], scorer, sizes, seed, output, log,
      (results["treatments"][noiseless], finals[noiseless]))
  lap("epsilon3_sweep")
  results["robustness"] = phases.robustness(models["ppgn"], scorer, seed,
                                           output)
  results["memorisation"] = {name: phases.memorisation(model, scorer)
                             for name, model in models.items()}
  lap("robustness_memorisation")
  results["inpainting"] = phases.inpainting(models["ppgn"], scorer, sizes,
                                             seed, output,
                                             multigrid_workdir, log)
  lap("inpainting")
  results["timings"] = timings
  results["load_average_end"] = list(os.getloadavg())
  return results


def from_flags(output: str, workdir_root: str, train_fn, span_fn,
               log) -> dict:
  """`run_report` with apps.report's flags; app.UsageError on bad ones."""
  values = flags.FLAGS
  if values.num_steps_scale != 1.0:
    raise app.UsageError(
        f"--num_steps_scale={values.num_steps_scale} does not apply to the "
        "ppgn report (its stages are separate step counts); drop it.")
  workdir = MULTIGRID_WORKDIR.value
  if workdir and not os.path.isdir(workdir):
    raise app.UsageError(f"--multigrid_workdir={workdir!r} does not exist; "
                         "train one with apps/configs/multigrid_digits.cfg "
                         "or drop the flag.")
  try:
    return run_report(output, workdir_root, smoke=values.smoke,
                      seed=values.seed, cache_dir=values.cache_dir,
                      multigrid_workdir=workdir, train_fn=train_fn,
                      span_fn=span_fn, log=log)
  except RuntimeError as error:
    raise app.UsageError(str(error)) from error
