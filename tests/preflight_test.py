"""Everything a run needs is checked before anything is written.

tfgen.train.preflight and tfgen.data.checks: datasets (tfds prepared, folder
images decodable, the bad file named), flag values (finite numbers, known
activations), writable workdir and output paths. The app cases run
`apps.train` / `apps.sample` / `apps.inpaint` / `apps.evaluate` as a user
would and check that the refused run left no workdir behind.
"""

import sys
import dataclasses
import os

import numpy as np
import pytest
from PIL import Image

import support
from tfgen import config as config_lib
from tfgen.data import checks
from tfgen.train import preflight


def tiny_config(**data):
  return config_lib.ExperimentConfig(
      data=config_lib.DataConfig(image_size=8, **data),
      model=config_lib.MultigridConfig(grid_sizes=(1, 4, 8)))


def image_folder(path, count=3, bad=None):
  os.makedirs(path, exist_ok=True)
  for i in range(count):
    Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(
        os.path.join(path, f"img{i}.png"))
  if bad is not None:
    with open(os.path.join(path, "bad.png"), "wb") as f:
      f.write(bad)
  return path


def test_a_folder_of_good_images_passes(tmp_path):
  assert checks.check_folder(image_folder(str(tmp_path / "good"))) == 3


@pytest.mark.parametrize("content, reason", [
    (b"this is not an image", "not PNG, JPEG, GIF or BMP data"),
    (b"", "an empty file"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "bad.png' is not a decodable image"),
])
def test_a_file_that_is_not_an_image_is_named(tmp_path, content, reason):
  folder = image_folder(str(tmp_path / "images"), bad=content)
  with pytest.raises(ValueError, match="is not a decodable image") as raised:
    checks.check_available(f"folder:{folder}")
  assert os.path.join(folder, "bad.png") in str(raised.value)
  assert reason in str(raised.value)


def test_missing_or_empty_folders_and_unprepared_tfds_are_refused(tmp_path):
  with pytest.raises(ValueError, match="is not a directory"):
    checks.check_available("folder:/nonexistent")
  os.makedirs(tmp_path / "empty")
  with pytest.raises(ValueError, match="holds no .png/.jpg/.jpeg images"):
    checks.check_available(f"folder:{tmp_path / 'empty'}")
  with pytest.raises(ValueError, match=r"dataset='mnist' is not prepared in "
                     r".*tfds build mnist --data_dir=.*--download=true"):
    checks.check_available("mnist", data_dir=str(tmp_path / "tfds"))
  checks.check_available("mnist", data_dir=str(tmp_path / "tfds"),
                         download=True)  # Left to tfds.load.
  checks.check_available("digits")


@pytest.mark.parametrize("section, values, message", [
    ("train", dict(learning_rate=float("inf")),
     "learning_rate=inf must be a finite number"),
    ("model", dict(step_size=(0.3, float("nan"))),
     "step_size=[0.3, nan] must be a finite number"),
    # Checked once, by the family's settings (MultigridConfig.validate).
    ("model", dict(activation="foo"),
     "activation='foo' is not one of ['leaky_relu', 'relu',"),
])
def test_non_finite_numbers_and_unknown_activations_are_refused(
    section, values, message):
  config = tiny_config()
  config = dataclasses.replace(config, **{section: dataclasses.replace(
      getattr(config, section), **values)})
  with pytest.raises(ValueError, match=message.replace("[", r"\[")
                     .replace("(", r"\(")):
    preflight.check_config(config)
    config.validate()


def test_unusable_workdir_and_output_paths_are_refused(tmp_path):
  a_file = tmp_path / "file"
  a_file.write_text("x")
  with pytest.raises(ValueError, match=r"--workdir='.*file' is a file, not a "
                     "directory"):
    preflight.check_run(tiny_config(), str(a_file))
  with pytest.raises(ValueError, match="cannot be created: '.*file' is a "
                     "file"):
    preflight.check_run(tiny_config(), str(a_file / "run"))
  with pytest.raises(ValueError, match=r"--output='.*' is a directory"):
    preflight.check_output(str(tmp_path))
  with pytest.raises(ValueError, match="cannot be written: '.*file' is a "
                     "file"):
    preflight.check_output(str(a_file / "out.npz"))
  preflight.check_output(str(tmp_path / "new" / "out.npz"))  # Created later.
  assert not os.path.exists(tmp_path / "new")


@pytest.mark.parametrize("flags, expected", [
    (["--dataset=mnist", "--data_dir={tmp}/tfds"],
     "dataset='mnist' is not prepared in"),
    (["--dataset=folder:{tmp}/images"], "bad.png' is not a decodable image"),
    (["--activation=foo"], "--activation=foo: value should be one of "
     "<leaky_relu|relu|"),
    (["--learning_rate=inf"], "learning_rate=inf must be a finite number"),
])
def test_refused_training_runs_write_nothing(tmp_path, flags, expected):
  image_folder(str(tmp_path / "images"), bad=b"not an image")
  workdir = tmp_path / "run"
  result = support.run_module(
      "apps.train", *support.TINY_MULTIGRID_FLAGS, "--num_steps=1",
      f"--workdir={workdir}", *[f.format(tmp=tmp_path) for f in flags])
  assert result.returncode == 1, result.stderr[-2000:]
  assert expected in result.stderr, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  assert not os.path.exists(workdir)


@pytest.mark.parametrize("module, extra", [
    ("apps.train", [*support.TINY_MULTIGRID_FLAGS]),
    ("apps.sample", ["--output={tmp}/out.npz"]),
])
def test_a_workdir_or_output_under_a_file_is_refused_at_once(tmp_path, module,
                                                            extra):
  (tmp_path / "file").write_text("x")
  workdir = (f"{tmp_path}/file" if module == "apps.train"
             else f"{tmp_path}/nonexistent")
  extra = [e.format(tmp=f"{tmp_path}/file") for e in extra]
  result = support.run_module(module, f"--workdir={workdir}", *extra)
  assert result.returncode == 1, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  assert "is a file" in result.stderr.splitlines()[-2], result.stderr[-2000:]


@pytest.mark.parametrize("module, extra", [
    ("apps.inpaint", ["--output={tmp}/file/x.npz"]),
    ("apps.evaluate", ["--samples={tmp}/s.npz", "--output={tmp}/file/x.json"]),
])
def test_sample_inpaint_and_evaluate_check_their_output_before_working(
    tmp_path, module, extra):
  (tmp_path / "file").write_text("x")
  np.savez(tmp_path / "s.npz", images=np.zeros((4, 8, 8, 1), np.float32))
  result = support.run_module(
      module, f"--workdir={tmp_path}/nonexistent" if module != "apps.evaluate"
      else "--num_samples=4", *[e.format(tmp=tmp_path) for e in extra])
  assert result.returncode == 1, result.stderr[-2000:]
  assert "cannot be written: " in result.stderr, result.stderr[-2000:]


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
