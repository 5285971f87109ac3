r"""The `features` and `diagnostics` subcommands of `python -m apps.evaluate`.

    python -m apps.evaluate features --workdir=DIR [--num_labelled=100,300,1000]
        [--output=F.json]
    python -m apps.evaluate diagnostics --workdir=DIR --output_dir=D

features: the paper's Exp. 2 (see `tfgen.metrics.features`): test error of a
linear L2-SVM on the energy nets' features for each --num_labelled, of a
supervised CNN of the same architecture trained on those labels only, and
of a 2-layer CNN on the feature maps of all grids (paper Table 3, "multi-grid
method + CNN classifier"), early-stopped on a slice of those labels.

diagnostics: the supplement's diagnostics (see `tfgen.metrics.diagnostics`):
correlation between each grid's chain start Y0 and its state after
--num_steps steps, per sampler (--samplers, default Langevin and HMC); mean
and std of f_g on training, held-out, synthesised and negative images; the
L1 norm of each grid's gradient over training as D/gradient_norms.png. Writes
D/diagnostics.json and prints it.
"""

from __future__ import annotations

import json
import os

from absl import app
from absl import flags
import numpy as np

NUM_LABELLED = flags.DEFINE_list(
    "num_labelled", None, "features: labelled training examples per setting. "
    "Default: 1000,2000,4000 on svhn_cropped (the paper's), else 100,300,1000.")
CNN_EPOCHS = flags.DEFINE_integer(
    "cnn_epochs", 30, "features: epochs of the supervised reference CNN over "
    "its labelled subset; 0 skips it.")
FEATURE_CNN_EPOCHS = flags.DEFINE_integer(
    "feature_cnn_epochs", 100, "features: most epochs of the 2-layer CNN on "
    "the feature maps of all grids (early stopping on a 20% slice of the "
    "labelled subset usually ends sooner); 0 skips it.")
FEATURE_MAP_SIZE = flags.DEFINE_integer(
    "feature_map_size", None, "features: side m the feature-map CNN's maps "
    "are resampled to (default: the finest energy net's last conv map, 4 on "
    "16x16 digits).")
FEATURE_GRIDS = flags.DEFINE_list(
    "feature_grids", None, "features: model grids whose energy nets give the "
    "SVM's features (default: all).")
MAX_EXAMPLES = flags.DEFINE_integer(
    "max_examples", None, "features/diagnostics: use at most this many images "
    "of each split (large datasets).")
OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "diagnostics: folder for "
                                 "diagnostics.json and gradient_norms.png.")
NUM_CHAINS = flags.DEFINE_integer(
    "num_chains", None, "diagnostics: chains per sampler for the Y0 / Y_T "
    "correlation (default 200); chains: independent chains per sampler "
    "(default 8; GRAN: samples).")
NUM_STEPS = flags.DEFINE_integer(
    "num_steps", None, "diagnostics: sampling steps T per grid (default: the "
    "model's); chains: steps per chain, per grid for multigrid (default "
    "200; GRAN: canvas steps, default the model's).")
SAMPLERS = flags.DEFINE_list(
    "samplers", ["langevin", "hmc"], "diagnostics: samplers to compare; "
    "chains: the kernels to trace (default: all of the family's: multigrid "
    "langevin,hmc; PPGN mala_approx).")
NUM_SCORE_IMAGES = flags.DEFINE_integer(
    "num_score_images", 500, "diagnostics: images per set of the score table.")
NEGATIVES = flags.DEFINE_list(
    "negatives", [], "diagnostics: extra negative image sources (dataset "
    "names or folder:PATH) next to pixel-permuted images and uniform noise.")

DIAGNOSTIC_NUM_CHAINS = 200
DEFAULT_NUM_LABELLED = {"svhn_cropped": (1000, 2000, 4000)}
FALLBACK_NUM_LABELLED = (100, 300, 1000)
# Flags of apps.evaluate that only its default (sample quality) mode reads.
SAMPLE_QUALITY_FLAGS = ("samples", "num_samples", "image_size", "cache_dir",
                        "dataset", "inception_weights", "inception_splits",
                        "inception_batch_size", "inception_reference_images")
FEATURE_FLAGS = ("num_labelled", "cnn_epochs", "feature_grids",
                 "feature_cnn_epochs", "feature_map_size")
DIAGNOSTIC_FLAGS = ("output_dir", "num_chains", "num_steps", "samplers",
                    "num_score_images", "negatives")


def refuse_flags(subcommand: str, names) -> None:
  """UsageError if a flag in `names` was given on the command line."""
  for name in names:
    if name in flags.FLAGS and flags.FLAGS[name].present:
      raise app.UsageError(
          f"--{name}={flags.FLAGS[name].value} does not apply to `apps."
          f"evaluate {subcommand}`; drop it.")


