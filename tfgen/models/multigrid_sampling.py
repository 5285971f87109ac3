"""Sampling, inpainting and the start bank of `MultigridEBM`.

Unconditional sampling starts each chain at the start-grid (1x1) average of a
training image kept in the model's `start_bank` (filled by `adapt` or the
first `fit`); a class-conditional model also keeps each start's label, and
`class_id` picks starts of that class. Every image depends only on its own
seed (Langevin: all its noise is drawn from it); HMC's momentum is drawn for
the whole batch from one seed made of the batch's seeds, so an HMC image also
depends on its batch-mates' seeds.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tfgen.core import seeds
from tfgen.data import pyramid
from tfgen.mcmc import langevin
from tfgen.mcmc import noise
from tfgen.mcmc import runner


def per_grid(value, num_grids: int, name: str, kind=float) -> tuple:
  """One value or a sequence of them -> a tuple of `num_grids` values."""
  values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
  if len(values) == 1:
    values = values * num_grids
  if len(values) != num_grids:
    raise ValueError(f"{name}={list(values)} must have one value or one per "
                     f"model grid ({num_grids}).")
  return tuple(kind(v) for v in values)


class MultigridSampling:
  """Mixin of `MultigridEBM`: start bank, sample, inpaint (graph-traceable)."""

  def _build_start_bank(self):
    start = self.grid_sizes[0]
    self.start_bank = self.add_weight(
        shape=(self.start_bank_size, start, start, self.channels),
        initializer="zeros", trainable=False, name="start_bank")
    self.start_bank_count = self.add_weight(
        shape=(), initializer="zeros", dtype="int32", trainable=False,
        name="start_bank_count")
    if self.is_conditional:
      self.start_bank_labels = self.add_weight(
          shape=(self.start_bank_size,), initializer="zeros", dtype="int32",
          trainable=False, name="start_bank_labels")

  def _compile_samplers(self):
    self._compiled_sample = runner.compile_fn(
        lambda pairs, classes: self.sample_from_seeds(pairs,
                                                      class_ids=classes),
        self.sampler_jit_compile)
    self._compiled_sample_from = runner.compile_fn(
        lambda pairs, starts, classes: self.sample_from_seeds(
            pairs, start_images=starts, class_ids=classes),
        self.sampler_jit_compile)

  def set_step_size(self, step_size: Sequence[float]) -> None:
    """Sets the per-grid step size and retraces the compiled samplers.

    The step size is a Python constant of traced functions: callers that
    compiled their own train step must retrace it too.
    """
    self.step_size = tuple(float(s) for s in step_size)
    self._compile_samplers()

  # ---- seeds, steps, starts ---------------------------------------------
  def sampling_steps(self, num_langevin_steps=None) -> tuple[int, ...]:
    """Per-grid Langevin steps of a sampler call (or of an export).

    None: the model's `num_sampling_steps`; else one int >= 0 for every
    model grid, or one per model grid; or a scalar int tensor (a serving
    request's `num_steps`, checked by its signature) for every grid.
    """
    if num_langevin_steps is None:
      return tuple(self.num_sampling_steps)
    if tf.is_tensor(num_langevin_steps):
      return (num_langevin_steps,) * len(self.model_grids)
    steps = (tuple(num_langevin_steps) if isinstance(num_langevin_steps,
                                                     (list, tuple))
             else (num_langevin_steps,))
    num_grids = len(self.model_grids)
    if len(steps) == 1:
      steps *= num_grids
    if len(steps) != num_grids or any(
        isinstance(s, bool) or int(s) != s or s < 0 for s in steps):
      raise ValueError(
          f"num_langevin_steps={list(steps)} must be one int >= 0 or one per "
          f"model grid ({num_grids}, grids {list(self.model_grids)}), e.g. "
          f"{list(self.num_langevin_steps)}.")
    return tuple(int(s) for s in steps)

  def inpainting_steps(self, num_langevin_steps=None) -> tuple[int, ...]:
    """Per-grid steps of an inpainting call: `sampling_steps`, except that
    None means the model's `num_inpainting_steps`."""
    if num_langevin_steps is None:
      return tuple(self.num_inpainting_steps)
    return self.sampling_steps(num_langevin_steps)

  def _per_example_noise(self, pairs: tf.Tensor, steps: Sequence[int],
                         sampler: Optional[str] = None) -> list:
    """Langevin noise sources per model grid from each example's own seed."""
    if (sampler or self.sampler) != "langevin":
      return [langevin.standard_normal_noise] * len(self.model_grids)
    shapes = [[steps[i], size, size, self.channels]
              if self.noise_scale[i] > 0 and (tf.is_tensor(steps[i])
                                              or steps[i] > 0) else None
              for i, size in enumerate(self.model_grids)]
    return [source or langevin.standard_normal_noise
            for source in noise.per_example_noise(pairs, shapes)]

  def _chain_seed(self, pairs: tf.Tensor,
                  sampler: Optional[str] = None) -> tf.Tensor:
    """The batch seed (used by HMC only): a fold of every example's seed."""
    if (sampler or self.sampler) == "langevin":
      return tf.constant([0, 0], tf.int32)
    return tf.foldl(runner.fold_in, tf.reshape(pairs, [-1]),
                    initializer=tf.constant(seeds.HMC_BATCH_SEED, tf.int32))

  def _class_starts(self, pairs: tf.Tensor, class_ids: tf.Tensor):
    """Bank rows [B] of start images whose label is each example's class."""
    count = self.start_bank_count
    in_bank = tf.range(self.start_bank_size) < count
    members = tf.logical_and(
        tf.equal(self.start_bank_labels[None, :], class_ids[:, None]),
        in_bank[None, :])
    members_int = tf.cast(members, tf.int32)
    num_members = tf.reduce_sum(members_int, axis=1)
    checks = [tf.debugging.assert_positive(
        num_members, message="the start bank holds no image of a requested "
        "class_id; adapt the model on images of every class")]
    with tf.control_dependencies(checks):
      choice = tf.map_fn(
          lambda args: tf.random.stateless_uniform(
              [], seed=runner.fold_in(args[0], seeds.CLASS_START_CHOICE), minval=0,
              maxval=args[1], dtype=tf.int32),
          (pairs, num_members), fn_output_signature=tf.TensorSpec([],
                                                                  tf.int32))
    rank = tf.cumsum(members_int, axis=1) - 1
    hit = tf.logical_and(members, tf.equal(rank, choice[:, None]))
    return tf.argmax(tf.cast(hit, tf.int32), axis=1, output_type=tf.int32)

  # ---- graph-traceable entry points (export) ----------------------------
  def sample_from_seeds(self, seeds, num_langevin_steps=None,
                        start_images: Optional[tf.Tensor] = None,
                        class_ids: Optional[tf.Tensor] = None,
                        ) -> list[tf.Tensor]:
    """Samples one image per seed; graph-traceable (for export).

    Args:
      seeds: int [B] per-instance seeds, or int32 [B, 2] seed pairs.
      num_langevin_steps: optional per-grid step counts (default: the
        model's `num_sampling_steps`), or a scalar int tensor for every
        grid (see `sampling_steps`).
      start_images: optional [B, g0, g0, C] starts (default: a training
        image's start-grid average chosen by each seed).
      class_ids: int [B] classes of a conditional model (default: the label
        of the chosen start image); ignored by unconditional models.

    Returns:
      One [B, g, g, C] tensor in [-1, 1] per grid, coarse to fine.
    """
    pairs = noise.seed_pairs(seeds)
    steps = self.sampling_steps(num_langevin_steps)
    noise_fns = self._per_example_noise(pairs, steps)
    start_images, labels = self._starts(pairs, start_images, class_ids)
    return self.synthesize(start_images, self._chain_seed(pairs), noise_fns,
                           num_langevin_steps=steps, labels=labels)

  def _starts(self, pairs: tf.Tensor, start_images=None, class_ids=None):
    """(start images [B, g0, g0, C], labels [B] or None) of seed pairs.

    Without `start_images`, each seed picks a bank image (of its class in
    `class_ids` when given); a conditional model without `class_ids` takes
    the label of the picked image.
    """
    labels = None
    if self.is_conditional and class_ids is not None:
      labels = tf.cast(class_ids, tf.int32)
    if start_images is None:
      if labels is not None:
        index = self._class_starts(pairs, labels)
      else:
        index = noise.per_example_choice(pairs, self.start_bank_count)
        if self.is_conditional:
          labels = tf.gather(self.start_bank_labels, index)
      start_images = tf.gather(self.start_bank, index)
    return start_images, labels

  def inpaint_from_seeds(self, images: tf.Tensor, masks: tf.Tensor, seeds,
                         num_langevin_steps=None,
                         labels: Optional[tf.Tensor] = None,
                         ) -> list[tf.Tensor]:
    """Fills the missing pixels of `images`; graph-traceable (for export).

    Coarse to fine, as in sampling, from the 1x1 average of the observed
    pixels; at every grid the chain updates only the missing pixels and keeps
    the observed ones (a coarse pixel is observed if all its pixels are).
    A pixel starts its chain at the mean of its observed pixels if it has
    some (with 60% of pixels missing at random almost no 4x4 block is fully
    observed, but nearly all are partly), else at the mean of the observed
    pixels of its 3x3 neighbourhood if there are any
    (`pyramid.observed_neighbour_mean`), else at the up-sampled coarser
    result. The chains run `inpainting_steps` (the model's
    `num_inpainting_steps`: from that local start the finest, noise-free
    chain improves the fill for ~10 steps and then drifts, see
    docs/multigrid.md).

    Args:
      images: [B, S, S, C] in [-1, 1] (missing pixels may hold anything).
      masks: [B, S, S, 1] or [B, S, S, C], 1 = missing, 0 = observed.
      seeds: int [B] per-image seeds or int32 [B, 2] pairs.
      num_langevin_steps: optional per-grid step counts (default:
        `inpainting_steps()`).
      labels: int [B] classes (conditional models only).

    Returns:
      One [B, g, g, C] tensor in [-1, 1] per grid; the last is the filled
      image, equal to `images` wherever the mask is 0.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    observed = 1.0 - tf.broadcast_to(tf.cast(masks, tf.float32),
                                     tf.shape(images))
    pairs = noise.seed_pairs(seeds)
    steps = self.inpainting_steps(num_langevin_steps)
    noise_fns = self._per_example_noise(pairs, steps)
    known, values = pyramid.observed_pyramid(images, observed,
                                             self.grid_sizes)
    local = [pyramid.observed_neighbour_mean(
        value, pyramid.downsample(observed, size))
             for value, size in zip(values, self.grid_sizes)]

    def clamp(index):
      return lambda x: known[index] * values[index] + (1 - known[index]) * x

    def start(index):
      estimate, has_estimate = local[index]
      return lambda x: has_estimate * estimate + (1 - has_estimate) * x

    grids = range(1, len(self.grid_sizes))
    return self.synthesize(values[0], self._chain_seed(pairs), noise_fns,
                           [clamp(i) for i in grids], num_langevin_steps=steps,
                           labels=labels, start_fns=[start(i) for i in grids])

  # ---- the start bank ---------------------------------------------------
  def adapt(self, data, labels=None) -> None:
    """Keeps start-grid averages (and labels) of training images.

    `data`: images [N, S, S, C] (array or tensor; then `labels` [N] for a
    conditional model) or a dataset of images or (images, labels) batches;
    at most `start_bank_size` images are used. A 'persistent_cd' model also
    starts its persistent chains from these averages, up-sampled.
    """
    if isinstance(data, tf.data.Dataset):
      chunks, label_chunks, count = [], [], 0
      for batch in data:
        if isinstance(batch, (tuple, list)):
          label_chunks.append(tf.convert_to_tensor(batch[1]))
          batch = batch[0]
        chunks.append(tf.convert_to_tensor(batch))
        count += int(batch.shape[0])
        if count >= self.start_bank_size:
          break
      images = tf.concat(chunks, axis=0)
      labels = tf.concat(label_chunks, axis=0) if label_chunks else None
    else:
      images = tf.convert_to_tensor(data, tf.float32)
    if self.is_conditional and labels is None:
      raise ValueError("This model is class-conditional: adapt needs labels "
                       "(adapt(images, labels) or (images, labels) batches).")
    images = images[:self.start_bank_size]
    starts = pyramid.downsample(tf.cast(images, tf.float32),
                                self.grid_sizes[0])
    count = int(starts.shape[0])
    reps = -(-self.start_bank_size // count)
    self.start_bank.assign(tf.tile(starts, [reps, 1, 1, 1])[
        :self.start_bank_size])
    self.start_bank_count.assign(count)
    if self.is_conditional:
      labels = tf.cast(tf.convert_to_tensor(labels)[:count], tf.int32)
      if int(tf.reduce_min(labels)) < 0 or int(
          tf.reduce_max(labels)) >= self.num_classes:
        raise ValueError(f"labels must be in [0, {self.num_classes}).")
      self.start_bank_labels.assign(
          tf.tile(labels, [reps])[:self.start_bank_size])
    if self.method == "persistent_cd":
      rows = tf.range(self.persistent_bank_size) % count
      _assign_on_every_replica(self.persistent_chains, pyramid.upsample(
          tf.gather(starts, rows), self.grid_sizes[-1]))

  @property
  def is_adapted(self) -> bool:
    return int(self.start_bank_count.numpy()) > 0

  def _require_adapted(self):
    if not self.is_adapted:
      raise RuntimeError(
          "The model has no start images: call model.adapt(train_images) or "
          "train it (fit / apps.train) before sampling.")

  def start_images(self, num_samples: int, seed) -> tf.Tensor:
    """`num_samples` start-grid images drawn from the bank by `seed`."""
    self._require_adapted()
    index = tf.random.stateless_uniform(
        [num_samples], seed=tf.cast(seed, tf.int32), minval=0,
        maxval=self.start_bank_count, dtype=tf.int32)
    return tf.gather(self.start_bank, index)

  def check_class_id(self, class_id) -> Optional[int]:
    """Validates a `class_id` argument; returns it as an int (or None)."""
    if class_id is None:
      return None
    if not self.is_conditional:
      raise ValueError(
          f"class_id={class_id!r} needs a class-conditional model; this one "
          "is unconditional (train with --condition_on_label).")
    if isinstance(class_id, bool) or not isinstance(
        class_id, (int, np.integer)) or not 0 <= class_id < self.num_classes:
      raise ValueError(f"class_id={class_id!r} must be an integer in "
                       f"[0, {self.num_classes}).")
    count = int(self.start_bank_count.numpy())
    present = np.unique(self.start_bank_labels.numpy()[:count])
    if count and int(class_id) not in present:
      raise ValueError(
          f"class_id={class_id} has no start image in this model's start "
          f"bank (its classes: {present.tolist()}); adapt the model on "
          "images of every class: model.adapt(images, labels).")
    return int(class_id)

  def sample_classes(self, num_samples: int, seed=(0, 0), first_index: int = 0,
                     class_id=None) -> Optional[np.ndarray]:
    """int32 [N] classes that `sample(...)` with these arguments draws.

    None for an unconditional model; `class_id` repeated when given; else
    the label of each example's start image (as `sample` picks it).
    """
    class_id = self.check_class_id(class_id)
    if not self.is_conditional:
      return None
    if class_id is not None:
      return np.full([num_samples], class_id, np.int32)
    self._require_adapted()
    pairs = self.example_seeds(seed, int(num_samples), int(first_index))
    index = noise.per_example_choice(pairs, self.start_bank_count)
    return tf.gather(self.start_bank_labels, index).numpy()

  def sample(self, num_samples: int, seed=(0, 0), first_index: int = 0,
             start_images: Optional[tf.Tensor] = None,
             class_id=None) -> list[tf.Tensor]:
    """Samples `num_samples` images; returns one [N, g, g, C] tensor per grid.

    `seed` is an int or int32[2]. Example i uses the seed pair
    `example_seeds(seed, ...)[i]` and nothing else (Langevin), so the same
    seed gives the same images, and `sample(n, seed, first_index=k)`
    continues `sample(k, seed)`. Pass `start_images` [N, g0, g0, C] to start
    from given coarse images. `class_id` (conditional models) samples that
    class; without it a conditional model samples the classes of its start
    images (see `sample_classes`).
    """
    if not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
      raise ValueError(f"num_samples={num_samples!r} must be a positive int.")
    class_id = self.check_class_id(class_id)
    if start_images is None:
      self._require_adapted()
    if self.is_conditional and start_images is not None and class_id is None:
      raise ValueError("start_images on a class-conditional model need "
                       "class_id.")
    pairs = self.example_seeds(seed, int(num_samples), int(first_index))
    classes = (tf.fill([int(num_samples)], class_id) if class_id is not None
               else None)
    if start_images is None:
      return self._compiled_sample(pairs, classes)
    return self._compiled_sample_from(
        pairs, tf.convert_to_tensor(start_images, tf.float32), classes)


def _assign_on_every_replica(variable, value) -> None:
  """Sets every replica's copy of `variable` to `value`.

  (Assigning an aggregated variable under a strategy from outside a replica
  context goes through its aggregation; this writes each copy as given.)
  """
  copies = getattr(getattr(variable, "value", variable), "values", None)
  if not copies:
    variable.assign(value)
    return
  for copy in copies:
    copy.assign(value)
