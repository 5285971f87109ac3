"""Experiment configuration: frozen dataclasses the library takes.

Flags exist only in `apps/`; they are turned into an `ExperimentConfig`, which
is validated here (before any training) and written to `WORKDIR/config.json`.
Field names equal the apps' flag names, so an error names the flag to fix.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

from tfgen.data import pyramid
from tfgen.data import sources

FAMILIES = ("multigrid", "lapgan")
STRATEGIES = ("default", "mirrored", "multi_worker")
ON_DIVERGENCE = ("stop", "restore")
DIVERGENCE_BACKOFF = ("step_size", "learning_rate")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Where training images come from (see `tfgen.data.load`)."""
  dataset: str = "digits"
  image_size: int = 16
  data_dir: Optional[str] = None
  download: bool = False
  folder_channels: int = 3

  @property
  def channels(self) -> int:
    return sources.num_channels(self.dataset, self.folder_channels)

  @property
  def num_classes(self) -> int:
    """Classes of a labelled dataset (0 when it has no labels)."""
    return sources.num_classes(self.dataset)


@dataclasses.dataclass(frozen=True)
class MultigridConfig:
  """Model settings of `tfgen.models.MultigridEBM` (same names)."""
  grid_sizes: tuple[int, ...] = (1, 4, 16)
  num_langevin_steps: tuple[int, ...] = (30,)
  step_size: tuple[float, ...] = (0.3,)
  noise_scale: tuple[float, ...] = (0.3, 0.0)
  reference_stddev: float = 1.0
  clip_samples: bool = True
  net_width: float = 1.0
  activation: str = "leaky_relu"
  start_bank_size: int = 2000
  # 'multigrid', or a baseline of the paper: 'single_grid' (grid_sizes
  # [1, S]), 'cd' (CD-k, k = num_langevin_steps) or 'persistent_cd'.
  method: str = "multigrid"
  sampler: str = "langevin"  # or 'hmc' (TFP's HamiltonianMonteCarlo)
  num_leapfrog_steps: int = 5
  metropolis: bool = True
  condition_on_label: bool = False
  persistent_bank_size: int = 1000
  # Steps per grid for sampling / inpainting; () = num_langevin_steps.
  num_sampling_steps: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class LapganConfig:
  """Model settings of `tfgen.models.LAPGAN` (same names).

  `level_sizes` run coarse to fine, each doubling the previous; a single
  level is the plain (single-level) GAN baseline. `condition_on_label` makes
  every level class-conditional on the dataset's labels. The learning rate
  and beta_1 of every level's Adam optimizers are `TrainConfig`'s.
  """
  level_sizes: tuple[int, ...] = (4, 8, 16)
  noise_dim: int = 100
  generator_width: float = 1.0
  discriminator_width: float = 1.0
  discriminator_dropout: float = 0.0
  d_steps_per_g_step: int = 1
  diversity_weight: float = 0.0
  condition_on_label: bool = False


