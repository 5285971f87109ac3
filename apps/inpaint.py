r"""Inpaints held-out images with a trained workdir and scores the filling.

    python -m apps.inpaint --workdir=DIR --mask=square --num_images=100 \
        --output=inpaint_square.npz

Masks (`tfgen.data.masks`, 1 = missing): `square` (one square hiding
`--fraction`=0.25 of the area at a random position), `doodle` (random brush
strokes hiding ~0.25), `pepper_salt` (0.6 of the pixels at random). The
first `--num_images` images of the dataset's test split are masked; the
model fills the missing pixels, keeping the observed ones at every sampler
step: a multigrid model coarse to fine from the 1x1 average of the observed
pixels, a PPGN by PPGN-context MALA-approx chains (started from E of the
image with the hole at 0, observed pixels composited in before every
network sees the image, plus the context term of weight `--context_weight`
on the code h; each image's chain follows its label's class of E).

Writes FILE.npz (`original`, `masked`, `filled` in [0, 1], `masks`), a PNG
panel FILE.png (rows of original / masked / filled) and prints JSON: the mean
absolute error and PSNR over the missing pixels, PSNR over the whole image,
and the settings (the sampler steps, and a PPGN's context weight), next to
the same scores of a non-learned reference fill (`reference_diffusion_fill`:
missing pixels relaxed to the mean of their neighbours). Class-conditional
models fill each image given its label.
"""

from __future__ import annotations

import json
import os

from apps import common
from absl import app
from absl import flags

WORKDIR = flags.DEFINE_string("workdir", None, "Trained workdir.")
MASK = flags.DEFINE_string("mask", "square",
                           "square, doodle or pepper_salt.")
FRACTION = flags.DEFINE_float(
    "fraction", None, "Share of missing pixels in (0, 1); default 0.25 for "
    "square and doodle, 0.6 for pepper_salt.")
NUM_IMAGES = flags.DEFINE_integer("num_images", 100,
                                  "Held-out (test split) images to inpaint.")
SEED = flags.DEFINE_integer("seed", 0, "Seed of the masks and the chains.")
OUTPUT = flags.DEFINE_string("output", None, "Output .npz path.")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 500, "Images per sampler "
                                  "call (memory bound); does not change them.")
NUM_LANGEVIN_STEPS = flags.DEFINE_list(
    "num_langevin_steps", None, "Sampler steps: multigrid, Langevin steps "
    "per grid (one value or one per model grid); PPGN, the MALA-approx steps "
    "of the chain (one value); default: the trained ones.")
CONTEXT_WEIGHT = flags.DEFINE_float(
    "context_weight", None, "PPGN only: epsilon4, the weight of the context "
    "term on the code h (>= 0; 0 = observed pixels clamped only; default: "
    "the run's context_weight).")
PNG_IMAGES = flags.DEFINE_integer("png_images", 10,
                                  "Rows (images) of the PNG panel.")
ALLOW_UNFINISHED = flags.DEFINE_bool(
    "allow_unfinished", False, "Use a workdir whose training has not reached "
    "its num_steps yet (its newest checkpoint).")


