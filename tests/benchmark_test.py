"""Smoke runs of `python -m apps.benchmark sampler|train|serve` on tiny shapes.

Benchmarks are not unit tests: these only keep the commands working (one
repetition, tiny nets), with or without torch installed.
"""

import json
import os
import sys

import pytest

import support

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--json", "--repeats=1", "--batch_size=4", "--num_langevin_steps=2",
        "--net_width=0.125", "--settle_seconds=0"]


def _torch_installed():
  try:
    import torch  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


def _run(args, env=None, timeout=300):
  result = support.python("-m", "apps.benchmark", *args, timeout=timeout,
                          env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def test_sampler_reports_every_variant_ratio_and_target():
  report = _run(["sampler", *TINY, "--shapes=8x8x1", "--matmul_size=64"])
  torch = _torch_installed()
  expected = {"tfgen", "hand_loop", "eager", "xla", "tfgen_bfloat16"}
  if torch:
    expected |= {"torch_eager", "torch_channels_last"}
  else:
    assert report["torch"].startswith("skipped")
  assert [g["net"] for g in report["groups"]] == ["reference", "multigrid"]
  for group in report["groups"]:
    assert set(group["variants"]) == expected
    for variant in group["variants"].values():
      assert variant["image_steps_per_second"] > 0 and variant["gflops"] > 0
    assert group["matmul_gflops"]["peak"] > 0
    assert group["flops_check"]["relative_difference"] == 0.0
    differences = dict(group["max_abs_difference_vs_hand_loop"])
    # bfloat16 convs (8 bits of mantissa) move the chain a little.
    assert differences.pop("tfgen_bfloat16") < 0.05
    assert max(differences.values()) < 1e-4
    assert {"tfgen_vs_matmul_peak", "tfgen_vs_hand_loop",
            "tfgen_vs_eager", "tfgen_vs_xla"} <= set(group["ratios"])
    assert ("tfgen_vs_torch_best" in group["ratios"]) == torch
    if torch:
      assert group["flops_check"]["torch_flop_counter"] == (
          group["flops_per_image_step"])
  targets = {(t["target"], t["where"]) for t in report["targets"]}
  assert ("tfgen_vs_matmul_peak >= 0.85", "reference 8x8x1") in targets
  assert ("tfgen_vs_hand_loop >= 0.95", "multigrid 8x8x1") in targets
  assert report["machine"]["cores"] >= 1
  assert report["wall_seconds"] > 0 and set(report["load_average"]) == {
      "start", "end"}
  assert isinstance(report["jit_compile_recommended"], bool)


def test_sampler_says_skipped_without_torch(tmp_path):
  # A `torch` package that fails to import stands for an absent torch.
  os.makedirs(tmp_path / "torch")
  (tmp_path / "torch" / "__init__.py").write_text(
      "raise ImportError('torch hidden by the test')\n")
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(tmp_path), REPO, os.environ.get("PYTHONPATH", "")]))
  report = _run(["sampler", *TINY, "--shapes=4x4x1", "--matmul_size=32",
                 "--nets=reference", "--variants=tfgen,torch_eager"],
                env=env)
  assert report["torch"].startswith("skipped: torch is not installed")
  assert set(report["groups"][0]["variants"]) == {"tfgen"}
  assert report["machine"]["torch"] is None
  target = [t for t in report["targets"]
            if t["target"].startswith("tfgen_vs_torch_best")][0]
  assert target["met"] is None and target["value"] is None


def test_ops_splits_a_sampler_call_into_conv_kernels_and_the_rest():
  report = _run(["ops", *TINY, "--shapes=8x8x1", "--matmul_size=64"])
  assert [g["net"] for g in report["groups"]] == ["reference", "multigrid"]
  for group in report["groups"]:
    assert group["wall_milliseconds"] > 0 and group["matmul_gflops"] > 0
    # Each of the net's convs runs forward and backward to the input.
    for key in ("forward", "backward_to_input"):
      assert group["conv"][key]["milliseconds"] > 0
      assert group["conv"][key]["gflops"] > 0
    assert 0.0 <= group["conv"]["other_ops_share"] < 1.0
    assert sum(group["by_type"].values()) == pytest.approx(
        group["op_milliseconds"])
    assert not any(name.endswith(("Process", "Run"))
                   for name in group["by_type"])


