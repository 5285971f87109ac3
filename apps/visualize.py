r"""What each grid's energy net responds to, as PNG panels (tf-keras-vis).

    python -m apps.visualize --workdir=DIR [--output_dir=DIR/visualize]
        [--num_images=8] [--filters_per_layer=4] [--steps=100] [--seed=0]

Per model grid g it writes, into --output_dir:

* `saliency_grid{g}.png`: the first --num_images test images down-sampled to
  g x g (top row) and the saliency |d f_g / d x| of each (bottom row, white =
  most sensitive, each map scaled to [0, 1]). A class-conditional model's
  f_g is the score of the image's own label.
* `filters_grid{g}.png`: one row per conv layer of the grid's energy net
  (conv1 at the top), --filters_per_layer inputs that maximise the mean
  activation of that layer's first filters (activation maximisation, seeded).

Prints the files written. Images are shown in [0, 1] ((x + 1) / 2).
"""

from __future__ import annotations

import os

from absl import app
from absl import flags
import numpy as np

from apps import common  # pylint: disable=unused-import  (quiet TF logs)

WORKDIR = flags.DEFINE_string("workdir", None, "Trained workdir.")
OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Folder of the PNG "
                                 "panels. Default: WORKDIR/visualize.")
NUM_IMAGES = flags.DEFINE_integer("num_images", 8, "Test images whose "
                                  "saliency is shown.")
FILTERS_PER_LAYER = flags.DEFINE_integer(
    "filters_per_layer", 4, "Filters of each conv layer to maximise (its "
    "first ones; fewer if the layer has fewer).")
STEPS = flags.DEFINE_integer("steps", 100, "Optimiser steps of each "
                             "activation maximisation.")
SEED = flags.DEFINE_integer("seed", 0, "Seed of the maximisations' starts.")


def to_unit(images: np.ndarray) -> np.ndarray:
  return np.clip((np.asarray(images, np.float32) + 1.0) / 2.0, 0.0, 1.0)


def saliency_panel(model, grid_index: int, images, labels, path: str) -> str:
  """Inputs (top row) and their saliency maps (bottom row) as one PNG."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tfgen.data import pyramid
  from tfgen.vis import attribution
  from tfgen.vis import grid as grid_lib
  size = model.model_grids[grid_index]
  small = pyramid.downsample(tf.constant(images), size).numpy()
  net = model.energy_nets[grid_index]
  if labels is None:
    maps = attribution.saliency_maps(net, small)
  else:  # One class per image: group the images by class.
    maps = np.zeros(small.shape[:3], np.float32)
    for class_id in np.unique(labels):
      rows = np.flatnonzero(labels == class_id)
      maps[rows] = attribution.saliency_maps(net, small[rows], int(class_id))
  maps = np.repeat(maps[..., None], small.shape[-1], axis=-1)
  return grid_lib.save_png(np.concatenate([to_unit(small), maps]), path,
                           columns=len(images))


def filters_panel(model, grid_index: int, filters_per_layer: int, steps: int,
                  seed: int, path: str) -> str:
  """One row of maximising inputs per conv layer, as one PNG."""
  # pylint: disable=g-import-not-at-top
  from tfgen.vis import attribution
  from tfgen.vis import grid as grid_lib
  net = model.energy_nets[grid_index]
  rows = []
  for layer in attribution.conv_layer_names(net):
    depth = int(net.get_layer(layer).output.shape[-1])
    filters = list(range(min(filters_per_layer, depth)))
    images = to_unit(attribution.maximize_filters(net, layer, filters,
                                                  seed=seed, steps=steps))
    if len(filters) < filters_per_layer:  # Pad short rows with white.
      pad = np.ones((filters_per_layer - len(filters),) + images.shape[1:],
                    np.float32)
      images = np.concatenate([images, pad])
    rows.append(images)
  return grid_lib.save_png(np.concatenate(rows), path,
                           columns=filters_per_layer)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}.")
  if not WORKDIR.value:
    raise app.UsageError("--workdir is required: a directory trained with "
                         "apps.train.")
  for flag in (NUM_IMAGES, FILTERS_PER_LAYER, STEPS):
    if flag.value <= 0:
      raise app.UsageError(f"--{flag.name}={flag.value} must be positive, "
                           f"e.g. {flag.default}.")
  # pylint: disable=g-import-not-at-top
  from tfgen import data
  from tfgen.train import workdir as workdir_lib
  try:
    common.require_capability(WORKDIR.value, "features", "apps.visualize")
    model, config, step = workdir_lib.load_model(WORKDIR.value)
  except ValueError as error:  # CheckpointError is a ValueError too.
    raise app.UsageError(f"--workdir={WORKDIR.value!r}: {error}") from error
  images, labels = data.arrays(
      config.data.dataset, "test", config.data.image_size,
      data_dir=config.data.data_dir, max_examples=NUM_IMAGES.value,
      folder_channels=config.data.channels)
  conditional = model.num_classes > 0
  if conditional and labels.min() < 0:
    raise app.UsageError(f"--workdir={WORKDIR.value!r} is class-conditional "
                         "but its dataset's test images have no labels.")
  output_dir = OUTPUT_DIR.value or os.path.join(WORKDIR.value, "visualize")
  written = []
  for index, size in enumerate(model.model_grids):
    written.append(saliency_panel(
        model, index, images, labels if conditional else None,
        os.path.join(output_dir, f"saliency_grid{size}.png")))
    written.append(filters_panel(
        model, index, FILTERS_PER_LAYER.value, STEPS.value, SEED.value,
        os.path.join(output_dir, f"filters_grid{size}.png")))
  print(f"Step {step}: wrote " + ", ".join(written))


if __name__ == "__main__":
  app.run(main)
