"""tfgen.vis.attribution: saliency and activation maximisation of energy nets."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import data
from tfgen.nets import energy
from tfgen.vis import attribution


def tiny_net(size=8, seed=0):
  net = energy.build_energy_net(size, 1, energy.energy_net_spec(size, 0.125))
  rng = np.random.default_rng(seed)
  for weight in net.weights:
    weight.assign(rng.normal(0, 0.2, weight.shape).astype(np.float32))
  return net


def digits(count=4):
  return data.arrays("digits", "test", 8, max_examples=count)[0]


def test_saliency_is_the_normalised_absolute_input_gradient_of_the_score():
  net = tiny_net()
  images = digits()
  maps = attribution.saliency_maps(net, images)
  assert maps.shape == (4, 8, 8)
  x = tf.constant(images)
  with tf.GradientTape() as tape:
    tape.watch(x)
    score = net(x)[:, 0]
  grads = np.abs(tape.gradient(score, x).numpy()).max(axis=-1)
  low = grads.min(axis=(1, 2), keepdims=True)
  high = grads.max(axis=(1, 2), keepdims=True)
  np.testing.assert_allclose(maps, (grads - low) / (high - low), atol=1e-4)


def test_saliency_is_zero_where_the_score_ignores_the_input():
  inputs = keras.Input((8, 8, 1))
  left = keras.layers.Cropping2D(((0, 0), (0, 4)))(inputs)
  score = keras.layers.Dense(1)(keras.layers.Flatten()(left))
  net = keras.Model(inputs, score)
  maps = attribution.saliency_maps(net, digits(2))
  assert np.all(maps[:, :, 4:] == 0.0)
  np.testing.assert_allclose(maps[:, :, :4].max(axis=(1, 2)), 1.0, atol=1e-5)


def test_saliency_of_a_conditional_net_needs_a_valid_class():
  inputs = keras.Input((8, 8, 1))
  scores = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
  net = keras.Model(inputs, scores)
  with pytest.raises(ValueError, match="3 outputs .* pass class_id"):
    attribution.saliency_maps(net, digits(2))
  with pytest.raises(ValueError, match=r"class_id=3 must lie in \[0, 2\]"):
    attribution.saliency_maps(net, digits(2), class_id=3)
  # Class 1's saliency is |weights of column 1|, normalised.
  maps = attribution.saliency_maps(net, digits(2), class_id=1)
  column = np.abs(net.layers[-1].kernel.numpy()[:, 1]).reshape(8, 8)
  expected = (column - column.min()) / (column.max() - column.min())
  np.testing.assert_allclose(maps[0], expected, atol=1e-5)


def test_activation_maximisation_raises_the_chosen_filters_and_is_seeded():
  net = tiny_net()
  assert attribution.conv_layer_names(net) == ["conv1"]
  layer = "conv1"
  filters = [0, 3]
  maximised = attribution.maximize_filters(net, layer, filters, seed=1,
                                           steps=30)
  assert maximised.shape == (2, 8, 8, 1)
  assert maximised.min() >= -1.0 and maximised.max() <= 1.0
  start = np.random.default_rng(1).uniform(-0.1, 0.1, maximised.shape)
  before = np.diag(attribution.filter_activation(net, layer, start, filters))
  after = np.diag(attribution.filter_activation(net, layer, maximised,
                                                filters))
  assert np.all(after > before + 0.3), (before, after)
  again = attribution.maximize_filters(net, layer, filters, seed=1, steps=30)
  np.testing.assert_allclose(again, maximised, atol=1e-5)


def test_activation_maximisation_rejects_unknown_layers_and_filters():
  net = tiny_net()
  with pytest.raises(ValueError, match="layer_name='conv9' is not a conv layer"):
    attribution.maximize_filters(net, "conv9", [0])
  layer = attribution.conv_layer_names(net)[0]
  with pytest.raises(ValueError, match=r"filters=\[99\] must be"):
    attribution.maximize_filters(net, layer, [99])


def test_subclassed_models_are_wrapped_given_their_input_shape():

  class Doubler(keras.Model):

    def __init__(self):
      super().__init__()
      self.dense = keras.layers.Dense(1)

    def call(self, x):
      return self.dense(keras.ops.reshape(x, (-1, 64)))

  model = Doubler()
  with pytest.raises(ValueError, match="pass input_shape"):
    attribution.as_functional(model)
  wrapped = attribution.as_functional(model, (8, 8, 1))
  maps = attribution.saliency_maps(wrapped, digits(2))
  assert maps.shape == (2, 8, 8)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
