"""Sample-quality numbers from a classifier's outputs: pure numpy.

`probs` arguments are class probabilities p(y|x), float [N, K], rows summing
to 1 (a classifier's softmax). `features` are [N, D] activations (the
classifier's penultimate layer). Images are float NHWC in [-1, 1], the
library's convention.

- `classifier_score`: exp(E_x KL(p(y|x) || p(y))), in [1, K]; high when every
  image is confidently one class and the classes are evenly used (the
  "Inception score" with a classifier trained on the dataset itself).
- `classes_covered`: how many classes get at least `min_fraction` of the
  images' most likely labels (mode coverage).
- `mean_top_probability`: mean of max_y p(y|x) (confidence alone).
- `frechet_distance`: Frechet distance between Gaussians fitted to two
  feature sets (the "FID" with the local classifier's features).
- `nearest_neighbour_distance`: mean L2 distance, in [0, 1] pixel units, from
  each sample to its closest training image (small = copies of the data);
  `nearest_neighbours`: the k closest training images of each sample.
- `evaluate_images`: all of the above for one set of images;
  `evaluate_real_images`: the same for real test images, as the reference.
"""

from __future__ import annotations

from typing import Optional
import warnings

import numpy as np
import scipy.linalg

_PROBABILITY_TOLERANCE = 1e-3


def _check_probabilities(probs) -> np.ndarray:
  probs = np.asarray(probs, np.float64)
  if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
    raise ValueError(f"probs must be a non-empty [N, K] array of class "
                     f"probabilities, got shape {probs.shape}.")
  if not np.all(np.isfinite(probs)) or probs.min() < 0.0:
    raise ValueError("probs must be finite and >= 0 (softmax outputs); got "
                     f"values in [{np.nanmin(probs)}, {np.nanmax(probs)}].")
  row_sums = probs.sum(axis=1)
  worst = float(np.max(np.abs(row_sums - 1.0)))
  if worst > _PROBABILITY_TOLERANCE:
    raise ValueError(f"probs rows must sum to 1, but one sums to "
                     f"{row_sums[np.argmax(np.abs(row_sums - 1.0))]}; pass "
                     "softmax outputs, not logits.")
  return probs / row_sums[:, None]


def classifier_score(probs) -> float:
  """exp(mean over images of KL(p(y|x) || p(y))), p(y) the mean of p(y|x).

  Args:
    probs: [N, K] class probabilities of N images.

  Returns:
    A float in [1, K]: 1 when all images get the same distribution (e.g. all
    one class), K when each image is certainly one class and all K classes
    are used equally often.
  """
  probs = _check_probabilities(probs)
  marginal = probs.mean(axis=0, keepdims=True)
  # 0 * log(0 / q) = 0: only terms with p > 0 contribute (then q >= p/N > 0).
  ratio = np.divide(probs, marginal, out=np.ones_like(probs),
                    where=probs > 0)
  kl = np.sum(probs * np.log(ratio), axis=1)
  return float(np.exp(np.mean(kl)))


def classes_covered(probs, min_fraction: float = 0.03) -> int:
  """Number of classes that are the most likely label of >= `min_fraction`.

  Args:
    probs: [N, K] class probabilities of N images.
    min_fraction: in (0, 1]; the default 0.03 counts a class of 10 as covered
      when at least 3% of the images (a third of its fair share) are it.

  Returns:
    An int in [0, K] (at least 1 when min_fraction <= 1 / K).
  """
  probs = _check_probabilities(probs)
  if not 0.0 < min_fraction <= 1.0:
    raise ValueError(f"min_fraction={min_fraction!r} must lie in (0, 1], "
                     "e.g. 0.03.")
  counts = np.bincount(np.argmax(probs, axis=1), minlength=probs.shape[1])
  return int(np.sum(counts / len(probs) >= min_fraction))


def mean_top_probability(probs) -> float:
  """Mean over images of max_y p(y|x), in [1/K, 1]: the confidence alone."""
  probs = _check_probabilities(probs)
  return float(np.mean(np.max(probs, axis=1)))


