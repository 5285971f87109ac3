r"""Requests samples from a served model and saves them.

    python -m export.client --url=http://127.0.0.1:8501 --model_name=multigrid \
        --seeds=0:16 --output=samples.png

`--seeds` is a comma list (`1,2,3`) or a range `START:STOP` (`0:16` = 0..15),
one image per seed. `--output` ending in .png gets an image grid, .npz the
float32 images in [0, 1] (`images`) and their `seeds`. `--url=grpc://host:8500`
uses TF Serving's gRPC API (needs tensorflow-serving-api).
"""

from __future__ import annotations

import os

from apps import common
from absl import app
from absl import flags

URL = flags.DEFINE_string("url", "http://127.0.0.1:8501",
                          "http://host:port (REST) or grpc://host:port.")
MODEL_NAME = flags.DEFINE_string("model_name", "multigrid",
                                 "Served model name.")
VERSION = flags.DEFINE_integer("version", None,
                               "Model version; default: the latest served.")
SEEDS = flags.DEFINE_string("seeds", "0:16", "Seeds, one image each: 1,2,3 "
                            "or START:STOP.")
OUTPUT = flags.DEFINE_string("output", None, "Output .png (grid) or .npz.")
TIMEOUT = flags.DEFINE_float("timeout", 300.0, "Seconds per request.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}.")
  if not OUTPUT.value or not OUTPUT.value.endswith((".png", ".npz")):
    raise app.UsageError(f"--output={OUTPUT.value!r} must be a path ending "
                         "in .png or .npz, e.g. --output=/tmp/samples.png.")
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from tfgen.serving import client as client_lib
  from tfgen.vis import grid as grid_lib
  try:
    seeds = client_lib.parse_seeds(SEEDS.value)
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  try:
    client = client_lib.Client(URL.value, MODEL_NAME.value, VERSION.value,
                               TIMEOUT.value)
    images = client.predict(seeds)
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
        f"{client.url} model {MODEL_NAME.value!r} to {OUTPUT.value}.")


if __name__ == "__main__":
  common.run(main)
