"""Helpers shared by the tests: tiny models, tiny trained workdirs, apps.

Tiny means 8x8 digits, grids 1, 4, 8, nets at 1/8 width and 2 Langevin
steps: enough to exercise every code path in seconds, never to judge
quality (that is `-m slow`'s job).
"""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# `apps.train` flags of the tiny multigrid model (add --workdir, --num_steps).
TINY_MULTIGRID_FLAGS = ("--image_size=8", "--grid_sizes=1,4,8",
                        "--num_langevin_steps=2", "--net_width=0.125",
                        "--batch_size=8", "--start_bank_size=16",
                        "--num_sample_images=4")


def run_module(module: str, *args: str, timeout: float = 240,
               env: dict | None = None) -> subprocess.CompletedProcess:
  """`python -m module args...` from the repository root; output captured."""
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO,
                        capture_output=True, text=True, timeout=timeout,
                        env=env)


def train_tiny_workdir(path: str, *extra_flags: str,
                       num_steps: int = 2) -> str:
  """Trains the tiny multigrid model into `path` with `apps.train`."""
  result = run_module("apps.train", f"--workdir={path}",
                      *TINY_MULTIGRID_FLAGS, f"--num_steps={num_steps}",
                      *extra_flags)
  assert result.returncode == 0, result.stderr[-2000:]
  return path


def tiny_multigrid(**overrides):
  """An untrained tiny `MultigridEBM` (grids 1, 4, 8; width 1/8; seed 3)."""
  from tfgen.models.multigrid import MultigridEBM  # pylint: disable=g-import-not-at-top
  settings = dict(grid_sizes=(1, 4, 8), channels=1, num_langevin_steps=2,
                  step_size=0.3, noise_scale=1.0, net_width=0.125,
                  start_bank_size=16, seed=3)
  settings.update(overrides)
  return MultigridEBM(**settings)


def digits(split: str = "train", image_size: int = 8, count: int = 32):
  """(images [count, S, S, 1] in [-1, 1], labels [count]) of bundled digits."""
  from tfgen import data  # pylint: disable=g-import-not-at-top
  return data.arrays("digits", split, image_size, max_examples=count)
