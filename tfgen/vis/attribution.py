"""What an energy net responds to, through tf-keras-vis.

* `saliency_maps(net, images)`: |d f(x) / d x| per pixel (tf-keras-vis
  `Saliency`, vanilla gradients, max over channels, each map scaled to
  [0, 1]): where in an image the score f reacts most.
* `maximize_filters(net, layer, filters)`: inputs in [-1, 1] that maximise
  the mean activation of given filters of a conv layer (tf-keras-vis
  `ActivationMaximization`, from a seeded random start, with total-variation
  and L2 regularisers and no random input modifiers, so the result is a
  function of the seed).

The energy nets of `MultigridEBM` are functional Keras 3 models, which is
what tf-keras-vis 0.8.7 needs; `as_functional` wraps any other Keras model
(e.g. a subclassed one) in a functional model first. The score is linear in
the last layer, so no softmax has to be replaced.
"""

from __future__ import annotations

import contextlib
from typing import Optional, Sequence
import warnings

import keras
import numpy as np
import tensorflow as tf
from tf_keras_vis.activation_maximization import ActivationMaximization
from tf_keras_vis.activation_maximization import regularizers
from tf_keras_vis.saliency import Saliency

from tfgen.metrics import features


@contextlib.contextmanager
def _quiet_input_structure_warning():
  """tf-keras-vis calls models with a list of inputs; Keras 3 warns, harmlessly."""
  with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="The structure of `inputs` doesn't match")
    yield


def as_functional(net: keras.Model,
                  input_shape: Optional[Sequence[int]] = None) -> keras.Model:
  """`net` itself if functional (or Sequential), else a functional wrapper.

  A subclassed model is wrapped as `keras.Model(x, net(x))` with
  `x = keras.Input(input_shape)`; `input_shape` (without the batch axis) is
  required for it.
  """
  if isinstance(net, keras.Sequential) or type(net).__name__ == "Functional":
    return net
  if input_shape is None:
    raise ValueError(f"Model {net.name!r} is subclassed: pass input_shape "
                     "(e.g. (16, 16, 1)) to wrap it in a functional model.")
  inputs = keras.Input(tuple(input_shape), name="images")
  return keras.Model(inputs, net(inputs), name=f"{net.name}_functional")


def class_score(class_id: Optional[int] = None, num_outputs: int = 1):
  """Score function for tf-keras-vis: output [B, K] -> its column [B].

  `class_id` picks the class of a conditional net (K classes); an
  unconditional net has one output (K = 1), used when `class_id` is None.
  """
  if class_id is None:
    if num_outputs != 1:
      raise ValueError(f"The net has {num_outputs} outputs (one per class): "
                       "pass class_id.")
    class_id = 0
  if not 0 <= class_id < num_outputs:
    raise ValueError(f"class_id={class_id} must lie in [0, "
                     f"{num_outputs - 1}] for a net with {num_outputs} "
                     "outputs.")
  return lambda output: output[:, class_id]


def _check_images(net: keras.Model, images) -> np.ndarray:
  images = np.asarray(images, np.float32)
  expected = tuple(net.inputs[0].shape[1:])
  if images.ndim != 4 or images.shape[1:] != expected or not len(images):
    raise ValueError(f"images has shape {images.shape}, but the net "
                     f"{net.name!r} takes [N, {', '.join(map(str, expected))}]"
                     " with N >= 1.")
  return images


def saliency_maps(net: keras.Model, images, class_id: Optional[int] = None
                  ) -> np.ndarray:
  """Saliency of the score f w.r.t. the input: [N, H, W] in [0, 1].

  Args:
    net: an energy net, images [B, H, W, C] in [-1, 1] -> scores [B, K].
    images: [N, H, W, C] in [-1, 1].
    class_id: which score of a conditional net (K > 1).
  """
  net = as_functional(net)
  images = _check_images(net, images)
  score = class_score(class_id, int(net.outputs[0].shape[-1]))
  with _quiet_input_structure_warning():
    maps = Saliency(net, clone=False)(score, images, keepdims=False,
                                      normalize_map=True)
  return np.asarray(maps, np.float32).reshape(images.shape[:3])


