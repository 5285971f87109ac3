"""Noise sources for Langevin chains, and per-example seeds.

A noise source is a function `(shape, seed, step) -> N(0, I) of shape` that a
`LangevinKernel` calls once per step (`seed` is that step's int32[2] seed,
`step` the number of steps already taken). Three are provided:

* `standard_normal_noise` (in `langevin`): one draw for the whole batch.
* `global_batch_noise()`: under a `tf.distribute` strategy, draws the noise
  of the whole global batch and returns this replica's rows, so an example's
  noise does not depend on how the batch is split over replicas (a mirrored
  training step equals a single-device step) while replicas differ.
* `per_example_noise(...)`: every example's noise of every step comes from
  that example's own seed, so an example's chain does not depend on its
  batch-mates (what serving with one seed per instance needs).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfgen.core import seeds
from tfgen.mcmc import runner

NoiseFn = Callable[[tf.Tensor, tf.Tensor, Optional[tf.Tensor]], tf.Tensor]


def as_seed(seed) -> tf.Tensor:
  """An int or an int pair -> int32[2] seed tensor."""
  if isinstance(seed, (int, np.integer)):
    seed = (0, int(seed))
  seed = tf.convert_to_tensor(seed)
  if seed.shape != (2,):
    raise ValueError(f"seed={seed.numpy().tolist()} must be an int or a pair.")
  return tf.cast(seed, tf.int32)


def seed_pairs(seeds) -> tf.Tensor:
  """Per-instance seeds: int [B] -> int32 [B, 2]; int32 [B, 2] unchanged.

  A 64-bit seed s becomes the pair (s // 2**31 mod 2**31, s mod 2**31).
  """
  seeds = tf.convert_to_tensor(seeds)
  if seeds.shape.rank == 2:
    return tf.cast(seeds, tf.int32)
  seeds = tf.cast(seeds, tf.int64)
  high = tf.math.floormod(tf.math.floordiv(seeds, 2**31), 2**31)
  low = tf.math.floormod(seeds, 2**31)
  return tf.cast(tf.stack([high, low], axis=1), tf.int32)


def example_seeds(seed, num_examples: int, first_index: int = 0) -> tf.Tensor:
  """int32 [N, 2] seed pairs of examples first_index.. of one call's `seed`."""
  seed = as_seed(seed)
  return tf.stack([runner.fold_in(seed, first_index + i)
                   for i in range(num_examples)])


def num_replicas() -> int:
  """Replicas in sync in the current replica context (1 outside one)."""
  context = tf.distribute.get_replica_context()
  return 1 if context is None else context.num_replicas_in_sync


def global_batch_noise(local_batch: tf.Tensor) -> NoiseFn:
  """Noise source that slices this replica's rows from one global draw.

  `local_batch` is the number of examples on this replica (all replicas
  must hold the same number); replica r gets rows [r * b, (r + 1) * b).
  """
  def noise(shape, seed, step=None):
    del step
    context = tf.distribute.get_replica_context()
    replica_id = 0 if context is None else context.replica_id_in_sync_group
    global_shape = tf.concat([[local_batch * num_replicas()], shape[1:]], 0)
    start = tf.cast(replica_id, tf.int32) * local_batch
    return tf.random.stateless_normal(global_shape, seed)[
        start:start + local_batch]
  return noise


def per_example_noise(pairs: tf.Tensor,
                      shapes: Sequence[Optional[Sequence[int]]],
                      ) -> list[Optional[NoiseFn]]:
  """Noise sources whose rows come only from each example's seed pair.

  Args:
    pairs: int32 [B, 2], one seed pair per example.
    shapes: per chain (e.g. per grid) the [num_steps, H, W, C] noise of one
      example, or None for a chain without noise; num_steps may be a scalar
      int tensor (a serving request's steps).

  Returns:
    One noise source per chain (None where the shape was None). The noise of
    chain `c`, example `b`, step `t` is row t of
    `stateless_normal(shapes[c], fold_in(pairs[b], c))`; all of an example's
    noise is drawn once up front ([B] small ops), then indexed by step.
  """
  drawn = [i for i, shape in enumerate(shapes) if shape is not None]
  if not drawn:
    return [None] * len(shapes)

  def draw(pair):
    return [tf.random.stateless_normal(shapes[i], seed=runner.fold_in(pair, i))
            for i in drawn]

  signature = [tf.TensorSpec([None if tf.is_tensor(d) else d
                              for d in shapes[i]], tf.float32)
               for i in drawn]
  banks = tf.map_fn(draw, pairs, fn_output_signature=signature)
  sources = [None] * len(shapes)
  for i, bank in zip(drawn, banks):
    sources[i] = _indexed_by_step(bank)
  return sources


def _indexed_by_step(bank: tf.Tensor) -> NoiseFn:
  def noise(shape, seed, step):
    del shape, seed
    return tf.gather(bank, step, axis=1)
  return noise


def per_example_choice(pairs: tf.Tensor, num_choices: tf.Tensor,
                       salt: int = seeds.START_CHOICE) -> tf.Tensor:
  """int32 [B] uniform choices in [0, num_choices), one per seed pair."""
  num_choices = tf.maximum(tf.cast(num_choices, tf.int32), 1)
  return tf.map_fn(
      lambda pair: tf.random.stateless_uniform(
          [], seed=runner.fold_in(pair, salt), minval=0, maxval=num_choices,
          dtype=tf.int32),
      pairs, fn_output_signature=tf.TensorSpec([], tf.int32))
