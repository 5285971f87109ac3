"""tfgen.metrics.sample_quality on hand-made probabilities and features."""

import sys

import numpy as np
import pytest

from tfgen.metrics import sample_quality


def one_hot(labels, num_classes=10):
  return np.eye(num_classes)[np.asarray(labels)]


def test_classifier_score_is_one_for_a_single_class():
  assert sample_quality.classifier_score(one_hot([3] * 50)) == pytest.approx(1)


def test_classifier_score_is_one_when_every_image_is_uncertain():
  uniform = np.full((40, 10), 0.1)
  assert sample_quality.classifier_score(uniform) == pytest.approx(1.0)


def test_classifier_score_is_the_number_of_confident_balanced_classes():
  probs = one_hot(np.arange(100) % 10)
  assert sample_quality.classifier_score(probs) == pytest.approx(10.0)
  probs = one_hot(np.arange(100) % 4)
  assert sample_quality.classifier_score(probs) == pytest.approx(4.0)


def test_classifier_score_drops_when_confidence_drops():
  confident = one_hot(np.arange(100) % 10)
  blurred = 0.5 * confident + 0.05
  assert (1.0 < sample_quality.classifier_score(blurred)
          < sample_quality.classifier_score(confident))


def test_probabilities_that_are_logits_are_rejected():
  logits = np.random.default_rng(0).normal(size=(8, 10))
  with pytest.raises(ValueError, match="probs"):
    sample_quality.classifier_score(logits)
  with pytest.raises(ValueError, match="sum to 1"):
    sample_quality.classifier_score(np.abs(logits))
  with pytest.raises(ValueError, match=r"\[N, K\]"):
    sample_quality.mean_top_probability(np.ones(10) / 10)


def test_classes_covered_ignores_classes_below_the_threshold():
  # 97 images of class 0, 3 of class 1 (exactly 3%), 0 of the others.
  probs = one_hot([0] * 97 + [1] * 3)
  assert sample_quality.classes_covered(probs) == 2
  assert sample_quality.classes_covered(probs, min_fraction=0.04) == 1
  assert sample_quality.classes_covered(one_hot(np.arange(50) % 10)) == 10


def test_classes_covered_rejects_a_fraction_outside_zero_to_one():
  with pytest.raises(ValueError, match="min_fraction=0"):
    sample_quality.classes_covered(one_hot([1, 2]), min_fraction=0)


def test_mean_top_probability_is_the_average_confidence():
  probs = np.array([[0.9, 0.1], [0.3, 0.7]])
  assert sample_quality.mean_top_probability(probs) == pytest.approx(0.8)


def test_frechet_distance_of_identical_sets_is_zero():
  features = np.random.default_rng(0).normal(size=(200, 16))
  assert sample_quality.frechet_distance(features, features) == pytest.approx(
      0.0, abs=1e-8)


def test_frechet_distance_grows_with_mean_shift():
  rng = np.random.default_rng(1)
  base = rng.normal(size=(300, 8))
  other = rng.normal(size=(300, 8))
  distances = [sample_quality.frechet_distance(base, other + shift)
               for shift in (0.0, 0.5, 1.0, 2.0)]
  assert distances == sorted(distances)
  assert distances[0] < 0.5 < distances[-1]


def test_frechet_distance_matches_the_closed_form_for_an_affine_copy():
  # b = 2 a + c: mean_b = 2 mean_a + c, S_b = 4 S_a, sqrtm(S_a S_b) = 2 S_a, so
  # d = ||mean_a + c||^2 + trace(S_a + 4 S_a - 4 S_a).
  rng = np.random.default_rng(2)
  a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
  c = rng.normal(size=6)
  expected = (np.sum((a.mean(0) + c)**2)
              + np.trace(np.cov(a, rowvar=False)))
  assert sample_quality.frechet_distance(a, 2 * a + c) == pytest.approx(
      expected, rel=1e-6)


