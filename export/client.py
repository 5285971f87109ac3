r"""Requests samples from a served model and saves them.

    python -m export.client --url=http://127.0.0.1:8501 --model_name=multigrid \
        --seeds=0:16 --output=samples.png [--class_id=3] [--num_steps=60]
    python -m export.client --signature=inpaint --input=masked.npz ...
    python -m export.client --signature=refine --input=coarse.npz ...

`--seeds` is a comma list (`1,2,3`) or a range `START:STOP` (`0:16` = 0..15),
one image per seed. `--class_id=K` asks a class-conditional export for class
K. `--num_steps=K` asks an iterative export (multigrid, GRAN, PPGN) for K
sampler steps per image (its `sample_steps` signature, docs/serving-steps.md;
default: the export's own). `--signature=inpaint` (multigrid exports) fills
the masked pixels of `--input`'s `images` ([N, S, S, C] in [0, 1]) where
its `masks` are 1; `--signature=refine` (LAPGAN exports) refines `--input`'s coarse `images`;
both take one seed per image. A request larger than the export's max_batch
is sent in several parts. `--output` ending in .png gets an image grid, .npz
the float32 images in [0, 1] (`images`) and their `seeds`.
`--url=grpc://host:8500` uses TF Serving's gRPC API (needs
tensorflow-serving-api).
"""

from __future__ import annotations

import os

from apps import common
from absl import app
from absl import flags

SIGNATURES = ("serving_default", "inpaint", "refine")

URL = flags.DEFINE_string("url", "http://127.0.0.1:8501",
                          "http://host:port (REST) or grpc://host:port.")
MODEL_NAME = flags.DEFINE_string("model_name", "multigrid",
                                 "Served model name.")
VERSION = flags.DEFINE_integer("version", None,
                               "Model version; default: the latest served.")
SEEDS = flags.DEFINE_string("seeds", "0:16", "Seeds, one image each: 1,2,3 "
                            "or START:STOP.")
CLASS_ID = flags.DEFINE_integer("class_id", None, "Class of every image (a "
                                "class-conditional export only).")
NUM_STEPS = flags.DEFINE_integer(
    "num_steps", None, "Sampler steps of every image (an iterative export's "
    "sample_steps signature: multigrid Langevin steps on every grid, GRAN "
    "canvas steps, PPGN MALA-approx steps); default: the export's own.")
SIGNATURE = flags.DEFINE_enum("signature", "serving_default", SIGNATURES,
                              "serving_default (sample), inpaint (multigrid) "
                              "or refine (LAPGAN).")
INPUT = flags.DEFINE_string("input", None, ".npz with `images` in [0, 1] "
                            "(and `masks` for --signature=inpaint).")
OUTPUT = flags.DEFINE_string("output", None, "Output .png (grid) or .npz.")
TIMEOUT = flags.DEFINE_float("timeout", 300.0, "Seconds per request.")


def _inputs(count_seeds: int):
  """(images, masks) of --input for inpaint/refine."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  needs = ["images", "masks"] if SIGNATURE.value == "inpaint" else ["images"]
  if not INPUT.value:
    raise app.UsageError(f"--signature={SIGNATURE.value} needs --input=FILE."
                         f"npz holding {' and '.join(needs)}.")
  if not os.path.isfile(INPUT.value):
    raise app.UsageError(f"--input={INPUT.value!r} does not exist.")
  try:
    with np.load(INPUT.value) as data:
      arrays = {name: np.asarray(data[name], np.float32) for name in needs}
  except (KeyError, ValueError, OSError) as error:
    raise app.UsageError(f"--input={INPUT.value!r} must be an .npz holding "
                         f"{' and '.join(needs)} ({error}).") from error
  if len(arrays["images"]) != count_seeds:
    raise app.UsageError(
        f"--input={INPUT.value!r} holds {len(arrays['images'])} images but "
        f"--seeds={SEEDS.value!r} gives {count_seeds} seeds; pass one seed "
        f"per image, e.g. --seeds=0:{len(arrays['images'])}.")
  return arrays["images"], arrays.get("masks")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}.")
  if not OUTPUT.value or not OUTPUT.value.endswith((".png", ".npz")):
    raise app.UsageError(f"--output={OUTPUT.value!r} must be a path ending "
                         "in .png or .npz, e.g. --output=/tmp/samples.png.")
  if CLASS_ID.value is not None and CLASS_ID.value < 0:
    raise app.UsageError(f"--class_id={CLASS_ID.value} must be >= 0.")
  if NUM_STEPS.value is not None and NUM_STEPS.value < 1:
    raise app.UsageError(f"--num_steps={NUM_STEPS.value} must be >= 1, e.g. "
                         "--num_steps=30 (or omit it for the export's own).")
  if NUM_STEPS.value is not None and SIGNATURE.value != "serving_default":
    raise app.UsageError(
        f"--num_steps goes with sampling (--signature=serving_default), not "
        f"--signature={SIGNATURE.value}: {SIGNATURE.value} runs the export's "
        "own steps; drop --num_steps.")
  common.check_outputs(output=OUTPUT.value)
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from tfgen.serving import client as client_lib
  from tfgen.vis import grid as grid_lib
  try:
    seeds = client_lib.parse_seeds(SEEDS.value)
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  if SIGNATURE.value != "serving_default":
    images_in, masks = _inputs(len(seeds))
  try:
    client = client_lib.Client(URL.value, MODEL_NAME.value, VERSION.value,
                               TIMEOUT.value)
    if SIGNATURE.value == "inpaint":
      images = client.inpaint(images_in, masks, seeds, CLASS_ID.value)
    elif SIGNATURE.value == "refine":
      images = client.refine(images_in, seeds, CLASS_ID.value)
    else:
      images = client.predict(seeds, CLASS_ID.value, NUM_STEPS.value)
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  except client_lib.ServingError as error:
    raise SystemExit(f"Error: {error}") from error
  os.makedirs(os.path.dirname(os.path.abspath(OUTPUT.value)), exist_ok=True)
  if OUTPUT.value.endswith(".png"):
    grid_lib.save_png(images, OUTPUT.value)
  else:
    np.savez(OUTPUT.value, images=images.astype(np.float32),
             seeds=np.asarray(seeds, np.int64))
  print(f"Wrote {len(images)} images of shape {list(images.shape[1:])} from "
        f"{client.url} model {MODEL_NAME.value!r} ({SIGNATURE.value}"
        + (f", {NUM_STEPS.value} steps" if NUM_STEPS.value else "")
        + f") to {OUTPUT.value}.")


if __name__ == "__main__":
  common.run(main)
