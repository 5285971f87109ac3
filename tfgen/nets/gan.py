"""LAPGAN networks: one builder per role, sized by `gan_net_spec` presets.

Images and residuals are float32 NHWC; generated images are in [-1, 1]
(tanh), generated residuals are unbounded (linear), discriminators return
one logit per example ([B, 1], > 0 = judged real).

* `build_coarse_generator`: noise vector [B, noise_dim] (+ one-hot class
  [B, K]) -> image [B, s, s, C]: dense to an (s/2 or s/4)^2 map, stride-2
  transposed convs with batch norm and ReLU up to s, 3x3 conv, tanh (DCGAN).
* `build_coarse_discriminator`: image (+ class plane) -> logit: 3x3 conv,
  stride-2 convs with leaky ReLU down to <= 4x4, dense.
* `build_residual_generator`: the up-sampled coarse image [B, s, s, C], a
  noise plane [B, s, s, 1] (+ a class plane) -> residual [B, s, s, C]: 3x3
  convs with batch norm and ReLU, a linear 3x3 conv.
* `build_residual_discriminator`: residual + up-sampled coarse image
  (+ class plane), concatenated -> logit, like the coarse discriminator.

The class plane is a learned linear map of the one-hot class to one
[s, s] plane (one per network), concatenated to the image inputs.
"""

from __future__ import annotations

import dataclasses
import math

import keras

from tfgen.core import precision


@dataclasses.dataclass(frozen=True)
class GanNetSpec:
  """Widths of one level's generator and discriminator.

  Attributes:
    generator_filters: channels of the generator's conv layers, first to
      last hidden layer (the output layer adds `channels`).
    discriminator_filters: channels of the discriminator's conv layers; all
      but the first halve the map (stride 2).
    dropout: dropout rate before the discriminator's dense logit.
  """
  generator_filters: tuple[int, ...]
  discriminator_filters: tuple[int, ...]
  dropout: float = 0.0

  def __post_init__(self):
    if not self.generator_filters or not self.discriminator_filters:
      raise ValueError(f"GanNetSpec needs at least one layer per net: {self}.")
    if any(f <= 0 for f in self.generator_filters +
           self.discriminator_filters):
      raise ValueError(f"GanNetSpec filters must be positive: {self}.")
    if not 0.0 <= self.dropout < 1.0:
      raise ValueError(f"discriminator_dropout={self.dropout} must be in "
                       "[0, 1), e.g. 0.0 or 0.5.")


def _num_halvings(size: int) -> int:
  """Stride-2 layers that bring a size-`size` map to 4x4 or less (>= 1)."""
  return max(1, int(math.ceil(math.log2(size))) - 2)


