"""tfgen.core.seeds: one table of salts, one split, weights without `random`."""

import random
import sys

import numpy as np
import pytest

import support
from tfgen import families
from tfgen.core import seeds


def test_every_salt_is_distinct_within_its_kind():
  stream_salts = [seeds.DATA_ORDER, seeds.MULTIGRID_TRAINING,
                  seeds.LAPGAN_TRAINING, seeds.GRAN_TRAINING,
                  seeds.PPGN_TRAINING]
  example_salts = [seeds.START_CHOICE, seeds.CLASS_START_CHOICE,
                   seeds.LAPGAN_CLASS_CHOICE]
  assert len(set(stream_salts)) == len(stream_salts)
  assert len(set(example_salts)) == len(example_salts)
  # Example salts are negative: they never equal a grid / level index.
  assert all(salt < 0 for salt in example_salts)


def test_a_run_stream_is_the_seed_and_the_salt():
  np.testing.assert_array_equal(
      seeds.run_stream(5, seeds.DATA_ORDER).numpy(), [5, seeds.DATA_ORDER])
  assert seeds.run_stream(2**31 + 3, 1).numpy()[0] == 3


def test_the_run_seed_is_split_once_into_its_uses():
  split = seeds.RunSeeds.from_seed(11)
  assert split == seeds.RunSeeds(data=11, model=11, init=11)


@pytest.mark.parametrize("family", families.names())
def test_initial_weights_follow_the_seed_and_leave_global_random_alone(
    family):
  random.seed(123)
  before = random.getstate()
  first = families.build_model(support.tiny_config(family, seed=4))
  assert random.getstate() == before  # Neither read nor changed.
  again = families.build_model(support.tiny_config(family, seed=4))
  other = families.build_model(support.tiny_config(family, seed=5))
  pairs = list(zip(first.trainable_weights, again.trainable_weights))
  for a, b in pairs:
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert any(np.abs(np.asarray(a) - np.asarray(b)).max() > 0
             for a, b in zip(first.trainable_weights, other.trainable_weights))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
