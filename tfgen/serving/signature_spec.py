"""One serving signature: its inputs, their in-graph checks, its outputs.

Every signature is stateless and deterministic: randomness comes only from
the per-instance `seed` input (int64 [batch]), so the same request gives
bit-identical images and TF Serving's row format (`{"instances": [{"seed":
1}, ...]}`) works with one instance per image. Outputs:

    images        float32 [batch, S, S, C] in [0, 1], the finest grid
    images_bytes  string [batch], one PNG per image

Inputs are checked inside the graph (`tf.debugging.Assert`): an empty batch,
a batch above `max_batch`, a wrong image shape, a mask that is not 0/1 fail
with an InvalidArgumentError whose message starts with the input's name
(TF Serving answers those with HTTP 400). The families' signatures are
named by their rows in `tfgen.families`, the SavedModel around them is
`export.archive`'s.

An iterative family (multigrid, GRAN, PPGN: the registry's `serving_steps`
capability) also exports `sample_steps`: the inputs of `serving_default`
plus `num_steps` int64 [batch] (one value for the whole request, in [1,
max_steps]), its number of sampler steps. `StepsInput` describes that
input; `steps_checks` checks it in the graph.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

# The request input and signature of a per-request number of sampler steps.
STEPS_INPUT = "num_steps"
STEPS_SIGNATURE = "sample_steps"
# The bound of `num_steps` unless the export says otherwise (`python -m
# export --max_steps`): PPGN's sample_steps had it before the flag existed.
# A request's cost grows with its steps (and a multigrid request draws its
# Langevin noise up front: steps x image pixels per image and grid).
DEFAULT_MAX_STEPS = 1000


@dataclasses.dataclass(frozen=True)
class StepsInput:
  """The `num_steps` input of a signature: sampler steps per request.

  Attributes:
    default: the export's steps when a request has no `num_steps` (what
      `serving_default` runs): an int, or one int per multigrid grid.
    max_steps: the largest accepted value (`--max_steps` of the export).
    unit: what one step is, e.g. "Langevin steps on every grid".
    name: the input's name.
  """
  default: Union[int, Sequence[int]]
  max_steps: int
  unit: str
  name: str = STEPS_INPUT

  @property
  def spec(self) -> tf.TensorSpec:
    """The input: int64 [batch], one (equal) value per instance."""
    return tf.TensorSpec([None], tf.int64, name=self.name)

  @property
  def allowed(self) -> str:
    """The allowed values, as every message about them words them."""
    return f"in [1, {self.max_steps}] (the max_steps of this export)"

  @property
  def example(self) -> int:
    """A valid value: the largest default step count (at least 1)."""
    default = np.atleast_1d(np.asarray(self.default, np.int64))
    return int(max(1, default.max()))

  def metadata(self, signature: str) -> dict:
    """JSON-ready: what `export.serve` and clients read from get_config."""
    default = self.default
    return {"accepted": True, "signature": signature, "input": self.name,
            "min": 1, "max": int(self.max_steps), "allowed": self.allowed,
            "unit": self.unit,
            "default": ([int(d) for d in default]
                        if isinstance(default, (list, tuple))
                        else int(default))}


def steps_input(default, max_steps: Optional[int], unit: str) -> StepsInput:
  """A checked `StepsInput`; ValueError naming --max_steps.

  Args:
    default: the export's steps (an int >= 0, or one per multigrid grid).
    max_steps: the bound (an int >= 1, at least every default); None:
      `DEFAULT_MAX_STEPS`, raised to the largest default if that is above.
    unit: what one step is.
  """
  largest = int(np.max(np.atleast_1d(np.asarray(default, np.int64))))
  if max_steps is None:
    max_steps = max(DEFAULT_MAX_STEPS, largest)
  if (isinstance(max_steps, bool) or not isinstance(max_steps,
                                                    (int, np.integer))
      or max_steps < 1):
    raise ValueError(f"--max_steps={max_steps!r} must be an integer >= 1, "
                     f"e.g. --max_steps={DEFAULT_MAX_STEPS}.")
  if max_steps < largest:
    shown = list(default) if isinstance(default, (list, tuple)) else default
    raise ValueError(
        f"--max_steps={max_steps} is below this export's default steps "
        f"{shown} ({unit}; --serving_steps or the trained ones): raise "
        f"--max_steps to at least {largest} or lower --serving_steps.")
  return StepsInput(default, int(max_steps), unit)


@dataclasses.dataclass(frozen=True)
class Signature:
  """One serving signature: named per-instance inputs -> finest images.

  Attributes:
    name: the signature key, e.g. "serving_default" or "inpaint".
    inputs: `tf.TensorSpec`s named after their input, batch first.
    generate: (**inputs) -> images [batch, S, S, C] in [-1, 1]; it gets the
      inputs after validation, as served (images in [0, 1]).
    validate: (**inputs) -> list of assertion ops beyond the common batch
      checks (shapes, value ranges); each message starts with the input name.
    example: {input name: numpy array}, a small valid request (warm-up file,
      tests).
    doc: one line for the metadata.
    steps: the `StepsInput` of a signature with a `num_steps` input.
  """
  name: str
  inputs: tuple
  generate: Callable[..., tf.Tensor]
  validate: Callable[..., list]
  example: dict
  doc: str = ""
  steps: Optional[StepsInput] = None


# ---- checks ----------------------------------------------------------------
def _check(condition, name: str, template: str, *values) -> tf.Operation:
  """An assertion failing with the message "`name`: `template`".

  `{}` in `template` are replaced by `values` (tensors) at run time. Avoid
  quotes in the text: the assertion's printer escapes them.
  """
  message = tf.strings.format(f"{name}: {template}", values) if values else (
      tf.constant(f"{name}: {template}"))
  return tf.debugging.Assert(condition, [message], name=f"check_{name}")


def batch_checks(inputs: dict, max_batch: int) -> list:
  """Every input has the same batch size, in [1, max_batch]."""
  names = list(inputs)
  first = names[0]
  batch = tf.shape(inputs[first], out_type=tf.int64)[0]
  checks = [
      _check(batch > 0, first, "empty batch: send at least one instance."),
      _check(batch <= max_batch, first,
             "batch of {} instances is above max_batch="
             f"{max_batch} of this export; split the request or re-export "
             "with a larger --max_batch.", batch)]
  for name in names[1:]:
    other = tf.shape(inputs[name], out_type=tf.int64)[0]
    checks.append(_check(tf.equal(other, batch), name,
                         f"batch of {{}} differs from the batch of {first} "
                         "({}); send one value of every input per "
                         "instance.",
                         other, batch))
  return checks


def image_checks(name: str, images: tf.Tensor, size: int,
                 channels: int) -> list:
  """images [batch, size, size, channels], finite, in [0, 1]."""
  shape = tf.shape(images, out_type=tf.int64)
  return [
      _check(tf.reduce_all(tf.equal(shape[1:], [size, size, channels])),
             name, "shape {} must be [batch, "
             f"{size}, {size}, {channels}] (NHWC).", shape),
      _check(tf.reduce_all((images >= 0.0) & (images <= 1.0)), name,
             "values must be in [0, 1] (and not NaN); scale 8-bit pixels "
             "by 1/255.")]


def mask_checks(name: str, masks: tf.Tensor, size: int,
                channels: int) -> list:
  """masks [batch, size, size, 1 or channels] with values 0 or 1."""
  shape = tf.shape(masks, out_type=tf.int64)
  shape_ok = (tf.reduce_all(tf.equal(shape[1:3], [size, size])) &
              (tf.equal(shape[3], 1) | tf.equal(shape[3], channels)))
  return [
      _check(shape_ok, name, "shape {} must be [batch, "
             f"{size}, {size}, 1] or [batch, {size}, {size}, {channels}].",
             shape),
      _check(tf.reduce_all(tf.equal(masks, 0.0) | tf.equal(masks, 1.0)),
             name, "values must be 0 (observed) or 1 (missing).")]


def class_checks(name: str, class_id: tf.Tensor, num_classes: int) -> list:
  """`class_id` int [batch], each in [0, num_classes)."""
  return [_check(tf.reduce_all((class_id >= 0) & (class_id < num_classes)),
                 name, f"values {{}} must be in [0, {num_classes}).",
                 class_id)]


def steps_checks(num_steps: tf.Tensor, steps: StepsInput) -> list:
  """`num_steps` int [batch]: one value for the request, in [1, max]."""
  name = steps.name
  return [
      _check(tf.reduce_all(tf.equal(num_steps, num_steps[0])), name,
             "values {} must be the same for every instance of a request.",
             num_steps),
      _check(tf.reduce_all((num_steps >= 1) &
                           (num_steps <= steps.max_steps)), name,
             f"values {{}} must be {steps.allowed}.", num_steps)]


def request_steps(num_steps: tf.Tensor) -> tf.Tensor:
  """The request's number of steps: int32 scalar (after `steps_checks`)."""
  return tf.cast(num_steps[0], tf.int32)


