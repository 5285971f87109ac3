"""tfgen.metrics.classifier: real training on 8x8 digits, caching."""

import os
import sys

import numpy as np
import pytest

from tfgen import data
from tfgen.metrics import classifier

# A quick recipe for the cache tests; the accuracy test uses the default one.
QUICK = classifier.TrainingSettings(num_epochs=1, batch_size=128)


@pytest.fixture(scope="module")
def digits_bundle(tmp_path_factory):
  cache_dir = str(tmp_path_factory.mktemp("classifiers"))
  return classifier.get_classifier("digits", 8, cache_dir)


def test_classifier_reaches_high_test_accuracy_on_digits(digits_bundle):
  assert digits_bundle.trained_now
  assert digits_bundle.test_accuracy > 0.93
  test_images, test_labels = data.arrays("digits", "test", 8)
  assert digits_bundle.accuracy(test_images, test_labels) == pytest.approx(
      digits_bundle.test_accuracy)


def test_outputs_are_probabilities_and_penultimate_features(digits_bundle):
  images, _ = data.arrays("digits", "test", 8, max_examples=20)
  probabilities, features = digits_bundle.outputs(images)
  assert probabilities.shape == (20, 10) and features.shape == (20, 128)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
  assert features.min() >= 0.0  # ReLU activations.
  np.testing.assert_array_equal(digits_bundle.features(images), features)


def test_images_of_another_size_are_rejected(digits_bundle):
  with pytest.raises(ValueError, match=r"shape \(2, 16, 16, 1\).*'digits'"):
    digits_bundle.probabilities(np.zeros((2, 16, 16, 1), np.float32))


def test_cached_classifier_is_reused_not_retrained(digits_bundle):
  modified = os.path.getmtime(digits_bundle.path)
  cache_dir = os.path.dirname(digits_bundle.path)
  again = classifier.get_classifier("digits", 8, cache_dir)
  assert not again.trained_now
  assert again.path == digits_bundle.path
  assert again.test_accuracy == digits_bundle.test_accuracy
  assert os.path.getmtime(again.path) == modified
  images, _ = data.arrays("digits", "test", 8, max_examples=10)
  np.testing.assert_allclose(again.probabilities(images),
                             digits_bundle.probabilities(images), atol=1e-6)


def test_corrupt_cache_is_retrained(tmp_path):
  path = classifier.cache_path("digits", 8, str(tmp_path))
  first = classifier.get_classifier("digits", 8, str(tmp_path), settings=QUICK)
  assert first.trained_now and first.path == path
  with open(path, "wb") as f:
    f.write(b"not a keras file")
  second = classifier.get_classifier("digits", 8, str(tmp_path),
                                     settings=QUICK)
  assert second.trained_now
  third = classifier.get_classifier("digits", 8, str(tmp_path),
                                    settings=QUICK)
  assert not third.trained_now


def test_cache_trained_with_another_recipe_is_retrained(tmp_path):
  classifier.get_classifier("digits", 8, str(tmp_path), settings=QUICK)
  other = classifier.TrainingSettings(num_epochs=1, batch_size=128, seed=1)
  assert classifier.get_classifier("digits", 8, str(tmp_path),
                                   settings=other).trained_now


def test_same_seed_trains_the_same_weights():
  images, labels = data.arrays("digits", "train", 8, max_examples=256)
  settings = classifier.TrainingSettings(num_epochs=1, batch_size=64)
  first, second = (classifier.train_classifier(images, labels, 10, settings)
                   for _ in range(2))
  for a, b in zip(first.get_weights(), second.get_weights()):
    np.testing.assert_array_equal(a, b)


def test_cache_path_is_one_safe_file_per_dataset_and_size(tmp_path,
                                                          monkeypatch):
  folder = str(tmp_path)
  paths = {classifier.cache_path(name, size, folder)
           for name in ("lsun/a_b", "lsun_a/b", "digits")
           for size in (8, 16)}
  assert len(paths) == 6
  assert all(os.path.dirname(p) == folder and p.endswith(".keras")
             for p in paths)
  monkeypatch.setenv(classifier.CACHE_DIR_ENV, folder)
  assert os.path.dirname(classifier.cache_path("digits", 8)) == folder


def test_unlabelled_or_unknown_dataset_is_rejected(tmp_path):
  with pytest.raises(ValueError, match="dataset='celeb_a' has no class"):
    classifier.get_classifier("celeb_a", 8, str(tmp_path))
  with pytest.raises(ValueError, match="dataset='nope' is not a known"):
    classifier.get_classifier("nope", 8, str(tmp_path))


def test_bad_training_settings_are_rejected():
  with pytest.raises(ValueError, match="num_epochs=0"):
    classifier.TrainingSettings(num_epochs=0)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
