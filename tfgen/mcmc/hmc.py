"""Hamiltonian Monte Carlo through TFP's own kernels.

The multigrid supplement compares Langevin with HMC of 5 leapfrog steps per
iteration. `hmc_kernel` builds `tfp.mcmc.HamiltonianMonteCarlo` (Metropolis
corrected) or `tfp.mcmc.UncalibratedHamiltonianMonteCarlo` (every proposal
kept, like the papers' finite-step Langevin sampler) for a batch of chains:
the state is one tensor [B, ...] and `target_log_prob_fn` returns [B], so each
chain is accepted or rejected on its own. The kernel results are TFP's own
named tuples and the kernel runs on `tfgen.mcmc.runner.run_chain` like the
Langevin kernel.

HMC has no notion of clipping or clamped pixels: to keep the chain inside
[-1, 1] or to clamp the observed pixels of an inpainting chain, wrap the
target with `projected_target` (the chain then moves freely, the density is
evaluated at the projected point) and project the final state.
"""

from __future__ import annotations

from typing import Callable, Optional

import tensorflow as tf
import tensorflow_probability as tfp

DEFAULT_NUM_LEAPFROG_STEPS = 5  # The supplement's setting.


def hmc_kernel(target_log_prob_fn: Callable[[tf.Tensor], tf.Tensor],
               step_size: float,
               num_leapfrog_steps: int = DEFAULT_NUM_LEAPFROG_STEPS,
               metropolis: bool = True) -> tfp.mcmc.TransitionKernel:
  """TFP's HMC with a leapfrog `step_size` (the papers' delta).

  Args:
    target_log_prob_fn: state [B, ...] -> log p per chain [B].
    step_size: leapfrog step size (> 0); one leapfrog step of HMC without
      the Metropolis test is the Langevin step of the same delta.
    num_leapfrog_steps: leapfrog steps per transition (>= 1).
    metropolis: True for `HamiltonianMonteCarlo` (accept/reject per chain),
      False for `UncalibratedHamiltonianMonteCarlo` (always accept).

  Returns:
    A `tfp.mcmc.TransitionKernel` whose `one_step` costs `num_leapfrog_steps`
    forward and backward passes of the target.
  """
  if not step_size > 0:
    raise ValueError(f"step_size={step_size!r} must be > 0, e.g. 0.3.")
  if (isinstance(num_leapfrog_steps, bool)
      or not isinstance(num_leapfrog_steps, int) or num_leapfrog_steps < 1):
    raise ValueError(f"num_leapfrog_steps={num_leapfrog_steps!r} must be an "
                     "integer >= 1, e.g. 5.")
  kind = (tfp.mcmc.HamiltonianMonteCarlo if metropolis
          else tfp.mcmc.UncalibratedHamiltonianMonteCarlo)
  return kind(target_log_prob_fn, step_size=float(step_size),
              num_leapfrog_steps=num_leapfrog_steps)


def projected_target(target_log_prob_fn: Callable[[tf.Tensor], tf.Tensor],
                     project_fn: Optional[Callable[[tf.Tensor], tf.Tensor]]
                     ) -> Callable[[tf.Tensor], tf.Tensor]:
  """x -> target_log_prob_fn(project_fn(x)) (the target itself if None)."""
  if project_fn is None:
    return target_log_prob_fn
  return lambda state: target_log_prob_fn(project_fn(state))


def acceptance_rate(kernel_results) -> Optional[tf.Tensor]:
  """Mean acceptance of the last step's chains, or None without a test."""
  is_accepted = getattr(kernel_results, "is_accepted", None)
  if is_accepted is None:
    return None
  return tf.reduce_mean(tf.cast(is_accepted, tf.float32))
