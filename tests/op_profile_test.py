"""tfgen.bench.op_profile: op times from TF's profiler, conv GFLOP/s."""

import sys

import pytest
import tensorflow as tf

from tfgen.bench import flops
from tfgen.bench import op_profile
from tfgen.bench import samplers


def test_profiled_sampler_call_shows_each_conv_forward_and_backward():
  setup = samplers.make_setup("reference", (8, 8, 1), width=0.125)
  chain = samplers.tfgen_chain(setup, 2)
  start = samplers.start_state(setup, 4)
  seed = tf.constant([0, 1], tf.int32)
  chain(start, seed)
  profile = op_profile.profile_call(chain, start, seed)
  types = set(profile["by_type"])
  assert types & set(op_profile.CONV_FORWARD_TYPES)
  assert types & set(op_profile.CONV_BACKWARD_INPUT_TYPES)
  assert "StatelessRandomNormalV2" in types
  assert not any(":" in name for name in types)  # Runtime events left out.
  assert profile["op_milliseconds"] == pytest.approx(
      sum(profile["by_node"].values()))
  assert profile["wall_milliseconds"] > 0


def test_a_given_logdir_keeps_the_trace(tmp_path):
  setup = samplers.make_setup("reference", (4, 4, 1), width=0.125)
  chain = samplers.tfgen_chain(setup, 1)
  start = samplers.start_state(setup, 2)
  seed = tf.constant([0, 1], tf.int32)
  chain(start, seed)
  op_profile.profile_call(chain, start, seed, logdir=str(tmp_path))
  assert list(tmp_path.glob("**/*.xplane.pb"))


def test_conv_rates_divide_the_analytic_conv_flops_by_the_op_time():
  net = samplers.reference_net((8, 8, 1), width=0.125)
  conv_flops = sum(count for name, count in flops.layer_forward_flops(net)
                   if name.startswith("conv"))
  profile = {"by_type": {"_MklNativeFusedConv2D": 2.0,
                         "_MklNativeConv2DBackpropInput": 4.0, "Mul": 2.0},
             "op_milliseconds": 8.0}
  rates = op_profile.conv_rates(profile, net, batch_size=10, num_steps=3)
  total = conv_flops * 10 * 3
  assert rates["forward"]["gflops"] == pytest.approx(total / 2e6)
  assert rates["backward_to_input"]["gflops"] == pytest.approx(total / 4e6)
  assert rates["other_ops_share"] == pytest.approx(0.25)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
