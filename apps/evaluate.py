r"""Scores generated images through a classifier trained on the dataset.

    python -m apps.evaluate --workdir=DIR [--num_samples=500 --seed=0]
    python -m apps.evaluate --samples=samples.npz [--dataset=digits]
    python -m apps.evaluate features --workdir=DIR [--num_labelled=...]
    python -m apps.evaluate diagnostics --workdir=DIR --output_dir=D
    python -m apps.evaluate chains --workdir=DIR --output=DIR_OR_JSON

The `features` and `diagnostics` subcommands are described in
`apps.analysis`, `chains` (ESS, R-hat, traces and GIFs of the MCMC chains)
in `apps.chains`; without a subcommand it scores sample quality, as
follows.

Samples `--num_samples` images from a trained workdir (the same images as
`apps.sample --seed=S`), or reads `images`
(float32 [N, S, S, C] in [0, 1]) from an `apps.sample` .npz file. A small
classifier is trained once on the dataset's train split and cached (see
`tfgen.metrics.classifier`). Prints one JSON object:

  {"samples": {...}, "real_test_images": {...}, "classifier_test_accuracy",
   "dataset", "image_size", "source", "notes"}

Both rows also hold "pixel_svm": a second judge that shares nothing with
the ConvNet (`tfgen.metrics.pixel_judge`: an RBF SVM on 8x8 area-averaged
pixels; mean_top_probability, classifier_score, classes_covered and, for
conditioned samples and the test split, class_accuracy), skipped when the
image side is not a multiple of 8.

plus "conditional_refinement_error" with --num_refinements (LAPGAN workdirs,
see `tfgen.metrics.refinement`), where both rows hold classifier_score (exp E_x KL(p(y|x) || p(y)), in
[1, classes]), classes_covered (classes that are the top label of >= 3% of the
images), mean_top_probability, frechet_distance (in the classifier's
penultimate features, against the test split), nearest_train_distance (mean L2
distance in [0, 1] pixels to the closest training image) and num_images;
"samples" also holds within_class_diversity (below), its images grouped by
the classifier's top class.
Values outside [0, 1] (unclipped chains) are clipped, as a PNG would.

Conditioned samples: when the .npz holds `labels` (int [N], what apps.sample
writes for a class-conditional model), or --workdir is a class-conditional
model (then --num_samples are spread evenly over the classes), "samples" also
holds class_accuracy: {"accuracy", "per_class", "counts"}, how often the
classifier's top class is the class the image was conditioned on, and
within_class_diversity is grouped by those labels. within_class_diversity (`tfgen.metrics.diversity`): the mean pairwise L2
between the images of one class relative to the same for the real test
images of that class ("distance_ratio", 1 = as diverse as the data, 0 = one
image per class) and the mean pairwise SSIM ("ssim" vs "real_ssim"; higher
= more alike), averaged over classes.

--neighbours_png writes each of the first images beside its 3 nearest
training images.

--inception_weights=PATH (a local InceptionV3 weights file; see
`apps.evaluate_inception` and docs/inception.md) adds inception_score,
inception_score_std, fid_inception and inception_num_images to both rows and
an "inception" object saying how they were computed.
"""

from __future__ import annotations

import json
import os
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
from apps import common
from absl import app
from absl import flags
import numpy as np

from apps import analysis
from apps import chains
from apps import evaluate_inception

WORKDIR = flags.DEFINE_string("workdir", None, "Trained workdir to sample "
                              "from (or pass --samples).")
SAMPLES = flags.DEFINE_string("samples", None, ".npz file from apps.sample "
                              "holding `images` float32 [N, S, S, C] in "
                              "[0, 1] (or pass --workdir).")
DATASET = flags.DEFINE_string("dataset", None, "Labelled dataset the images "
                              "imitate. Default: the workdir's, else digits.")
IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Image side; checked "
                                  "against the workdir / samples if given.")
NUM_SAMPLES = flags.DEFINE_integer("num_samples", 500, "Images to sample "
                                   "from --workdir.")
SEED = flags.DEFINE_integer("seed", 0, "Sampling seed for --workdir.")
CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Folder of cached "
                                "classifiers. Default: $TFGEN_CACHE_DIR, else "
                                "~/.cache/tfgen/classifiers.")
DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data_dir. Default: "
                               "the workdir's.")
OUTPUT = flags.DEFINE_string(
    "output", None, "Also write the JSON here (chains: a folder for "
    "chains.json and the figures, or a .json path).")
NEIGHBOURS_PNG = flags.DEFINE_string(
    "neighbours_png", None, "Also write this PNG: the first "
    "--num_neighbour_rows images, each beside its 3 nearest training images "
    "(L2 in pixels); is the model copying the data?")
NUM_NEIGHBOUR_ROWS = flags.DEFINE_integer(
    "num_neighbour_rows", 16, "Rows of --neighbours_png.")
NUM_REFINEMENTS = flags.DEFINE_integer(
    "num_refinements", 0, "LAPGAN --workdir only: also report the "
    "conditional-refinement error: for every test image, the smallest L2 "
    "distance between it and this many refinements of its coarsest level "
    "(0 = skip; e.g. 16).")
NUM_NEIGHBOURS = 3

DEFAULT_DATASET = "digits"
# The second judge's resolution (`tfgen.metrics.pixel_judge`): the digits'
# own 8x8; skipped for sizes it does not divide.
PIXEL_JUDGE_SIZE = 8
# Images per sampler call (memory bound); chunking does not change them.
SAMPLE_BATCH_SIZE = 500
# Values this far outside [0, 1] mean another convention, not unclipped chains.
RANGE_SLACK = 0.5
NOTES = (
    "real_test_images scores the dataset's test split as the reference; its "
    "frechet_distance is between the even- and odd-indexed halves of the "
    "test split (against itself it would be 0), while the samples' is "
    "against the whole test split. The Frechet distance is biased upwards "
    "for small sets, so compare numbers of similar num_images.")


def read_samples(path: str) -> np.ndarray:
  """`images` of an apps.sample .npz: checked, clipped, mapped to [-1, 1].

  Returns float32 [N, S, S, C] in [-1, 1]; raises app.UsageError naming
  --samples for a missing or unreadable file or a wrong shape, dtype or range.
  """
  if not os.path.isfile(path):
    raise app.UsageError(f"--samples={path!r} does not exist. Write one with "
                         "`python -m apps.sample --workdir=DIR "
                         "--output=FILE.npz`.")
  try:
    archive = np.load(path, allow_pickle=False)
  except (OSError, ValueError, zipfile.BadZipFile) as error:
    raise app.UsageError(f"--samples={path!r} is not a readable .npz file "
                         f"({error}); write it with apps.sample or "
                         "numpy.savez(path, images=...).") from error
  if not isinstance(archive, np.lib.npyio.NpzFile):
    raise app.UsageError(f"--samples={path!r} holds a single array, not an "
                         ".npz archive; save it with numpy.savez(path, "
                         "images=...).")
  with archive:
    if "images" not in archive.files:
      raise app.UsageError(
          f"--samples={path!r} holds {sorted(archive.files)} but no 'images' "
          "array; save float32 [N, S, S, C] images in [0, 1] under the name "
          "'images'.")
    images = archive["images"]
  if (images.ndim != 4 or images.shape[1] != images.shape[2]
      or images.shape[3] not in (1, 3) or images.shape[0] < 2):
    raise app.UsageError(
        f"--samples={path!r}: 'images' has shape {images.shape}, but must be "
        "[N, S, S, C] with N >= 2 square images and C = 1 or 3 channels.")
  if not np.issubdtype(images.dtype, np.floating):
    raise app.UsageError(
        f"--samples={path!r}: 'images' has dtype {images.dtype}, but must be "
        "float in [0, 1] (divide uint8 images by 255).")
  if not np.all(np.isfinite(images)):
    raise app.UsageError(f"--samples={path!r}: 'images' holds NaN or inf "
                         "values; the sampler diverged.")
  low, high = float(images.min()), float(images.max())
  if low < -RANGE_SLACK or high > 1.0 + RANGE_SLACK:
    raise app.UsageError(
        f"--samples={path!r}: 'images' lie in [{low:.3g}, {high:.3g}], but "
        "must lie in [0, 1] (map [-1, 1] images with (x + 1) / 2, [0, 255] "
        "ones with x / 255).")
  return np.clip(images.astype(np.float32), 0.0, 1.0) * 2.0 - 1.0


