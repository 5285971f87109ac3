"""The serving signatures of a PPGN.

* `serving_default`: seed int64 [batch], class_id int64 [batch] -> one
  class-conditioned sample per seed (the exported sampler settings and
  number of steps);
* `sample_steps`: the same plus num_steps int64 [batch] (one value for the
  whole request, in [1, max_steps], the exporter's `--max_steps`): the
  number of MALA-approx steps as a request input;
* `inpaint`: image float32 [batch, S, S, C] in [0, 1], mask [batch, S, S,
  1 or C] (1 = missing), seed, class_id -> PPGN-context inpainting; the
  observed pixels come back unchanged.

All stateless: a row depends only on its own seed, class and image.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfgen.serving.signature_spec import class_checks
from tfgen.serving.signature_spec import image_checks
from tfgen.serving.signature_spec import mask_checks
from tfgen.serving.signature_spec import request_steps
from tfgen.serving.signature_spec import Signature
from tfgen.serving.signature_spec import STEPS_SIGNATURE
from tfgen.serving.signature_spec import steps_checks
from tfgen.serving.signature_spec import steps_input


def ppgn_signatures(model, num_steps=None,
                    max_steps=None) -> list[Signature]:
  """`serving_default`, `sample_steps` and `inpaint` of a trained PPGN.

  num_steps: MALA-approx steps of `serving_default` and `inpaint` (an int
  >= 1; default the model's `num_mcmc_steps`); max_steps: the bound of
  `sample_steps`' num_steps (default `signature_spec.DEFAULT_MAX_STEPS`).
  """
  # An export of a model without code statistics is refused by
  # export.archive (`model.needs_adapt`); the signatures themselves are
  # built for any model (the conformance suite reads their inputs).
  steps = model.settings.num_mcmc_steps if num_steps is None else num_steps
  if (isinstance(steps, bool) or not isinstance(steps, (int, np.integer))
      or steps < 1):
    raise ValueError(f"num_steps={steps!r} (--serving_steps) must be an "
                     "integer >= 1: the MALA-approx steps of the export, "
                     f"e.g. {model.settings.num_mcmc_steps}.")
  steps_spec = steps_input(int(steps), max_steps, "MALA-approx steps")
  size, channels, classes = (model.image_size, model.channels,
                             model.num_classes)
  seed = tf.TensorSpec([None], tf.int64, name="seed")
  class_id = tf.TensorSpec([None], tf.int64, name="class_id")

  def sample(seed, class_id, num_steps=None):
    count = steps if num_steps is None else request_steps(num_steps)
    return model.sample_from_seeds(seed, class_ids=class_id,
                                   num_steps=count, num_snapshots=1)[-1]

  def check_sample(seed, class_id, num_steps=None):
    del seed
    checks = class_checks("class_id", class_id, classes)
    if num_steps is not None:
      checks += steps_checks(num_steps, steps_spec)
    return checks

  def inpaint(image, mask, seed, class_id):
    images = tf.ensure_shape(image, [None, size, size, channels]) * 2.0 - 1.0
    masks = tf.ensure_shape(mask, [None, size, size, None])
    return model.inpaint_from_seeds(images, masks, seed, labels=class_id,
                                    num_steps=steps)[-1]

  def check_inpaint(image, mask, seed, class_id):
    return (image_checks("image", image, size, channels) +
            mask_checks("mask", mask, size, channels) +
            check_sample(seed, class_id))

  example_mask = np.zeros([1, size, size, 1], np.float32)
  example_mask[:, :, size // 2:] = 1.0  # The right half is missing.
  class_doc = f"class_id int64 [batch] in [0, {classes})"
  return [
      Signature("serving_default", (seed, class_id), sample, check_sample,
                {"seed": np.arange(4, dtype=np.int64),
                 "class_id": np.arange(4, dtype=np.int64) % classes},
                f"seed int64 [batch], {class_doc} -> one sample per seed "
                f"({steps} MALA-approx steps)"),
      Signature(STEPS_SIGNATURE, (seed, class_id, steps_spec.spec), sample,
                check_sample,
                {"seed": np.arange(2, dtype=np.int64),
                 "class_id": np.array([3, 7], np.int64) % classes,
                 steps_spec.name: np.full([2], steps_spec.example, np.int64)},
                f"seed, {class_doc}, num_steps int64 [batch] (one value per "
                f"request, {steps_spec.allowed}: MALA-approx steps) -> one "
                "sample per seed", steps=steps_spec),
      Signature(
          "inpaint",
          (tf.TensorSpec([None, None, None, None], tf.float32, name="image"),
           tf.TensorSpec([None, None, None, None], tf.float32, name="mask"),
           seed, class_id),
          inpaint, check_inpaint,
          {"image": np.full([1, size, size, channels], 0.5, np.float32),
           "mask": example_mask, "seed": np.zeros([1], np.int64),
           "class_id": np.zeros([1], np.int64)},
          f"image float32 [batch, {size}, {size}, {channels}] in [0, 1], "
          f"mask [batch, {size}, {size}, 1 or {channels}] (1 = missing), "
          f"seed, {class_doc} -> images with the missing pixels filled"),
  ]
