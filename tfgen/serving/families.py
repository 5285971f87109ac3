"""The serving signatures of the multigrid and LAPGAN families.

Each builder takes (model, num_steps or None, max_steps or None) and
returns `signature_spec.Signature`s; its family's row in `tfgen.families`
names it. A class-conditional family adds e.g. a `class_id` int64 [batch]
input with its range check to its `Signature.inputs` / `validate`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfgen.models import lapgan
from tfgen.models import multigrid
from tfgen.serving.signature_spec import class_checks
from tfgen.serving.signature_spec import image_checks
from tfgen.serving.signature_spec import mask_checks
from tfgen.serving.signature_spec import request_steps
from tfgen.serving.signature_spec import Signature
from tfgen.serving.signature_spec import STEPS_SIGNATURE
from tfgen.serving.signature_spec import steps_checks
from tfgen.serving.signature_spec import steps_input


def multigrid_signatures(model: multigrid.MultigridEBM,
                         num_langevin_steps=None,
                         max_steps=None) -> list[Signature]:
  """`serving_default`, `sample_steps` and `inpaint` of a MultigridEBM.

  `serving_default` and `inpaint` run the exported per-grid Langevin steps
  (`num_langevin_steps`; default the model's sampling steps, and its
  inpainting steps for `inpaint`);
  `sample_steps` takes `num_steps` int64 [batch] in [1, max_steps]: the
  Langevin steps of the request on every grid. A class-conditional model
  takes a `class_id` int64 [batch] input too.
  """
  size, channels = model.grid_sizes[-1], model.channels
  steps = model.sampling_steps(num_langevin_steps)
  inpaint_steps = model.inpainting_steps(num_langevin_steps)
  steps_spec = steps_input(steps, max_steps, "Langevin steps on every grid")
  seed = tf.TensorSpec([None], tf.int64, name="seed")
  conditional = model.is_conditional
  class_spec = (tf.TensorSpec([None], tf.int64, name="class_id"),)
  classes = class_spec if conditional else ()

  def sample(seed, class_id=None):
    return model.sample_from_seeds(seed, num_langevin_steps=steps,
                                   class_ids=class_id)[-1]

  def sample_steps(seed, num_steps, class_id=None):
    return model.sample_from_seeds(
        seed, num_langevin_steps=request_steps(num_steps),
        class_ids=class_id)[-1]

  def check_sample(seed, class_id=None):
    if not conditional:
      return []
    return class_checks("class_id", class_id, model.num_classes)

  def check_sample_steps(seed, num_steps, class_id=None):
    return check_sample(seed, class_id) + steps_checks(num_steps, steps_spec)

  def inpaint(image, mask, seed, class_id=None):
    return model.inpaint_from_seeds(
        tf.ensure_shape(image, [None, size, size, channels]) * 2.0 - 1.0,
        tf.ensure_shape(mask, [None, size, size, None]), seed,
        num_langevin_steps=inpaint_steps, labels=class_id)[-1]

  def check_inpaint(image, mask, seed, class_id=None):
    return (image_checks("image", image, size, channels) +
            mask_checks("mask", mask, size, channels) +
            check_sample(seed, class_id))

  example_mask = np.zeros([1, size, size, 1], np.float32)
  example_mask[:, :, size // 2:] = 1.0  # The right half is missing.
  sample_example = {"seed": np.arange(4, dtype=np.int64)}
  inpaint_example = {"image": np.full([1, size, size, channels], 0.5,
                                      np.float32),
                     "mask": example_mask, "seed": np.zeros([1], np.int64)}
  class_doc = ""
  if conditional:
    sample_example["class_id"] = np.arange(4, dtype=np.int64) % (
        model.num_classes)
    inpaint_example["class_id"] = np.zeros([1], np.int64)
    class_doc = f", class_id int64 [batch] in [0, {model.num_classes})"
  steps_example = {name: value[:2] for name, value in sample_example.items()}
  steps_example[steps_spec.name] = np.full([2], steps_spec.example,
                                          np.int64)
  return [
      Signature("serving_default", (seed,) + classes, sample, check_sample,
                sample_example,
                f"seed int64 [batch]{class_doc} -> one sample per seed "
                f"({list(steps)} Langevin steps per grid)"),
      Signature(STEPS_SIGNATURE,
                (seed,) + classes + (steps_spec.spec,),
                sample_steps, check_sample_steps, steps_example,
                f"seed{class_doc}, num_steps int64 [batch] (one value per "
                f"request, {steps_spec.allowed}: Langevin steps on every "
                "grid) -> one sample per seed", steps=steps_spec),
      Signature(
          "inpaint",
          (tf.TensorSpec([None, None, None, None], tf.float32, name="image"),
           tf.TensorSpec([None, None, None, None], tf.float32, name="mask"),
           seed) + classes,
          inpaint, check_inpaint, inpaint_example,
          f"image float32 [batch, {size}, {size}, {channels}] in [0, 1], "
          f"mask [batch, {size}, {size}, 1 or {channels}] (1 = missing), "
          f"seed{class_doc} -> images with the missing pixels filled"),
  ]


def lapgan_signatures(model: lapgan.LAPGAN, num_langevin_steps=None,
                      max_steps=None) -> list[Signature]:
  """`serving_default` (seed [, class_id] -> samples) and `refine`.

  `refine` takes coarse images at the coarsest level (`image`, float32
  [batch, s0, s0, C] in [0, 1]) and returns one refinement per seed.
  Class-conditional models take a `class_id` int64 [batch] in both.
  """
  # None: `tfgen.families.signatures` refuses others (no sampler steps).
  del num_langevin_steps, max_steps
  size, channels = model.level_sizes[-1], model.channels
  coarse = model.level_sizes[0]
  classes = model.num_classes
  seed = tf.TensorSpec([None], tf.int64, name="seed")
  class_spec = (tf.TensorSpec([None], tf.int64, name="class_id"),)
  class_doc = f", class_id int64 [batch] in [0, {classes})" if classes else ""

  def sample(seed, class_id=None):
    return model.sample_from_seeds(seed, class_ids=class_id)[-1]

  def refine(image, seed, class_id=None):
    images = tf.ensure_shape(image, [None, coarse, coarse, channels])
    return model.refine_from_seeds(images * 2.0 - 1.0, seed,
                                   class_ids=class_id)[-1]

  def check_sample(seed, class_id=None):
    del seed
    return class_checks("class_id", class_id, classes) if classes else []

  def check_refine(image, seed, class_id=None):
    del seed
    checks = image_checks("image", image, coarse, channels)
    return checks + check_sample(None, class_id)

  extra_inputs = class_spec if classes else ()
  extra_example = {"class_id": np.arange(4, dtype=np.int64) % classes} if (
      classes) else {}
  refine_extra = {"class_id": np.zeros([2], np.int64)} if classes else {}
  return [
      Signature("serving_default", (seed,) + extra_inputs, sample,
                check_sample,
                dict({"seed": np.arange(4, dtype=np.int64)}, **extra_example),
                f"seed int64 [batch]{class_doc} -> one sample per seed"),
      Signature(
          "refine",
          (tf.TensorSpec([None, None, None, None], tf.float32, name="image"),
           seed) + extra_inputs,
          refine, check_refine,
          dict({"image": np.full([2, coarse, coarse, channels], 0.5,
                                 np.float32),
                "seed": np.array([0, 1], np.int64)}, **refine_extra),
          f"image float32 [batch, {coarse}, {coarse}, {channels}] in [0, 1] "
          f"(coarse images), seed{class_doc} -> one {size}x{size} "
          "refinement per seed"),
  ]
