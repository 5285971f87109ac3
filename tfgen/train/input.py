"""Training input whose order is a pure function of (seed, step).

Global batch k holds examples k*B .. (k+1)*B - 1 of one endless stream in
which epoch e is the train split shuffled (a `shuffle_buffer`-sized buffer:
the whole split for digits) with a seed made from (seed, e), one epoch after
another. A run resumed at step s starts the stream at example s*B, reading
at most one epoch to skip into it, so it sees exactly the batches that an
uninterrupted run sees; so does a run restored after a divergence.

Under a strategy each input pipeline (one per worker) reads the same stream
and keeps the rows of its replicas: of R replicas, global replica r (its
`replica_id_in_sync_group`, global across workers) gets rows r*B/R ..
(r+1)*B/R - 1 of every global batch, whichever worker it is on. A
multi-worker step therefore sees the same examples, in the same rows, as a
one-device step with the same global batch, and the model's global noise
batch (sliced by the same replica id) matches them row for row. The cost:
every worker reads, decodes and drops the rows of the others (cheap for
in-memory digits; for large image datasets it multiplies input work by the
number of workers, which matters only if input, not the Langevin chains,
limits the step rate).
"""

from __future__ import annotations

import tensorflow as tf

from tfgen import config as config_lib
from tfgen import data
from tfgen import families
from tfgen.core import seeds

SHUFFLE_BUFFER = 10_000


def num_examples(dataset: tf.data.Dataset) -> int:
  """Examples in one pass of a finite dataset (counted if not known)."""
  count = int(dataset.cardinality())
  if count == tf.data.INFINITE_CARDINALITY:
    raise ValueError("The training split is infinite; tfgen needs a finite "
                     "split to define epochs.")
  if count == tf.data.UNKNOWN_CARDINALITY:
    count = int(dataset.reduce(tf.constant(0, tf.int64),
                               lambda total, _: total + 1))
  return count


def epoch_seed(seed: int, epoch: tf.Tensor) -> tf.Tensor:
  """int64 shuffle seed of `epoch` (a pure function of seed and epoch)."""
  pair = tf.random.experimental.stateless_fold_in(
      seeds.run_stream(seed, seeds.DATA_ORDER), tf.cast(epoch, tf.int32))
  high = tf.bitwise.left_shift(tf.cast(pair[0], tf.int64), 32)
  low = tf.bitwise.bitwise_and(tf.cast(pair[1], tf.int64), 0xFFFFFFFF)
  return tf.bitwise.bitwise_or(high, low)


def example_stream(config: config_lib.ExperimentConfig, start: int = 0,
                   shuffle_buffer: int = SHUFFLE_BUFFER) -> tf.data.Dataset:
  """The endless (image, label) stream from its `start`-th example."""
  d = config.data
  examples = data.examples(d.dataset, "train", d.image_size,
                           data_dir=d.data_dir, download=d.download,
                           folder_channels=d.folder_channels)
  count = num_examples(examples)
  if count == 0:
    raise ValueError(f"dataset={d.dataset!r} has no training examples.")
  seed = seeds.RunSeeds.from_seed(config.train.seed).data

  def epoch(index):
    # The order is a function of the run's seed alone: the graph-level seed
    # that `tf.random.set_seed` gives this traced function would otherwise
    # join the shuffle's seed pair (and, when it is 0, make TF test the
    # tensor seed as a Python bool).
    tf.compat.v1.get_default_graph().seed = None
    return examples.shuffle(shuffle_buffer, seed=epoch_seed(seed, index),
                            reshuffle_each_iteration=False)

  epochs = tf.data.Dataset.range(start // count, 2**62)
  return epochs.flat_map(epoch).skip(start % count)


def global_batches(config: config_lib.ExperimentConfig,
                   start_step: int = 0) -> tf.data.Dataset:
  """Global batches (images [B, S, S, C], labels [B]) from `start_step`.

  A family with a batch transform (`tfgen.families`; LAPGAN's Laplacian
  pyramid) gets each batch mapped through it.
  """
  batch = config.train.batch_size
  stream = example_stream(config, start_step * batch)
  batches = stream.batch(batch, drop_remainder=True)
  transform = families.batch_transform(config)
  if transform is not None:
    batches = batches.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
  return batches


def distributed_batches(strategy: tf.distribute.Strategy,
                        config: config_lib.ExperimentConfig,
                        start_step: int = 0):
  """A distributed dataset: each replica's rows of every global batch."""
  batch = config.train.batch_size

  def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
    replicas = context.num_replicas_in_sync
    local = replicas // context.num_input_pipelines
    per_replica = batch // replicas
    first = context.input_pipeline_id * local * per_replica

    def split(*batch):
      rows = slice(first, first + local * per_replica)
      return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(
          lambda t: tf.reshape(t[rows], [local, per_replica] +
                               t.shape[1:].as_list()),
          batch[0] if len(batch) == 1 else batch))

    options = tf.data.Options()
    # Sharding is done above, by rows; tf.data must not shard again.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF)
    dataset = global_batches(config, start_step).flat_map(split)
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)

  return strategy.distribute_datasets_from_function(dataset_fn)
