"""`PpgnConfig`: the settings of a PPGN run (pure Python, no TensorFlow).

One field per setting (`tfgen.core.settings.setting`), each with a one-line
help; `apps.train` makes one flag per field (same name, so a name shared with
another family must have the same type: the sampler's noise is
`sampler_noise`, its steps `num_mcmc_steps`, not multigrid's list-valued
`noise_scale` / `num_sampling_steps`). `validate(data, train, num_replicas)` raises a
ValueError naming the setting, its value and the fix.
"""

from __future__ import annotations

import dataclasses
import math

from tfgen.core.settings import setting

VARIANTS = ("noiseless_joint_ppgn_h", "joint_ppgn_h", "ppgn_h", "dgn_am",
            "ppgn_x")
PRIORS = ("none", "code_dae", "encoder", "image_dae")
# The sampler's prior term each variant uses by default.
DEFAULT_PRIOR = {"noiseless_joint_ppgn_h": "encoder", "joint_ppgn_h": "encoder",
                 "ppgn_h": "code_dae", "dgn_am": "none",
                 "ppgn_x": "image_dae"}
CONDITION_GRADIENTS = ("official", "log_softmax")
# The classifier a chain's class (--class_id, serving class_id) conditions on.
CLASS_CONDITIONS = ("both", "encoder", "condition_net")
GAN_LOSSES = ("non_saturating", "minimax", "least_squares", "hinge")
CAPTIONER_CELLS = ("gru", "lstm")
CAPTION_MAX_CLASSES = 10  # The templates name digits 0-9.


def _field(default, help_text: str, choices=None):
  return setting(default, help_text, choices=choices)


