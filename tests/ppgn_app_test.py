"""apps.sample on PPGN workdirs: the plug-in flags, and their bad inputs.

One tiny PPGN workdir (8x8 digits, `tiny_settings` of the registry row, the
DAE stage off so that `--prior=code_dae` has nothing to use) trained for its
3 stage steps by `apps.train`; a tiny multigrid workdir for the refusal of
PPGN-only flags by other families. Behaviour, not quality.
"""

import sys

import numpy as np
import pytest

import support


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


@pytest.mark.parametrize("flags,message", [
    (("--condition=colour:red",), "unknown condition kind 'colour'"),
    (("--condition=class:12",), "class 12 is out of range; use a class in "
                                "[0, 10)"),
    (("--condition=parity:odd@heavy",), "weight 'heavy' is not a number"),
    (("--condition=caption:the digit seven",), "this model has no captioner"),
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


def test_other_families_refuse_ppgn_flags_naming_their_family(tmp_path):
  workdir = support.train_tiny_workdir(str(tmp_path / "mg"))
  for flag in ("--condition=class:3", "--prior=none", "--num_mcmc_steps=5",
               "--min_probability=0.5"):
    result = sample(workdir, str(tmp_path / "s.npz"), flag)
    assert result.returncode != 0, flag
    assert "family='multigrid'" in result.stderr, result.stderr[-2000:]
    assert f"--{flag[2:].split('=')[0]}" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
