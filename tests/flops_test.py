"""Tests for tfgen.bench.flops: analytic FLOPs and TF's profiler count."""

import sys

import keras
import pytest

from tfgen.bench import flops
from tfgen.bench import samplers


def test_reference_net_counts():
  """conv3x3-64 s1, conv4x4-128 s2, conv4x4-256 s2, dense-1 at 32x32x3."""
  net = samplers.reference_net((32, 32, 3))
  assert flops.layer_forward_flops(net) == [
      ("conv1", 2 * 3 * 3 * 3 * 64 * 32 * 32),
      ("conv2", 2 * 4 * 4 * 64 * 128 * 16 * 16),
      ("conv3", 2 * 4 * 4 * 128 * 256 * 8 * 8),
      ("score", 2 * 8 * 8 * 256)]
  assert flops.langevin_step_flops(net) == 275_578_880  # 275.6 MFLOP
  small = samplers.reference_net((16, 16, 1))
  assert flops.langevin_step_flops(small) == 67_715_072  # 67.7 MFLOP


def test_analytic_count_matches_the_profiler():
  setup = samplers.reference_setup((8, 8, 2), width=0.25)
  check = flops.check_against_profiler(setup.net, setup.log_prob_fn)
  # A gradient does not need the dense layer's forward product (the score
  # is linear in it): the profiler's pruned graph lacks exactly that.
  dense_forward = flops.layer_forward_flops(setup.net)[-1][1]
  assert check["analytic"] - check["profiler_conv_and_matmul"] == (
      dense_forward)
  assert check["final_dense_forward"] == dense_forward
  assert check["relative_difference"] == 0.0
  # Element-wise ops add a little on top of the convolutions.
  assert check["analytic"] < check["profiler_total"] < (
      1.05 * check["analytic"])


def test_profiler_ignores_pruned_weight_gradients():
  setup = samplers.multigrid_setup((8, 8, 1), width=0.125)
  counted = flops.profiler_flops(setup.log_prob_fn, (8, 8, 1))
  assert set(counted["by_type"]) == set(flops.COUNTED_OPS)
  assert counted["by_type"]["Conv2D"] == counted["by_type"][
      "Conv2DBackpropInput"]


def test_layers_with_other_weights_are_refused():
  inputs = keras.Input((4, 4, 1))
  x = keras.layers.BatchNormalization()(inputs)
  net = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(x)))
  with pytest.raises(ValueError, match="BatchNormalization"):
    flops.forward_flops(net)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