def _centred(features, name: str) -> tuple[np.ndarray, np.ndarray]:
  """(mean [D], features minus their mean [N, D]) in float64, checked."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or features.shape[0] < 2:
    raise ValueError(f"{name} must be [N, D] with N >= 2 (a covariance needs "
                     f"two rows), got shape {features.shape}.")
  if not np.all(np.isfinite(features)):
    raise ValueError(f"{name} holds NaN or inf values.")
  mean = features.mean(axis=0)
  return mean, features - mean


def _trace_sqrt_product_low_rank(centred_a: np.ndarray,
                                 centred_b: np.ndarray) -> float:
  """trace(sqrtm(S_a S_b)) from centred features, cheap when N < D.

  With S = X'X / (N - 1) for centred X, S_a S_b = A'A B'B / c has the same
  non-zero eigenvalues as (A B')(A B')' / c, c = (N_a - 1)(N_b - 1): the
  squared singular values of the [N_a, N_b] matrix A B'. So the trace of
  the square root is the sum of those singular values over sqrt(c), with
  no [D, D] matrix formed: sqrtm of a [2048, 2048] product (Inception
  features) takes minutes on a 2-core CPU (docs/inception.md, "Speed"), and
  that product is singular whenever N < D.
  """
  scale = np.sqrt((len(centred_a) - 1.0) * (len(centred_b) - 1.0))
  singular_values = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False)
  return float(np.sum(singular_values) / scale)


def _product_sqrt(cov_a: np.ndarray, cov_b: np.ndarray,
                  tolerance: float = 1e-4) -> Optional[np.ndarray]:
  """sqrtm(cov_a @ cov_b), or None if it is not finite or not accurate."""
  product = cov_a @ cov_b
  with warnings.catch_warnings():
    # Covariances of ReLU features are singular (dead units, N < D); sqrtm
    # warns then but is usually still exact, which the residual checks.
    warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
    root = scipy.linalg.sqrtm(product)
  if not np.all(np.isfinite(root)):
    return None
  scale = max(np.linalg.norm(product), np.finfo(np.float64).tiny)
  if np.linalg.norm(root @ root - product) > tolerance * scale:
    return None
  return root


def frechet_distance(features_a, features_b, epsilon: float = 1e-6) -> float:
  """Frechet distance between Gaussians fitted to two feature sets.

  d = ||mu_a - mu_b||^2 + trace(S_a + S_b - 2 sqrtm(S_a S_b)), with the means
  mu and (unbiased) covariances S of each set. It is 0 for identical sets and
  grows with differences in both mean and spread. It is biased upwards for
  small N: compare numbers computed with the same set sizes.

  When either set has fewer rows than D, trace(sqrtm(S_a S_b)) comes exactly
  from the singular values of the [N_a, N_b] cross product of the centred
  features (see `_trace_sqrt_product_low_rank`); otherwise from
  `scipy.linalg.sqrtm` of the [D, D] product.

  Args:
    features_a: [N_a, D] features, N_a >= 2.
    features_b: [N_b, D] features, N_b >= 2, same D.
    epsilon: if sqrtm(S_a S_b) is not finite or not accurate (it can fail
      for singular covariances), both are offset by `epsilon` * I and it is
      retried (the sqrtm route only).

  Returns:
    A float >= 0, in squared feature units.
  """
  mean_a, centred_a = _centred(features_a, "features_a")
  mean_b, centred_b = _centred(features_b, "features_b")
  if mean_a.shape != mean_b.shape:
    raise ValueError(f"features_a has {mean_a.shape[0]} columns but "
                     f"features_b has {mean_b.shape[0]}; both must come from "
                     "the same feature layer.")
  trace_a = np.sum(centred_a**2) / (len(centred_a) - 1)
  trace_b = np.sum(centred_b**2) / (len(centred_b) - 1)
  if min(len(centred_a), len(centred_b)) < len(mean_a):
    trace_root = _trace_sqrt_product_low_rank(centred_a, centred_b)
  else:
    cov_a = np.atleast_2d(np.cov(centred_a, rowvar=False, ddof=1))
    cov_b = np.atleast_2d(np.cov(centred_b, rowvar=False, ddof=1))
    root = _product_sqrt(cov_a, cov_b)
    if root is None:
      offset = epsilon * np.eye(len(cov_a))
      root = _product_sqrt(cov_a + offset, cov_b + offset)
    if root is None:
      raise ValueError(
          f"frechet_distance: sqrtm(S_a S_b) stays inaccurate even with "
          f"epsilon={epsilon}; pass a larger epsilon, e.g. 1e-3.")
    # The product of two PSD matrices has a real, non-negative spectrum, so
    # any imaginary part is round-off; only its (real) trace enters.
    trace_root = float(np.real(np.trace(root)))
  distance = (np.sum((mean_a - mean_b)**2) + trace_a + trace_b
              - 2.0 * trace_root)
  return float(max(distance, 0.0))


def nearest_neighbour_distances(samples, train_images,
                                max_chunk_elements: int = 10_000_000
                                ) -> np.ndarray:
  """Per-sample L2 distance, in [0, 1] pixel units, to the closest train image.

  Args:
    samples: [N, H, W, C] images in [-1, 1].
    train_images: [M, H, W, C] images in [-1, 1].
    max_chunk_elements: bounds memory: samples are compared in chunks of at
      most this many (sample, train image) pairs (8 bytes each).

  Returns:
    float64 [N], each >= 0; at most sqrt(H * W * C).
  """
  return nearest_neighbours(samples, train_images, 1,
                            max_chunk_elements)[1][:, 0]


def nearest_neighbours(samples, train_images, k: int = 3,
                       max_chunk_elements: int = 10_000_000
                       ) -> tuple[np.ndarray, np.ndarray]:
  """The `k` closest training images of every sample (L2 in pixel space).

  Args:
    samples: [N, H, W, C] images in [-1, 1].
    train_images: [M, H, W, C] images in [-1, 1], M >= k.
    k: neighbours per sample, >= 1.
    max_chunk_elements: bounds memory, as in `nearest_neighbour_distances`.

  Returns:
    (indices int64 [N, k] into train_images, distances float64 [N, k] in
    [0, 1] pixel units), nearest first.
  """
  samples = np.asarray(samples, np.float64)
  train_images = np.asarray(train_images, np.float64)
  if samples.ndim != 4 or train_images.ndim != 4:
    raise ValueError(f"samples {samples.shape} and train_images "
                     f"{train_images.shape} must both be [N, H, W, C].")
  if samples.shape[1:] != train_images.shape[1:]:
    raise ValueError(f"samples of shape {samples.shape[1:]} cannot be "
                     f"compared with train_images of shape "
                     f"{train_images.shape[1:]}; use the same image size.")
  if not len(samples) or not len(train_images):
    raise ValueError("samples and train_images must each hold >= 1 image.")
  if isinstance(k, bool) or int(k) != k or not 1 <= k <= len(train_images):
    raise ValueError(f"k={k!r} must be an int in [1, {len(train_images)}] "
                     "(the number of training images).")
  k = int(k)
  # [-1, 1] -> [0, 1] halves every distance.
  flat_samples = samples.reshape(len(samples), -1) / 2.0
  flat_train = train_images.reshape(len(train_images), -1) / 2.0
  train_norms = np.sum(flat_train**2, axis=1)
  chunk = max(1, max_chunk_elements // len(flat_train))
  indices = np.empty((len(flat_samples), k), np.int64)
  distances = np.empty((len(flat_samples), k))
  for start in range(0, len(flat_samples), chunk):
    part = flat_samples[start:start + chunk]
    squared = np.maximum(np.sum(part**2, axis=1)[:, None]
                         + train_norms[None, :] - 2.0 * part @ flat_train.T,
                         0.0)
    closest = np.argsort(squared, axis=1, kind="stable")[:, :k]
    indices[start:start + chunk] = closest
    distances[start:start + chunk] = np.sqrt(
        np.take_along_axis(squared, closest, axis=1))
  return indices, distances


def nearest_neighbour_distance(samples, train_images) -> float:
  """Mean over samples of `nearest_neighbour_distances` (see there)."""
  return float(np.mean(nearest_neighbour_distances(samples, train_images)))


def evaluate_images(images, bundle, reference_test, train_images,
                    reference_features: Optional[np.ndarray] = None) -> dict:
  """All sample-quality numbers of `images` [N, S, S, C] in [-1, 1].

  Args:
    images: the images to score, N >= 2.
    bundle: a `tfgen.metrics.classifier.ClassifierBundle` (anything with
      `outputs(images) -> (probabilities [N, K], features [N, D])`).
    reference_test: [M, S, S, C] real images in [-1, 1] the Frechet distance
      is measured against (the test split), M >= 2.
    train_images: [T, S, S, C] training images in [-1, 1] for the
      nearest-neighbour distance.
    reference_features: `bundle.features(reference_test)` if already at hand.

  Returns:
    {"classifier_score", "classes_covered", "mean_top_probability",
     "frechet_distance", "nearest_train_distance", "num_images"}: plain
    Python floats / ints, ready for JSON.
  """
  images = np.asarray(images, np.float32)
  probs, features = bundle.outputs(images)
  if reference_features is None:
    reference_features = bundle.outputs(reference_test)[1]
  return {
      "classifier_score": classifier_score(probs),
      "classes_covered": classes_covered(probs),
      "mean_top_probability": mean_top_probability(probs),
      "frechet_distance": frechet_distance(features, reference_features),
      "nearest_train_distance": nearest_neighbour_distance(images,
                                                           train_images),
      "num_images": int(len(images)),
  }


def evaluate_real_images(test_images, bundle, train_images) -> dict:
  """The reference row: `evaluate_images` numbers of real test images.

  Scored like samples, except for the Frechet distance: the test split
  against itself would give 0, so it is the distance between its even- and
  odd-indexed halves (the value a perfect sampler reaches at that set size).

  Args:
    test_images: [M, S, S, C] real test images in [-1, 1], M >= 4.
    bundle: the classifier, as in `evaluate_images`.
    train_images: [T, S, S, C] training images in [-1, 1].

  Returns:
    The same keys as `evaluate_images`.
  """
  test_images = np.asarray(test_images, np.float32)
  if len(test_images) < 4:
    raise ValueError(f"test_images holds {len(test_images)} images; the "
                     "half-against-half Frechet distance needs >= 4.")
  features = bundle.outputs(test_images)[1]
  scores = evaluate_images(test_images, bundle, test_images, train_images,
                           reference_features=features)
  scores["frechet_distance"] = frechet_distance(features[0::2],
                                                features[1::2])
  return scores


def per_class_accuracy(probs, labels) -> dict:
  """How often the classifier recognises the class each image was made for.

  Args:
    probs: [N, K] class probabilities of N conditioned samples.
    labels: int [N] in [0, K), the class each sample was conditioned on.

  Returns:
    {"accuracy": fraction of all N whose top class is their label,
     "per_class": {k: that fraction among the images of class k (None for a
     class without images)}, "counts": {k: images of class k}}; keys are
    str(k) (JSON-ready).
  """
  probs = _check_probabilities(probs)
  labels = np.asarray(labels)
  if labels.shape != probs.shape[:1] or not np.issubdtype(labels.dtype,
                                                           np.integer):
    raise ValueError(f"labels must be int [{len(probs)}], one per image, got "
                     f"{labels.dtype} {labels.shape}.")
  num_classes = probs.shape[1]
  if labels.min() < 0 or labels.max() >= num_classes:
    raise ValueError(f"labels lie in [{labels.min()}, {labels.max()}] but "
                     f"the classifier has classes [0, {num_classes - 1}].")
  correct = np.argmax(probs, axis=1) == labels
  per_class, counts = {}, {}
  for k in range(num_classes):
    members = labels == k
    counts[str(k)] = int(members.sum())
    per_class[str(k)] = (float(correct[members].mean()) if members.any()
                         else None)
  return {"accuracy": float(correct.mean()), "per_class": per_class,
          "counts": counts}
