"""Diagnostics of a trained multigrid model (the supplement's section 2).

* `chain_correlation`: correlation between each grid's chain start Y0 and
  its state Y_T after T sampling steps (supplement Table 2; T = 30 there),
  Langevin or HMC. Low correlation = the grid creates variability, high = it
  refines.
* `score_table`: mean and standard deviation of f_g per grid on sets of
  images (training, held-out, synthesised, negative; supplement Table 1),
  with `negative_images` making negatives out of any images.
* `gradient_norm_history`: the L1 norm of each grid's gradient over
  training (supplement Fig. 7), read back from the TensorBoard scalars
  `grad_l1/grid{size}` that training writes (drawn as a PNG by
  `tfgen.vis.plots.plot_gradient_norms`).
"""

from __future__ import annotations

import glob
import os
import re
from typing import Optional

import numpy as np
import tensorflow as tf

from tfgen.data import pyramid

CORRELATION_MODES = ("pixels", "chains")
GRADIENT_TAG = re.compile(r"^grad_l1/grid(\d+)$")


# ---- Y0 / Y_T correlation ---------------------------------------------------
def pixel_correlation(start: np.ndarray, end: np.ndarray,
                      over: str = "pixels") -> float:
  """Mean Pearson correlation between chain starts and ends [N, H, W, C].

  over="pixels": for each chain, the correlation between its start and end
    over all H*W*C values; then the mean over chains. A chain whose start or
    end is constant (zero variance) has no correlation and is left out; if
    every chain is, the result is NaN. This is the case at the first model
    grid of a one-channel model, whose start is an up-sampled 1x1 image: a
    single grey level. (With three channels the 1x1 start still differs
    between channels, which is how the paper gets a number for grid 1 on
    CelebA.)
  over="chains": for each pixel (and channel), the correlation across the
    N chains between its start and end values; then the mean over pixels
    (pixels constant over the chains left out, NaN if all are). Defined at
    every grid as long as the chains start from different images.

  Returns a float in [-1, 1] or NaN.
  """
  if over not in CORRELATION_MODES:
    raise ValueError(f"over={over!r} must be one of {CORRELATION_MODES}.")
  start = np.asarray(start, np.float64)
  end = np.asarray(end, np.float64)
  if start.shape != end.shape or start.ndim != 4 or not len(start):
    raise ValueError(f"start {start.shape} and end {end.shape} must both be "
                     "[N, H, W, C] with N >= 1.")
  if over == "pixels":
    start, end = start.reshape(len(start), -1), end.reshape(len(end), -1)
  else:
    start = start.reshape(len(start), -1).T
    end = end.reshape(len(end), -1).T
  start = start - start.mean(axis=1, keepdims=True)
  end = end - end.mean(axis=1, keepdims=True)
  norms = np.sqrt(np.sum(start**2, axis=1) * np.sum(end**2, axis=1))
  # Relative tolerance: float32 images that are constant up to round-off.
  scale = np.maximum(np.abs(start).max(initial=0.0),
                     np.abs(end).max(initial=0.0))
  defined = norms > (1e-6 * max(scale, 1e-12))**2 * start.shape[1]
  if not np.any(defined):
    return float("nan")
  values = np.sum(start * end, axis=1)[defined] / norms[defined]
  return float(np.mean(np.clip(values, -1.0, 1.0)))


def _seed_pair(seed) -> tf.Tensor:
  seed = np.asarray(seed, np.int64).reshape(-1)
  if seed.size == 1:
    seed = np.array([0, seed[0]])
  if seed.size != 2:
    raise ValueError(f"seed={seed.tolist()} must be an int or two ints.")
  return tf.constant(seed.astype(np.int32))


