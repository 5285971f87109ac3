"""LAPGAN: a Laplacian pyramid of adversarial networks (Denton et al. 2015).

Levels run coarse to fine, e.g. 4x4 -> 8x8 -> 16x16 (`level_sizes`). The
coarsest level is a GAN from a noise vector to a small image; every finer
level s is a conditional GAN whose generator takes the blur-up-sampled
coarser image `up(I_{s/2})` and a noise plane and outputs the Laplacian
residual, so that `I_s = up(I_{s/2}) + G_s(noise, up(I_{s/2}))`. Its
discriminator judges the residual together with `up(I_{s/2})`. With
`num_classes > 0` every generator and discriminator also gets the class
(one-hot; a learned input plane for the convolutional nets).

Training (all levels in one step, each with its own losses and optimizers,
as in the paper each level learns from *real* coarse images): per level,
`d_steps_per_g_step` discriminator updates, then one generator update, with
the non-saturating losses

    d_loss = E softplus(-D(real)) + E softplus(D(fake))
    g_loss = E softplus(-D(fake))

(`tfgen.core.losses`' 'non_saturating' pair).

Metrics per level s: `d_loss/level{s}`, `g_loss/level{s}`,
`d_accuracy/level{s}` (fraction of real and fake examples the discriminator
classifies right), `d_real_logit/level{s}`, `d_fake_logit/level{s}`, and
with `diversity_weight > 0` `g_diversity/level{s}` (output change per noise
change, see `__init__`).
The step counter is the family contract's (`tfgen.models.base`): the
Trainer's, or the model's own under Keras `fit`; the per-level Adam
optimizers are tracked attributes, saved with the model.

Sampling (`sample`, `sample_from_seeds`, `refine`; in
`tfgen.models.lapgan_sampling`) gives each image its own seed pair: an image
depends only on its seed (and class), not on its batch-mates; generators run
in inference mode.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

from tfgen.core import losses
from tfgen.core import precision
from tfgen.core import seeds
from tfgen.core import settings
from tfgen.data import pyramid
from tfgen.mcmc import noise
from tfgen.mcmc import runner
from tfgen.models import base
from tfgen.models import lapgan_config
from tfgen.models import lapgan_sampling
from tfgen.nets import gan

_LOSSES = losses.get("non_saturating")
_DEFAULTS = lapgan_config.LapganConfig()


def pyramid_batch(images: tf.Tensor, labels: tf.Tensor,
                  level_sizes: Sequence[int]) -> dict:
  """A training batch with its Laplacian pyramid (for the input pipeline).

  Args:
    images: [B, S, S, C] in [-1, 1], S = level_sizes[-1].
    labels: int [B] class labels (-1 where unknown).
    level_sizes: coarse to fine.

  Returns:
    {"labels": int32 [B], f"images/level{s0}": the coarsest Gaussian level,
     and for each finer level s: f"residual/level{s}" [B, s, s, C] and
     f"coarse_up/level{s}" = blur_upsample(Gaussian level s/2)}.
  """
  coarsest, residuals = pyramid.laplacian_pyramid(images, level_sizes)
  levels = pyramid.reconstruct_laplacian(coarsest, residuals)
  batch = {"labels": tf.cast(labels, tf.int32),
           f"images/level{level_sizes[0]}": coarsest}
  for size, coarse, residual in zip(level_sizes[1:], levels, residuals):
    batch[f"residual/level{size}"] = residual
    batch[f"coarse_up/level{size}"] = pyramid.blur_upsample(coarse)
  return batch


@keras.saving.register_keras_serializable(package="tfgen")
class LAPGAN(lapgan_sampling.LapganSampling, base.GenerativeModel):
  """Laplacian pyramid GAN; one level alone is a plain (DCGAN-style) GAN.

  Images are float32 NHWC in [-1, 1]. `sample(n, seed)` returns one
  [n, s, s, C] tensor per level, coarse to fine.
  """

  def __init__(self,
               level_sizes: Sequence[int] = _DEFAULTS.level_sizes,
               channels: int = 1,
               num_classes: int = 0,
               noise_dim: int = _DEFAULTS.noise_dim,
               generator_width: float = _DEFAULTS.generator_width,
               discriminator_width: float = _DEFAULTS.discriminator_width,
               discriminator_dropout: float = _DEFAULTS.discriminator_dropout,
               d_steps_per_g_step: int = _DEFAULTS.d_steps_per_g_step,
               diversity_weight: float = _DEFAULTS.diversity_weight,
               learning_rate: float = 2e-4,
               beta_1: float = 0.5,
               ema_momentum: float = 0.0,
               seed: int = 0,
               **kwargs):
    """Creates every level's generator, discriminator and optimizers.

    Args:
      level_sizes: coarse to fine, each doubling the previous; the last is
        the image size. One level = a single-level GAN at that size.
      channels: image channels.
      num_classes: 0 = unconditional; K > 0 = class-conditional on K classes.
      noise_dim: length of the coarsest generator's noise vector.
      generator_width, discriminator_width: width multipliers of the nets'
        presets (`tfgen.nets.gan.gan_net_spec`).
      discriminator_dropout: dropout before the discriminators' logit.
      d_steps_per_g_step: discriminator updates per generator update (>= 1).
      diversity_weight: weight of the mode-seeking term (Mao et al. 2019; not
        in the LAPGAN paper; 0 = off): each generator update also draws a
        second noise and adds weight * mean(1 / ratio), ratio = mean |G(z1) -
        G(z2)| / mean |z1 - z2|, which keeps a generator from ignoring its
        noise (refinements of one coarse image that do not differ).
      learning_rate, beta_1: of every level's Adam optimizers.
      ema_momentum: in [0, 1): > 0 keeps a moving average of every
        generator's weights (`use_averaged_weights`); 0 = none.
      seed: base of the training step seeds.
    """
    super().__init__(**kwargs)
    self.level_sizes = pyramid.validate_level_sizes(level_sizes,
                                                    int(level_sizes[-1]))
    # Settings are checked once, by their config (tfgen.models.
    # lapgan_config); only the model's own arguments are checked here.
    lapgan_config.LapganConfig(
        level_sizes=self.level_sizes, noise_dim=noise_dim,
        generator_width=generator_width,
        discriminator_width=discriminator_width,
        discriminator_dropout=discriminator_dropout,
        d_steps_per_g_step=d_steps_per_g_step,
        diversity_weight=diversity_weight,
        condition_on_label=bool(num_classes)).check_values()
    settings.positive_int("channels", channels, 1)
    settings.non_negative_int("num_classes", num_classes, 10)
    settings.positive("learning_rate", learning_rate, 2e-4)
    settings.in_range("beta_1", beta_1, 0.0, 1.0, 0.5)
    settings.in_range("ema_momentum", ema_momentum, 0.0, 1.0, 0.995)
    self.channels = int(channels)
    self.num_classes = int(num_classes)
    self.noise_dim = int(noise_dim)
    self.generator_width = float(generator_width)
    self.discriminator_width = float(discriminator_width)
    self.discriminator_dropout = float(discriminator_dropout)
    self.d_steps_per_g_step = int(d_steps_per_g_step)
    self.diversity_weight = float(diversity_weight)
    self.learning_rate = float(learning_rate)
    self.beta_1 = float(beta_1)
    self.ema_momentum = float(ema_momentum)
    self.seed = int(seed)
    self.generators, self.discriminators = [], []
    self.g_optimizers, self.d_optimizers = [], []
    for index, size in enumerate(self.level_sizes):
      spec = gan.gan_net_spec(size, index == 0, generator_width,
                              discriminator_width, discriminator_dropout)
      if index == 0:
        generator = gan.build_coarse_generator(
            size, self.channels, self.noise_dim, self.num_classes, spec,
            f"generator_level{size}")
        discriminator = gan.build_coarse_discriminator(
            size, self.channels, self.num_classes, spec,
            f"discriminator_level{size}")
      else:
        generator = gan.build_residual_generator(
            size, self.channels, self.num_classes, spec,
            f"generator_level{size}")
        discriminator = gan.build_residual_discriminator(
            size, self.channels, self.num_classes, spec,
            f"discriminator_level{size}")
      g_optimizer = precision.adam(learning_rate, beta_1=beta_1,
                                   ema_momentum=ema_momentum,
                                   name=f"g_adam_level{size}")
      d_optimizer = precision.adam(learning_rate, beta_1=beta_1,
                                          name=f"d_adam_level{size}")
      g_optimizer.build(generator.trainable_variables)
      d_optimizer.build(discriminator.trainable_variables)
      # Named attributes make each a child in tf.train.Checkpoint.
      setattr(self, f"generator_level{size}", generator)
      setattr(self, f"discriminator_level{size}", discriminator)
      setattr(self, f"g_optimizer_level{size}", g_optimizer)
      setattr(self, f"d_optimizer_level{size}", d_optimizer)
      self.generators.append(generator)
      self.discriminators.append(discriminator)
      self.g_optimizers.append(g_optimizer)
      self.d_optimizers.append(d_optimizer)
    self._compiled_sample = tf.function(self.sample_from_seeds)
    self._compiled_refine = tf.function(self.refine_from_seeds)
    self.built = True

  # ---- the family contract ----------------------------------------------
  @property
  def final_image_size(self) -> int:
    return self.level_sizes[-1]

  def sample_names(self) -> list[str]:
    """Names of `sample`'s images, coarse to fine (the sample PNGs' names).

    'grid{s}', as the workdir's samples/ files were always named.
    """
    return [f"grid{size}" for size in self.level_sizes]

  def metric_info(self) -> dict:
    info = {}
    for size in self.level_sizes:
      for quantity in ("d_loss", "g_loss", "d_accuracy", "d_real_logit",
                       "d_fake_logit", "g_diversity"):
        info[f"{quantity}/level{size}"] = base.MetricInfo(
            quantity, "level", size,
            show=quantity in ("d_loss", "g_loss", "d_accuracy"))
    return info

  def set_learning_rate_scale(self, scale: float) -> None:
    """Every level's G and D Adam at `scale` x `learning_rate`."""
    for optimizer in self.g_optimizers + self.d_optimizers:
      optimizer.learning_rate = self.learning_rate * float(scale)

  def weight_averages(self) -> list:
    """Every level's generator optimizer and weights (not the Ds')."""
    return [(optimizer, generator.trainable_variables)
            for optimizer, generator in zip(self.g_optimizers,
                                            self.generators)]

  def backoff_settings(self) -> dict:
    return {"learning_rate": float(keras.ops.convert_to_numpy(
        self.g_optimizers[0].learning_rate))}

  def discriminator_logits(self, images: tf.Tensor, class_ids=None):
    """Logits [B] of the finest level's discriminator on whole images.

    images: float32 [B, S, S, C] in [-1, 1] (S = the finest level). A
    multi-level model judges the image's Laplacian residual at S given its
    blurred up-sampled coarser level, as in training; one level judges the
    image itself. `class_ids` int [B] for a conditional model (default 0).
    """
    images = tf.convert_to_tensor(images, tf.float32)
    one_hot = None
    if self.num_classes:
      if class_ids is None:
        class_ids = tf.zeros(tf.shape(images)[:1], tf.int32)
      one_hot = self._one_hot(class_ids)
    last = len(self.level_sizes) - 1
    if last == 0:
      return self._discriminate(0, images, None, one_hot, False)
    batch = pyramid_batch(images, tf.zeros(tf.shape(images)[:1], tf.int32),
                          self.level_sizes[-2:])
    size = self.level_sizes[-1]
    return self._discriminate(last, batch[f"residual/level{size}"],
                              batch[f"coarse_up/level{size}"], one_hot, False)

  # ---- generation --------------------------------------------------------
  def _one_hot(self, class_ids: tf.Tensor) -> tf.Tensor:
    return tf.one_hot(tf.cast(class_ids, tf.int32), self.num_classes)

  def _generate_level(self, index: int, coarse_up: Optional[tf.Tensor],
                      noise_input: tf.Tensor, one_hot: Optional[tf.Tensor],
                      training: bool) -> tf.Tensor:
    """Level `index`'s generator output (an image, or a residual)."""
    inputs = [noise_input] if index == 0 else [coarse_up, noise_input]
    if self.num_classes:
      inputs.append(one_hot)
    return self.generators[index](inputs, training=training)

  def _discriminate(self, index: int, images: tf.Tensor,
                    coarse_up: Optional[tf.Tensor],
                    one_hot: Optional[tf.Tensor], training: bool) -> tf.Tensor:
    """Logits [B] of level `index` (images: the image or the residual)."""
    inputs = [images] if index == 0 else [images, coarse_up]
    if self.num_classes:
      inputs.append(one_hot)
    return self.discriminators[index](inputs, training=training)[:, 0]

  def _noise_shape(self, index: int) -> list[int]:
    size = self.level_sizes[index]
    return [self.noise_dim] if index == 0 else [size, size, 1]

  # ---- training ----------------------------------------------------------
  def compile(self, optimizer=None, **kwargs):
    """Keras `fit` set-up; the levels own their Adams (`optimizer` unused).

    An `optimizer` given here is ignored for training; the step counter is
    the model's own (or the Trainer's), see `tfgen.models.base`.
    """
    kwargs.setdefault("jit_compile", False)
    super().compile(optimizer=optimizer or keras.optimizers.SGD(0.0),
                    **kwargs)

  def compile_from_config(self, config):
    """Re-compiles a `.keras`-loaded model (the levels own their Adams)."""
    del config
    self.compile()

  def update_step(self, data, step):
    """One update of every level; returns scalar metrics.

    `data` is a `pyramid_batch` dict (the Trainer's input pipeline builds it
    once per batch), or (images, labels) / images, whose pyramid is built
    here. Works per replica under `strategy.run`: losses are scaled by the
    global batch and the noise of each example is its row of one global draw.
    """
    if not isinstance(data, dict):
      if isinstance(data, (tuple, list)):
        images, labels = data[0], (data[1] if len(data) > 1 else None)
      else:
        images, labels = data, None
      images = tf.convert_to_tensor(images, tf.float32)
      if labels is None:
        labels = -tf.ones(tf.shape(images)[:1], tf.int32)
      data = pyramid_batch(images, labels, self.level_sizes)
    seed = runner.fold_in(seeds.run_stream(self.seed, seeds.LAPGAN_TRAINING),
                          step)
    return self.train_on_batch_dict(data, seed)

  def train_on_batch_dict(self, batch: dict, seed: tf.Tensor) -> dict:
    """Updates every level from a `pyramid_batch` dict; returns metrics."""
    one_hot = None
    if self.num_classes:
      one_hot = self._one_hot(tf.maximum(batch["labels"], 0))
    metrics = {}
    for index, size in enumerate(self.level_sizes):
      if index == 0:
        real, coarse_up = batch[f"images/level{size}"], None
      else:
        real = batch[f"residual/level{size}"]
        coarse_up = batch[f"coarse_up/level{size}"]
      metrics.update(self._train_level(index, real, coarse_up, one_hot,
                                       runner.fold_in(seed, index)))
    return metrics

  def _train_level(self, index: int, real: tf.Tensor, coarse_up, one_hot,
                   seed: tf.Tensor) -> dict:
    size = self.level_sizes[index]
    local_batch = tf.shape(real)[0]
    replicas = noise.num_replicas()
    draw = noise.global_batch_noise(local_batch)
    shape = tf.concat([[local_batch], self._noise_shape(index)], 0)
    generator, discriminator = (self.generators[index],
                                self.discriminators[index])
    for d_step in range(self.d_steps_per_g_step):
      fake = self._generate_level(index, coarse_up,
                                  draw(shape, runner.fold_in(seed, d_step)),
                                  one_hot, True)
      fake = tf.stop_gradient(fake)
      with tf.GradientTape() as tape:
        real_logits = self._discriminate(index, real, coarse_up, one_hot, True)
        fake_logits = self._discriminate(index, fake, coarse_up, one_hot, True)
        d_loss = _LOSSES.discriminator_loss(real_logits, fake_logits)
        # This replica's share of the global mean (loss-scaled in float16).
        scaled = self.d_optimizers[index].scale_loss(d_loss / replicas)
      grads = tape.gradient(scaled, discriminator.trainable_variables)
      self.d_optimizers[index].apply_gradients(
          zip(grads, discriminator.trainable_variables))
    g_seed = runner.fold_in(seed, self.d_steps_per_g_step)
    extra = {}
    with tf.GradientTape() as tape:
      first_noise = draw(shape, g_seed)
      fake = self._generate_level(index, coarse_up, first_noise, one_hot,
                                  True)
      g_logits = self._discriminate(index, fake, coarse_up, one_hot, True)
      g_loss = _LOSSES.generator_loss(g_logits)
      total = g_loss
      if self.diversity_weight > 0:
        # Mode seeking (Mao et al. 2019): a second noise draw for the same
        # inputs; penalise outputs that move less than the noise does.
        second_noise = draw(shape, runner.fold_in(g_seed, 1))
        other = self._generate_level(index, coarse_up, second_noise, one_hot,
                                     True)
        penalty, diversity = losses.mode_seeking(fake, other, first_noise,
                                                 second_noise)
        total += self.diversity_weight * penalty
        extra[f"g_diversity/level{size}"] = diversity
      scaled = self.g_optimizers[index].scale_loss(total / replicas)
    grads = tape.gradient(scaled, generator.trainable_variables)
    self.g_optimizers[index].apply_gradients(
        zip(grads, generator.trainable_variables))
    accuracy = losses.discriminator_accuracy(real_logits, fake_logits)
    return {f"d_loss/level{size}": d_loss, f"g_loss/level{size}": g_loss,
            f"d_accuracy/level{size}": accuracy,
            f"d_real_logit/level{size}": tf.reduce_mean(real_logits),
            f"d_fake_logit/level{size}": tf.reduce_mean(fake_logits),
            **extra}

  def get_config(self):
    return dict(
        level_sizes=list(self.level_sizes), channels=self.channels,
        num_classes=self.num_classes, noise_dim=self.noise_dim,
        generator_width=self.generator_width,
        discriminator_width=self.discriminator_width,
        discriminator_dropout=self.discriminator_dropout,
        d_steps_per_g_step=self.d_steps_per_g_step,
        diversity_weight=self.diversity_weight,
        learning_rate=self.learning_rate, beta_1=self.beta_1,
        ema_momentum=self.ema_momentum, seed=self.seed)

  @classmethod
  def from_config(cls, config):
    config = {k: v for k, v in config.items()
              if k not in ("name", "trainable", "dtype")}
    return cls(**config)