def read_labels(path: str, count: int):
  """`labels` int [N] of an .npz if it holds them (else None), checked."""
  with np.load(path, allow_pickle=False) as archive:
    if "labels" not in archive.files:
      return None
    labels = archive["labels"]
  if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
    raise app.UsageError(
        f"--samples={path!r}: 'labels' has dtype {labels.dtype} and shape "
        f"{labels.shape}, but must be int [{count}]: the class of each image.")
  return labels


def load_workdir(workdir: str):
  """(model, config, step) of a trained workdir, or app.UsageError."""
  from tfgen.train import workdir as workdir_lib
  try:
    return workdir_lib.load_model(workdir)
  except ValueError as error:  # CheckpointError is a ValueError too.
    raise app.UsageError(f"--workdir={workdir!r}: {error}") from error


def draw_samples(model, num_samples: int, seed: int) -> np.ndarray:
  """`model`'s finest-grid samples, float32 [N, S, S, C] clipped to [-1, 1]."""
  chunks = []
  for start in range(0, num_samples, SAMPLE_BATCH_SIZE):
    count = min(SAMPLE_BATCH_SIZE, num_samples - start)
    chunks.append(np.asarray(
        model.sample(count, seed=seed, first_index=start)[-1]))
  return np.clip(np.concatenate(chunks), -1.0, 1.0).astype(np.float32)


def check_dataset(dataset: str, channels: int) -> None:
  """UsageError unless `dataset` is known, labelled and has `channels`."""
  from tfgen import data
  try:
    data.validate_name(dataset)
  except ValueError as error:
    raise app.UsageError(f"--dataset: {error}") from error
  if data.num_classes(dataset) == 0:
    raise app.UsageError(
        f"--dataset={dataset!r} has no class labels, but the evaluation "
        "trains a classifier on them; pass the labelled dataset the images "
        "imitate, e.g. --dataset=digits, mnist, cifar10 or svhn_cropped.")
  expected = data.num_channels(dataset)
  if channels != expected:
    raise app.UsageError(
        f"--dataset={dataset!r} has {expected}-channel images, but the "
        f"images to score have {channels}; pass the dataset they were "
        "trained on.")


def write_neighbours_png(path: str, images: np.ndarray,
                         train_images: np.ndarray) -> None:
  """Row i: images[i], then its 3 nearest training images (all in [-1, 1])."""
  from tfgen.metrics import sample_quality
  from tfgen.vis import grid as grid_lib
  indices, _ = sample_quality.nearest_neighbours(images, train_images,
                                                 NUM_NEIGHBOURS)
  rows = np.concatenate([images[:, None], train_images[indices]], axis=1)
  grid_lib.save_png((rows.reshape(-1, *images.shape[1:]) + 1.0) / 2.0, path,
                    columns=NUM_NEIGHBOURS + 1)


SUBCOMMANDS = ("features", "diagnostics", "chains")


