"""Behaviour of tfgen.mcmc.noise: noise sources and per-example seeds."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfgen.mcmc import noise


def test_seed_pairs_split_64_bit_seeds():
  pairs = noise.seed_pairs(tf.constant([0, 5, 2**31 + 7], tf.int64))
  np.testing.assert_array_equal(pairs, [[0, 0], [0, 5], [1, 7]])


def test_seed_pairs_keep_pairs():
  np.testing.assert_array_equal(noise.seed_pairs([[3, 4]]), [[3, 4]])


def test_example_seeds_do_not_depend_on_the_count():
  np.testing.assert_array_equal(noise.example_seeds(7, 2),
                                noise.example_seeds(7, 5)[:2])
  np.testing.assert_array_equal(noise.example_seeds(7, 2, first_index=3),
                                noise.example_seeds(7, 5)[3:])


def test_as_seed_rejects_other_shapes():
  with pytest.raises(ValueError, match="must be an int or a pair"):
    noise.as_seed([1, 2, 3])


def test_per_example_noise_row_depends_only_on_its_seed():
  pairs = noise.example_seeds(1, 3)
  batch = noise.per_example_noise(pairs, [[4, 2, 2, 1], None])
  alone = noise.per_example_noise(pairs[1:2], [[4, 2, 2, 1], None])
  assert batch[1] is None
  for step in range(4):
    rows = batch[0](None, None, step)
    assert rows.shape == (3, 2, 2, 1)
    np.testing.assert_array_equal(alone[0](None, None, step)[0], rows[1])
  assert np.abs(batch[0](None, None, 0) - batch[0](None, None, 1)).max() > 0


def test_per_example_noise_is_standard_normal():
  values = noise.per_example_noise(noise.example_seeds(0, 200),
                                   [[2, 8, 8, 1]])[0](None, None, 1).numpy()
  # 12,800 draws: mean within 4 standard errors, variance within 5%.
  assert abs(values.mean()) < 4 / np.sqrt(values.size)
  assert abs(values.var() - 1) < 0.05


def test_per_example_choice_is_in_range_and_seeded():
  pairs = noise.example_seeds(3, 50)
  choices = noise.per_example_choice(pairs, 7).numpy()
  assert choices.min() >= 0 and choices.max() < 7
  assert len(set(choices.tolist())) > 3
  np.testing.assert_array_equal(choices, noise.per_example_choice(pairs, 7))


def test_global_batch_noise_outside_a_strategy_is_the_whole_draw():
  source = noise.global_batch_noise(tf.constant(3))
  np.testing.assert_array_equal(
      source(tf.constant([3, 2]), tf.constant([1, 2])),
      tf.random.stateless_normal([3, 2], seed=[1, 2]))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
