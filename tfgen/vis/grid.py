"""Image grids as PNG files."""

from __future__ import annotations

import math
import os
from typing import Optional

import numpy as np
from PIL import Image


def tile(images: np.ndarray, columns: Optional[int] = None,
         padding: int = 1) -> np.ndarray:
  """[N, H, W, C] in [0, 1] -> one [rows*(H+p)-p, cols*(W+p)-p, C] image."""
  images = np.asarray(images, np.float32)
  if images.ndim != 4:
    raise ValueError(f"images must be [N, H, W, C], got {images.shape}.")
  count, height, width, channels = images.shape
  columns = columns or int(math.ceil(math.sqrt(count)))
  rows = int(math.ceil(count / columns))
  out = np.ones((rows * (height + padding) - padding,
                 columns * (width + padding) - padding, channels), np.float32)
  for i in range(count):
    r, c = divmod(i, columns)
    out[r * (height + padding):r * (height + padding) + height,
        c * (width + padding):c * (width + padding) + width] = images[i]
  return out


def to_uint8(image: np.ndarray) -> np.ndarray:
  """[H, W, C] in [0, 1] -> uint8 [H, W] (grey) or [H, W, 3]."""
  image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
  return image[..., 0] if image.shape[-1] == 1 else image


def save_png(images: np.ndarray, path: str, columns: Optional[int] = None,
             min_side: int = 256) -> str:
  """Writes a grid of `images` [N, H, W, C] in [0, 1] to `path` (PNG).

  Small grids are enlarged (nearest neighbour) to at least `min_side` pixels.
  """
  picture = Image.fromarray(to_uint8(tile(images, columns)))
  scale = max(1, int(math.ceil(min_side / max(picture.size))))
  if scale > 1:
    picture = picture.resize((picture.size[0] * scale,
                              picture.size[1] * scale), Image.NEAREST)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  picture.save(path)
  return path
