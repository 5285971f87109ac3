"""GRAN networks (Im et al. 2016): one builder, presets per image size.

A GRAN generator adds T updates ΔC_t onto a canvas; step t is

    h_z     = tanh(norm(Dense(z)))                     (eq. 7, z shared or z_t)
    ΔC_t    = f([h_z, h_c,t])                          (eq. 8, the decoder)
    h_c,t+1 = g(ΔC_t)                                  (eq. 6, the encoder)

with h_c,1 = 0. `build_gran_nets(spec)` returns the three generator parts
(`project_z`, `decoder` f, `encoder` g) and the discriminator:

* `decoder` f: [h_z, h_c] -> Dense -> norm -> ReLU -> reshape to the start
  map -> 5x5 stride-2 transposed convs with bias and ReLU (no norm, as the
  official code) -> a last one with bias, linear: ΔC_t [B, S, S, C].
* `encoder` g: ΔC_t -> 5x5 stride-2 convs (norm + ReLU; the last one with a
  bias and no norm, except in `mnist28`) -> flatten -> Dense -> norm -> tanh:
  h_c [B, noise_dim].
* discriminator 'paper': 5x5 stride-2 convs with batch statistics and ReLU,
  flatten, Dense(hidden) tanh, Dense(1) without bias: logits [B, 1]
  (> 0 = real); 'dcgan': the single-level GAN's discriminator of
  `tfgen.nets.gan` (so GRAN and that GAN battle with identical
  discriminators).

The generator parts are layers whose `call(..., step=t, training=...)`
takes the canvas step (a Python int): `StepBatchNormalization` keeps moving
statistics per step and uses them at inference, so a sample depends only on
its own noise (the official code normalises with the statistics of the
current batch everywhere). Step indices past the trained T reuse the last
trained step's statistics (T' > T sampling).

Presets (`tfgen.nets.gran_presets.PRESET_SIZES`; widths times the width
multipliers, at least 8; 'generic' = digits16's layout at any power of two
in [8, 256], e.g. one 4x4x32 map at 8x8):

| preset | z | decoder maps | encoder maps | D convs | D hidden |
|---|---|---|---|---|---|
| digits16 (ours) | 60 | 4x4x64, 8x8x32, 16x16xC | 8x8x32, 4x4x64 | 64, 32 | 100 |
| mnist28 (Table 5) | 60 | 7x7x80, 14x14x40, 28x28xC | 14x14x40, 7x7x80 | 80, 40 | 100 |
| cifar32 (code) | 100 | 4x4x1024 ... 32x32xC | 16x16x256 ... 4x4x1024 | 1024, 512, 256 | 100 |
| lsun64 (code) | 100 | 4x4x172, 8x8x1376 ... 64x64xC | 32x32x344 ... 4x4x172 | 1376, 688, 344, 172 | 100 |
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import keras
import tensorflow as tf

from tfgen.core import precision
from tfgen.nets import gran_presets as gran_config
from tfgen.nets import gan

_KERNEL = 5


@dataclasses.dataclass(frozen=True)
class GranNetSpec:
  """Shapes of a GRAN's four nets.

  Attributes:
    size, channels: the image.
    noise_dim: length of z, h_z and h_c.
    start: side of the decoder's first map (size / 2**len(decoder_filters)).
    decoder_filters: channels of the decoder's maps before ΔC, bottom up.
    encoder_filters: channels of the encoder's conv maps, top down.
    encoder_last_norm: whether the encoder's last conv is normalised (else a
      bias, no norm).
    discriminator_filters: channels of the paper discriminator's convs.
    discriminator_hidden: width of its tanh dense layer.
    discriminator: 'paper' or 'dcgan'.
    discriminator_width: the 'dcgan' discriminator's width multiplier.
    generator_norm: 'step_batch', 'batch' or 'none'.
    discriminator_norm: 'batch' or 'none' (paper discriminator).
  """
  size: int
  channels: int
  noise_dim: int
  start: int
  decoder_filters: tuple[int, ...]
  encoder_filters: tuple[int, ...]
  encoder_last_norm: bool
  discriminator_filters: tuple[int, ...]
  discriminator_hidden: int = 100
  discriminator: str = "paper"
  discriminator_width: float = 1.0
  generator_norm: str = "step_batch"
  discriminator_norm: str = "batch"

  def __post_init__(self):
    if self.start * 2**len(self.decoder_filters) != self.size:
      raise ValueError(f"GranNetSpec: start={self.start} doubled "
                       f"{len(self.decoder_filters)} times is not "
                       f"size={self.size}.")
    if len(self.encoder_filters) != len(self.decoder_filters):
      raise ValueError("GranNetSpec: the encoder needs one conv per decoder "
                       f"map: {self.encoder_filters} vs "
                       f"{self.decoder_filters}.")


_PRESETS = {
    # name: (noise_dim, start, decoder, encoder, last_norm, D convs)
    "digits16": (60, 4, (64, 32), (32, 64), False, (64, 32)),
    "mnist28": (60, 7, (80, 40), (40, 80), True, (80, 40)),
    "cifar32": (100, 4, (1024, 512, 256), (256, 512, 1024), False,
                (1024, 512, 256)),
    "lsun64": (100, 4, (172, 1376, 688, 344), (344, 688, 1376, 172), False,
               (1376, 688, 344, 172)),
}


def gran_net_spec(size: int, channels: int, preset: str = "auto",
                  noise_dim: int = 0, generator_width: float = 1.0,
                  discriminator_width: float = 1.0,
                  discriminator: str = "paper",
                  generator_norm: str = "step_batch",
                  discriminator_norm: str = "batch") -> GranNetSpec:
  """The spec of `preset` ('auto': by `size`) at the given widths."""
  preset = gran_config.preset_for_size(preset, size)
  if preset not in _PRESETS and preset != "generic":
    raise ValueError(f"gran_preset={preset!r} is not one of "
                     f"{list(gran_config.PRESETS)}.")
  if not gran_config.preset_fits(preset, size):
    raise ValueError(f"gran_preset={preset!r} does not build "
                     f"image_size={size} images.")
  for name, width in (("generator_width", generator_width),
                      ("discriminator_width", discriminator_width)):
    if not width > 0:
      raise ValueError(f"{name}={width} must be > 0, e.g. 1.0.")
  for name, value, choices in (
      ("discriminator", discriminator, gran_config.DISCRIMINATORS),
      ("generator_norm", generator_norm, gran_config.GENERATOR_NORMS),
      ("discriminator_norm", discriminator_norm,
       gran_config.DISCRIMINATOR_NORMS)):
    if value not in choices:
      raise ValueError(f"{name}={value!r} is not one of {list(choices)}.")
  if preset == "generic":
    # digits16's layout at any power of two: 4x4 start, widths halving
    # from 32 * 2**(k - 1) at the start map to 32 at the last hidden map.
    k = int(math.log2(size // 4))
    decoder = tuple(32 * 2**(k - 1 - i) for i in range(k))
    nz, start, encoder, last_norm, d_convs = (
        60, 4, decoder[::-1], False, decoder)
  else:
    nz, start, decoder, encoder, last_norm, d_convs = _PRESETS[preset]

  def scaled(values, width):
    return tuple(max(8, int(round(v * width))) for v in values)

  return GranNetSpec(
      size=size, channels=int(channels), noise_dim=int(noise_dim or nz),
      start=start, decoder_filters=scaled(decoder, generator_width),
      encoder_filters=scaled(encoder, generator_width),
      encoder_last_norm=last_norm,
      discriminator_filters=scaled(d_convs, discriminator_width),
      discriminator=discriminator, discriminator_width=discriminator_width,
      generator_norm=generator_norm, discriminator_norm=discriminator_norm)


# ---- normalisation -----------------------------------------------------------
def _moments(x: tf.Tensor, axes: list[int]):
  """Mean and (biased) variance over `axes`, across replicas in sync."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return tf.nn.moments(x, axes)
  count = tf.cast(tf.reduce_prod(tf.gather(tf.shape(x), axes)), x.dtype)
  total, squares = tf.reduce_sum(x, axes), tf.reduce_sum(tf.square(x), axes)
  count, total, squares = context.all_reduce(
      tf.distribute.ReduceOp.SUM, [count, total, squares])
  mean = total / count
  return mean, tf.maximum(squares / count - tf.square(mean), 0.0)


