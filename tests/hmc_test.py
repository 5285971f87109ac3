"""Tests for tfgen.mcmc.hmc: TFP's HMC on the chain runner, statistically.

With the Metropolis test HMC leaves the target exactly invariant, so the final
states of many independent chains must match a Gaussian target's mean and
covariance within Monte-Carlo error (no discretisation bias, unlike Langevin).
Without the test the leapfrog integrator's bias is small for a small step, and
large (or unstable) for a step near the stability limit 2 / sqrt(max eigenvalue
of the precision), where the corrected kernel still samples correctly.
"""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfgen.mcmc import hmc
from tfgen.mcmc import runner

NUM_CHAINS = 4000
NUM_STANDARD_ERRORS = 4.0
MEAN = np.array([1.0, -2.0], np.float64)
COVARIANCE = np.array([[1.0, 0.6], [0.6, 2.0]], np.float64)


def _log_prob(x):
  precision = tf.constant(np.linalg.inv(COVARIANCE), tf.float32)
  centred = x - tf.constant(MEAN, tf.float32)
  return -0.5 * tf.reduce_sum(tf.matmul(centred, precision) * centred, axis=-1)


def _final_states(step_size, num_steps, metropolis, seed=(1, 2),
                  num_leapfrog_steps=5):
  kernel = hmc.hmc_kernel(_log_prob, step_size, num_leapfrog_steps,
                          metropolis)
  start = tf.zeros([NUM_CHAINS, 2])

  @tf.function
  def run(seed):
    result = runner.run_chain(kernel, start, num_steps, seed)
    return result.state, hmc.acceptance_rate(result.kernel_results)

  state, rate = run(tf.constant(seed, tf.int32))
  return state.numpy().astype(np.float64), rate


def _check_gaussian(samples):
  mean = samples.mean(axis=0)
  covariance = np.cov(samples.T)
  mean_se = np.sqrt(np.diag(COVARIANCE) / NUM_CHAINS)
  np.testing.assert_array_less(np.abs(mean - MEAN),
                               NUM_STANDARD_ERRORS * mean_se)
  # SE of a sample covariance entry: sqrt((s_ii s_jj + s_ij^2) / n).
  cov_se = np.sqrt((np.outer(np.diag(COVARIANCE), np.diag(COVARIANCE)) +
                    COVARIANCE**2) / NUM_CHAINS)
  np.testing.assert_array_less(np.abs(covariance - COVARIANCE),
                               NUM_STANDARD_ERRORS * cov_se)


def test_metropolis_hmc_matches_gaussian_moments():
  samples, rate = _final_states(step_size=0.4, num_steps=60, metropolis=True)
  _check_gaussian(samples)
  assert 0.5 < float(rate) <= 1.0


def test_uncalibrated_hmc_with_small_step_matches_gaussian_moments():
  samples, rate = _final_states(step_size=0.1, num_steps=150,
                                metropolis=False)
  assert rate is None  # No accept/reject step to report.
  _check_gaussian(samples)


def test_metropolis_keeps_a_too_large_step_correct_where_uncalibrated_fails():
  # Stability limit of leapfrog here: 2 * sqrt(min eigenvalue of COVARIANCE).
  limit = 2 * np.sqrt(np.linalg.eigvalsh(COVARIANCE).min())
  step = 0.97 * limit
  corrected, rate = _final_states(step, num_steps=200, metropolis=True)
  uncorrected, _ = _final_states(step, num_steps=200, metropolis=False)
  assert float(rate) < 0.9  # The test rejects some proposals...
  _check_gaussian(corrected)  # ...and the chain stays exact.
  spread = np.cov(uncorrected.T)
  assert np.abs(spread - COVARIANCE).max() > 0.5  # Biased without it.


def test_same_seed_same_chain_different_seed_different_chain():
  a, _ = _final_states(0.3, 5, True, seed=(3, 4))
  b, _ = _final_states(0.3, 5, True, seed=(3, 4))
  c, _ = _final_states(0.3, 5, True, seed=(3, 5))
  np.testing.assert_array_equal(a, b)
  assert np.abs(a - c).max() > 0.1


def test_projected_target_evaluates_at_the_projection():
  target = hmc.projected_target(lambda x: -tf.reduce_sum(x**2, axis=-1),
                                lambda x: tf.clip_by_value(x, -1.0, 1.0))
  np.testing.assert_allclose(target(tf.constant([[3.0, 0.5]])), [-1.25])
  plain = lambda x: tf.reduce_sum(x, axis=-1)
  assert hmc.projected_target(plain, None) is plain


@pytest.mark.parametrize("step_size", [0.0, -0.1, float("nan")])
def test_invalid_step_size_raises(step_size):
  with pytest.raises(ValueError, match="step_size"):
    hmc.hmc_kernel(_log_prob, step_size)


@pytest.mark.parametrize("num_leapfrog_steps", [0, -1, 2.5, True])
def test_invalid_num_leapfrog_steps_raises(num_leapfrog_steps):
  with pytest.raises(ValueError, match="num_leapfrog_steps"):
    hmc.hmc_kernel(_log_prob, 0.1, num_leapfrog_steps)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