def gan_net_spec(size: int, coarsest: bool, generator_width: float = 1.0,
                 discriminator_width: float = 1.0,
                 dropout: float = 0.0) -> GanNetSpec:
  """Preset of the level of `size` pixels (coarsest: a noise-vector GAN).

  Base widths (times the width multipliers, at least 8): coarsest generator
  256 at its first map, halved per up-sampling stage, then 64 (e.g. 256, 64
  for 4x4; 256, 128, 64 for 16x16); residual generator 3 layers of 64;
  discriminators max(32, 512 / size) filters, then doubling at each stride-2
  layer (one per halving to 4x4): 128, 256 at 4x4; 64, 128 at 8x8; 32, 64,
  128 at 16x16.
  """
  for name, width in (("generator_width", generator_width),
                      ("discriminator_width", discriminator_width)):
    if not width > 0:
      raise ValueError(f"{name}={width} must be > 0, e.g. 1.0.")
  if size < 2:
    raise ValueError(f"size={size} must be >= 2.")

  def scaled(values, width):
    return tuple(max(8, int(round(v * width))) for v in values)

  if coarsest:
    stages = _coarse_stages(size)
    generator = [256 // (2**i) for i in range(stages)] + [64]
  else:
    generator = [64, 64, 64]
  # Small maps get wider discriminators (a 4x4 level's D with 32 filters
  # stayed at chance and let the coarse generator drift; measured on digits).
  first = max(32, 512 // size)
  discriminator = [first] + [min(2 * first * 2**i, 512)
                             for i in range(_num_halvings(size))]
  return GanNetSpec(scaled(generator, generator_width),
                    scaled(discriminator, discriminator_width), dropout)


def _coarse_stages(size: int) -> int:
  """Up-sampling stages of the coarse generator: from 2x2 (s <= 8) or 4x4."""
  start = 2 if size <= 8 else 4
  if size % start or (size // start) & (size // start - 1):
    raise ValueError(f"size={size} must be a power of two times {start}.")
  return int(math.log2(size // start))


def _class_plane(labels, size: int, name: str):
  """One-hot [B, K] -> a learned [B, size, size, 1] plane."""
  plane = keras.layers.Dense(size * size, use_bias=False, name=name)(labels)
  return keras.layers.Reshape((size, size, 1))(plane)


def _leaky(x):
  return keras.layers.LeakyReLU(negative_slope=0.2)(x)


def _discriminator_body(x, spec: GanNetSpec, name: str):
  for i, filters in enumerate(spec.discriminator_filters):
    stride = 1 if i == 0 else 2
    x = keras.layers.Conv2D(filters, 3 if i == 0 else 4, stride,
                            padding="same", name=f"{name}_conv{i + 1}")(x)
    x = _leaky(x)
  x = keras.layers.Flatten()(x)
  if spec.dropout:
    x = keras.layers.Dropout(spec.dropout)(x)
  return precision.to_float32(keras.layers.Dense(1, name=f"{name}_logit")(x))


def build_coarse_generator(size: int, channels: int, noise_dim: int,
                           num_classes: int, spec: GanNetSpec,
                           name: str) -> keras.Model:
  """[noise [B, noise_dim], (one-hot [B, K])] -> images [B, s, s, C]."""
  noise = keras.Input((noise_dim,), name="noise")
  inputs = [noise]
  x = noise
  if num_classes:
    labels = keras.Input((num_classes,), name="labels")
    inputs.append(labels)
    x = keras.layers.Concatenate()([noise, labels])
  stages = _coarse_stages(size)
  start = size // 2**stages
  filters = spec.generator_filters
  x = keras.layers.Dense(start * start * filters[0], name="project")(x)
  x = keras.layers.Reshape((start, start, filters[0]))(x)
  x = keras.layers.BatchNormalization(momentum=0.9, synchronized=True)(x)
  x = keras.layers.ReLU()(x)
  for i in range(stages):
    x = keras.layers.Conv2DTranspose(filters[min(i + 1, len(filters) - 1)], 4,
                                     2, padding="same", name=f"up{i + 1}")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, synchronized=True)(x)
    x = keras.layers.ReLU()(x)
  x = keras.layers.Conv2D(channels, 3, padding="same", name="to_image")(x)
  images = keras.layers.Activation("tanh")(x)
  return keras.Model(inputs, precision.to_float32(images), name=name)


def build_coarse_discriminator(size: int, channels: int, num_classes: int,
                               spec: GanNetSpec, name: str) -> keras.Model:
  """[images [B, s, s, C], (one-hot [B, K])] -> logits [B, 1]."""
  images = keras.Input((size, size, channels), name="images")
  inputs, x = [images], images
  if num_classes:
    labels = keras.Input((num_classes,), name="labels")
    inputs.append(labels)
    x = keras.layers.Concatenate()([images, _class_plane(labels, size,
                                                         "class_plane")])
  return keras.Model(inputs, _discriminator_body(x, spec, "d"), name=name)


def build_residual_generator(size: int, channels: int, num_classes: int,
                             spec: GanNetSpec, name: str) -> keras.Model:
  """[coarse_up [B,s,s,C], noise [B,s,s,1], (one-hot)] -> residual [B,s,s,C]."""
  coarse = keras.Input((size, size, channels), name="coarse_up")
  noise = keras.Input((size, size, 1), name="noise")
  inputs, planes = [coarse, noise], [coarse, noise]
  if num_classes:
    labels = keras.Input((num_classes,), name="labels")
    inputs.append(labels)
    planes.append(_class_plane(labels, size, "class_plane"))
  x = keras.layers.Concatenate()(planes)
  for i, filters in enumerate(spec.generator_filters):
    x = keras.layers.Conv2D(filters, 3, padding="same",
                            name=f"conv{i + 1}")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, synchronized=True)(x)
    x = keras.layers.ReLU()(x)
  residual = keras.layers.Conv2D(channels, 3, padding="same",
                                 name="to_residual")(x)
  return keras.Model(inputs, precision.to_float32(residual), name=name)


def build_residual_discriminator(size: int, channels: int, num_classes: int,
                                 spec: GanNetSpec, name: str) -> keras.Model:
  """[residual, coarse_up (both [B,s,s,C]), (one-hot)] -> logits [B, 1]."""
  residual = keras.Input((size, size, channels), name="residual")
  coarse = keras.Input((size, size, channels), name="coarse_up")
  inputs, planes = [residual, coarse], [residual, coarse]
  if num_classes:
    labels = keras.Input((num_classes,), name="labels")
    inputs.append(labels)
    planes.append(_class_plane(labels, size, "class_plane"))
  x = keras.layers.Concatenate()(planes)
  return keras.Model(inputs, _discriminator_body(x, spec, "d"), name=name)