def test_frechet_distance_is_finite_for_singular_covariances():
  # ReLU features: dead (all-zero) units and fewer images than features.
  rng = np.random.default_rng(3)
  a = np.maximum(rng.normal(size=(20, 64)), 0.0)
  b = np.maximum(rng.normal(size=(30, 64)) + 0.3, 0.0)
  a[:, :10] = 0.0
  b[:, :10] = 0.0
  distance = sample_quality.frechet_distance(a, b)
  assert np.isfinite(distance) and distance > 0.0


def test_frechet_distance_with_fewer_images_than_features_is_exact():
  # N < D takes the singular-value route: it must equal the square roots of
  # the eigenvalues of S_a S_b, and the closed form of an affine copy.
  rng = np.random.default_rng(4)
  a = rng.normal(size=(7, 12))
  b = rng.normal(size=(9, 12)) + 0.5
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  eigenvalues = np.real(np.linalg.eigvals(cov_a @ cov_b))
  expected = (np.sum((a.mean(0) - b.mean(0))**2) + np.trace(cov_a)
              + np.trace(cov_b) - 2.0 * np.sum(np.sqrt(np.maximum(
                  eigenvalues, 0.0))))
  # rel=1e-6: the rank-deficient eigenvalues' round-off (~1e-15) enters
  # the reference through its square root.
  assert sample_quality.frechet_distance(a, b) == pytest.approx(expected,
                                                                 rel=1e-6)
  c = rng.normal(size=12)
  assert sample_quality.frechet_distance(a, 2 * a + c) == pytest.approx(
      np.sum((a.mean(0) + c)**2) + np.trace(cov_a), rel=1e-9)
  assert sample_quality.frechet_distance(a, a) == pytest.approx(0.0,
                                                                abs=1e-12)


def test_frechet_distance_rejects_features_of_different_layers():
  with pytest.raises(ValueError, match="same feature layer"):
    sample_quality.frechet_distance(np.ones((4, 3)), np.ones((4, 5)))
  with pytest.raises(ValueError, match="N >= 2"):
    sample_quality.frechet_distance(np.ones((1, 3)), np.ones((4, 3)))


def test_nearest_neighbour_distance_is_zero_for_training_images():
  train = np.random.default_rng(4).uniform(-1, 1, size=(30, 4, 4, 1))
  distance = sample_quality.nearest_neighbour_distance(train[5:9], train)
  assert distance == pytest.approx(0.0, abs=1e-6)


def test_nearest_neighbour_distance_is_measured_in_unit_pixel_space():
  # All-black samples vs all-white training images: each of the 4 * 4 * 3
  # pixels differs by 1 in [0, 1] units, so the distance is sqrt(48).
  black = -np.ones((5, 4, 4, 3))
  train = np.concatenate([np.ones((3, 4, 4, 3)), np.zeros((1, 4, 4, 3))])
  assert sample_quality.nearest_neighbour_distance(
      black, train[:3]) == pytest.approx(np.sqrt(48))
  # The grey image (0 in [-1, 1], 0.5 in [0, 1]) is the closest.
  assert sample_quality.nearest_neighbour_distance(
      black, train) == pytest.approx(0.5 * np.sqrt(48))


def test_nearest_neighbour_chunking_does_not_change_the_distances():
  rng = np.random.default_rng(5)
  samples = rng.uniform(-1, 1, size=(23, 3, 3, 1))
  train = rng.uniform(-1, 1, size=(17, 3, 3, 1))
  whole = sample_quality.nearest_neighbour_distances(samples, train)
  chunked = sample_quality.nearest_neighbour_distances(
      samples, train, max_chunk_elements=40)
  np.testing.assert_allclose(chunked, whole, rtol=1e-12)
  brute = np.sqrt((((samples[:, None] - train[None]) / 2.0)**2).sum(
      axis=(2, 3, 4))).min(axis=1)
  np.testing.assert_allclose(whole, brute, rtol=1e-9)