def test_train_measures_each_config_and_precision_in_its_own_process():
  report = _run(["train", *TINY, "--train_configs=1-4-8,1-4",
                 "--precisions=float32,mixed_bfloat16"])
  first, second, third, fourth = report["rows"]
  assert first["grid_sizes"] == [1, 4, 8] and second["grid_sizes"] == [1, 4]
  assert [r["precision"] for r in report["rows"]] == [
      "float32", "float32", "mixed_bfloat16", "mixed_bfloat16"]
  assert third["grid_sizes"] == [1, 4, 8] and fourth["grid_sizes"] == [1, 4]
  for row in report["rows"]:
    assert row["median_seconds"] > 0 and row["peak_rss_bytes"] > 0
    assert row["first_iteration_seconds"] > 0 and row["finite_metrics"]
    shares = row["iteration_shares"]
    parts = ("input", "langevin_chains", "parameter_update", "summaries")
    assert sum(shares[k] for k in parts) == pytest.approx(1.0)
    assert all(shares[k] >= 0 for k in parts)
    assert shares["langevin_chains"] > 0 and shares["parameter_update"] > 0
  assert first["time_vs_first"] == 1.0 and third["time_vs_first"] == 1.0
  assert second["flops_vs_first"] < 1.0


def test_serve_times_three_paths_and_stops_the_server():
  report = _run(["serve", *TINY, "--grid_sizes=1,4,8", "--serve_batches=1,3",
                 "--serve_requests=2", "--serve_steps=1,4",
                 "--serve_steps_batch=2"], timeout=600)
  assert set(report["latency"]) == {"1", "3"}
  for row in report["latency"].values():
    for path in ("in_process", "in_process_any_batch", "saved_model",
                 "rest"):
      assert 0 < row[path]["p50"] <= row[path]["p95"]
      assert row[path]["requests"] == 2
    assert row["saved_model_vs_in_process"] > 0
    assert row["saved_model_vs_in_process_any_batch"] > 0
  by_steps = report["latency_by_steps"]
  assert by_steps["samples_per_request"] == 2
  assert set(by_steps["steps"]) == {"1", "4"}
  for row in by_steps["steps"].values():
    for path in ("saved_model", "rest"):
      assert 0 < row[path]["p50"] <= row[path]["p90"]
      assert row[path]["requests"] == 2
  assert report["model"]["trained_here"]
  assert report["server_exit_code"] == 0  # Stopped by SIGTERM, cleanly.
  assert len(report["targets"]) == 2
  cost = report["export"]
  assert cost["export_command_seconds"] > cost["load_seconds"] > 0
  assert cost["saved_model_pb_bytes"] > 10_000


@pytest.mark.parametrize("args", [["bogus"], [], ["sampler", "train"]])
def test_unknown_benchmark_is_a_usage_error(args):
  result = support.python("-m", "apps.benchmark", *args, timeout=300)
  assert result.returncode != 0
  assert "usage: python -m apps.benchmark sampler|ops|train|serve" in (
      result.stderr)


@pytest.mark.parametrize("args,message", [
    (["sampler", "--shapes=8x8"], "--shapes: shape='8x8' must be "
     "SIZExSIZExCHANNELS"),
    (["sampler", "--nets=bogus"], "--nets: ['bogus'] not in"),
    (["sampler", "--repeats=0"], "--repeats=0 must be positive."),
    (["ops", "--nets=bogus"], "--nets: ['bogus'] not in"),
    (["train", "--train_configs=16"], "--train_configs: train config '16' "
     "must be grid sizes joined by '-'"),
    (["train", "--precisions=half"], "--precisions: 'half' is not one of "
     "float32, mixed_bfloat16, mixed_float16."),
    (["serve", "--serve_steps=10,x"], "--serve_steps=10,x must be integers "
     ">= 1 (Langevin steps per grid), e.g. --serve_steps=10,30,90."),
])
def test_bad_flags_are_usage_errors(args, message):
  result = support.python("-m", "apps.benchmark", *args, timeout=300)
  assert result.returncode == 1 and message in result.stderr


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
