"""A small, locally trained classifier that sample-quality metrics look through.

No pretrained network can be fetched here, so the classifier score, the
classes covered and the Frechet distance use a small ConvNet trained on the
dataset's own train split. `get_classifier(dataset, image_size)` trains it once
(seeded, a few seconds on the bundled digits) and caches it as a `.keras` file
with a JSON sidecar; later calls load the cached file. A cache file that cannot
be read, or that was trained with other settings, is retrained, not an error.

The cache folder is `cache_dir` if given, else `$TFGEN_CACHE_DIR`, else
`~/.cache/tfgen/classifiers`. Files are keyed by the dataset name (made safe
for a file name) and the image size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from typing import Optional
import warnings

from absl import logging
import keras
import numpy as np

from tfgen.data import sources

CACHE_DIR_ENV = "TFGEN_CACHE_DIR"
DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "tfgen", "classifiers")
# Bump when the architecture or training recipe changes: old files retrain.
RECIPE_VERSION = 1
FEATURES_LAYER = "features"
PROBABILITIES_LAYER = "probabilities"


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
  """How the classifier is trained (all part of the cache check).

  Attributes:
    num_epochs: passes over the train split, capped so that training takes at
      most `max_steps` optimiser steps (large datasets need fewer epochs).
    max_steps: cap on the optimiser steps of the whole run.
    batch_size: images per optimiser step.
    learning_rate: Adam learning rate.
    max_shift: augmentation shifts images by up to this many pixels in each
      direction; None means `max(1, image_size // 8)`.
    feature_dim: width of the penultimate 'features' layer.
    seed: seeds the weights, the batch order and the shifts.
  """
  num_epochs: int = 15
  max_steps: int = 5000
  batch_size: int = 64
  learning_rate: float = 1e-3
  max_shift: Optional[int] = None
  feature_dim: int = 128
  seed: int = 0

  def __post_init__(self):
    for name in ("num_epochs", "max_steps", "batch_size", "feature_dim"):
      value = getattr(self, name)
      if not isinstance(value, int) or value <= 0:
        raise ValueError(f"TrainingSettings.{name}={value!r} must be a "
                         "positive integer.")
    if self.max_shift is not None and self.max_shift < 0:
      raise ValueError(f"TrainingSettings.max_shift={self.max_shift!r} must "
                       "be >= 0 (0 turns the shift augmentation off) or None.")
    if not self.learning_rate > 0:
      raise ValueError(f"TrainingSettings.learning_rate={self.learning_rate!r}"
                       " must be > 0, e.g. 1e-3.")


def build_classifier(image_size: int, channels: int, num_classes: int,
                     feature_dim: int = 128, seed: int = 0) -> keras.Model:
  """Functional ConvNet: images [B, S, S, C] in [-1, 1] -> probabilities [B, K].

  A 3x3 conv, then stride-2 3x3 convs until the map is 4x4 or smaller, a dense
  ReLU layer named 'features' (the penultimate activations, [B, feature_dim])
  and a softmax layer named 'probabilities'. Weight initialisers are seeded
  from `seed`, so the same seed builds the same weights.
  """
  for name, value in (("image_size", image_size), ("channels", channels),
                      ("num_classes", num_classes),
                      ("feature_dim", feature_dim)):
    if not isinstance(value, (int, np.integer)) or value <= 0:
      raise ValueError(f"{name}={value!r} must be a positive integer.")
  num_down = max(1, int(math.ceil(math.log2(image_size))) - 2)
  filters = [32] + [min(128, 64 * 2**i) for i in range(num_down)]
  strides = [1] + [2] * num_down
  inputs = keras.Input((image_size, image_size, channels), name="images")
  x = inputs
  for i, (width, stride) in enumerate(zip(filters, strides)):
    x = keras.layers.Conv2D(
        width, 3, stride, padding="same", activation="relu",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
        name=f"conv{i + 1}")(x)
  x = keras.layers.Flatten()(x)
  features = keras.layers.Dense(
      feature_dim, activation="relu",
      kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 100),
      name=FEATURES_LAYER)(x)
  probabilities = keras.layers.Dense(
      num_classes, activation="softmax",
      kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 101),
      name=PROBABILITIES_LAYER)(features)
  return keras.Model(inputs, probabilities,
                     name=f"classifier_{image_size}px_{num_classes}")


def random_shifts(images: np.ndarray, max_shift: int,
                  rng: np.random.Generator) -> np.ndarray:
  """Shifts each image [N, H, W, C] by up to `max_shift` pixels (edge padded).

  Every image gets its own integer offset in [-max_shift, max_shift] along
  each axis, drawn from `rng`; borders repeat the edge pixels.
  """
  if max_shift == 0:
    return images
  count, height, width = images.shape[:3]
  pad = ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0))
  padded = np.pad(images, pad, mode="edge")
  offsets = rng.integers(0, 2 * max_shift + 1, size=(count, 2))
  shifted = np.empty_like(images)
  for top in range(2 * max_shift + 1):
    for left in range(2 * max_shift + 1):
      chosen = np.flatnonzero((offsets[:, 0] == top) & (offsets[:, 1] == left))
      if chosen.size:
        shifted[chosen] = padded[chosen, top:top + height, left:left + width]
  return shifted


def train_classifier(train_images: np.ndarray, train_labels: np.ndarray,
                     num_classes: int,
                     settings: TrainingSettings = TrainingSettings()
                     ) -> keras.Model:
  """Trains `build_classifier` on images [N, S, S, C] in [-1, 1], labels [N].

  Deterministic for fixed inputs and `settings.seed`: seeded initialisers, a
  local numpy Generator for batch order and shifts, no global seeding.
  """
  train_images = np.asarray(train_images, np.float32)
  train_labels = np.asarray(train_labels, np.int32)
  if (train_images.ndim != 4 or not len(train_images)
      or train_images.shape[1] != train_images.shape[2]):
    raise ValueError(f"train_images must be [N, S, S, C] with N >= 1, got "
                     f"shape {train_images.shape}.")
  if train_labels.shape != train_images.shape[:1]:
    raise ValueError(f"train_labels shape {train_labels.shape} must be "
                     f"[{train_images.shape[0]}], one label per image.")
  if train_labels.min() < 0 or train_labels.max() >= num_classes:
    raise ValueError(
        f"train_labels lie in [{train_labels.min()}, {train_labels.max()}] "
        f"but must lie in [0, {num_classes - 1}] for num_classes="
        f"{num_classes}; unlabelled sources (label -1) cannot train it.")
  image_size, channels = train_images.shape[2], train_images.shape[3]
  model = build_classifier(image_size, channels, num_classes,
                           settings.feature_dim, settings.seed)
  model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"], jit_compile=False)
  steps_per_epoch = int(math.ceil(len(train_images) / settings.batch_size))
  num_epochs = max(1, min(settings.num_epochs,
                          settings.max_steps // steps_per_epoch))
  max_shift = (settings.max_shift if settings.max_shift is not None
               else max(1, image_size // 8))
  rng = np.random.default_rng(settings.seed)
  for epoch in range(num_epochs):
    order = rng.permutation(len(train_images))
    images = random_shifts(train_images[order], max_shift, rng)
    model.fit(images, train_labels[order], batch_size=settings.batch_size,
              epochs=epoch + 1, initial_epoch=epoch, shuffle=False, verbose=0)
  return model


@dataclasses.dataclass
class ClassifierBundle:
  """A trained classifier with its test accuracy and where it is cached.

  Attributes:
    model: Keras model, images [B, S, S, C] in [-1, 1] -> probabilities [B, K].
    dataset: the dataset it was trained on.
    image_size: S.
    test_accuracy: accuracy on the dataset's test split (nan if unknown).
    path: the cached `.keras` file ('' if not cached).
    trained_now: True if this call trained it, False if it came from cache.
  """
  model: keras.Model
  dataset: str
  image_size: int
  test_accuracy: float = float("nan")
  path: str = ""
  trained_now: bool = False

  def __post_init__(self):
    self._two_outputs = keras.Model(
        self.model.input,
        [self.model.get_layer(PROBABILITIES_LAYER).output,
         self.model.get_layer(FEATURES_LAYER).output])

  @property
  def num_classes(self) -> int:
    return int(self.model.output.shape[-1])

  @property
  def feature_dim(self) -> int:
    return int(self.model.get_layer(FEATURES_LAYER).output.shape[-1])

  def outputs(self, images: np.ndarray, batch_size: int = 500
              ) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities [N, K], features [N, feature_dim]) of images in [-1, 1].

    `images` is [N, S, S, C] float, S and C as the classifier was trained.
    """
    images = np.asarray(images, np.float32)
    expected = tuple(self.model.input.shape[1:])
    if images.ndim != 4 or images.shape[1:] != expected:
      raise ValueError(
          f"images of shape {images.shape} do not fit the {self.dataset!r} "
          f"classifier, which takes [N, {', '.join(map(str, expected))}]; "
          "resize or pick the matching dataset / image size.")
    if not len(images):
      raise ValueError("images is empty; pass at least one image.")
    probabilities, features = [], []
    for start in range(0, len(images), batch_size):
      p, f = self._two_outputs(images[start:start + batch_size],
                               training=False)
      probabilities.append(np.asarray(p))
      features.append(np.asarray(f))
    return (np.concatenate(probabilities).astype(np.float64),
            np.concatenate(features).astype(np.float64))

  def probabilities(self, images: np.ndarray) -> np.ndarray:
    """Class probabilities p(y|x) [N, K] of images [N, S, S, C] in [-1, 1]."""
    return self.outputs(images)[0]

  def features(self, images: np.ndarray) -> np.ndarray:
    """Penultimate activations [N, feature_dim] (>= 0) of images in [-1, 1]."""
    return self.outputs(images)[1]

  def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of `images` whose most probable class is their label."""
    predicted = np.argmax(self.probabilities(images), axis=1)
    return float(np.mean(predicted == np.asarray(labels)))


def default_cache_dir() -> str:
  """`$TFGEN_CACHE_DIR` if set, else `~/.cache/tfgen/classifiers`."""
  return os.path.expanduser(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


def cache_path(dataset: str, image_size: int,
               cache_dir: Optional[str] = None) -> str:
  """The `.keras` file caching the classifier of `dataset` at `image_size`.

  The name keeps the dataset's letters, digits, '.', '-' and '_' and adds a
  short hash of the full name, so 'lsun/a_b' and 'lsun_a/b' never collide.
  """
  safe = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset).strip("._") or "dataset"
  digest = hashlib.sha256(dataset.encode("utf-8")).hexdigest()[:8]
  folder = os.path.expanduser(cache_dir) if cache_dir else default_cache_dir()
  return os.path.join(folder, f"{safe[:60]}-{digest}_{image_size}px.keras")


def _metadata(dataset: str, image_size: int,
              settings: TrainingSettings) -> dict:
  return {"recipe_version": RECIPE_VERSION, "dataset": dataset,
          "image_size": image_size,
          "training": dataclasses.asdict(settings)}


def _load_cached(path: str, expected: dict) -> Optional[ClassifierBundle]:
  """The cached bundle, or None (with the reason logged) if it is unusable."""
  sidecar = path + ".json"
  if not os.path.exists(path):
    return None
  try:
    with open(sidecar) as f:
      saved = json.load(f)
    if {k: saved.get(k) for k in expected} != expected:
      logging.info("Classifier cache %s was trained with other settings; "
                   "retraining.", path)
      return None
    model = keras.saving.load_model(path, compile=False)
    bundle = ClassifierBundle(model, expected["dataset"],
                              expected["image_size"],
                              float(saved["test_accuracy"]), path)
  except Exception as error:  # pylint: disable=broad-except
    # A torn or foreign file can fail in zipfile, h5py, json or Keras with
    # many exception types; every one of them just means "train again".
    logging.warning("Classifier cache %s is unreadable (%s: %s); retraining.",
                    path, type(error).__name__, str(error)[:200])
    return None
  return bundle


def _save(model: keras.Model, path: str, metadata: dict) -> None:
  """Writes the model and its sidecar atomically (temp file + rename)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp_model = f"{path[:-len('.keras')]}.{os.getpid()}.tmp.keras"
  with warnings.catch_warnings():
    # Keras 3.15 saves TF variables through np.array(x), which numpy 2 flags
    # once per variable; the file is written correctly.
    warnings.filterwarnings("ignore", message=r"__array__ implementation",
                            category=DeprecationWarning)
    model.save(tmp_model)
  tmp_sidecar = f"{path}.{os.getpid()}.tmp.json"
  with open(tmp_sidecar, "w") as f:
    json.dump(metadata, f, indent=2, sort_keys=True)
  # Model first: a sidecar never describes a model that is not there yet.
  os.replace(tmp_model, path)
  os.replace(tmp_sidecar, path + ".json")


