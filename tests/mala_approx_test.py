"""Tests of the MALA-approx kernel: the update formula, kernel contract, moments."""

import sys
import numpy as np
import pytest
import tensorflow as tf

from tfgen.mcmc import langevin
from tfgen.mcmc import mala_approx
from tfgen.mcmc import runner

MU = np.array([[1.0, -2.0, 0.5]], np.float32)


def gaussian_condition(mu=MU, sigma=1.0):
  """log N(x; mu, sigma^2 I) as a condition (objective = log_prob)."""
  def condition(x, step):
    del step
    log_prob = -0.5 * tf.reduce_sum(tf.square(x - mu), axis=1) / sigma**2
    return mala_approx.ConditionOutput(log_prob, log_prob, tf.exp(log_prob))
  return condition


def ones_noise(shape, seed, step):
  del seed, step
  return tf.ones(shape)


def test_literal_update_equals_hand_computation():
  h = tf.constant([[0.5, 0.0, 2.0], [1.0, 1.0, 1.0]])
  target = tf.constant([[2.0, 2.0, 2.0]])
  kernel = mala_approx.MalaApproxKernel(
      decode_fn=lambda h: h, condition=gaussian_condition(),
      reconstruct_fn=lambda h, x, seed, step: target + 0.0 * h,
      prior_weight=0.1, condition_weight=0.2, noise_scale=0.3,
      step_size=0.5, normalize=None, noise_fn=ones_noise)
  state, results = kernel.one_step(h, kernel.bootstrap_results(h),
                                   seed=tf.constant([1, 2]))
  d = 0.1 * (target.numpy() - h.numpy()) + 0.2 * (MU - h.numpy()) + 0.3
  np.testing.assert_allclose(state.numpy(), h.numpy() + 0.5 * d, rtol=1e-6)
  np.testing.assert_allclose(results.update_scale.numpy(),
                             np.abs(d).mean(axis=1), rtol=1e-6)
  assert int(results.step) == 1


def test_normalised_step_moves_each_chain_by_step_size_on_average():
  h = tf.constant([[0.5, 0.0, 2.0], [10.0, -3.0, 1.0]])
  kernel = mala_approx.MalaApproxKernel(
      decode_fn=lambda h: h, condition=gaussian_condition(),
      step_size=0.7, normalize="mean_abs")
  state, _ = kernel.one_step(h, kernel.bootstrap_results(h),
                             seed=tf.constant([1, 2]))
  moved = np.abs(state.numpy() - h.numpy()).mean(axis=1)
  np.testing.assert_allclose(moved, [0.7, 0.7], rtol=1e-5)


def test_clip_range_bounds_the_state():
  h = tf.constant([[0.5, 0.1, 2.0]])
  kernel = mala_approx.MalaApproxKernel(
      decode_fn=lambda h: h, condition=gaussian_condition(), step_size=5.0,
      clip_range=(0.0, 1.0))
  state, _ = kernel.one_step(h, kernel.bootstrap_results(h),
                             seed=tf.constant([1, 2]))
  assert state.numpy().min() >= 0.0 and state.numpy().max() <= 1.0


def test_reduces_to_langevin_without_prior_and_normalisation():
  delta = 0.3
  h = tf.constant([[0.5, 0.0, 2.0]])
  condition = gaussian_condition()
  kernel = mala_approx.MalaApproxKernel(
      decode_fn=lambda h: h, condition=condition,
      condition_weight=delta**2 / 2, noise_scale=delta, normalize=None)
  reference = langevin.LangevinKernel(
      lambda x: condition(x, 0).log_prob, step_size=delta)
  seed = tf.constant([3, 4])
  ours = runner.run_chain(kernel, h, 5, seed).state
  theirs = runner.run_chain(reference, h, 5, seed).state
  np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5)


def test_same_seed_same_chain_and_step_schedule():
  h = tf.constant([[0.5, 0.0, 2.0]])
  kernel = mala_approx.MalaApproxKernel(
      decode_fn=lambda h: h, condition=gaussian_condition(), noise_scale=1.0,
      step_size=1.0, step_size_end=0.0, num_schedule_steps=4)
  first = runner.run_chain(kernel, h, 6, tf.constant([5, 6])).state
  second = runner.run_chain(kernel, h, 6, tf.constant([5, 6])).state
  np.testing.assert_array_equal(first.numpy(), second.numpy())
  lrs = [float(mala_approx.step_schedule(t, 1.0, 0.0, 4)) for t in range(6)]
  np.testing.assert_allclose(lrs, [1.0, 0.75, 0.5, 0.25, 0.0, 0.0])


def test_trace_records_the_image_moved_from():
  h = tf.constant([[0.5, 0.0, 2.0]])
  kernel = mala_approx.MalaApproxKernel(
      decode_fn=lambda h: 2.0 * h, condition=gaussian_condition(),
      image_shape=(3,))
  result = runner.run_chain(kernel, h, 2, tf.constant([1, 1]),
                            trace_fn=lambda s, r: r.image)
  np.testing.assert_allclose(result.trace[0].numpy(), 2.0 * h.numpy())


def test_gaussian_moments_with_no_prior():
  """ULA on N(mu, sigma^2): AR(1) with known stationary mean and variance."""
  delta, sigma, chains = 0.5, 1.0, 4000
  mu = np.array([[1.0]], np.float32)
  kernel = mala_approx.MalaApproxKernel(
      decode_fn=lambda h: h, condition=gaussian_condition(mu, sigma),
      prior_weight=0.0, condition_weight=delta**2 / 2, noise_scale=delta,
      normalize=None)
  state = runner.run_chain(kernel, tf.zeros([chains, 1]), 60,
                           tf.constant([7, 8])).state.numpy()
  a = 1.0 - delta**2 / (2 * sigma**2)
  variance = delta**2 / (1.0 - a**2)
  standard_error = np.sqrt(variance / chains)
  assert abs(state.mean() - 1.0) < 5 * standard_error
  assert abs(state.var() / variance - 1.0) < 0.1


@pytest.mark.parametrize("name,value", [("prior_weight", -1.0),
                                        ("noise_scale", -1e-3),
                                        ("condition_weight", -2.0)])
def test_negative_weights_are_refused(name, value):
  with pytest.raises(ValueError, match=name):
    mala_approx.MalaApproxKernel(decode_fn=lambda h: h, condition=None,
                                 **{name: value})


def test_bad_normalize_and_step_size_are_refused():
  with pytest.raises(ValueError, match="normalize"):
    mala_approx.MalaApproxKernel(lambda h: h, None, normalize="l2")
  with pytest.raises(ValueError, match="step_size"):
    mala_approx.MalaApproxKernel(lambda h: h, None, step_size=0.0)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
