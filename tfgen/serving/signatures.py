"""Serving signatures of the model families, built into a SavedModel.

Every signature is stateless and deterministic: randomness comes only from
the per-instance `seed` input (int64 [batch]), so the same request gives
bit-identical images and TF Serving's row format (`{"instances": [{"seed":
1}, ...]}`) works with one instance per image. Outputs:

    images        float32 [batch, S, S, C] in [0, 1], the finest grid
    images_bytes  string [batch], one PNG per image

Inputs are checked inside the graph (`tf.debugging.Assert`): an empty batch,
a batch above `max_batch`, a wrong image shape, a mask that is not 0/1 fail
with an InvalidArgumentError whose message starts with the input's name
(TF Serving answers those with HTTP 400).

A family adds its signatures with a builder in `_FAMILIES` returning
`Signature`s; a class-conditional family adds e.g. a `class_id` int32
[batch] input with its range check to its `Signature.inputs` / `validate`.
`build_archive` puts them, plus a no-input `get_config` signature returning
the export's metadata as JSON, into a `keras.export.ExportArchive` (a bare
`tf.Module` holding a Keras 3 model does not load in TF Serving).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Callable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

import tfgen
from tfgen.models import lapgan
from tfgen.models import multigrid

DEFAULT_MAX_BATCH = 256
# The export's metadata, beside the SavedModel (TF Serving ignores the
# assets.extra/ folder except for its warm-up file).
METADATA_FILE = "tfgen_export.json"
WARMUP_FILE = "tf_serving_warmup_requests"
CONFIG_SIGNATURE = "get_config"


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
  """
  name: str
  inputs: tuple
  generate: Callable[..., tf.Tensor]
  validate: Callable[..., list]
  example: dict
  doc: str = ""


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


# ---- outputs ---------------------------------------------------------------
def serving_outputs(images: tf.Tensor) -> dict:
  """images [B, S, S, C] in [-1, 1] -> {"images": [0, 1], "images_bytes"}."""
  images = tf.clip_by_value((images + 1.0) / 2.0, 0.0, 1.0)
  pixels = tf.cast(tf.round(images * 255.0), tf.uint8)
  png = tf.map_fn(tf.io.encode_png, pixels,
                  fn_output_signature=tf.TensorSpec([], tf.string))
  return {"images": images, "images_bytes": png}


def serving_fn(signature: Signature, max_batch: int) -> Callable:
  """The signature's function: validate, generate, encode."""
  names = [spec.name for spec in signature.inputs]

  def serve(*args):
    inputs = dict(zip(names, args))
    checks = batch_checks(inputs, max_batch) + signature.validate(**inputs)
    # Nothing downstream runs before every check has passed.
    with tf.control_dependencies(checks):
      inputs = {name: tf.identity(value) for name, value in inputs.items()}
    return serving_outputs(signature.generate(**inputs))

  return serve


# ---- families --------------------------------------------------------------
def _steps(model, num_langevin_steps) -> tuple:
  """Per-grid step counts: the trained ones or the override."""
  if num_langevin_steps is None:
    return tuple(model.num_sampling_steps)
  steps = (tuple(num_langevin_steps) if isinstance(num_langevin_steps,
                                                   (list, tuple))
           else (num_langevin_steps,))
  num_grids = len(model.num_langevin_steps)
  if len(steps) == 1:
    steps *= num_grids
  if len(steps) != num_grids or any(int(s) != s or s < 0 for s in steps):
    raise ValueError(
        f"num_langevin_steps={list(steps)} must be one int >= 0 or one per "
        f"model grid ({num_grids}, grids {list(model.grid_sizes[1:])}), e.g. "
        f"{list(model.num_langevin_steps)}.")
  return tuple(int(s) for s in steps)


def class_checks(name: str, class_id: tf.Tensor, num_classes: int) -> list:
  """`class_id` int [batch], each in [0, num_classes)."""
  return [_check(tf.reduce_all((class_id >= 0) & (class_id < num_classes)),
                 name, f"values {{}} must be in [0, {num_classes}).",
                 class_id)]


