"""Phases of the PPGN report that need no sampling of chains from scratch.

`robustness` (paper Fig. S16: G under Gaussian noise on real codes),
`memorisation` (G(E(x)) on train vs test) and `inpainting` (PPGN-context,
clamp-only and with the context term, next to the diffusion fill and the
multigrid inpainter). Images are float32 NHWC in [-1, 1]; errors are in
[0, 1] pixel units. `scorer` is `apps.report_ppgn.Scorer`.
"""

from __future__ import annotations

import json
import os

import numpy as np

ROBUSTNESS_SIGMAS = (0.01, 0.1, 0.2, 0.3, 0.4)       # x mean h, Fig. S16
MASK_SEEDS = {"square": 101, "doodle": 102, "pepper_salt": 103}  # as multigrid
# epsilon4 when the run's context_weight is 0 (relative to the condition
# gradient: the steps are normalised, so only the ratio matters).
INPAINT_CONTEXT_WEIGHT = 1e-2
# The paper's experiments condition a chain's class on E alone with a
# constant step (the library's defaults condition on E and C' together and
# anneal the step; docs/ppgn.md).
PAPER_SAMPLER = {"class_condition": "encoder", "sampler_step_size_end": -1.0}
# The official inpainting script (7): no noise, the step annealed to 0.
INPAINT_SAMPLER = dict(PAPER_SAMPLER, sampler_noise=0.0,
                       sampler_step_size_end=0.0)
DOCUMENTED_MULTIGRID = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "docs", "report", "report.json")


def _to01(images) -> np.ndarray:
  return np.clip((np.asarray(images) + 1.0) / 2.0, 0.0, 1.0).astype(
      np.float32)


def robustness(model, scorer, seed, output) -> list:
  """Fig. S16: G(E(x) + sigma mean(h) n) for real test x, per sigma."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  images, labels = scorer.test_images, scorer.test_labels
  codes = model.encode(images).numpy()
  h_mean = float(model.statistics["h_mean"].numpy())
  rng = np.random.default_rng(seed)
  noise = rng.standard_normal(codes.shape).astype(np.float32)
  rows, shown = [], [images[:10]]
  for sigma in (0.0,) + ROBUSTNESS_SIGMAS:
    out = model.generator(tf.constant(codes + sigma * h_mean * noise),
                          training=False).numpy()
    probs = scorer.bundle.probabilities(out)
    error = np.linalg.norm((_to01(out) - _to01(images)).reshape(
        len(images), -1), axis=1)
    rows.append(dict(sigma_of_mean_h=sigma, class_accuracy=float(np.mean(
        np.argmax(probs, 1) == labels)), l2_to_input=float(np.mean(error)),
                     frechet_distance=scorer.sq.frechet_distance(
                         scorer.bundle.outputs(out)[1], scorer.test_features)))
    shown.append(out[:10])
  from tfgen.vis import grid as grid_lib  # pylint: disable=g-import-not-at-top
  grid_lib.save_png(_to01(np.concatenate(shown)),
                    os.path.join(output, "robustness_h_noise.png"), columns=10)
  return rows


def memorisation(model, scorer) -> dict:
  """G(E(x)) error on train vs test images ([0, 1] pixel L2 per image)."""
  out = {}
  for split, (images, labels) in (
      ("train", (scorer.train_images, scorer.train_labels)),
      ("test", (scorer.test_images, scorer.test_labels))):
    rec = model.generator(model.encode(images), training=False).numpy()
    error = np.linalg.norm((_to01(rec) - _to01(images)).reshape(
        len(images), -1), axis=1)
    out[split] = dict(l2=float(np.mean(error)), mse=float(np.mean(
        (rec - images)**2)), class_accuracy=float(np.mean(np.argmax(
            scorer.bundle.probabilities(rec), 1) == labels)),
                      num_images=int(len(images)))
  out["test_over_train_l2"] = out["test"]["l2"] / max(out["train"]["l2"],
                                                      1e-12)
  return out


def inpainting(model, scorer, sizes, seed, output, multigrid_workdir,
                     log) -> dict:
  """PPGN-context (clamp-only, + context term) vs diffusion and multigrid.

  Each chain is conditioned on E's top class of its masked image (no label
  is given, as for the unconditional multigrid inpainter).
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tfgen.data import masks as masks_lib
  from tfgen.metrics import inpainting
  from tfgen.vis import grid as grid_lib
  count = sizes["num_inpaint_images"] or len(scorer.test_images)
  images = scorer.test_images[:count]
  originals = _to01(images)
  size = images.shape[1]
  context = model.settings.context_weight or INPAINT_CONTEXT_WEIGHT
  settings = {"clamp_only": 0.0, "context": float(context)}
  multigrid = None
  if multigrid_workdir:
    from apps import common
    multigrid = common.load_finished_model(multigrid_workdir)[0]
  results = {"settings": dict(num_images=int(count), mask_seeds=MASK_SEEDS,
                              num_mcmc_steps=sizes["inpaint_steps"],
                              context_weights=settings, chain_seed=seed,
                              sampler=INPAINT_SAMPLER),
             "masks": {}}
  pairs = model.example_seeds(seed, count)
  for kind in sizes["masks"]:
    mask_seed = MASK_SEEDS[kind]
    masks = masks_lib.make_masks(kind, count, size, mask_seed)
    classes = np.argmax(model.classify(images * (1.0 - masks)).numpy(), 1)
    row, filled = {}, {}
    for name, weight in settings.items():
      fill = tf.function(lambda x, m, p, y, w=weight: model.inpaint_from_seeds(
          x, m, p, labels=y, num_steps=sizes["inpaint_steps"],
          sampler=dict(INPAINT_SAMPLER, context_weight=w))[-1])
      filled[name] = _to01(fill(tf.constant(images), tf.constant(masks),
                                pairs, tf.constant(classes, tf.int32)))
      row[f"ppgn_{name}"] = inpainting.evaluate(originals, filled[name],
                                                masks)
    row["diffusion_fill"] = inpainting.evaluate(
        originals, inpainting.diffusion_fill(originals, masks), masks)
    if multigrid is not None:
      row["multigrid"] = inpainting.evaluate(originals, _to01(
          inpainting.inpaint(multigrid, images, masks, seed=seed)), masks)
    results["masks"][kind] = row
    log(f"inpainting {kind}: {json.dumps(row)}")
    rows = min(8, count)
    columns = [originals[:rows], inpainting.masked_images(originals[:rows],
                                                          masks[:rows])]
    columns += [filled[n][:rows] for n in settings]
    grid_lib.save_png(np.stack(columns, 1).reshape(-1, *originals.shape[1:]),
                      os.path.join(output, f"inpaint_{kind}.png"),
                      columns=len(columns))
  results["multigrid_documented"] = documented_multigrid(count)
  return results



def documented_multigrid(count: int):
  """The multigrid inpainter's scores in docs/report/report.json when that
  run used the same masks (kinds, seeds, test images); else None."""
  if not os.path.isfile(DOCUMENTED_MULTIGRID):
    return None
  with open(DOCUMENTED_MULTIGRID) as f:
    report = json.load(f)
  settings = report.get("inpainting_settings", {})
  if (report.get("smoke") or settings.get("num_images") != count or
      settings.get("mask_seeds") != MASK_SEEDS):
    return None
  return {"source": "docs/report/report.json", "command":
          report.get("command"), "masks": {
              kind: scores["multigrid"]
              for kind, scores in report["inpainting"].items()}}
