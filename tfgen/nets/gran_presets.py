"""The GRAN nets' presets and option names (pure Python, no TensorFlow).

Shared by the net builder (`tfgen.nets.gran`) and the settings
(`tfgen.models.gran_config`), which sits above the nets.
"""

from __future__ import annotations

# Preset -> the image side it is built for ('auto' picks by image size;
# 'generic' = digits16's layout scaled to any power of two in [8, 256]).
PRESET_SIZES = {"digits16": 16, "mnist28": 28, "cifar32": 32, "lsun64": 64}
GENERIC_SIZES = tuple(2**k for k in range(3, 9))
PRESETS = ("auto",) + tuple(PRESET_SIZES) + ("generic",)
NOISE_MODES = ("shared", "per_step")
DISCRIMINATORS = ("paper", "dcgan")
GENERATOR_NORMS = ("step_batch", "batch", "none")
DISCRIMINATOR_NORMS = ("batch", "none")
GAN_LOSSES = ("non_saturating", "minimax", "least_squares", "hinge")


def preset_for_size(preset: str, image_size: int) -> str:
  """The preset `preset` names for `image_size` ('auto' resolved)."""
  if preset != "auto":
    return preset
  for name, size in PRESET_SIZES.items():
    if size == image_size:
      return name
  if image_size in GENERIC_SIZES:
    return "generic"
  raise ValueError(
      f"gran_preset='auto' has no preset for image_size={image_size}; the "
      f"presets are {PRESET_SIZES} (name: image size) and 'generic' for "
      f"{list(GENERIC_SIZES)}. Use one of those image sizes.")


def preset_fits(preset: str, image_size: int) -> bool:
  """Whether `preset` (resolved) builds images of `image_size`."""
  if preset == "generic":
    return image_size in GENERIC_SIZES
  return PRESET_SIZES.get(preset) == image_size
