"""Activations whose gradient graph lets TF fuse the forward convolution.

Keras' `LeakyReLU` differentiates with `LeakyReluGrad(dy, features=x)`, so
the pre-activation `x` (a conv's `BiasAdd` output) stays alive for the
backward pass. In a Langevin step (forward pass, then the gradient to the
input) that extra consumer stops Grappler's remapper from fusing
`Conv2D + BiasAdd + LeakyRelu` into one oneDNN kernel, and with TF 2.21 it
can make the remapper fail on the whole function ("Mutation::Apply error:
fanout ... exist for missing node .../BiasAdd"), dropping every fusion of
that graph. For a slope > 0 the output y has the sign of x, so the same
gradient can be computed from y: `LeakyReluGrad(dy, features=y)`. Values and
gradients are unchanged; only the graph differs (docs/benchmarks.md has the
measured effect).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def leaky_relu(x: tf.Tensor, negative_slope: float = 0.2) -> tf.Tensor:
  """max(x, slope * x) with a gradient computed from the output.

  Args:
    x: any float tensor.
    negative_slope: the slope for x < 0, > 0 (at 0 the output would not
      carry the sign of the input).

  Returns:
    A tensor of x's shape and dtype; d/dx is 1 where x > 0, else the slope.
  """
  if not negative_slope > 0:
    raise ValueError(f"negative_slope={negative_slope!r} must be > 0 for a "
                     "gradient computed from the output, e.g. 0.2.")

  @tf.custom_gradient
  def _leaky_relu(inputs):
    outputs = tf.nn.leaky_relu(inputs, alpha=negative_slope)

    def grad(upstream):
      return tf.raw_ops.LeakyReluGrad(gradients=upstream, features=outputs,
                                      alpha=negative_slope)

    return outputs, grad

  return _leaky_relu(x)


@keras.saving.register_keras_serializable(package="tfgen")
class LeakyReLU(keras.layers.LeakyReLU):
  """`keras.layers.LeakyReLU` whose gradient is computed from its output.

  Same values, gradients, config and weights (none) as the Keras layer, so
  checkpoints of either load into the other; see the module docstring for
  why the graph matters.
  """

  def __init__(self, negative_slope: float = 0.2, **kwargs):
    super().__init__(negative_slope=negative_slope, **kwargs)
    if not negative_slope > 0:
      raise ValueError(f"negative_slope={negative_slope!r} must be > 0, "
                       "e.g. 0.2.")

  def call(self, inputs):
    return leaky_relu(inputs, self.negative_slope)
