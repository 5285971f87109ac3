"""Tests for tfgen.mcmc.langevin: the update rule, its statistics, its options.

The statistical tests follow TFP's style: many independent chains, the final
states compared with the target's moments within a tolerance derived from the
Monte-Carlo standard error plus the known bias of the discretised dynamics.

For a Gaussian target N(mu, Sigma) with precision P = inv(Sigma), unadjusted
Langevin with the papers' step size delta (h = delta**2) is the linear map
x <- x + h/2 * P (mu - x) + noise_scale * delta * N(0, I), whose stationary law
is N(mu, C_h) with C_h = noise_scale**2 * inv(P - h P**2 / 4), exactly. The mean
is unbiased; the covariance is biased by C_h - Sigma (about h/4 * I for
noise_scale=1), e.g. +2.3% of the variance for delta=0.3.
"""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfgen.mcmc import langevin
from tfgen.mcmc import runner

NUM_CHAINS = 4000
NUM_STEPS = 300
# Allowed deviation in Monte-Carlo standard errors: a correct kernel fails a
# single 4-SE check with probability ~6e-5 for a fresh seed (and the seeds here
# are fixed, so the tests are deterministic).
NUM_STANDARD_ERRORS = 4.0


def _gaussian_log_prob_fn(mean, covariance):
  """log N(x; mean, covariance) up to a constant, one value per chain."""
  mean = tf.constant(mean, tf.float32)
  precision = tf.constant(np.linalg.inv(covariance), tf.float32)

  def log_prob(x):
    centred = x - mean
    return -0.5 * tf.reduce_sum(
        tf.matmul(centred, precision) * centred, axis=-1)

  return log_prob


def _ula_stationary_covariance(covariance, step_size, noise_scale=1.0):
  """Exact stationary covariance of the discretised chain (see the docstring)."""
  precision = np.linalg.inv(covariance)
  h = step_size**2
  return noise_scale**2 * np.linalg.inv(precision - h / 4 * precision @ precision)


def _transient(covariance, step_size, num_steps, start, mean):
  """Bounds on what is left of the start after `num_steps` steps.

  The distance to the target mean contracts by A = I - h/2 P every step; the
  covariance gap C_h - C_t = A^t C_h A^t' (chains start at one point).
  """
  precision = np.linalg.inv(covariance)
  contraction = np.linalg.matrix_power(
      np.eye(len(mean)) - step_size**2 / 2 * precision, num_steps)
  mean_gap = np.abs(contraction @ (np.asarray(start) - np.asarray(mean)))
  stationary = _ula_stationary_covariance(covariance, step_size)
  cov_gap = np.abs(contraction @ stationary @ contraction.T)
  return mean_gap, cov_gap


def _final_states(target_log_prob_fn, start, step_size, num_steps, seed,
                  noise_scale=1.0, clip_range=None):
  """Final states of NUM_CHAINS chains, all started at `start`."""
  kernel = langevin.LangevinKernel(target_log_prob_fn, step_size=step_size,
                                   noise_scale=noise_scale,
                                   clip_range=clip_range)
  initial = tf.tile(tf.constant([start], tf.float32), [NUM_CHAINS, 1])

  @tf.function
  def sample(seed):
    return runner.run_chain(kernel, initial, num_steps, seed).state

  return sample(tf.constant(seed, tf.int32)).numpy().astype(np.float64)


def _check_moments(samples, mean, covariance, step_size, num_steps, start,
                   noise_scale=1.0):
  """Asserts mean and covariance of `samples` match N(mean, covariance).

  Tolerances: NUM_STANDARD_ERRORS Monte-Carlo standard errors (for an entry
  of a sample covariance of Gaussian draws the SE is
  sqrt((C_ii C_jj + C_ij**2) / n)), plus the discretisation bias |C_h - Sigma|
  for the covariance, plus the (tiny) transient left from the start.
  """
  num = len(samples)
  mean = np.asarray(mean, np.float64)
  covariance = np.asarray(covariance, np.float64)
  stationary = _ula_stationary_covariance(covariance, step_size, noise_scale)
  mean_gap, cov_gap = _transient(covariance, step_size, num_steps, start, mean)
  diag = np.diag(stationary)

  mean_se = np.sqrt(diag / num)
  mean_tol = NUM_STANDARD_ERRORS * mean_se + mean_gap
  sample_mean = samples.mean(axis=0)
  np.testing.assert_array_less(np.abs(sample_mean - mean), mean_tol)

  cov_se = np.sqrt((np.outer(diag, diag) + stationary**2) / num)
  sample_cov = np.cov(samples, rowvar=False)
  # Against the discretised chain's own stationary covariance: SE only.
  np.testing.assert_array_less(np.abs(sample_cov - stationary),
                               NUM_STANDARD_ERRORS * cov_se + cov_gap)
  # Against the target: SE plus the known discretisation bias.
  bias = np.abs(stationary - noise_scale**2 * covariance)
  np.testing.assert_array_less(np.abs(sample_cov - noise_scale**2 * covariance),
                               NUM_STANDARD_ERRORS * cov_se + bias + cov_gap)
  return sample_mean, sample_cov


