"""Inception score and FID through `keras.applications.InceptionV3`.

The ImageNet-trained network is never downloaded here: `load_inception`
builds the architecture with `weights=None` and loads a local file. Images
are the library's float NHWC in [-1, 1]; `features` resizes them to 299x299
(bilinear) and repeats a grey channel three times. [-1, 1] is already the
network's input range: `keras.applications.inception_v3.preprocess_input`
maps [0, 255] pixels to it with x / 127.5 - 1 (its "tf" mode), so no further
scaling is applied.

- `features`: the pool3 activations (the global average pool "avg_pool"
  before the classifier, [N, 2048], >= 0) and the 1000-way softmax
  ([N, 1000]) of a batch of images.
- `inception_score`: exp(E_x KL(p(y|x) || p(y))) on each of `splits` equal
  consecutive parts of the images, as (mean, std) over the parts (the
  convention of Salimans et al. 2016: 10 parts, population std).
- `frechet_distance`: `tfgen.metrics.sample_quality.frechet_distance`; on
  pool3 features it is the FID (Heusel et al. 2017).
- `evaluate_images`: both numbers for a set of images against real ones,
  and the same for the real ones (FID between their even and odd halves).

These weights are not the 2015 TensorFlow Inception graph that published FID
and Inception-score figures usually come from, so the numbers compare with
each other, not digit for digit with papers'.

#### References

Salimans et al. Improved Techniques for Training GANs. NeurIPS 2016.
https://arxiv.org/abs/1606.03498

Heusel et al. GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium. NeurIPS 2017. https://arxiv.org/abs/1706.08500
"""

from __future__ import annotations

import os
import warnings
import zipfile

import numpy as np

from tfgen.metrics import sample_quality

__all__ = [
    "DEFAULT_BATCH_SIZE", "DEFAULT_SPLITS", "FEATURE_DIM", "INPUT_SIZE",
    "NUM_CLASSES", "WEIGHT_FILE_SUFFIXES", "evaluate_images", "features",
    "frechet_distance", "inception_score", "load_inception",
]

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1000
POOL_LAYER = "avg_pool"
# The usual split count of the Inception score (Salimans et al.).
DEFAULT_SPLITS = 10
# Images per forward pass: 50 and 100 ran at the same speed on a 2-core CPU.
DEFAULT_BATCH_SIZE = 50
# What keras.Model.load_weights reads: a weights-only file, a whole model
# (.keras), or a legacy HDF5 file (Keras's own download is one).
WEIGHT_FILE_SUFFIXES = (".weights.h5", ".keras", ".h5")
# Pixels this far outside [-1, 1] mean another convention, e.g. [0, 255].
_RANGE_SLACK = 1e-3
HOW_TO_GET_WEIGHTS = (
    "on a machine with internet, save them with `keras.applications."
    "InceptionV3(weights='imagenet').save_weights('inception_v3.weights.h5')` "
    "and copy the file here (see docs/inception.md)")

frechet_distance = sample_quality.frechet_distance

# [model, its compiled resize-and-forward function] of the last model seen:
# traced once per model, and holding no more than one model alive.
_LAST_EXTRACTOR = [None, None]


