"""Image sources: tfds datasets, scikit-learn's bundled digits, image folders.

Every source yields `(image, label)` pairs with `image` float32 [H, W, C] in
[-1, 1] (square, `image_size` x `image_size`) and `label` int32 (-1 where the
source has no labels). `load` batches them into a `tf.data` pipeline.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import tensorflow as tf

TFDS_DATASETS = ("mnist", "cifar10", "svhn_cropped", "celeb_a")
OFFLINE_DATASETS = ("digits",)
_CHANNELS = {"digits": 1, "mnist": 1, "cifar10": 3, "svhn_cropped": 3,
             "celeb_a": 3, "lsun": 3}
_NUM_CLASSES = {"digits": 10, "mnist": 10, "cifar10": 10, "svhn_cropped": 10}
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0
VALID_NAMES_HELP = ("digits, mnist, cifar10, svhn_cropped, celeb_a, "
                    "lsun/<category> (e.g. lsun/bedroom) or folder:<path>")


def _kind(name: str) -> str:
  if name in OFFLINE_DATASETS:
    return "digits"
  if name in TFDS_DATASETS:
    return "tfds"
  if name.startswith("lsun/") and len(name) > len("lsun/"):
    return "tfds"
  if name.startswith("folder:") and len(name) > len("folder:"):
    return "folder"
  raise ValueError(
      f"dataset={name!r} is not a known dataset. Use one of {VALID_NAMES_HELP}.")


def validate_name(name: str) -> str:
  """Returns `name` if it names a known source, else raises ValueError."""
  _kind(name)
  return name


def num_channels(name: str, folder_channels: int = 3) -> int:
  """Number of image channels the source `name` produces."""
  kind = _kind(name)
  if kind == "folder":
    return folder_channels
  return _CHANNELS[name.split("/")[0]]


def num_classes(name: str) -> int:
  """Number of label classes of `name`, 0 where the source has no labels."""
  _kind(name)
  return _NUM_CLASSES.get(name, 0)


def _validate_split(split: str) -> str:
  if split not in ("train", "test"):
    raise ValueError(f"split={split!r} must be 'train' or 'test'.")
  return split


def _to_model_range(image: tf.Tensor, image_size: int) -> tf.Tensor:
  """uint8 [H, W, C] (any H, W) -> centre crop, resize, float32 in [-1, 1]."""
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  side = tf.minimum(height, width)
  top = (height - side) // 2
  left = (width - side) // 2
  image = tf.image.crop_to_bounding_box(image, top, left, side, side)
  image = tf.cast(image, tf.float32) / 255.0
  image = tf.image.resize(image, [image_size, image_size], antialias=True)
  image = tf.clip_by_value(image, 0.0, 1.0)
  return image * 2.0 - 1.0


def digits_arrays(split: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
  """scikit-learn's bundled 8x8 digits, seeded 80/20 split, resized.

  Returns images float32 [N, image_size, image_size, 1] in [-1, 1] and labels
  int32 [N]. The split is fixed (seed 0), so train and test never overlap.
  """
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  _validate_split(split)
  digits = load_digits()
  images = (digits.images.astype(np.float32) / 16.0)[..., None]
  labels = digits.target.astype(np.int32)
  order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
  num_test = int(round(DIGITS_TEST_FRACTION * len(labels)))
  index = order[num_test:] if split == "train" else order[:num_test]
  images = tf.image.resize(images[index], [image_size, image_size],
                           method="bilinear", antialias=True).numpy()
  images = np.clip(images, 0.0, 1.0) * 2.0 - 1.0
  return images.astype(np.float32), labels[index]


def _folder_files(path: str, split: str) -> list[str]:
  if not os.path.isdir(path):
    raise ValueError(
        f"dataset='folder:{path}': {path!r} is not a directory. Point it at a "
        "directory of .png/.jpg images.")
  files = sorted(
      os.path.join(root, f) for root, _, names in os.walk(path) for f in names
      if f.lower().endswith(_IMAGE_EXTENSIONS))
  if not files:
    raise ValueError(
        f"dataset='folder:{path}' holds no .png/.jpg/.jpeg images.")
  if len(files) < 10:
    return files  # Too few to hold out a test split: both splits use all.
  is_test = [i % 10 == 9 for i in range(len(files))]
  return [f for f, t in zip(files, is_test) if t == (split == "test")]


def _folder_dataset(path: str, split: str, image_size: int,
                    channels: int) -> tf.data.Dataset:
  files = _folder_files(path, split)

  def decode(filename):
    data = tf.io.read_file(filename)
    image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    return _to_model_range(image, image_size), tf.constant(-1, tf.int32)

  return tf.data.Dataset.from_tensor_slices(files).map(
      decode, num_parallel_calls=tf.data.AUTOTUNE)


def _tfds_dataset(name: str, split: str, image_size: int,
                  data_dir: Optional[str], download: bool) -> tf.data.Dataset:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if name.startswith("lsun/") and split == "test":
    split = "validation"  # lsun has no test split.
  try:
    dataset = tfds.load(name, split=split, data_dir=data_dir,
                        download=download, shuffle_files=False)
  except Exception as error:  # tfds raises several types for a missing set.
    raise ValueError(
        f"dataset={name!r} could not be loaded from data_dir={data_dir!r} "
        f"with download={download}: {error}. Prepare it with "
        f"`tfds build {name}` or pass --download=true on a machine with "
        "network access.") from error

  def convert(example):
    label = example.get("label", tf.constant(-1, tf.int64))
    return (_to_model_range(example["image"], image_size),
            tf.cast(label, tf.int32))

  return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)


def examples(name: str, split: str = "train", image_size: int = 16, *,
             data_dir: Optional[str] = None, download: bool = False,
             folder_channels: int = 3) -> tf.data.Dataset:
  """Unbatched dataset of (image [S, S, C] float32 in [-1, 1], label int32)."""
  kind = _kind(name)
  _validate_split(split)
  if not isinstance(image_size, int) or image_size <= 0:
    raise ValueError(
        f"image_size={image_size!r} must be a positive integer, e.g. 16.")
  if kind == "digits":
    images, labels = digits_arrays(split, image_size)
    return tf.data.Dataset.from_tensor_slices((images, labels))
  if kind == "folder":
    return _folder_dataset(name[len("folder:"):], split, image_size,
                           folder_channels)
  return _tfds_dataset(name, split, image_size, data_dir, download)


def load(name: str = "digits", split: str = "train", image_size: int = 16,
         batch_size: int = 100, *, shuffle: bool = True, repeat: bool = True,
         seed: int = 0, data_dir: Optional[str] = None, download: bool = False,
         folder_channels: int = 3, drop_remainder: bool = True,
         shuffle_buffer: int = 10_000) -> tf.data.Dataset:
  """The input pipeline: batches of (images [B, S, S, C] in [-1, 1], labels [B]).

  Args:
    name: a source, see `VALID_NAMES_HELP`.
    split: 'train' or 'test'.
    image_size: output side length S in pixels (images are centre-cropped to a
      square and resized).
    batch_size: images per batch (the global batch under a tf.distribute
      strategy).
    shuffle, repeat, seed: shuffling (seeded, reshuffled each epoch) and
      infinite repetition, both on for training.
    data_dir, download: passed to `tfds.load`.
    folder_channels: channels decoded from `folder:` images (1 or 3).
    drop_remainder: keep every batch the same size (needed for training).
  """
  if not isinstance(batch_size, int) or batch_size <= 0:
    raise ValueError(
        f"batch_size={batch_size!r} must be a positive integer, e.g. 100.")
  dataset = examples(name, split, image_size, data_dir=data_dir,
                     download=download, folder_channels=folder_channels)
  if shuffle:
    dataset = dataset.shuffle(shuffle_buffer, seed=seed,
                              reshuffle_each_iteration=True)
  if repeat:
    dataset = dataset.repeat()
  dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
  return dataset.prefetch(tf.data.AUTOTUNE)


def arrays(name: str, split: str, image_size: int, *,
           max_examples: Optional[int] = None,
           **kwargs) -> tuple[np.ndarray, np.ndarray]:
  """A whole split (or its first `max_examples`) as numpy arrays."""
  if _kind(name) == "digits":
    images, labels = digits_arrays(split, image_size)
  else:
    dataset = examples(name, split, image_size, **kwargs)
    if max_examples:
      dataset = dataset.take(max_examples)
    pairs = list(dataset.batch(1024).as_numpy_iterator())
    if not pairs:
      raise ValueError(f"dataset={name!r} split={split!r} is empty.")
    images = np.concatenate([p[0] for p in pairs])
    labels = np.concatenate([p[1] for p in pairs])
  if max_examples:
    images, labels = images[:max_examples], labels[:max_examples]
  return images, labels