def conv_layer_names(net: keras.Model) -> list[str]:
  """Names of the net's Conv2D layers, input to output (e.g. conv1, conv2)."""
  return [name for name, _ in features.conv_activations(net)]


def _activation_model(net: keras.Model, layer_name: str) -> keras.Model:
  """net's inputs -> the activated output of conv layer `layer_name`."""
  outputs = dict(features.conv_activations(net))
  if layer_name not in outputs:
    raise ValueError(f"layer_name={layer_name!r} is not a conv layer of "
                     f"{net.name!r}; its conv layers: {list(outputs)}.")
  return keras.Model(net.inputs, outputs[layer_name],
                     name=f"{net.name}_{layer_name}")


def maximize_filters(net: keras.Model, layer_name: str,
                     filters: Sequence[int], seed: int = 0,
                     steps: int = 100, learning_rate: float = 0.05,
                     total_variation_weight: float = 0.1,
                     norm_weight: float = 0.01) -> np.ndarray:
  """Inputs [F, H, W, C] in [-1, 1] maximising each filter's mean activation.

  Args:
    net: an energy net (functional, see `as_functional`).
    layer_name: one of `conv_layer_names(net)`; its activated output (after
      the non-linearity) is maximised.
    filters: the F channel indices of that layer; input i maximises the mean
      over positions of channel filters[i].
    seed: the random start, uniform in [-0.1, 0.1], is drawn with
      `np.random.default_rng(seed)`.
    steps: Adam steps of the maximisation.
    learning_rate: Adam learning rate.
    total_variation_weight, norm_weight: weights of tf-keras-vis'
      TotalVariation2D and L2 Norm regularisers (smoother, smaller inputs).
      Both are averages over pixels; larger weights than these flattened
      the images of our small nets.

  Returns:
    The optimised inputs, clipped to [-1, 1] (tf-keras-vis' input_range).
  """
  net = as_functional(net)
  sub_model = _activation_model(net, layer_name)
  depth = int(sub_model.output.shape[-1])
  filters = [int(f) for f in filters]
  if not filters or any(not 0 <= f < depth for f in filters):
    raise ValueError(f"filters={filters} must be a non-empty list of "
                     f"channels in [0, {depth - 1}] of layer {layer_name!r}.")
  if not isinstance(steps, int) or steps <= 0:
    raise ValueError(f"steps={steps!r} must be a positive int, e.g. 100.")
  chosen = tf.constant(filters)

  def score(output):
    # Mean activation of channel filters[i] in the i-th input: [F].
    per_channel = tf.reduce_mean(output, axis=[1, 2])
    return tf.gather(per_channel, chosen, axis=1, batch_dims=1)

  rng = np.random.default_rng(seed)
  shape = (len(filters),) + tuple(net.inputs[0].shape[1:])
  start = rng.uniform(-0.1, 0.1, size=shape).astype(np.float32)
  maximizer = ActivationMaximization(sub_model, clone=False)
  with _quiet_input_structure_warning():
    result = maximizer(
        score, seed_input=start, input_range=(-1.0, 1.0), input_modifiers=[],
        regularizers=[regularizers.TotalVariation2D(total_variation_weight),
                      regularizers.Norm(norm_weight, p=2)],
        steps=steps, optimizer=keras.optimizers.Adam(learning_rate))
  return np.clip(np.asarray(result, np.float32), -1.0, 1.0)


def filter_activation(net: keras.Model, layer_name: str, images,
                      filters: Sequence[int]) -> np.ndarray:
  """Mean activated output [N, F] of `filters` of a conv layer for images."""
  net = as_functional(net)
  images = _check_images(net, images)
  maps = np.asarray(_activation_model(net, layer_name)(images,
                                                       training=False))
  return maps.mean(axis=(1, 2))[:, list(filters)]