def get_classifier(dataset: str = "digits", image_size: int = 16,
                   cache_dir: Optional[str] = None, *,
                   settings: TrainingSettings = TrainingSettings(),
                   data_dir: Optional[str] = None,
                   download: bool = False) -> ClassifierBundle:
  """The classifier of `dataset` at `image_size`: cached, else trained now.

  Args:
    dataset: a labelled source (`tfgen.data.num_classes(dataset) > 0`).
    image_size: side S of the images it takes, [B, S, S, C] in [-1, 1].
    cache_dir: folder of cached classifiers; see `default_cache_dir`.
    settings: the training recipe; a cached file trained otherwise retrains.
    data_dir, download: passed to `tfgen.data.arrays` (tfds datasets).

  Returns:
    A ClassifierBundle with the test-split accuracy.

  Raises:
    ValueError: `dataset` is unknown or has no labels.
  """
  sources.validate_name(dataset)
  num_classes = sources.num_classes(dataset)
  if num_classes == 0:
    raise ValueError(
        f"dataset={dataset!r} has no class labels, so no classifier can be "
        "trained on it; use a labelled dataset (digits, mnist, cifar10, "
        "svhn_cropped).")
  if not isinstance(image_size, (int, np.integer)) or image_size <= 0:
    raise ValueError(
        f"image_size={image_size!r} must be a positive integer, e.g. 16.")
  image_size = int(image_size)
  path = cache_path(dataset, image_size, cache_dir)
  metadata = _metadata(dataset, image_size, settings)
  bundle = _load_cached(path, metadata)
  if bundle is not None:
    return bundle
  logging.info("Training the %s classifier at %dx%d (cached at %s).", dataset,
               image_size, image_size, path)
  train_images, train_labels = sources.arrays(
      dataset, "train", image_size, data_dir=data_dir, download=download)
  test_images, test_labels = sources.arrays(
      dataset, "test", image_size, data_dir=data_dir, download=download)
  model = train_classifier(train_images, train_labels, num_classes, settings)
  bundle = ClassifierBundle(model, dataset, image_size, path=path,
                            trained_now=True)
  bundle.test_accuracy = bundle.accuracy(test_images, test_labels)
  logging.info("The %s classifier reaches test accuracy %.4f.", dataset,
               bundle.test_accuracy)
  _save(model, path, dict(metadata, test_accuracy=bundle.test_accuracy))
  return bundle