def test_one_step_is_the_papers_update():
  """x' = x + delta**2 / 2 * grad + noise_scale * delta * noise, exactly."""
  step_size, noise_scale = 0.3, 0.5
  noise = tf.constant([[0.5, -1.0], [2.0, 0.25], [0.0, 1.0]])
  seen = {}

  def noise_fn(shape, seed, step):
    seen["shape"], seen["seed"], seen["step"] = shape, seed, step
    return noise

  kernel = langevin.LangevinKernel(
      lambda x: -0.5 * tf.reduce_sum(x**2, axis=-1), step_size=step_size,
      noise_scale=noise_scale, noise_fn=noise_fn)
  state = tf.constant([[1.0, 2.0], [-1.0, 0.0], [3.0, -2.0]])
  results = kernel.bootstrap_results(state)
  assert int(results.step) == 0

  next_state, next_results = kernel.one_step(state, results, seed=[4, 2])
  # grad log p(x) = -x, taken at the state the step moves from.
  expected = (state.numpy() + step_size**2 / 2 * -state.numpy() +
              noise_scale * step_size * noise.numpy())
  np.testing.assert_allclose(next_state, expected, rtol=1e-6)
  np.testing.assert_array_equal(seen["shape"], [3, 2])
  assert seen["seed"].shape == (2,)
  assert int(seen["step"]) == 0 and int(next_results.step) == 1


def test_a_chain_of_t_steps_evaluates_the_target_t_times():
  calls = []

  def log_prob(x):
    calls.append(1)  # Runs once per trace of the target (Python side).
    return -0.5 * tf.reduce_sum(x**2, axis=-1)

  kernel = langevin.LangevinKernel(log_prob, step_size=0.3)
  state = tf.zeros([2, 3])
  results = kernel.bootstrap_results(state)
  assert not calls  # Bootstrapping evaluates nothing.
  for step in range(4):
    state, results = kernel.one_step(state, results, seed=[0, step])
  assert len(calls) == 4 and int(results.step) == 4


def test_kernel_contract():
  kernel = langevin.LangevinKernel(lambda x: -tf.reduce_sum(x**2, [1, 2, 3]),
                                   step_size=0.1, clip_range=(-1.0, 1.0))
  assert not kernel.is_calibrated
  assert kernel.step_size == 0.1
  assert kernel.noise_scale == 1.0
  assert kernel.clip_range == (-1.0, 1.0)
  assert set(kernel.parameters) >= {"target_log_prob_fn", "step_size",
                                    "noise_scale", "clip_range"}
  images = tf.zeros([3, 4, 4, 1])
  results = kernel.bootstrap_results(images)
  assert isinstance(results, langevin.LangevinResults)
  assert results.step.dtype == tf.int32
  state, _ = kernel.one_step(images, results, seed=[0, 1])
  assert state.shape == (3, 4, 4, 1)


def test_standard_normal_moments():
  step_size = 0.3
  mean, covariance = np.zeros(2), np.eye(2)
  start = [2.0, -2.0]
  samples = _final_states(_gaussian_log_prob_fn(mean, covariance), start,
                          step_size, NUM_STEPS, seed=[1, 2])
  _check_moments(samples, mean, covariance, step_size, NUM_STEPS, start)


def test_correlated_gaussian_moments():
  step_size = 0.3
  mean = np.array([1.0, -0.5])
  covariance = np.array([[1.0, 0.8], [0.8, 1.0]])
  start = [-1.0, 1.0]
  samples = _final_states(_gaussian_log_prob_fn(mean, covariance), start,
                          step_size, NUM_STEPS, seed=[3, 4])
  _, sample_cov = _check_moments(samples, mean, covariance, step_size,
                                 NUM_STEPS, start)
  correlation = sample_cov[0, 1] / np.sqrt(sample_cov[0, 0] * sample_cov[1, 1])
  # SE of a sample correlation ~ (1 - rho**2) / sqrt(n) = 0.006 here; the
  # discretisation moves rho by < 0.01 at delta = 0.3.
  assert abs(correlation - 0.8) < 0.04


def test_large_step_has_the_known_discretisation_bias():
  """At delta = 1 the chain's variance is 1 / (1 - 1/4) = 4/3, not 1."""
  step_size = 1.0
  samples = _final_states(_gaussian_log_prob_fn(np.zeros(2), np.eye(2)),
                          [0.0, 0.0], step_size, 100, seed=[5, 6])
  variance = samples.var(axis=0)
  # SE of a variance: sqrt(2 / n) * 4/3 = 0.03.
  np.testing.assert_allclose(variance, [4 / 3, 4 / 3], atol=0.12)
  assert np.all(variance > 1.15)  # Clearly biased: 1 is > 5 SE away.


