r"""Exports a trained workdir as a SavedModel in TF Serving's layout.

    python -m export --workdir=DIR --export_base=BASE [--model_name=NAME] \
        [--version=N] [--overwrite] [--serving_steps=30] [--max_steps=1000] \
        [--max_batch=256]

writes `BASE/NAME/N/` (N: the next free version unless --version) with the
signatures `serving_default` (seed [, class_id] -> images, images_bytes),
`sample_steps` (iterative families: the same plus `num_steps`, the
request's sampler steps in [1, --max_steps]; docs/serving-steps.md),
`inpaint` (multigrid, PPGN) or `refine` (LAPGAN: coarse image, seed ->
images), the family's others, and `get_config` (the export's metadata as
JSON), plus
`assets.extra/tf_serving_warmup_requests` and `assets.extra/tfgen_export.json`,
and adds NAME to `BASE/models.config` with `base_path:
"<--serving_base_path>/NAME"`. The version folder appears complete or not
at all (written beside it, then renamed). Serve it with

    docker run -p 8501:8501 -p 8500:8500 -v BASE:/models tensorflow/serving \
        --model_config_file=/models/models.config

or, for development, `python -m export.serve --export_base=BASE`.
"""

from __future__ import annotations

import json
import os

from apps import common
from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WORKDIR = flags.DEFINE_string("workdir", None, "Trained workdir (apps.train).")
EXPORT_BASE = flags.DEFINE_string(
    "export_base", None, "Folder of the exported models: BASE/NAME/N/ and "
    "BASE/models.config (mount it as /models in the TF Serving container).")
MODEL_NAME = flags.DEFINE_string(
    "model_name", None, "Model name in URLs and BASE/NAME; default: the "
    "family, e.g. 'multigrid'.")
VERSION = flags.DEFINE_integer(
    "version", None, "Version to write (>= 1); default: one above the highest "
    "in BASE/NAME, or 1.")
OVERWRITE = flags.DEFINE_boolean(
    "overwrite", False, "Replace an existing --version (development only: "
    "TF Serving does not reload a version it already serves).")
SERVING_STEPS = flags.DEFINE_list(
    "serving_steps", None, "Sampler steps of serving_default (and inpaint): "
    "multigrid Langevin steps per model grid (one value or one per grid), "
    "GRAN canvas steps, PPGN MALA-approx steps; default: the trained ones.")
MAX_STEPS = flags.DEFINE_integer(
    "max_steps", None, "Largest num_steps a request of the sample_steps "
    "signature may ask (multigrid: Langevin steps on every grid; GRAN: "
    "canvas steps; PPGN: MALA-approx steps); larger ones fail with HTTP "
    "400. Default: 1000 (or the exported steps if above).")
MAX_BATCH = flags.DEFINE_integer(
    "max_batch", 256, "Largest number of instances per request; larger "
    "requests fail with HTTP 400.")
SERVING_BASE_PATH = flags.DEFINE_string(
    "serving_base_path", "/models", "Where the server sees --export_base "
    "(the container's mount point); models.config gets base_path "
    "<this>/NAME. Use the absolute --export_base for a server on this "
    "machine.")
WARMUP = flags.DEFINE_boolean(
    "warmup", True, "Write assets.extra/tf_serving_warmup_requests (one "
    "request per signature, replayed by TF Serving when it loads the model).")
VERIFY = flags.DEFINE_boolean(
    "verify", True, "Load the written SavedModel and run every signature's "
    "example request before making the version visible.")


def _serving_steps():
  if not SERVING_STEPS.value:
    return None
  try:
    steps = [int(s) for s in SERVING_STEPS.value]
  except ValueError as error:
    raise app.UsageError(f"--serving_steps={','.join(SERVING_STEPS.value)} "
                         "must be integers, e.g. --serving_steps=30 or "
                         "--serving_steps=30,30.") from error
  return steps


