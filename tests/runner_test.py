"""Tests for tfgen.mcmc.runner: the compiled chain loop, traces and seeds."""

import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfgen.mcmc import langevin
from tfgen.mcmc import runner


def _standard_normal(x):
  return -0.5 * tf.reduce_sum(x**2, axis=-1)


def _kernel(**kwargs):
  kwargs.setdefault("step_size", 0.3)
  return langevin.LangevinKernel(_standard_normal, **kwargs)


def _compiled(kernel, initial_state, num_steps, trace_fn=None):
  """run_chain inside a tf.function, as the models call it."""
  return runner.compile_fn(
      lambda seed: runner.run_chain(kernel, initial_state, num_steps, seed,
                                    trace_fn=trace_fn))


def test_trace_has_leading_axis_num_steps():
  initial = tf.fill([5, 2], 3.0)
  chain = _compiled(_kernel(), initial, 7,
                    trace_fn=lambda state, results: {
                        "state": state,
                        "steps_taken": results.step})
  result = chain(tf.constant([1, 2]))
  assert isinstance(result, runner.ChainResult)
  assert result.trace["state"].shape == (7, 5, 2)
  # The trace is recorded after each step: its last entry is the final state.
  np.testing.assert_array_equal(result.trace["state"][-1], result.state)
  np.testing.assert_array_equal(result.trace["steps_taken"], np.arange(1, 8))
  assert int(result.kernel_results.step) == 7
  # Starting far out, the chains move towards the mode.
  assert np.abs(result.trace["state"][0]).mean() < 3.0


def test_trace_is_the_same_chain_as_untraced():
  initial = tf.zeros([4, 3])
  plain = _compiled(_kernel(), initial, 10)(tf.constant([5, 6]))
  traced = _compiled(_kernel(), initial, 10,
                     trace_fn=lambda state, _: state)(tf.constant([5, 6]))
  assert plain.trace is None
  np.testing.assert_array_equal(plain.state, traced.state)
  # Each step of the traced chain is the chain run for that many steps.
  three = _compiled(_kernel(), initial, 3)(tf.constant([5, 6]))
  np.testing.assert_array_equal(traced.trace[2], three.state)


def test_zero_steps_returns_the_start():
  initial = tf.constant([[1.0, -2.0], [0.5, 4.0]])
  result = _compiled(_kernel(), initial, 0)(tf.constant([0, 1]))
  np.testing.assert_array_equal(result.state, initial)
  assert int(result.kernel_results.step) == 0
  traced = _compiled(_kernel(), initial, 0,
                     trace_fn=lambda state, _: state)(tf.constant([0, 1]))
  np.testing.assert_array_equal(traced.state, initial)
  assert traced.trace.shape == (0, 2, 2)


def test_works_eagerly_too():
  initial = tf.zeros([3, 2])
  eager = runner.run_chain(_kernel(noise_scale=0.0), initial + 1.0, 4,
                           seed=[1, 2])
  expected = np.ones([3, 2]) * (1 - 0.3**2 / 2)**4
  np.testing.assert_allclose(eager.state, expected, rtol=1e-5)


@pytest.mark.parametrize("num_steps", [-1, -10])
def test_negative_num_steps_raises(num_steps):
  with pytest.raises(ValueError, match=f"num_steps={num_steps}"):
    runner.run_chain(_kernel(), tf.zeros([2, 2]), num_steps, seed=[0, 0])


def test_same_seed_same_chain_different_seed_different_chain():
  chain = _compiled(_kernel(), tf.zeros([50, 2]), 20,
                    trace_fn=lambda state, _: state)
  first = chain(tf.constant([7, 7])).trace.numpy()
  again = chain(tf.constant([7, 7])).trace.numpy()
  other = chain(tf.constant([7, 8])).trace.numpy()
  np.testing.assert_array_equal(first, again)
  assert not np.any(first == other)
  # Steps use different noise: the increments of two steps are not equal.
  assert not np.allclose(first[5] - first[4], first[6] - first[5])


def test_tensor_num_steps():
  """num_steps may be a tensor, e.g. a per-grid setting fed at run time."""
  kernel = _kernel(noise_scale=0.0)

  @tf.function
  def chain(num_steps):
    return runner.run_chain(kernel, tf.ones([2, 2]), num_steps,
                            seed=[0, 0]).state

  for steps in (0, 1, 5):
    np.testing.assert_allclose(chain(tf.constant(steps)),
                               np.ones([2, 2]) * (1 - 0.3**2 / 2)**steps,
                               rtol=1e-5)


def test_runs_tfp_kernels():
  """Any tfp.mcmc.TransitionKernel runs, e.g. TFP's own HMC."""
  kernel = tfp.mcmc.HamiltonianMonteCarlo(
      _standard_normal, step_size=0.5, num_leapfrog_steps=3)
  chain = _compiled(kernel, tf.fill([2000, 2], 2.0), 60,
                    trace_fn=lambda _, results: results.is_accepted)
  result = chain(tf.constant([3, 1]))
  assert result.trace.shape == (60, 2000)
  assert result.trace.numpy().mean() > 0.5
  samples = result.state.numpy()
  # HMC is exact: mean 0 and variance 1 within 5 standard errors
  # (sqrt(1 / 2000) = 0.022 for the mean, sqrt(2 / 2000) = 0.032 for the
  # variance) plus a little for the start at 2.
  np.testing.assert_array_less(np.abs(samples.mean(axis=0)), 0.12)
  np.testing.assert_array_less(np.abs(samples.var(axis=0) - 1.0), 0.17)


def test_fold_in_is_deterministic_and_distinct():
  seed = tf.constant([3, 4])
  a = runner.fold_in(seed, 0).numpy()
  assert a.dtype == np.int32 and a.shape == (2,)
  np.testing.assert_array_equal(a, runner.fold_in(seed, 0))
  folded = {tuple(runner.fold_in(seed, i).numpy()) for i in range(20)}
  assert len(folded) == 20
  assert tuple(runner.fold_in([3, 5], 0).numpy()) != tuple(a)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_compile_fn_returns_a_tf_function(jit_compile):
  fn = runner.compile_fn(lambda x: x * 2.0, jit_compile=jit_compile)
  assert isinstance(fn, tf.types.experimental.PolymorphicFunction)
  np.testing.assert_allclose(fn(tf.constant([1.0, 2.0])), [2.0, 4.0])


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
