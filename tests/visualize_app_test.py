"""`python -m apps.visualize`: saliency and activation-maximisation PNGs."""

import os
import sys

import numpy as np
from PIL import Image
import pytest

import support

def run(module, *args):
  return support.run_module(module, *args, timeout=400)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return support.train_tiny_workdir(str(tmp_path_factory.mktemp("trained")))


def test_visualize_writes_saliency_and_filter_panels_per_grid(workdir,
                                                              tmp_path):
  output_dir = str(tmp_path / "panels")
  result = run("apps.visualize", f"--workdir={workdir}",
               f"--output_dir={output_dir}", "--num_images=3",
               "--filters_per_layer=2", "--steps=5")
  assert result.returncode == 0, result.stderr[-3000:]
  names = sorted(os.listdir(output_dir))
  assert names == ["filters_grid4.png", "filters_grid8.png",
                   "saliency_grid4.png", "saliency_grid8.png"]
  for name in names:
    assert name in result.stdout
  # Saliency panel: 2 rows (images, maps) x 3 columns of 8x8 tiles, 1-pixel
  # gaps, enlarged by an integer factor to >= 256 pixels.
  saliency = np.asarray(Image.open(os.path.join(output_dir,
                                                "saliency_grid8.png")))
  width, height = 3 * 8 + 2, 2 * 8 + 1
  scale = saliency.shape[1] // width
  assert saliency.shape[:2] == (height * scale, width * scale)
  maps = saliency[9 * scale:, :8 * scale]
  assert maps.max() == 255  # Each map is scaled so its maximum is white.
  # Filters panel: one row per conv layer (one conv on these grids) x 2.
  filters = Image.open(os.path.join(output_dir, "filters_grid4.png"))
  assert filters.size[0] // filters.size[1] == (2 * 4 + 1) // 4


@pytest.mark.parametrize("args, expected", [
    ([], "--workdir is required"),
    (["--workdir={tmp}"], "has no config.json"),
    (["--workdir={workdir}", "--num_images=0"],
     "--num_images=0 must be positive"),
    (["--workdir={workdir}", "--filters_per_layer=-1"],
     "--filters_per_layer=-1 must be positive"),
    (["--workdir={workdir}", "extra"], "Unexpected arguments: ['extra']"),
])
def test_visualize_reports_bad_input(args, expected, workdir, tmp_path):
  args = [a.format(workdir=workdir, tmp=tmp_path) for a in args]
  result = run("apps.visualize", *args)
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-3000:]


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
