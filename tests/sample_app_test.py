"""`python -m apps.sample`: deterministic .npz + PNG from a trained workdir."""

import hashlib
import os
import sys

import numpy as np
import pytest

import support

def run(module, *args):
  return support.run_module(module, *args)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return support.train_tiny_workdir(str(tmp_path_factory.mktemp("trained")))


def digest(path):
  return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_same_seed_writes_an_identical_file_and_png(workdir, tmp_path):
  first, second, other = (str(tmp_path / f"{n}.npz") for n in "abc")
  for output, seed in ((first, 3), (second, 3), (other, 4)):
    result = run("apps.sample", f"--workdir={workdir}", "--num_samples=6",
                 f"--seed={seed}", f"--output={output}", "--batch_size=4")
    assert result.returncode == 0, result.stderr[-2000:]
  assert digest(first) == digest(second)
  assert digest(first) != digest(other)
  assert os.path.exists(str(tmp_path / "a.png"))
  with np.load(first) as archive:
    images = archive["images"]
    assert images.shape == (6, 8, 8, 1) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert archive["grid4"].shape == (6, 4, 4, 1)
    np.testing.assert_array_equal(archive["grid8"], images)


@pytest.mark.parametrize("args, expected", [
    (["--output=x.npz"], "--workdir is required"),
    (["--workdir={tmp}", "--output=x.npz"], "no config.json"),
    (["--workdir={workdir}", "--output=x.png"], "must be a path ending"),
    (["--workdir={workdir}", "--output=x.npz", "--num_samples=0"],
     "--num_samples=0"),
    (["--workdir={workdir}", "--output={tmp}/x.npz", "--class_id=1"],
     "class_id=1 needs a class-conditional model"),
    (["--workdir={workdir}", "--output={tmp}/x.npz",
      "--refine_panel={tmp}/p.png"], "--refine_panel='{tmp}/p.png' needs a "
     "model that refines given coarse images"),
])
def test_bad_arguments_are_reported(workdir, tmp_path, args, expected):
  args = [a.format(tmp=tmp_path, workdir=workdir) for a in args]
  result = run("apps.sample", *args)
  assert result.returncode != 0
  assert expected.format(tmp=tmp_path) in result.stderr, result.stderr[-2000:]


@pytest.fixture(scope="module")
def lapgan_workdir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("lapgan"))
  result = run("apps.train", f"--workdir={path}", "--family=lapgan",
               "--image_size=8", "--level_sizes=4,8", "--noise_dim=4",
               "--generator_width=0.125", "--discriminator_width=0.125",
               "--condition_on_label", "--batch_size=8", "--num_steps=2",
               "--num_sample_images=4")
  assert result.returncode == 0, result.stderr[-2000:]
  return path


def test_lapgan_workdir_samples_every_level_and_writes_the_refine_panel(
    lapgan_workdir, tmp_path):
  output, panel = str(tmp_path / "s.npz"), str(tmp_path / "panel.png")
  result = run("apps.sample", f"--workdir={lapgan_workdir}", "--num_samples=5",
               "--seed=2", f"--output={output}", f"--refine_panel={panel}",
               "--class_id=7")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "mean per-pixel std across refinements" in result.stdout
  spread = float(result.stdout.split("coarse image: ")[1].split()[0])
  assert spread > 0.0
  with np.load(output) as archive:
    assert archive["grid4"].shape == (5, 4, 4, 1)
    np.testing.assert_array_equal(archive["grid8"], archive["images"])
  from PIL import Image  # pylint: disable=g-import-not-at-top
  width, height = Image.open(panel).size  # 9 columns by 8 rows of 8x8.
  assert width / height == pytest.approx((9 * 9 - 1) / (8 * 9 - 1), rel=0.05)
  bad = run("apps.sample", f"--workdir={lapgan_workdir}", "--num_samples=2",
            f"--output={output}", "--class_id=10")
  assert bad.returncode != 0
  assert "class_id=10 must be an integer in [0, 10)" in bad.stderr, (
      bad.stderr[-2000:])


def test_conditional_model_samples_the_requested_class(tmp_path):
  path = str(tmp_path / "conditional")
  result = run("apps.train", f"--workdir={path}", "--image_size=8",
               "--grid_sizes=1,4,8", "--num_langevin_steps=2",
               "--net_width=0.125", "--batch_size=8", "--num_steps=1",
               "--start_bank_size=40", "--num_sample_images=4",
               "--condition_on_label")
  assert result.returncode == 0, result.stderr[-2000:]
  output = str(tmp_path / "c.npz")
  result = run("apps.sample", f"--workdir={path}", "--num_samples=5",
               "--class_id=7", f"--output={output}")
  assert result.returncode == 0, result.stderr[-2000:]
  with np.load(output) as archive:
    np.testing.assert_array_equal(archive["labels"], [7] * 5)
  result = run("apps.sample", f"--workdir={path}", "--num_samples=5",
               "--class_id=10", f"--output={output}")
  assert result.returncode != 0
  assert "class_id=10 must be an integer in [0, 10)" in result.stderr


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