def chain_states(model, images, seed, sampler: Optional[str] = "langevin",
                 num_langevin_steps=None, labels=None
                 ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
  """Each model grid's chain start Y0 and end Y_T, from the images' 1x1 starts.

  The chains start at `pyramid.downsample(images, grid_sizes[0])` and run
  `model.synthesize` coarse to fine; grid g's Y0 is the up-sampled result of
  the grid before it, Y_T its result.

  Args:
    model: a `MultigridEBM`.
    images: [N, S, S, C] in [-1, 1] (whose coarse averages start the chains).
    seed: int or int32[2] seed of the chains.
    sampler: "langevin" or "hmc" (passed to `model.synthesize`); None uses
      the model's own sampler.
    num_langevin_steps: steps T per grid (one value or one per grid;
      default: the model's).
    labels: int [N] class labels for a conditional model.

  Returns:
    {grid_size: (Y0 [N, g, g, C], Y_T [N, g, g, C])} as float32 arrays.
  """
  images = tf.convert_to_tensor(np.asarray(images, np.float32))
  if images.shape.rank != 4 or images.shape[0] == 0:
    raise ValueError(f"images must be [N, S, S, C] with N >= 1, got shape "
                     f"{images.shape}.")
  start = pyramid.downsample(images, model.grid_sizes[0])
  kwargs = {}
  if sampler is not None:
    kwargs["sampler"] = sampler
  if labels is not None:
    kwargs["labels"] = tf.constant(np.asarray(labels, np.int32))
  if num_langevin_steps is not None:
    steps = num_langevin_steps
    if isinstance(steps, int):
      steps = [steps] * len(model.model_grids)
    kwargs["num_langevin_steps"] = list(steps)
  outputs = model.synthesize(start, _seed_pair(seed), **kwargs)
  states = {}
  for index, size in enumerate(model.model_grids):
    first = pyramid.upsample(outputs[index], size)
    states[size] = (np.asarray(first, np.float32),
                    np.asarray(outputs[index + 1], np.float32))
  return states


def chain_correlation(model, images, seed, sampler: Optional[str] = "langevin",
                      num_langevin_steps=None, over: str = "pixels",
                      labels=None) -> dict[int, float]:
  """{grid_size: mean correlation between Y0 and Y_T} (supplement Table 2).

  Runs `chain_states` and applies `pixel_correlation(Y0, Y_T, over)`; see
  there for the two readings of "average pixel-wise correlation across a
  batch of independent chains" and for when a value is NaN.
  """
  states = chain_states(model, images, seed, sampler, num_langevin_steps,
                        labels)
  return {size: pixel_correlation(first, last, over)
          for size, (first, last) in states.items()}


# ---- scores per image set ---------------------------------------------------
def negative_images(images, seed) -> dict[str, np.ndarray]:
  """Negative examples shaped like `images` [N, S, S, C] in [-1, 1].

  "pixel_permuted": each image's pixel positions shuffled (its own random
  permutation, the same for all channels): the same grey-level histogram, no
  structure. "uniform_noise": independent uniform values in [-1, 1].
  Drawn with `np.random.default_rng(seed)`.
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or not len(images):
    raise ValueError(f"images must be [N, S, S, C] with N >= 1, got shape "
                     f"{images.shape}.")
  rng = np.random.default_rng(seed)
  count, height, width, channels = images.shape
  flat = images.reshape(count, height * width, channels)
  order = np.argsort(rng.random((count, height * width)), axis=1)
  permuted = np.take_along_axis(flat, order[:, :, None], axis=1)
  noise = rng.uniform(-1.0, 1.0, size=images.shape).astype(np.float32)
  return {"pixel_permuted": permuted.reshape(images.shape),
          "uniform_noise": noise}


def grid_scores(model, images, grid_index: int, labels=None,
                batch_size: int = 500) -> np.ndarray:
  """f_g [N] of images [N, S, S, C] down-sampled to grid `grid_index`."""
  images = np.asarray(images, np.float32)
  size = model.model_grids[grid_index]
  scores = []
  for start in range(0, len(images), batch_size):
    batch = pyramid.downsample(tf.constant(images[start:start + batch_size]),
                               size)
    if labels is None:
      values = model.score(batch, grid_index)
    else:
      values = model.score(batch, grid_index, labels=tf.constant(
          np.asarray(labels[start:start + batch_size], np.int32)))
    scores.append(np.asarray(values, np.float64))
  return np.concatenate(scores)


def score_table(model, image_sets: dict, labels: Optional[dict] = None
                ) -> dict[str, dict[int, tuple[float, float]]]:
  """Mean and std of f_g per set and grid (supplement Table 1).

  Args:
    model: a `MultigridEBM`.
    image_sets: {set name: images [N, S, S, C] in [-1, 1]} at the model's
      finest size (each grid scores them down-sampled to its size).
    labels: {set name: int [N]}; required for every set when the model is
      conditional (`model.num_classes > 0`), whose f_g is the score of the
      given class; ignored otherwise.

  Returns:
    {set name: {grid_size: (mean, std)}}.
  """
  conditional = model.num_classes > 0
  size = model.grid_sizes[-1]
  table = {}
  for name, images in image_sets.items():
    images = np.asarray(images, np.float32)
    if (images.ndim != 4 or not len(images)
        or images.shape[1:] != (size, size, model.channels)):
      raise ValueError(f"image_sets[{name!r}] has shape {images.shape}, but "
                       f"must be [N, {size}, {size}, {model.channels}] with "
                       "N >= 1.")
    set_labels = None
    if conditional:
      set_labels = (labels or {}).get(name)
      if set_labels is None:
        raise ValueError(f"The model is conditional: pass labels[{name!r}] "
                         f"(int [N]) to score image_sets[{name!r}].")
      set_labels = np.asarray(set_labels)
      if set_labels.shape != images.shape[:1]:
        raise ValueError(f"labels[{name!r}] has shape {set_labels.shape}, "
                         f"but must be [{len(images)}].")
    table[name] = {}
    for index, grid in enumerate(model.model_grids):
      scores = grid_scores(model, images, index, set_labels)
      table[name][grid] = (float(np.mean(scores)), float(np.std(scores)))
  return table


# ---- gradient norms ---------------------------------------------------------
def gradient_norm_history(workdir: str) -> dict[int, list[tuple[int, float]]]:
  """{grid_size: [(step, L1 norm of that grid's gradient), ...]} by step.

  Reads every TensorBoard event file in WORKDIR/summaries (a resumed run adds
  files); where two files hold the same step (a run resumed from an earlier
  checkpoint), the newer file's value wins.
  """
  folder = os.path.join(workdir, "summaries")
  files = sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*")))
  if not files:
    raise ValueError(f"workdir={workdir!r} has no TensorBoard event files in "
                     f"{folder}; train with apps.train (it writes summaries "
                     "every --summary_every steps).")
  values: dict[int, dict[int, tuple[float, float]]] = {}
  for path in files:
    try:
      for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
          match = GRADIENT_TAG.match(value.tag)
          if not match:
            continue
          number = (float(tf.make_ndarray(value.tensor))
                    if value.HasField("tensor") else float(value.simple_value))
          grid = int(match.group(1))
          previous = values.setdefault(grid, {}).get(event.step)
          if previous is None or event.wall_time >= previous[0]:
            values[grid][event.step] = (event.wall_time, number)
    except tf.errors.DataLossError:
      continue  # A file cut short by a killed run: keep what was read.
  if not values:
    raise ValueError(f"workdir={workdir!r}: the event files in {folder} hold "
                     "no 'grad_l1/grid<size>' scalars; they are written by "
                     "multigrid training (apps.train).")
  return {grid: [(step, v[1]) for step, v in sorted(steps.items())]
          for grid, steps in sorted(values.items())}
