"""PPGN networks: one builder per component, sized by `ppgn_net_spec` presets.

Images are float32 NHWC in [-1, 1]. The components of Nguyen et al. (2017),
scaled down to small images (see ../shared/specs/ppgn.md section 6.2):

* the encoder / classifier E, split as x -E1-> h1 -E2-> h -E3-> logits:
  `build_encoder_features` (E1: stride-2 3x3 convs, ReLU; h1 is the last
  conv map, the paper's pool5), `build_encoder_code` (E2: flatten, dense
  ReLU = the code h, the paper's fc6) and `build_encoder_head` (E3: dense
  ReLU 'fc7', dense logits 'fc8'). Three models so that the Joint PPGN-h
  training can add noise at h1 between E1 and E2.
* the generator G: h -> x (`build_generator`): two dense layers, reshape,
  (transposed conv, conv) stages, tanh; LeakyReLU 0.3 as the released
  prototxt, and no batch norm, so that a sample depends only on its own
  code (the paper found batch norm "not helpful").
* the discriminator D (`build_discriminator`): the body of the GAN
  discriminator in `tfgen.nets.gan`, images -> one logit.
* the h-DAE (`build_code_dae`): an MLP code -> code with the paper's
  hour-glass shape (4096-2048-1024-500-... scaled down), ReLU, linear output.
* the x-DAE (`build_image_dae`): a conv autoencoder (two stride-2 convs, three
  transposed convs), tanh.
* the condition net C' (`build_condition_net`): a classifier E and G never
  saw, with a different architecture (5x5 first conv, max-pooling) and three
  heads: class logits, parity logits (even, odd) and closed-loop logits
  (no loop, loop: digits 0, 6, 8, 9); its last conv map and its dense
  features carry the hidden units a condition can target.
"""

from __future__ import annotations

import dataclasses
import math

import keras

from tfgen.core import precision
from tfgen.nets import gan


@dataclasses.dataclass(frozen=True)
class PpgnNetSpec:
  """Widths of the PPGN components at one image size.

  Attributes:
    encoder_filters: E1's conv channels; all but the first halve the map.
    code_dim: width of the code h (E2's dense layer, G's input).
    head_dim: width of E3's hidden dense layer ('fc7').
    generator_dense: width of G's first dense layer.
    generator_filters: channels of G's first map and of each up-sampling
      stage (one stage per doubling from 4x4 to the image size).
    discriminator_filters: D's conv channels (`tfgen.nets.gan` body).
    code_dae_widths: the h-DAE's hidden widths, e.g. (128, 64, 32, 64, 128).
    image_dae_filters: the x-DAE's encoder channels (first, stride-2 ones).
    condition_filters: C''s conv channels (each followed by 2x2 pooling but
      the last).
    condition_dim: width of C''s dense feature layer.
  """
  encoder_filters: tuple[int, ...]
  code_dim: int
  head_dim: int
  generator_dense: int
  generator_filters: tuple[int, ...]
  discriminator_filters: tuple[int, ...]
  code_dae_widths: tuple[int, ...]
  image_dae_filters: tuple[int, ...]
  condition_filters: tuple[int, ...]
  condition_dim: int

  def __post_init__(self):
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      values = value if isinstance(value, tuple) else (value,)
      if not values or any(int(v) != v or v <= 0 for v in values):
        raise ValueError(f"PpgnNetSpec.{field.name}={value!r} must be "
                         "positive integers.")


def _num_halvings(size: int) -> int:
  """Stride-2 layers that bring a size-`size` map to 4x4 (size = 4 * 2**k)."""
  if size < 8 or size & (size - 1):
    raise ValueError(f"image_size={size} must be a power of two >= 8, e.g. "
                     "16 or 32.")
  return int(math.log2(size)) - 2


