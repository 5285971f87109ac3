"""A second judge of sample quality: an SVM on area-down-sampled pixels.

`tfgen.metrics.classifier` is a small ConvNet trained by this project, a
network of the same kind as those a sampler may follow (PPGN's condition
nets are ConvNets too), so a sampler can drift towards images that ConvNets
accept but a reader does not. This judge shares nothing with them:
scikit-learn's `SVC` (RBF kernel, `gamma='scale'`, libsvm's Platt
probabilities) on the training images area-averaged to `size` x `size`
pixels (8x8 for the digits: their native resolution) with values in [0, 1].

- `PixelJudge.fit(images, labels)`: trains it (at most `max_examples`
  training images, a seeded subset; a second or so for the digits).
- `PixelJudge.probabilities(images)`: p(y|x) [N, K].
- `PixelJudge.scores(images, labels=None)`: mean top-class probability,
  classifier score, classes covered and, with labels, class accuracy.

Images are float NHWC in [-1, 1], the library's convention.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional
import warnings

import numpy as np

from tfgen.data import pyramid
from tfgen.metrics import sample_quality


def downsample(images: np.ndarray, size: int) -> np.ndarray:
  """Area-averages images [N, S, S, C] in [-1, 1] to [N, size * size * C]
  features in [0, 1] (`pyramid.downsample`); S must be a multiple of
  `size`."""
  images = np.clip(np.asarray(images, np.float32), -1.0, 1.0)
  n, height, width, _ = images.shape
  if height != width or height % size:
    raise ValueError(f"images of {height}x{width} cannot be area-averaged "
                     f"to {size}x{size}: the side must be a multiple of "
                     f"{size}.")
  small = np.asarray(pyramid.downsample(images, size))
  return ((small + 1.0) / 2.0).reshape(n, -1)


@dataclasses.dataclass
class PixelJudge:
  """An RBF SVM on `size` x `size` area-averaged pixels (module docstring)."""
  size: int = 8
  max_examples: int = 5000
  seed: int = 0
  model: Optional[Any] = None

  def fit(self, images: np.ndarray, labels: np.ndarray) -> "PixelJudge":
    """Trains on images [N, S, S, C] in [-1, 1] and int labels [N]."""
    from sklearn import svm  # pylint: disable=g-import-not-at-top
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) > self.max_examples:
      keep = np.random.default_rng(self.seed).choice(
          len(images), self.max_examples, replace=False)
      images, labels = images[keep], labels[keep]
    model = svm.SVC(probability=True, gamma="scale", random_state=self.seed)
    with warnings.catch_warnings():
      # scikit-learn 1.9 deprecates `probability` (removed in 1.11, hence
      # the pin below 1.11); its suggested CalibratedClassifierCV computes
      # other probabilities (one-vs-rest, not libsvm's pairwise coupling).
      warnings.simplefilter("ignore", FutureWarning)
      model.fit(downsample(images, self.size), labels)
    self.model = model
    return self

  def probabilities(self, images: np.ndarray) -> np.ndarray:
    """p(y|x) [N, K] of images [N, S, S, C] in [-1, 1]."""
    if self.model is None:
      raise ValueError("PixelJudge.probabilities before fit().")
    return self.model.predict_proba(downsample(images, self.size))

  def scores(self, images: np.ndarray,
             labels: Optional[np.ndarray] = None) -> dict:
    """{mean_top_probability, classifier_score, classes_covered, num_images,
    judge} (+ class_accuracy {"accuracy", "per_class", "counts"} with
    labels [N])."""
    probs = self.probabilities(images)
    row = {"mean_top_probability": sample_quality.mean_top_probability(probs),
           "classifier_score": sample_quality.classifier_score(probs),
           "classes_covered": sample_quality.classes_covered(probs),
           "num_images": int(len(probs)),
           "judge": (f"SVC(rbf, gamma='scale') on {self.size}x{self.size} "
                     "area-averaged pixels")}
    if labels is not None:
      row["class_accuracy"] = sample_quality.per_class_accuracy(probs, labels)
    return row