class StepBatchNormalization(keras.layers.Layer):
  """Batch norm with moving statistics per canvas step (one gamma, beta).

  Training: the batch's moments (all-reduced across replicas), and row
  `min(step, num_steps - 1)` of the moving mean / variance moves towards
  them. Inference: that row's moving statistics, so an output depends only
  on its own input; there `step` may be a scalar int tensor (a canvas loop
  whose length a serving request sets). `num_steps=1` is ordinary batch
  norm shared by all steps.
  """

  def __init__(self, num_steps: int, momentum: float = 0.9,
               epsilon: float = 1e-5, **kwargs):
    super().__init__(**kwargs)
    if int(num_steps) < 1:
      raise ValueError(f"num_steps={num_steps} must be >= 1.")
    self.num_steps = int(num_steps)
    self.momentum = float(momentum)
    self.epsilon = float(epsilon)

  def build(self, input_shape):
    channels = (input_shape[-1],)
    self.gamma = self.add_weight(shape=channels, name="gamma",
                                 initializer="ones", autocast=False)
    self.beta = self.add_weight(shape=channels, name="beta",
                                initializer="zeros", autocast=False)
    rows = (self.num_steps, input_shape[-1])
    self.moving_mean = self.add_weight(shape=rows, name="moving_mean",
                                       initializer="zeros", trainable=False,
                                       autocast=False)
    self.moving_variance = self.add_weight(
        shape=rows, name="moving_variance", initializer="ones",
        trainable=False, autocast=False)

  def call(self, x, step: int = 0, training=False):
    compute_dtype, x = x.dtype, tf.cast(x, tf.float32)  # Statistics in f32.
    if tf.is_tensor(step):
      if training:
        raise ValueError("StepBatchNormalization trains with a Python int "
                         "step (its moving-statistics row); got a tensor.")
      row = tf.minimum(tf.cast(step, tf.int32), self.num_steps - 1)
    else:
      row = min(int(step), self.num_steps - 1)
    if training:
      mean, variance = _moments(x, list(range(len(x.shape) - 1)))
      select = tf.one_hot(row, self.num_steps)[:, None] * (1 - self.momentum)
      for moving, batch in ((self.moving_mean, mean),
                            (self.moving_variance, variance)):
        value = tf.convert_to_tensor(moving)
        moving.assign(value - select * (value - batch[None]))
    else:
      mean, variance = self.moving_mean[row], self.moving_variance[row]
    return tf.cast(self.gamma * (x - mean) * tf.math.rsqrt(
        variance + self.epsilon) + self.beta, compute_dtype)

  def get_config(self):
    return dict(super().get_config(), num_steps=self.num_steps,
                momentum=self.momentum, epsilon=self.epsilon)