def ppgn_net_spec(image_size: int, encoder_width: float = 1.0,
                  generator_width: float = 1.0,
                  discriminator_width: float = 1.0,
                  code_dim: int = 0) -> PpgnNetSpec:
  """Preset for `image_size` (16: grey digits, 32: colour), times widths.

  16x16: E 32 -> 64 (8x8) -> 128 (4x4) = h1, h 256, fc7 128; G 512 dense,
  128 at 4x4, 128, 64; D 32, 64, 128; h-DAE 128-64-32-64-128; x-DAE 32,
  64, 64. 32x32: E 64 -> 128 -> 256 -> 256 = h1 (4x4), h 512, fc7 256; G
  1024, 256 at 4x4, 256, 128, 64; D 64, 128, 256, 256; h-DAE
  256-128-64-128-256. `code_dim` > 0 overrides the preset's code width
  (the h-DAE scales with it).
  """
  halvings = _num_halvings(image_size)
  for name, width in (("encoder_width", encoder_width),
                      ("generator_width", generator_width),
                      ("discriminator_width", discriminator_width)):
    if not width > 0:
      raise ValueError(f"{name}={width} must be > 0, e.g. 1.0.")

  def scaled(values, width):
    return tuple(max(8, int(round(v * width))) for v in values)

  big = image_size >= 32
  base = 64 if big else 32
  encoder = [base] + [min(256, 2 * base * 2**i) for i in range(halvings)]
  code = int(code_dim) if code_dim else (512 if big else 256)
  generator = [256 if big else 128] + [
      max(32, (256 if big else 128) // 2**i) for i in range(halvings)]
  discriminator = [base] + [min(256, 2 * base * 2**i) for i in range(halvings)]
  dae = [code // 2, code // 4, code // 8, code // 4, code // 2]
  return PpgnNetSpec(
      encoder_filters=scaled(encoder, encoder_width), code_dim=code,
      head_dim=max(8, int(round(code // 2 * encoder_width))),
      generator_dense=max(8, int(round(2 * code * generator_width))),
      generator_filters=scaled(generator, generator_width),
      discriminator_filters=scaled(discriminator, discriminator_width),
      code_dae_widths=tuple(max(8, w) for w in dae),
      image_dae_filters=(base, 2 * base, 2 * base),
      condition_filters=(base, 2 * base, 2 * base),
      condition_dim=128 if not big else 256)


def _leaky(x, slope: float = 0.3):
  return keras.layers.LeakyReLU(negative_slope=slope)(x)


def build_encoder_features(size: int, channels: int, spec: PpgnNetSpec,
                           name: str = "encoder_features") -> keras.Model:
  """E1: images [B, s, s, C] -> h1 [B, 4, 4, F] (post-ReLU conv map)."""
  images = keras.Input((size, size, channels), name="images")
  x = images
  for i, filters in enumerate(spec.encoder_filters):
    x = keras.layers.Conv2D(filters, 3, 1 if i == 0 else 2, padding="same",
                            activation="relu", name=f"conv{i + 1}")(x)
  return keras.Model(images, precision.to_float32(x), name=name)


def h1_shape(size: int, spec: PpgnNetSpec) -> tuple[int, int, int]:
  """Shape of one h1 map (without the batch)."""
  side = size // 2**_num_halvings(size)
  return (side, side, spec.encoder_filters[-1])


def build_encoder_code(size: int, spec: PpgnNetSpec,
                       name: str = "encoder_code") -> keras.Model:
  """E2: h1 [B, 4, 4, F] -> code h [B, code_dim] (post-ReLU, 'fc6')."""
  h1 = keras.Input(h1_shape(size, spec), name="h1")
  x = keras.layers.Flatten()(h1)
  code = keras.layers.Dense(spec.code_dim, activation="relu", name="fc6")(x)
  return keras.Model(h1, precision.to_float32(code), name=name)


def build_encoder_head(num_classes: int, spec: PpgnNetSpec,
                       dropout: float = 0.0,
                       name: str = "encoder_head") -> keras.Model:
  """E3: code h [B, code_dim] -> class logits [B, K] ('fc7', 'fc8')."""
  code = keras.Input((spec.code_dim,), name="code")
  x = keras.layers.Dropout(dropout)(code) if dropout else code
  x = keras.layers.Dense(spec.head_dim, activation="relu", name="fc7")(x)
  if dropout:
    x = keras.layers.Dropout(dropout)(x)
  logits = keras.layers.Dense(num_classes, name="fc8")(x)
  return keras.Model(code, precision.to_float32(logits), name=name)


def build_generator(size: int, channels: int, spec: PpgnNetSpec,
                    name: str = "generator") -> keras.Model:
  """G: code h [B, code_dim] -> images [B, s, s, C] in [-1, 1]; no batch norm."""
  halvings = _num_halvings(size)
  code = keras.Input((spec.code_dim,), name="code")
  x = _leaky(keras.layers.Dense(spec.generator_dense, name="fc1")(code))
  first = spec.generator_filters[0]
  x = _leaky(keras.layers.Dense(4 * 4 * first, name="fc2")(x))
  x = keras.layers.Reshape((4, 4, first))(x)
  for i in range(halvings):
    filters = spec.generator_filters[min(i + 1,
                                         len(spec.generator_filters) - 1)]
    x = _leaky(keras.layers.Conv2DTranspose(filters, 4, 2, padding="same",
                                            name=f"up{i + 1}")(x))
    x = _leaky(keras.layers.Conv2D(filters, 3, padding="same",
                                   name=f"conv{i + 1}")(x))
  x = keras.layers.Conv2D(channels, 3, padding="same", name="to_image")(x)
  return keras.Model(code, precision.to_float32(
      keras.layers.Activation("tanh")(x)), name=name)


def build_discriminator(size: int, channels: int, spec: PpgnNetSpec,
                        dropout: float = 0.0,
                        name: str = "discriminator") -> keras.Model:
  """D: images [B, s, s, C] -> logits [B, 1] (> 0 = judged real)."""
  images = keras.Input((size, size, channels), name="images")
  body = gan.GanNetSpec((8,), spec.discriminator_filters, dropout)
  return keras.Model(images, gan._discriminator_body(images, body, "d"),  # pylint: disable=protected-access
                     name=name)


def build_code_dae(spec: PpgnNetSpec, name: str = "code_dae") -> keras.Model:
  """h-DAE: (noisy) code [B, code_dim] -> reconstructed code [B, code_dim]."""
  code = keras.Input((spec.code_dim,), name="code")
  x = code
  for i, width in enumerate(spec.code_dae_widths):
    x = keras.layers.Dense(width, activation="relu", name=f"fc{i + 1}")(x)
  out = keras.layers.Dense(spec.code_dim, name="reconstruction")(x)
  return keras.Model(code, precision.to_float32(out), name=name)


def build_image_dae(size: int, channels: int, spec: PpgnNetSpec,
                    name: str = "image_dae") -> keras.Model:
  """x-DAE: (noisy) images -> reconstructed images in [-1, 1].

  3x3 conv, two stride-2 3x3 convs (s/4), then three transposed convs back
  to s (two stride 2, one stride 1), tanh.
  """
  images = keras.Input((size, size, channels), name="images")
  f = spec.image_dae_filters
  x = keras.layers.Conv2D(f[0], 3, padding="same", activation="relu",
                          name="conv1")(images)
  x = keras.layers.Conv2D(f[1], 3, 2, padding="same", activation="relu",
                          name="conv2")(x)
  x = keras.layers.Conv2D(f[2], 3, 2, padding="same", activation="relu",
                          name="conv3")(x)
  x = keras.layers.Conv2DTranspose(f[1], 4, 2, padding="same",
                                   activation="relu", name="up1")(x)
  x = keras.layers.Conv2DTranspose(f[0], 4, 2, padding="same",
                                   activation="relu", name="up2")(x)
  x = keras.layers.Conv2DTranspose(channels, 3, 1, padding="same",
                                   name="up3")(x)
  return keras.Model(images, precision.to_float32(
      keras.layers.Activation("tanh")(x)), name=name)


# Outputs of the condition net, in this order.
CONDITION_OUTPUTS = ("class", "parity", "loop", "conv_units", "dense_units")


def build_condition_net(size: int, channels: int, num_classes: int,
                        spec: PpgnNetSpec,
                        name: str = "condition_net") -> keras.Model:
  """C': images -> [class [B, K], parity [B, 2], loop [B, 2] logits,
  conv_units [B, s', s', F] (last conv map), dense_units [B, condition_dim]].

  A different architecture from E (5x5 first conv, max-pooling, tanh-free
  ReLU convs) so that a condition from it is a network G never saw.
  """
  images = keras.Input((size, size, channels), name="images")
  x = images
  filters = spec.condition_filters
  for i, width in enumerate(filters):
    x = keras.layers.Conv2D(width, 5 if i == 0 else 3, padding="same",
                            activation="relu", name=f"conv{i + 1}")(x)
    if i < len(filters) - 1:
      x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
  conv_units = x
  x = keras.layers.Flatten()(x)
  dense = keras.layers.Dense(spec.condition_dim, activation="relu",
                             name="features")(x)
  outputs = [keras.layers.Dense(num_classes, name="class")(dense),
             keras.layers.Dense(2, name="parity")(dense),
             keras.layers.Dense(2, name="loop")(dense), conv_units, dense]
  return keras.Model(images, [precision.to_float32(o) for o in outputs],
                     name=name)
