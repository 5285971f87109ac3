"""The one chain runner: `num_steps` transitions of any TFP kernel.

`run_chain` is graph-friendly (a `tf.while_loop`) and is meant to be called
inside a `tf.function` (the model's train step and sampler). Seeds are
explicit: step `t` uses `fold_in(seed, t)`, so the same int32[2] seed always
gives the same chain. `compile_fn` wraps a function in `tf.function` with a
measured `jit_compile` choice (see docs/benchmarks.md: XLA is slower on the
2-core CPU we measured, faster on GPUs).
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Optional

import tensorflow as tf
import tensorflow_probability as tfp

ChainResult = collections.namedtuple(
    "ChainResult", ["state", "kernel_results", "trace"])


def fold_in(seed: tf.Tensor, data: Any) -> tf.Tensor:
  """A new int32[2] seed from `seed` and an integer (step, grid, replica)."""
  return tf.random.experimental.stateless_fold_in(
      tf.cast(seed, tf.int32), tf.cast(data, tf.int32))


def run_chain(kernel: tfp.mcmc.TransitionKernel,
              initial_state: tf.Tensor,
              num_steps: int,
              seed: tf.Tensor,
              trace_fn: Optional[Callable[[tf.Tensor, Any], Any]] = None,
              ) -> ChainResult:
  """Runs `num_steps` steps of `kernel` from `initial_state`.

  Args:
    kernel: a `tfp.mcmc.TransitionKernel` (e.g. `LangevinKernel`, TFP's HMC).
    initial_state: the chains' start, e.g. images [B, H, W, C].
    num_steps: number of transitions (>= 0; 0 returns the start).
    seed: int32[2] stateless seed.
    trace_fn: optional (state, kernel_results) -> a tensor structure recorded
      after every step; the trace stacks them along a new leading axis.

  Returns:
    ChainResult(state, kernel_results, trace) after the last step; `trace` is
    None without `trace_fn`.
  """
  if isinstance(num_steps, int) and num_steps < 0:
    raise ValueError(f"num_steps={num_steps} must be >= 0.")
  seed = tfp.random.sanitize_seed(seed)
  results = kernel.bootstrap_results(initial_state)

  if trace_fn is None:
    def body(step, state, kernel_results):
      state, kernel_results = kernel.one_step(
          state, kernel_results, seed=fold_in(seed, step))
      return step + 1, state, kernel_results

    _, state, results = tf.while_loop(
        lambda step, *_: step < num_steps, body,
        (tf.constant(0), initial_state, results))
    return ChainResult(state, results, None)

  example = trace_fn(initial_state, results)
  arrays = tf.nest.map_structure(
      lambda t: tf.TensorArray(t.dtype, size=num_steps,
                               element_shape=t.shape), example)

  def traced_body(step, state, kernel_results, arrays):
    state, kernel_results = kernel.one_step(
        state, kernel_results, seed=fold_in(seed, step))
    arrays = tf.nest.map_structure(lambda a, t: a.write(step, t), arrays,
                                   trace_fn(state, kernel_results))
    return step + 1, state, kernel_results, arrays

  _, state, results, arrays = tf.while_loop(
      lambda step, *_: step < num_steps, traced_body,
      (tf.constant(0), initial_state, results, arrays))
  trace = tf.nest.map_structure(lambda a: a.stack(), arrays)
  return ChainResult(state, results, trace)


def compile_fn(fn: Callable, jit_compile: bool = False) -> Callable:
  """`tf.function` with an explicit XLA choice (never Keras' 'auto')."""
  return tf.function(fn, jit_compile=bool(jit_compile), reduce_retracing=True)
