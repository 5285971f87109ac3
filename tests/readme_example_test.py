"""The README's custom energy / condition example runs as printed."""

import os
import re
import sys

import pytest

import support

MARKER = "<!-- readme-example: custom-energy-and-condition -->"


def readme_example() -> str:
  with open(os.path.join(support.REPO, "README.md")) as f:
    text = f.read()
  assert MARKER in text, "the README lost its example"
  block = re.search(r"```python\n(.*?)```", text[text.index(MARKER):],
                    re.DOTALL)
  return block.group(1)


def test_the_readme_example_samples_a_custom_energy_and_condition(tmp_path):
  workdir = str(tmp_path / "ppgn")
  trained = support.run_module("apps.train", *support.tiny_flags("ppgn"),
                               "--num_steps=4", f"--workdir={workdir}",
                               timeout=300)
  assert trained.returncode == 0, trained.stderr[-3000:]
  code = readme_example().replace('"runs/ppgn"', repr(workdir))
  result = support.python("-c", code, timeout=300,
                          env=dict(os.environ, PYTHONPATH=support.REPO))
  assert result.returncode == 0, result.stderr[-3000:]
  lines = dict(line.split(" ", 1) for line in result.stdout.splitlines()
               if line.startswith(("mean", "images")))
  # The Langevin chains found the custom energy's mean, 0.5 per pixel.
  assert abs(float(lines["mean"].split()[-1]) - 0.5) < 0.05
  assert lines["images"] == "(8, 8, 8, 1)"


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
