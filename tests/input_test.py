"""tfgen.train.input: batches are a pure function of (seed, step)."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfgen import config as config_lib
from tfgen import data
from tfgen.train import input as input_lib


def digits_config(batch_size=8, seed=0):
  return config_lib.ExperimentConfig(
      data=config_lib.DataConfig(dataset="digits", image_size=8),
      model=config_lib.MultigridConfig(grid_sizes=(1, 4, 8)),
      train=config_lib.TrainConfig(batch_size=batch_size, seed=seed))


def batches(config, start_step, count):
  return [(images.numpy(), labels.numpy()) for images, labels in
          input_lib.global_batches(config, start_step).take(count)]


def test_resuming_at_step_s_sees_the_batches_of_an_uninterrupted_run():
  config = digits_config()
  whole = batches(config, 0, 6)
  resumed = batches(config, 4, 2)
  for (images, labels), (want_images, want_labels) in zip(resumed, whole[4:]):
    np.testing.assert_array_equal(images, want_images)
    np.testing.assert_array_equal(labels, want_labels)


def test_epochs_are_reshuffled_and_seeds_give_other_orders():
  config = digits_config(batch_size=100)
  count = input_lib.num_examples(tf.data.Dataset.range(1000).filter(
      lambda x: x % 2 == 0))  # Unknown cardinality: counted.
  assert count == 500
  first_epoch = batches(config, 0, 1)[0][1]
  split = input_lib.num_examples(data.examples("digits", "train", 8))
  later = batches(config, split // 100 + 2, 1)[0][1]  # The second epoch.
  other_seed = batches(digits_config(batch_size=100, seed=1), 0, 1)[0][1]
  assert not np.array_equal(first_epoch, later)
  assert not np.array_equal(first_epoch, other_seed)


@pytest.mark.parametrize("global_seed", [0, 5])
def test_the_order_ignores_the_global_seed_a_user_set(global_seed):
  # tf.random.set_seed(0) once made the shuffle test a tensor as a bool.
  config = digits_config()
  want = batches(config, 0, 2)
  tf.random.set_seed(global_seed)
  try:
    got = batches(config, 0, 2)
  finally:
    tf.random.set_seed(None)
  for (images, labels), (want_images, want_labels) in zip(got, want):
    np.testing.assert_array_equal(images, want_images)
    np.testing.assert_array_equal(labels, want_labels)


def test_epoch_seed_is_a_pure_function_of_seed_and_epoch():
  seeds = [int(input_lib.epoch_seed(seed, epoch))
           for seed in (0, 1) for epoch in (0, 1)]
  assert len(set(seeds)) == 4
  assert int(input_lib.epoch_seed(1, 1)) == seeds[3]


def test_infinite_split_is_refused():
  with pytest.raises(ValueError, match="infinite"):
    input_lib.num_examples(tf.data.Dataset.range(3).repeat())


def test_a_strategys_replica_sees_the_rows_of_the_global_batch():
  config = digits_config(batch_size=8)
  strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
  dataset = input_lib.distributed_batches(strategy, config, start_step=2)
  images, _ = next(iter(dataset))
  want = batches(config, 2, 1)[0][0]
  np.testing.assert_array_equal(
      strategy.experimental_local_results(images)[0], want)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
