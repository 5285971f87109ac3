"""GRAN drawings: the canvases over t as a panel (Figs. 9-10) and a GIF.

`canvases` arguments are lists of T arrays [N, S, S, C] in [0, 1] (what
`GRAN.sample` returns, mapped from [-1, 1]), or one array [N, T, S, S, C].
The GIF writer also animates MCMC chains (PPGN's snapshots along the
chain, `apps.sample --chain_gif`): any T images per sample.
"""

from __future__ import annotations

import math
import os
from typing import Sequence, Union

import numpy as np
from PIL import Image

from tfgen.vis import grid

Canvases = Union[Sequence[np.ndarray], np.ndarray]


def _stack(canvases: Canvases) -> np.ndarray:
  """[N, T, S, S, C] in [0, 1] from a list over t or an array."""
  if isinstance(canvases, np.ndarray) and canvases.ndim == 5:
    stacked = canvases
  elif not len(canvases):
    raise ValueError("canvases must be T >= 1 arrays [N, S, S, C]; got none.")
  else:
    stacked = np.stack([np.asarray(c, np.float32) for c in canvases], axis=1)
  if stacked.ndim != 5 or not stacked.shape[0] or not stacked.shape[1]:
    raise ValueError(f"canvases must be T arrays [N, S, S, C] (N, T >= 1), "
                     f"got shape {stacked.shape}.")
  return np.clip(stacked.astype(np.float32), 0.0, 1.0)


def canvas_panel(canvases: Canvases, padding: int = 1) -> np.ndarray:
  """One image [N rows, T columns]: row i = sample i, column t = C_t."""
  stacked = _stack(canvases)
  count, steps = stacked.shape[:2]
  return grid.tile(stacked.reshape((count * steps,) + stacked.shape[2:]),
                   columns=steps, padding=padding)


def save_canvas_panel(canvases: Canvases, path: str,
                      min_side: int = 256) -> str:
  """Writes `canvas_panel` to `path` (PNG), enlarged to >= min_side."""
  stacked = _stack(canvases)
  count, steps = stacked.shape[:2]
  return grid.save_png(stacked.reshape((count * steps,) + stacked.shape[2:]),
                       path, columns=steps, min_side=min_side)


def save_drawing_gif(canvases: Canvases, path: str, min_side: int = 256,
                     frame_ms: int = 400, columns: int = 0) -> str:
  """A GIF of the drawing: frame t = the grid of every sample's C_t.

  The last frame is held three times as long.
  """
  stacked = _stack(canvases)
  count, steps = stacked.shape[:2]
  columns = columns or int(math.ceil(math.sqrt(count)))
  frames = []
  for t in range(steps):
    picture = Image.fromarray(grid.to_uint8(grid.tile(stacked[:, t],
                                                      columns)))
    scale = max(1, int(math.ceil(min_side / max(picture.size))))
    frames.append(picture.resize((picture.size[0] * scale,
                                  picture.size[1] * scale), Image.NEAREST))
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  durations = [frame_ms] * (steps - 1) + [3 * frame_ms]
  frames[0].save(path, save_all=True, append_images=frames[1:],
                 duration=durations, loop=0)
  return path