def load_inception(path: str):
  """`keras.applications.InceptionV3` with the weights in the file `path`.

  The architecture is built with `weights=None` (nothing is downloaded) and
  `model.load_weights(path)` fills it, so `path` must hold the 1000-class
  ImageNet model with its top: a `.weights.h5` file (`model.save_weights`),
  a whole-model `.keras` file (`model.save`), or a legacy `.h5` file such as
  Keras's own `inception_v3_weights_tf_dim_ordering_tf_kernels.h5`.

  Args:
    path: the file.

  Returns:
    A Keras functional model, input [B, 299, 299, 3] in [-1, 1], output the
    softmax [B, 1000].

  Raises:
    ValueError: the file is missing, has another suffix, or does not hold
      this network's weights (another model, `include_top=False`, another
      number of classes, a damaged file).
  """
  import keras  # pylint: disable=g-import-not-at-top
  if not os.path.isfile(path):
    raise ValueError(f"{path!r} does not exist; {HOW_TO_GET_WEIGHTS}.")
  if not path.endswith(WEIGHT_FILE_SUFFIXES):
    raise ValueError(f"{path!r} must end in one of {WEIGHT_FILE_SUFFIXES} "
                     "(the files keras.Model.load_weights reads); "
                     f"{HOW_TO_GET_WEIGHTS}.")
  model = keras.applications.InceptionV3(weights=None)
  try:
    with warnings.catch_warnings():
      # A mismatched file warns once per layer before raising; the error is
      # the message.
      warnings.simplefilter("ignore")
      model.load_weights(path)
  except (ValueError, OSError, KeyError, TypeError,
          zipfile.BadZipFile) as error:
    first_line = str(error).strip().splitlines()[0] if str(error) else ""
    raise ValueError(
        f"{path!r} does not hold the weights of keras.applications."
        f"InceptionV3 (1000 ImageNet classes, include_top=True): "
        f"{type(error).__name__}: {first_line}; {HOW_TO_GET_WEIGHTS}."
    ) from error
  return model


def _extractor(model):
  """The tf.function mapping [B, H, W, 3] in [-1, 1] to (pool3, softmax)."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if _LAST_EXTRACTOR[0] is model:
    return _LAST_EXTRACTOR[1]
  try:
    pool = model.get_layer(POOL_LAYER).output
  except ValueError as error:
    raise ValueError(f"model {model.name!r} has no {POOL_LAYER!r} layer; "
                     "pass the model load_inception returns.") from error
  if tuple(pool.shape[1:]) != (FEATURE_DIM,) or tuple(
      model.output.shape[1:]) != (NUM_CLASSES,):
    raise ValueError(
        f"model {model.name!r} gives {POOL_LAYER} {tuple(pool.shape)} and "
        f"outputs {tuple(model.output.shape)}, not [B, {FEATURE_DIM}] and "
        f"[B, {NUM_CLASSES}]; pass the model load_inception returns.")
  both = keras.Model(model.inputs, [pool, model.output])

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.float32)])
  def extract(images):
    resized = tf.image.resize(images, (INPUT_SIZE, INPUT_SIZE),
                              method="bilinear")
    return both(resized, training=False)

  _LAST_EXTRACTOR[:] = [model, extract]
  return extract


def features(images, model, batch_size: int = DEFAULT_BATCH_SIZE
             ) -> tuple[np.ndarray, np.ndarray]:
  """InceptionV3's pool3 features and class probabilities of `images`.

  Each image is resized to 299x299 (bilinear; every size the library makes
  is smaller, so this upsamples) and a grey channel is repeated to three,
  inside one tf.function traced once per model; `batch_size` images go
  through it at a time.

  Args:
    images: float [N, H, W, C] in [-1, 1], C = 1 or 3, N >= 1.
    model: what `load_inception` returns.
    batch_size: images per forward pass, >= 1 (memory, not results).

  Returns:
    (pool3 float64 [N, 2048], values >= 0 (after ReLU);
     probabilities float64 [N, 1000], rows summing to 1).
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[-1] not in (1, 3) or not len(images):
    raise ValueError(f"images must be [N, H, W, C] with N >= 1 and C = 1 or "
                     f"3, got shape {images.shape}.")
  if not np.all(np.isfinite(images)):
    raise ValueError("images hold NaN or inf values.")
  low, high = float(images.min()), float(images.max())
  if low < -1.0 - _RANGE_SLACK or high > 1.0 + _RANGE_SLACK:
    raise ValueError(f"images lie in [{low:.3g}, {high:.3g}], but must lie "
                     "in [-1, 1], InceptionV3's input range (map [0, 255] "
                     "pixels with x / 127.5 - 1).")
  if isinstance(batch_size, bool) or int(batch_size) != batch_size or (
      batch_size < 1):
    raise ValueError(f"batch_size={batch_size!r} must be an int >= 1, "
                     f"e.g. {DEFAULT_BATCH_SIZE}.")
  extract = _extractor(model)
  pools, probabilities = [], []
  for start in range(0, len(images), int(batch_size)):
    batch = images[start:start + int(batch_size)]
    if batch.shape[-1] == 1:
      batch = np.repeat(batch, 3, axis=-1)
    pool, probs = extract(batch)
    pools.append(np.asarray(pool, np.float64))
    probabilities.append(np.asarray(probs, np.float64))
  return np.concatenate(pools), np.concatenate(probabilities)


