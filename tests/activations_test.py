"""Behaviour of tfgen.nets.activations: Keras' leaky ReLU, fusable gradient."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.nets import activations


def _conv_then(activation):
  inputs = keras.Input((8, 8, 3))
  x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
  x = activation(x)
  score = keras.layers.Dense(1, name="score")(keras.layers.Flatten()(x))
  return keras.Model(inputs, score)


def test_values_and_input_gradient_equal_keras_leaky_relu():
  x = tf.constant(np.linspace(-3.0, 3.0, 61, dtype=np.float32))
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    ours = activations.leaky_relu(x, 0.2)
    theirs = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    weighted_ours = tf.reduce_sum(ours * tf.range(61.0))
    weighted_theirs = tf.reduce_sum(theirs * tf.range(61.0))
  np.testing.assert_array_equal(ours, theirs)
  np.testing.assert_array_equal(tape.gradient(weighted_ours, x),
                                tape.gradient(weighted_theirs, x))


def test_net_gradients_to_input_and_weights_equal_the_keras_layers():
  ours = _conv_then(activations.LeakyReLU(negative_slope=0.2))
  theirs = _conv_then(keras.layers.LeakyReLU(negative_slope=0.2))
  theirs.set_weights(ours.get_weights())
  images = tf.random.stateless_uniform([5, 8, 8, 3], seed=[1, 2],
                                       minval=-1.0, maxval=1.0)

  @tf.function
  def gradients(net, x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      total = tf.reduce_sum(net(x))
    return tape.gradient(total, [x] + net.trainable_variables)

  for got, want in zip(gradients(ours, images), gradients(theirs, images)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_layer_is_a_keras_leaky_relu_with_the_same_config():
  layer = activations.LeakyReLU(negative_slope=0.2, name="act")
  assert isinstance(layer, keras.layers.LeakyReLU)
  clone = keras.layers.deserialize(keras.layers.serialize(layer))
  assert type(clone) is activations.LeakyReLU
  assert clone.negative_slope == 0.2 and clone.name == "act"


def test_gradient_graph_does_not_keep_the_pre_activation_alive():
  net = _conv_then(activations.LeakyReLU(negative_slope=0.2))

  @tf.function
  def input_gradient(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      total = tf.reduce_sum(net(x))
    return tape.gradient(total, x)

  graph = input_gradient.get_concrete_function(
      tf.TensorSpec([2, 8, 8, 3])).graph
  grads = [op for op in graph.get_operations() if op.type == "LeakyReluGrad"]
  assert len(grads) == 1
  features = grads[0].inputs[1].op
  while features.type in ("Identity", "IdentityN"):
    features = features.inputs[0].op
  assert features.type == "LeakyRelu", features.type


@pytest.mark.parametrize("slope", [0.0, -0.1])
def test_non_positive_slope_is_rejected(slope):
  with pytest.raises(ValueError, match=f"negative_slope={slope}"):
    activations.leaky_relu(tf.ones([2]), slope)
  with pytest.raises(ValueError, match="negative_slope"):
    activations.LeakyReLU(negative_slope=slope)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q", "-n", "0"]))