def json_ready(value):
  """NaN -> None (JSON null; json.dumps would write the invalid NaN)."""
  if isinstance(value, dict):
    return {k: json_ready(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_ready(v) for v in value]
  if isinstance(value, float) and value != value:
    return None
  return value


def write_json(result: dict, path: str, printed: dict = None) -> None:
  """Writes `result` to `path` (if any) and prints `printed` (or it)."""
  result = json_ready(result)
  if path:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
      f.write(json.dumps(result, indent=2) + "\n")
    os.replace(path + ".tmp", path)
  print(json.dumps(json_ready(printed) if printed else result, indent=2))


def _positive_ints(flag, values) -> tuple[int, ...]:
  try:
    numbers = tuple(int(v) for v in values)
  except ValueError as error:
    raise app.UsageError(f"--{flag}={','.join(values)} must be a list of "
                         "integers, e.g. 100,300,1000.") from error
  if not numbers or any(n <= 0 for n in numbers):
    raise app.UsageError(f"--{flag}={','.join(values)} must be positive "
                         "integers, e.g. 100,300,1000.")
  return numbers


def _labelled_splits(dataset: str, image_size: int, data_dir, subcommand):
  from tfgen import data  # pylint: disable=g-import-not-at-top
  if data.num_classes(dataset) == 0:
    raise app.UsageError(
        f"--workdir was trained on dataset={dataset!r}, which has no class "
        f"labels; `apps.evaluate {subcommand}` needs a labelled dataset "
        "(digits, mnist, cifar10, svhn_cropped).")
  if MAX_EXAMPLES.value is not None and MAX_EXAMPLES.value <= 0:
    raise app.UsageError(f"--max_examples={MAX_EXAMPLES.value} must be "
                         "positive.")
  splits = [data.arrays(dataset, split, image_size, data_dir=data_dir,
                        max_examples=MAX_EXAMPLES.value)
            for split in ("train", "test")]
  return splits[0] + splits[1]


def _multigrid_only(model, config, workdir: str, subcommand: str) -> None:
  """Features and diagnostics read energy nets (the 'features' capability)."""
  del model
  from tfgen import families  # pylint: disable=g-import-not-at-top
  try:
    families.require(config, "features", f"`apps.evaluate {subcommand}`")
  except ValueError as error:
    raise app.UsageError(f"--workdir={workdir!r}: {error}") from None


def features_command(workdir: str, output: str, seed: int, load_workdir,
                     data_dir=None) -> dict:
  """Runs `features`; `load_workdir(path) -> (model, config, step)`."""
  refuse_flags("features", SAMPLE_QUALITY_FLAGS + DIAGNOSTIC_FLAGS)
  if not workdir:
    raise app.UsageError("`apps.evaluate features` needs --workdir=DIR, a "
                         "workdir trained with apps.train.")
  if CNN_EPOCHS.value < 0:
    raise app.UsageError(f"--cnn_epochs={CNN_EPOCHS.value} must be >= 0 (0 "
                         "skips the supervised CNN).")
  if FEATURE_CNN_EPOCHS.value < 0:
    raise app.UsageError(
        f"--feature_cnn_epochs={FEATURE_CNN_EPOCHS.value} must be >= 0 (0 "
        "skips the CNN on the feature maps), e.g. 100.")
  if FEATURE_MAP_SIZE.value is not None and FEATURE_MAP_SIZE.value <= 0:
    raise app.UsageError(
        f"--feature_map_size={FEATURE_MAP_SIZE.value} must be positive, e.g. "
        "4 (or drop it for the finest energy net's last map side).")
  model, config, step = load_workdir(workdir)
  _multigrid_only(model, config, workdir, "features")
  dataset = config.data.dataset
  grids = None
  if FEATURE_GRIDS.value:
    grids = _positive_ints("feature_grids", FEATURE_GRIDS.value)
    unknown = [g for g in grids if g not in model.model_grids]
    if unknown:
      raise app.UsageError(
          f"--feature_grids={','.join(FEATURE_GRIDS.value)}: {unknown} are "
          f"not model grids of --workdir; use some of "
          f"{','.join(map(str, model.model_grids))}.")
  counts = (_positive_ints("num_labelled", NUM_LABELLED.value)
            if NUM_LABELLED.value else
            DEFAULT_NUM_LABELLED.get(dataset, FALLBACK_NUM_LABELLED))
  train_images, train_labels, test_images, test_labels = _labelled_splits(
      dataset, config.data.image_size, data_dir or config.data.data_dir,
      "features")
  from tfgen.metrics import features  # pylint: disable=g-import-not-at-top
  for count in counts:
    try:
      subset = features.balanced_subset(train_labels, count, seed)
    except ValueError as error:
      raise app.UsageError(f"--num_labelled: {error}") from error
    if FEATURE_CNN_EPOCHS.value:
      try:
        features.feature_cnn_validation_slice(train_labels[subset], seed)
      except ValueError as error:
        raise app.UsageError(f"--num_labelled={count}: {error}") from error
  map_shape = features.feature_map_shape(model, FEATURE_MAP_SIZE.value)
  rows = features.evaluate_features(
      model, train_images, train_labels, test_images, test_labels, counts,
      seed=seed, grids=grids, cnn_epochs=CNN_EPOCHS.value,
      feature_cnn_epochs=FEATURE_CNN_EPOCHS.value,
      feature_map_size=FEATURE_MAP_SIZE.value)
  result = {
      "rows": rows,
      "dataset": dataset,
      "feature_dim": features.feature_dimension(model, grids),
      "feature_grids": list(grids or model.model_grids),
      "feature_map_shape": (list(map_shape) if FEATURE_CNN_EPOCHS.value
                            else None),
      "num_train_images": int(len(train_images)),
      "num_test_images": int(len(test_images)),
      "source": {"workdir": os.path.abspath(workdir), "step": step,
                 "seed": seed},
      "notes": ("svm_error: LinearSVC (squared hinge, C="
                f"{features.SVM_C}) on standardised energy-net features of "
                "a class-balanced labelled subset; supervised_cnn_error: the "
                "finest grid's energy-net architecture with a softmax head, "
                f"trained {CNN_EPOCHS.value} epochs on that subset only; "
                "feature_cnn_error: two 3x3 conv layers and a softmax on the "
                "conv activations of every grid's energy net, resampled to "
                "feature_map_shape, trained on that subset for "
                "feature_cnn_epochs_trained epochs (chosen by early stopping "
                "on a 20% slice of it, at most "
                f"{FEATURE_CNN_EPOCHS.value}). Errors on the test split, in "
                "[0, 1]; null = row skipped."),
  }
  write_json(result, output)
  return result


def draw_samples(model, count: int, seed: int, labels=None,
                 batch_size: int = 500) -> np.ndarray:
  """`count` finest-grid samples [N, S, S, C], clipped to [-1, 1].

  Unconditional: `model.sample(..., seed, first_index)` in chunks (the
  images of `apps.sample --seed`). Conditional: `labels` int [N] gives each
  image's class; class k's images are sampled with `class_id=k`, every image
  with its own example seed (first_index runs over all N images).
  """
  images = None
  if labels is None:
    groups = [(None, np.arange(count))]
  else:
    labels = np.asarray(labels)
    groups = [(int(k), np.flatnonzero(labels == k)) for k in np.unique(labels)]
  offset = 0
  for class_id, rows in groups:
    for start in range(0, len(rows), batch_size):
      part = rows[start:start + batch_size]
      sample = np.asarray(model.sample(len(part), seed=seed,
                                       first_index=offset + start,
                                       class_id=class_id)[-1])
      if images is None:
        images = np.zeros((count,) + sample.shape[1:], np.float32)
      images[part] = sample
    offset += len(rows)
  return np.clip(images, -1.0, 1.0)


def _negative_sets(train_images, seed, image_size, channels, data_dir):
  from tfgen import data  # pylint: disable=g-import-not-at-top
  from tfgen.metrics import diagnostics  # pylint: disable=g-import-not-at-top
  sets = diagnostics.negative_images(train_images, seed)
  for source in NEGATIVES.value:
    try:
      data.validate_name(source)
      if data.num_channels(source, channels) != channels:
        raise ValueError(f"it has {data.num_channels(source, channels)}-"
                         f"channel images, the model {channels}")
      images, _ = data.arrays(source, "test", image_size, data_dir=data_dir,
                              max_examples=len(train_images),
                              folder_channels=channels)
    except ValueError as error:
      raise app.UsageError(f"--negatives={source!r}: {error}") from error
    sets[source] = images
  return sets


def diagnostics_command(workdir: str, seed: int, load_workdir,
                        data_dir=None) -> dict:
  """Runs `diagnostics`; writes OUTPUT_DIR/diagnostics.json and the PNG."""
  refuse_flags("diagnostics", SAMPLE_QUALITY_FLAGS + FEATURE_FLAGS)
  if not workdir or not OUTPUT_DIR.value:
    raise app.UsageError(
        f"`apps.evaluate diagnostics` needs --workdir (got {workdir!r}) and "
        f"--output_dir (got {OUTPUT_DIR.value!r}).")
  num_chains = (DIAGNOSTIC_NUM_CHAINS if NUM_CHAINS.value is None
                else NUM_CHAINS.value)
  for name, value, example in (
      ("num_chains", num_chains, DIAGNOSTIC_NUM_CHAINS),
      ("num_score_images", NUM_SCORE_IMAGES.value, NUM_SCORE_IMAGES.default)):
    if value < 2:
      raise app.UsageError(f"--{name}={value} must be >= 2, e.g. "
                           f"{example}.")
  if NUM_STEPS.value is not None and NUM_STEPS.value < 0:
    raise app.UsageError(f"--num_steps={NUM_STEPS.value} must be >= 0, e.g. "
                         "30 (the paper's).")
  unknown = [s for s in SAMPLERS.value if s not in ("langevin", "hmc")]
  if unknown or not SAMPLERS.value:
    raise app.UsageError(f"--samplers={','.join(SAMPLERS.value)} must list "
                         "'langevin' and/or 'hmc'.")
  model, config, step = load_workdir(workdir)
  _multigrid_only(model, config, workdir, "diagnostics")
  from tfgen.metrics import diagnostics  # pylint: disable=g-import-not-at-top
  try:
    history = diagnostics.gradient_norm_history(workdir)
  except ValueError as error:
    raise app.UsageError(f"--workdir={workdir!r}: {error}") from error
  data_dir = data_dir or config.data.data_dir
  dataset, size = config.data.dataset, config.data.image_size
  from tfgen import data  # pylint: disable=g-import-not-at-top
  train_images, train_labels = data.arrays(
      dataset, "train", size, data_dir=data_dir,
      max_examples=MAX_EXAMPLES.value)
  test_images, test_labels = data.arrays(dataset, "test", size,
                                         data_dir=data_dir,
                                         max_examples=MAX_EXAMPLES.value)
  conditional = model.num_classes > 0
  rng = np.random.default_rng(seed)
  chains = rng.choice(len(train_images), num_chains,
                      replace=num_chains > len(train_images))
  correlation = {}
  for sampler in SAMPLERS.value:
    states = diagnostics.chain_states(
        model, train_images[chains], seed, sampler, NUM_STEPS.value,
        train_labels[chains] if conditional else None)
    correlation[sampler] = {
        over: {str(g): diagnostics.pixel_correlation(first, last, over)
               for g, (first, last) in states.items()}
        for over in diagnostics.CORRELATION_MODES}
  count = NUM_SCORE_IMAGES.value
  rows = rng.choice(len(train_images), min(count, len(train_images)),
                    replace=False)
  sets = {"training": train_images[rows], "held_out": test_images[:count]}
  labels = {"training": train_labels[rows], "held_out": test_labels[:count]}
  sample_labels = (np.resize(train_labels[rows], count) if conditional
                   else None)
  sets["synthesized"] = draw_samples(model, count, seed, sample_labels)
  labels["synthesized"] = sample_labels
  negatives = _negative_sets(sets["training"], seed, size,
                             config.data.channels, data_dir)
  for name, images in negatives.items():
    sets[f"negative_{name}"] = images
    labels[f"negative_{name}"] = np.resize(train_labels[rows], len(images))
  table = diagnostics.score_table(model, sets, labels if conditional else None)
  os.makedirs(OUTPUT_DIR.value, exist_ok=True)
  from tfgen.vis import plots  # pylint: disable=g-import-not-at-top
  png = plots.plot_gradient_norms(
      history, os.path.join(OUTPUT_DIR.value, "gradient_norms.png"))
  result = {
      "chain_correlation": correlation,
      "num_chains": num_chains,
      "num_steps": (NUM_STEPS.value if NUM_STEPS.value is not None
                    else list(model.num_langevin_steps)),
      "scores": {name: {str(g): {"mean": m, "std": s}
                        for g, (m, s) in grids.items()}
                 for name, grids in table.items()},
      "gradient_l1_norm": {
          str(g): {"first": v[0][1], "last": v[-1][1],
                   "min": min(p[1] for p in v), "max": max(p[1] for p in v),
                   "steps": [p[0] for p in v], "values": [p[1] for p in v]}
          for g, v in history.items()},
      "gradient_norms_png": png,
      "source": {"workdir": os.path.abspath(workdir), "step": step,
                 "seed": seed},
      "notes": (
          "chain_correlation[sampler]['pixels'][grid]: per chain, Pearson "
          "correlation of Y0 and Y_T over pixels, mean over chains (NaN at "
          "the first grid of a grey-scale model: its Y0, an up-sampled 1x1 "
          "image, is constant); ['chains']: per pixel, correlation across "
          "chains, mean over pixels. Chains start from the 1x1 averages of "
          "training images (NaN is written as null). scores: f_g mean/std "
          "per image set; negatives "
          "are pixel-permuted training images, uniform noise and "
          "--negatives sources." + (" Conditional model: each set is scored "
                                    "with its (or its source image's) label."
                                    if conditional else "")),
  }
  printed = dict(result, gradient_l1_norm={
      g: {k: v for k, v in norms.items() if k not in ("steps", "values")}
      for g, norms in result["gradient_l1_norm"].items()})
  write_json(result, os.path.join(OUTPUT_DIR.value, "diagnostics.json"),
             printed)
  return result
