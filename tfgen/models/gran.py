"""GRAN: a generative recurrent adversarial network (Im et al. 2016).

The generator draws an image in T steps onto a canvas. With h_c,1 = 0 and
h_z = tanh(norm(W z)) (z shared by every step, or z_t per step with
`noise_mode='per_step'`), step t adds ΔC_t = f([h_z, h_c,t]) and encodes
its own update, h_c,t+1 = g(ΔC_t) (the encoder sees ΔC_t, not the canvas).
The canvas after t steps is sigmoid(Σ_{s<=t} ΔC_s) in (0, 1); the library's
[-1, 1] image is 2 sigmoid(.) - 1 = tanh(0.5 Σ ΔC). Nets: `tfgen.nets.gran`.

Training (`update_step`): `d_steps_per_g_step` discriminator updates on a
real batch and a fresh fake batch (separate discriminator calls, as the
official code), then one generator update through all T steps
(back-propagation through time), with a paired loss of `tfgen.losses`
(default: non-saturating, the paper's). The discriminator's dense kernels
get the official weight decay λ/2 ||W||². D and G have their own Adam
optimizers, learning rates and betas (the paper insists on separate rates),
optionally decayed as lr / (1 + step / n) (the official per-epoch
schedule, per step).

Metrics: d_loss, g_loss, d_accuracy, d_real_logit, d_fake_logit,
canvas_presigmoid_abs (mean |Σ ΔC|: near 0 = grey, large = saturated),
sample_spread (mean over pixels of the fakes' standard deviation over the
batch: near 0 = collapse), and delta_rms/step{t} (RMS of ΔC_t), t = 1..T.

Sampling (`tfgen.models.gran_sampling`): per-example seeds, inference-mode
normalisation; T' canvas steps may differ from T, the first steps unchanged.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfgen.core import losses
from tfgen.core import precision
from tfgen.core import seeds as seeds_lib
from tfgen.core import settings as settings_lib
from tfgen.mcmc import noise
from tfgen.mcmc import runner
from tfgen.models import base
from tfgen.models import gran_config
from tfgen.models import gran_sampling
from tfgen.nets import gran as gran_nets


def _unpack(batch):
  """(images, labels or None) of a batch: images, (images, labels), dict."""
  if isinstance(batch, dict):
    return batch["images"], batch.get("labels")
  if isinstance(batch, (tuple, list)):
    return batch[0], (batch[1] if len(batch) > 1 else None)
  return batch, None


@keras.saving.register_keras_serializable(package="tfgen")
class GRAN(gran_sampling.GranSampling, base.GenerativeModel):
  """Recurrent canvas generator + discriminator; images NHWC in [-1, 1]."""

  def __init__(self,
               image_size: int = 16,
               channels: int = 1,
               num_classes: int = 0,
               num_canvas_steps: int = 3,
               noise_mode: str = "shared",
               gran_preset: str = "auto",
               noise_dim: int = 0,
               generator_width: float = 1.0,
               discriminator_width: float = 1.0,
               discriminator: str = "paper",
               generator_norm: str = "step_batch",
               discriminator_norm: str = "batch",
               gan_loss: str = "non_saturating",
               d_steps_per_g_step: int = 1,
               generator_learning_rate: float = 1e-4,
               discriminator_learning_rate: float = 4e-5,
               generator_beta_1: float = 0.5,
               discriminator_beta_1: float = 0.5,
               generator_beta_2: float = 0.999,
               discriminator_beta_2: float = 0.999,
               discriminator_weight_decay: float = 5e-6,
               learning_rate_decay_steps: int = 0,
               num_sampling_steps: int = 0,
               diversity_weight: float = 0.0,
               ema_momentum: float = 0.0,
               seed: int = 0,
               **kwargs):
    """Builds the nets and both optimizers.

    Args:
      image_size, channels: of the images (image_size must be a preset's).
      num_classes: 0 = unconditional; K > 0 = G and D get the class.
      num_canvas_steps: T, canvas updates while training.
      noise_mode: 'shared' (one z for all steps) or 'per_step'.
      gran_preset, noise_dim, generator_width, discriminator_width,
        discriminator, generator_norm, discriminator_norm: the nets
        (`tfgen.nets.gran.gran_net_spec`; noise_dim 0 = the preset's).
      gan_loss: a pair of `tfgen.losses.PAIRS`.
      d_steps_per_g_step: discriminator updates per generator update.
      generator_* / discriminator_* learning_rate, beta_1, beta_2: the two
        Adam optimizers.
      discriminator_weight_decay: λ of λ/2 ||W||² on D's dense kernels.
      learning_rate_decay_steps: n of lr / (1 + step / n); 0 = constant.
      num_sampling_steps: default T' of sampling (0 = T).
      diversity_weight: weight of the mode-seeking term
        (`tfgen.core.losses.mode_seeking`; 0 = off, as in the paper).
      ema_momentum: in [0, 1): > 0 keeps a moving average of the
        generator's weights (`use_averaged_weights`); 0 = none.
      seed: base of the training noise.
    """
    super().__init__(**kwargs)
    settings = gran_config.GranConfig(
        num_canvas_steps=num_canvas_steps, noise_mode=noise_mode,
        gran_preset=gran_preset, noise_dim=noise_dim,
        generator_width=generator_width,
        discriminator_width=discriminator_width, discriminator=discriminator,
        generator_norm=generator_norm, discriminator_norm=discriminator_norm,
        gan_loss=gan_loss, d_steps_per_g_step=d_steps_per_g_step,
        generator_learning_rate=generator_learning_rate,
        discriminator_learning_rate=discriminator_learning_rate,
        generator_beta_1=generator_beta_1,
        discriminator_beta_1=discriminator_beta_1,
        generator_beta_2=generator_beta_2,
        discriminator_beta_2=discriminator_beta_2,
        discriminator_weight_decay=discriminator_weight_decay,
        learning_rate_decay_steps=learning_rate_decay_steps,
        num_sampling_steps=num_sampling_steps,
        diversity_weight=diversity_weight)
    self._settings = settings
    for name in ("num_canvas_steps", "d_steps_per_g_step"):
      value = getattr(settings, name)
      if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name}={value!r} must be an integer >= 1.")
    if noise_mode not in gran_config.NOISE_MODES:
      raise ValueError(f"noise_mode={noise_mode!r} is not one of "
                       f"{list(gran_config.NOISE_MODES)}; pass e.g. "
                       "--noise_mode=shared.")
    for name, rate in (("generator_learning_rate", generator_learning_rate),
                       ("discriminator_learning_rate",
                        discriminator_learning_rate)):
      if not rate > 0:
        raise ValueError(f"{name}={rate} must be > 0, e.g. 1e-4.")
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or (
        num_classes < 0):
      raise ValueError(f"num_classes={num_classes!r} must be an integer >= 0 "
                       "(0 = unconditional).")
    self.image_size = int(image_size)
    self.channels = int(channels)
    self.num_classes = int(num_classes)
    self.seed = int(seed)
    self.spec = gran_nets.gran_net_spec(
        self.image_size, self.channels, gran_preset, noise_dim,
        generator_width, discriminator_width, discriminator, generator_norm,
        discriminator_norm)
    self.noise_dim = self.spec.noise_dim
    self.num_canvas_steps = int(num_canvas_steps)
    self.noise_mode = noise_mode
    self.num_sampling_steps = int(num_sampling_steps)
    self.d_steps_per_g_step = int(d_steps_per_g_step)
    losses.get(gan_loss)  # Validates the name.
    self.gan_loss = gan_loss
    nets = gran_nets.build_gran_nets(self.spec, self.num_canvas_steps,
                                     self.num_classes)
    self.project_z, self.decoder, self.encoder, self.discriminator = nets
    settings_lib.non_negative("diversity_weight", diversity_weight, 0.02)
    settings_lib.in_range("ema_momentum", ema_momentum, 0.0, 1.0, 0.995)
    self.ema_momentum = float(ema_momentum)
    self.g_optimizer = precision.adam(
        generator_learning_rate, beta_1=generator_beta_1,
        beta_2=generator_beta_2, ema_momentum=self.ema_momentum,
        name="g_adam")
    self.d_optimizer = precision.adam(
        discriminator_learning_rate, beta_1=discriminator_beta_1,
        beta_2=discriminator_beta_2, name="d_adam")
    self.g_optimizer.build(self.generator_variables)
    self.d_optimizer.build(self.discriminator.trainable_variables)
    with tf.init_scope():
      # Outside Keras tracking (not a weight): the back-off scale, read by
      # the per-step learning-rate decay.
      self.__dict__["_lr_scale"] = tf.Variable(1.0, trainable=False,
                                               name="gran_lr_scale")
    self._compiled_sample = tf.function(self.sample_from_seeds)
    self.built = True

  # ---- properties --------------------------------------------------------------
  @property
  def generator_variables(self) -> list:
    return (self.project_z.trainable_variables +
            self.decoder.trainable_variables +
            self.encoder.trainable_variables)

  @property
  def final_image_size(self) -> int:
    return self.image_size

  @property
  def grid_sizes(self) -> tuple[int, ...]:
    return (self.image_size,)

  @property
  def is_adapted(self) -> bool:
    return True

  # ---- generation --------------------------------------------------------------
  def generate(self, z: tf.Tensor, class_ids, num_steps: int,
               training: bool) -> tuple[list, list]:
    """(canvases, deltas): T' lists of [B, S, S, C].

    z: [B, nz] (shared noise) or [B, >= num_steps, nz] (per step).
    canvases[t] = tanh(0.5 * Σ_{s<=t} deltas[s]) in [-1, 1].
    """
    one_hot = None
    if self.num_classes and class_ids is not None:
      one_hot = tf.one_hot(tf.cast(class_ids, tf.int32), self.num_classes)

    def project(z_t, step):
      inputs = z_t if one_hot is None else tf.concat([z_t, one_hot], -1)
      return self.project_z(inputs, step=step, training=training)

    shared = self.noise_mode == "shared"
    h_z = project(z, 0) if shared else None
    h_c = tf.zeros([tf.shape(z)[0], self.noise_dim])
    canvases, deltas, total = [], [], None
    for t in range(num_steps):
      if not shared:
        h_z = project(z[:, t], t)
      delta = self.decoder([h_z, h_c], step=t, training=training)
      total = delta if total is None else total + delta
      deltas.append(delta)
      canvases.append(tf.tanh(0.5 * total))
      if t < num_steps - 1:
        h_c = self.encoder(delta, step=t, training=training)
    return canvases, deltas

  def _discriminate(self, images, one_hot, training: bool) -> tf.Tensor:
    inputs = [images] if one_hot is None else [images, one_hot]
    return self.discriminator(inputs, training=training)[:, 0]

  # ---- training ------------------------------------------------------------------
  def compile(self, optimizer=None, **kwargs):
    """`optimizer` is unused by the update (G and D own their Adams)."""
    if optimizer is None:
      optimizer = keras.optimizers.SGD(1e-3)
    kwargs.setdefault("jit_compile", False)
    super().compile(optimizer=optimizer, **kwargs)

  def get_compile_config(self):
    return {"jit_compile": False}

  def compile_from_config(self, config):
    """Re-compiles a loaded model (the step-counter optimizer only)."""
    self.compile(jit_compile=bool(config.get("jit_compile", False)))

  def _decay_learning_rates(self, step: tf.Tensor) -> None:
    decay = self._settings.learning_rate_decay_steps
    if not decay:
      return
    factor = self._lr_scale / (1.0 + tf.cast(step, tf.float32) / decay)
    for optimizer, rate in ((self.g_optimizer,
                             self._settings.generator_learning_rate),
                            (self.d_optimizer,
                             self._settings.discriminator_learning_rate)):
      optimizer.learning_rate.assign(rate * factor)

  def update_step(self, batch, step: tf.Tensor) -> dict:
    """One D update (or `d_steps_per_g_step`), then one G update; metrics.

    Per replica under `strategy.run`: losses are this replica's share of
    the global-batch mean, and each example's noise is its row of one global
    draw, so a mirrored step equals a single-device step.
    """
    images, labels = _unpack(batch)
    real = tf.convert_to_tensor(images, tf.float32)
    one_hot, classes = None, None
    if self.num_classes:
      if labels is None:
        raise ValueError("A class-conditional GRAN trains on (images, "
                         "labels) batches.")
      classes = tf.maximum(tf.cast(labels, tf.int32), 0)
      one_hot = tf.one_hot(classes, self.num_classes)
    seed = runner.fold_in(
        seeds_lib.run_stream(self.seed, seeds_lib.GRAN_TRAINING), step)
    self._decay_learning_rates(step)
    local_batch = tf.shape(real)[0]
    replicas = noise.num_replicas()
    draw = noise.global_batch_noise(local_batch)
    steps = self.num_canvas_steps
    per_example = ([self.noise_dim] if self.noise_mode == "shared"
                   else [steps, self.noise_dim])
    shape = tf.concat([[local_batch], per_example], 0)
    d_variables = self.discriminator.trainable_variables
    kernels = gran_nets.dense_kernels(self.discriminator)
    decay = self._settings.discriminator_weight_decay
    for d_step in range(self.d_steps_per_g_step):
      z = draw(shape, runner.fold_in(seed, d_step))
      fake = tf.stop_gradient(self.generate(z, classes, steps, True)[0][-1])
      with tf.GradientTape() as tape:
        real_logits = self._discriminate(real, one_hot, True)
        fake_logits = self._discriminate(fake, one_hot, True)
        d_loss = losses.get(self.gan_loss).discriminator_loss(real_logits, fake_logits)
        total = d_loss
        if decay:
          total += 0.5 * decay * tf.add_n(
              [tf.reduce_sum(tf.square(k)) for k in kernels])
        # This replica's share of the global mean (loss-scaled in float16).
        scaled = self.d_optimizer.scale_loss(total / replicas)
      grads = tape.gradient(scaled, d_variables)
      self.d_optimizer.apply_gradients(zip(grads, d_variables))
    g_variables = self.generator_variables
    z = draw(shape, runner.fold_in(seed, self.d_steps_per_g_step))
    with tf.GradientTape() as tape:
      canvases, deltas = self.generate(z, classes, steps, True)
      g_logits = self._discriminate(canvases[-1], one_hot, True)
      g_loss = losses.get(self.gan_loss).generator_loss(g_logits)
      total = g_loss
      if self._settings.diversity_weight:
        # Mode seeking: the same step again from a second z.
        other_z = draw(shape, runner.fold_in(seed, self.d_steps_per_g_step
                                             + 1))
        other = self.generate(other_z, classes, steps, True)[0][-1]
        penalty, diversity = losses.mode_seeking(canvases[-1], other, z,
                                                 other_z)
        total += self._settings.diversity_weight * penalty
      scaled = self.g_optimizer.scale_loss(total / replicas)
    grads = tape.gradient(scaled, g_variables)
    # GRAN1's encoder is never used (no later step reads h_c): no gradient.
    pairs = [(g, v) for g, v in zip(grads, g_variables) if g is not None]
    self.g_optimizer.apply_gradients(pairs)
    presigmoid = tf.add_n(deltas)
    metrics = {
        "d_loss": d_loss, "g_loss": g_loss,
        "d_accuracy": losses.discriminator_accuracy(real_logits, fake_logits),
        "d_real_logit": tf.reduce_mean(real_logits),
        "d_fake_logit": tf.reduce_mean(fake_logits),
        "canvas_presigmoid_abs": tf.reduce_mean(tf.abs(presigmoid)),
        "sample_spread": tf.reduce_mean(
            tf.math.reduce_std(canvases[-1], axis=0)),
    }
    if self._settings.diversity_weight:
      metrics["g_diversity"] = diversity
    for t, delta in enumerate(deltas):
      metrics[f"delta_rms/step{t + 1}"] = tf.sqrt(
          tf.reduce_mean(tf.square(delta)))
    return metrics

  def metric_info(self) -> dict:
    info = {name: base.MetricInfo(name, None, None, show)
            for name, show in (("d_loss", True), ("g_loss", True),
                               ("d_accuracy", True), ("d_real_logit", False),
                               ("d_fake_logit", False),
                               ("canvas_presigmoid_abs", False),
                               ("sample_spread", True))}
    if self._settings.diversity_weight:
      info["g_diversity"] = base.MetricInfo("g_diversity")
    for t in range(1, self.num_canvas_steps + 1):
      info[f"delta_rms/step{t}"] = base.MetricInfo("delta_rms", "canvas_step",
                                                   t)
    return info

  def set_learning_rate_scale(self, scale: float) -> None:
    """Both optimizers at `scale` x their configured rates (D:G ratio kept)."""
    self._lr_scale.assign(float(scale))
    self.g_optimizer.learning_rate = (
        self._settings.generator_learning_rate * float(scale))
    self.d_optimizer.learning_rate = (
        self._settings.discriminator_learning_rate * float(scale))

  def weight_averages(self) -> list:
    """The generator's optimizer and weights (not the discriminator's)."""
    return [(self.g_optimizer, self.generator_variables)]

  def backoff_settings(self) -> dict:
    return {
        "generator_learning_rate": float(self.g_optimizer.learning_rate),
        "discriminator_learning_rate": float(self.d_optimizer.learning_rate)}

  def get_config(self):
    s = self._settings
    return dict(
        image_size=self.image_size, channels=self.channels,
        num_classes=self.num_classes, num_canvas_steps=s.num_canvas_steps,
        noise_mode=s.noise_mode, gran_preset=s.gran_preset,
        noise_dim=s.noise_dim, generator_width=s.generator_width,
        discriminator_width=s.discriminator_width,
        discriminator=s.discriminator, generator_norm=s.generator_norm,
        discriminator_norm=s.discriminator_norm, gan_loss=s.gan_loss,
        d_steps_per_g_step=s.d_steps_per_g_step,
        generator_learning_rate=s.generator_learning_rate,
        discriminator_learning_rate=s.discriminator_learning_rate,
        generator_beta_1=s.generator_beta_1,
        discriminator_beta_1=s.discriminator_beta_1,
        generator_beta_2=s.generator_beta_2,
        discriminator_beta_2=s.discriminator_beta_2,
        discriminator_weight_decay=s.discriminator_weight_decay,
        learning_rate_decay_steps=s.learning_rate_decay_steps,
        num_sampling_steps=s.num_sampling_steps,
        diversity_weight=s.diversity_weight,
        ema_momentum=self.ema_momentum, seed=self.seed)


def build_model(config) -> GRAN:
  """The GRAN an ExperimentConfig describes (weights seeded by train.seed).

  `config.model` is a `GranConfig`; 0 / -1 rates and betas take
  `config.train`'s learning_rate / beta_1.
  """
  m, train = config.model, config.train
  g_rate, d_rate = m.learning_rates(train)
  g_beta, d_beta = m.betas_1(train)
  num_classes = config.data.num_classes if m.condition_on_label else 0
  with seeds_lib.initial_weights(seeds_lib.RunSeeds.from_seed(
      train.seed).init):
    return GRAN(
        image_size=config.data.image_size, channels=config.data.channels,
        num_classes=num_classes, num_canvas_steps=m.num_canvas_steps,
        noise_mode=m.noise_mode, gran_preset=m.gran_preset,
        noise_dim=m.noise_dim, generator_width=m.generator_width,
        discriminator_width=m.discriminator_width,
        discriminator=m.discriminator, generator_norm=m.generator_norm,
        discriminator_norm=m.discriminator_norm, gan_loss=m.gan_loss,
        d_steps_per_g_step=m.d_steps_per_g_step,
        generator_learning_rate=g_rate, discriminator_learning_rate=d_rate,
        generator_beta_1=g_beta, discriminator_beta_1=d_beta,
        generator_beta_2=m.generator_beta_2,
        discriminator_beta_2=m.discriminator_beta_2,
        discriminator_weight_decay=m.discriminator_weight_decay,
        learning_rate_decay_steps=m.learning_rate_decay_steps,
        num_sampling_steps=m.num_sampling_steps,
        diversity_weight=m.diversity_weight,
        ema_momentum=train.ema_momentum, seed=train.seed)
