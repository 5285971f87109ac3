"""Where a compiled sampler call spends its time, op by op (TF's profiler).

`profile_call(fn, *args)` runs `fn(*args)` once under
`tf.profiler.experimental` and sums the executor's op events by op type and
by graph node. `conv_rates` turns the convolution types' times into GFLOP/s
from the analytic per-layer counts of `tfgen.bench.flops`, so a report can
say how close each kind of kernel runs to the machine's matmul rate, and
how much of a call goes to everything else (noise, activations' gradients,
the update).
"""

from __future__ import annotations

import collections
import glob
import os
import tempfile
import time
from typing import Callable

import keras
import tensorflow as tf

from tfgen.bench import flops

# Op types of a conv layer's forward pass and its gradient to the input.
CONV_FORWARD_TYPES = ("Conv2D", "_MklNativeConv2D", "_FusedConv2D",
                      "_MklNativeFusedConv2D", "_MklConv2D", "_MklFusedConv2D")
CONV_BACKWARD_INPUT_TYPES = ("Conv2DBackpropInput",
                             "_MklNativeConv2DBackpropInput",
                             "_MklConv2DBackpropInput")


def _xspace(path: str):
  # pylint: disable=g-import-not-at-top
  try:
    from tsl.profiler.protobuf import xplane_pb2
  except ImportError:
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
  space = xplane_pb2.XSpace()
  with open(path, "rb") as f:
    space.ParseFromString(f.read())
  return space


def op_events(space) -> list[tuple[str, str, float]]:
  """(node name, op type, milliseconds) of every executed op in an XSpace.

  Op events are named "node:type" on the host plane's executor lines; the
  runtime's own events ("Class::Method", function calls) are left out.
  """
  events = []
  for plane in space.planes:
    names = {key: meta.name for key, meta in plane.event_metadata.items()}
    for line in plane.lines:
      for event in line.events:
        name = names.get(event.metadata_id, "")
        node, _, op_type = name.rpartition(":")
        # Runtime events ("ExecutorState::Process", "KernelAndDeviceFunc::Run")
        # and function calls are not ops.
        if (not node or node.endswith(":") or
            name.startswith(("__inference", "Eager"))):
          continue
        events.append((node, op_type, event.duration_ps / 1e9))
  return events


def profile_call(fn: Callable, *args, logdir: str | None = None) -> dict:
  """Runs `fn(*args)` once under TF's profiler; times per op type and node.

  Call `fn` once before (tracing, warm-up): this call is the profiled one.
  The trace goes to `logdir` if given (for TensorBoard's profile plugin),
  else to a temporary folder that is removed afterwards.

  Returns {"wall_milliseconds", "op_milliseconds" (sum over op events; on 2
  threads can exceed the wall time), "by_type": {type: ms}, "by_node":
  {node: ms}} with types and nodes sorted by time, largest first.
  """
  if logdir is None:
    with tempfile.TemporaryDirectory(prefix="tfgen_op_profile_") as scratch:
      return profile_call(fn, *args, logdir=scratch)
  tf.profiler.experimental.start(logdir)
  start = time.perf_counter()
  result = fn(*args)
  tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t,
                        result)
  wall = (time.perf_counter() - start) * 1e3
  tf.profiler.experimental.stop()
  paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"),
                           recursive=True), key=os.path.getmtime)
  if not paths:
    raise RuntimeError(f"TF's profiler wrote no .xplane.pb under {logdir!r}.")
  by_type, by_node = collections.Counter(), collections.Counter()
  for node, op_type, milliseconds in op_events(_xspace(paths[-1])):
    by_type[op_type] += milliseconds
    by_node[node] += milliseconds
  return {"wall_milliseconds": wall,
          "op_milliseconds": float(sum(by_type.values())),
          "by_type": dict(by_type.most_common()),
          "by_node": dict(by_node.most_common())}


def conv_rates(profile: dict, net: keras.Model, batch_size: int,
               num_steps: int) -> dict:
  """GFLOP/s of the conv forward and backward-to-input ops of a profile.

  Each of the net's conv layers runs once forward and once backward to the
  input per step, at its analytic forward FLOPs (`flops.layer_forward_flops`).
  """
  conv_flops = sum(count for name, count in flops.layer_forward_flops(net)
                   if isinstance(net.get_layer(name), keras.layers.Conv2D))
  total = conv_flops * batch_size * num_steps
  rates = {}
  for key, types in (("forward", CONV_FORWARD_TYPES),
                     ("backward_to_input", CONV_BACKWARD_INPUT_TYPES)):
    milliseconds = sum(profile["by_type"].get(t, 0.0) for t in types)
    rates[key] = {"milliseconds": milliseconds,
                  "gflops": total / milliseconds / 1e6 if milliseconds else None}
  conv_ms = rates["forward"]["milliseconds"] + rates[
      "backward_to_input"]["milliseconds"]
  rates["other_ops_share"] = (1.0 - conv_ms / profile["op_milliseconds"]
                              if profile["op_milliseconds"] else None)
  return rates
