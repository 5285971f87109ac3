"""The training step of `MultigridEBM`, for each method of the paper.

'multigrid' / 'single_grid' synthesise from the observed images' start-grid
averages through every grid; 'cd' runs k steps from the observed images;
'persistent_cd' continues chains kept in the model (`persistent_chains`,
saved in checkpoints) and writes them back. Every grid's loss is
mean f(synthesised) - mean f(observed), scaled to the global batch, so the
step runs unchanged on one device (Keras `fit`) or per replica under
`strategy.run`.
"""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from tfgen.core import seeds
from tfgen.data import pyramid
from tfgen.mcmc import noise
from tfgen.mcmc import runner


class MultigridTraining:
  """Mixin of `MultigridEBM`: compile, fit, update_step, gradients.

  The model owns one optimizer, the one given to `compile` (Adam by
  default), which updates every grid's energy net.
  """

  def compile(self, optimizer=None, **kwargs):
    """Defaults to Adam(3e-4, beta_1=0.5) and an explicit XLA choice."""
    if optimizer is None:
      optimizer = keras.optimizers.Adam(3e-4, beta_1=0.5)
    kwargs.setdefault("jit_compile", self.sampler_jit_compile)
    super().compile(optimizer=optimizer, **kwargs)
    # The configured rate, before any checkpoint restores a backed-off one.
    self._configured_learning_rate = float(
        keras.ops.convert_to_numpy(self.optimizer.learning_rate))

  def compile_from_config(self, config):
    """Re-compiles a `.keras`-loaded model with its saved optimizer."""
    optimizer = config.get("optimizer") if config else None
    self.compile(optimizer=keras.optimizers.deserialize(optimizer)
                 if optimizer else None)

  def set_learning_rate_scale(self, scale: float) -> None:
    """The compiled optimizer at `scale` x the rate it was compiled with."""
    self.optimizer.learning_rate = self._configured_learning_rate * float(
        scale)

  def checkpoint_objects(self) -> dict:
    """The model and its optimizer (key 'optimizer', as always)."""
    return {"model": self, "optimizer": self.optimizer}

  def fit(self, x=None, *args, **kwargs):
    if x is not None and not self.is_adapted:
      if isinstance(x, tf.data.Dataset) or not self.is_conditional:
        self.adapt(x)
      else:
        self.adapt(x, labels=kwargs.get("y", args[0] if args else None))
    return super().fit(x, *args, **kwargs)

  def update_step(self, data, step):
    """One update of every grid from a (local) batch; returns scalar metrics.

    `data`: images [b, S, S, C] or (images, labels [b]) (labels needed by a
    conditional model). Works on one device (Keras `fit`) and per replica
    under `strategy.run`: losses are scaled by the global batch, and the
    Langevin noise of each example is the same row of one global noise batch
    whichever replica holds it, so a mirrored step equals a single-device
    step (HMC draws its momentum per replica).
    """
    images, labels = (tuple(data) + (None,))[:2] if isinstance(
        data, (tuple, list)) else (data, None)
    images = tf.convert_to_tensor(images, tf.float32)
    seed = runner.fold_in(
        seeds.run_stream(self.seed, seeds.MULTIGRID_TRAINING), step)
    return self.train_on_images(images, seed, labels, step)

  def train_on_images(self, images: tf.Tensor, seed: tf.Tensor,
                      labels: Optional[tf.Tensor] = None, step=0) -> dict:
    """Synthesises, computes every grid's gradient and applies them."""
    grads, metrics, _ = self.compute_gradients(images, seed, labels, step)
    self.apply_energy_gradients(grads)
    return metrics

  def apply_energy_gradients(self, grads: list) -> None:
    """One optimizer step from `grads`, one gradient list per energy net
    (`compute_gradients` / `gradients_from_samples`)."""
    variables = [net.trainable_variables for net in self.energy_nets]
    self.optimizer.apply_gradients(
        zip(tf.nest.flatten(grads), tf.nest.flatten(variables)))

  def _training_samples(self, observed: list, seed: tf.Tensor, labels,
                        step=0):
    """Synthesised images per grid for one training step (by `method`)."""
    local_batch = tf.shape(observed[-1])[0]
    global_noise = noise.global_batch_noise(local_batch)
    if self.sampler == "hmc":  # HMC momentum: one draw per replica.
      seed = runner.fold_in(seed, _replica_id())
    if self.method in ("multigrid", "single_grid"):
      return self.synthesize(observed[0], seed, noise_fn=global_noise,
                             labels=labels)
    steps = self.num_langevin_steps[0]
    if self.method == "cd":
      final = self.run_grid(0, observed[-1], steps, runner.fold_in(seed, 0),
                            global_noise, labels=labels)
      return [observed[0], final]
    rows = self._persistent_rows(local_batch, step)
    start = tf.gather(self.persistent_chains, rows)
    final = self.run_grid(0, start, steps, runner.fold_in(seed, 0),
                          global_noise)
    self._write_persistent_rows(rows, final)
    return [observed[0], final]

  def _persistent_rows(self, local_batch: tf.Tensor, step) -> tf.Tensor:
    """Bank rows of this replica's chains: the `step`-th global batch, cyclic."""
    global_batch = local_batch * noise.num_replicas()
    first = (tf.cast(step, tf.int32) * global_batch +
             tf.cast(_replica_id(), tf.int32) * local_batch)
    return (first + tf.range(local_batch)) % self.persistent_bank_size

  def _write_persistent_rows(self, rows: tf.Tensor, states: tf.Tensor):
    """Writes this replica's chains into the bank shared by all replicas.

    No gather collective: replica r proposes `bank + R * change_r`, where
    change_r is zero outside its rows, and the bank ('mean' aggregation over
    the R replicas) becomes `bank + sum_r change_r`: every replica's rows.
    """
    bank = tf.convert_to_tensor(self.persistent_chains)
    change = tf.scatter_nd(rows[:, None],
                           tf.stop_gradient(states) - tf.gather(bank, rows),
                           tf.shape(bank))
    replicas = tf.cast(noise.num_replicas(), bank.dtype)
    self.persistent_chains.assign(bank + replicas * change)

  def compute_gradients(self, images: tf.Tensor, seed: tf.Tensor,
                        labels: Optional[tf.Tensor] = None, step=0):
    """Per-replica gradients of the global-batch loss of every grid.

    Args:
      images: this replica's observed images [b, S, S, C] in [-1, 1].
      seed: int32[2] seed of this training step (same on every replica).
      labels: int [b] classes (conditional models only).
      step: the training step (int scalar; picks persistent chains).

    Returns:
      (grads, metrics, synthesized): grads is one list per energy net (sum
      them over replicas for the global-batch gradient), metrics a dict of
      scalars, synthesized the list of per-grid synthesised images.
    """
    labels = self._check_labels(labels)
    observed = pyramid.gaussian_pyramid(images, self.grid_sizes)
    synthesized = self._training_samples(observed, seed, labels, step)
    synthesized = [tf.stop_gradient(s) for s in synthesized]
    grads, metrics = self.gradients_from_samples(observed, synthesized,
                                                 labels)
    return grads, metrics, synthesized

  def gradients_from_samples(self, observed: list, synthesized: list,
                             labels: Optional[tf.Tensor] = None):
    """Every grid's gradient of mean f(synthesised) - mean f(observed).

    Args:
      observed: the observed pyramid (`pyramid.gaussian_pyramid`), one
        [b, s, s, C] tensor per grid size, values in [-1, 1].
      synthesized: the synthesised images per grid, same shapes
        (`_training_samples`), treated as constants.
      labels: int [b] classes (conditional models only; already checked).

    Returns:
      (grads, metrics): one gradient list per energy net, scalar metrics.
    """
    num_replicas = noise.num_replicas()
    metrics = {}
    with tf.GradientTape() as tape:
      losses = []
      for index, size in enumerate(self.model_grids):
        score_obs = self.score(observed[index + 1], index, labels)
        score_syn = self.score(synthesized[index + 1], index, labels)
        loss = tf.reduce_mean(score_syn) - tf.reduce_mean(score_obs)
        losses.append(loss)
        metrics[f"loss/grid{size}"] = loss
        metrics[f"score_observed/grid{size}"] = tf.reduce_mean(score_obs)
        metrics[f"score_synthesized/grid{size}"] = tf.reduce_mean(score_syn)
        metrics[f"sample_abs_max/grid{size}"] = tf.reduce_max(
            tf.abs(synthesized[index + 1]))
      # Local means / replicas = this replica's share of the global mean.
      total = tf.add_n(losses) / num_replicas
      # Loss-scaled under mixed_float16 (1 otherwise); apply_gradients of the
      # LossScaleOptimizer unscales, the metrics below are unscaled here.
      # (An uncompiled model, e.g. gradients for analysis, has no optimizer.)
      optimizer = getattr(self, "optimizer", None)
      loss_scale = (optimizer.scale_loss(tf.constant(1.0))
                    if optimizer is not None else tf.constant(1.0))
      total = total * loss_scale
    variables = [net.trainable_variables for net in self.energy_nets]
    grads = tape.gradient(total, variables)
    for size, net_grads in zip(self.model_grids, grads):
      metrics[f"grad_l1/grid{size}"] = tf.add_n(
          [tf.reduce_sum(tf.abs(g)) for g in net_grads]) / loss_scale
    return grads, metrics


def _replica_id() -> tf.Tensor:
  context = tf.distribute.get_replica_context()
  if context is None:
    return tf.constant(0, tf.int32)
  return tf.cast(context.replica_id_in_sync_group, tf.int32)
