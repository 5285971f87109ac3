"""What a traced MCMC chain records, and which coordinates it follows.

A family with the 'chain_diagnostics' capability (`tfgen.families`)
returns one `ChainTrace` per stage of its sampler from `trace_chains`
(multigrid: one per model grid; PPGN: one, the code chain). The traces are
recorded through `tfgen.mcmc.runner.run_chain`'s `trace_fn`, after every
step; `tfgen.metrics.chains` turns them into ESS and R-hat.

`pixel_coordinates` and `spread_coordinates` pick the few state coordinates
a trace follows: fixed positions (never chosen from the chains themselves,
which would bias R-hat towards the coordinates that disagree most).
"""

from __future__ import annotations

import collections

import numpy as np

# stage: str, e.g. 'grid4' or 'code'. log_prob: float32 [T, B], the traced
# log-density (log_prob_name says which). coordinates: float32 [T, B, K];
# coordinate_names: K strings, e.g. 'pixel[2,2,0]' or 'code[5]'. images:
# float32 [T, B, S, S, C] in [-1, 1], the chain's image after each step;
# start_images: [B, S, S, C], its image before the first step. accepted:
# bool [T, B] (Metropolis-corrected kernels) or None.
ChainTrace = collections.namedtuple(
    "ChainTrace", ["stage", "log_prob", "log_prob_name", "coordinates",
                   "coordinate_names", "images", "start_images", "accepted"])

# Pixel positions as fractions of the side: the centre first (where digits
# and faces vary most), then around it; the corners (often constant
# background) last.
_PIXEL_FRACTIONS = ((0.5, 0.5), (0.5, 0.25), (0.25, 0.5), (0.75, 0.5),
                    (0.5, 0.75), (0.25, 0.25), (0.75, 0.75), (0.25, 0.75),
                    (0.75, 0.25))


def pixel_coordinates(size: int, channels: int, count: int
                      ) -> tuple[list[int], list[str]]:
  """Flat indices into [size, size, channels] images of `count` pixels.

  Args:
    size: the image side (>= 1); channels: C (>= 1).
    count: how many (>= 1); at most size * size * channels are returned.

  Returns:
    (indices, names): int flat indices into an image reshaped to
    [size * size * channels], and their names 'pixel[row,col,channel]'.
    Positions follow `_PIXEL_FRACTIONS`, then raster order; the channel
    cycles 0, 1, ..., C - 1 over them (no pixel and channel twice).
  """
  if size < 1 or channels < 1 or count < 1:
    raise ValueError(f"size={size}, channels={channels} and count={count} "
                     "must all be >= 1.")
  positions = [(min(int(fy * size), size - 1), min(int(fx * size), size - 1))
               for fy, fx in _PIXEL_FRACTIONS]
  positions += [(row, col) for row in range(size) for col in range(size)]
  seen, chosen = set(), []
  for position in positions:
    if position not in seen:
      seen.add(position)
      chosen.append(position)
  total = min(int(count), size * size * channels)
  # Round r of the positions takes channel (position number + r) mod C.
  count_positions = len(chosen)
  picks = [chosen[i % count_positions]
           + ((i % count_positions + i // count_positions) % channels,)
           for i in range(total)]
  indices = [(row * size + col) * channels + channel
             for row, col, channel in picks]
  names = [f"pixel[{row},{col},{channel}]" for row, col, channel in picks]
  return indices, names


def spread_coordinates(length: int, count: int, name: str = "code"
                       ) -> tuple[list[int], list[str]]:
  """`count` indices spread evenly over a vector of `length` (>= 1).

  Returns (indices, names): min(count, length) distinct indices from 0 to
  length - 1 and their names f'{name}[i]'.
  """
  if length < 1 or count < 1:
    raise ValueError(f"length={length} and count={count} must be >= 1.")
  indices = sorted({int(round(v)) for v in np.linspace(
      0, length - 1, min(int(count), length))})
  return indices, [f"{name}[{i}]" for i in indices]