class BatchStatNormalization(keras.layers.Layer):
  """Batch norm that always uses the current batch's moments (no moving
  statistics), as every batch norm of the official GRAN code.

  Its outputs depend on the batch-mates: a discriminator built with it
  judges single-source batches (GAM evaluates them so).
  """

  def __init__(self, epsilon: float = 1e-5, **kwargs):
    super().__init__(**kwargs)
    self.epsilon = float(epsilon)

  def build(self, input_shape):
    channels = (input_shape[-1],)
    self.gamma = self.add_weight(shape=channels, name="gamma",
                                 initializer="ones", autocast=False)
    self.beta = self.add_weight(shape=channels, name="beta",
                                initializer="zeros", autocast=False)

  def call(self, x):
    compute_dtype, x = x.dtype, tf.cast(x, tf.float32)  # Statistics in f32.
    mean, variance = _moments(x, list(range(len(x.shape) - 1)))
    return tf.cast(self.gamma * (x - mean) * tf.math.rsqrt(
        variance + self.epsilon) + self.beta, compute_dtype)

  def get_config(self):
    return dict(super().get_config(), epsilon=self.epsilon)


class NoNormalization(keras.layers.Layer):
  """The identity, where a layer has no normalisation."""

  def call(self, x, step: int = 0, training=False):
    del step, training
    return x