# ---- outputs ---------------------------------------------------------------
def serving_outputs(images: tf.Tensor) -> dict:
  """images [B, S, S, C] in [-1, 1] -> {"images": [0, 1], "images_bytes"}."""
  images = tf.clip_by_value((images + 1.0) / 2.0, 0.0, 1.0)
  pixels = tf.cast(tf.round(images * 255.0), tf.uint8)
  png = tf.map_fn(tf.io.encode_png, pixels,
                  fn_output_signature=tf.TensorSpec([], tf.string))
  return {"images": images, "images_bytes": png}


def generate_with_single_instance_branch(generate: Callable[..., tf.Tensor],
                                         inputs: dict) -> tf.Tensor:
  """`generate(**inputs)`, through a batch-of-one graph when the batch is 1.

  A signature is traced for any batch size, so its graph has an unknown
  batch dimension, and Grappler optimises such a graph less well: a
  one-image multigrid request (90 Langevin steps of tiny ops) ran ~18%
  slower than the same sampler traced for a batch of 1 (docs/benchmarks.md,
  Serve). The batch-1 branch is `generate` traced again on inputs whose
  batch dimension is pinned to 1, chosen by a `tf.cond` at run time; both
  branches compute the same function of the inputs (tests/signatures_test.py
  compares a one-instance request with its row of a larger request, bit for
  bit, on a tiny net), only the graph differs.

  Args:
    generate: (**inputs) -> images [batch, ...].
    inputs: name -> tensor [batch, ...], all of one batch size >= 1.

  Returns:
    generate's output for `inputs`.
  """
  first = next(iter(inputs.values()))

  def single_instance():
    # `value[:1]`, declared [1, ...]: the batch is pinned on a new tensor,
    # never on an input. Pinning an input's own size (tf.ensure_shape,
    # tf.reshape to [1, ...], set_shape on an identity of it) let Grappler's
    # shape inference carry the 1 to every use of the input with TF 2.21:
    # the batch checks and a tf.map_fn of the other branch then saw one row
    # (tests/signature_spec_test.py).
    pinned = {}
    for name, value in inputs.items():
      pinned[name] = value[:1]
      pinned[name].set_shape([1] + value.shape[1:].as_list())
    return generate(**pinned)

  return tf.cond(tf.equal(tf.shape(first)[0], 1), single_instance,
                 lambda: generate(**inputs))


def serving_fn(signature: Signature, max_batch: int) -> Callable:
  """The signature's function: validate, generate, encode."""
  names = [spec.name for spec in signature.inputs]

  def serve(*args):
    inputs = dict(zip(names, args))
    checks = batch_checks(inputs, max_batch) + signature.validate(**inputs)
    # Nothing downstream runs before every check has passed.
    with tf.control_dependencies(checks):
      inputs = {name: tf.identity(value) for name, value in inputs.items()}
    return serving_outputs(
        generate_with_single_instance_branch(signature.generate, inputs))

  return serve
