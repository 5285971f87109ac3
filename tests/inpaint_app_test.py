"""`python -m apps.inpaint`: .npz + PNG + JSON scores, and its bad inputs."""

import json
import os
import shutil
import sys

import numpy as np
import pytest

import support

from tfgen.metrics import inpainting

def run(module, *args):
  return support.run_module(module, *args)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return support.train_tiny_workdir(str(tmp_path_factory.mktemp("trained")))


def _json(stdout):
  return json.loads(stdout[stdout.index("{"):])


@pytest.mark.parametrize("mask, fraction", [("square", 0.25),
                                            ("pepper_salt", 0.6)])
def test_fills_missing_pixels_keeps_observed_and_reports_scores(
    workdir, tmp_path, mask, fraction):
  output = str(tmp_path / "out.npz")
  result = run("apps.inpaint", f"--workdir={workdir}", f"--mask={mask}",
               "--num_images=7", "--batch_size=4", f"--output={output}",
               "--seed=3")
  assert result.returncode == 0, result.stderr[-2000:]
  report = _json(result.stdout)
  assert os.path.exists(str(tmp_path / "out.png"))
  with np.load(output) as archive:
    original, masked, filled, masks = (
        archive[k] for k in ("original", "masked", "filled", "masks"))
  assert original.shape == filled.shape == masked.shape == (7, 8, 8, 1)
  assert masks.shape == (7, 8, 8, 1)
  assert 0 <= filled.min() and filled.max() <= 1
  observed = masks == 0
  np.testing.assert_array_equal(filled[observed], original[observed])
  np.testing.assert_array_equal(masked[~observed], 0.5)
  assert not np.array_equal(filled[~observed], original[~observed])
  assert report["mask"] == mask and report["num_images"] == 7
  assert report["fraction"] == fraction
  assert report["missing_fraction"] == pytest.approx(masks.mean())
  assert abs(report["missing_fraction"] - fraction) < 0.05
  assert report["mae_missing"] == pytest.approx(
      inpainting.masked_mean_absolute_error(original, filled, masks))
  assert report["psnr_missing"] == pytest.approx(
      inpainting.psnr(original, filled, masks))
  assert report["step"] == 2 and report["num_langevin_steps"] == [2, 2]


def test_same_seed_same_result_and_steps_override(workdir, tmp_path):
  outputs = []
  for name, extra in (("a", []), ("b", []), ("c", ["--num_langevin_steps=0"])):
    output = str(tmp_path / f"{name}.npz")
    result = run("apps.inpaint", f"--workdir={workdir}", "--mask=doodle",
                 "--num_images=3", f"--output={output}", *extra)
    assert result.returncode == 0, result.stderr[-2000:]
    outputs.append(np.load(output)["filled"])
  np.testing.assert_array_equal(outputs[0], outputs[1])
  assert not np.array_equal(outputs[0], outputs[2])


@pytest.fixture(scope="module")
def unfinished(workdir, tmp_path_factory):
  """A copy of the workdir whose config asks for more steps than it has."""
  path = str(tmp_path_factory.mktemp("unfinished") / "w")
  shutil.copytree(workdir, path)
  config_path = os.path.join(path, "config.json")
  config = json.load(open(config_path))
  config["train"]["num_steps"] = 10
  json.dump(config, open(config_path, "w"))
  return path


def test_unfinished_workdir_is_refused_unless_allowed(unfinished, tmp_path):
  output = str(tmp_path / "x.npz")
  refused = run("apps.inpaint", f"--workdir={unfinished}", f"--output={output}",
                "--num_images=2")
  assert refused.returncode == 1
  assert (f"--workdir='{unfinished}' holds an unfinished run: its newest "
          "checkpoint is at step 2 of num_steps=10") in refused.stderr
  assert "--allow_unfinished" in refused.stderr
  assert not os.path.exists(output)
  allowed = run("apps.inpaint", f"--workdir={unfinished}", f"--output={output}",
                "--num_images=2", "--allow_unfinished")
  assert allowed.returncode == 0, allowed.stderr[-2000:]


@pytest.mark.parametrize("args, expected", [
    (["--mask=circle"],
     "--mask='circle' is not a known mask; use one of square, doodle, "
     "pepper_salt"),
    (["--mask=doodle", "--fraction=1.5"],
     "--fraction=1.5 must be in (0, 1) (the share of missing pixels), e.g. "
     "0.25 for --mask=doodle"),
    (["--workdir={tmp}/nowhere"], "--workdir='{tmp}/nowhere' does not exist"),
    (["--workdir={tmp}"], "has no config.json"),
    (["--workdir={no_checkpoint}"], "has no checkpoint yet"),
    (["--num_images=100000"], "--num_images=100000 exceeds the"),
    (["--num_langevin_steps=1,2,3"],
     "--num_langevin_steps=1,2,3: num_langevin_steps=[1, 2, 3] must be one "
     "int >= 0 or one per model grid (2, grids [4, 8])"),
    (["--num_langevin_steps=x"], "--num_langevin_steps=x must be integers"),
    (["--output=x.png"], "--output='x.png' must be a path ending in .npz"),
])
def test_bad_arguments_exit_1_naming_flag_and_value(workdir, tmp_path, args,
                                                    expected):
  no_checkpoint = tmp_path / "no_checkpoint"
  no_checkpoint.mkdir()
  shutil.copy(os.path.join(workdir, "config.json"), no_checkpoint)
  names = dict(tmp=tmp_path, no_checkpoint=no_checkpoint)
  args = [a.format(**names) for a in args]
  defaults = [f"--workdir={workdir}", f"--output={tmp_path}/o.npz",
              "--num_images=2"]
  given = {a.split("=")[0] for a in args}
  args = [a for a in defaults if a.split("=")[0] not in given] + args
  result = run("apps.inpaint", *args)
  assert result.returncode == 1
  assert expected.format(**names) in result.stderr, result.stderr[-2000:]
  assert not os.path.exists(str(tmp_path / "o.npz"))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
