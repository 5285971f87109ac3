"""PPGN: plug-and-play generative networks (Nguyen et al. 2017).

A generator G renders an image from a code h, the penultimate features of
a classifier E; images are sampled by MALA-approx chains on h
(`tfgen.mcmc.mala_approx`), pulled by a learned prior (E(G(h)) - h, an
h-DAE, or an x-DAE in pixel space) and by the gradient of any
differentiable condition network plugged in at sampling time (a class of E,
a class / parity / loop / hidden unit of a separately trained net C', an
inpainting context). Training runs in stages in one run
(`tfgen.models.ppgn_training`), sampling is in `tfgen.models.ppgn_sampling`,
settings in `tfgen.models.ppgn_config.PpgnConfig`.

Checkpointed state (all attributes of the model): the nets (the captioner
of caption conditions only with `captioner=True`), one Adam per
component, the code statistics (`statistics`: mean h, mean h1, mean |x|,
code_max) and the learning-rate back-off scale.
"""

from __future__ import annotations

import dataclasses
import types

import keras
import numpy as np
import tensorflow as tf

from tfgen.core import precision
from tfgen.core import settings as settings_lib
from tfgen.models import base
from tfgen.models import ppgn_chains
from tfgen.models import ppgn_config
from tfgen.models import ppgn_sampling
from tfgen.models import ppgn_training
from tfgen.models import ppgn_captions
from tfgen.nets import captioner as captioner_nets
from tfgen.nets import ppgn as nets

_CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(
    ppgn_config.PpgnConfig))


