"""Within-class diversity and chain mixing of (conditioned) samples.

Images are float NHWC in [-1, 1] (the library's convention); distances are
L2 in [0, 1] pixel units (as `sample_quality.nearest_neighbour_distances`),
so a 16x16 grey image pair is at most 16 apart.

- `mean_pairwise_distance`: mean L2 over all pairs of a set of images.
- `mean_pairwise_ssim`: mean SSIM over (up to `max_pairs`) pairs; high =
  alike (the paper's MS-SSIM diversity, single-scale: 16x16 images are too
  small for five scales).
- `within_class_diversity`: both per class of conditioned samples, next to
  the same numbers for real images of that class, and their ratio (1 = as
  diverse as the data, 0 = one image per class).
- `chain_mixing`: how far chains move between snapshots and how many
  distinct nearest training images each visits (Figs. S13-S14's "mixing").
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

SSIM_FILTER_SIZE = 5    # 16x16 images: an 11-pixel window barely fits.
SSIM_FILTER_SIGMA = 1.0
DEFAULT_MAX_PAIRS = 2000


def _flat01(images) -> np.ndarray:
  images = np.asarray(images, np.float64)
  if images.ndim != 4:
    raise ValueError(f"images must be [N, H, W, C], got {images.shape}.")
  return (np.clip(images, -1.0, 1.0).reshape(len(images), -1) + 1.0) / 2.0


def mean_pairwise_distance(images) -> float:
  """Mean L2 (in [0, 1] pixel units) over the N(N-1)/2 pairs; N >= 2."""
  flat = _flat01(images)
  if len(flat) < 2:
    raise ValueError(f"need >= 2 images for a pairwise distance, got "
                     f"{len(flat)}.")
  norms = np.sum(flat**2, axis=1)
  squared = np.maximum(norms[:, None] + norms[None, :] - 2 * flat @ flat.T, 0)
  upper = np.triu_indices(len(flat), 1)
  return float(np.mean(np.sqrt(squared[upper])))


def _pairs(count: int, max_pairs: int, seed: int) -> tuple:
  first, second = np.triu_indices(count, 1)
  if len(first) > max_pairs:
    pick = np.random.default_rng(seed).choice(len(first), max_pairs,
                                              replace=False)
    first, second = first[pick], second[pick]
  return first, second


def mean_pairwise_ssim(images, max_pairs: int = DEFAULT_MAX_PAIRS,
                       seed: int = 0) -> float:
  """Mean SSIM in [-1, 1] over pairs (a seeded subset past `max_pairs`)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or len(images) < 2:
    raise ValueError(f"need [N >= 2, H, W, C] images, got {images.shape}.")
  first, second = _pairs(len(images), max_pairs, seed)
  unit = (np.clip(images, -1.0, 1.0) + 1.0) / 2.0
  values = tf.image.ssim(unit[first], unit[second], max_val=1.0,
                         filter_size=SSIM_FILTER_SIZE,
                         filter_sigma=SSIM_FILTER_SIGMA)
  return float(np.mean(values.numpy()))


def _per_class(images, labels, fn) -> dict:
  labels = np.asarray(labels)
  if labels.shape != (len(images),):
    raise ValueError(f"labels must be int [{len(images)}], got "
                     f"{labels.shape}.")
  return {int(k): fn(images[labels == k]) for k in np.unique(labels)
          if np.sum(labels == k) >= 2}


def within_class_diversity(images, labels, real_images, real_labels,
                           max_pairs: int = 500) -> dict:
  """Per-class pairwise distance and SSIM of samples vs real images.

  Args:
    images: [N, S, S, C] samples in [-1, 1]; labels int [N] their
      conditioned class.
    real_images, real_labels: real images of the same classes (e.g. the
      test split) and their labels.
    max_pairs: SSIM pairs per class (a seeded subset).

  Returns:
    {"distance", "real_distance", "distance_ratio" (mean over classes of
     sample / real distance: 1 = as diverse as the data), "ssim",
     "real_ssim" (means over classes; higher = more alike),
     "per_class": {k: {"distance", "real_distance", "ratio", "ssim",
     "real_ssim"}}}, over the classes with >= 2 samples and >= 2 real
    images.
  """
  images = np.asarray(images, np.float32)
  real_images = np.asarray(real_images, np.float32)
  dist = _per_class(images, labels, mean_pairwise_distance)
  real = _per_class(real_images, real_labels, mean_pairwise_distance)
  ssim = _per_class(images, labels,
                    lambda x: mean_pairwise_ssim(x, max_pairs))
  real_ssim = _per_class(real_images, real_labels,
                         lambda x: mean_pairwise_ssim(x, max_pairs))
  classes = sorted(set(dist) & set(real))
  if not classes:
    raise ValueError("no class has >= 2 samples and >= 2 real images.")
  per_class = {str(k): {"distance": dist[k], "real_distance": real[k],
                        "ratio": dist[k] / max(real[k], 1e-12),
                        "ssim": ssim[k], "real_ssim": real_ssim[k]}
               for k in classes}

  def mean(key):
    return float(np.mean([per_class[str(k)][key] for k in classes]))

  return {"distance": mean("distance"), "real_distance": mean("real_distance"),
          "distance_ratio": mean("ratio"), "ssim": mean("ssim"),
          "real_ssim": mean("real_ssim"), "per_class": per_class}


def chain_mixing(snapshots: Sequence[np.ndarray], train_images,
                 train_labels: Optional[np.ndarray] = None) -> dict:
  """How chains move: snapshots [T] of [B, S, S, C] in [-1, 1] (in order).

  Returns {"mean_change": mean L2 between consecutive snapshots of a
  chain ([0, 1] pixel units), "distinct_neighbours": mean number of
  distinct nearest training images a chain's snapshots have,
  "num_snapshots"}; with `train_labels` also "distinct_neighbour_classes".
  """
  from tfgen.metrics import sample_quality  # pylint: disable=g-import-not-at-top
  snaps = [np.asarray(s, np.float32) for s in snapshots]
  if len(snaps) < 2 or any(s.shape != snaps[0].shape for s in snaps):
    raise ValueError("need >= 2 snapshots of one shape [B, S, S, C].")
  changes = [np.linalg.norm(_flat01(b) - _flat01(a), axis=1)
             for a, b in zip(snaps[:-1], snaps[1:])]
  nearest = np.stack([sample_quality.nearest_neighbours(s, train_images, 1)[0]
                      [:, 0] for s in snaps], axis=1)        # [B, T]
  result = {"mean_change": float(np.mean(changes)),
            "distinct_neighbours": float(np.mean(
                [len(set(row)) for row in nearest])),
            "num_snapshots": len(snaps)}
  if train_labels is not None:
    classes = np.asarray(train_labels)[nearest]
    result["distinct_neighbour_classes"] = float(np.mean(
        [len(set(row)) for row in classes]))
  return result
