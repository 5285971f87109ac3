"""`GranConfig`: the model settings of family 'gran' (pure Python, no TF).

Field names are the apps' flag names, so a validation error names the flag
to fix; each field's `metadata["help"]` is its one-line `--help` text.
`validate(data, train, num_replicas)` checks the settings against the data
and training sections of the experiment before anything is built.

The preset table (`PRESET_SIZES`) is `tfgen.nets.gran_presets`' (pure
Python, so validation needs no TensorFlow).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfgen.core import settings
from tfgen.core.settings import setting
from tfgen.nets.gran_presets import DISCRIMINATOR_NORMS
from tfgen.nets.gran_presets import DISCRIMINATORS
from tfgen.nets.gran_presets import GAN_LOSSES
from tfgen.nets.gran_presets import GENERATOR_NORMS
from tfgen.nets.gran_presets import NOISE_MODES
from tfgen.nets.gran_presets import preset_fits
from tfgen.nets.gran_presets import preset_for_size
from tfgen.nets.gran_presets import PRESET_SIZES
from tfgen.nets.gran_presets import PRESETS


@dataclasses.dataclass(frozen=True)
class GranConfig:
  """Model settings of `tfgen.models.gran.GRAN` (same names as its flags)."""
  num_canvas_steps: int = setting(
      3, "T: canvas updates the generator adds while training (GRAN1/3/5).")
  noise_mode: str = setting(
      "shared", "'shared' (one z for every canvas step, the paper's main "
      "setting) or 'per_step' (a fresh z_t per step).")
  gran_preset: str = setting(
      "auto", "Net preset: auto (by image size), digits16, mnist28, cifar32, "
      "lsun64, or generic (any power of two in [8, 256]).")
  noise_dim: int = setting(0, "Length of z (0 = the preset's: 60 or 100).")
  generator_width: float = setting(
      1.0, "Multiplier of the generator's hidden widths (>= 8 each).")
  discriminator_width: float = setting(
      1.0, "Multiplier of the discriminator's hidden widths (>= 8 each).")
  discriminator: str = setting(
      "paper", "'paper' (ReLU convs + batch stats, tanh FC layer) or 'dcgan' "
      "(the single-level GAN's discriminator, for battles with it).")
  generator_norm: str = setting(
      "step_batch", "Generator normalisation: step_batch (moving statistics "
      "per canvas step), batch (one set for all steps) or none.")
  discriminator_norm: str = setting(
      "batch", "Paper discriminator's normalisation: batch (batch statistics "
      "always, as the official code) or none.")
  gan_loss: str = setting(
      "non_saturating", "Paired GAN loss of tfgen.losses (the paper: "
      "non_saturating).")
  d_steps_per_g_step: int = setting(
      1, "Discriminator updates per generator update.")
  generator_learning_rate: float = setting(
      0.0, "Generator Adam learning rate (0 = --learning_rate).")
  discriminator_learning_rate: float = setting(
      0.0, "Discriminator Adam learning rate (0 = --learning_rate).")
  generator_beta_1: float = setting(
      -1.0, "Generator Adam beta_1 (-1 = --beta_1).")
  discriminator_beta_1: float = setting(
      -1.0, "Discriminator Adam beta_1 (-1 = --beta_1).")
  generator_beta_2: float = setting(0.999, "Generator Adam beta_2.")
  discriminator_beta_2: float = setting(0.999, "Discriminator Adam beta_2.")
  discriminator_weight_decay: float = setting(
      5e-6, "lambda of lambda/2 * ||W||^2 on the discriminator's dense "
      "kernels (the official code's 5e-6).")
  learning_rate_decay_steps: int = setting(
      0, "n of lr / (1 + step / n) on both rates (0 = constant rates).")
  num_sampling_steps: int = setting(
      0, "T' of sampling, export and battles (0 = num_canvas_steps).")
  diversity_weight: float = setting(
      0.0, "Weight of the mode-seeking term (Mao et al. 2019; not in the "
      "paper) that keeps G from drawing one image for many z: each G update "
      "draws a second z and penalises canvases that move less than z does "
      "(0 = off, as in the paper).")
  condition_on_label: bool = setting(
      False, "Class-conditional G and D on the dataset's labels.")

  # ---- resolved settings ---------------------------------------------------
  def learning_rates(self, train: Any) -> tuple[float, float]:
    """(generator, discriminator) rates, 0 replaced by train.learning_rate."""
    return (self.generator_learning_rate or train.learning_rate,
            self.discriminator_learning_rate or train.learning_rate)

  def betas_1(self, train: Any) -> tuple[float, float]:
    """(generator, discriminator) beta_1, -1 replaced by train.beta_1."""
    def resolve(value):
      return train.beta_1 if value == -1.0 else value
    return resolve(self.generator_beta_1), resolve(self.discriminator_beta_1)

  # ---- validation ----------------------------------------------------------
  def validate(self, data: Any, train: Any, num_replicas: int = 1) -> None:
    """Raises ValueError naming the setting, its value and the fix."""
    for name in ("num_canvas_steps", "d_steps_per_g_step"):
      _positive_int(name, getattr(self, name),
                    "e.g. 3" if name == "num_canvas_steps" else "e.g. 1")
    for name in ("noise_dim", "learning_rate_decay_steps",
                 "num_sampling_steps"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}={value!r} must be an integer >= 0 "
                         "(0 = default).")
    settings.non_negative("diversity_weight", self.diversity_weight, 0.02)
    for name, choices in (("noise_mode", NOISE_MODES),
                          ("gran_preset", PRESETS),
                          ("discriminator", DISCRIMINATORS),
                          ("generator_norm", GENERATOR_NORMS),
                          ("discriminator_norm", DISCRIMINATOR_NORMS),
                          ("gan_loss", GAN_LOSSES)):
      value = getattr(self, name)
      if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {list(choices)}; "
                         f"pass e.g. --{name}={choices[0]}.")
    preset = preset_for_size(self.gran_preset, data.image_size)
    if not preset_fits(preset, data.image_size):
      if preset == "generic":
        raise ValueError(
            f"gran_preset='generic' builds power-of-two images "
            f"{list(GENERIC_SIZES)}, not image_size={data.image_size}; pass "
            "one of those --image_size values or --gran_preset=auto.")
      raise ValueError(
          f"gran_preset={self.gran_preset!r} builds "
          f"{PRESET_SIZES[preset]}x{PRESET_SIZES[preset]} images but "
          f"image_size={data.image_size}; pass "
          f"--image_size={PRESET_SIZES[preset]} or --gran_preset=auto.")
    for name in ("generator_width", "discriminator_width"):
      if not getattr(self, name) > 0:
        raise ValueError(f"{name}={getattr(self, name)} must be > 0, e.g. "
                         "1.0.")
    for name in ("generator_learning_rate", "discriminator_learning_rate",
                 "discriminator_weight_decay"):
      if not getattr(self, name) >= 0:
        raise ValueError(f"{name}={getattr(self, name)} must be >= 0 "
                         "(0 = default / off).")
    for name in ("generator_beta_1", "discriminator_beta_1"):
      value = getattr(self, name)
      if value != -1.0 and not 0 <= value < 1:
        raise ValueError(f"{name}={value} must be in [0, 1), or -1 for "
                         "--beta_1.")
    for name in ("generator_beta_2", "discriminator_beta_2"):
      if not 0 <= getattr(self, name) < 1:
        raise ValueError(f"{name}={getattr(self, name)} must be in [0, 1), "
                         "e.g. 0.999.")
    if self.condition_on_label and not data.num_classes:
      raise ValueError(
          f"condition_on_label=True needs a labelled dataset, but "
          f"dataset={data.dataset!r} has no labels; use e.g. digits, mnist "
          "or cifar10, or --nocondition_on_label.")
    if (train.on_divergence == "restore"
        and train.divergence_backoff == "step_size"):
      raise ValueError(
          "divergence_backoff='step_size' does not apply to family='gran' "
          "(a GAN has no sampler step size); pass "
          "--divergence_backoff=learning_rate.")
    if self.discriminator_norm == "batch" and (
        train.batch_size // max(1, num_replicas) < 2):
      raise ValueError(
          f"batch_size={train.batch_size} over {num_replicas} replicas "
          "leaves fewer than 2 images per replica, too few for the "
          "discriminator's batch statistics; use a larger --batch_size or "
          "--discriminator_norm=none.")


def _positive_int(name: str, value: Any, example: str) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ValueError(f"{name}={value!r} must be an integer >= 1, {example}.")
