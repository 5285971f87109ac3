"""FLOPs of one Langevin step of an energy net, per image.

A Langevin step evaluates `grad_x log p(x)`: one forward pass of the energy
net and one backward pass *to the input* (no weight gradients). For a
convolution with a k_h x k_w kernel, C_in input and C_out output channels and
an H_out x W_out output map, and for a dense layer with n_in inputs and n_out
outputs,

    forward(conv)  = 2 * k_h * k_w * C_in * C_out * H_out * W_out
    forward(dense) = 2 * n_in * n_out

(one multiply and one add per weight use). The backward pass to the input of
each layer is the transposed operation, with the same count, so

    langevin_step_flops = 2 * sum over conv and dense layers of forward.

Element-wise work (bias, activation, the Gaussian reference term, the update
itself) is left out: it is well under 1% for these nets (`profiler_flops`
measures it). The stride-2 "same" convolutions here have H_out = H_in / 2
exactly, where TF's profiler formula for `Conv2DBackpropInput` equals the
forward count.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import tensorflow as tf

# Op types whose FLOPs the analytic count covers.
COUNTED_OPS = ("Conv2D", "Conv2DBackpropInput", "MatMul")


def layer_forward_flops(net: keras.Model) -> list[tuple[str, int]]:
  """(layer name, forward FLOPs per image) of every conv and dense layer."""
  counts = []
  for layer in net.layers:
    if isinstance(layer, keras.layers.Conv2D):
      kernel_h, kernel_w, channels_in, channels_out = layer.kernel.shape
      out_h, out_w = layer.output.shape[1:3]
      counts.append((layer.name, 2 * kernel_h * kernel_w * channels_in *
                     channels_out * out_h * out_w))
    elif isinstance(layer, keras.layers.Dense):
      inputs, outputs = layer.kernel.shape
      counts.append((layer.name, 2 * inputs * outputs))
    elif layer.weights and not isinstance(layer, keras.layers.InputLayer):
      raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) has "
                       "weights but is not Conv2D or Dense: its FLOPs are not "
                       "counted by this module.")
  return counts


def forward_flops(net: keras.Model) -> int:
  """FLOPs of one forward pass of one image (conv and dense layers)."""
  return int(sum(flops for _, flops in layer_forward_flops(net)))


def langevin_step_flops(net: keras.Model) -> int:
  """FLOPs of one image's forward + backward-to-input pass."""
  return 2 * forward_flops(net)


def _gradient_graph(log_prob_fn, image_shape):
  """A batch-1 graph of grad_x sum(log_prob_fn(x)) and its output ops."""

  def grad(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      total = tf.reduce_sum(log_prob_fn(x))
    return tape.gradient(total, x)

  concrete = tf.function(grad).get_concrete_function(
      tf.TensorSpec([1, *image_shape], tf.float32))
  return concrete.graph, [t.op for t in concrete.outputs]


def _ops_feeding(outputs) -> list:
  """The ops the outputs depend on (what runs after graph pruning)."""
  seen, stack, found = set(), list(outputs), []
  while stack:
    op = stack.pop()
    if op.name in seen:
      continue
    seen.add(op.name)
    found.append(op)
    stack.extend(t.op for t in op.inputs)
    stack.extend(op.control_inputs)
  return found


def _profile(graph, op_names) -> int:
  profiler = tf.compat.v1.profiler
  builder = profiler.ProfileOptionBuilder
  pattern = "^(" + "|".join(re.escape(name) for name in op_names) + ")$"
  options = (builder(builder.float_operation())
             .with_node_names(show_name_regexes=[pattern])
             .with_empty_output().build())
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel("ERROR")  # The v1 profiler logs deprecation warnings.
  try:
    return int(profiler.profile(graph, cmd="scope",
                                options=options).total_float_ops)
  finally:
    logger.setLevel(level)


def profiler_flops(log_prob_fn, image_shape) -> dict:
  """TF's profiler count of one image's gradient evaluation.

  Traces `grad_x log_prob_fn(x)` for one image of `image_shape` (H, W, C),
  keeps the ops the gradient depends on (the graph also holds weight
  gradients that TF's graph pruning drops at run time) and sums the
  profiler's registered float-op statistics.

  Returns:
    {"total": every op with a registered count, "conv_and_matmul": the op
    types the analytic formula covers, "by_type": {one of those types:
    flops}}.
  """
  graph, outputs = _gradient_graph(log_prob_fn, tuple(image_shape))
  with graph.as_default():
    needed = _ops_feeding(outputs)
    by_type = {}
    for op_type in COUNTED_OPS:
      names = [op.name for op in needed if op.type == op_type]
      by_type[op_type] = _profile(graph, names) if names else 0
    total = _profile(graph, [op.name for op in needed])
  return {"total": total, "conv_and_matmul": sum(by_type.values()),
          "by_type": by_type}


def check_against_profiler(net: keras.Model, log_prob_fn) -> dict:
  """Analytic count vs the profiler's, for the docs and tests.

  A gradient alone does not need the forward product of a final dense layer
  (the score is linear in it, so its backward pass uses only the weights):
  the profiler's pruned graph lacks exactly that product (so do the
  samplers' graphs: it is < 0.02% of the count for the nets benchmarked,
  which the analytic formula keeps for simplicity). It is subtracted before
  the comparison.

  Returns {"analytic", "profiler_total", "profiler_conv_and_matmul",
  "final_dense_forward", "relative_difference"}, the last comparing
  analytic - final_dense_forward with the profiler's conv + matmul count.
  """
  analytic = langevin_step_flops(net)
  layers = layer_forward_flops(net)
  final_dense = (layers[-1][1] if isinstance(
      net.get_layer(layers[-1][0]), keras.layers.Dense) else 0)
  counted = profiler_flops(log_prob_fn, net.input_shape[1:])
  return {
      "analytic": analytic,
      "profiler_total": counted["total"],
      "profiler_conv_and_matmul": counted["conv_and_matmul"],
      "final_dense_forward": final_dense,
      "relative_difference": float(
          np.abs(counted["conv_and_matmul"] - (analytic - final_dense)) /
          max(analytic, 1)),
  }