def _generator_norm(kind: str, num_steps: int, name: str):
  if kind == "none":
    return NoNormalization(name=name)
  return StepBatchNormalization(num_steps if kind == "step_batch" else 1,
                                name=name)


def _normalise(norm, x, step, training):
  return norm(x, step=step, training=training)


# ---- generator parts -----------------------------------------------------------
class ProjectNoise(keras.layers.Layer):
  """z [B, nz] (+ one-hot [B, K]) -> h_z = tanh(norm(Dense(z))) [B, nz]."""

  def __init__(self, spec: GranNetSpec, num_steps: int, **kwargs):
    super().__init__(**kwargs)
    norm = spec.generator_norm != "none"
    self.dense = keras.layers.Dense(spec.noise_dim, use_bias=not norm,
                                    name="dense")
    self.norm = _generator_norm(spec.generator_norm, num_steps, "norm")

  def call(self, z, step: int = 0, training=False):
    return precision.to_float32(
        tf.tanh(_normalise(self.norm, self.dense(z), step, training)))


class Decoder(keras.layers.Layer):
  """f: [h_z, h_c] (each [B, nz]) -> ΔC [B, S, S, C], linear."""

  def __init__(self, spec: GranNetSpec, num_steps: int, **kwargs):
    super().__init__(**kwargs)
    first = spec.decoder_filters[0]
    norm = spec.generator_norm != "none"
    self.spec = spec
    self.dense = keras.layers.Dense(spec.start * spec.start * first,
                                    use_bias=not norm, name="dense")
    self.norm = _generator_norm(spec.generator_norm, num_steps, "norm")
    outputs = spec.decoder_filters[1:] + (spec.channels,)
    self.ups = []
    for i, filters in enumerate(outputs):
      up = keras.layers.Conv2DTranspose(filters, _KERNEL, 2, padding="same",
                                        name=f"up{i + 1}")
      # A named attribute makes the layer a child in tf.train.Checkpoint (a
      # list attribute of a Keras 3 layer is not one).
      setattr(self, f"up{i + 1}", up)
      self.ups.append(up)

  def call(self, inputs, step: int = 0, training=False):
    x = self.dense(tf.concat(inputs, axis=-1))
    x = tf.nn.relu(_normalise(self.norm, x, step, training))
    x = tf.reshape(x, [-1, self.spec.start, self.spec.start,
                       self.spec.decoder_filters[0]])
    for i, up in enumerate(self.ups):
      x = up(x)
      if i < len(self.ups) - 1:
        x = tf.nn.relu(x)
    return precision.to_float32(x)


class Encoder(keras.layers.Layer):
  """g: ΔC [B, S, S, C] -> h_c [B, nz] in (-1, 1)."""

  def __init__(self, spec: GranNetSpec, num_steps: int, **kwargs):
    super().__init__(**kwargs)
    layers = len(spec.encoder_filters)
    self.convs, self.norms = [], []
    for i, filters in enumerate(spec.encoder_filters):
      last = i == layers - 1
      norm = spec.generator_norm != "none" and (
          not last or spec.encoder_last_norm)
      conv = keras.layers.Conv2D(filters, _KERNEL, 2, padding="same",
                                 use_bias=not norm, name=f"conv{i + 1}")
      conv_norm = _generator_norm(spec.generator_norm if norm else "none",
                                  num_steps, f"norm{i + 1}")
      # Named attributes: checkpoint children (see Decoder).
      setattr(self, f"conv{i + 1}", conv)
      setattr(self, f"norm{i + 1}", conv_norm)
      self.convs.append(conv)
      self.norms.append(conv_norm)
    norm = spec.generator_norm != "none"
    self.dense = keras.layers.Dense(spec.noise_dim, use_bias=not norm,
                                    name="dense")
    self.norm = _generator_norm(spec.generator_norm, num_steps, "norm")

  def call(self, delta, step: int = 0, training=False):
    x = delta
    for conv, norm in zip(self.convs, self.norms):
      x = tf.nn.relu(_normalise(norm, conv(x), step, training))
    x = tf.reshape(x, [tf.shape(x)[0], -1])
    return precision.to_float32(
        tf.tanh(_normalise(self.norm, self.dense(x), step, training)))


# ---- discriminator -------------------------------------------------------------
def build_paper_discriminator(spec: GranNetSpec, num_classes: int,
                              name: str) -> keras.Model:
  """[images [B, S, S, C], (one-hot [B, K])] -> logits [B, 1] (> 0 = real)."""
  images = keras.Input((spec.size, spec.size, spec.channels), name="images")
  inputs, x = [images], images
  if num_classes:
    labels = keras.Input((num_classes,), name="labels")
    inputs.append(labels)
    plane = keras.layers.Dense(spec.size * spec.size, use_bias=False,
                               name="class_plane")(labels)
    plane = keras.layers.Reshape((spec.size, spec.size, 1))(plane)
    x = keras.layers.Concatenate()([images, plane])
  norm = spec.discriminator_norm == "batch"
  for i, filters in enumerate(spec.discriminator_filters):
    x = keras.layers.Conv2D(filters, _KERNEL, 2, padding="same",
                            use_bias=not norm, name=f"d_conv{i + 1}")(x)
    if norm:
      x = BatchStatNormalization(name=f"d_norm{i + 1}")(x)
    x = keras.layers.ReLU()(x)
  x = keras.layers.Flatten()(x)
  x = keras.layers.Dense(spec.discriminator_hidden, activation="tanh",
                         name="d_hidden")(x)
  logits = keras.layers.Dense(1, use_bias=False, name="d_logit")(x)
  return keras.Model(inputs, precision.to_float32(logits), name=name)


def build_discriminator(spec: GranNetSpec, num_classes: int,
                        name: str = "discriminator") -> keras.Model:
  """The discriminator `spec.discriminator` names."""
  if spec.discriminator == "dcgan":
    gan_spec = gan.gan_net_spec(spec.size, True,
                                discriminator_width=spec.discriminator_width)
    return gan.build_coarse_discriminator(spec.size, spec.channels,
                                          num_classes, gan_spec, name)
  return build_paper_discriminator(spec, num_classes, name)


class GranNets(NamedTuple):
  project_z: ProjectNoise
  decoder: Decoder
  encoder: Encoder
  discriminator: keras.Model


def build_gran_nets(spec: GranNetSpec, num_steps: int,
                    num_classes: int = 0) -> GranNets:
  """The four nets, built (variables created) for `num_steps` canvas steps."""
  project_z = ProjectNoise(spec, num_steps, name="project_z")
  decoder = Decoder(spec, num_steps, name="decoder")
  # The encoder runs at steps 1..T-1 (the last step's update is never
  # encoded while training), so it keeps T - 1 rows of statistics.
  encoder = Encoder(spec, max(num_steps - 1, 1), name="encoder")
  nz = spec.noise_dim
  h_z = project_z(tf.zeros([2, nz + num_classes]))
  delta = decoder([h_z, tf.zeros([2, nz])])
  encoder(delta)
  return GranNets(project_z, decoder, encoder,
                  build_discriminator(spec, num_classes))


def dense_kernels(model: keras.Model) -> list:
  """The discriminator's dense kernels (the official weight decay's W, W_y)."""
  return [layer.kernel for layer in model.layers
          if isinstance(layer, keras.layers.Dense)
          and layer.name != "class_plane"]
