"""The measurements of the GRAN report (`apps.report gran`), on loaded models.

Every image here is float32 [N, 16, 16, 1] in [-1, 1] unless a name says
[0, 1]; every "fraction real" is the share of images a discriminator gives a
logit > 0 (`tfgen.metrics.gam.called_real`). Models are named by their run
(`gran3_seed0`, `gran3_per_step_seed0`, `multigrid`); a GRAN sampled with
T' canvas steps is `gran5_seed0@7`. Each (model, T') draws its samples from
`example_seeds((seed, crc32(name)))`, so every sample set is independent of
every other, and the same on every run.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import zlib
from typing import Callable, Optional

import numpy as np

from apps import report_common

DISCRIMINATOR_BATCH = 100
CANVAS_PANEL_ROWS = 10
GMM_COMPONENTS = 10
NEAR_DUPLICATE_PERCENTILE = 5.0


def sample_seed(seed: int, key: str) -> tuple[int, int]:
  """The seed pair of sample set `key` ('gran5_seed0@7'): stable, distinct."""
  return (seed, zlib.crc32(key.encode()) & 0x7FFFFFFF)


def to01(images) -> np.ndarray:
  return np.clip((np.asarray(images, np.float32) + 1.0) / 2.0, 0.0, 1.0)


@dataclasses.dataclass
class Context:
  """Loaded models, the data, the classifier and caches of samples/logits."""
  models: dict
  configs: dict
  seed: int
  num_samples: int
  bundle: object            # tfgen.metrics.classifier.ClassifierBundle.
  train_images: np.ndarray
  test_images: np.ndarray
  test_features: np.ndarray
  smoke: bool = False       # Tiny settings: cheaper stand-ins where noted.
  _samples: dict = dataclasses.field(default_factory=dict)
  _logits: dict = dataclasses.field(default_factory=dict)
  _judges: dict = dataclasses.field(default_factory=dict)

  @classmethod
  def create(cls, models: dict, configs: dict, seed: int, num_samples: int,
             smoke: bool, cache_dir: Optional[str]) -> "Context":
    # pylint: disable=g-import-not-at-top
    from tfgen import data
    from tfgen.metrics import classifier
    settings = (classifier.TrainingSettings(num_epochs=1, max_steps=20)
                if smoke else classifier.TrainingSettings())
    bundle = classifier.get_classifier("digits", 16, cache_dir,
                                       settings=settings)
    test = data.arrays("digits", "test", 16)[0]
    return cls(models, configs, seed, num_samples, bundle,
               data.arrays("digits", "train", 16)[0], test,
               bundle.outputs(test)[1], smoke)

  def samples(self, name: str, steps: Optional[int] = None) -> np.ndarray:
    """`num_samples` images of model `name` (a GRAN at T' = steps)."""
    key = name if steps is None else f"{name}@{steps}"
    if key not in self._samples:
      model = self.models[name]
      kwargs = {} if steps is None else {"num_canvas_steps": steps}
      chunks = [np.asarray(model.sample(
          min(500, self.num_samples - i), seed=sample_seed(self.seed, key),
          first_index=i, **kwargs)[-1])
                for i in range(0, self.num_samples, 500)]
      self._samples[key] = np.clip(np.concatenate(chunks), -1.0,
                                   1.0).astype(np.float32)
    return self._samples[key]

  def logits(self, judge: str, source: str, images: np.ndarray) -> np.ndarray:
    """float [N]: model `judge`'s discriminator on `images` (cached by
    source name), in single-source batches of DISCRIMINATOR_BATCH."""
    from tfgen.metrics import gam  # pylint: disable=g-import-not-at-top
    key = (judge, source)
    if key not in self._logits:
      if judge not in self._judges:
        self._judges[judge] = gam.judge_logits(self.models[judge])
      self._logits[key] = np.concatenate([
          np.asarray(self._judges[judge](
              images[i:i + DISCRIMINATOR_BATCH])).reshape(-1)
          for i in range(0, len(images), DISCRIMINATOR_BATCH)])
    return self._logits[key]

  def quality(self, images: np.ndarray) -> dict:
    """apps.evaluate's sample-quality numbers (classifier score, ...)."""
    from tfgen.metrics import sample_quality  # pylint: disable=g-import-not-at-top
    return sample_quality.evaluate_images(images, self.bundle,
                                          self.test_images, self.train_images,
                                          self.test_features)


def battle(ctx: Context, name_1: str, name_2: str,
           steps_1: Optional[int] = None,
           steps_2: Optional[int] = None) -> dict:
  """One GAM battle (`gam.battle_from_logits`, default rule), plus the
  winner under validity='ratio_or_difference' (for small test splits)."""
  from tfgen.metrics import gam  # pylint: disable=g-import-not-at-top
  label_1 = name_1 if steps_1 is None else f"{name_1}@{steps_1}"
  label_2 = name_2 if steps_2 is None else f"{name_2}@{steps_2}"
  logits = dict(
      test_logits_1=ctx.logits(name_1, "test", ctx.test_images),
      test_logits_2=ctx.logits(name_2, "test", ctx.test_images),
      logits_1_on_2=ctx.logits(name_1, label_2, ctx.samples(name_2, steps_2)),
      logits_2_on_1=ctx.logits(name_2, label_1, ctx.samples(name_1, steps_1)))
  result = gam.battle_from_logits(**logits, name_1=label_1, name_2=label_2,
                                  seed=ctx.seed,
                                  batch_size=DISCRIMINATOR_BATCH).to_dict()
  lenient = gam.battle_from_logits(**logits, seed=ctx.seed,
                                   validity="ratio_or_difference")
  result["winner_ratio_or_difference"] = {"1": label_1, "2": label_2}.get(
      lenient.winner, "tie")
  result["winner_name_paper"] = {"1": label_1, "2": label_2}.get(
      result["winner_paper"], "tie")
  result["winner_name_official"] = {"1": label_1, "2": label_2}.get(
      result["winner_official"], "tie")
  return result


def table2(ctx: Context, seeds: list[int]) -> dict:
  """Per seed: the three battles, each model's sample quality, the D x G
  matrix (fraction of G's samples D calls real; 'test' = fraction of test
  digits D calls fake) and, with several seeds, 'referees': the fraction of
  each model's samples the other seeds' discriminators call real."""
  out = {}
  for seed in seeds:
    names = [f"gran{t}_seed{seed}" for t in (1, 3, 5)]
    out[str(seed)] = {
        "battles": [battle(ctx, a, b) for a, b in
                    itertools.combinations(names, 2)],
        "quality": {n: ctx.quality(ctx.samples(n)) for n in names},
        "matrix": {d: dict({g: float((ctx.logits(d, g, ctx.samples(g)) > 0)
                                     .mean()) for g in names},
                           test=float((ctx.logits(d, "test", ctx.test_images)
                                       <= 0).mean())) for d in names}}
    report_common.log(f"Table 2, seed {seed}: " + "; ".join(
        f"{b['name_1']} vs {b['name_2']}: r_test {b['r_test']:.3g}, "
        f"r_sample {b['r_sample']:.3g}, winner {b['winner_name']}"
        for b in out[str(seed)]["battles"]))
  out[str(seeds[0])]["history"] = {
      n: checkpoint_history(ctx, n) for n in out[str(seeds[0])]["quality"]}
  for seed in seeds:  # Referees: the other seeds' D, trained against neither.
    referees = [f"gran{t}_seed{s}" for s in seeds if s != seed
                for t in (1, 3, 5)]
    out[str(seed)]["referees"] = {
        name: {d: float((ctx.logits(d, name, ctx.samples(name)) > 0).mean())
               for d in referees}
        for name in out[str(seed)]["quality"]} if referees else {}
  return out


def blurred(images: np.ndarray, sigma: float) -> np.ndarray:
  """Each image Gaussian-blurred by `sigma` pixels (in [0, 1] space)."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  smooth = ndimage.gaussian_filter(to01(images), sigma=(0, sigma, sigma, 0))
  return np.clip(smooth, 0.0, 1.0) * 2.0 - 1.0


def gaussian_mixture_samples(train_images: np.ndarray, count: int,
                             seed: int, covariance_type: str = "full"
                             ) -> np.ndarray:
  """`count` samples of a GaussianMixture (GMM_COMPONENTS; full covariance,
  or 'diag' in smoke runs: ~20 s less) fitted to the training pixels in
  [0, 1]; clipped to [0, 1]."""
  from sklearn import mixture  # pylint: disable=g-import-not-at-top
  flat = to01(train_images).reshape(len(train_images), -1)
  gmm = mixture.GaussianMixture(GMM_COMPONENTS,
                                covariance_type=covariance_type,
                                reg_covar=1e-3, random_state=seed).fit(flat)
  pixels = gmm.sample(count)[0]
  return (np.clip(pixels, 0.0, 1.0).reshape((count,) + train_images.shape[1:])
          * 2.0 - 1.0).astype(np.float32)


def table3(ctx: Context, seeds: list[int], blur_sigma: float,
           multigrid_images: Optional[np.ndarray]) -> dict:
  """Fraction of non-adversarial images each GRAN D calls real (Wilson
  95% intervals), with the sources' own sample quality."""
  from tfgen.metrics import gam  # pylint: disable=g-import-not-at-top
  count = min(ctx.num_samples, len(ctx.train_images))
  if multigrid_images is None:
    multigrid_images = ctx.samples("multigrid")
  sources = {
      "multigrid EBM samples": multigrid_images[:ctx.num_samples],
      f"blurred training digits (sigma {blur_sigma:g} px)":
          blurred(ctx.train_images[:count], blur_sigma),
      f"GaussianMixture on pixels ({GMM_COMPONENTS} components)":
          gaussian_mixture_samples(ctx.train_images, ctx.num_samples,
                                   ctx.seed, "diag" if ctx.smoke else "full"),
      "training digits (reference)": ctx.train_images[:count],
      "test digits (reference)": ctx.test_images}
  judges = [f"gran{t}_seed{s}" for s in seeds for t in (1, 3, 5)]
  rows = {}
  for source, images in sources.items():
    rows[source] = {"quality": ctx.quality(images), "called_real": {
        judge: gam.fraction_called_real(ctx.logits(judge, source, images))
        for judge in judges}}
    report_common.log(f"Table 3, {source}: " + ", ".join(
        f"{j} {v['fraction_real']:.3f}"
        for j, v in rows[source]["called_real"].items()))
  return rows


def table4(ctx: Context, seeds: list[int], canvas_steps: list[int]) -> dict:
  """Per seed: GRAN5 at each T' (quality, mean pixel in [0, 1], the fraction
  its own D and GRAN3's D call real) and every pair of T' battled."""
  from tfgen.metrics import gam  # pylint: disable=g-import-not-at-top
  out = {}
  for seed in seeds:
    name, other = f"gran5_seed{seed}", f"gran3_seed{seed}"
    per_steps = {}
    for steps in canvas_steps:
      images = ctx.samples(name, steps)
      label = f"{name}@{steps}"
      per_steps[str(steps)] = dict(
          quality=ctx.quality(images), mean_pixel=float(to01(images).mean()),
          own_d_real=gam.fraction_called_real(
              ctx.logits(name, label, images))["fraction_real"],
          gran3_d_real=gam.fraction_called_real(
              ctx.logits(other, label, images))["fraction_real"])
    out[str(seed)] = {"per_steps": per_steps, "battles": [
        battle(ctx, name, name, a, b)
        for a, b in itertools.combinations(canvas_steps, 2)]}
  return out


def canvas_statistics(ctx: Context, name: str, steps: Optional[int],
                      panel_path: str) -> dict:
  """Per canvas step t: RMS of ΔC_t (pre-sigmoid), RMS change of the canvas
  |C_t - C_{t-1}| (pixels in [0, 1]; C_0 = 0.5 grey), mean pixel, and the
  classifier's mean top probability and classes covered of C_t; writes the
  panel (rows = samples, columns = t) of the first CANVAS_PANEL_ROWS."""
  # pylint: disable=g-import-not-at-top
  from tfgen.mcmc import noise
  from tfgen.metrics import sample_quality
  from tfgen.vis import canvas as canvas_lib
  model = ctx.models[name]
  steps = steps or model.num_canvas_steps
  pairs = noise.example_seeds(sample_seed(ctx.seed, f"canvas:{name}@{steps}"),
                              ctx.num_samples)
  canvases, deltas = model.canvases_and_updates_from_seeds(
      pairs, num_canvas_steps=steps)
  canvases = [to01(c) for c in canvases]
  canvas_lib.save_canvas_panel([c[:CANVAS_PANEL_ROWS] for c in canvases],
                               panel_path)
  rows, previous = [], np.full_like(canvases[0], 0.5)
  for t, (canvas, delta) in enumerate(zip(canvases, deltas), start=1):
    probs = ctx.bundle.outputs(canvas * 2.0 - 1.0)[0]
    rows.append(dict(
        t=t, delta_rms=float(np.sqrt(np.mean(np.square(np.asarray(delta))))),
        canvas_change_rms=float(np.sqrt(np.mean(np.square(canvas -
                                                          previous)))),
        mean_pixel=float(canvas.mean()),
        mean_top_probability=sample_quality.mean_top_probability(probs),
        classes_covered=sample_quality.classes_covered(probs)))
    previous = canvas
  return {"steps": steps, "panel": os.path.basename(panel_path),
          "per_step": rows}


def _closest_other(images: np.ndarray) -> np.ndarray:
  """float [N]: each image's L2 distance ([0, 1] pixels) to its closest
  other image of the set."""
  flat = to01(images).reshape(len(images), -1).astype(np.float64)
  squared = (np.sum(flat**2, 1)[:, None] + np.sum(flat**2, 1)[None] -
             2.0 * flat @ flat.T)
  np.fill_diagonal(squared, np.inf)
  return np.sqrt(np.maximum(squared.min(1), 0.0))


def near_duplicates(images: np.ndarray, threshold: float,
                    count: int) -> dict:
  """Among the first `count` images (as many as the test split, so the
  density matches the reference's): the fraction whose closest other image
  is within `threshold`, and the mean closest distance."""
  closest = _closest_other(images[:count])
  return {"near_duplicate_fraction": float((closest < threshold).mean()),
          "mean_closest_sample_distance": float(closest.mean()),
          "num_images": int(len(closest))}


def checkpoint_history(ctx: Context, name: str) -> list[dict]:
  """Per saved checkpoint of run `name`: classes covered, classifier score
  and near-duplicate fraction of its samples (late collapse?), and its D's
  fraction of test digits called fake and of its own samples called real."""
  # pylint: disable=g-import-not-at-top
  from tfgen.train import checkpoints
  from tfgen.train import workdir as workdir_lib
  config, workdir = ctx.configs[name]
  threshold = near_duplicate_threshold(ctx.test_images)
  rows = []
  for path in checkpoints.on_disk(workdir_lib.paths(workdir)["checkpoints"]):
    model = workdir_lib.build_model(config)
    checkpoint = checkpoints.make_checkpoint(model.checkpoint_objects())
    checkpoints.restore_path(checkpoint, path, expect_optimizer=False)
    key = f"{name}#{checkpoint.step.numpy()}"
    if key not in ctx.models:
      ctx.models[key] = model
    images = ctx.samples(key)
    quality = ctx.quality(images)
    rows.append(dict(step=int(checkpoint.step.numpy()),
                     d_test_error=float((ctx.logits(
                         key, "test", ctx.test_images) <= 0).mean()),
                     d_own_real=float((ctx.logits(key, key, images) > 0)
                                      .mean()),
                     classes_covered=quality["classes_covered"],
                     classifier_score=quality["classifier_score"],
                     **near_duplicates(images, threshold,
                                      len(ctx.test_images))))
  return sorted(rows, key=lambda row: row["step"])


def near_duplicate_threshold(test_images: np.ndarray) -> float:
  """The 5th percentile of the test digits' closest-other distances: by
  construction ~5% of the test digits are 'near-duplicates'."""
  return float(np.percentile(_closest_other(test_images),
                             NEAR_DUPLICATE_PERCENTILE))


def copies(ctx: Context, names: list[str]) -> dict:
  """Per model: the fraction of samples closer to a training digit than the
  closest test digit is (training copies?), and the mean distance."""
  from tfgen.metrics import sample_quality  # pylint: disable=g-import-not-at-top
  threshold = float(sample_quality.nearest_neighbour_distances(
      ctx.test_images, ctx.train_images).min())
  out = {}
  for name in names:
    nearest = sample_quality.nearest_neighbour_distances(ctx.samples(name),
                                                         ctx.train_images)
    out[name] = {"copy_fraction": float((nearest < threshold).mean()),
                 "mean_nearest_train": float(nearest.mean()),
                 "threshold": threshold}
  return out


def noise_modes(ctx: Context, seed: int) -> dict:
  """Shared vs per-step noise GRAN3 (same budget and seed)."""
  threshold = near_duplicate_threshold(ctx.test_images)
  out = {"threshold": threshold, "test_digits": near_duplicates(
      ctx.test_images, threshold, len(ctx.test_images))}
  for mode, name in (("shared", f"gran3_seed{seed}"),
                     ("per_step", f"gran3_per_step_seed{seed}")):
    images = ctx.samples(name)
    out[mode] = dict(run=name, quality=ctx.quality(images),
                     history=checkpoint_history(ctx, name),
                     **near_duplicates(images, threshold,
                                       len(ctx.test_images)))
  return out


def measure_everything(ctx: Context, seeds: list[int], canvas_steps: list[int],
                       blur_sigma: float, output: str,
                       multigrid_images: Optional[np.ndarray],
                       lap: Callable[[str], None]) -> dict:
  """Every table of the report; `lap(phase)` records each phase's time."""
  from tfgen.metrics import sample_quality  # pylint: disable=g-import-not-at-top
  results = {"real_test_quality": sample_quality.evaluate_real_images(
      ctx.test_images, ctx.bundle, ctx.train_images),
             "classifier_test_accuracy": ctx.bundle.test_accuracy,
             "table2_num_test": int(len(ctx.test_images))}
  results["table2"] = table2(ctx, seeds)
  lap("table2")
  results["table3"] = table3(ctx, seeds, blur_sigma, multigrid_images)
  lap("table3")
  results["table4"] = table4(ctx, seeds, canvas_steps)
  lap("table4")
  first = seeds[0]
  panels = [(f"gran3_seed{first}", None), (f"gran5_seed{first}", None),
            (f"gran5_seed{first}", max(canvas_steps)),
            (f"gran3_per_step_seed{first}", None)]
  results["canvases"] = {}
  for name, steps in panels:
    stats = canvas_statistics(ctx, name, steps, os.path.join(
        output, f"canvases_{name}_T{steps or ctx.models[name].num_canvas_steps}"
        ".png"))
    results["canvases"][f"{name}@{stats['steps']}"] = stats
  lap("canvases")
  results["noise_modes"] = noise_modes(ctx, first)
  results["copies"] = copies(ctx, [f"gran{t}_seed{first}" for t in (1, 3, 5)]
                             + [f"gran3_per_step_seed{first}"])
  lap("noise_modes")
  return results
