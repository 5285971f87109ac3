"""Energy (scoring) ConvNets f(x) for the multigrid model: one builder.

`build_energy_net(image_size, channels, spec)` builds a functional Keras model
[B, S, S, C] -> [B, 1] (the score f(x) of each image; larger = more likely),
or [B, num_classes] for a class-conditional energy.
`energy_net_spec(image_size, width)` is the preset per grid size, after the
official multigrid code: a 5x5 stride-2 conv first, then 3x3 convs, stride 2
until the map is small, then a dense layer to one score.
"""

from __future__ import annotations

import dataclasses
import math

import keras

from tfgen.core import precision
from tfgen.nets import activations


@dataclasses.dataclass(frozen=True)
class EnergyNetSpec:
  """Layer sizes of an energy ConvNet (one entry per conv layer)."""
  filters: tuple[int, ...]
  kernel_sizes: tuple[int, ...]
  strides: tuple[int, ...]
  activation: str = "leaky_relu"

  def __post_init__(self):
    if not (len(self.filters) == len(self.kernel_sizes) == len(self.strides)):
      raise ValueError(f"EnergyNetSpec lists differ in length: {self}.")
    if not self.filters:
      raise ValueError("EnergyNetSpec needs at least one conv layer.")


def energy_net_spec(image_size: int, width: float = 1.0,
                    activation: str = "leaky_relu") -> EnergyNetSpec:
  """Preset for a grid of `image_size` pixels (any size >= 2).

  Halves the map with stride-2 convs down to 4x4 or less (one for 4x4, two for
  16x16, four for 64x64), widths 64, 128, 256, 512 (times `width`), and adds a
  final 3x3 stride-1 conv on grids of 16 and more.
  """
  if image_size < 2:
    raise ValueError(f"image_size={image_size} needs an energy net of a grid "
                     ">= 2; the 1x1 grid is the chains' start, not a model.")
  if width <= 0:
    raise ValueError(f"net_width={width} must be > 0, e.g. 1.0.")
  num_down = max(1, int(math.ceil(math.log2(image_size))) - 2)
  base = (64, 128, 256, 512, 512, 512)
  filters = [max(8, int(round(base[i] * width))) for i in range(num_down)]
  kernel_sizes = [5] + [3] * (num_down - 1)
  strides = [2] * num_down
  if image_size >= 16:
    filters.append(filters[-1])
    kernel_sizes.append(3)
    strides.append(1)
  return EnergyNetSpec(tuple(filters), tuple(kernel_sizes), tuple(strides),
                       activation)


def _activation(name: str):
  if name == "leaky_relu":
    return activations.LeakyReLU(negative_slope=0.2)
  return keras.layers.Activation(name)


def build_energy_net(image_size: int, channels: int,
                     spec: EnergyNetSpec | None = None,
                     name: str | None = None,
                     num_outputs: int = 1) -> keras.Model:
  """Functional energy net: images [B, S, S, C] in [-1, 1] -> [B, num_outputs].

  One score per image (`num_outputs=1`), or one per class for a
  class-conditional energy f(x, y) = output[y].
  """
  if isinstance(num_outputs, bool) or not isinstance(
      num_outputs, int) or num_outputs < 1:
    raise ValueError(f"num_outputs={num_outputs!r} must be an integer >= 1.")
  spec = spec or energy_net_spec(image_size)
  inputs = keras.Input((image_size, image_size, channels), name="images")
  x = inputs
  for i, (filters, kernel, stride) in enumerate(
      zip(spec.filters, spec.kernel_sizes, spec.strides)):
    x = keras.layers.Conv2D(filters, kernel, stride, padding="same",
                            name=f"conv{i + 1}")(x)
    x = _activation(spec.activation)(x)
  x = keras.layers.Flatten()(x)
  score = keras.layers.Dense(num_outputs, name="score")(x)
  return keras.Model(inputs, precision.to_float32(score),
                     name=name or f"energy_{image_size}")
