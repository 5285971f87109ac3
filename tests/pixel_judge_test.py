"""tfgen.metrics.pixel_judge: the SVM second judge of apps.evaluate."""

import sys

import numpy as np
import pytest

from tfgen import data
from tfgen.metrics import pixel_judge


@pytest.fixture(scope="module")
def judge_and_test():
  train, train_labels = data.arrays("digits", "train", 16)
  test, test_labels = data.arrays("digits", "test", 16)
  return pixel_judge.PixelJudge().fit(train, train_labels), test, test_labels


def test_downsample_is_the_block_mean_in_zero_one():
  images = np.zeros([1, 4, 4, 1], np.float32) - 1.0
  images[0, :2, :2, 0] = 1.0  # The top-left 2x2 block is white.
  features = pixel_judge.downsample(images, 2)
  np.testing.assert_allclose(features, [[1.0, 0.0, 0.0, 0.0]])
  with pytest.raises(ValueError, match="multiple of 3"):
    pixel_judge.downsample(images, 3)


def test_real_test_digits_are_read_confidently_and_noise_is_not(
    judge_and_test):
  judge, test, labels = judge_and_test
  real = judge.scores(test, labels)
  assert real["class_accuracy"]["accuracy"] > 0.95
  assert real["mean_top_probability"] > 0.85 and real["classes_covered"] == 10
  noise = np.random.default_rng(0).uniform(-1, 1, test.shape)
  assert judge.scores(noise)["mean_top_probability"] < (
      real["mean_top_probability"] - 0.3)


def test_the_same_fit_gives_the_same_probabilities(judge_and_test):
  judge, test, _ = judge_and_test
  train, train_labels = data.arrays("digits", "train", 16)
  again = pixel_judge.PixelJudge().fit(train, train_labels)
  np.testing.assert_allclose(again.probabilities(test[:50]),
                             judge.probabilities(test[:50]), atol=1e-12)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
