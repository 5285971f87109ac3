"""The SavedModel of a trained model: its family's signatures in one archive.

`build_archive` puts the signatures of the model's family
(its row in `tfgen.families`; one signature's inputs, checks and outputs are
`tfgen.serving.signature_spec`), plus a no-input `get_config` signature
returning the export's metadata as JSON, into a `keras.export.ExportArchive`
(a bare `tf.Module` holding a Keras 3 model does not load in TF Serving).
`write_assets_extra` adds the metadata and TF Serving's warm-up requests.
"""

from __future__ import annotations

import json
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

import tfgen
from tfgen import families
from tfgen.serving.signature_spec import serving_fn
from tfgen.serving.signature_spec import Signature
from tfgen.serving.signature_spec import STEPS_INPUT
from tfgen.serving.signature_spec import STEPS_SIGNATURE

DEFAULT_MAX_BATCH = 256
# The export's metadata, beside the SavedModel (TF Serving ignores the
# assets.extra/ folder except for its warm-up file).
METADATA_FILE = "tfgen_export.json"
WARMUP_FILE = "tf_serving_warmup_requests"
CONFIG_SIGNATURE = "get_config"


# ---- the archive -----------------------------------------------------------
def export_metadata(model: keras.Model, signatures: Sequence[Signature],
                    max_batch: int, num_langevin_steps=None,
                    extra: Optional[dict] = None) -> dict:
  """What the export was made of: JSON-ready dict."""
  sampler = model.sampler_settings(num_langevin_steps)
  size = model.final_image_size
  with_steps = [s for s in signatures if s.steps is not None]
  steps = ({"accepted": False, "signature": STEPS_SIGNATURE,
            "input": STEPS_INPUT, "refusal": families.steps_refusal(model)}
           if not with_steps
           else with_steps[0].steps.metadata(with_steps[0].name))
  metadata = {
      "family": families.of_model(model).name,
      "model_class": type(model).__name__,
      "model_config": model.get_config(),
      "serving": {
          "image_shape": [size, size, model.channels],
          "num_langevin_steps": sampler.get("num_langevin_steps"),
          "step_size": sampler.get("step_size", []),
          "max_batch": int(max_batch),
          # A request's number of sampler steps: the signature and input
          # that take it and its range, or why this family has none.
          "steps": steps,
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
                  num_langevin_steps=None,
                  extra_metadata: Optional[dict] = None,
                  max_steps: Optional[int] = None) -> tuple:
  """Traces every signature of `model` into an ExportArchive.

  Args:
    model: a trained (or adapted) model of a family with signatures.
    max_batch: largest accepted batch (instances per request), >= 1.
    num_langevin_steps: sampler steps baked into `serving_default` (and
      `inpaint`): multigrid per-grid steps (one int or one per model grid),
      GRAN canvas steps, PPGN MALA-approx steps; default: the trained ones.
      Families without steps refuse it.
    extra_metadata: more JSON-ready entries for the metadata (e.g. the
      experiment config and training step).
    max_steps: the largest `num_steps` of a `sample_steps` request
      (families with steps; default `signature_spec.DEFAULT_MAX_STEPS`).

  Returns:
    (archive, metadata, signatures): call `archive.write_out(path)`;
    `metadata` is the dict `get_config` returns as JSON.
  """
  if not isinstance(max_batch, (int, np.integer)) or max_batch < 1:
    raise ValueError(f"max_batch={max_batch!r} must be an int >= 1, e.g. "
                     f"{DEFAULT_MAX_BATCH}.")
  if model.needs_adapt:
    raise ValueError("The model has no start images (never trained or "
                     "adapted): export a trained workdir, or call "
                     "model.adapt(train_images) first.")
  signatures = families.signatures(model, num_langevin_steps, max_steps)
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
