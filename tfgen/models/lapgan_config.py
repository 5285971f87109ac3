"""Settings of the LAPGAN family (`LAPGAN`): declared, defaulted and checked
here, once. `apps.train` makes one flag per field (same name).
"""

from __future__ import annotations

import dataclasses

from tfgen.core import settings
from tfgen.data import pyramid
from tfgen.core.settings import setting


@dataclasses.dataclass(frozen=True)
class LapganConfig:
  """Model settings of `tfgen.models.LAPGAN` (same names).

  `level_sizes` run coarse to fine, each doubling the previous; a single
  level is the plain (single-level) GAN baseline. `condition_on_label` makes
  every level class-conditional on the dataset's labels. The learning rate
  and beta_1 of every level's Adam optimizers are `TrainConfig`'s.
  """
  level_sizes: tuple[int, ...] = setting(
      (4, 8, 16), "LAPGAN levels, coarse to fine, each doubling the "
      "previous; the last = image_size; one level = a single-level GAN.")
  noise_dim: int = setting(100, "Noise vector length of the coarsest "
                           "generator.")
  generator_width: float = setting(1.0, "Generator width multiplier.")
  discriminator_width: float = setting(1.0, "Discriminator width "
                                       "multiplier.")
  discriminator_dropout: float = setting(
      0.0, "Dropout before the discriminators' logit, in [0, 1).")
  d_steps_per_g_step: int = setting(
      1, "Discriminator updates per generator update.")
  diversity_weight: float = setting(
      0.0, "Weight of the mode-seeking term that makes generators use "
      "their noise (0 = off, as in the paper).")
  condition_on_label: bool = setting(
      False, "Class-conditional model on the dataset's labels (the class is "
      "an input of every level).")

  def validate(self, data, train, num_replicas: int = 1) -> None:
    """Raises ValueError naming the setting, its value and the fix.

    (`ExperimentConfig.validate` refuses the step-size back-off for every
    family without a sampler step size, LAPGAN's included.)
    """
    del train, num_replicas
    pyramid.validate_level_sizes(self.level_sizes, data.image_size)
    self.check_values()
    if self.condition_on_label and not data.num_classes:
      raise ValueError(
          f"condition_on_label=True needs a labelled dataset, but "
          f"dataset={data.dataset!r} has no labels; use e.g. digits, "
          "mnist or cifar10, or --nocondition_on_label.")

  def check_values(self) -> None:
    """The checks that need nothing but the settings (the model runs them)."""
    settings.positive_int("noise_dim", self.noise_dim, 100)
    settings.positive_int("d_steps_per_g_step", self.d_steps_per_g_step, 1)
    settings.positive("generator_width", self.generator_width, 1.0)
    settings.positive("discriminator_width", self.discriminator_width, 1.0)
    settings.non_negative("diversity_weight", self.diversity_weight, 1.0)
    settings.in_range("discriminator_dropout", self.discriminator_dropout,
                      0.0, 1.0, 0.5)
