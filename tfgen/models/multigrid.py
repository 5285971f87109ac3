"""Multigrid energy-based ConvNets (Gao, Lu, Zhou, Zhu and Wu, CVPR 2018).

One energy ConvNet per grid (e.g. 4x4 and 16x16 for `grid_sizes=(1, 4, 16)`),
each defining

    log p_g(x) = f_g(x) - ||x||**2 / (2 * reference_stddev**2)   (one per image)

(with `num_classes > 0`, f_g(x, y): one score per class, the label's is used).
Synthesis: a chain starts at the 1x1 average of an image, is up-sampled to the
next grid, runs `num_langevin_steps` Langevin (or HMC) steps there, is
up-sampled again, and so on; each grid's result is that grid's synthesised
image. Training uses the observed images' own 1x1 averages as starts, so every
grid learns from the difference between observed and synthesised images:

    loss_g = mean f_g(synthesised_g) - mean f_g(observed_g),

synthesised images under `stop_gradient`, all grids updated in the same step.

The paper's baselines are the same model with another `method`:
'single_grid' (grid_sizes (1, S): one net, chains from the up-sampled 1x1
average), 'cd' (training chains start at the observed images; CD-1 is one
step) and 'persistent_cd' (training chains continue from a bank of persistent
chains kept in the model and its checkpoints). Sampling, inpainting and
export (`MultigridSampling`) are the same for every method; the training
step of each method is in `MultigridTraining`.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import keras
import tensorflow as tf

from tfgen.data import pyramid
from tfgen.mcmc import hmc
from tfgen.mcmc import langevin
from tfgen.mcmc import runner
from tfgen.models import base
from tfgen.models import multigrid_chains
from tfgen.models import multigrid_config
from tfgen.models import multigrid_sampling
from tfgen.models import multigrid_training
from tfgen.nets import energy

_DEFAULTS = multigrid_config.MultigridConfig()
IntOrSeq = Union[int, Sequence[int]]
FloatOrSeq = Union[float, Sequence[float]]
METHODS = multigrid_config.METHODS
SAMPLERS = multigrid_config.SAMPLERS
_per_grid = multigrid_sampling.per_grid


def check_sampler(sampler: str) -> str:
  if sampler not in SAMPLERS:
    raise ValueError(f"sampler={sampler!r} must be one of {SAMPLERS}.")
  return sampler


@keras.saving.register_keras_serializable(package="tfgen")
class MultigridEBM(multigrid_sampling.MultigridSampling,
                   multigrid_chains.MultigridChains,
                   multigrid_training.MultigridTraining,
                   base.GenerativeModel):
  """Multigrid energy-based generative ConvNet.

  Images are float32 NHWC in [-1, 1]. Call `sample(n, seed)` for a list of
  images per grid (coarse to fine, the start grid first).
  """

  def __init__(self,
               grid_sizes: Sequence[int] = _DEFAULTS.grid_sizes,
               channels: int = 1,
               num_langevin_steps: IntOrSeq = _DEFAULTS.num_langevin_steps,
               step_size: FloatOrSeq = _DEFAULTS.step_size,
               noise_scale: Optional[FloatOrSeq] = None,
               reference_stddev: float = _DEFAULTS.reference_stddev,
               clip_samples: bool = _DEFAULTS.clip_samples,
               net_width: float = _DEFAULTS.net_width,
               activation: str = _DEFAULTS.activation,
               start_bank_size: int = _DEFAULTS.start_bank_size,
               seed: int = 0,
               jit_compile: bool = False,
               method: str = _DEFAULTS.method,
               sampler: str = _DEFAULTS.sampler,
               num_leapfrog_steps: int = _DEFAULTS.num_leapfrog_steps,
               metropolis: bool = _DEFAULTS.metropolis,
               num_classes: int = 0,
               persistent_bank_size: int = _DEFAULTS.persistent_bank_size,
               num_sampling_steps: Optional[IntOrSeq] = None,
               num_inpainting_steps: Optional[IntOrSeq] = None,
               **kwargs):
    """Creates the energy nets.

    Args:
      grid_sizes: increasing side lengths, each dividing the next; the first
        is the chains' start (1 in the paper), the last the image size.
      channels: image channels.
      num_langevin_steps: MCMC steps per model grid in training (one value
        or one per grid); for 'cd' / 'persistent_cd' the k of CD-k.
      step_size: Langevin step size (HMC: leapfrog step size) delta per grid.
      noise_scale: per model grid; 1 = Langevin dynamics, 0 = noise-free
        (the official code's update). Langevin only. Default (None):
        `MultigridConfig`'s per-grid values where they fit, else its first
        value on every grid. The defaults of every
        setting are `MultigridConfig`'s (`tfgen.models.multigrid_config`).
      reference_stddev: standard deviation of the Gaussian reference term.
      clip_samples: clip chains to [-1, 1] (Langevin: after every step; HMC:
        the density is evaluated at the clipped point, the result clipped).
      net_width: width multiplier of the energy nets' preset.
      activation: activation of the energy nets.
      start_bank_size: how many training images' start-grid averages are kept
        for unconditional sampling.
      seed: base of the training step seeds.
      jit_compile: XLA for the train step and sampler (measured choice).
      method: one of METHODS (see the module docstring).
      sampler: 'langevin' or 'hmc' (TFP's HMC).
      num_leapfrog_steps: HMC leapfrog steps per MCMC step.
      metropolis: HMC with (True) or without the Metropolis test.
      num_classes: > 0 makes every energy depend on the label (one output per
        class); 0 = unconditional.
      persistent_bank_size: persistent chains of 'persistent_cd'.
      num_sampling_steps: steps per grid for `sample` / `inpaint` (default:
        `num_langevin_steps`; CD-1 models sample with more steps).
      num_inpainting_steps: steps per grid for `inpaint_from_seeds`
        (default: `num_sampling_steps`).
    """
    super().__init__(**kwargs)
    grid_sizes = pyramid.validate_grid_sizes(grid_sizes, int(grid_sizes[-1]))
    num_model_grids = len(grid_sizes) - 1
    self.grid_sizes = grid_sizes
    self.channels = int(channels)
    self.method = method
    self.sampler = sampler
    self.num_langevin_steps = _per_grid(num_langevin_steps, num_model_grids,
                                        "num_langevin_steps", int)
    self.num_sampling_steps = _per_grid(
        num_sampling_steps or self.num_langevin_steps, num_model_grids,
        "num_sampling_steps", int)
    self.num_inpainting_steps = _per_grid(
        num_inpainting_steps or self.num_sampling_steps, num_model_grids,
        "num_inpainting_steps", int)
    self.step_size = _per_grid(step_size, num_model_grids, "step_size")
    self.configured_step_size = self.step_size
    if noise_scale is None:
      # MultigridConfig's default (one value per grid of its default grids)
      # where it fits these grids, else its first value on every grid.
      noise_scale = _DEFAULTS.noise_scale
      if len(noise_scale) != num_model_grids:
        noise_scale = noise_scale[:1]
    self.noise_scale = _per_grid(noise_scale, num_model_grids, "noise_scale")
    # Every setting is checked once, by its config (tfgen.models.
    # multigrid_config); only the model's own arguments are checked here.
    multigrid_config.MultigridConfig(
        grid_sizes=grid_sizes, num_langevin_steps=self.num_langevin_steps,
        step_size=self.step_size, noise_scale=self.noise_scale,
        reference_stddev=reference_stddev, clip_samples=clip_samples,
        net_width=net_width, activation=activation,
        start_bank_size=start_bank_size, method=method, sampler=sampler,
        num_leapfrog_steps=num_leapfrog_steps, metropolis=metropolis,
        condition_on_label=bool(num_classes),
        persistent_bank_size=persistent_bank_size,
        num_sampling_steps=self.num_sampling_steps,
        num_inpainting_steps=self.num_inpainting_steps).check_values()
    if isinstance(num_classes, bool) or not isinstance(
        num_classes, int) or num_classes < 0:
      raise ValueError(f"num_classes={num_classes!r} must be an integer >= 0 "
                       "(0 = unconditional).")
    self.reference_stddev = float(reference_stddev)
    self.clip_samples = bool(clip_samples)
    self.net_width = float(net_width)
    self.activation = activation
    self.start_bank_size = int(start_bank_size)
    self.seed = int(seed)
    self.sampler_jit_compile = bool(jit_compile)
    self.num_leapfrog_steps = int(num_leapfrog_steps)
    self.metropolis = bool(metropolis)
    self.num_classes = int(num_classes)
    self.persistent_bank_size = int(persistent_bank_size)
    self.energy_nets = [
        energy.build_energy_net(
            size, self.channels,
            energy.energy_net_spec(size, net_width, activation),
            name=f"energy_grid{size}", num_outputs=max(1, self.num_classes))
        for size in grid_sizes[1:]]
    # Named attributes make each net a child in tf.train.Checkpoint (Keras'
    # own list wrapper is not a TF trackable, so the list alone is not saved).
    for size, net in zip(grid_sizes[1:], self.energy_nets):
      setattr(self, f"energy_grid{size}", net)
    self._build_start_bank()
    if method == "persistent_cd":
      size = grid_sizes[-1]
      self.persistent_chains = self.add_weight(
          shape=(self.persistent_bank_size, size, size, self.channels),
          initializer="zeros", trainable=False, name="persistent_chains",
          aggregation="mean")
    self._compile_samplers()
    self.built = True

  # ---- the family contract ----------------------------------------------
  @property
  def final_image_size(self) -> int:
    return self.grid_sizes[-1]

  @property
  def needs_adapt(self) -> bool:
    """True until the start bank holds training images (`adapt`)."""
    return not self.is_adapted

  @property
  def num_adapt_examples(self) -> int:
    """The start bank's training images."""
    return self.start_bank_size

  def sample_names(self) -> list[str]:
    """Names of `sample`'s images, coarse to fine: 'grid1', 'grid4', ..."""
    return [f"grid{size}" for size in self.grid_sizes]

  def metric_info(self) -> dict:
    info = {}
    for size in self.model_grids:
      for quantity in ("loss", "score_observed", "score_synthesized",
                       "sample_abs_max", "grad_l1"):
        info[f"{quantity}/grid{size}"] = base.MetricInfo(
            quantity, "grid", size, show=quantity == "loss")
    return info

  def set_step_size_scale(self, scale: float) -> bool:
    """Step sizes at `scale` x the configured ones; True if they changed.

    The step size is a Python constant of traced functions: a caller that
    compiled its own train step must retrace it when this returns True.
    """
    wanted = tuple(float(s) * float(scale) for s in self.configured_step_size)
    if wanted == tuple(self.step_size):
      return False
    self.set_step_size(wanted)
    return True

  def inpaint_options(self, num_steps=None) -> dict:
    return {"num_langevin_steps": list(self.inpainting_steps(num_steps))}

  def sampler_settings(self, num_steps=None) -> dict:
    return {"num_langevin_steps": list(self.sampling_steps(num_steps)),
            "step_size": list(self.step_size)}

  def backoff_settings(self) -> dict:
    return {"step_size": list(self.step_size),
            "learning_rate": float(keras.ops.convert_to_numpy(
                self.optimizer.learning_rate)) if self.optimizer else None}

  def weight_averages(self) -> list:
    """The compiled optimizer and the energy nets' weights it updates."""
    if self.optimizer is None:
      return []
    return [(self.optimizer, self.trainable_variables)]

  # ---- energies ----------------------------------------------------------
  @property
  def model_grids(self) -> tuple[int, ...]:
    """Grids that have an energy net (all but the start grid)."""
    return self.grid_sizes[1:]

  def _check_labels(self, labels):
    if not self.is_conditional:
      return None
    if labels is None:
      raise ValueError(
          f"This model is class-conditional ({self.num_classes} classes): "
          "pass labels / class_id.")
    return tf.cast(labels, tf.int32)

  def score(self, images: tf.Tensor, grid_index: int,
            labels: Optional[tf.Tensor] = None) -> tf.Tensor:
    """f_g(images) [B] of the `grid_index`-th model grid.

    `labels` (int [B] in [0, num_classes)) picks each image's class score of
    a conditional model; unconditional models ignore it.
    """
    outputs = self.energy_nets[grid_index](images, training=False)
    labels = self._check_labels(labels)
    if labels is None:
      return outputs[:, 0]
    return tf.gather(outputs, labels, axis=1, batch_dims=1)

  def log_prob(self, images: tf.Tensor, grid_index: int,
               labels: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Unnormalised log p_g(images) [B] (score minus the Gaussian reference)."""
    square_norm = tf.reduce_sum(tf.square(images), axis=[1, 2, 3])
    return (self.score(images, grid_index, labels) -
            square_norm / (2.0 * self.reference_stddev**2))

  def kernel(self, grid_index: int, noise_fn=langevin.standard_normal_noise,
             constraint_fn=None, labels=None, sampler: Optional[str] = None):
    """The MCMC kernel targeting grid `grid_index`'s log p.

    Langevin: `LangevinKernel` (clipped, `constraint_fn` after every step).
    HMC: TFP's kernel on the target evaluated at the projected (clipped,
    constrained) point; apply `project` to its final state.
    """
    target = lambda x: self.log_prob(x, grid_index, labels)
    if check_sampler(sampler or self.sampler) == "langevin":
      return langevin.LangevinKernel(
          target, step_size=self.step_size[grid_index],
          noise_scale=self.noise_scale[grid_index],
          clip_range=(-1.0, 1.0) if self.clip_samples else None,
          noise_fn=noise_fn, constraint_fn=constraint_fn)
    return hmc.hmc_kernel(
        hmc.projected_target(target, self._projection(constraint_fn)),
        self.step_size[grid_index], self.num_leapfrog_steps, self.metropolis)

  def _projection(self, constraint_fn):
    if not self.clip_samples:
      return constraint_fn
    if constraint_fn is None:
      return lambda x: tf.clip_by_value(x, -1.0, 1.0)
    return lambda x: constraint_fn(tf.clip_by_value(x, -1.0, 1.0))

  # ---- synthesis ---------------------------------------------------------
  def grid_chain(self, grid_index: int, start: tf.Tensor, num_steps: int,
                 seed: tf.Tensor, noise_fn=langevin.standard_normal_noise,
                 constraint_fn=None, labels=None,
                 sampler: Optional[str] = None,
                 trace_fn=None) -> runner.ChainResult:
    """`num_steps` MCMC steps of one model grid from `start` [B, g, g, C].

    Returns the runner's ChainResult; its state is projected (HMC: clipped
    and constrained like a Langevin state), while `trace_fn(state,
    kernel_results)` (see `runner.run_chain`) sees the kernel's own state.
    """
    sampler = check_sampler(sampler or self.sampler)
    kernel = self.kernel(grid_index, noise_fn, constraint_fn, labels, sampler)
    result = runner.run_chain(kernel, start, num_steps, seed, trace_fn)
    if sampler == "hmc":
      project = self._projection(constraint_fn)
      if project is not None:
        result = result._replace(state=project(result.state))
    return result

  def run_grid(self, grid_index: int, start: tf.Tensor, num_steps: int,
               seed: tf.Tensor, noise_fn=langevin.standard_normal_noise,
               constraint_fn=None, labels=None,
               sampler: Optional[str] = None) -> tf.Tensor:
    """The final state [B, g, g, C] of `grid_chain` (same arguments)."""
    return self.grid_chain(grid_index, start, num_steps, seed, noise_fn,
                           constraint_fn, labels, sampler).state

  def synthesize(self, start_images: tf.Tensor, seed: tf.Tensor,
                 noise_fn=langevin.standard_normal_noise,
                 constraint_fns: Optional[Sequence] = None,
                 num_langevin_steps: Optional[Sequence[int]] = None,
                 labels: Optional[tf.Tensor] = None,
                 sampler: Optional[str] = None,
                 start_fns: Optional[Sequence] = None) -> list[tf.Tensor]:
    """Coarse-to-fine chains from `start_images` [B, g0, g0, C].

    Args:
      start_images: the chains' start on the first grid.
      seed: int32[2] seed of the chains (folded with the grid index).
      noise_fn: one Langevin noise source for every grid, or a list with one
        per model grid (see `LangevinKernel`); HMC draws from `seed`.
      constraint_fns: optional list, per model grid, of state -> state
        projections applied to the up-sampled start and after every step.
      num_langevin_steps: optional per-grid step counts (default: the
        model's training steps).
      labels: int [B] classes of a conditional model.
      sampler: 'langevin' or 'hmc' (default: the model's).
      start_fns: optional list, per model grid, of state -> state maps of
        the up-sampled start (default: `constraint_fns`).

    Returns:
      [start, grid1 sample, ..., finest sample], each [B, g, g, C]; grid g's
      chain started at `upsample(previous result, g)`.
    """
    return self.synthesize_chains(
        start_images, seed, noise_fn, constraint_fns, num_langevin_steps,
        labels, sampler, start_fns)[0]

  def synthesize_chains(self, start_images: tf.Tensor, seed: tf.Tensor,
                        noise_fn=langevin.standard_normal_noise,
                        constraint_fns: Optional[Sequence] = None,
                        num_langevin_steps: Optional[Sequence[int]] = None,
                        labels: Optional[tf.Tensor] = None,
                        sampler: Optional[str] = None,
                        start_fns: Optional[Sequence] = None,
                        trace_fns: Optional[Sequence] = None):
    """`synthesize`, plus each grid's trace.

    trace_fns: optional list, per model grid, of `run_chain` trace_fns
    (state, kernel_results) -> a tensor structure (or None: no trace).

    Returns:
      (the images `synthesize` returns, [trace of each model grid or None]).
    """
    steps = num_langevin_steps or self.num_langevin_steps
    noise_fns = (list(noise_fn) if isinstance(noise_fn, (list, tuple))
                 else [noise_fn] * len(self.model_grids))
    constraint_fns = constraint_fns or [None] * len(self.model_grids)
    start_fns = start_fns or constraint_fns
    trace_fns = trace_fns or [None] * len(self.model_grids)
    labels = self._check_labels(labels)
    images, traces = [start_images], []
    state = start_images
    for index, size in enumerate(self.model_grids):
      state = pyramid.upsample(state, size)
      if start_fns[index] is not None:
        state = start_fns[index](state)
      if constraint_fns[index] is not None:
        state = constraint_fns[index](state)
      result = self.grid_chain(index, state, steps[index],
                               runner.fold_in(seed, index), noise_fns[index],
                               constraint_fns[index], labels, sampler,
                               trace_fns[index])
      state = result.state
      images.append(state)
      traces.append(result.trace)
    return images, traces

  def get_config(self):
    return dict(
        grid_sizes=list(self.grid_sizes), channels=self.channels,
        num_langevin_steps=list(self.num_langevin_steps),
        step_size=list(self.step_size), noise_scale=list(self.noise_scale),
        reference_stddev=self.reference_stddev,
        clip_samples=self.clip_samples, net_width=self.net_width,
        activation=self.activation, start_bank_size=self.start_bank_size,
        seed=self.seed, jit_compile=self.sampler_jit_compile,
        method=self.method, sampler=self.sampler,
        num_leapfrog_steps=self.num_leapfrog_steps,
        metropolis=self.metropolis, num_classes=self.num_classes,
        persistent_bank_size=self.persistent_bank_size,
        num_sampling_steps=list(self.num_sampling_steps),
        num_inpainting_steps=list(self.num_inpainting_steps))

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    config.pop("name", None)
    config.pop("trainable", None)
    config.pop("dtype", None)
    return cls(**config)

