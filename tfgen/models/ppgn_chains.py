"""Traced MALA-approx chains of `PPGN` (a mixin), for diagnostics.

`trace_chains` runs the chains of `sample_from_seeds` (`chain_parts`: the
same start codes, per-example noise and prior, all chains conditioned on
one class) as one traced `run_chain` and records after every step: log
p(y = class | G(h)) of the chains' class condition (summed over E's and
C''s terms with the default `class_condition='both'`), a few code
coordinates (pixels for
PPGN-x, whose chain runs on images) and the image G(h). With the model's
own settings the final images equal `sample`'s for the same seed and class.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from tfgen.mcmc import mala_approx
from tfgen.mcmc import runner
from tfgen.mcmc import traces

LOG_PROB_NAME = ("log p(y = class | G(h)) of the class condition (E's + "
                 "C''s with class_condition='both'), the condition term of "
                 "the chains' target p(h) p(y | h)")


class PpgnChains:
  """Mixin of `PPGN`: `trace_chains` (the 'chain_diagnostics')."""

  @property
  def chain_samplers(self) -> tuple[str, ...]:
    """The kernel `trace_chains` runs: PPGN's MALA-approx."""
    return ("mala_approx",)

  def trace_from_seeds(self, seeds, class_ids, num_steps: int, indices):
    """The chains of `sample_from_seeds(seeds, class_ids)`, traced.

    Graph-traceable. `indices`: flat indices of the state coordinates to
    follow. Returns (start images [B, S, S, C], trace): the trace holds
    log_prob [T, B], coordinates [T, B, K] and images [T, B, S, S, C] in
    [-1, 1].
    """
    chain = self.chain_parts(seeds, class_ids=class_ids, num_steps=num_steps)
    flat = tf.constant(indices, tf.int32)

    def trace_fn(state, kernel_results):
      image = chain.decode(state)  # What the kernel's condition sees.
      return {
          "log_prob": chain.condition(image, kernel_results.step).log_prob,
          "coordinates": tf.gather(
              tf.reshape(state, [tf.shape(state)[0], -1]), flat, axis=1),
          "images": tf.clip_by_value(image, -1.0, 1.0)}

    kernel = mala_approx.MalaApproxKernel(**chain.kernel_args)
    # sample_from_seeds' seed of its first segment (the noise and prior
    # are drawn per example and step, so the chain seed changes nothing).
    result = runner.run_chain(kernel, chain.start, chain.num_steps,
                              runner.fold_in(chain.pairs[0], 0), trace_fn)
    start = tf.clip_by_value(chain.decode(chain.start), -1.0, 1.0)
    return start, result.trace

  def trace_chains(self, num_chains: int, seed=(0, 0), num_steps=200,
                   num_coordinates: int = 4, sampler: Optional[str] = None,
                   class_id=None) -> list:
    """`num_chains` traced MALA-approx chains; one `ChainTrace` ('code').

    Args:
      num_chains: independent chains (>= 1); chain i uses
        `example_seeds(seed, num_chains)[i]`, as `sample` does.
      seed: int or int32[2].
      num_steps: MALA-approx steps (>= 1).
      num_coordinates: code coordinates followed (spread evenly over the
        code; PPGN-x: pixels, see `traces.pixel_coordinates`).
      sampler: 'mala_approx' (the only one) or None.
      class_id: every chain's class in [0, num_classes) (default 0), so
        that all chains sample one target.

    Returns:
      [ChainTrace] with stage 'code' ('pixels' for PPGN-x); numpy arrays.
    """
    if sampler not in (None,) + self.chain_samplers:
      raise ValueError(f"sampler={sampler!r} must be one of "
                       f"{self.chain_samplers}.")
    if (isinstance(num_chains, bool) or
        not isinstance(num_chains, (int, np.integer)) or num_chains < 1):
      raise ValueError(f"num_chains={num_chains!r} must be a positive int.")
    if (isinstance(num_steps, bool) or
        not isinstance(num_steps, (int, np.integer)) or num_steps < 1):
      raise ValueError(f"num_steps={num_steps!r} must be a positive int.")
    class_id = int(self._check_class_id(0 if class_id is None else class_id))
    pixel_space = self.settings.resolved_prior == "image_dae"
    if pixel_space:
      indices, names = traces.pixel_coordinates(
          self.image_size, self.channels, num_coordinates)
    else:
      indices, names = traces.spread_coordinates(self.code_dim,
                                                 num_coordinates)
    pairs = self.example_seeds(seed, int(num_chains))
    traced = tf.function(lambda p, c: self.trace_from_seeds(
        p, c, int(num_steps), indices))
    start, record = traced(pairs, tf.fill([int(num_chains)], class_id))
    record = {k: np.asarray(v) for k, v in record.items()}
    return [traces.ChainTrace(
        stage="pixels" if pixel_space else "code",
        log_prob=record["log_prob"], log_prob_name=LOG_PROB_NAME,
        coordinates=record["coordinates"], coordinate_names=names,
        images=record["images"], start_images=np.asarray(start),
        accepted=None)]
