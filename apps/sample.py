r"""Samples from a trained workdir into an .npz file and a PNG grid.

    python -m apps.sample --workdir=DIR --num_samples=500 --seed=0 \
        --output=samples.npz

`samples.npz` holds `images` (float32 NHWC in [0, 1], the finest grid) and
`grid<size>` for every grid; `samples.png` beside it shows the first images.
For a class-conditional model it also holds `labels` (int32 [N]): every image's
class, `--class_id` if given, else the class of the training image whose
1x1 average started its chain (LAPGAN: a class drawn from each sample's
seed). The same seed gives a byte-identical file.

LAPGAN workdirs also take `--refine_panel=PANEL.png`: 8 coarse images (the
coarsest level of samples 0..7), each refined 8 times with different seeds;
row i shows coarse image i (up-sampled) and its 8 refinements, and the mean
per-pixel standard deviation across the refinements of one coarse image is
printed.
"""

from __future__ import annotations

import os

from apps import common
from absl import app
from absl import flags

WORKDIR = flags.DEFINE_string("workdir", None, "Trained workdir.")
NUM_SAMPLES = flags.DEFINE_integer("num_samples", 64, "Images to sample.")
SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
OUTPUT = flags.DEFINE_string("output", None, "Output .npz path.")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 500, "Images per sampler "
                                  "call (memory bound); does not change them.")
CLASS_ID = flags.DEFINE_integer("class_id", None, "Class to sample (class-"
                                "conditional models only), in [0, classes).")
PNG_IMAGES = flags.DEFINE_integer("png_images", 100,
                                  "Images shown in the PNG grid.")
REFINE_PANEL = flags.DEFINE_string(
    "refine_panel", None, "LAPGAN only: also write this PNG of 8 coarse "
    "images x 8 refinements each.")
PANEL_ROWS = 8
PANEL_REFINEMENTS = 8


def refinement_panel(model, seed: int, class_id=None):
  """(panel images [8 * 9, S, S, C] in [0, 1], mean per-pixel std).

  Row i: the coarsest level of sample i, up-sampled (nearest) to S, then 8
  refinements of it (seeds differ per refinement). The std is taken across
  the 8 refinements of each coarse image (in [0, 1] pixel units), averaged
  over pixels and rows.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  from tfgen.data import pyramid  # pylint: disable=g-import-not-at-top
  coarse = model.sample(PANEL_ROWS, seed=seed, class_id=class_id)[0]
  repeated = np.repeat(coarse.numpy(), PANEL_REFINEMENTS, axis=0)
  classes = model.sample_classes(PANEL_ROWS, seed=seed, class_id=class_id)
  if classes is not None:  # Keep each row's class across its refinements.
    classes = np.repeat(classes, PANEL_REFINEMENTS)
  fine = model.refine(repeated, seed=seed + 1, class_id=classes)[-1].numpy()
  fine = (fine + 1.0) / 2.0
  size = fine.shape[1]
  rows = fine.reshape(PANEL_ROWS, PANEL_REFINEMENTS, *fine.shape[1:])
  spread = float(np.mean(np.std(rows, axis=1)))
  shown = (pyramid.upsample(coarse, size).numpy() + 1.0) / 2.0
  panel = np.concatenate([shown[:, None], rows], axis=1)
  return panel.reshape(-1, *fine.shape[1:]), spread


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}.")
  if not WORKDIR.value:
    raise app.UsageError("--workdir is required: a directory trained with "
                         "apps.train.")
  if not OUTPUT.value or not OUTPUT.value.endswith(".npz"):
    raise app.UsageError(f"--output={OUTPUT.value!r} must be a path ending "
                         "in .npz, e.g. --output=/tmp/samples.npz.")
  for flag in (NUM_SAMPLES, BATCH_SIZE, PNG_IMAGES):
    if flag.value <= 0:
      raise app.UsageError(f"--{flag.name}={flag.value} must be positive.")
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from tfgen import families
  from tfgen.train import workdir as workdir_lib
  from tfgen.vis import grid as grid_lib
  try:
    model, _, step = workdir_lib.load_model(WORKDIR.value)
  except (ValueError, workdir_lib.CheckpointError) as error:
    raise app.UsageError(str(error)) from error
  if REFINE_PANEL.value:
    try:
      families.require(model, "refine",
                       f"--refine_panel={REFINE_PANEL.value!r}")
    except ValueError as error:
      raise app.UsageError(f"--workdir={WORKDIR.value!r}: {error}") from error
  if REFINE_PANEL.value and not REFINE_PANEL.value.endswith(".png"):
    raise app.UsageError(f"--refine_panel={REFINE_PANEL.value!r} must end "
                         "in .png.")
  try:
    labels = model.sample_classes(NUM_SAMPLES.value, seed=SEED.value,
                                  class_id=CLASS_ID.value)
  except ValueError as error:
    raise app.UsageError(f"--class_id: {error}") from error
  chunks = []
  for start in range(0, NUM_SAMPLES.value, BATCH_SIZE.value):
    count = min(BATCH_SIZE.value, NUM_SAMPLES.value - start)
    grids = model.sample(count, seed=SEED.value, first_index=start,
                         class_id=CLASS_ID.value)
    chunks.append([(g.numpy() + 1.0) / 2.0 for g in grids])
  per_grid = [np.concatenate(parts) for parts in zip(*chunks)]
  arrays = {name: images.astype(np.float32)
            for name, images in zip(model.sample_names(), per_grid)}
  arrays["images"] = per_grid[-1].astype(np.float32)
  if labels is not None:
    arrays["labels"] = labels.astype(np.int32)
  os.makedirs(os.path.dirname(os.path.abspath(OUTPUT.value)), exist_ok=True)
  common.save_npz(OUTPUT.value, **arrays)
  png = os.path.splitext(OUTPUT.value)[0] + ".png"
  grid_lib.save_png(arrays["images"][:PNG_IMAGES.value], png)
  print(f"Wrote {NUM_SAMPLES.value} samples of step {step} to {OUTPUT.value} "
        f"and {png}.")
  if REFINE_PANEL.value:
    panel, spread = refinement_panel(model, SEED.value, CLASS_ID.value)
    grid_lib.save_png(panel, REFINE_PANEL.value,
                      columns=PANEL_REFINEMENTS + 1)
    print(f"Wrote {REFINE_PANEL.value}: {PANEL_ROWS} coarse images (left "
          f"column) x {PANEL_REFINEMENTS} refinements; mean per-pixel std "
          f"across refinements of one coarse image: {spread:.4f} (pixels "
          "in [0, 1]).")


if __name__ == "__main__":
  app.run(main)
