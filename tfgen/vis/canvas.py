"""GRAN drawings: the canvases over t as a panel (Figs. 9-10) and a GIF.

`canvases` arguments are lists of T arrays [N, S, S, C] in [0, 1] (what
`GRAN.sample` returns, mapped from [-1, 1]), or one array [N, T, S, S, C].
`save_canvas_figures` writes both (apps.sample --canvas_panel,
apps.evaluate chains). The GIF writer also animates MCMC chains (PPGN's
snapshots along the chain, `apps.sample --chain_gif`; `chain_frames` picks
the frames of traced chains for `apps.evaluate chains`): any T images per
sample.
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


def save_canvas_figures(canvases: Canvases, panel_path: str,
                        num_rows: int = 10, num_animated: int = 64
                        ) -> tuple[str, str]:
  """The panel of the first `num_rows` samples at `panel_path` (PNG) and
  the GIF of the first `num_animated` beside it (same name, .gif).

  Returns (panel path, GIF path).
  """
  stacked = _stack(canvases)
  save_canvas_panel(stacked[:num_rows], panel_path)
  gif = os.path.splitext(panel_path)[0] + ".gif"
  save_drawing_gif(stacked[:num_animated], gif)
  return panel_path, gif


def chain_frames(stages: Sequence[tuple[np.ndarray, np.ndarray]],
                 num_frames: int) -> list[np.ndarray]:
  """Frames of traced chains for `save_drawing_gif`, stage after stage.

  Args:
    stages: per stage of the sampler (multigrid: each grid, coarse to fine;
      PPGN: one), (start images [B, s, s, C], images after every step
      [T, B, s, s, C]), both in [-1, 1]. Every side s must divide the last
      stage's side S.
    num_frames: frames per stage (>= 1), at steps evenly spaced over its T
      steps (min(num_frames, T) of them: a step is never shown twice); the
      last is the stage's final state.

  Returns:
    [the first stage's start] + the frames of every stage, each
    [B, S, S, C] in [0, 1], up-sampled to S by pixel repetition.
  """
  if not stages or num_frames < 1:
    raise ValueError(f"stages ({len(stages)}) and num_frames={num_frames} "
                     "must both be >= 1.")
  size = stages[-1][0].shape[1]

  def shown(images):
    factor = size // images.shape[1]
    if factor * images.shape[1] != size:
      raise ValueError(f"A stage of side {images.shape[1]} does not divide "
                       f"the last stage's side {size}.")
    images = np.repeat(np.repeat(images, factor, axis=1), factor, axis=2)
    return (np.clip(images, -1.0, 1.0) + 1.0) / 2.0

  frames = [shown(np.asarray(stages[0][0], np.float32))]
  for _, images in stages:
    images = np.asarray(images, np.float32)
    count = len(images)
    shown_frames = min(int(num_frames), count)
    for k in range(1, shown_frames + 1):
      step = max(int(round(k * count / shown_frames)), 1) - 1
      frames.append(shown(images[step]))
  return frames