def multigrid_signatures(model: multigrid.MultigridEBM,
                         num_langevin_steps=None) -> list[Signature]:
  """`serving_default` (seed -> samples) and `inpaint` of a MultigridEBM.

  A class-conditional model takes a `class_id` int64 [batch] input too.
  """
  size, channels = model.grid_sizes[-1], model.channels
  steps = _steps(model, num_langevin_steps)
  seed = tf.TensorSpec([None], tf.int64, name="seed")
  conditional = model.is_conditional
  class_spec = (tf.TensorSpec([None], tf.int64, name="class_id"),)
  classes = class_spec if conditional else ()

  def sample(seed, class_id=None):
    return model.sample_from_seeds(seed, num_langevin_steps=steps,
                                   class_ids=class_id)[-1]

  def check_sample(seed, class_id=None):
    if not conditional:
      return []
    return class_checks("class_id", class_id, model.num_classes)

  def inpaint(image, mask, seed, class_id=None):
    return model.inpaint_from_seeds(
        tf.ensure_shape(image, [None, size, size, channels]) * 2.0 - 1.0,
        tf.ensure_shape(mask, [None, size, size, None]), seed,
        num_langevin_steps=steps, labels=class_id)[-1]

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
  return [
      Signature("serving_default", (seed,) + classes, sample, check_sample,
                sample_example,
                f"seed int64 [batch]{class_doc} -> one sample per seed"),
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


def lapgan_signatures(model: lapgan.LAPGAN,
                      num_langevin_steps=None) -> list[Signature]:
  """`serving_default` (seed [, class_id] -> samples) and `refine`.

  `refine` takes coarse images at the coarsest level (`image`, float32
  [batch, s0, s0, C] in [0, 1]) and returns one refinement per seed.
  Class-conditional models take a `class_id` int64 [batch] in both.
  """
  if num_langevin_steps is not None:
    raise ValueError(
        f"num_langevin_steps={num_langevin_steps!r} (--serving_steps) applies "
        "to multigrid models only; a LAPGAN has no Langevin steps. Drop it.")
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


# (model class, family name, signature builder); a new family adds a row.
_FAMILIES = (
    (multigrid.MultigridEBM, "multigrid", multigrid_signatures),
    (lapgan.LAPGAN, "lapgan", lapgan_signatures),
)


def family_name(model: keras.Model) -> str:
  """'multigrid' for a MultigridEBM, etc."""
  return _family(model)[1]


def _family(model):
  for cls, name, builder in _FAMILIES:
    if isinstance(model, cls):
      return cls, name, builder
  known = ", ".join(cls.__name__ for cls, _, _ in _FAMILIES)
  raise ValueError(f"model={type(model).__name__} has no serving "
                   f"signatures; families with signatures: {known}.")


def family_signatures(model: keras.Model,
                      num_langevin_steps=None) -> list[Signature]:
  """The serving signatures of `model`'s family."""
  return _family(model)[2](model, num_langevin_steps)


# ---- the archive -----------------------------------------------------------
def export_metadata(model: keras.Model, signatures: Sequence[Signature],
                    max_batch: int, num_langevin_steps=None,
                    extra: Optional[dict] = None) -> dict:
  """What the export was made of: JSON-ready dict."""
  metadata = {
      "family": family_name(model),
      "model_class": type(model).__name__,
      "model_config": model.get_config(),
      "serving": {
          "image_shape": [model.grid_sizes[-1], model.grid_sizes[-1],
                          model.channels],
          "num_langevin_steps": (
              list(_steps(model, num_langevin_steps))
              if hasattr(model, "num_langevin_steps") else None),
          "step_size": list(getattr(model, "step_size", ())),
          "max_batch": int(max_batch),
          "signatures": {
              s.name: {"inputs": {spec.name: spec.dtype.name
                                  for spec in s.inputs},
                       "outputs": {"images": "float32 [batch, S, S, C] in "
                                             "[0, 1]",
                                   "images_bytes": "string [batch] PNG"},
                       "doc": s.doc} for s in signatures},
      },
      "versions": {"tfgen": tfgen.__version__,
                   "tensorflow": tf.__version__,
                   "keras": keras.__version__},
  }
  metadata.update(extra or {})
  return metadata


def build_archive(model: keras.Model, max_batch: int = DEFAULT_MAX_BATCH,
                  num_langevin_steps=None, extra_metadata: Optional[dict] = None
                  ) -> tuple:
  """Traces every signature of `model` into an ExportArchive.

  Args:
    model: a trained (or adapted) model of a family with signatures.
    max_batch: largest accepted batch (instances per request), >= 1.
    num_langevin_steps: per-grid sampling steps baked into the export (one
      int or one per model grid; default: the trained ones).
    extra_metadata: more JSON-ready entries for the metadata (e.g. the
      experiment config and training step).

  Returns:
    (archive, metadata, signatures): call `archive.write_out(path)`;
    `metadata` is the dict `get_config` returns as JSON.
  """
  if not isinstance(max_batch, (int, np.integer)) or max_batch < 1:
    raise ValueError(f"max_batch={max_batch!r} must be an int >= 1, e.g. "
                     f"{DEFAULT_MAX_BATCH}.")
  if hasattr(model, "is_adapted") and not model.is_adapted:
    raise ValueError("The model has no start images (never trained or "
                     "adapted): export a trained workdir, or call "
                     "model.adapt(train_images) first.")
  signatures = family_signatures(model, num_langevin_steps)
  metadata = export_metadata(model, signatures, max_batch,
                             num_langevin_steps, extra_metadata)
  config_json = json.dumps(metadata, sort_keys=True)
  archive = keras.export.ExportArchive()
  archive.track(model)
  for signature in signatures:
    endpoint = archive.add_endpoint(
        signature.name, serving_fn(signature, max_batch),
        input_signature=list(signature.inputs))
    endpoint.get_concrete_function()  # Traces now: errors before writing.
  archive.add_endpoint(CONFIG_SIGNATURE,
                       lambda: {"config": tf.constant(config_json)},
                       input_signature=[])
  return archive, metadata, signatures


def warmup_records(signatures: Sequence[Signature], model_name: str) -> list:
  """Serialized `PredictionLog`s, one real request per signature.

  Needs the `tensorflow-serving-api` package (its protos).
  """
  try:
    # pylint: disable=g-import-not-at-top
    from tensorflow_serving.apis import model_pb2
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_log_pb2
  except ImportError as error:
    raise ImportError(
        "Writing TF Serving warm-up requests needs the protos of "
        "tensorflow-serving-api: `pip install tensorflow-serving-api` (same "
        "minor version as tensorflow), or export with --nowarmup.") from error
  records = []
  for signature in signatures:
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name,
                                       signature_name=signature.name))
    for name, value in signature.example.items():
      request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))
    records.append(log.SerializeToString())
  return records


def write_assets_extra(saved_model_dir: str, metadata: dict,
                       warmup: Optional[list] = None) -> None:
  """Writes assets.extra/: the metadata JSON and the warm-up TFRecord."""
  folder = tf.io.gfile.join(saved_model_dir, "assets.extra")
  tf.io.gfile.makedirs(folder)
  with tf.io.gfile.GFile(tf.io.gfile.join(folder, METADATA_FILE), "w") as f:
    f.write(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
  if warmup:
    with tf.io.TFRecordWriter(tf.io.gfile.join(folder, WARMUP_FILE)) as writer:
      for record in warmup:
        writer.write(record)