def test_noise_scale_scales_the_stationary_spread():
  """noise_scale=s samples N(mu, ~s**2 Sigma) (a temperature of s**2)."""
  step_size, noise_scale = 0.3, 0.5
  mean, covariance = np.array([0.5, 0.0]), np.eye(2)
  start = [0.0, 0.0]
  samples = _final_states(_gaussian_log_prob_fn(mean, covariance), start,
                          step_size, NUM_STEPS, seed=[7, 8],
                          noise_scale=noise_scale)
  _check_moments(samples, mean, covariance, step_size, NUM_STEPS, start,
                 noise_scale=noise_scale)


def test_same_seed_same_chain_different_seed_different_chain():
  log_prob = _gaussian_log_prob_fn(np.zeros(2), np.eye(2))
  first = _final_states(log_prob, [0.0, 0.0], 0.3, 20, seed=[1, 1])
  again = _final_states(log_prob, [0.0, 0.0], 0.3, 20, seed=[1, 1])
  other = _final_states(log_prob, [0.0, 0.0], 0.3, 20, seed=[1, 2])
  np.testing.assert_array_equal(first, again)
  assert not np.any(first == other)


def test_noise_free_is_deterministic_gradient_ascent_to_the_mode():
  mean = np.array([1.0, -0.5])
  covariance = np.array([[1.0, 0.8], [0.8, 1.0]])
  log_prob = _gaussian_log_prob_fn(mean, covariance)
  kernel = langevin.LangevinKernel(log_prob, step_size=0.5, noise_scale=0.0)
  initial = tf.constant([[0.0, 0.0], [3.0, 3.0], [-2.0, 1.0]])

  @tf.function
  def ascend(seed):
    return runner.run_chain(kernel, initial, 300, seed,
                            trace_fn=lambda state, _: log_prob(state))

  result = ascend(tf.constant([1, 2]))
  other_seed = ascend(tf.constant([9, 9]))
  np.testing.assert_array_equal(result.state, other_seed.state)
  # Contraction per step <= 1 - 0.25 / 2 / 1.8 = 0.93: 0.93**300 ~ 1e-10.
  np.testing.assert_allclose(result.state, np.tile(mean, [3, 1]), atol=1e-5)
  # Ascent on a concave quadratic with a stable step never decreases log p.
  log_probs = result.trace.numpy()
  assert np.all(np.diff(log_probs, axis=0) >= -1e-6)


# From the edge, a step moves 0.125 * (5 - 1) = 0.5 outwards plus 0.5 * N(0, 1)
# noise: P(staying on the edge) = P(N > -1) = 0.84 with noise, 1 without.
@pytest.mark.parametrize("noise_scale,min_on_edge", [(0.0, 1.0), (1.0, 0.7)])
def test_clip_range_keeps_state_inside(noise_scale, min_on_edge):
  # The target's mode (5, -5) lies outside the box: chains pile up at its edge.
  log_prob = _gaussian_log_prob_fn(np.array([5.0, -5.0]), np.eye(2))
  kernel = langevin.LangevinKernel(log_prob, step_size=0.5,
                                   noise_scale=noise_scale,
                                   clip_range=(-1.0, 1.0))
  initial = tf.zeros([200, 2])

  @tf.function
  def sample(seed):
    return runner.run_chain(kernel, initial, 50, seed,
                            trace_fn=lambda state, _: state)

  result = sample(tf.constant([0, 3]))
  trace = result.trace.numpy()
  assert trace.min() >= -1.0 and trace.max() <= 1.0
  assert np.mean(trace[-1, :, 0] == 1.0) >= min_on_edge
  assert np.mean(trace[-1, :, 1] == -1.0) >= min_on_edge


@pytest.mark.parametrize("step_size", [0.0, -0.1, float("nan")])
def test_invalid_step_size_raises(step_size):
  with pytest.raises(ValueError, match=f"step_size={step_size!r}"):
    langevin.LangevinKernel(lambda x: -x**2, step_size=step_size)


@pytest.mark.parametrize("noise_scale", [-1.0, float("nan")])
def test_invalid_noise_scale_raises(noise_scale):
  with pytest.raises(ValueError, match=f"noise_scale={noise_scale!r}"):
    langevin.LangevinKernel(lambda x: -x**2, step_size=0.1,
                            noise_scale=noise_scale)


@pytest.mark.parametrize("clip_range", [(1.0, -1.0), (0.0, 0.0)])
def test_invalid_clip_range_raises(clip_range):
  with pytest.raises(ValueError) as error:
    langevin.LangevinKernel(lambda x: -x**2, step_size=0.1,
                            clip_range=clip_range)
  assert f"clip_range={clip_range!r}" in str(error.value)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
