"""Traced sampling chains of `MultigridEBM` (a mixin), for diagnostics.

`trace_chains` runs the sampler's chains exactly as `sample` does (the same
start images, per-example Langevin noise and per-grid seeds; with the
model's own sampler and steps, the final images equal `sample`'s) and
records, after every step of every model grid, log p_g of each chain, a
few fixed pixels and the image (`tfgen.mcmc.traces.ChainTrace`). Either
sampler can be traced on any model: Langevin or TFP's HMC.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from tfgen.data import pyramid
from tfgen.mcmc import noise
from tfgen.mcmc import runner
from tfgen.mcmc import traces
from tfgen.models import multigrid_config

LOG_PROB_NAME = ("log p_g(x) = f_g(x) - ||x||^2 / (2 reference_stddev^2), "
                 "unnormalised, of the grid's energy net")


class MultigridChains:
  """Mixin of `MultigridEBM`: `trace_chains` (the 'chain_diagnostics')."""

  @property
  def chain_samplers(self) -> tuple[str, ...]:
    """The kernels `trace_chains` runs: ('langevin', 'hmc')."""
    return tuple(multigrid_config.SAMPLERS)

  def _trace_fn(self, grid_index: int, indices, labels, sampler: str):
    """run_chain trace_fn of one grid: log p, pixels, image (+ acceptance)."""
    project = self._projection(None) if sampler == "hmc" else None
    flat = tf.constant(indices, tf.int32)

    def trace_fn(state, kernel_results):
      if project is not None:  # HMC moves freely; p is read at the clip.
        state = project(state)
      record = {
          "log_prob": tf.cast(self.log_prob(state, grid_index, labels),
                              tf.float32),
          "coordinates": tf.gather(
              tf.reshape(state, [tf.shape(state)[0], -1]), flat, axis=1),
          "images": state}
      if sampler == "hmc" and self.metropolis:
        record["accepted"] = kernel_results.is_accepted
      return record
    return trace_fn

  def trace_from_seeds(self, seeds, num_steps, coordinates, sampler: str,
                       class_ids=None):
    """The chains of `sample_from_seeds`, traced; graph-traceable.

    Args:
      seeds: int [B] per-chain seeds or int32 [B, 2] pairs.
      num_steps: per-grid steps (Python ints, see `sampling_steps`).
      coordinates: per model grid, flat pixel indices into [g * g * C].
      sampler: 'langevin' or 'hmc'.
      class_ids: int [B] classes (conditional models) or None.

    Returns:
      (images, grid_traces): `synthesize`'s list [start, grid1, ...] and,
      per model grid, a dict of log_prob [T, B], coordinates [T, B, K],
      images [T, B, g, g, C] (and accepted [T, B] for Metropolis HMC).
    """
    pairs = noise.seed_pairs(seeds)
    steps = self.sampling_steps(num_steps)
    start_images, labels = self._starts(pairs, None, class_ids)
    trace_fns = [self._trace_fn(index, coordinates[index],
                                self._check_labels(labels), sampler)
                 for index in range(len(self.model_grids))]
    return self.synthesize_chains(
        start_images, self._chain_seed(pairs, sampler),
        self._per_example_noise(pairs, steps, sampler),
        num_langevin_steps=steps, labels=labels, sampler=sampler,
        trace_fns=trace_fns)

  def trace_chains(self, num_chains: int, seed=(0, 0), num_steps=200,
                   num_coordinates: int = 4, sampler: Optional[str] = None,
                   class_id=None) -> list:
    """`num_chains` traced sampling chains; one `ChainTrace` per model grid.

    Args:
      num_chains: independent chains (>= 1); chain i uses
        `example_seeds(seed, num_chains)[i]`, as `sample` does.
      seed: int or int32[2].
      num_steps: steps per grid, one int or one per model grid (>= 1).
      num_coordinates: pixels followed per grid (see
        `traces.pixel_coordinates`; at most g * g * C).
      sampler: 'langevin' or 'hmc' (default: the model's).
      class_id: conditional models: every chain's class (default: each
        start image's label).

    Returns:
      [ChainTrace] coarse to fine, stages 'grid{g}'; numpy arrays.
    """
    sampler = sampler or self.sampler
    if sampler not in self.chain_samplers:
      raise ValueError(f"sampler={sampler!r} must be one of "
                       f"{self.chain_samplers}.")
    if (isinstance(num_chains, bool) or
        not isinstance(num_chains, (int, np.integer)) or num_chains < 1):
      raise ValueError(f"num_chains={num_chains!r} must be a positive int.")
    steps = self.sampling_steps(num_steps)
    if min(steps) < 1:
      raise ValueError(f"num_steps={num_steps!r} must be >= 1 per grid.")
    class_id = self.check_class_id(class_id)
    self._require_adapted()
    picked = [traces.pixel_coordinates(size, self.channels, num_coordinates)
              for size in self.model_grids]
    pairs = self.example_seeds(seed, int(num_chains))
    classes = (None if class_id is None
               else tf.fill([int(num_chains)], class_id))
    traced = runner.compile_fn(
        lambda p, c: self.trace_from_seeds(
            p, steps, [indices for indices, _ in picked], sampler, c),
        self.sampler_jit_compile)
    images, grid_traces = traced(pairs, classes)
    result = []
    for index, size in enumerate(self.model_grids):
      record = {k: np.asarray(v) for k, v in grid_traces[index].items()}
      result.append(traces.ChainTrace(
          stage=f"grid{size}", log_prob=record["log_prob"],
          log_prob_name=LOG_PROB_NAME, coordinates=record["coordinates"],
          coordinate_names=picked[index][1], images=record["images"],
          start_images=np.asarray(pyramid.upsample(images[index], size)),
          accepted=record.get("accepted")))
    return result
