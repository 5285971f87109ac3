"""The serving signatures of a GRAN.

* `serving_default`: seed int64 [batch] (+ class_id int64 [batch] for a
  class-conditional model) -> the image after T' canvas steps.
* `sample_steps`: the same inputs plus `num_steps` int64 [batch] (one
  value for the whole request, in [1, max_steps]) -> the image after that
  many canvas steps (T' of the request: a loop in the graph, so its cost
  follows the request's steps);
* `canvas`: the inputs of `serving_default` plus `canvas_step` int64
  [batch] in [1, T'] -> each instance's canvas after that many steps (all
  T' canvases are computed and one is gathered per instance, which keeps
  the one-image-per-instance outputs of `signature_spec`). A full drawing
  is T' instances of one seed with canvas_step 1..T'.

The exported T' (`num_steps`, the exporter's `--serving_steps`; default
the model's `num_sampling_steps` or T) is fixed in `serving_default` and
`canvas`; `max_steps` (`--max_steps`) bounds `sample_steps`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfgen.serving.signature_spec import _check
from tfgen.serving.signature_spec import class_checks
from tfgen.serving.signature_spec import request_steps
from tfgen.serving.signature_spec import Signature
from tfgen.serving.signature_spec import STEPS_SIGNATURE
from tfgen.serving.signature_spec import steps_checks
from tfgen.serving.signature_spec import steps_input


def gran_signatures(model, num_steps=None,
                    max_steps=None) -> list[Signature]:
  """`serving_default`, `sample_steps` and `canvas` of a `tfgen.models.GRAN`."""
  steps = model.sampling_steps(num_steps)
  steps_spec = steps_input(steps, max_steps, "canvas steps T'")
  seed = tf.TensorSpec([None], tf.int64, name="seed")
  classes = model.num_classes
  class_spec = ((tf.TensorSpec([None], tf.int64, name="class_id"),)
                if classes else ())
  step_spec = tf.TensorSpec([None], tf.int64, name="canvas_step")
  class_doc = f", class_id int64 [batch] in [0, {classes})" if classes else ""

  def sample(seed, class_id=None):
    return model.sample_from_seeds(seed, class_ids=class_id,
                                   num_canvas_steps=steps)[-1]

  def sample_steps(seed, num_steps, class_id=None):
    return model.final_canvas_from_seeds(
        seed, class_ids=class_id, num_canvas_steps=request_steps(num_steps))

  def canvas(seed, canvas_step, class_id=None):
    canvases = tf.stack(model.sample_from_seeds(
        seed, class_ids=class_id, num_canvas_steps=steps), axis=1)
    index = tf.cast(canvas_step, tf.int32) - 1
    return tf.gather(canvases, index, axis=1, batch_dims=1)

  def check_sample(seed, class_id=None):
    del seed
    return class_checks("class_id", class_id, classes) if classes else []

  def check_sample_steps(seed, num_steps, class_id=None):
    return check_sample(seed, class_id) + steps_checks(num_steps, steps_spec)

  def check_canvas(seed, canvas_step, class_id=None):
    return check_sample(seed, class_id) + [
        _check(tf.reduce_all((canvas_step >= 1) & (canvas_step <= steps)),
               "canvas_step", f"values {{}} must be in [1, {steps}] (the "
               f"canvas steps of this export).", canvas_step)]

  example = {"seed": np.arange(4, dtype=np.int64)}
  if classes:
    example["class_id"] = np.arange(4, dtype=np.int64) % classes
  steps_example = {name: value[:2] for name, value in example.items()}
  steps_example[steps_spec.name] = np.full([2], steps_spec.example, np.int64)
  canvas_example = {"seed": np.zeros([steps], np.int64),
                    "canvas_step": np.arange(1, steps + 1, dtype=np.int64)}
  if classes:
    canvas_example["class_id"] = np.zeros([steps], np.int64)
  return [
      Signature("serving_default", (seed,) + class_spec, sample, check_sample,
                example,
                f"seed int64 [batch]{class_doc} -> one {steps}-step sample "
                "per seed"),
      Signature(STEPS_SIGNATURE, (seed,) + class_spec + (steps_spec.spec,),
                sample_steps, check_sample_steps, steps_example,
                f"seed{class_doc}, num_steps int64 [batch] (one value per "
                f"request, {steps_spec.allowed}: canvas steps T') -> one "
                "sample per seed", steps=steps_spec),
      Signature("canvas", (seed, step_spec) + class_spec, canvas,
                check_canvas, canvas_example,
                f"seed, canvas_step int64 [batch] in [1, {steps}]{class_doc} "
                "-> the canvas after canvas_step steps"),
  ]