@dataclasses.dataclass(frozen=True)
class PpgnConfig:
  """Model, training-stage and sampler settings of `tfgen.models.PPGN`."""
  variant: str = _field(
      "noiseless_joint_ppgn_h",
      f"PPGN treatment, one of {', '.join(VARIANTS)}: sets G's losses and "
      "the default sampler prior.", VARIANTS)
  code_dim: int = _field(0, "Width of the code h (E's fc6, G's input); 0 = "
                         "the preset of the image size (256 at 16x16).")
  encoder_width: float = _field(1.0, "Width multiplier of E.")
  generator_width: float = _field(1.0, "Width multiplier of G.")
  discriminator_width: float = _field(1.0, "Width multiplier of D.")
  # ---- training stages (steps of one run, in this order) ----
  encoder_steps: int = _field(1500, "Stage 1: steps training E (and the "
                              "condition net C') on the labels.")
  stats_steps: int = _field(20, "Stage 2: batches measuring code statistics "
                            "under the frozen E (mean activations, code_max).")
  generator_steps: int = _field(3000, "Stage 3: steps training G and D.")
  dae_steps: int = _field(1000, "Stage 4: steps training the h-DAE and the "
                          "x-DAE (0 = no DAE stage).")
  code_dae: bool = _field(True, "Train the h-DAE in stage 4 (prior "
                          "code_dae, PPGN-h).")
  image_dae: bool = _field(True, "Train the x-DAE in stage 4 (prior "
                           "image_dae, PPGN-x).")
  condition_net: bool = _field(True, "Train the condition net C' (class, "
                               "parity, loop heads) in stage 1.")
  captioner: bool = _field(False, "Train the captioner of caption: "
                           "conditions (template captions of digits) in "
                           "stage 1, with C'.")
  captioner_cell: str = _field("gru", "The captioner's recurrent layer "
                               "(gru or lstm).", CAPTIONER_CELLS)
  encoder_learning_rate: float = _field(1e-3, "Adam learning rate of E, C' "
                                        "and the captioner.")
  dae_learning_rate: float = _field(1e-3, "Adam learning rate of the DAEs.")
  encoder_dropout: float = _field(0.3, "Dropout of E's head in training.")
  encoder_max_shift: int = _field(1, "Shift augmentation of E and C' "
                                  "(pixels, 0 = off).")
  # ---- G's losses ----
  img_weight: float = _field(1.0, "Weight of L_img (pixel mean squared "
                             "error of G(E(x))).")
  feature_weight: float = _field(1.0, "Weight of L_h1 (mean squared error "
                                 "of E1(G(h)) vs h1).")
  code_weight: float = _field(1.0, "Weight of L_h (joint_ppgn_h only).")
  gan_weight: float = _field(0.01, "Weight of G's adversarial loss.")
  gan_loss: str = _field("non_saturating", "GAN loss pair "
                         f"({', '.join(GAN_LOSSES)}).", GAN_LOSSES)
  noise_x: float = _field(0.01, "joint_ppgn_h: noise on x, times mean |x|.")
  noise_h1: float = _field(0.1, "joint_ppgn_h: noise on h1, times mean h1.")
  noise_h: float = _field(0.1, "joint_ppgn_h: noise on h, times mean h.")
  gan_pause_low: float = _field(0.1, "Pause D while loss_D / loss_G is "
                                "below this (paper: 0.1).")
  gan_pause_high: float = _field(10.0, "Pause G while loss_D / loss_G is "
                                 "above this (paper: 10).")
  code_dae_noise: float = _field(0.1, "h-DAE training noise, times mean h.")
  image_dae_noise: float = _field(0.2, "x-DAE training noise std on [-1, 1] "
                                  "images (paper 25.6 of 128).")
  # ---- the sampler (apps.sample defaults and the export) ----
  prior: str = _field("", "Sampler prior, one of "
                      f"{', '.join(PRIORS)}; empty = the variant's.")
  # Measured on digits (docs/ppgn.md, "Diversity"): the paper's (1e-5, 1,
  # 1e-17) leaves the prior idle next to the class gradient on these codes
  # and the chains of a class converge to one image; (1e-3, 1, 1e-3) keeps
  # the class and gives real-like within-class diversity.
  prior_weight: float = _field(1e-3, "epsilon1: weight of the prior term "
                               "R(h) - h (paper 1e-5; 1e-3 measured on "
                               "digits).")
  condition_weight: float = _field(1.0, "epsilon2: weight of the condition "
                                   "gradient.")
  sampler_noise: float = _field(1e-3, "epsilon3: std of the sampler noise "
                                "(paper 1e-17; 1e-3 measured on digits).")
  context_weight: float = _field(1.0, "epsilon4: weight of the inpainting "
                                 "context term (0 = clamp only; 1 measured "
                                 "better on every mask, docs/ppgn.md).")
  sampler_step_size: float = _field(0.1, "Mean |change of h| per step in "
                                    "units of mean h (official lr 1 on fc6 "
                                    "~ 0.1); pixels for PPGN-x.")
  sampler_step_size_end: float = _field(
      0.01, "Step size at the last step (a linear schedule from "
      "sampler_step_size; sharper final images, docs/ppgn.md); < 0 = "
      "constant, as the official class scripts.")
  num_mcmc_steps: int = _field(200, "MALA-approx steps per sample.")
  normalize_steps: bool = _field(True, "Official step normalisation d / "
                                 "mean|d| per chain (False: literal Eq. 11).")
  condition_gradient: str = _field("official", "Class gradient: official "
                                   "(1 - p_c) grad logit_c, or log_softmax.",
                                   CONDITION_GRADIENTS)
  class_condition: str = _field(
      "both", "The classifiers a chain's class (--class_id, the serving "
      "class_id) conditions on: both (the sum of E's and C''s class terms: "
      "an image must convince two different networks, so fewer fool one "
      "but not a reader; docs/ppgn.md), encoder (E alone, the paper's), or "
      "condition_net (C' alone, trained beside E, never seen by G).",
      CLASS_CONDITIONS)
  start_scale: float = _field(1.0, "Start codes N(0, 1) times this times "
                              "mean h, clipped to [0, code_max].")

  def validate(self, data, train, num_replicas: int = 1) -> "PpgnConfig":
    """Raises ValueError naming the setting, its value and the fix."""
    del num_replicas
    if self.variant not in VARIANTS:
      raise ValueError(f"variant={self.variant!r} is not one of "
                       f"{VARIANTS}; e.g. --variant=noiseless_joint_ppgn_h.")
    size = data.image_size
    if size < 8 or size & (size - 1):
      raise ValueError(f"image_size={size} must be a power of two >= 8 for "
                       "family='ppgn', e.g. 16 or 32.")
    if not data.num_classes:
      raise ValueError(
          f"dataset={data.dataset!r} has no labels, but PPGN trains its "
          "encoder E as a classifier; use a labelled dataset (digits, mnist, "
          "cifar10).")
    for name in ("code_dim", "stats_steps", "dae_steps", "encoder_max_shift"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}={value!r} must be an integer >= 0.")
    for name in ("encoder_steps", "generator_steps", "num_mcmc_steps"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive integer.")
    if self.stats_steps < 1:
      raise ValueError(f"stats_steps={self.stats_steps} must be >= 1: the "
                       "code statistics (code_max, mean h) are measured, not "
                       "hard-coded; e.g. --stats_steps=20.")
    for name in ("encoder_width", "generator_width", "discriminator_width",
                 "encoder_learning_rate", "dae_learning_rate",
                 "sampler_step_size", "start_scale"):
      value = getattr(self, name)
      if not (isinstance(value, (int, float)) and math.isfinite(value)
              and value > 0):
        raise ValueError(f"{name}={value!r} must be a number > 0.")
    for name in ("img_weight", "feature_weight", "code_weight", "gan_weight",
                 "noise_x", "noise_h1", "noise_h", "code_dae_noise",
                 "image_dae_noise", "prior_weight", "condition_weight",
                 "sampler_noise", "context_weight"):
      value = getattr(self, name)
      if not (isinstance(value, (int, float)) and math.isfinite(value)
              and value >= 0):
        raise ValueError(f"{name}={value!r} must be a number >= 0 (0 turns "
                         "it off).")
    if not 0 <= self.encoder_dropout < 1:
      raise ValueError(f"encoder_dropout={self.encoder_dropout} must be in "
                       "[0, 1), e.g. 0.3.")
    if not 0 < self.gan_pause_low < self.gan_pause_high:
      raise ValueError(
          f"gan_pause_low={self.gan_pause_low}, gan_pause_high="
          f"{self.gan_pause_high}: need 0 < low < high (paper: 0.1 and 10).")
    if self.gan_loss not in GAN_LOSSES:
      raise ValueError(f"gan_loss={self.gan_loss!r} is not one of "
                       f"{GAN_LOSSES}.")
    if self.captioner_cell not in CAPTIONER_CELLS:
      raise ValueError(f"captioner_cell={self.captioner_cell!r} is not one "
                       f"of {CAPTIONER_CELLS}.")
    if self.captioner and data.num_classes > CAPTION_MAX_CLASSES:
      raise ValueError(
          f"captioner=True: the caption templates name digits 0-9, but "
          f"dataset={data.dataset!r} has {data.num_classes} classes; pass "
          "--nocaptioner.")
    if self.condition_gradient not in CONDITION_GRADIENTS:
      raise ValueError(f"condition_gradient={self.condition_gradient!r} is "
                       f"not one of {CONDITION_GRADIENTS}.")
    if self.class_condition not in CLASS_CONDITIONS:
      raise ValueError(f"class_condition={self.class_condition!r} is not "
                       f"one of {CLASS_CONDITIONS}.")
    if self.class_condition != "encoder" and not self.condition_net:
      raise ValueError(
          f"class_condition={self.class_condition!r} needs the condition "
          "net C', but this run does not train it (condition_net=False); "
          "train with --condition_net, or pass --class_condition=encoder.")
    prior = self.resolved_prior
    if prior not in PRIORS:
      raise ValueError(f"prior={self.prior!r} is not one of {PRIORS} (or "
                       "empty for the variant's default).")
    self.check_prior_trained(prior, "prior")
    if self.variant == "ppgn_x" and prior != "image_dae":
      raise ValueError(f"prior={prior!r} with variant='ppgn_x': PPGN-x "
                       "samples pixels and needs --prior=image_dae.")
    # num_steps below the stages' total is allowed: the run stops inside a
    # stage and resumes from there with a larger --num_steps (steps past the
    # total train nothing; the progress line shows the stage).
    if train.on_divergence == "restore" and (
        train.divergence_backoff == "step_size"):
      raise ValueError(
          "divergence_backoff='step_size' does not apply to family='ppgn' "
          "(no sampler runs in training); pass "
          "--divergence_backoff=learning_rate.")
    return self

  def check_prior_trained(self, prior: str, name: str = "prior") -> None:
    """Raises if `prior` needs a component this run does not train."""
    if prior == "code_dae" and not (self.code_dae and self.dae_steps):
      raise ValueError(
          f"{name}='code_dae' needs the h-DAE, but this run does not train "
          f"it (code_dae={self.code_dae}, dae_steps={self.dae_steps}); train "
          "with --code_dae --dae_steps=1000, or use --prior=encoder or "
          "--prior=none.")
    if prior == "image_dae" and not (self.image_dae and self.dae_steps):
      raise ValueError(
          f"{name}='image_dae' needs the x-DAE, but this run does not train "
          f"it (image_dae={self.image_dae}, dae_steps={self.dae_steps}); "
          "train with --image_dae --dae_steps=1000, or use --prior=encoder.")

  @property
  def resolved_prior(self) -> str:
    return self.prior or DEFAULT_PRIOR.get(self.variant, "encoder")

  @property
  def total_steps(self) -> int:
    return (self.encoder_steps + self.stats_steps + self.generator_steps +
            self.dae_steps)

  @property
  def stage_ends(self) -> tuple[int, int, int, int]:
    """Cumulative last step (exclusive) of each stage."""
    ends, total = [], 0
    for steps in (self.encoder_steps, self.stats_steps, self.generator_steps,
                  self.dae_steps):
      total += steps
      ends.append(total)
    return tuple(ends)
