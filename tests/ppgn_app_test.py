"""apps.sample on PPGN workdirs: the plug-in flags, and their bad inputs.

One tiny PPGN workdir (8x8 digits, `tiny_settings` of the registry row, the
DAE stage off so that `--prior=code_dae` has nothing to use) trained for its
3 stage steps by `apps.train`; a tiny multigrid workdir for the refusal of
PPGN-only flags by other families. Behaviour, not quality.
"""

import json
import os
import shutil
import sys

import numpy as np
from PIL import Image
from PIL import ImageSequence
import pytest

import support

from tfgen.vis import grid


@pytest.fixture(scope="module")
def ppgn_workdir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("ppgn") / "run")
  result = support.run_module("apps.train", f"--workdir={path}",
                              *support.tiny_flags("ppgn"), "--dae_steps=0",
                              "--num_steps=3")
  assert result.returncode == 0, result.stderr[-3000:]
  return path


def sample(workdir, out, *flags):
  return support.run_module("apps.sample", f"--workdir={workdir}",
                            f"--output={out}", "--num_samples=4", *flags)


def test_class_id_and_conditions_sample_with_labels_and_a_keep_rate(
    ppgn_workdir, tmp_path):
  out = str(tmp_path / "c.npz")
  result = sample(ppgn_workdir, out, "--class_id=7", "--num_mcmc_steps=2")
  assert result.returncode == 0, result.stderr[-2000:]
  with np.load(out) as arrays:
    assert arrays["images"].shape == (4, 8, 8, 1)
    np.testing.assert_array_equal(arrays["labels"], [7, 7, 7, 7])
  out = str(tmp_path / "f.npz")
  result = sample(ppgn_workdir, out, "--condition=class:3",
                  "--condition=parity:odd@0.5", "--prior=none",
                  "--num_mcmc_steps=2", "--min_probability=0")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "Kept 4 of 4 samples" in result.stdout and "keep rate 1.000" in (
      result.stdout)
  with np.load(out) as arrays:
    assert arrays["probability"].shape == (4,)
    assert "labels" not in arrays  # Two conditions: no single class.
  result = sample(ppgn_workdir, out, "--condition=class:3",
                  "--num_mcmc_steps=2", "--min_probability=1")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "keep rate" in result.stdout
  # The paper's E-only class condition and constant step, filtered on E's
  # probability alone.
  out = str(tmp_path / "e.npz")
  result = sample(ppgn_workdir, out, "--class_id=7", "--num_mcmc_steps=2",
                  "--class_condition=encoder", "--sampler_step_size_end=-1",
                  "--min_probability=0")
  assert result.returncode == 0, result.stderr[-2000:]
  from tfgen.train import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  model = workdir_lib.load_model(ppgn_workdir)[0]
  with np.load(out) as arrays:
    images = model.sample(4, seed=0, class_id=7, num_steps=2, sampler={
        "class_condition": "encoder", "sampler_step_size_end": -1.0})[-1]
    np.testing.assert_allclose(arrays["images"], (images.numpy() + 1) / 2,
                               atol=1e-5)
    expected = model.condition_probability(
        arrays["images"] * 2.0 - 1.0, arrays["labels"],
        class_condition="encoder").numpy()
    np.testing.assert_allclose(arrays["probability"], expected, atol=1e-4)


@pytest.mark.parametrize("flags,message", [
    (("--condition=colour:red",), "unknown condition kind 'colour'"),
    (("--condition=class:12",), "class 12 is out of range; use a class in "
                                "[0, 10)"),
    (("--condition=parity:odd@heavy",), "weight 'heavy' is not a number"),
    (("--condition=caption:the digit 7",),
     "condition='caption:the digit 7': word '7' is not in the captioner's "
     "vocabulary; use words from: a an digit eight even five"),
    (("--chain_gif=chains.png",), "--chain_gif='chains.png' must be a path "
                                  "ending in .gif"),
    (("--chain_gif=c.gif", "--num_chain_frames=0"),
     "--num_chain_frames=0 must be a positive integer"),
    (("--prior=code_dae",), "prior='code_dae' needs the h-DAE"),
    (("--prior=magic",), "prior='magic' is not one of"),
    (("--min_probability=1.5",), "--min_probability=1.5 must be in [0, 1]"),
    (("--sampler_noise=-1",), "--sampler_noise=-1.0 must be >= 0"),
    (("--num_mcmc_steps=0",), "--num_mcmc_steps=0 must be a positive"),
    (("--class_id=12",), "class_id=12 must be in [0, 10)"),
])
def test_bad_plug_in_flags_name_the_flag_value_and_fix(ppgn_workdir, tmp_path,
                                                       flags, message):
  result = sample(ppgn_workdir, str(tmp_path / "s.npz"), *flags)
  assert result.returncode != 0
  assert message in result.stderr, result.stderr[-2000:]
  assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_a_caption_samples_and_the_chain_gif_ends_at_the_samples(
    ppgn_workdir, tmp_path):
  out, gif = str(tmp_path / "cap.npz"), str(tmp_path / "chains.gif")
  result = sample(ppgn_workdir, out, "--condition=caption:an odd digit with "
                  "a loop", "--num_mcmc_steps=3", f"--chain_gif={gif}",
                  "--num_chain_frames=3", "--min_probability=0")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "4 chains x 3 frames" in result.stdout
  with np.load(out) as arrays:
    images = arrays["images"]
    assert images.shape == (4, 8, 8, 1) and arrays["probability"].shape == (
        4,)
  with Image.open(gif) as picture:
    frames = [np.array(f.convert("L")) for f in ImageSequence.Iterator(
        picture)]
  assert len(frames) == 3
  expected = grid.to_uint8(grid.tile(images, 2))
  scale = frames[-1].shape[0] // expected.shape[0]
  last = frames[-1][::scale, ::scale].astype(int)
  assert last.shape == expected.shape
  assert np.abs(last - expected).max() <= 1  # The last frame = the samples.
  assert not np.array_equal(frames[0], frames[-1])


def test_a_workdir_from_before_the_captioner_loads_and_names_the_fix(
    ppgn_workdir, tmp_path):
  old = str(tmp_path / "old")
  shutil.copytree(ppgn_workdir, old)
  path = os.path.join(old, "config.json")
  config = json.load(open(path))
  for key in ("captioner", "captioner_cell"):
    del config["model"][key]  # As config.json was written before them.
  json.dump(config, open(path, "w"))
  result = sample(old, str(tmp_path / "o.npz"), "--class_id=2",
                  "--num_mcmc_steps=2")
  assert result.returncode == 0, result.stderr[-2000:]
  result = sample(old, str(tmp_path / "o.npz"),
                  "--condition=caption:the digit seven")
  assert result.returncode == 1
  assert ("condition='caption:the digit seven': this model has no "
          "captioner; train one with --captioner") in result.stderr, (
              result.stderr[-2000:])
  assert "Traceback" not in result.stderr


def test_other_families_refuse_ppgn_flags_naming_their_family(tmp_path):
  workdir = support.train_tiny_workdir(str(tmp_path / "mg"))
  for flag in ("--condition=class:3", "--prior=none", "--num_mcmc_steps=5",
               "--min_probability=0.5", f"--chain_gif={tmp_path}/c.gif",
               "--class_condition=encoder"):
    result = sample(workdir, str(tmp_path / "s.npz"), flag)
    assert result.returncode != 0, flag
    assert "family='multigrid'" in result.stderr, result.stderr[-2000:]
    assert f"--{flag[2:].split('=')[0]}" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
