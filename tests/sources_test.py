"""Tests for tfgen.data.sources: digits, image folders, tfds (mocked), errors."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from tfgen.data import sources

NUM_DIGITS = 1797  # scikit-learn's bundled 8x8 digits.


# --- digits -----------------------------------------------------------------


def test_digits_split_is_a_fixed_seeded_partition():
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  train_images, train_labels = sources.digits_arrays("train", 8)
  test_images, test_labels = sources.digits_arrays("test", 8)
  assert len(test_labels) == round(sources.DIGITS_TEST_FRACTION * NUM_DIGITS)
  assert len(train_labels) + len(test_labels) == NUM_DIGITS

  # Fixed: a second call returns the same split, image for image.
  again_images, again_labels = sources.digits_arrays("train", 8)
  np.testing.assert_array_equal(train_images, again_images)
  np.testing.assert_array_equal(train_labels, again_labels)

  # A partition: train + test is the whole set as a multiset of
  # (image, label), so no example is in both (some images repeat in digits,
  # hence a multiset, not a set).
  digits = load_digits()
  full = tf.image.resize(
      (digits.images.astype(np.float32) / 16.0)[..., None], [8, 8],
      antialias=True).numpy() * 2.0 - 1.0

  def keys(images, labels):
    return sorted(np.round(image, 4).tobytes() + bytes([label])
                  for image, label in zip(images, labels))

  assert keys(np.concatenate([train_images, test_images]),
              np.concatenate([train_labels, test_labels])) == keys(
                  full, digits.target)

  # Seeded shuffle, not the first 80%.
  assert not np.array_equal(train_labels, digits.target[:len(train_labels)])


@pytest.mark.parametrize("image_size", [4, 8, 16, 28, 32])
@pytest.mark.parametrize("split", ["train", "test"])
def test_digits_shapes_and_ranges(image_size, split):
  images, labels = sources.digits_arrays(split, image_size)
  assert images.dtype == np.float32 and labels.dtype == np.int32
  assert images.shape == (len(labels), image_size, image_size, 1)
  assert images.min() >= -1.0 and images.max() <= 1.0
  assert images.min() == -1.0  # The background is black.
  assert images.max() > 0.5
  assert set(labels.tolist()) == set(range(10))


def test_load_digits_batches():
  dataset = sources.load("digits", "train", image_size=16, batch_size=32,
                         seed=3)
  assert dataset.element_spec[0].shape == (32, 16, 16, 1)
  assert dataset.element_spec[1].shape == (32,)
  assert dataset.element_spec[0].dtype == tf.float32
  assert dataset.element_spec[1].dtype == tf.int32
  batches = list(dataset.take(3).as_numpy_iterator())
  for images, labels in batches:
    assert images.shape == (32, 16, 16, 1) and labels.shape == (32,)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert labels.min() >= 0 and labels.max() <= 9
  # Shuffling is seeded.
  first = next(iter(sources.load("digits", "train", 16, 32, seed=3)))
  np.testing.assert_array_equal(first[1], batches[0][1])


@pytest.mark.parametrize("drop_remainder,sizes", [
    (True, [100, 100, 100]), (False, [100, 100, 100, 59])])
def test_load_drop_remainder(drop_remainder, sizes):
  dataset = sources.load("digits", "test", image_size=8, batch_size=100,
                         shuffle=False, repeat=False,
                         drop_remainder=drop_remainder)
  assert [len(labels) for _, labels in dataset] == sizes


def test_load_repeats_forever():
  dataset = sources.load("digits", "test", image_size=4, batch_size=100)
  assert dataset.cardinality() == tf.data.INFINITE_CARDINALITY
  assert len(list(dataset.take(10))) == 10


def test_arrays_max_examples():
  images, labels = sources.arrays("digits", "test", 8, max_examples=50)
  assert images.shape == (50, 8, 8, 1) and labels.shape == (50,)


# --- argument errors --------------------------------------------------------


@pytest.mark.parametrize("name", ["imagenet", "lsun", "lsun/", "folder:",
                                  "MNIST", ""])
def test_unknown_dataset_raises(name):
  with pytest.raises(ValueError) as error:
    sources.load(name)
  assert f"dataset={name!r}" in str(error.value)
  for function in (sources.validate_name, sources.num_channels,
                   sources.num_classes):
    with pytest.raises(ValueError, match="is not a known dataset"):
      function(name)


@pytest.mark.parametrize("split", ["validation", "TRAIN", "", "train[:10]"])
def test_bad_split_raises(split):
  with pytest.raises(ValueError) as error:
    sources.load("digits", split=split)
  assert f"split={split!r}" in str(error.value)
  with pytest.raises(ValueError):
    sources.digits_arrays(split, 8)


@pytest.mark.parametrize("image_size", [0, -16, 2.5, "16", None])
def test_bad_image_size_raises(image_size):
  with pytest.raises(ValueError) as error:
    sources.load("digits", image_size=image_size)
  assert f"image_size={image_size!r}" in str(error.value)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, None])
def test_bad_batch_size_raises(batch_size):
  with pytest.raises(ValueError) as error:
    sources.load("digits", batch_size=batch_size)
  assert f"batch_size={batch_size!r}" in str(error.value)


def test_names_channels_and_classes():
  assert sources.validate_name("lsun/bedroom") == "lsun/bedroom"
  expected = {"digits": (1, 10), "mnist": (1, 10), "cifar10": (3, 10),
              "svhn_cropped": (3, 10), "celeb_a": (3, 0),
              "lsun/bedroom": (3, 0), "lsun/church_outdoor": (3, 0),
              "folder:/some/where": (3, 0)}
  for name, (channels, classes) in expected.items():
    assert sources.num_channels(name) == channels, name
    assert sources.num_classes(name) == classes, name
  assert sources.num_channels("folder:/x", folder_channels=1) == 1
  assert sources.num_channels("cifar10", folder_channels=1) == 3


# --- folder: sources --------------------------------------------------------


def _write_png(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(np.asarray(array, np.uint8)).save(path)


def _folder_images(folder, split="train", image_size=8, channels=3):
  images, labels = sources.arrays(f"folder:{folder}", split, image_size,
                                  folder_channels=channels)
  assert np.all(labels == -1)
  return images


def test_folder_wide_image_is_centre_cropped(tmp_path):
  rng = np.random.default_rng(0)
  wide = rng.integers(0, 256, (20, 30, 3))  # height 20, width 30.
  _write_png(os.path.join(tmp_path, "wide.png"), wide)
  # At the crop's own size, resizing is the identity: the centre 20x20 square.
  image = _folder_images(tmp_path, image_size=20)[0]
  np.testing.assert_allclose(image, wide[:, 5:25] / 255.0 * 2.0 - 1.0,
                             atol=1e-5)


def test_folder_tall_image_is_centre_cropped_and_resized(tmp_path):
  # A 40x20 (height x width) image: red bands above and below the centre
  # 20x20 square, whose top half is white and bottom half black.
  tall = np.zeros((40, 20, 3))
  tall[:10], tall[30:] = [255, 0, 0], [255, 0, 0]
  tall[10:20] = 255
  _write_png(os.path.join(tmp_path, "tall.png"), tall)
  image = _folder_images(tmp_path, image_size=4)[0]
  assert image.shape == (4, 4, 3)
  assert image.min() >= -1.0 and image.max() <= 1.0
  # No red: the bands were cropped away, so all channels agree.
  np.testing.assert_allclose(image[..., 0], image[..., 1], atol=1e-5)
  np.testing.assert_allclose(image[..., 0], image[..., 2], atol=1e-5)
  # The outer rows come from pure regions; the inner rows blend (antialias).
  np.testing.assert_allclose(image[0], 1.0, atol=1e-5)
  np.testing.assert_allclose(image[3], -1.0, atol=1e-5)
  assert np.all(image[1] > image[2])


def test_folder_grey_and_rgb_channels(tmp_path):
  grey = np.full((6, 6), 51)  # 0.2 -> -0.6
  rgb = np.zeros((6, 6, 3))
  rgb[..., 1] = 255
  _write_png(os.path.join(tmp_path, "a_grey.png"), grey)
  _write_png(os.path.join(tmp_path, "b_rgb.png"), rgb)
  with open(os.path.join(tmp_path, "notes.txt"), "w") as f:
    f.write("not an image")

  as_rgb = _folder_images(tmp_path, image_size=3, channels=3)
  assert as_rgb.shape == (2, 3, 3, 3)
  np.testing.assert_allclose(as_rgb[0], -0.6, atol=1e-5)  # grey replicated
  np.testing.assert_allclose(as_rgb[1, ..., 1], 1.0, atol=1e-5)
  np.testing.assert_allclose(as_rgb[1, ..., 0], -1.0, atol=1e-5)

  as_grey = _folder_images(tmp_path, image_size=3, channels=1)
  assert as_grey.shape == (2, 3, 3, 1)
  np.testing.assert_allclose(as_grey[0], -0.6, atol=1e-5)
  # Pure green has luma ~0.59: grey, neither black nor white.
  assert -0.5 < as_grey[1].mean() < 0.5


def test_folder_load_batches_and_splits(tmp_path):
  for i in range(12):
    _write_png(os.path.join(tmp_path, f"sub{i % 2}", f"{i:02d}.png"),
               np.full((5, 7, 3), 20 * i))
  name = f"folder:{tmp_path}"
  dataset = sources.load(name, "train", image_size=4, batch_size=4,
                         shuffle=False, repeat=False, drop_remainder=False)
  sizes = [len(labels) for _, labels in dataset]
  assert sizes == [4, 4, 3]  # One file in ten is held out for "test".
  images, labels = next(iter(dataset))
  assert images.shape == (4, 4, 4, 3)
  np.testing.assert_array_equal(labels, [-1] * 4)
  test_images = _folder_images(tmp_path, "test", image_size=4)
  assert len(test_images) == 1
  train_images = _folder_images(tmp_path, "train", image_size=4)
  assert not np.any(np.all(train_images == test_images[0], axis=(1, 2, 3)))


def test_small_folder_serves_both_splits(tmp_path):
  for i in range(3):
    _write_png(os.path.join(tmp_path, f"{i}.png"), np.full((4, 4), 60 * i))
  assert len(_folder_images(tmp_path, "train")) == 3
  assert len(_folder_images(tmp_path, "test")) == 3


def test_empty_folder_raises(tmp_path):
  with open(os.path.join(tmp_path, "readme.txt"), "w") as f:
    f.write("no images here")
  with pytest.raises(ValueError) as error:
    sources.load(f"folder:{tmp_path}")
  assert f"folder:{tmp_path}" in str(error.value)
  assert "no .png" in str(error.value)


def test_missing_folder_raises(tmp_path):
  missing = os.path.join(tmp_path, "does_not_exist")
  with pytest.raises(ValueError) as error:
    sources.load(f"folder:{missing}")
  assert f"folder:{missing}" in str(error.value)
  assert "not a directory" in str(error.value)


# --- tfds datasets (mocked: no network, no files) ---------------------------


@pytest.mark.parametrize("name,channels,labelled", [
    ("mnist", 1, True), ("cifar10", 3, True), ("svhn_cropped", 3, True),
    ("celeb_a", 3, False), ("lsun/bedroom", 3, False)])
@pytest.mark.parametrize("split", ["train", "test"])
def test_tfds_sources(name, channels, labelled, split):
  assert sources.num_channels(name) == channels
  with tfds.testing.mock_data(num_examples=6):
    dataset = sources.load(name, split, image_size=8, batch_size=4,
                           shuffle=False, repeat=False, drop_remainder=False)
    batches = list(dataset.as_numpy_iterator())
  assert [len(labels) for _, labels in batches] == [4, 2]
  images = np.concatenate([b[0] for b in batches])
  labels = np.concatenate([b[1] for b in batches])
  assert images.shape == (6, 8, 8, channels) and images.dtype == np.float32
  assert labels.dtype == np.int32
  assert images.min() >= -1.0 and images.max() <= 1.0
  assert images.std() > 0.0
  if labelled:
    assert sources.num_classes(name) == 10
    assert labels.min() >= 0 and labels.max() <= 9
  else:
    assert sources.num_classes(name) == 0
    np.testing.assert_array_equal(labels, -1)


def test_tfds_arrays_max_examples():
  with tfds.testing.mock_data(num_examples=10):
    images, labels = sources.arrays("cifar10", "train", 16, max_examples=7)
  assert images.shape == (7, 16, 16, 3) and labels.shape == (7,)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
