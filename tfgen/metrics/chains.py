"""MCMC convergence diagnostics of traced chains: ESS and R-hat.

Thin, checked wrappers around TFP's estimators for the traces that
`apps.evaluate chains` records (one value per step and chain: log p, a
pixel, a code coordinate):

* `effective_sample_size`: `tfp.mcmc.effective_sample_size` across chains
  (Vehtari et al. 2021's cross-chain ESS, truncated by Geyer's initial
  positive sequence): the number of independent draws that would estimate
  the mean as well as all the chains' draws together. iid draws give about
  num_steps * num_chains; chains stuck in K different places give about K.
* `potential_scale_reduction`: `tfp.mcmc.potential_scale_reduction`
  (Gelman-Rubin R-hat, split chains by default): about 1 when the chains
  sample one distribution, well above 1 (conventionally > 1.01-1.1) when they
  disagree or drift.
* `summarize`: both for a trace after discarding warm-up steps, with the
  mean of the last step, as plain floats (NaN where a trace is constant:
  0 / 0, e.g. a pixel clipped at -1 in every chain).

Traces are float arrays [num_steps, num_chains, ...]: axis 0 is the step
(time), axis 1 the independent chain, any further axes separate quantities
(e.g. [T, B, K] for K coordinates).

#### References
Gelman & Rubin (1992), Inference from iterative simulation using multiple
sequences. Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021),
Rank-normalization, folding, and localization: an improved R-hat
(https://arxiv.org/abs/1903.08008).
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

# Fewest post-warm-up steps `summarize` accepts: split R-hat halves each
# chain, and each half needs >= 2 steps for a within-chain variance.
MIN_STEPS = 4


def _checked(samples, name: str = "samples") -> np.ndarray:
  samples = np.asarray(samples, np.float64)
  if samples.ndim < 2 or samples.shape[1] < 2 or samples.shape[0] < 2:
    raise ValueError(
        f"{name} has shape {samples.shape}, but must be [num_steps, "
        "num_chains, ...] with num_steps >= 2 and num_chains >= 2 (ESS and "
        "R-hat compare independent chains).")
  if not np.all(np.isfinite(samples)):
    raise ValueError(f"{name} holds NaN or inf values: a chain diverged.")
  return samples


@contextlib.contextmanager
def _quiet_fft_cast():
  """Hides TFP's "casting complex to float" warning of its FFT
  auto-correlation (it keeps the real part on purpose)."""
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)


def effective_sample_size(samples) -> np.ndarray:
  """Cross-chain ESS of each quantity of `samples` [T, B, ...].

  Args:
    samples: float [num_steps T >= 2, num_chains B >= 2, ...] draws.

  Returns:
    float64 [...] (a scalar for [T, B]): the ESS of all T * B draws together,
    in (0, ~T * B] (it can exceed T * B a little for anti-correlated
    chains); NaN where the trace is constant.
  """
  samples = _checked(samples)
  with _quiet_fft_cast():
    ess = tfp.mcmc.effective_sample_size(
        tf.constant(samples), filter_beyond_positive_pairs=True,
        cross_chain_dims=1)
  return np.asarray(ess, np.float64)


def potential_scale_reduction(samples, split_chains: bool = True
                              ) -> np.ndarray:
  """R-hat of each quantity of `samples` [T, B, ...].

  Args:
    samples: float [num_steps T >= 2 (>= 4 when split), num_chains B >= 2,
      ...] draws.
    split_chains: split every chain into halves (split R-hat, which also
      flags a chain that drifts); the first half is dropped for odd T.

  Returns:
    float64 [...]: R-hat >= ~1 (1 = the chains agree); NaN where the trace
    is constant.
  """
  samples = _checked(samples)
  if split_chains and samples.shape[0] < MIN_STEPS:
    raise ValueError(f"samples has {samples.shape[0]} steps; split R-hat "
                     f"needs >= {MIN_STEPS} (two halves of >= 2).")
  rhat = tfp.mcmc.potential_scale_reduction(
      tf.constant(samples), independent_chain_ndims=1,
      split_chains=split_chains)
  return np.asarray(rhat, np.float64)


def summarize(samples, num_warmup: int = 0) -> dict:
  """ESS, R-hat and final mean of a trace [T, B] after `num_warmup` steps.

  Args:
    samples: float [T, B] (one quantity) or [T, B, K] (K quantities).
    num_warmup: leading steps to discard (0 <= num_warmup <= T - MIN_STEPS).

  Returns:
    For [T, B]: {"ess", "rhat", "last_mean", "last_std", "constant"}: ESS
    and split R-hat of steps num_warmup.. (NaN when constant), the mean and
    standard deviation over chains of the last step, and whether the kept
    trace is constant. For [T, B, K]: a list of K such dicts.
  """
  samples = _checked(samples)
  if samples.ndim > 3:
    raise ValueError(f"samples has shape {samples.shape}; summarize takes "
                     "[T, B] or [T, B, K].")
  if (isinstance(num_warmup, bool) or int(num_warmup) != num_warmup
      or not 0 <= num_warmup <= len(samples) - MIN_STEPS):
    raise ValueError(
        f"num_warmup={num_warmup!r} must be an integer in [0, "
        f"{len(samples) - MIN_STEPS}] for {len(samples)} steps (at least "
        f"{MIN_STEPS} steps must remain).")
  kept = samples[int(num_warmup):]
  constant = np.all(kept == kept[:1, :1], axis=(0, 1))
  ess = effective_sample_size(kept)
  rhat = potential_scale_reduction(kept)
  ess = np.where(constant, np.nan, ess)
  rhat = np.where(constant, np.nan, rhat)
  last_mean, last_std = samples[-1].mean(axis=0), samples[-1].std(axis=0)

  def row(index):
    return {"ess": float(ess[index]), "rhat": float(rhat[index]),
            "last_mean": float(last_mean[index]),
            "last_std": float(last_std[index]),
            "constant": bool(constant[index])}

  if samples.ndim == 2:
    return row(())
  return [row(k) for k in range(samples.shape[2])]
