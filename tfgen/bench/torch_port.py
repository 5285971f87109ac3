"""The benchmark's energy nets and Langevin loop in PyTorch (optional).

`convert(keras_net)` builds the same architecture as a `torch.nn.Sequential`
with the Keras weights copied (TF's asymmetric "same" padding reproduced,
the dense layer's rows reordered from NHWC to NCHW flattening), so both
frameworks compute the same gradient; `chain` is the sampler loop of
`tfgen.bench.samplers` in PyTorch eager, in NCHW or channels-last memory
format. Weights do not require gradients, so the backward pass goes to the
input only, like TF's pruned graph.

Needs `torch` (`pip install -e .[bench]`); `load()` returns None without it.
"""

from __future__ import annotations

import math
from typing import Optional

import keras
import numpy as np


def load():
  """The `torch` module, or None if it is not installed."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return torch


def _require():
  torch = load()
  if torch is None:
    raise ImportError("The PyTorch comparison needs torch: pip install "
                      "-e .[bench] (torch==2.13.0).")
  return torch


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TF's 'same' padding (before, after) along one axis."""
  out = math.ceil(size / stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def _activation(layer):
  nn = _require().nn
  if isinstance(layer, keras.layers.LeakyReLU):
    return nn.LeakyReLU(layer.negative_slope)
  name = keras.activations.serialize(layer.activation)
  name = name if isinstance(name, str) else name.get("config", {}).get("name")
  known = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh,
           "sigmoid": nn.Sigmoid, "silu": nn.SiLU, "swish": nn.SiLU,
           "linear": nn.Identity}
  if name not in known:
    raise ValueError(f"activation {name!r} of layer {layer.name!r} has no "
                     f"PyTorch port here; known: {sorted(known)}.")
  return known[name]()


def convert(net: keras.Model, channels_last: bool = False):
  """A `torch.nn.Sequential` (eval mode, frozen) equal to the Keras `net`.

  `net`: a functional model of Conv2D ('same' or 'valid'), LeakyReLU /
  Activation, Flatten and Dense layers, like `tfgen.nets.build_energy_net`.
  """
  torch = _require()
  nn = torch.nn
  modules, flat_shape = [], None
  for layer in net.layers:
    if isinstance(layer, keras.layers.InputLayer):
      continue
    if isinstance(layer, keras.layers.Conv2D):
      if layer.activation.__name__ != "linear":
        raise ValueError(f"layer {layer.name!r}: fused activations are not "
                         "ported; use a separate activation layer.")
      kernel = layer.kernel.numpy()
      height, width = layer.input.shape[1:3]
      stride_h, stride_w = layer.strides
      if layer.padding == "same":
        top, bottom = _same_padding(height, kernel.shape[0], stride_h)
        left, right = _same_padding(width, kernel.shape[1], stride_w)
      else:
        top = bottom = left = right = 0
      padding = (top, left)
      if (top, left) != (bottom, right):
        modules.append(nn.ZeroPad2d((left, right, top, bottom)))
        padding = 0
      conv = nn.Conv2d(kernel.shape[2], kernel.shape[3], kernel.shape[:2],
                       stride=layer.strides, padding=padding,
                       bias=layer.use_bias)
      conv.weight.data = torch.from_numpy(
          np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
      if layer.use_bias:
        conv.bias.data = torch.from_numpy(layer.bias.numpy().copy())
      modules.append(conv)
    elif isinstance(layer, (keras.layers.LeakyReLU, keras.layers.Activation)):
      modules.append(_activation(layer))
    elif isinstance(layer, keras.layers.Flatten):
      flat_shape = tuple(layer.input.shape[1:])
      modules.append(nn.Flatten())
    elif isinstance(layer, keras.layers.Dense):
      kernel = layer.kernel.numpy()  # [inputs, outputs], inputs in NHWC order
      if flat_shape is not None and len(flat_shape) == 3:
        height, width, channels = flat_shape
        kernel = (kernel.reshape(height, width, channels, -1)
                  .transpose(2, 0, 1, 3).reshape(kernel.shape))
      dense = nn.Linear(kernel.shape[0], kernel.shape[1],
                        bias=layer.use_bias)
      dense.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.T))
      if layer.use_bias:
        dense.bias.data = torch.from_numpy(layer.bias.numpy().copy())
      modules.append(dense)
      if layer.activation.__name__ != "linear":
        modules.append(_activation(layer))
    else:
      raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) has "
                       "no PyTorch port here.")
  model = nn.Sequential(*modules).eval()
  for parameter in model.parameters():
    parameter.requires_grad_(False)
  if channels_last:
    model = model.to(memory_format=torch.channels_last)
  return model


def _log_prob(model, x, reference_stddev: float):
  return (model(x)[:, 0] -
          (x * x).sum(dim=(1, 2, 3)) / (2.0 * reference_stddev**2))


def gradient(model, images: np.ndarray, reference_stddev: float = 1.0,
             channels_last: bool = False) -> np.ndarray:
  """grad_x log p(x) of NHWC numpy images, returned NHWC (for tests)."""
  torch = _require()
  x = _to_torch(torch, images, channels_last).requires_grad_(True)
  (grad,) = torch.autograd.grad(
      _log_prob(model, x, reference_stddev).sum(), x)
  return grad.permute(0, 2, 3, 1).numpy().copy()


def _to_torch(torch, images: np.ndarray, channels_last: bool):
  x = torch.from_numpy(np.ascontiguousarray(images, np.float32))
  x = x.permute(0, 3, 1, 2)  # An NCHW view of NHWC memory.
  memory_format = (torch.channels_last if channels_last
                   else torch.contiguous_format)
  return x.contiguous(memory_format=memory_format)


def chain(model, num_steps: int, step_size: float, noise_scale: float,
          clip_range: Optional[tuple] = (-1.0, 1.0),
          reference_stddev: float = 1.0, channels_last: bool = False):
  """The Langevin loop: chain(x0 NHWC numpy, seed int) -> NHWC numpy."""
  torch = _require()
  memory_format = (torch.channels_last if channels_last
                   else torch.contiguous_format)

  def run(x0: np.ndarray, seed: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(int(seed))
    x = _to_torch(torch, x0, channels_last)
    for _ in range(num_steps):
      x.requires_grad_(True)
      (grad,) = torch.autograd.grad(
          _log_prob(model, x, reference_stddev).sum(), x)
      with torch.no_grad():
        x = x + 0.5 * step_size**2 * grad
        if noise_scale:
          noise = torch.randn(x.shape, generator=generator)
          x += noise_scale * step_size * noise.contiguous(
              memory_format=memory_format)
        if clip_range is not None:
          x.clamp_(*clip_range)
    return x.permute(0, 2, 3, 1).numpy().copy()

  return run


def flops(model, image_shape, reference_stddev: float = 1.0) -> int:
  """PyTorch's FlopCounterMode count of one image's gradient evaluation."""
  torch = _require()
  from torch.utils import flop_counter  # pylint: disable=g-import-not-at-top
  height, width, channels = image_shape
  x = torch.zeros(1, channels, height, width, requires_grad=True)
  with flop_counter.FlopCounterMode(display=False) as counter:
    # .backward(), not autograd.grad: the counter's module hooks need it.
    _log_prob(model, x, reference_stddev).sum().backward()
  return int(counter.get_total_flops())
