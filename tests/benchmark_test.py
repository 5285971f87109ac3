"""Smoke run of `python -m apps.benchmark sampler` on tiny shapes."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_sampler_benchmark_reports_both_variants_as_json():
  result = subprocess.run(
      [sys.executable, "-m", "apps.benchmark", "sampler", "--json",
       "--repeats=1", "--batch_size=4", "--image_size=8",
       "--grid_sizes=1,4,8", "--num_langevin_steps=2", "--net_width=0.125"],
      cwd=REPO, capture_output=True, text=True, timeout=240)
  assert result.returncode == 0, result.stderr[-2000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert set(report["variants"]) == {"tf_function", "tf_function_xla"}
  for variant in report["variants"].values():
    assert variant["image_steps_per_second"] > 0
  assert report["xla_speedup"] > 0


def test_unknown_benchmark_is_a_usage_error():
  result = subprocess.run([sys.executable, "-m", "apps.benchmark", "serve"],
                          cwd=REPO, capture_output=True, text=True,
                          timeout=120)
  assert result.returncode != 0
  assert "usage: python -m apps.benchmark sampler" in result.stderr


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