def test_nearest_neighbour_rejects_images_of_another_size():
  with pytest.raises(ValueError, match="same image size"):
    sample_quality.nearest_neighbour_distance(np.zeros((2, 4, 4, 1)),
                                              np.zeros((2, 8, 8, 1)))


class BrightnessClassifier:
  """Stand-in bundle: class = brightness decile; features = pixel means."""

  def outputs(self, images):
    brightness = (images.mean(axis=(1, 2, 3)) + 1.0) / 2.0
    labels = np.minimum((brightness * 10).astype(int), 9)
    features = images.reshape(len(images), -1)[:, :4].astype(np.float64)
    return one_hot(labels), features


def test_evaluate_images_reports_every_number_as_plain_python():
  rng = np.random.default_rng(6)
  images = rng.uniform(-1, 1, size=(40, 4, 4, 1)).astype(np.float32)
  real = rng.uniform(-1, 1, size=(20, 4, 4, 1)).astype(np.float32)
  scores = sample_quality.evaluate_images(images, BrightnessClassifier(),
                                          real, real)
  assert set(scores) == {"classifier_score", "classes_covered",
                         "mean_top_probability", "frechet_distance",
                         "nearest_train_distance", "num_images"}
  assert scores["num_images"] == 40
  assert scores["mean_top_probability"] == 1.0
  assert all(type(v) in (int, float) for v in scores.values())


def test_real_images_are_compared_half_against_half():
  rng = np.random.default_rng(7)
  real = rng.uniform(-1, 1, size=(40, 4, 4, 1)).astype(np.float32)
  bundle = BrightnessClassifier()
  scores = sample_quality.evaluate_real_images(real, bundle, real)
  features = bundle.outputs(real)[1]
  assert scores["frechet_distance"] == pytest.approx(
      sample_quality.frechet_distance(features[0::2], features[1::2]))
  assert scores["frechet_distance"] > 0.0
  assert scores["nearest_train_distance"] == pytest.approx(0.0, abs=1e-6)


def test_per_class_accuracy_counts_top_classes_that_match_the_labels():
  probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0],
                    [0.1, 0.9, 0.0]])
  result = sample_quality.per_class_accuracy(probs, np.array([0, 1, 1, 1]))
  assert result["accuracy"] == pytest.approx(0.75)
  assert result["per_class"] == {"0": 1.0, "1": pytest.approx(2 / 3),
                                 "2": None}
  assert result["counts"] == {"0": 1, "1": 3, "2": 0}


def test_per_class_accuracy_rejects_labels_outside_the_classes():
  probs = np.full((2, 3), 1 / 3)
  with pytest.raises(ValueError, match=r"classes \[0, 2\]"):
    sample_quality.per_class_accuracy(probs, np.array([0, 3]))
  with pytest.raises(ValueError, match="one per image"):
    sample_quality.per_class_accuracy(probs, np.array([0.0, 1.0]))

def test_nearest_neighbours_are_sorted_and_find_the_copies():
  rng = np.random.default_rng(0)
  train = rng.uniform(-1, 1, (20, 4, 4, 1))
  samples = np.stack([train[7], train[3] + 0.01])
  indices, distances = sample_quality.nearest_neighbours(samples, train, 3,
                                                         max_chunk_elements=7)
  assert indices.shape == distances.shape == (2, 3)
  assert indices[0, 0] == 7 and distances[0, 0] < 1e-6
  assert indices[1, 0] == 3
  assert np.all(np.diff(distances, axis=1) >= 0)
  brute = np.sqrt((((samples[:, None] - train[None]) / 2)**2).sum(
      axis=(2, 3, 4)))
  np.testing.assert_allclose(distances, np.sort(brute, axis=1)[:, :3],
                             atol=1e-9)
  with pytest.raises(ValueError, match="k=21 must be an int in"):
    sample_quality.nearest_neighbours(samples, train, 21)

if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