def _check_flags():
  # pylint: disable=g-import-not-at-top
  from tfgen.data import masks as masks_lib
  if not WORKDIR.value:
    raise app.UsageError("--workdir is required: a directory trained with "
                         "apps.train.")
  if not OUTPUT.value or not OUTPUT.value.endswith(".npz"):
    raise app.UsageError(f"--output={OUTPUT.value!r} must be a path ending "
                         "in .npz, e.g. --output=/tmp/inpaint.npz.")
  common.check_outputs(output=OUTPUT.value)
  if MASK.value not in masks_lib.MASK_KINDS:
    raise app.UsageError(f"--mask={MASK.value!r} is not a known mask; use "
                         f"one of {', '.join(masks_lib.MASK_KINDS)}.")
  if FRACTION.value is not None and not 0.0 < FRACTION.value < 1.0:
    raise app.UsageError(
        f"--fraction={FRACTION.value} must be in (0, 1) (the share of "
        f"missing pixels), e.g. {masks_lib.DEFAULT_FRACTIONS[MASK.value]} "
        f"for --mask={MASK.value}.")
  for flag in (NUM_IMAGES, BATCH_SIZE, PNG_IMAGES):
    if flag.value <= 0:
      raise app.UsageError(f"--{flag.name}={flag.value} must be positive.")
  if CONTEXT_WEIGHT.value is not None and not CONTEXT_WEIGHT.value >= 0:
    raise app.UsageError(f"--context_weight={CONTEXT_WEIGHT.value} must be "
                         ">= 0 (0 turns the context term off), e.g. "
                         "--context_weight=1.")
  steps = None
  if NUM_LANGEVIN_STEPS.value:
    try:
      steps = [int(s) for s in NUM_LANGEVIN_STEPS.value]
    except ValueError:
      steps = None
    if steps is None or any(s < 0 for s in steps):
      raise app.UsageError(
          f"--num_langevin_steps={','.join(NUM_LANGEVIN_STEPS.value)} must "
          "be integers >= 0 (one or one per model grid), e.g. 30.")
  return steps


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}.")
  steps = _check_flags()
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from tfgen import data
  from tfgen.data import masks as masks_lib
  from tfgen.metrics import inpainting
  from tfgen.train import workdir as workdir_lib
  from tfgen.vis import grid as grid_lib
  try:
    common.require_capability(WORKDIR.value, "inpaint", "apps.inpaint")
    if CONTEXT_WEIGHT.value is not None:
      common.require_capability(WORKDIR.value, "plug_in_conditions",
                                f"--context_weight={CONTEXT_WEIGHT.value}")
    model, config, step = common.load_finished_model(WORKDIR.value,
                                              ALLOW_UNFINISHED.value)
  except (ValueError, workdir_lib.CheckpointError) as error:
    raise app.UsageError(str(error)) from error
  try:
    options = model.inpaint_options(steps)
  except ValueError as error:
    raise app.UsageError(f"--num_langevin_steps="
                         f"{','.join(NUM_LANGEVIN_STEPS.value)}: {error}"
                         ) from error
  if CONTEXT_WEIGHT.value is not None:
    options["sampler"] = dict(options.get("sampler", {}),
                              context_weight=CONTEXT_WEIGHT.value)
  d = config.data
  images, labels = data.arrays(d.dataset, "test", d.image_size,
                               max_examples=NUM_IMAGES.value,
                               data_dir=d.data_dir, download=d.download,
                               folder_channels=d.folder_channels)
  if len(images) < NUM_IMAGES.value:
    raise app.UsageError(
        f"--num_images={NUM_IMAGES.value} exceeds the {len(images)} test "
        f"images of dataset={d.dataset!r}; use --num_images={len(images)} "
        "or fewer.")
  fraction = (masks_lib.DEFAULT_FRACTIONS[MASK.value]
              if FRACTION.value is None else FRACTION.value)
  masks = masks_lib.make_masks(MASK.value, len(images), d.image_size,
                               SEED.value, fraction)
  conditional = model.num_classes > 0
  filled = inpainting.inpaint(model, images, masks, seed=SEED.value,
                              batch_size=BATCH_SIZE.value, options=options,
                              labels=labels if conditional else None)
  original01 = np.clip((images + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)
  filled01 = np.clip((filled + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)
  masked01 = inpainting.masked_images(original01, masks)
  os.makedirs(os.path.dirname(os.path.abspath(OUTPUT.value)), exist_ok=True)
  common.save_npz(OUTPUT.value, original=original01, masked=masked01,
                  filled=filled01, masks=masks)
  png = os.path.splitext(OUTPUT.value)[0] + ".png"
  rows = min(PNG_IMAGES.value, len(images))
  panel = np.stack([original01[:rows], masked01[:rows], filled01[:rows]],
                   axis=1).reshape((3 * rows,) + original01.shape[1:])
  grid_lib.save_png(panel, png, columns=3)
  result = dict(
      mask=MASK.value, fraction=fraction, num_images=len(images),
      **inpainting.evaluate(original01, filled01, masks),
      reference_diffusion_fill=inpainting.evaluate(
          original01, inpainting.diffusion_fill(masked01, masks), masks),
      workdir=WORKDIR.value, step=step, seed=SEED.value, **options,
      conditional=conditional, output=OUTPUT.value, png=png)
  print(json.dumps(result, indent=1))


if __name__ == "__main__":
  common.run(main)
