"""Settings of the multigrid family (`MultigridEBM`): declared, defaulted and
checked here, once. `apps.train` makes one flag per field (same name).
"""

from __future__ import annotations

import dataclasses

from tfgen.core import settings
from tfgen.data import pyramid
from tfgen.core.settings import setting

METHODS = ("multigrid", "single_grid", "cd", "persistent_cd")
SAMPLERS = ("langevin", "hmc")
# Element-wise Keras activations an energy net may use (keras.activations).
ACTIVATIONS = ("leaky_relu", "relu", "relu6", "elu", "selu", "celu", "gelu",
               "silu", "swish", "mish", "softplus", "softsign", "tanh",
               "sigmoid", "hard_sigmoid", "hard_silu", "hard_swish",
               "exponential", "linear")


@dataclasses.dataclass(frozen=True)
class MultigridConfig:
  """Model settings of `tfgen.models.MultigridEBM` (same names)."""
  grid_sizes: tuple[int, ...] = setting(
      (1, 4, 16), "Increasing grid sides, e.g. 1,4,16; the last = "
      "image_size.")
  num_langevin_steps: tuple[int, ...] = setting(
      (30,), "Langevin steps per grid in training (one value or one per "
      "model grid); the k of CD-k.")
  step_size: tuple[float, ...] = setting(
      (0.3,), "Langevin step size delta per grid: x += delta**2/2 * grad "
      "log p(x) + noise_scale * delta * N(0, I).")
  noise_scale: tuple[float, ...] = setting(
      (0.3, 0.0), "Langevin noise multiplier per grid (0 = noise-free, the "
      "official code's update).")
  reference_stddev: float = setting(
      1.0, "Std of the Gaussian reference term of log p.")
  clip_samples: bool = setting(True, "Clip chains to [-1, 1].")
  net_width: float = setting(1.0, "Energy net width multiplier.")
  activation: str = setting("leaky_relu", "Energy net activation.",
                            choices=ACTIVATIONS)
  start_bank_size: int = setting(
      2000, "Training images whose start-grid averages start sampling.")
  method: str = setting(
      "multigrid", "multigrid, or a baseline of the paper: single_grid "
      "(needs --grid_sizes=1,S), cd (CD-k from the observed images, k = "
      "--num_langevin_steps) or persistent_cd.", choices=METHODS)
  sampler: str = setting(
      "langevin", "MCMC of training and sampling: langevin or hmc (TFP).",
      choices=SAMPLERS)
  num_leapfrog_steps: int = setting(5, "HMC leapfrog steps per MCMC step.")
  metropolis: bool = setting(True, "HMC with the Metropolis accept/reject "
                             "test.")
  condition_on_label: bool = setting(
      False, "Class-conditional model on the dataset's labels (one energy "
      "output per class).")
  persistent_bank_size: int = setting(
      1000, "Persistent chains of --method=persistent_cd.")
  num_sampling_steps: tuple[int, ...] = setting(
      (), "Steps per grid for sampling/inpainting (empty = "
      "--num_langevin_steps).")
  num_inpainting_steps: tuple[int, ...] = setting(
      (), "Steps per grid for inpainting (empty = --num_sampling_steps); "
      "the digits default runs fewer at the finest grid, where a chain "
      "started from the observed neighbours drifts after ~10 steps.")

  def validate(self, data, train, num_replicas: int = 1) -> None:
    """Raises ValueError naming the setting, its value and the fix."""
    pyramid.validate_grid_sizes(self.grid_sizes, data.image_size)
    self.check_values()
    if self.method == "persistent_cd" and (
        self.persistent_bank_size < train.batch_size):
      raise ValueError(
          f"persistent_bank_size={self.persistent_bank_size} must be >= "
          f"batch_size={train.batch_size} (each batch takes its own "
          "persistent chains), e.g. 10 times the batch.")
    if self.condition_on_label and data.num_classes == 0:
      raise ValueError(
          f"condition_on_label=True needs a labelled dataset; "
          f"dataset={data.dataset!r} has no class labels.")

  def check_values(self) -> None:
    """The checks that need nothing but the settings (the model runs them)."""
    settings.each(settings.positive_int, "num_langevin_steps",
                  self.num_langevin_steps, 30)
    settings.each(settings.positive, "step_size", self.step_size, 0.3)
    settings.each(settings.non_negative, "noise_scale", self.noise_scale, 0.3)
    for name in ("num_sampling_steps", "num_inpainting_steps"):
      settings.each(settings.non_negative_int, name, getattr(self, name), 30)
    num_model_grids = len(self.grid_sizes) - 1
    for name in ("num_langevin_steps", "step_size", "noise_scale"):
      settings.one_or_per(name, getattr(self, name), num_model_grids,
                          f"model grid of grid_sizes={list(self.grid_sizes)}")
    for name in ("num_sampling_steps", "num_inpainting_steps"):
      if len(getattr(self, name)) not in (0, 1, num_model_grids):
        raise ValueError(
            f"{name}={list(getattr(self, name))} needs no value, one, or "
            f"one per model grid ({num_model_grids}).")
    settings.positive("reference_stddev", self.reference_stddev, 1.0)
    settings.positive("net_width", self.net_width, 1.0)
    settings.choice("activation", self.activation, ACTIVATIONS)
    settings.positive_int("start_bank_size", self.start_bank_size, 2000)
    settings.choice("method", self.method, METHODS)
    settings.choice("sampler", self.sampler, SAMPLERS)
    settings.positive_int("num_leapfrog_steps", self.num_leapfrog_steps, 5)
    settings.positive_int("persistent_bank_size", self.persistent_bank_size,
                          1000)
    if self.method != "multigrid" and len(self.grid_sizes) != 2:
      raise ValueError(
          f"method={self.method!r} has one energy net at the image size: "
          f"grid_sizes={list(self.grid_sizes)} must be [start, image_size], "
          f"e.g. --grid_sizes=1,{self.grid_sizes[-1]}.")
    if self.method == "persistent_cd" and self.condition_on_label:
      raise ValueError("condition_on_label=True is not supported with "
                       "method='persistent_cd' (the persistent chains have "
                       "no labels); use method=cd or multigrid.")
