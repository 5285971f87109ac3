"""Tests for tfgen.bench.train_cost: configs, FLOPs, one measured run."""

import sys

import pytest

from tfgen import config as config_lib
from tfgen.bench import flops
from tfgen.bench import train_cost
from tfgen.train import workdir as workdir_lib


def test_digits_config_is_the_default_at_16():
  config = train_cost.digits_config((1, 4, 16))
  assert config == config_lib.ExperimentConfig().validate()
  assert config.model.noise_scale == (0.3, 0.0)
  assert config.train.batch_size == 100
  assert config.model.num_langevin_steps == (30,)


def test_larger_configs_keep_noise_on_the_second_grid_only():
  config = train_cost.digits_config((1, 4, 16, 64), batch_size=8,
                                    num_langevin_steps=5, net_width=0.5)
  assert config.data.image_size == 64
  assert config.model.grid_sizes == (1, 4, 16, 64)
  assert config.model.noise_scale == (0.3, 0.0, 0.0)
  assert (config.train.batch_size, config.model.num_langevin_steps,
          config.model.net_width) == (8, (5,), 0.5)


def test_parse_grids():
  assert train_cost.parse_grids("1-4-16-32") == (1, 4, 16, 32)
  for bad in ("16", "1,4,16", "1-x"):
    with pytest.raises(ValueError, match="joined by '-'"):
      train_cost.parse_grids(bad)


def test_iteration_flops_formula():
  config = train_cost.digits_config((1, 4, 8), batch_size=2,
                                    num_langevin_steps=3, net_width=0.125)
  model = workdir_lib.build_model(config)
  expected = 0
  for net in model.energy_nets:
    forward = flops.forward_flops(net)
    first = flops.layer_forward_flops(net)[0][1]
    expected += 2 * (3 * 2 * forward + 2 * (3 * forward - first))
  assert train_cost.iteration_flops(model, 2) == expected


def test_measure_a_tiny_config():
  config = train_cost.digits_config((1, 4, 8), batch_size=4,
                                    num_langevin_steps=2, net_width=0.125)
  row = train_cost.measure(config, iterations=2)
  assert row["grid_sizes"] == [1, 4, 8] and row["iterations"] == 2
  assert row["min_seconds"] <= row["median_seconds"] <= row["max_seconds"]
  assert row["images_per_second"] == pytest.approx(
      4 / row["median_seconds"])
  assert row["first_iteration_seconds"] > 0 and row["gflops"] > 0
  assert row["peak_rss_bytes"] >= row["rss_before_model_bytes"] * 0.95
  assert row["finite_metrics"]
  rows = train_cost.growth([dict(row), dict(row, median_seconds=2 *
                                            row["median_seconds"])])
  assert [r["time_vs_first"] for r in rows] == [1.0, 2.0]
  assert rows[1]["flops_vs_first"] == 1.0
  with pytest.raises(ValueError, match="iterations=0"):
    train_cost.measure(config, iterations=0)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