MODEL_CONFIGS = {"multigrid": MultigridConfig, "lapgan": LapganConfig}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Optimisation, distribution, checkpoint and logging settings."""
  num_steps: int = 4000
  batch_size: int = 100
  learning_rate: float = 5e-4
  beta_1: float = 0.5
  seed: int = 0
  strategy: str = "default"
  jit_compile: bool = False
  checkpoint_every: int = 500
  summary_every: int = 50
  sample_every: int = 1000
  num_sample_images: int = 64
  max_checkpoints: int = 3
  # What a NaN/inf metric does: 'stop' (exit, naming step and quantity) or
  # 'restore' (reload the last good checkpoint, halve `divergence_backoff`,
  # continue; at most `max_divergence_retries` times per run).
  on_divergence: str = "stop"
  divergence_backoff: str = "step_size"
  max_divergence_retries: int = 3


# Fields that may change when a run is resumed in the same workdir.
RESUMABLE_FIELDS = frozenset({
    "train.num_steps", "train.strategy", "train.checkpoint_every",
    "train.summary_every", "train.sample_every", "train.num_sample_images",
    "train.max_checkpoints", "train.jit_compile", "train.on_divergence",
    "train.divergence_backoff", "train.max_divergence_retries",
    "data.data_dir", "data.download", "model.num_sampling_steps",
    # Lowered after a divergence (recorded in config.json's history).
    "train.learning_rate", "model.step_size"})
METHODS = ("multigrid", "single_grid", "cd", "persistent_cd")
SAMPLERS = ("langevin", "hmc")


def _positive_int(name: str, value: Any) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
    raise ValueError(f"{name}={value!r} must be a positive integer.")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  """Everything a training run needs; `validate()` before use."""
  family: str = "multigrid"
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  # MultigridConfig for family 'multigrid', LapganConfig for 'lapgan'.
  model: Any = dataclasses.field(default_factory=MultigridConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

  def validate(self, num_replicas: int = 1) -> "ExperimentConfig":
    """Raises ValueError naming the setting, its value and the fix."""
    if self.family not in FAMILIES:
      raise ValueError(f"family={self.family!r} is not one of {FAMILIES}.")
    sources.validate_name(self.data.dataset)
    _positive_int("image_size", self.data.image_size)
    if self.data.folder_channels not in (1, 3):
      raise ValueError(
          f"folder_channels={self.data.folder_channels} must be 1 or 3.")
    expected = MODEL_CONFIGS[self.family]
    if not isinstance(self.model, expected):
      raise ValueError(f"family={self.family!r} needs a {expected.__name__} "
                       f"model section, got {type(self.model).__name__}.")
    if self.family == "lapgan":
      self._validate_lapgan()
    else:
      self._validate_multigrid(num_replicas)
    self._validate_train(num_replicas)
    return self

  def _validate_lapgan(self) -> None:
    model = self.model
    pyramid.validate_level_sizes(model.level_sizes, self.data.image_size)
    _positive_int("noise_dim", model.noise_dim)
    _positive_int("d_steps_per_g_step", model.d_steps_per_g_step)
    for name in ("generator_width", "discriminator_width"):
      if not getattr(model, name) > 0:
        raise ValueError(f"{name}={getattr(model, name)} must be > 0, e.g. "
                         "1.0.")
    if not model.diversity_weight >= 0:
      raise ValueError(f"diversity_weight={model.diversity_weight} must be "
                       ">= 0 (0 = off), e.g. 1.0.")
    if not 0 <= model.discriminator_dropout < 1:
      raise ValueError(f"discriminator_dropout={model.discriminator_dropout} "
                       "must be in [0, 1), e.g. 0.0 or 0.5.")
    if model.condition_on_label and not sources.num_classes(
        self.data.dataset):
      raise ValueError(
          f"condition_on_label=True needs a labelled dataset, but "
          f"dataset={self.data.dataset!r} has no labels; use e.g. digits, "
          "mnist or cifar10, or --nocondition_on_label.")
    if (self.train.on_divergence == "restore"
        and self.train.divergence_backoff == "step_size"):
      raise ValueError(
          "divergence_backoff='step_size' does not apply to family='lapgan' "
          "(a GAN has no sampler step size); pass "
          "--divergence_backoff=learning_rate.")

  def _validate_multigrid(self, num_replicas: int) -> None:
    pyramid.validate_grid_sizes(self.model.grid_sizes, self.data.image_size)
    model = self.model
    for steps in model.num_langevin_steps:
      _positive_int("num_langevin_steps", steps)
    if any(not s > 0 for s in model.step_size):
      raise ValueError(f"step_size={list(model.step_size)} must be > 0, "
                       "e.g. 0.3.")
    if any(not s >= 0 for s in model.noise_scale):
      raise ValueError(f"noise_scale={list(model.noise_scale)} must be >= 0.")
    num_model_grids = len(model.grid_sizes) - 1
    for name in ("num_langevin_steps", "step_size", "noise_scale"):
      values = getattr(model, name)
      if len(values) not in (1, num_model_grids):
        raise ValueError(
            f"{name}={list(values)} needs one value or one per model grid "
            f"({num_model_grids} for grid_sizes={list(model.grid_sizes)}).")
    if not model.reference_stddev > 0:
      raise ValueError(
          f"reference_stddev={model.reference_stddev} must be > 0.")
    if not model.net_width > 0:
      raise ValueError(f"net_width={model.net_width} must be > 0.")
    _positive_int("start_bank_size", model.start_bank_size)
    self._validate_method(num_replicas)

  def _validate_train(self, num_replicas: int) -> None:
    train = self.train
    for name in ("num_steps", "batch_size", "checkpoint_every",
                 "summary_every", "sample_every", "num_sample_images",
                 "max_checkpoints"):
      _positive_int(name, getattr(train, name))
    if not train.learning_rate > 0:
      raise ValueError(f"learning_rate={train.learning_rate} must be > 0.")
    if not 0 <= train.beta_1 < 1:
      raise ValueError(f"beta_1={train.beta_1} must be in [0, 1).")
    if train.strategy not in STRATEGIES:
      raise ValueError(
          f"strategy={train.strategy!r} must be one of {STRATEGIES}.")
    if train.on_divergence not in ON_DIVERGENCE:
      raise ValueError(f"on_divergence={train.on_divergence!r} must be one of "
                       f"{ON_DIVERGENCE}.")
    if train.divergence_backoff not in DIVERGENCE_BACKOFF:
      raise ValueError(
          f"divergence_backoff={train.divergence_backoff!r} must be one of "
          f"{DIVERGENCE_BACKOFF}.")
    if (isinstance(train.max_divergence_retries, bool)
        or not isinstance(train.max_divergence_retries, int)
        or train.max_divergence_retries < 0):
      raise ValueError(
          f"max_divergence_retries={train.max_divergence_retries!r} must be "
          "an integer >= 0, e.g. 3.")
    if train.batch_size % num_replicas:
      raise ValueError(
          f"batch_size={train.batch_size} (the global batch) is not divisible "
          f"by the {num_replicas} replicas of strategy={train.strategy!r}; "
          f"use a multiple of {num_replicas}, e.g. "
          f"{max(1, train.batch_size // num_replicas) * num_replicas}.")

  def _validate_method(self, num_replicas: int) -> None:
    model, train = self.model, self.train
    if model.method not in METHODS:
      raise ValueError(f"method={model.method!r} must be one of {METHODS}.")
    if model.method != "multigrid" and len(model.grid_sizes) != 2:
      raise ValueError(
          f"method={model.method!r} has one energy net at the image size: "
          f"grid_sizes={list(model.grid_sizes)} must be [start, image_size], "
          f"e.g. --grid_sizes=1,{self.data.image_size}.")
    if model.sampler not in SAMPLERS:
      raise ValueError(f"sampler={model.sampler!r} must be one of "
                       f"{SAMPLERS}.")
    _positive_int("num_leapfrog_steps", model.num_leapfrog_steps)
    _positive_int("persistent_bank_size", model.persistent_bank_size)
    for steps in model.num_sampling_steps:
      _positive_int("num_sampling_steps", steps)
    num_model_grids = len(model.grid_sizes) - 1
    if len(model.num_sampling_steps) not in (0, 1, num_model_grids):
      raise ValueError(
          f"num_sampling_steps={list(model.num_sampling_steps)} needs no "
          f"value, one, or one per model grid ({num_model_grids}).")
    if model.method == "persistent_cd":
      if model.persistent_bank_size < train.batch_size:
        raise ValueError(
            f"persistent_bank_size={model.persistent_bank_size} must be >= "
            f"batch_size={train.batch_size} (each batch takes its own "
            "persistent chains), e.g. 10 times the batch.")
      if model.condition_on_label:
        raise ValueError("condition_on_label=True is not supported with "
                         "method='persistent_cd' (the persistent chains have "
                         "no labels); use method=cd or multigrid.")
    if model.condition_on_label and self.data.num_classes == 0:
      raise ValueError(
          f"condition_on_label=True needs a labelled dataset; "
          f"dataset={self.data.dataset!r} has no class labels.")

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values: dict) -> "ExperimentConfig":
    def build(kind, section):
      section = dict(section or {})
      known = {f.name: f for f in dataclasses.fields(kind)}
      unknown = set(section) - set(known)
      if unknown:
        raise ValueError(f"Unknown {kind.__name__} settings: {sorted(unknown)}.")
      for name, value in section.items():
        if isinstance(value, list):
          section[name] = tuple(value)
      return kind(**section)
    family = values.get("family", "multigrid")
    if family not in MODEL_CONFIGS:
      raise ValueError(f"family={family!r} is not one of {FAMILIES}.")
    return cls(family=family,
               data=build(DataConfig, values.get("data")),
               model=build(MODEL_CONFIGS[family], values.get("model")),
               train=build(TrainConfig, values.get("train")))

  @classmethod
  def from_json(cls, text: str) -> "ExperimentConfig":
    return cls.from_dict(json.loads(text))


def conflicts(saved: ExperimentConfig, requested: ExperimentConfig) -> list[str]:
  """Settings that differ and may not change on resume, as 'section.name'."""
  saved_dict, requested_dict = saved.to_dict(), requested.to_dict()
  found = []
  for section in ("data", "model", "train"):
    for name, value in requested_dict[section].items():
      key = f"{section}.{name}"
      if key in RESUMABLE_FIELDS:
        continue
      if _normalise(saved_dict[section].get(name)) != _normalise(value):
        found.append(f"{name}: saved {saved_dict[section].get(name)!r}, "
                     f"requested {value!r}")
  if saved.family != requested.family:
    found.append(f"family: saved {saved.family!r}, "
                 f"requested {requested.family!r}")
  return found


def _normalise(value):
  return list(value) if isinstance(value, (list, tuple)) else value
