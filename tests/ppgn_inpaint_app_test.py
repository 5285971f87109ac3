"""`python -m apps.inpaint` on a PPGN workdir (PPGN-context) and its bad
inputs: one tiny PPGN workdir (8x8 digits, the registry's tiny settings,
no DAE stage) trained for its 3 stage steps. Behaviour, not quality."""

import json
import sys

import numpy as np
import pytest

import support

from tfgen.metrics import inpainting


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("ppgn_inpaint") / "run")
  result = support.run_module("apps.train", f"--workdir={path}",
                              *support.tiny_flags("ppgn"), "--dae_steps=0",
                              "--num_steps=3")
  assert result.returncode == 0, result.stderr[-3000:]
  return path


def inpaint(workdir, out, *flags):
  return support.run_module("apps.inpaint", f"--workdir={workdir}",
                            f"--output={out}", "--num_images=5",
                            "--mask=square", "--seed=1", *flags)


def _json(stdout):
  return json.loads(stdout[stdout.index("{"):])


def test_ppgn_context_fills_the_hole_keeps_the_rest_and_reports(workdir,
                                                               tmp_path):
  runs = {}
  for weight in ("0", "5"):
    out = str(tmp_path / f"w{weight}.npz")
    result = inpaint(workdir, out, "--num_langevin_steps=3",
                     f"--context_weight={weight}", "--batch_size=3")
    assert result.returncode == 0, result.stderr[-2000:]
    report = _json(result.stdout)
    with np.load(out) as archive:
      runs[weight] = {k: archive[k] for k in archive.files}
    arrays = runs[weight]
    observed = arrays["masks"] == 0
    assert arrays["filled"].shape == (5, 8, 8, 1)
    np.testing.assert_array_equal(arrays["filled"][observed],
                                  arrays["original"][observed])
    assert report["num_steps"] == 3
    assert report["sampler"] == {"context_weight": float(weight)}
    assert report["conditional"] is True and report["step"] == 3
    assert report["mae_missing"] == pytest.approx(
        inpainting.masked_mean_absolute_error(
            arrays["original"], arrays["filled"], arrays["masks"]))
    reference = report["reference_diffusion_fill"]
    assert set(reference) >= {"mae_missing", "psnr_missing"}
    assert reference["mae_missing"] > 0
  # The context term changes the chains, not the observed pixels.
  hole = runs["0"]["masks"] == 1
  assert not np.allclose(runs["0"]["filled"][hole], runs["5"]["filled"][hole])


@pytest.mark.parametrize("flags, message", [
    (("--num_langevin_steps=2,3",),
     "--num_langevin_steps=2,3: num_steps=[2, 3]: a PPGN inpaints with one "
     "chain of MALA-approx steps; give one integer > 0"),
    (("--context_weight=-1",), "--context_weight=-1.0 must be >= 0"),
])
def test_bad_ppgn_inpaint_flags_name_flag_value_and_fix(workdir, tmp_path,
                                                        flags, message):
  out = tmp_path / "bad.npz"
  result = inpaint(workdir, str(out), *flags)
  assert result.returncode == 1
  assert message in result.stderr, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  assert not out.exists()


def test_context_weight_is_refused_for_other_families(tmp_path):
  """Refused from config.json alone, before a model is built."""
  workdir = tmp_path / "mg"
  workdir.mkdir()
  (workdir / "config.json").write_text(support.tiny_config().to_json())
  result = inpaint(str(workdir), str(tmp_path / "m.npz"), "--context_weight=1")
  assert result.returncode == 1
  assert "--context_weight=1.0 needs a model that takes plug-in conditions" in (
      result.stderr), result.stderr[-2000:]
  assert "family='multigrid'" in result.stderr


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