def inception_score(probs, splits: int = DEFAULT_SPLITS
                    ) -> tuple[float, float]:
  """The Inception score: mean and std over `splits` parts of the images.

  The N rows are cut, in order, into `splits` parts of N // splits or
  N // splits + 1 rows (`numpy.array_split`); on each part the score is
  exp(mean over its images of KL(p(y|x) || p(y))), p(y) the part's mean
  (`sample_quality.classifier_score`). Parts of fewer images score lower,
  so compare scores of equal N and splits.

  Args:
    probs: [N, K] class probabilities (softmax rows), N >= splits.
    splits: number of parts, >= 1; 10 is the usual choice.

  Returns:
    (mean, std) of the per-part scores; the mean lies in [1, K] (1 for
    identical rows, the number of classes used when every image is certainly
    one class and they are used equally often), std >= 0 (numpy's default
    ddof=0; 0.0 when splits = 1).
  """
  probs = np.asarray(probs, np.float64)
  if isinstance(splits, bool) or int(splits) != splits or splits < 1:
    raise ValueError(f"splits={splits!r} must be an int >= 1, e.g. "
                     f"{DEFAULT_SPLITS}.")
  if probs.ndim != 2 or len(probs) < splits:
    raise ValueError(f"splits={splits} needs at least {splits} images (rows "
                     f"of probs), got shape {probs.shape}; pass splits <= "
                     "the number of images, or more images.")
  scores = [sample_quality.classifier_score(part)
            for part in np.array_split(probs, int(splits))]
  return float(np.mean(scores)), float(np.std(scores))


def evaluate_images(images, reference_images, model, splits: int =
                    DEFAULT_SPLITS, batch_size: int = DEFAULT_BATCH_SIZE
                    ) -> tuple[dict, dict]:
  """Inception score and FID of `images` and of the real reference images.

  Args:
    images: float [N, H, W, C] in [-1, 1], the images to score, N >= 2 and
      N >= splits.
    reference_images: float [M, H', W', C] in [-1, 1], real images (the test
      split), M >= 4 and M >= splits.
    model: what `load_inception` returns.
    splits: parts of the Inception score (see `inception_score`).
    batch_size: images per forward pass.

  Returns:
    (for `images`, for `reference_images`): each {"inception_score",
    "inception_score_std", "fid_inception", "inception_num_images"}, plain
    floats and ints. The images' fid_inception is against all reference
    images; the reference's is between its even- and odd-indexed halves
    (what a perfect sampler would reach at about that size: the distance is
    biased upwards for small sets).
  """
  if len(reference_images) < 4:
    raise ValueError(f"reference_images holds {len(reference_images)} "
                     "images; the half-against-half FID needs >= 4.")
  pool, probs = features(images, model, batch_size)
  real_pool, real_probs = features(reference_images, model, batch_size)

  def row(probabilities, distance):
    score, spread = inception_score(probabilities, splits)
    return {"inception_score": score, "inception_score_std": spread,
            "fid_inception": distance,
            "inception_num_images": int(len(probabilities))}

  return (row(probs, frechet_distance(pool, real_pool)),
          row(real_probs, frechet_distance(real_pool[0::2], real_pool[1::2])))
