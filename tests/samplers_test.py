"""Tests for tfgen.bench.samplers: the variants run the same chain."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfgen.bench import samplers


def test_parse_shape():
  assert samplers.parse_shape("32x32x3") == (32, 32, 3)
  for bad in ("32x32", "32x16x3", "axbxc", "0x0x1"):
    with pytest.raises(ValueError, match="SIZExSIZExCHANNELS"):
      samplers.parse_shape(bad)


def test_multigrid_grids_extend_the_digits_config():
  assert samplers.multigrid_grid_sizes(16) == (1, 4, 16)
  assert samplers.multigrid_grid_sizes(32) == (1, 4, 16, 32)
  assert samplers.multigrid_grid_sizes(64) == (1, 4, 16, 64)
  assert samplers.multigrid_grid_sizes(8) == (1, 4, 8)


def test_reference_net_architecture():
  net = samplers.reference_net((32, 32, 3))
  convs = [layer for layer in net.layers if "conv" in layer.name]
  assert [(c.filters, c.kernel_size, c.strides) for c in convs] == [
      (64, (3, 3), (1, 1)), (128, (4, 4), (2, 2)), (256, (4, 4), (2, 2))]
  assert net.output_shape == (None, 1)
  assert [c.filters for c in samplers.reference_net(
      (8, 8, 1), width=0.25).layers if "conv" in c.name] == [16, 32, 64]


@pytest.mark.parametrize("kind", samplers.NET_KINDS)
@pytest.mark.parametrize("noise_scale", [1.0, 0.0])
def test_tf_variants_compute_the_same_chain(kind, noise_scale):
  setup = samplers.make_setup(kind, (8, 8, 1), width=0.125,
                              noise_scale=noise_scale)
  chains = samplers.chain_functions(setup, 4, names=samplers.TF_VARIANTS)
  assert set(chains) == set(samplers.TF_VARIANTS)
  start = samplers.start_state(setup, 3).numpy()
  states = {name: chain(start, 5) for name, chain in chains.items()}
  differences = samplers.max_abs_difference(states)
  assert set(differences) == {"tfgen", "eager", "hand_loop_log_prob",
                              "tfgen_keras_leaky_relu", "tfgen_bfloat16",
                              "tfgen_float16"}
  # Mixed-precision nets (8 / 11 bits of mantissa) move the chain a little.
  assert differences.pop("tfgen_bfloat16") < 0.05
  assert differences.pop("tfgen_float16") < 0.01
  assert max(differences.values()) < 1e-5
  assert np.abs(states["hand_loop"] - start).max() > 1e-3  # It moved.
  assert np.all(np.abs(states["xla"]) <= 1.0)


def test_multigrid_setup_is_the_models_kernel():
  setup = samplers.multigrid_setup((16, 16, 1), width=0.125)
  assert setup.net.name == "energy_grid16"
  x = samplers.start_state(setup, 2)
  expected = (setup.net(x)[:, 0] -
              0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3]))
  np.testing.assert_allclose(setup.log_prob_fn(x), expected, rtol=1e-6)
  np.testing.assert_allclose(setup.kernel.target_log_prob_fn(x), expected,
                             rtol=1e-6)


def test_unknown_names_and_missing_torch():
  setup = samplers.make_setup("reference", (4, 4, 1), width=0.125)
  with pytest.raises(ValueError, match="variant='jax'"):
    samplers.chain_functions(setup, 1, names=("jax",))
  with pytest.raises(ValueError, match="net='resnet'"):
    samplers.make_setup("resnet", (4, 4, 1))
  # Torch variants are left out, not an error, when torch is not given.
  assert set(samplers.chain_functions(
      setup, 1, names=samplers.VARIANTS)) == set(samplers.TF_VARIANTS)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
