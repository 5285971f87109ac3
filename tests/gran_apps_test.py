"""GRAN through the apps: training, the canvas panel, battles of workdirs and
the refusals that name the flag (tiny 8x8 models, two steps)."""

import sys
import json
import os

import numpy as np
import pytest

import support


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  root = tmp_path_factory.mktemp("gran_apps")
  paths = {}
  for name, extra in (("a", ()), ("b", ("--num_canvas_steps=1",))):
    paths[name] = str(root / name)
    result = support.run_module("apps.train", f"--workdir={paths[name]}",
                                *support.tiny_flags("gran"), "--num_steps=2",
                                *extra)
    assert result.returncode == 0, result.stderr[-2000:]
  paths["multigrid"] = support.train_tiny_workdir(str(root / "multigrid"))
  return paths


def test_canvas_panel_and_longer_sampling(workdirs, tmp_path):
  out = tmp_path / "s.npz"
  panel = tmp_path / "panel.png"
  result = support.run_module(
      "apps.sample", f"--workdir={workdirs['a']}", "--num_samples=12",
      "--num_canvas_steps=3", f"--canvas_panel={panel}", f"--output={out}")
  assert result.returncode == 0, result.stderr[-2000:]
  with np.load(out) as archive:
    assert {"canvas1", "canvas2", "canvas3", "images"} <= set(archive)
    np.testing.assert_array_equal(archive["images"], archive["canvas3"])
  assert panel.exists() and (tmp_path / "panel.gif").exists()


def test_canvas_flags_are_refused_for_other_families(workdirs, tmp_path):
  result = support.run_module(
      "apps.sample", f"--workdir={workdirs['multigrid']}",
      f"--canvas_panel={tmp_path}/p.png", f"--output={tmp_path}/s.npz")
  assert result.returncode != 0
  assert "--canvas_panel=" in result.stderr and "'multigrid'" in (
      result.stderr)
  result = support.run_module(
      "apps.sample", f"--workdir={workdirs['a']}", "--num_canvas_steps=0",
      f"--output={tmp_path}/s.npz")
  assert result.returncode != 0
  assert "num_canvas_steps=0 must be an integer >= 1" in result.stderr


def test_battle_of_workdirs_and_refusals(workdirs, tmp_path):
  out = tmp_path / "b.json"
  result = support.run_module(
      "apps.battle", f"--workdirs={workdirs['a']},{workdirs['b']}",
      "--num_samples=20", "--num_test=30", "--num_bootstrap=10",
      "--image_size=8", f"--output={out}")
  assert result.returncode == 0, result.stderr[-2000:]
  report = json.loads(out.read_text())
  assert [b["name_1"] for b in report["battles"]] == ["a"]
  result = support.run_module(
      "apps.battle", f"--workdirs={workdirs['a']},{workdirs['multigrid']}",
      f"--output={out}")
  assert result.returncode != 0
  assert "'multigrid' has no discriminator" in result.stderr


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
