"""Line plots as PNG files, drawn with PIL (no plotting library needed).

`plot_panels` stacks panels vertically; each panel has a title, its own
value axis (labelled with its minimum and maximum: the panels' values may
differ by orders of magnitude) and any number of lines over a step axis
shared by all panels. `plot_gradient_norms` draws the gradient norms of
training (`apps.evaluate diagnostics`); `apps.evaluate chains` draws the log
p traces of MCMC chains with `plot_panels`.
"""

from __future__ import annotations

import collections
import os
from typing import Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

# Distinct line colours (RGB), cycled.
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189),
           (255, 127, 14), (23, 190, 207), (140, 86, 75), (227, 119, 194),
           (127, 127, 127), (188, 189, 34))
MARKER_COLOUR = (160, 160, 160)

# title: str. steps: [T] x values. lines: [L, T] y values. colours: L RGB
# tuples (default: COLOURS in turn). marker: optional step at which a grey
# vertical line is drawn (e.g. the end of a chain's warm-up).
Panel = collections.namedtuple("Panel", ["title", "steps", "lines",
                                         "colours", "marker"],
                               defaults=(None, None))


def _format(value: float) -> str:
  return f"{value:.3g}"


def plot_panels(panels: Sequence[Panel], path: str, width: int = 640,
                panel_height: int = 200) -> str:
  """Draws `panels` (top to bottom) into a PNG at `path`; returns `path`.

  The image is width x (panel_height * len(panels)) pixels. A line of one
  point is drawn as a dot. Raises ValueError for no panels or an empty one.
  """
  if not panels or any(len(np.asarray(p.steps)) == 0 for p in panels):
    raise ValueError("panels is empty or has a panel without steps: nothing "
                     "to plot.")
  font = ImageFont.load_default()
  margin_left, margin_right, margin_top, margin_bottom = 70, 20, 24, 30
  image = Image.new("RGB", (width, panel_height * len(panels)), "white")
  draw = ImageDraw.Draw(image)
  all_steps = np.concatenate([np.asarray(p.steps, np.float64)
                              for p in panels])
  first_step, last_step = float(all_steps.min()), float(all_steps.max())
  step_span = max(last_step - first_step, 1.0)
  for row, panel in enumerate(panels):
    top = row * panel_height
    steps = np.asarray(panel.steps, np.float64)
    lines = np.asarray(panel.lines, np.float64).reshape(-1, len(steps))
    low, high = float(np.min(lines)), float(np.max(lines))
    span = max(high - low, 1e-12)
    x0, x1 = margin_left, width - margin_right
    y0, y1 = top + margin_top, top + panel_height - margin_bottom
    draw.rectangle([x0, y0, x1, y1], outline=(0, 0, 0))
    xs = x0 + (steps - first_step) / step_span * (x1 - x0)
    if panel.marker is not None:
      x = x0 + (float(panel.marker) - first_step) / step_span * (x1 - x0)
      draw.line([(x, y0), (x, y1)], fill=MARKER_COLOUR, width=1)
    colours = panel.colours or [COLOURS[i % len(COLOURS)]
                                for i in range(len(lines))]
    for values, colour in zip(lines, colours):
      ys = y1 - (values - low) / span * (y1 - y0)
      points = list(zip(xs.tolist(), ys.tolist()))
      if len(points) > 1:
        draw.line(points, fill=tuple(colour), width=2)
      else:
        x, y = points[0]
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=tuple(colour))
    draw.text((x0, top + 6), panel.title, fill=(0, 0, 0), font=font)
    draw.text((4, y0), _format(high), fill=(0, 0, 0), font=font)
    draw.text((4, y1 - 10), _format(low), fill=(0, 0, 0), font=font)
    draw.text((x0, y1 + 4), f"step {first_step:g}", fill=(0, 0, 0),
              font=font)
    draw.text((x1 - 70, y1 + 4), f"step {last_step:g}",
              fill=(0, 0, 0), font=font)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  image.save(path)
  return path


def plot_gradient_norms(history: dict, path: str, width: int = 640,
                        panel_height: int = 200) -> str:
  """One panel per grid of step vs. the L1 norm of its gradient; a PNG.

  history: {grid_size: [(step, norm), ...]}, what
  `tfgen.metrics.diagnostics.gradient_norm_history` reads from a workdir.
  Each panel has its own value axis (the grids' norms differ by orders of
  magnitude) and colour; the step axis is shared. Returns `path`.
  """
  if not history or not all(history.values()):
    raise ValueError("history is empty: nothing to plot (see "
                     "gradient_norm_history).")
  return plot_panels([
      Panel(title=f"grid {grid}x{grid}: L1 norm of the gradient",
            steps=[step for step, _ in history[grid]],
            lines=[[norm for _, norm in history[grid]]],
            colours=[COLOURS[row % len(COLOURS)]])
      for row, grid in enumerate(sorted(history))], path, width, panel_height)
