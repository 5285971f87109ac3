"""Mixed precision: which dtype the nets compute in, and float32 where it counts.

`--precision` (`TrainConfig.precision`) names a Keras dtype policy:

| precision | layer compute dtype | variables | loss scaling |
|---|---|---|---|
| `float32` (default) | float32 | float32 | none |
| `mixed_bfloat16` | bfloat16 | float32 | none (bfloat16 has float32's range) |
| `mixed_float16` | float16 | float32 | dynamic (`keras.optimizers.LossScaleOptimizer`) |

A family builds its nets inside `policy(precision)` (`tfgen.families.build_model`
does), so every Keras layer created there computes in the policy's dtype and
keeps float32 variables: checkpoints hold the same float32 tensors whatever
the precision. Every net's *output* is float32 (`to_float32` on the last
tensor), so energies, logits, images, losses, the Langevin / MALA updates and
sample images stay float32; normalisation statistics are computed in float32.
Optimizers come from `adam`, which wraps them for loss scaling under
`mixed_float16`; families scale each loss with `optimizer.scale_loss` before
taking its gradient (the identity for the other policies) and the wrapper
unscales the gradients and skips a step whose gradients are not finite.
"""

from __future__ import annotations

import contextlib

# keras / tensorflow are imported where used, so that the settings (which
# read PRECISIONS) stay importable without TensorFlow.
# pylint: disable=g-import-not-at-top

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@contextlib.contextmanager
def policy(precision: str):
  """Layers created inside compute in `precision`'s dtype (see the table)."""
  import keras
  if precision not in PRECISIONS:
    raise ValueError(f"precision={precision!r} is not one of "
                     f"{', '.join(PRECISIONS)}.")
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(precision)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)


def current() -> str:
  """The name of the dtype policy layers created now get."""
  import keras
  return keras.config.dtype_policy().name


def to_float32(x):
  """`x` as float32: a Keras layer on a symbolic tensor, a cast otherwise."""
  import keras
  import tensorflow as tf
  if isinstance(x, keras.KerasTensor):
    return keras.layers.Activation("linear", dtype="float32")(x)
  return tf.cast(x, tf.float32) if x.dtype.is_floating else x


def adam(learning_rate, ema_momentum: float = 0.0, **kwargs):
  """`keras.optimizers.Adam(learning_rate, **kwargs)`, wrapped in a
  `LossScaleOptimizer` when the current policy is `mixed_float16`.

  ema_momentum: in [0, 1); > 0 keeps Keras' exponential moving average of
  the optimised weights (`use_ema`, updated after every step, saved in
  checkpoints with the optimizer; `GenerativeModel.use_averaged_weights`
  puts it into the nets for sampling). 0 = no average.
  """
  import keras
  if ema_momentum:
    kwargs.update(use_ema=True, ema_momentum=float(ema_momentum))
  optimizer = keras.optimizers.Adam(learning_rate, **kwargs)
  if current() == "mixed_float16":
    return keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer
