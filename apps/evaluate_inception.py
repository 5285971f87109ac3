"""apps.evaluate's Inception flags: Inception score and FID from local weights.

`python -m apps.evaluate ... --inception_weights=PATH` adds inception_score,
inception_score_std, fid_inception and inception_num_images to the
"samples" and "real_test_images" rows, next to the local classifier's
numbers, and an "inception" object saying how they were computed. The math
is `tfgen.metrics.inception`; docs/inception.md says how to get the weights.
"""

from __future__ import annotations

import os

from absl import app
from absl import flags
import numpy as np

# tfgen.metrics.inception's DEFAULT_SPLITS and DEFAULT_BATCH_SIZE (checked by
# tests/inception_test.py): importing it here would load TensorFlow before a
# usage error could be reported.
DEFAULT_SPLITS = 10
DEFAULT_BATCH_SIZE = 50

WEIGHTS = flags.DEFINE_string(
    "inception_weights", None, "Also score the images with keras."
    "applications.InceptionV3 (Inception score, FID on its pool3 features), "
    "its ImageNet weights read from this local file and never downloaded: "
    "a weights-only .weights.h5 (model.save_weights), a whole-model .keras "
    "(model.save) or a legacy .h5 (Keras's own inception_v3_weights_tf_dim_"
    "ordering_tf_kernels.h5), of the 1000-class model with its top "
    "(include_top=True). See docs/inception.md.")
SPLITS = flags.DEFINE_integer(
    "inception_splits", DEFAULT_SPLITS, "--inception_weights: "
    "the Inception score is computed on this many equal consecutive parts "
    "of the images and reported as their mean and std (10, the usual "
    "convention). Needs at least this many images.")
BATCH_SIZE = flags.DEFINE_integer(
    "inception_batch_size", DEFAULT_BATCH_SIZE,
    "--inception_weights: images per InceptionV3 forward pass (memory only).")
REFERENCE_IMAGES = flags.DEFINE_integer(
    "inception_reference_images", 0, "--inception_weights: the FID "
    "reference is this many test images, evenly spaced through the test "
    "split (0 = the whole split). 100 images took 21-24 s on the shared "
    "2-core CPU here; docs/inception.md.")
FLAG_NAMES = ("inception_weights", "inception_splits", "inception_batch_size",
              "inception_reference_images")
PREPROCESSING = (
    "bilinear resize to 299x299, a grey channel repeated to 3, pixels in "
    "[-1, 1] (the range keras.applications.inception_v3.preprocess_input "
    "produces)")
FEATURES = (
    "fid_inception: Frechet distance of the pool3 (avg_pool, 2048-d) "
    "features; inception_score: exp E KL(p(y|x) || p(y)) of the 1000-way "
    "softmax on each of `splits` equal consecutive parts, mean and std "
    "(ddof=0) over the parts")
NOTES = (
    "real_test_images' fid_inception is between the even- and odd-indexed "
    "halves of the reference images. ImageNet features of small digits say "
    "little about digit quality; docs/inception.md.")


def check_flags(num_images: int, where: str) -> None:
  """UsageError for a bad Inception flag, before any slow work.

  Args:
    num_images: how many images will be scored.
    where: names them in messages, e.g. "--samples='s.npz'".
  """
  if not WEIGHTS.value:
    for name in FLAG_NAMES[1:]:
      if flags.FLAGS[name].present:
        raise app.UsageError(
            f"--{name}={flags.FLAGS[name].value} only applies with "
            "--inception_weights=PATH (the InceptionV3 weights file); pass "
            "it, or drop the flag.")
    return
  splits = SPLITS.value
  if splits < 1:
    raise app.UsageError(f"--inception_splits={splits} must be >= 1, e.g. "
                         f"{DEFAULT_SPLITS}.")
  if BATCH_SIZE.value < 1:
    raise app.UsageError(f"--inception_batch_size={BATCH_SIZE.value} must be "
                         f">= 1, e.g. {DEFAULT_BATCH_SIZE}.")
  smallest = max(4, splits)
  if REFERENCE_IMAGES.value != 0 and REFERENCE_IMAGES.value < smallest:
    raise app.UsageError(
        f"--inception_reference_images={REFERENCE_IMAGES.value} must be 0 "
        f"(the whole test split) or >= {smallest} (the half-against-half "
        "FID needs 4, the Inception score --inception_splits).")
  if num_images < splits:
    raise app.UsageError(
        f"--inception_splits={splits} needs at least {splits} images, but "
        f"{where} gives {num_images}; pass --inception_splits={num_images} "
        "or fewer, or score more images (10 splits of >= 500 images each "
        "is the usual).")


def load_model():
  """The InceptionV3 of --inception_weights (None without the flag)."""
  if not WEIGHTS.value:
    return None
  from tfgen.metrics import inception  # pylint: disable=g-import-not-at-top
  try:
    return inception.load_inception(WEIGHTS.value)
  except ValueError as error:
    raise app.UsageError(f"--inception_weights={error}") from error


def reference_images(test_images: np.ndarray) -> np.ndarray:
  """The --inception_reference_images test images, evenly spaced (or all)."""
  count = REFERENCE_IMAGES.value
  if not count:
    return test_images
  if count > len(test_images):
    raise app.UsageError(
        f"--inception_reference_images={count} is more than the "
        f"{len(test_images)} test images; pass at most {len(test_images)}, "
        "or 0 for all of them.")
  return test_images[np.linspace(0, len(test_images) - 1, count).round()
                     .astype(np.int64)]


def score(model, images: np.ndarray, test_images: np.ndarray
          ) -> tuple[dict, dict, dict]:
  """(samples' row, test split's row, "inception" object) of the JSON."""
  from tfgen.metrics import inception  # pylint: disable=g-import-not-at-top
  reference = reference_images(test_images)
  sample_row, real_row = inception.evaluate_images(
      images, reference, model, splits=SPLITS.value,
      batch_size=BATCH_SIZE.value)
  info = {
      "weights": os.path.abspath(WEIGHTS.value),
      "splits": SPLITS.value,
      "num_reference_images": int(len(reference)),
      "preprocessing": PREPROCESSING,
      "features": FEATURES,
      "notes": NOTES,
  }
  return sample_row, real_row, info
