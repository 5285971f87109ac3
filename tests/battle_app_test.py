"""apps.battle: bad inputs fail with the flag, the value and the fix; a
battle of two tiny GRAN .keras files writes JSON and Markdown."""

import sys
import json

import pytest

import support


def _fails(*flags):
  result = support.run_module("apps.battle", *flags)
  assert result.returncode != 0
  return result.stderr


def test_one_model_is_not_a_battle(tmp_path):
  err = _fails("--workdirs=runs/a", f"--output={tmp_path}/b.json")
  assert "names 1 model(s); a battle needs at least two" in err


def test_bad_canvas_steps_suffix(tmp_path):
  err = _fails("--workdirs=a.keras@0,b.keras", f"--output={tmp_path}/b.json")
  assert "'@' must be an integer >= 1" in err


@pytest.fixture(scope="module")
def tiny_gran_file(tmp_path_factory):
  from tfgen.models import gran  # pylint: disable=g-import-not-at-top
  model = gran.GRAN(image_size=16, noise_dim=8, generator_width=0.125,
                    discriminator_width=0.125, num_canvas_steps=2, seed=2)
  path = str(tmp_path_factory.mktemp("gran") / "tiny.keras")
  model.save(path)
  return path


def test_battle_of_two_files_writes_json_and_markdown(tmp_path,
                                                      tiny_gran_file):
  out = tmp_path / "b.json"
  result = support.run_module(
      "apps.battle", f"--workdirs={tiny_gran_file},{tiny_gran_file}@3",
      "--dataset=digits", "--num_samples=20", "--num_test=40",
      "--num_bootstrap=10", f"--output={out}")
  assert result.returncode == 0, result.stderr[-2000:]
  report = json.loads(out.read_text())
  assert report["battles"][0]["name_2"] == "tiny@3"
  assert report["battles"][0]["r_test"] == 1.0
  assert len(report["matrix"]["sample_error"]) == 2
  assert "| tiny vs tiny@3 |" in (tmp_path / "b.md").read_text()


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