@keras.saving.register_keras_serializable(package="tfgen")
class PPGN(ppgn_training.PpgnTraining, ppgn_sampling.PpgnSampling,
           ppgn_chains.PpgnChains, base.GenerativeModel):
  """Plug-and-play generative network; images float32 NHWC in [-1, 1]."""

  def __init__(self, image_size: int = 16, channels: int = 1,
               num_classes: int = 10, learning_rate: float = 2e-4,
               beta_1: float = 0.5, ema_momentum: float = 0.0,
               seed: int = 0, **kwargs):
    """Creates every component and optimizer.

    Args:
      image_size, channels, num_classes: of the data (E is a classifier
        over num_classes >= 2 labels).
      learning_rate, beta_1: Adam of G and D (E, C' and the DAEs use the
        settings' encoder_learning_rate / dae_learning_rate, beta_1 0.9).
      ema_momentum: in [0, 1): > 0 keeps a moving average of G's weights
        (`use_averaged_weights`); 0 = none.
      seed: base of the training noise.
      **kwargs: any `PpgnConfig` field (see its help), plus keras.Model's.
    """
    settings = {k: kwargs.pop(k) for k in list(kwargs) if k in _CONFIG_FIELDS}
    for key, value in settings.items():
      if isinstance(value, list):
        settings[key] = tuple(value)
    super().__init__(**kwargs)
    self.settings = ppgn_config.PpgnConfig(**settings)
    data = types.SimpleNamespace(image_size=int(image_size),
                                 channels=int(channels),
                                 num_classes=int(num_classes),
                                 dataset="(model)")
    train = types.SimpleNamespace(num_steps=self.settings.total_steps,
                                  on_divergence="stop",
                                  divergence_backoff="learning_rate")
    self.settings.validate(data, train)
    if int(num_classes) < 2:
      raise ValueError(f"num_classes={num_classes!r} must be >= 2.")
    if not learning_rate > 0:
      raise ValueError(f"learning_rate={learning_rate} must be > 0.")
    self.image_size, self.channels = int(image_size), int(channels)
    self.num_classes = int(num_classes)
    self.learning_rate, self.beta_1 = float(learning_rate), float(beta_1)
    settings_lib.in_range("ema_momentum", ema_momentum, 0.0, 1.0, 0.995)
    self.ema_momentum = float(ema_momentum)
    self.seed = int(seed)
    s = self.settings
    spec = nets.ppgn_net_spec(self.image_size, s.encoder_width,
                              s.generator_width, s.discriminator_width,
                              s.code_dim)
    self.net_spec = spec
    self.code_dim = spec.code_dim
    size, ch = self.image_size, self.channels
    self.encoder_features = nets.build_encoder_features(size, ch, spec)
    self.encoder_code = nets.build_encoder_code(size, spec)
    self.encoder_head = nets.build_encoder_head(self.num_classes, spec,
                                                s.encoder_dropout)
    self.generator = nets.build_generator(size, ch, spec)
    self.discriminator = nets.build_discriminator(size, ch, spec)
    self.condition_net = (nets.build_condition_net(
        size, ch, self.num_classes, spec) if s.condition_net else None)
    self.captioner = captioner_nets.build_captioner(
        size, ch, len(ppgn_captions.TOKENS), ppgn_captions.SEQUENCE_LENGTH,
        cell=s.captioner_cell) if s.captioner else None
    self.code_dae = nets.build_code_dae(spec) if (
        s.code_dae and s.dae_steps) else None
    self.image_dae = nets.build_image_dae(size, ch, spec) if (
        s.image_dae and s.dae_steps) else None
    self.base_learning_rates = {
        "encoder": s.encoder_learning_rate,
        "condition": s.encoder_learning_rate,
        "captioner": s.encoder_learning_rate,
        "generator": self.learning_rate, "discriminator": self.learning_rate,
        "code_dae": s.dae_learning_rate, "image_dae": s.dae_learning_rate}
    betas = {"generator": self.beta_1, "discriminator": self.beta_1}
    self.optimizers = {}
    for group in ppgn_training.GROUPS:
      optimizer = precision.adam(
          self.base_learning_rates[group], beta_1=betas.get(group, 0.9),
          ema_momentum=self.ema_momentum if group == "generator" else 0.0,
          name=f"{group}_adam")
      optimizer.build(self.group_variables(group))
      setattr(self, f"{group}_optimizer", optimizer)  # Tracked by name.
      self.optimizers[group] = optimizer
    self.statistics = {}
    for key in ppgn_training.STAT_KEYS:
      variable = self.add_weight(
          shape=(), initializer="ones" if key != "code_max" else "zeros",
          trainable=False, name=key, aggregation="only_first_replica")
      self.statistics[key] = variable
      # Also an attribute: a dict of variables is not a checkpoint
      # dependency (tf.train.Checkpoint would skip the statistics).
      setattr(self, f"stat_{key}", variable)
    self.stats_batches = self.add_weight(
        shape=(), initializer="zeros", trainable=False, name="stats_batches",
        aggregation="only_first_replica")
    self.learning_rate_scale = self.add_weight(
        shape=(), initializer="ones", trainable=False,
        name="learning_rate_scale", aggregation="only_first_replica")
    self._compiled_sample = tf.function(self.sample_from_seeds)
    self.built = True

  # ---- components ---------------------------------------------------------
  def group_variables(self, group: str) -> list:
    nets_of = {
        "encoder": (self.encoder_features, self.encoder_code,
                    self.encoder_head),
        "condition": (self.condition_net,), "captioner": (self.captioner,),
        "generator": (self.generator,),
        "discriminator": (self.discriminator,), "code_dae": (self.code_dae,),
        "image_dae": (self.image_dae,)}[group]
    return [v for net in nets_of if net is not None
            for v in net.trainable_variables]

  def encode(self, images, training: bool = False) -> tf.Tensor:
    """E2(E1(images)): the codes h [B, code_dim] (post-ReLU)."""
    return self.encoder_code(self.encoder_features(images, training=training),
                             training=training)

  def classify(self, images, training: bool = False) -> tf.Tensor:
    """E's class logits [B, K]."""
    return self.encoder_head(self.encode(images, training), training=training)

  def condition_targets(self, labels) -> tuple:
    """(class, parity, loop) targets of C' from digit-style labels."""
    labels = tf.cast(labels, tf.int32)
    loop = tf.reduce_any(tf.equal(labels[:, None],
                                  tf.constant([[0, 6, 8, 9]])), axis=1)
    return labels, tf.math.floormod(labels, 2), tf.cast(loop, tf.int32)

  @property
  def image_shape(self) -> tuple:
    return (self.image_size, self.image_size, self.channels)

  @property
  def final_image_size(self) -> int:
    return self.image_size

  @property
  def grid_sizes(self) -> tuple:
    return (self.image_size,)

  @property
  def is_conditional(self) -> bool:
    return True

  @property
  def is_adapted(self) -> bool:
    """Whether the code statistics were measured (stage 2 ran)."""
    return bool(self.stats_batches.numpy() > 0)

  def call(self, codes, training=False):
    return self.generator(codes, training=training)

  # ---- the rest of the contract -------------------------------------------
  def set_learning_rate_scale(self, scale: float) -> None:
    self.learning_rate_scale.assign(float(scale))

  def backoff_settings(self) -> dict:
    scale = float(self.learning_rate_scale.numpy())
    return {f"{group}_learning_rate": rate * scale
            for group, rate in self.base_learning_rates.items()}

  # ---- code statistics outside training (the contract's adapt) ------------
  @property
  def needs_adapt(self) -> bool:
    """True until the code statistics were measured (stage 2 or `adapt`)."""
    return not self.is_adapted

  @property
  def num_adapt_examples(self) -> int:
    return 256

  def adapt(self, images, labels=None) -> None:
    """Measures the code statistics of `images` under the current E.

    The same measurement as the stats stage (which overwrites it when
    training reaches that stage): mean h, h1 and |x|, code_max = max h.
    """
    del labels
    images = tf.convert_to_tensor(images, tf.float32)
    h1s, hs = [], []
    for start in range(0, int(images.shape[0]), 128):
      h1 = self.encoder_features(images[start:start + 128], training=False)
      h1s.append(tf.reduce_mean(h1))
      hs.append(self.encoder_code(h1, training=False))
    h = tf.concat(hs, 0)
    self.statistics["h_mean"].assign(tf.reduce_mean(h))
    self.statistics["h1_mean"].assign(tf.reduce_mean(tf.stack(h1s)))
    self.statistics["x_abs_mean"].assign(tf.reduce_mean(tf.abs(images)))
    self.statistics["code_max"].assign(tf.reduce_max(h))
    self.stats_batches.assign(1.0)

  def sample_classes(self, num_samples: int, seed=(0, 0),
                     class_id=None, first_index: int = 0):
    """int32 [num_samples]: the class of E each of `sample`'s chains follows.

    `class_id` if given, else class (first_index + i) mod K (`sample`'s).
    """
    if class_id is not None:
      self._check_class_id(class_id)
      return np.broadcast_to(np.asarray(class_id, np.int32),
                             [num_samples]).copy()
    del seed
    return self.cycled_classes(int(num_samples), int(first_index))

  def sample_names(self) -> list:
    """'snapshot<i>_step<k>' per snapshot of `sample` (4 along the chain,
    final last); unique even when the chain has fewer than 4 steps."""
    steps = self.settings.num_mcmc_steps
    return [f"snapshot{k + 1}_step{steps * (k + 1) // 4}" for k in range(4)]

  def inpaint_options(self, num_steps=None) -> dict:
    """{'num_steps': MALA-approx steps, 'sampler': {'context_weight': ..}}.

    num_steps: None (the run's num_mcmc_steps) or one int > 0 in a list
    (apps.inpaint's --num_langevin_steps: a PPGN chain has one number of
    steps). The context term's weight (epsilon4) is the run's
    `context_weight`; `inpaint_from_seeds(sampler=...)` overrides it.
    """
    steps = self.settings.num_mcmc_steps
    if num_steps is not None:
      values = list(num_steps) if isinstance(num_steps, (list, tuple)) else [
          num_steps]
      if len(values) != 1 or isinstance(values[0], bool) or int(
          values[0]) != values[0] or values[0] <= 0:
        raise ValueError(
            f"num_steps={values}: a PPGN inpaints with one chain of "
            "MALA-approx steps; give one integer > 0, e.g. "
            f"--num_langevin_steps={steps}.")
      steps = int(values[0])
    return {"num_steps": steps,
            "sampler": {"context_weight": self.settings.context_weight}}

  @property
  def has_conditional_discriminator(self) -> bool:
    """D judges images alone; the classes are E's."""
    return False

  def discriminator_logits(self, images, **conditions):
    del conditions
    return self.discriminator(images, training=False)[:, 0]

  def weight_averages(self) -> list:
    """G's optimizer and weights (the nets sampling renders codes with)."""
    return [(self.optimizers["generator"],
             self.group_variables("generator"))]

  def metric_info(self) -> dict:
    shown = {"stage", "e_loss", "g_loss", "d_loss", "d_paused", "g_paused",
             "code_dae_loss", "image_dae_loss", "caption_loss"}
    return {key: base.MetricInfo(key, None, None, key in shown)
            for key in ppgn_training.METRIC_KEYS}

  def get_config(self):
    return dict(image_size=self.image_size, channels=self.channels,
                num_classes=self.num_classes,
                learning_rate=self.learning_rate, beta_1=self.beta_1,
                ema_momentum=self.ema_momentum, seed=self.seed,
                **dataclasses.asdict(self.settings))

  @classmethod
  def from_config(cls, config):
    return cls(**config)


def build_model(config) -> PPGN:
  """The PPGN an `ExperimentConfig` (family 'ppgn') describes.

  `tfgen.families.build_model` calls it inside `seeds.initial_weights`, so
  the initial weights depend on `config.train.seed` only.
  """
  settings = config.model
  settings.validate(config.data, config.train)
  return PPGN(image_size=config.data.image_size,
              channels=config.data.channels,
              num_classes=config.data.num_classes,
              learning_rate=config.train.learning_rate,
              beta_1=config.train.beta_1,
              ema_momentum=config.train.ema_momentum, seed=config.train.seed,
              **dataclasses.asdict(settings))
