"""Inpainting masks: a square, doodle brush strokes, pepper-and-salt pixels.

Pure numpy functions of `(num, size, seed, fraction)`; every mask is float32
[N, S, S, 1] with 1 where a pixel is missing and 0 where it is observed, and
depends only on its arguments (`np.random.default_rng(seed)`). The three
kinds follow the multigrid paper's inpainting experiment (Table 4: a 32x32
square on 64x64 CelebA faces, doodles hiding ~25% of the pixels,
pepper-and-salt hiding ~60%):

* `square`: one axis-aligned square of side `max(1, round(S * sqrt(fraction)))`
  at a uniformly random position (fraction 0.25 -> side S / 2, exactly 1/4 of
  the area when S is even).
* `doodle`: random brush strokes (random walks of a round brush with a
  smoothly turning direction) painted until `fraction` of the pixels are
  hidden; the last brush stamp may overshoot by at most one stamp's area.
* `pepper_salt`: exactly `round(fraction * S * S)` pixels chosen uniformly at
  random without replacement.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

MASK_KINDS = ("square", "doodle", "pepper_salt")
DEFAULT_FRACTIONS = {"square": 0.25, "doodle": 0.25, "pepper_salt": 0.6}


def _check_count(name: str, value) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
      or value <= 0:
    raise ValueError(f"{name}={value!r} must be a positive integer.")
  return int(value)


def _check_fraction(kind: str, fraction) -> float:
  try:
    value = float(fraction)
  except (TypeError, ValueError):
    value = float("nan")
  if not 0.0 < value < 1.0:
    raise ValueError(
        f"fraction={fraction!r} (the share of missing pixels of the {kind!r} "
        f"mask) must be in (0, 1), e.g. {DEFAULT_FRACTIONS[kind]}.")
  return value


def square_side(size: int, fraction: float) -> int:
  """Side of the square mask that hides about `fraction` of a size^2 image."""
  return min(size, max(1, int(round(size * math.sqrt(fraction)))))


def square_masks(num: int, size: int, seed: int,
                 fraction: float = 0.25) -> np.ndarray:
  """One square hole per image at a random position -> float32 [N, S, S, 1]."""
  num, size = _check_count("num", num), _check_count("size", size)
  fraction = _check_fraction("square", fraction)
  rng = np.random.default_rng(seed)
  side = square_side(size, fraction)
  masks = np.zeros((num, size, size, 1), np.float32)
  tops = rng.integers(0, size - side + 1, num)
  lefts = rng.integers(0, size - side + 1, num)
  for i, (top, left) in enumerate(zip(tops, lefts)):
    masks[i, top:top + side, left:left + side, 0] = 1.0
  return masks


def brush_radius(size: int) -> float:
  """Default doodle brush radius in pixels: 1 at 16x16, 4 at 64x64."""
  return max(1.0, size / 16.0)


def _brush_offsets(radius: float) -> np.ndarray:
  """Integer (dy, dx) offsets of a round brush of `radius` pixels."""
  reach = int(math.floor(radius))
  dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
  inside = dy**2 + dx**2 <= radius**2 + 1e-9
  return np.stack([dy[inside], dx[inside]], axis=1)


def _doodle(size: int, target: int, offsets: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
  """One [S, S] doodle with at least `target` hidden pixels."""
  mask = np.zeros((size, size), bool)
  hidden = 0
  step = max(1.0, float(np.abs(offsets).max()))
  while hidden < target:
    # A new stroke: a random start, direction and length.
    y, x = rng.uniform(0, size, 2)
    angle = rng.uniform(0, 2 * math.pi)
    for _ in range(int(rng.integers(size // 2 + 1, 2 * size + 1))):
      rows = np.clip(int(y) + offsets[:, 0], 0, size - 1)
      cols = np.clip(int(x) + offsets[:, 1], 0, size - 1)
      mask[rows, cols] = True
      hidden = int(mask.sum())
      if hidden >= target:
        break
      angle += rng.normal(0.0, 0.6)
      y, x = y + step * math.sin(angle), x + step * math.cos(angle)
      # Bounce off the borders so strokes stay inside the image.
      if not 0 <= y < size:
        y = min(max(y, 0.0), size - 1e-3)
        angle = -angle
      if not 0 <= x < size:
        x = min(max(x, 0.0), size - 1e-3)
        angle = math.pi - angle
  return mask


def doodle_masks(num: int, size: int, seed: int, fraction: float = 0.25,
                 radius: Optional[float] = None) -> np.ndarray:
  """Random brush strokes hiding ~`fraction` of each image -> [N, S, S, 1].

  Strokes are painted until at least `round(fraction * S * S)` pixels are
  hidden; the overshoot is below one brush stamp (`radius`, default
  `brush_radius(size)`).
  """
  num, size = _check_count("num", num), _check_count("size", size)
  fraction = _check_fraction("doodle", fraction)
  radius = brush_radius(size) if radius is None else float(radius)
  if not radius > 0:
    raise ValueError(f"radius={radius!r} must be > 0 pixels, e.g. "
                     f"{brush_radius(size)}.")
  rng = np.random.default_rng(seed)
  offsets = _brush_offsets(radius)
  target = max(1, int(round(fraction * size * size)))
  masks = np.stack([_doodle(size, target, offsets, rng) for _ in range(num)])
  return masks[..., None].astype(np.float32)


def pepper_salt_masks(num: int, size: int, seed: int,
                      fraction: float = 0.6) -> np.ndarray:
  """Exactly round(fraction * S^2) random missing pixels per image."""
  num, size = _check_count("num", num), _check_count("size", size)
  fraction = _check_fraction("pepper_salt", fraction)
  rng = np.random.default_rng(seed)
  count = max(1, int(round(fraction * size * size)))
  masks = np.zeros((num, size * size), np.float32)
  for i in range(num):
    masks[i, rng.permutation(size * size)[:count]] = 1.0
  return masks.reshape(num, size, size, 1)


_MAKERS = {"square": square_masks, "doodle": doodle_masks,
           "pepper_salt": pepper_salt_masks}


def validate_kind(kind: str) -> str:
  """Returns `kind` if it is a known mask kind, else raises ValueError."""
  if kind not in _MAKERS:
    raise ValueError(f"mask={kind!r} is not a known mask; use one of "
                     f"{', '.join(MASK_KINDS)}.")
  return kind


def make_masks(kind: str, num: int, size: int, seed: int,
               fraction: Optional[float] = None) -> np.ndarray:
  """Masks of `kind` (see MASK_KINDS); fraction None = DEFAULT_FRACTIONS[kind].

  Returns float32 [num, size, size, 1], 1 = missing, 0 = observed.
  """
  validate_kind(kind)
  if fraction is None:
    fraction = DEFAULT_FRACTIONS[kind]
  return _MAKERS[kind](num, size, seed, fraction=fraction)


def missing_fractions(masks: np.ndarray) -> np.ndarray:
  """Share of missing pixels of each mask [N, S, S, 1] -> [N]."""
  masks = np.asarray(masks)
  return masks.reshape(masks.shape[0], -1).mean(axis=1)
