"""tfgen.metrics.diversity: within-class diversity and chain mixing."""

import sys

import numpy as np
import pytest

from tfgen.metrics import diversity


def _images(count, seed=0, size=8):
  rng = np.random.default_rng(seed)
  return rng.uniform(-1, 1, (count, size, size, 1)).astype(np.float32)


def test_pairwise_distance_matches_a_direct_loop():
  images = _images(5)
  flat = (images.reshape(5, -1) + 1) / 2
  expected = np.mean([np.linalg.norm(flat[i] - flat[j])
                      for i in range(5) for j in range(i + 1, 5)])
  assert diversity.mean_pairwise_distance(images) == pytest.approx(expected)


def test_identical_images_have_no_diversity_and_ssim_one():
  images = np.repeat(_images(1), 6, axis=0)
  assert diversity.mean_pairwise_distance(images) == pytest.approx(0, abs=1e-6)
  assert diversity.mean_pairwise_ssim(images) == pytest.approx(1.0, abs=1e-4)


def test_within_class_ratio_is_one_against_itself_and_zero_for_copies():
  images = _images(20)
  labels = np.arange(20) % 2
  same = diversity.within_class_diversity(images, labels, images, labels)
  assert same["distance_ratio"] == pytest.approx(1.0)
  assert same["ssim"] == pytest.approx(same["real_ssim"])
  copies = np.concatenate([np.repeat(images[:1], 10, 0),
                           np.repeat(images[1:2], 10, 0)])
  collapsed = diversity.within_class_diversity(
      copies, np.repeat([0, 1], 10), images, labels)
  assert collapsed["distance_ratio"] == pytest.approx(0.0, abs=1e-6)
  assert collapsed["ssim"] > same["ssim"]
  assert set(collapsed["per_class"]) == {"0", "1"}


def test_chain_mixing_counts_moves_and_distinct_neighbours():
  train = _images(4, seed=1)
  still = [train[:2]] * 3
  result = diversity.chain_mixing(still, train, np.array([0, 1, 2, 3]))
  assert result["mean_change"] == pytest.approx(0.0, abs=1e-6)
  assert result["distinct_neighbours"] == 1.0
  moving = [train[[0, 1]], train[[2, 3]], train[[0, 1]]]
  result = diversity.chain_mixing(moving, train, np.array([0, 1, 2, 3]))
  assert result["distinct_neighbours"] == 2.0
  assert result["distinct_neighbour_classes"] == 2.0
  assert result["mean_change"] > 0


def test_bad_inputs_are_refused():
  with pytest.raises(ValueError, match=">= 2 images"):
    diversity.mean_pairwise_distance(_images(1))
  with pytest.raises(ValueError, match="labels must be int"):
    diversity.within_class_diversity(_images(4), [0, 1], _images(4),
                                     [0, 0, 1, 1])
  with pytest.raises(ValueError, match=">= 2 snapshots"):
    diversity.chain_mixing([_images(2)], _images(3))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