def main(argv):
  if len(argv) > 1:
    if argv[1] not in SUBCOMMANDS or len(argv) > 2:
      raise app.UsageError(
          f"Unexpected arguments: {argv[1:]}. Subcommands: "
          f"{', '.join(SUBCOMMANDS)} (e.g. `python -m apps.evaluate features "
          "--workdir=DIR`); without one, apps.evaluate scores sample "
          "quality.")
    if flags.FLAGS["samples"].present:
      raise app.UsageError(f"--samples does not apply to `apps.evaluate "
                           f"{argv[1]}`, which reads a trained --workdir.")
    if argv[1] == "chains":
      chains.chains_command(WORKDIR.value, OUTPUT.value, SEED.value,
                            load_workdir)
      return
    analysis.refuse_flags(argv[1], chains.CHAIN_FLAGS)
    if argv[1] == "features":
      analysis.features_command(WORKDIR.value, OUTPUT.value, SEED.value,
                                load_workdir, DATA_DIR.value)
    else:
      if OUTPUT.value:
        raise app.UsageError("--output does not apply to `apps.evaluate "
                             "diagnostics`; it writes "
                             "--output_dir/diagnostics.json.")
      analysis.diagnostics_command(WORKDIR.value, SEED.value, load_workdir,
                                   DATA_DIR.value)
    return
  analysis.refuse_flags("sample quality (no subcommand)",
                        analysis.FEATURE_FLAGS + analysis.DIAGNOSTIC_FLAGS
                        + chains.CHAIN_FLAGS)
  if bool(WORKDIR.value) == bool(SAMPLES.value):
    raise app.UsageError(
        f"Pass exactly one of --workdir (got {WORKDIR.value!r}) and --samples "
        f"(got {SAMPLES.value!r}): a trained workdir to sample from, or an "
        ".npz file of images.")
  if NUM_SAMPLES.value <= 0:
    raise app.UsageError(f"--num_samples={NUM_SAMPLES.value} must be "
                         "positive, e.g. 500.")
  if IMAGE_SIZE.value is not None and IMAGE_SIZE.value <= 0:
    raise app.UsageError(f"--image_size={IMAGE_SIZE.value} must be positive.")
  if NUM_REFINEMENTS.value < 0:
    raise app.UsageError(f"--num_refinements={NUM_REFINEMENTS.value} must be "
                         ">= 0 (0 = skip), e.g. 16.")
  if NUM_REFINEMENTS.value and not WORKDIR.value:
    raise app.UsageError(
        f"--num_refinements={NUM_REFINEMENTS.value} needs a LAPGAN --workdir "
        "(it refines test images with the model); --samples holds only "
        "images.")
  if NUM_NEIGHBOUR_ROWS.value <= 0:
    raise app.UsageError(f"--num_neighbour_rows={NUM_NEIGHBOUR_ROWS.value} "
                         "must be positive, e.g. 16.")
  if NEIGHBOURS_PNG.value and not NEIGHBOURS_PNG.value.endswith(".png"):
    raise app.UsageError(f"--neighbours_png={NEIGHBOURS_PNG.value!r} must "
                         "end in .png.")
  common.check_outputs(output=OUTPUT.value,
                       neighbours_png=NEIGHBOURS_PNG.value)
  data_dir = DATA_DIR.value
  if SAMPLES.value:
    for flag in (NUM_SAMPLES, SEED):
      if flags.FLAGS[flag.name].present:
        raise app.UsageError(
            f"--{flag.name}={flag.value} only applies to --workdir; "
            "--samples scores every image in the file. Drop it.")
    images = read_samples(SAMPLES.value)
    labels = read_labels(SAMPLES.value, len(images))
    evaluate_inception.check_flags(len(images),
                                   f"--samples={SAMPLES.value!r}")
    dataset = DATASET.value or DEFAULT_DATASET
    image_size, channels = images.shape[1], images.shape[3]
    source = {"samples": os.path.abspath(SAMPLES.value)}
    where = f"the images in --samples={SAMPLES.value!r}"
  else:
    if NUM_SAMPLES.value < 2:
      raise app.UsageError(f"--num_samples={NUM_SAMPLES.value} is too few: "
                           "the Frechet distance needs >= 2, e.g. 500.")
    evaluate_inception.check_flags(NUM_SAMPLES.value,
                                   f"--num_samples={NUM_SAMPLES.value}")
    model, config, step = load_workdir(WORKDIR.value)
    labels = None
    if model.num_classes > 0:
      # num_samples spread evenly over the classes, in class order.
      labels = np.repeat(np.arange(model.num_classes), [
          len(part) for part in np.array_split(np.arange(NUM_SAMPLES.value),
                                               model.num_classes)])
    dataset = DATASET.value or config.data.dataset
    data_dir = data_dir or config.data.data_dir
    image_size, channels = config.data.image_size, config.data.channels
    source = {"workdir": os.path.abspath(WORKDIR.value), "step": step,
              "seed": SEED.value}
    if NUM_REFINEMENTS.value:
      from tfgen import families
      try:
        families.require(model, "refine",
                         f"--num_refinements={NUM_REFINEMENTS.value}")
      except ValueError as error:
        raise app.UsageError(
            f"--workdir={WORKDIR.value!r}: {error}") from None
    if NUM_REFINEMENTS.value and len(model.level_sizes) < 2:
      raise app.UsageError(
          f"--num_refinements={NUM_REFINEMENTS.value}: the model in "
          f"--workdir={WORKDIR.value!r} has one level (a plain GAN) and "
          "refines nothing; drop the flag.")
    where = f"the model in --workdir={WORKDIR.value!r}"
  image_size = int(image_size)
  if IMAGE_SIZE.value is not None and IMAGE_SIZE.value != image_size:
    raise app.UsageError(
        f"--image_size={IMAGE_SIZE.value} does not match {where}, which are "
        f"{image_size}x{image_size}; drop --image_size or pass "
        f"--image_size={image_size}.")
  check_dataset(dataset, int(channels))
  inception_model = evaluate_inception.load_model()
  if WORKDIR.value:  # Checked first: sampling is the slow part.
    images = (draw_samples(model, NUM_SAMPLES.value, SEED.value)
              if labels is None else analysis.draw_samples(
                  model, NUM_SAMPLES.value, SEED.value, labels,
                  SAMPLE_BATCH_SIZE))

  from tfgen import data
  from tfgen.metrics import classifier
  from tfgen.metrics import sample_quality
  bundle = classifier.get_classifier(dataset, image_size, CACHE_DIR.value,
                                     data_dir=data_dir)
  train_images, train_labels = data.arrays(dataset, "train", image_size,
                                          data_dir=data_dir)
  test_images, test_labels = data.arrays(dataset, "test", image_size,
                                         data_dir=data_dir)
  scores = sample_quality.evaluate_images(images, bundle, test_images,
                                          train_images)
  from tfgen.metrics import diversity
  probabilities = bundle.probabilities(images)
  if labels is not None:
    try:
      scores["class_accuracy"] = sample_quality.per_class_accuracy(
          probabilities, labels)
      scores["within_class_diversity"] = diversity.within_class_diversity(
          images, labels, test_images, test_labels)
    except ValueError as error:
      raise app.UsageError(f"labels of {where}: {error}") from error
  else:  # Unconditional samples: grouped by the classifier's top class.
    scores["within_class_diversity"] = diversity.within_class_diversity(
        images, np.argmax(probabilities, axis=1), test_images, test_labels)
  scores["within_class_diversity"]["grouped_by"] = (
      "label" if labels is not None else "top_class")
  real_scores = sample_quality.evaluate_real_images(test_images, bundle,
                                                    train_images)
  if image_size % PIXEL_JUDGE_SIZE == 0:
    from tfgen.metrics import pixel_judge
    judge = pixel_judge.PixelJudge(PIXEL_JUDGE_SIZE).fit(train_images,
                                                         train_labels)
    scores["pixel_svm"] = judge.scores(images, labels)
    real_scores["pixel_svm"] = judge.scores(test_images, test_labels)
  inception_info = None
  if inception_model is not None:
    sample_row, real_row, inception_info = evaluate_inception.score(
        inception_model, images, test_images)
    scores.update(sample_row)
    real_scores.update(real_row)
  result = {
      "samples": scores,
      "real_test_images": real_scores,
      "classifier_test_accuracy": bundle.test_accuracy,
      "dataset": dataset,
      "image_size": image_size,
      "source": source,
      "notes": NOTES,
  }
  if inception_info is not None:
    result["inception"] = inception_info
  if NUM_REFINEMENTS.value:
    from tfgen.metrics import refinement
    result["conditional_refinement_error"] = refinement.refinement_error(
        model, test_images, NUM_REFINEMENTS.value, seed=SEED.value,
        labels=test_labels)
  if NEIGHBOURS_PNG.value:
    write_neighbours_png(NEIGHBOURS_PNG.value,
                         images[:NUM_NEIGHBOUR_ROWS.value], train_images)
  text = json.dumps(result, indent=2)
  if OUTPUT.value:
    folder = os.path.dirname(os.path.abspath(OUTPUT.value))
    os.makedirs(folder, exist_ok=True)
    tmp = OUTPUT.value + ".tmp"
    with open(tmp, "w") as f:
      f.write(text + "\n")
    os.replace(tmp, OUTPUT.value)
  print(text)


if __name__ == "__main__":
  common.run(main)