def verify(path: str, signatures) -> None:
  """Runs every signature's example request on the SavedModel at `path`."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  import tensorflow as tf
  loaded = tf.saved_model.load(path)
  for signature in signatures:
    outputs = loaded.signatures[signature.name](
        **{k: tf.constant(v) for k, v in signature.example.items()})
    images = outputs["images"].numpy()
    count = len(next(iter(signature.example.values())))
    if (images.shape[0] != count or not np.all(np.isfinite(images))
        or images.min() < 0 or images.max() > 1
        or outputs["images_bytes"].shape[0] != count):
      raise RuntimeError(
          f"The export's {signature.name!r} signature returned images of "
          f"shape {images.shape}, range [{images.min()}, {images.max()}] for "
          "its example request; nothing was made visible.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}.")
  for flag, example in ((WORKDIR, "a directory trained with apps.train"),
                        (EXPORT_BASE, "e.g. --export_base=/tmp/models")):
    if not flag.value:
      raise app.UsageError(f"--{flag.name} is required: {example}.")
  if VERSION.value is not None and VERSION.value < 1:
    raise app.UsageError(f"--version={VERSION.value} must be >= 1 (TF Serving "
                         "versions are positive integers), or omit it.")
  if MAX_BATCH.value < 1:
    raise app.UsageError(f"--max_batch={MAX_BATCH.value} must be >= 1, e.g. "
                         "256.")
  if MAX_STEPS.value is not None and MAX_STEPS.value < 1:
    raise app.UsageError(f"--max_steps={MAX_STEPS.value} must be >= 1, e.g. "
                         "--max_steps=1000 (or omit it).")
  steps = _serving_steps()
  # pylint: disable=g-import-not-at-top
  from tfgen.serving import layout
  if MODEL_NAME.value is not None:
    try:
      layout.check_model_name(MODEL_NAME.value)
    except ValueError as error:
      raise app.UsageError(f"--{error}") from error
  from tfgen import families
  from export import archive as signatures_lib
  from tfgen.train import workdir as workdir_lib
  try:
    model, config, step = workdir_lib.load_model(WORKDIR.value)
    name = MODEL_NAME.value or families.of_model(model).name
    archive, metadata, signatures = signatures_lib.build_archive(
        model, MAX_BATCH.value, steps, extra_metadata={
            "model_name": name, "train_step": step,
            "workdir": os.path.abspath(WORKDIR.value),
            "experiment_config": json.loads(config.to_json())},
        max_steps=MAX_STEPS.value)
  except (ValueError, workdir_lib.CheckpointError) as error:
    raise app.UsageError(str(error)) from error
  records = (signatures_lib.warmup_records(signatures, name)
             if WARMUP.value else None)

  def write(path):
    archive.write_out(path, verbose=False)
    signatures_lib.write_assets_extra(path, metadata, records)
    if VERIFY.value:
      verify(path, signatures)

  try:
    version, path = layout.write_version(
        os.path.join(EXPORT_BASE.value, name), write, VERSION.value,
        OVERWRITE.value)
    config_path = layout.update_models_config(
        EXPORT_BASE.value, name, SERVING_BASE_PATH.value)
  except (FileExistsError, ValueError) as error:
    raise app.UsageError(str(error)) from error
  served = [s.name for s in signatures] + [signatures_lib.CONFIG_SIGNATURE]
  steps = metadata["serving"]["num_langevin_steps"]
  steps = f"; Langevin steps {steps}" if steps is not None else ""
  requested = metadata["serving"]["steps"]
  if requested["accepted"]:
    steps += (f"; {requested['input']} per request in [1, "
              f"{requested['max']}] ({requested['signature']})")
  print(f"Exported step {step} of {WORKDIR.value} to {path} (version "
        f"{version}; signatures {', '.join(served)}{steps}) and updated "
        f"{config_path} (base_path {SERVING_BASE_PATH.value.rstrip('/')}/"
        f"{name}).")


if __name__ == "__main__":
  common.run(main)
