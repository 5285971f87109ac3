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

GRAN workdirs take `--canvas_panel=PANEL.png` (the canvases over t of the
first 10 samples, and a GIF of the drawing) and `--num_canvas_steps=T'`.

Families whose samplers are MCMC chains (PPGN) take `--chain_gif=FILE.gif`:
a GIF of the first 64 chains along the MCMC steps, frame k = every chain's
image after k/F of the steps (`--num_chain_frames`=F, 20), the last frame
= those samples' final images; it takes the same conditions and sampler
flags as the samples.

PPGN workdirs (`--family=ppgn`) also take the plug-in sampling flags:

    python -m apps.sample --workdir=DIR --class_id=7 --output=s.npz
    python -m apps.sample --workdir=DIR --condition=class:7 \
        --condition=parity:odd@0.5 --prior=code_dae --num_mcmc_steps=200 \
        --min_probability=0.97 --output=s.npz

`--condition` is repeatable (KIND:VALUE[@WEIGHT], see
tfgen/models/ppgn_condition_spec.py; the terms add up), `--prior` picks the
sampler's prior term (none = DGN-AM, code_dae = PPGN-h, encoder = Noiseless
Joint PPGN-h, image_dae = PPGN-x; default: the run's), `--num_mcmc_steps` the
MALA-approx steps per chain, `--prior_weight` / `--condition_weight` /
`--sampler_noise` (epsilon1..3), `--sampler_step_size`,
`--sampler_step_size_end` and `--class_condition` override the
trained run's sampler settings, and `--min_probability=P` keeps only the
samples whose condition probability (the product of the class terms'
probabilities, E's and C''s by default, see `--class_condition`, and of
the conditions') is >= P, the paper's filter: the .npz then holds
the kept images, their `probability`, and the keep rate is printed. Other
families refuse these flags, naming their family.
"""

from __future__ import annotations

import os

from apps import common
from absl import app
from absl import flags

WORKDIR = flags.DEFINE_string("workdir", None, "Trained workdir.")
NUM_SAMPLES = flags.DEFINE_integer("num_samples", 64, "Images to sample.")
SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
WEIGHTS = flags.DEFINE_enum(
    "weights", "averaged", ["averaged", "last"],
    "averaged: the moving averages of the sampling nets' weights when the "
    "run kept them (--ema_momentum > 0 in training; else the same as last); "
    "last: the newest step's weights.")
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
# PPGN's plug-in sampling flags (families with 'plug_in_conditions').
CONDITION = flags.DEFINE_multi_string(
    "condition", [], "PPGN only, repeatable: a plug-in condition "
    "KIND:VALUE[@WEIGHT], e.g. class:7, parity:odd@0.5, loop:yes, "
    "other_class:3, unit:dense:5, class:0,1,2 (a schedule along the chain), "
    "'caption:an odd digit with a loop' (runs trained with --captioner).")
PRIOR = flags.DEFINE_string(
    "prior", None, "PPGN only: the sampler prior, none (DGN-AM), code_dae "
    "(PPGN-h), encoder (Noiseless Joint PPGN-h) or image_dae (PPGN-x); "
    "default: the trained run's.")
NUM_MCMC_STEPS = flags.DEFINE_integer(
    "num_mcmc_steps", None, "PPGN only: MALA-approx steps per chain "
    "(default: the run's --num_mcmc_steps).")
MIN_PROBABILITY = flags.DEFINE_float(
    "min_probability", None, "PPGN only: keep only samples whose condition "
    "probability is >= this, in [0, 1] (the paper's filter used 0.97); the "
    "keep rate is printed.")
PRIOR_WEIGHT = flags.DEFINE_float(
    "prior_weight", None, "PPGN only: epsilon1, the prior term's weight "
    "(>= 0; default: the run's).")
CONDITION_WEIGHT = flags.DEFINE_float(
    "condition_weight", None, "PPGN only: epsilon2, the condition "
    "gradient's weight (>= 0; default: the run's).")
SAMPLER_NOISE = flags.DEFINE_float(
    "sampler_noise", None, "PPGN only: epsilon3, the sampler noise std "
    "(>= 0; default: the run's).")
SAMPLER_STEP_SIZE = flags.DEFINE_float(
    "sampler_step_size", None, "PPGN only: mean |change of h| per step in "
    "units of mean h (> 0; default: the run's).")
SAMPLER_STEP_SIZE_END = flags.DEFINE_float(
    "sampler_step_size_end", None, "PPGN only: the step size at the last "
    "step, linear from --sampler_step_size (< 0: constant; default: the "
    "run's).")
CLASS_CONDITION = flags.DEFINE_enum(
    "class_condition", None, ["both", "encoder", "condition_net"],
    "PPGN only: the classifiers --class_id conditions on: both (E and C', "
    "the default of new runs), encoder (E alone, the paper's) or "
    "condition_net (C' alone); default: the run's.")
PLUG_IN_FLAGS = (CONDITION, PRIOR, NUM_MCMC_STEPS, MIN_PROBABILITY,
                 PRIOR_WEIGHT, CONDITION_WEIGHT, SAMPLER_NOISE,
                 SAMPLER_STEP_SIZE, SAMPLER_STEP_SIZE_END, CLASS_CONDITION)
CANVAS_PANEL = flags.DEFINE_string(
    "canvas_panel", None, "GRAN only: also write this PNG of the canvases "
    "over t (rows = the first 10 samples, columns = t = 1..T') and a GIF of "
    "the drawing beside it.")
CHAIN_GIF = flags.DEFINE_string(
    "chain_gif", None, "PPGN (families with chain snapshots) only: also "
    "write this GIF of the first 64 chains along the MCMC steps.")
NUM_CHAIN_FRAMES = flags.DEFINE_integer(
    "num_chain_frames", 20, "Frames of --chain_gif, evenly spaced along the "
    "chain (the last = the final samples).")
NUM_CANVAS_STEPS = flags.DEFINE_integer(
    "num_canvas_steps", None, "GRAN only: canvas steps T' of sampling "
    "(default: the model's; may exceed the trained T).")
PANEL_ROWS = 8
CANVAS_ROWS = 10
CHAIN_GIF_CHAINS = 64
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


def write_chain_gif(model, path: str, class_id, kwargs) -> None:
  """The GIF of the first chains (same seeds, classes and flags as the
  samples) at `--num_chain_frames` points along the MCMC steps."""
  # pylint: disable=g-import-not-at-top
  from tfgen.vis import canvas as canvas_lib
  count = min(CHAIN_GIF_CHAINS, NUM_SAMPLES.value)
  frames = model.sample(count, seed=SEED.value, class_id=class_id,
                        num_snapshots=NUM_CHAIN_FRAMES.value, **kwargs)
  canvas_lib.save_drawing_gif([(f.numpy() + 1.0) / 2.0 for f in frames],
                              path)
  print(f"Wrote {path}: {count} chains x {len(frames)} frames (frame k = "
        f"after k/{len(frames)} of the MCMC steps; the last = the first "
        f"{count} samples).")


def check_plug_in_flags() -> None:
  """UsageError for a plug-in flag value that is out of range (no model)."""
  probability = MIN_PROBABILITY.value
  if probability is not None and not 0.0 <= probability <= 1.0:
    raise app.UsageError(
        f"--min_probability={probability} must be in [0, 1] (a probability; "
        "the paper's filter used 0.97), e.g. --min_probability=0.97.")
  for flag in (PRIOR_WEIGHT, CONDITION_WEIGHT, SAMPLER_NOISE):
    if flag.value is not None and not flag.value >= 0:
      raise app.UsageError(f"--{flag.name}={flag.value} must be >= 0 (0 "
                           "turns the term off), e.g. --prior_weight=1e-5.")
  if SAMPLER_STEP_SIZE.value is not None and not SAMPLER_STEP_SIZE.value > 0:
    raise app.UsageError(f"--sampler_step_size={SAMPLER_STEP_SIZE.value} "
                         "must be > 0, e.g. --sampler_step_size=0.1.")
  if NUM_MCMC_STEPS.value is not None and NUM_MCMC_STEPS.value <= 0:
    raise app.UsageError(f"--num_mcmc_steps={NUM_MCMC_STEPS.value} must be "
                         "a positive integer, e.g. --num_mcmc_steps=200.")


def plug_in_kwargs(model):
  """(sample kwargs, class of every sample or None) of the plug-in flags."""
  kwargs, sampler = {}, {}
  if CONDITION.value:
    kwargs["conditions"] = tuple(model.parse_conditions(CONDITION.value))
  if PRIOR.value is not None:
    kwargs["prior"] = model.check_prior(PRIOR.value)
  if NUM_MCMC_STEPS.value is not None:
    kwargs["num_steps"] = NUM_MCMC_STEPS.value
  for flag in (PRIOR_WEIGHT, CONDITION_WEIGHT, SAMPLER_NOISE,
               SAMPLER_STEP_SIZE, SAMPLER_STEP_SIZE_END):
    if flag.value is not None:
      sampler[flag.name] = float(flag.value)
  if CLASS_CONDITION.value is not None:
    sampler["class_condition"] = CLASS_CONDITION.value
  if sampler:
    kwargs["sampler"] = sampler
  return kwargs


def condition_class(conditions):
  """K when the conditions are exactly one single-class `class:K`."""
  classes = [c for c in conditions if c.kind == "class"]
  if len(conditions) == 1 and classes and len(classes[0].values) == 1:
    return int(classes[0].values[0])
  return None


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
  plug_ins = [f for f in PLUG_IN_FLAGS if f.present]
  check_plug_in_flags()
  if CHAIN_GIF.value and not CHAIN_GIF.value.endswith(".gif"):
    raise app.UsageError(f"--chain_gif={CHAIN_GIF.value!r} must be a path "
                         "ending in .gif, e.g. --chain_gif=/tmp/chains.gif.")
  if NUM_CHAIN_FRAMES.value <= 0:
    raise app.UsageError(f"--num_chain_frames={NUM_CHAIN_FRAMES.value} must "
                         "be a positive integer, e.g. --num_chain_frames=20.")
  common.check_outputs(output=OUTPUT.value,
                       refine_panel=REFINE_PANEL.value,
                       chain_gif=CHAIN_GIF.value)
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from tfgen import families
  from tfgen.train import workdir as workdir_lib
  from tfgen.vis import grid as grid_lib
  try:
    model, _, step = workdir_lib.load_model(WORKDIR.value,
                                            weights=WEIGHTS.value)
  except (ValueError, workdir_lib.CheckpointError) as error:
    raise app.UsageError(str(error)) from error
  kwargs, class_id = {}, CLASS_ID.value
  if plug_ins:
    try:
      families.require(model, "plug_in_conditions",
                       f"--{plug_ins[0].name}")
      kwargs = plug_in_kwargs(model)
    except ValueError as error:
      raise app.UsageError(f"--workdir={WORKDIR.value!r}: {error}") from error
  if REFINE_PANEL.value:
    try:
      families.require(model, "refine",
                       f"--refine_panel={REFINE_PANEL.value!r}")
    except ValueError as error:
      raise app.UsageError(f"--workdir={WORKDIR.value!r}: {error}") from error
  if CHAIN_GIF.value:
    try:
      families.require(model, "chain_snapshots",
                       f"--chain_gif={CHAIN_GIF.value!r}")
    except ValueError as error:
      raise app.UsageError(f"--workdir={WORKDIR.value!r}: {error}") from error
  canvas_flags = {"canvas_panel": CANVAS_PANEL.value,
                  "num_canvas_steps": NUM_CANVAS_STEPS.value}
  for name, value in canvas_flags.items():
    if value is None:
      continue
    try:
      families.require(model, "canvas_steps", f"--{name}={value!r}")
    except ValueError as error:
      raise app.UsageError(f"--workdir={WORKDIR.value!r}: {error}") from error
  if CANVAS_PANEL.value and not CANVAS_PANEL.value.endswith(".png"):
    raise app.UsageError(f"--canvas_panel={CANVAS_PANEL.value!r} must end "
                         "in .png.")
  extra = {}
  if NUM_CANVAS_STEPS.value is not None:
    try:
      model.sampling_steps(NUM_CANVAS_STEPS.value)
    except ValueError as error:
      raise app.UsageError(f"--{error}") from error
    extra["num_canvas_steps"] = NUM_CANVAS_STEPS.value
  kwargs.update(extra)
  if REFINE_PANEL.value and not REFINE_PANEL.value.endswith(".png"):
    raise app.UsageError(f"--refine_panel={REFINE_PANEL.value!r} must end "
                         "in .png.")
  conditions = kwargs.get("conditions", ())
  try:
    if conditions and class_id is None:
      # Only the conditions steer the chains; a lone class:K is the label.
      label = condition_class(conditions)
      labels = None if label is None else np.full(
          [NUM_SAMPLES.value], label, np.int32)
    else:
      labels = model.sample_classes(NUM_SAMPLES.value, seed=SEED.value,
                                    class_id=class_id)
  except ValueError as error:
    raise app.UsageError(f"--class_id: {error}") from error
  chunks, probabilities = [], []
  for start in range(0, NUM_SAMPLES.value, BATCH_SIZE.value):
    count = min(BATCH_SIZE.value, NUM_SAMPLES.value - start)
    grids = model.sample(count, seed=SEED.value, first_index=start,
                         class_id=class_id, **kwargs)
    chunks.append([(g.numpy() + 1.0) / 2.0 for g in grids])
    if MIN_PROBABILITY.value is not None:
      probabilities.append(model.condition_probability(
          grids[-1], None if labels is None or conditions else
          labels[start:start + count], conditions,
          CLASS_CONDITION.value).numpy())
  per_grid = [np.concatenate(parts) for parts in zip(*chunks)]
  arrays = {name: images.astype(np.float32)
            for name, images in zip(model.sample_names(**extra), per_grid)}
  arrays["images"] = per_grid[-1].astype(np.float32)
  if labels is not None:
    arrays["labels"] = labels.astype(np.int32)
  kept_note = ""
  if MIN_PROBABILITY.value is not None:
    probability = np.concatenate(probabilities).astype(np.float32)
    keep = probability >= MIN_PROBABILITY.value
    arrays = {name: values[keep] for name, values in arrays.items()}
    arrays["probability"] = probability[keep]
    kept_note = (f" Kept {int(keep.sum())} of {len(keep)} samples with "
                 f"condition probability >= {MIN_PROBABILITY.value} (keep "
                 f"rate {keep.mean():.3f}).")
  os.makedirs(os.path.dirname(os.path.abspath(OUTPUT.value)), exist_ok=True)
  common.save_npz(OUTPUT.value, **arrays)
  png = os.path.splitext(OUTPUT.value)[0] + ".png"
  if len(arrays["images"]):
    grid_lib.save_png(arrays["images"][:PNG_IMAGES.value], png)
  print(f"Wrote {len(arrays['images'])} samples of step {step} to "
        f"{OUTPUT.value} and {png}.{kept_note}")
  if CANVAS_PANEL.value:
    # pylint: disable=g-import-not-at-top
    from tfgen.vis import canvas as canvas_lib
    _, gif = canvas_lib.save_canvas_figures(per_grid, CANVAS_PANEL.value,
                                            CANVAS_ROWS)
    print(f"Wrote {CANVAS_PANEL.value} ({len(per_grid[0][:CANVAS_ROWS])} "
          f"samples x {len(per_grid)} canvas steps) and {gif}.")
  if CHAIN_GIF.value:
    write_chain_gif(model, CHAIN_GIF.value, class_id, kwargs)
  if REFINE_PANEL.value:
    panel, spread = refinement_panel(model, SEED.value, CLASS_ID.value)
    grid_lib.save_png(panel, REFINE_PANEL.value,
                      columns=PANEL_REFINEMENTS + 1)
    print(f"Wrote {REFINE_PANEL.value}: {PANEL_ROWS} coarse images (left "
          f"column) x {PANEL_REFINEMENTS} refinements; mean per-pixel std "
          f"across refinements of one coarse image: {spread:.4f} (pixels "
          "in [0, 1]).")


if __name__ == "__main__":
  common.run(main)
