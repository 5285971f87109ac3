"""Experiment configuration: frozen dataclasses the library takes.

Flags exist only in `apps/`; they are generated from these dataclasses'
fields (`tfgen.core.settings.setting`: name, type, default, help), turned into an
`ExperimentConfig`, validated here (before any training) and written to
`WORKDIR/config.json`. Field names equal the apps' flag names, so an error
names the flag to fix. Each family's model settings are its own dataclass
(`MultigridConfig`, `LapganConfig`, ...), named by its row in
`tfgen.families`; every setting is declared, defaulted and checked once.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

from tfgen.core import precision as precision_lib
from tfgen.core import settings
from tfgen.data import sources
from tfgen.models.lapgan_config import LapganConfig  # pylint: disable=unused-import
from tfgen.models.multigrid_config import MultigridConfig
from tfgen.core.settings import setting

STRATEGIES = ("default", "mirrored", "multi_worker")
ON_DIVERGENCE = ("stop", "restore")
DIVERGENCE_BACKOFF = ("step_size", "learning_rate")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Where training images come from (see `tfgen.data.load`)."""
  dataset: str = setting(
      "digits", "digits, mnist, cifar10, svhn_cropped, celeb_a, "
      "lsun/<category> or folder:<path>.")
  image_size: int = setting(16, "Image side in pixels.")
  data_dir: Optional[str] = setting(None, "tfds data_dir.")
  download: bool = setting(False, "Let tfds download the dataset.")
  folder_channels: int = setting(3, "Channels of folder: images (1 or 3).")

  @property
  def channels(self) -> int:
    return sources.num_channels(self.dataset, self.folder_channels)

  @property
  def num_classes(self) -> int:
    """Classes of a labelled dataset (0 when it has no labels)."""
    return sources.num_classes(self.dataset)

  def validate(self) -> None:
    sources.validate_name(self.dataset)
    settings.positive_int("image_size", self.image_size, 16)
    if self.folder_channels not in (1, 3):
      raise ValueError(
          f"folder_channels={self.folder_channels} must be 1 or 3.")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Optimisation, distribution, checkpoint and logging settings."""
  num_steps: int = setting(4000, "Training iterations.")
  batch_size: int = setting(100, "Global batch size.")
  learning_rate: float = setting(5e-4, "Adam learning rate.")
  beta_1: float = setting(0.5, "Adam beta_1.")
  seed: int = setting(0, "Seed of initial weights, data order and chains.")
  strategy: str = setting(
      "default", "default (one device), mirrored (all GPUs of this host) or "
      "multi_worker (the hosts of TF_CONFIG; see docs/distributed.md).",
      choices=STRATEGIES)
  jit_compile: bool = setting(
      False, "XLA-compile the sampler (slower on the CPUs measured).")
  precision: str = setting(
      "float32", "Dtype policy of the nets: float32, mixed_bfloat16 or "
      "mixed_float16 (float32 variables, checkpoints and images either way; "
      "loss scaling for float16). See docs/benchmarks.md for when it pays.",
      choices=precision_lib.PRECISIONS)
  ema_momentum: float = setting(
      0.0, "Momentum of an exponential moving average of the sampling nets' "
      "weights (energy nets, generators; never discriminators), kept beside "
      "the trained weights and used by apps.sample/evaluate/inpaint and "
      "export; 0 = none. E.g. 0.995 averages over ~200 steps.")
  checkpoint_every: int = setting(
      500, "Steps between checkpoints (also saved on exit).")
  summary_every: int = setting(50, "Steps between TensorBoard scalars.")
  sample_every: int = setting(
      1000, "Steps between sample grids (PNG + TensorBoard).")
  num_sample_images: int = setting(64, "Images per sample grid.")
  max_checkpoints: int = setting(3, "Checkpoints kept.")
  # What a NaN/inf metric does: 'stop' (exit, naming step and quantity) or
  # 'restore' (reload the last good checkpoint, halve `divergence_backoff`,
  # continue; at most `max_divergence_retries` times per run).
  on_divergence: str = setting(
      "stop", "On a NaN/inf metric: stop (exit 1 naming the step and "
      "quantity) or restore (reload the last good checkpoint, halve "
      "--divergence_backoff, continue).", choices=ON_DIVERGENCE)
  divergence_backoff: str = setting(
      "step_size", "What --on_divergence=restore halves: step_size or "
      "learning_rate (kept in the checkpoint).", choices=DIVERGENCE_BACKOFF)
  max_divergence_retries: int = setting(
      3, "Restores per run before --on_divergence=restore gives up (exit 1).")

  def validate(self, num_replicas: int = 1) -> None:
    for name in ("num_steps", "batch_size", "checkpoint_every",
                 "summary_every", "sample_every", "num_sample_images",
                 "max_checkpoints"):
      settings.positive_int(name, getattr(self, name))
    settings.positive("learning_rate", self.learning_rate, 5e-4)
    settings.in_range("beta_1", self.beta_1, 0.0, 1.0, 0.5)
    settings.in_range("ema_momentum", self.ema_momentum, 0.0, 1.0, 0.995)
    settings.choice("strategy", self.strategy, STRATEGIES)
    settings.choice("precision", self.precision, precision_lib.PRECISIONS)
    settings.choice("on_divergence", self.on_divergence, ON_DIVERGENCE)
    settings.choice("divergence_backoff", self.divergence_backoff,
                    DIVERGENCE_BACKOFF)
    settings.non_negative_int("max_divergence_retries",
                              self.max_divergence_retries, 3)
    if self.batch_size % num_replicas:
      raise ValueError(
          f"batch_size={self.batch_size} (the global batch) is not divisible "
          f"by the {num_replicas} replicas of strategy={self.strategy!r}; "
          f"use a multiple of {num_replicas}, e.g. "
          f"{max(1, self.batch_size // num_replicas) * num_replicas}.")


# Fields that may change when a run is resumed in the same workdir.
RESUMABLE_FIELDS = frozenset({
    "train.num_steps", "train.strategy", "train.checkpoint_every",
    "train.summary_every", "train.sample_every", "train.num_sample_images",
    "train.max_checkpoints", "train.jit_compile", "train.on_divergence",
    "train.divergence_backoff", "train.max_divergence_retries",
    "data.data_dir", "data.download", "model.num_sampling_steps",
    "model.num_inpainting_steps",
    # Lowered after a divergence (recorded in config.json's history).
    "train.learning_rate", "model.step_size"})


def _families():
  from tfgen import families  # pylint: disable=g-import-not-at-top
  return families


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  """Everything a training run needs; `validate()` before use."""
  family: str = "multigrid"
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  # The family's model settings: its row's `config_class` in tfgen.families.
  model: Any = dataclasses.field(default_factory=MultigridConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

  def validate(self, num_replicas: int = 1) -> "ExperimentConfig":
    """Raises ValueError naming the setting, its value and the fix."""
    family = _families().get(self.family)
    self.data.validate()
    expected = family.config_class
    if not isinstance(self.model, expected):
      raise ValueError(f"family={self.family!r} needs a {expected.__name__} "
                       f"model section, got {type(self.model).__name__}.")
    self.train.validate(num_replicas)
    if (self.train.on_divergence == "restore"
        and self.train.divergence_backoff == "step_size"
        and not family.has("step_size_backoff")):
      raise ValueError(
          f"divergence_backoff='step_size' does not apply to "
          f"family={self.family!r} (it has no sampler step size); pass "
          "--divergence_backoff=learning_rate.")
    self.model.validate(self.data, self.train, num_replicas)
    return self

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
    family = _families().get(values.get("family", "multigrid"))
    return cls(family=family.name,
               data=build(DataConfig, values.get("data")),
               model=build(family.config_class, values.get("model")),
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
