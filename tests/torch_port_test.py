"""Tests for tfgen.bench.torch_port: the PyTorch nets equal the Keras ones.

Skipped where torch is not installed (it is the optional `bench` extra).
"""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.bench import flops
from tfgen.bench import samplers
from tfgen.bench import torch_port

torch = pytest.importorskip("torch")


def _setups():
  # The multigrid net's 5x5 and 3x3 stride-2 convs pad asymmetrically.
  return [samplers.reference_setup((8, 8, 3), width=0.25),
          samplers.multigrid_setup((16, 16, 1), width=0.125)]


@pytest.mark.parametrize("channels_last", [False, True])
def test_gradients_equal_tensorflow(channels_last):
  for setup in _setups():
    model = torch_port.convert(setup.net, channels_last=channels_last)
    start = samplers.start_state(setup, 3)
    with tf.GradientTape() as tape:
      tape.watch(start)
      total = tf.reduce_sum(setup.log_prob_fn(start))
    expected = tape.gradient(total, start).numpy()
    got = torch_port.gradient(model, start.numpy(),
                              channels_last=channels_last)
    np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=setup.name)


def test_noise_free_chain_equals_the_hand_loop():
  setup = samplers.make_setup("reference", (8, 8, 1), width=0.25,
                              noise_scale=0.0)
  start = samplers.start_state(setup, 2).numpy()
  expected = samplers.chain_functions(setup, 3, ["hand_loop"])["hand_loop"](
      start, 0)
  for channels_last in (False, True):
    run = torch_port.chain(torch_port.convert(setup.net, channels_last), 3,
                           setup.step_size, 0.0,
                           channels_last=channels_last)
    np.testing.assert_allclose(run(start, 0), expected, atol=1e-5)


def test_flop_counter_agrees_with_the_analytic_count():
  for setup in _setups():
    model = torch_port.convert(setup.net)
    assert torch_port.flops(model, setup.image_shape) == (
        flops.langevin_step_flops(setup.net))


def test_parameters_are_frozen_and_unknown_layers_refused():
  model = torch_port.convert(_setups()[0].net)
  assert not any(p.requires_grad for p in model.parameters())
  inputs = keras.Input((4, 4, 1))
  net = keras.Model(inputs, keras.layers.Dense(1)(
      keras.layers.GlobalAveragePooling2D()(inputs)))
  with pytest.raises(ValueError, match="GlobalAveragePooling2D"):
    torch_port.convert(net)
  assert torch_port.load() is torch


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
