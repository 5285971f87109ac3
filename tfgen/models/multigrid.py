"""Multigrid energy-based ConvNets (Gao, Lu, Zhou, Zhu and Wu, CVPR 2018).

One energy ConvNet per grid (e.g. 4x4 and 16x16 for `grid_sizes=(1, 4, 16)`),
each defining

    log p_g(x) = f_g(x) - ||x||**2 / (2 * reference_stddev**2)   (one per image).

Synthesis: a chain starts at the 1x1 average of an image, is up-sampled to the
next grid, runs `num_langevin_steps` Langevin steps there, is up-sampled again,
and so on; each grid's result is that grid's synthesised image. Training uses
the observed images' own 1x1 averages as starts, so every grid learns from the
difference between observed and synthesised images at its resolution:

    loss_g = mean f_g(synthesised_g) - mean f_g(observed_g),

synthesised images under `stop_gradient`, all grids updated in the same step.
After training, `sample` starts from the 1x1 averages of random training
images, kept in the model (`start_bank`, filled by `adapt` or the first `fit`).
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import keras
import numpy as np
import tensorflow as tf

from tfgen.data import pyramid
from tfgen.mcmc import langevin
from tfgen.mcmc import noise
from tfgen.mcmc import runner
from tfgen.nets import energy

IntOrSeq = Union[int, Sequence[int]]
FloatOrSeq = Union[float, Sequence[float]]


def _per_grid(value, num_grids: int, name: str, kind=float) -> tuple:
  values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
  if len(values) == 1:
    values = values * num_grids
  if len(values) != num_grids:
    raise ValueError(f"{name}={list(values)} must have one value or one per "
                     f"model grid ({num_grids}).")
  return tuple(kind(v) for v in values)


class MultigridEBM(keras.Model):
  """Multigrid energy-based generative ConvNet.

  Images are float32 NHWC in [-1, 1]. Call `sample(n, seed)` for a list of
  images per grid (coarse to fine, the start grid first).
  """

  def __init__(self,
               grid_sizes: Sequence[int] = (1, 4, 16),
               channels: int = 1,
               num_langevin_steps: IntOrSeq = 30,
               step_size: FloatOrSeq = 0.3,
               noise_scale: FloatOrSeq = 1.0,
               reference_stddev: float = 1.0,
               clip_samples: bool = True,
               net_width: float = 1.0,
               activation: str = "leaky_relu",
               start_bank_size: int = 2000,
               seed: int = 0,
               jit_compile: bool = False,
               **kwargs):
    """Creates the energy nets.

    Args:
      grid_sizes: increasing side lengths, each dividing the next; the first
        is the chains' start (1 in the paper), the last the image size.
      channels: image channels.
      num_langevin_steps: steps per model grid (one value or one per grid).
      step_size: Langevin step size delta per model grid.
      noise_scale: per model grid; 1 = Langevin dynamics, 0 = noise-free
        (the official code's update).
      reference_stddev: standard deviation of the Gaussian reference term.
      clip_samples: clip chains to [-1, 1] after every step.
      net_width: width multiplier of the energy nets' preset.
      activation: activation of the energy nets.
      start_bank_size: how many training images' start-grid averages are kept
        for unconditional sampling.
      seed: base of the training step seeds.
      jit_compile: XLA for the train step and sampler (measured choice).
    """
    super().__init__(**kwargs)
    grid_sizes = tuple(int(g) for g in grid_sizes)
    pyramid.validate_grid_sizes(grid_sizes, grid_sizes[-1])
    num_model_grids = len(grid_sizes) - 1
    self.grid_sizes = grid_sizes
    self.channels = int(channels)
    self.num_langevin_steps = _per_grid(num_langevin_steps, num_model_grids,
                                        "num_langevin_steps", int)
    self.step_size = _per_grid(step_size, num_model_grids, "step_size")
    if any(s < 0 for s in self.num_langevin_steps):
      raise ValueError(f"num_langevin_steps={list(self.num_langevin_steps)} "
                       "must be >= 0, e.g. 30.")
    if any(s <= 0 for s in self.step_size):
      raise ValueError(f"step_size={list(self.step_size)} must be > 0, "
                       "e.g. 0.3.")
    if reference_stddev <= 0:
      raise ValueError(f"reference_stddev={reference_stddev} must be > 0.")
    if start_bank_size <= 0:
      raise ValueError(f"start_bank_size={start_bank_size} must be > 0.")
    self.noise_scale = _per_grid(noise_scale, num_model_grids, "noise_scale")
    if any(s < 0 for s in self.noise_scale):
      raise ValueError(f"noise_scale={list(self.noise_scale)} must be >= 0.")
    self.reference_stddev = float(reference_stddev)
    self.clip_samples = bool(clip_samples)
    self.net_width = float(net_width)
    self.activation = activation
    self.start_bank_size = int(start_bank_size)
    self.seed = int(seed)
    self.sampler_jit_compile = bool(jit_compile)
    self.energy_nets = [
        energy.build_energy_net(
            size, self.channels,
            energy.energy_net_spec(size, net_width, activation),
            name=f"energy_grid{size}")
        for size in grid_sizes[1:]]
    # Named attributes make each net a child in tf.train.Checkpoint (Keras'
    # own list wrapper is not a TF trackable, so the list alone is not saved).
    for size, net in zip(grid_sizes[1:], self.energy_nets):
      setattr(self, f"energy_grid{size}", net)
    start = grid_sizes[0]
    self.start_bank = self.add_weight(
        shape=(self.start_bank_size, start, start, self.channels),
        initializer="zeros", trainable=False, name="start_bank")
    self.start_bank_count = self.add_weight(
        shape=(), initializer="zeros", dtype="int32", trainable=False,
        name="start_bank_count")
    self._compiled_sample = runner.compile_fn(self.sample_from_seeds,
                                              self.sampler_jit_compile)
    self._compiled_sample_from = runner.compile_fn(
        lambda pairs, starts: self.sample_from_seeds(pairs,
                                                     start_images=starts),
        self.sampler_jit_compile)
    self.built = True

  # ---- energies ----------------------------------------------------------
  @property
  def model_grids(self) -> tuple[int, ...]:
    """Grids that have an energy net (all but the start grid)."""
    return self.grid_sizes[1:]

  def score(self, images: tf.Tensor, grid_index: int) -> tf.Tensor:
    """f_g(images) [B] of the `grid_index`-th model grid."""
    return self.energy_nets[grid_index](images, training=False)[:, 0]

  def log_prob(self, images: tf.Tensor, grid_index: int) -> tf.Tensor:
    """Unnormalised log p_g(images) [B] (score minus the Gaussian reference)."""
    square_norm = tf.reduce_sum(tf.square(images), axis=[1, 2, 3])
    return (self.score(images, grid_index) -
            square_norm / (2.0 * self.reference_stddev**2))

  def kernel(self, grid_index: int, noise_fn=langevin.standard_normal_noise,
             constraint_fn=None):
    """The Langevin kernel targeting grid `grid_index`'s log p."""
    return langevin.LangevinKernel(
        lambda x: self.log_prob(x, grid_index),
        step_size=self.step_size[grid_index],
        noise_scale=self.noise_scale[grid_index],
        clip_range=(-1.0, 1.0) if self.clip_samples else None,
        noise_fn=noise_fn, constraint_fn=constraint_fn)

  # ---- synthesis ---------------------------------------------------------
  def synthesize(self, start_images: tf.Tensor, seed: tf.Tensor,
                 noise_fn=langevin.standard_normal_noise,
                 constraint_fns: Optional[Sequence] = None,
                 num_langevin_steps: Optional[Sequence[int]] = None,
                 ) -> list[tf.Tensor]:
    """Coarse-to-fine chains from `start_images` [B, g0, g0, C].

    Args:
      start_images: the chains' start on the first grid.
      seed: int32[2] seed of the chains (folded with the grid index).
      noise_fn: one noise source for every grid, or a list with one per model
        grid (see `LangevinKernel`).
      constraint_fns: optional list, per model grid, of state -> state
        projections applied to the up-sampled start and after every step.
      num_langevin_steps: optional per-grid step counts (default: the
        model's).

    Returns:
      [start, grid1 sample, ..., finest sample], each [B, g, g, C].
    """
    steps = num_langevin_steps or self.num_langevin_steps
    noise_fns = (list(noise_fn) if isinstance(noise_fn, (list, tuple))
                 else [noise_fn] * len(self.model_grids))
    constraint_fns = constraint_fns or [None] * len(self.model_grids)
    images = [start_images]
    state = start_images
    for index, size in enumerate(self.model_grids):
      state = pyramid.upsample(state, size)
      if constraint_fns[index] is not None:
        state = constraint_fns[index](state)
      kernel = self.kernel(index, noise_fns[index], constraint_fns[index])
      result = runner.run_chain(kernel, state, steps[index],
                                runner.fold_in(seed, index))
      state = result.state
      images.append(state)
    return images

  def _serving_steps(self, num_langevin_steps) -> tuple[int, ...]:
    if num_langevin_steps is None:
      return self.num_langevin_steps
    return _per_grid(num_langevin_steps, len(self.model_grids),
                     "num_langevin_steps", int)

  def _per_example_noise(self, pairs: tf.Tensor,
                         steps: Sequence[int]) -> list:
    """Noise sources per model grid drawn from each example's own seed."""
    shapes = [[steps[i], size, size, self.channels]
              if self.noise_scale[i] > 0 and steps[i] > 0 else None
              for i, size in enumerate(self.model_grids)]
    return [source or langevin.standard_normal_noise
            for source in noise.per_example_noise(pairs, shapes)]

  def sample_from_seeds(self, seeds, num_langevin_steps=None,
                        start_images: Optional[tf.Tensor] = None
                        ) -> list[tf.Tensor]:
    """Samples one image per seed; graph-traceable (for export).

    Args:
      seeds: int [B] per-instance seeds, or int32 [B, 2] seed pairs. Each
        image depends only on its own seed.
      num_langevin_steps: optional per-grid step counts (default: trained).
      start_images: optional [B, g0, g0, C] starts (default: a training
        image's start-grid average chosen by each seed).

    Returns:
      One [B, g, g, C] tensor in [-1, 1] per grid, coarse to fine.
    """
    pairs = noise.seed_pairs(seeds)
    steps = self._serving_steps(num_langevin_steps)
    noise_fns = self._per_example_noise(pairs, steps)
    if start_images is None:
      index = noise.per_example_choice(pairs, self.start_bank_count)
      start_images = tf.gather(self.start_bank, index)
    return self.synthesize(start_images, tf.constant([0, 0]), noise_fns,
                           num_langevin_steps=steps)

  def inpaint_from_seeds(self, images: tf.Tensor, masks: tf.Tensor, seeds,
                         num_langevin_steps=None) -> list[tf.Tensor]:
    """Fills the missing pixels of `images`; graph-traceable (for export).

    Coarse to fine, as in sampling, from the 1x1 average of the observed
    pixels; at every grid the chain updates only the missing pixels and keeps
    the observed ones (a coarse pixel is observed if all its pixels are).

    Args:
      images: [B, S, S, C] in [-1, 1] (missing pixels may hold anything).
      masks: [B, S, S, 1] or [B, S, S, C], 1 = missing, 0 = observed.
      seeds: int [B] per-image seeds or int32 [B, 2] pairs.
      num_langevin_steps: optional per-grid step counts.

    Returns:
      One [B, g, g, C] tensor in [-1, 1] per grid; the last is the filled
      image, equal to `images` wherever the mask is 0.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    observed = 1.0 - tf.broadcast_to(tf.cast(masks, tf.float32),
                                     tf.shape(images))
    pairs = noise.seed_pairs(seeds)
    steps = self._serving_steps(num_langevin_steps)
    noise_fns = self._per_example_noise(pairs, steps)
    known, values = pyramid.observed_pyramid(images, observed,
                                             self.grid_sizes)

    def clamp(index):
      return lambda x: known[index] * values[index] + (1 - known[index]) * x

    constraint_fns = [clamp(i + 1) for i in range(len(self.model_grids))]
    return self.synthesize(values[0], tf.constant([0, 0]), noise_fns,
                           constraint_fns, num_langevin_steps=steps)

  def adapt(self, data) -> None:
    """Keeps start-grid averages of training images for `sample`.

    `data`: images [N, S, S, C] (array or tensor) or a dataset of images or
    (images, labels) batches; at most `start_bank_size` images are used.
    """
    if isinstance(data, tf.data.Dataset):
      chunks, count = [], 0
      for batch in data:
        batch = batch[0] if isinstance(batch, (tuple, list)) else batch
        chunks.append(tf.convert_to_tensor(batch))
        count += int(batch.shape[0])
        if count >= self.start_bank_size:
          break
      images = tf.concat(chunks, axis=0)
    else:
      images = tf.convert_to_tensor(data, tf.float32)
    images = images[:self.start_bank_size]
    starts = pyramid.downsample(tf.cast(images, tf.float32),
                                self.grid_sizes[0])
    count = int(starts.shape[0])
    reps = -(-self.start_bank_size // count)
    self.start_bank.assign(tf.tile(starts, [reps, 1, 1, 1])[
        :self.start_bank_size])
    self.start_bank_count.assign(count)

  @property
  def is_adapted(self) -> bool:
    return int(self.start_bank_count.numpy()) > 0

  def start_images(self, num_samples: int, seed) -> tf.Tensor:
    """`num_samples` start-grid images drawn from the bank by `seed`."""
    if not self.is_adapted:
      raise RuntimeError(
          "The model has no start images: call model.adapt(train_images) or "
          "train it (fit / apps.train) before sampling.")
    index = tf.random.stateless_uniform(
        [num_samples], seed=tf.cast(seed, tf.int32), minval=0,
        maxval=self.start_bank_count, dtype=tf.int32)
    return tf.gather(self.start_bank, index)

  def example_seeds(self, seed, num_samples: int,
                    first_index: int = 0) -> tf.Tensor:
    """int32 [N, 2] seed pairs of examples first_index.. of a sampling call."""
    return noise.example_seeds(seed, num_samples, first_index)

  def sample(self, num_samples: int, seed=(0, 0), first_index: int = 0,
             start_images: Optional[tf.Tensor] = None) -> list[tf.Tensor]:
    """Samples `num_samples` images; returns one [N, g, g, C] tensor per grid.

    `seed` is an int or int32[2]. Example i uses the seed pair
    `example_seeds(seed, ...)[i]` and nothing else, so the same seed gives the
    same images, and `sample(n, seed, first_index=k)` continues
    `sample(k, seed)` (chunked sampling equals one big call). Pass
    `start_images` [N, g0, g0, C] to start from given coarse images instead
    of random training images' averages.
    """
    if not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
      raise ValueError(f"num_samples={num_samples!r} must be a positive int.")
    if start_images is None and not self.is_adapted:
      raise RuntimeError(
          "The model has no start images: call model.adapt(train_images) or "
          "train it (fit / apps.train) before sampling.")
    pairs = self.example_seeds(seed, int(num_samples), int(first_index))
    if start_images is None:
      return self._compiled_sample(pairs)
    return self._compiled_sample_from(
        pairs, tf.convert_to_tensor(start_images, tf.float32))

  # ---- training ----------------------------------------------------------
  def compile(self, optimizer=None, **kwargs):
    """Defaults to Adam(3e-4, beta_1=0.5) and an explicit XLA choice."""
    if optimizer is None:
      optimizer = keras.optimizers.Adam(3e-4, beta_1=0.5)
    kwargs.setdefault("jit_compile", self.sampler_jit_compile)
    super().compile(optimizer=optimizer, **kwargs)

  def fit(self, x=None, *args, **kwargs):
    if x is not None and not self.is_adapted:
      self.adapt(x)
    return super().fit(x, *args, **kwargs)

  def train_step(self, data):
    """One update of every grid from a (local) batch; returns scalar metrics.

    Works on one device (Keras `fit`) and per replica under `strategy.run`:
    losses are scaled by the global batch, and the Langevin noise of each
    example is the same row of one global noise batch whichever replica
    holds it, so a mirrored step equals a single-device step.
    """
    images = data[0] if isinstance(data, (tuple, list)) else data
    images = tf.convert_to_tensor(images, tf.float32)
    seed = runner.fold_in(tf.constant([self.seed, 0x6D67]),
                          self.optimizer.iterations)
    return self.train_on_images(images, seed)

  def train_on_images(self, images: tf.Tensor, seed: tf.Tensor) -> dict:
    """Synthesises, computes every grid's gradient and applies them."""
    grads, metrics, _ = self.compute_gradients(images, seed)
    variables = [net.trainable_variables for net in self.energy_nets]
    self.optimizer.apply_gradients(
        zip(tf.nest.flatten(grads), tf.nest.flatten(variables)))
    return metrics

  def compute_gradients(self, images: tf.Tensor, seed: tf.Tensor):
    """Per-replica gradients of the global-batch loss of every grid.

    Args:
      images: this replica's observed images [b, S, S, C] in [-1, 1].
      seed: int32[2] seed of this training step (same on every replica).

    Returns:
      (grads, metrics, synthesized): grads is one list per energy net (sum
      them over replicas for the global-batch gradient), metrics a dict of
      scalars, synthesized the list of per-grid synthesised images.
    """
    num_replicas = noise.num_replicas()
    global_noise = noise.global_batch_noise(tf.shape(images)[0])
    observed = pyramid.gaussian_pyramid(images, self.grid_sizes)
    synthesized = self.synthesize(observed[0], seed, noise_fn=global_noise)
    synthesized = [tf.stop_gradient(s) for s in synthesized]
    metrics = {}
    with tf.GradientTape() as tape:
      losses = []
      for index, size in enumerate(self.model_grids):
        score_obs = self.score(observed[index + 1], index)
        score_syn = self.score(synthesized[index + 1], index)
        loss = tf.reduce_mean(score_syn) - tf.reduce_mean(score_obs)
        losses.append(loss)
        metrics[f"loss/grid{size}"] = loss
        metrics[f"score_observed/grid{size}"] = tf.reduce_mean(score_obs)
        metrics[f"score_synthesized/grid{size}"] = tf.reduce_mean(score_syn)
        metrics[f"sample_abs_max/grid{size}"] = tf.reduce_max(
            tf.abs(synthesized[index + 1]))
      # Local means / replicas = this replica's share of the global mean.
      total = tf.add_n(losses) / num_replicas
    variables = [net.trainable_variables for net in self.energy_nets]
    grads = tape.gradient(total, variables)
    for size, net_grads in zip(self.model_grids, grads):
      metrics[f"grad_l1/grid{size}"] = tf.add_n(
          [tf.reduce_sum(tf.abs(g)) for g in net_grads])
    return grads, metrics, synthesized

  def get_config(self):
    return dict(
        grid_sizes=list(self.grid_sizes), channels=self.channels,
        num_langevin_steps=list(self.num_langevin_steps),
        step_size=list(self.step_size), noise_scale=list(self.noise_scale),
        reference_stddev=self.reference_stddev,
        clip_samples=self.clip_samples, net_width=self.net_width,
        activation=self.activation, start_bank_size=self.start_bank_size,
        seed=self.seed, jit_compile=self.sampler_jit_compile)
