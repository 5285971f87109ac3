"""Inception score and FID (`tfgen.metrics.inception`, `apps.evaluate
--inception_weights`), with one randomly initialised InceptionV3 saved to a
temporary file: nothing is downloaded."""

import json
import os
import sys

import keras
import numpy as np
import pytest

import support
from tfgen import data
from tfgen.metrics import inception

IMAGE_SIZE = 8  # The bundled digits' own size.
NUM_REFERENCE = 8


@pytest.fixture(scope="module")
def saved_inception(tmp_path_factory):
  """(model, its .weights.h5 file, its whole-model .keras file): random
  weights, built once."""
  keras.utils.set_random_seed(0)
  model = keras.applications.InceptionV3(weights=None)
  folder = tmp_path_factory.mktemp("inception")
  weights_path = str(folder / "random.weights.h5")
  model.save_weights(weights_path)
  whole_model = str(folder / "random.keras")
  model.save(whole_model)
  return model, weights_path, whole_model


@pytest.fixture(scope="module")
def digits():
  return data.arrays("digits", "test", IMAGE_SIZE)[0]


def test_the_app_flag_defaults_are_the_library_defaults():
  # apps.evaluate_inception repeats them so as not to import TensorFlow.
  from apps import evaluate_inception  # Defines only --inception_* flags.
  assert evaluate_inception.DEFAULT_SPLITS == inception.DEFAULT_SPLITS
  assert evaluate_inception.DEFAULT_BATCH_SIZE == inception.DEFAULT_BATCH_SIZE


def test_inception_score_of_uniform_probabilities_is_one():
  probs = np.full((12, 1000), 1.0 / 1000)
  assert inception.inception_score(probs, splits=3) == pytest.approx(
      (1.0, 0.0), abs=1e-12)


def test_inception_score_of_distinct_one_hot_classes_is_their_number():
  probs = np.eye(8)
  assert inception.inception_score(probs, splits=1) == pytest.approx(
      (8.0, 0.0))
  # Two consecutive parts of four distinct classes each.
  assert inception.inception_score(probs, splits=2) == pytest.approx(
      (4.0, 0.0))
  # Parts of 3, 3 and 2 images: mean of 3, 3, 2; std (ddof=0) of those.
  assert inception.inception_score(probs, splits=3) == pytest.approx(
      (8.0 / 3.0, np.std([3.0, 3.0, 2.0])))


def test_inception_score_rejects_fewer_images_than_splits():
  with pytest.raises(ValueError, match=r"splits=10 needs at least 10 images"):
    inception.inception_score(np.eye(8), splits=10)
  with pytest.raises(ValueError, match=r"splits=0 must be an int >= 1"):
    inception.inception_score(np.eye(8), splits=0)


def test_features_have_the_documented_shapes_and_ranges(saved_inception,
                                                        digits):
  model, _, _ = saved_inception
  images = digits[:4]
  pool, probs = inception.features(images, model, batch_size=3)
  assert pool.shape == (4, inception.FEATURE_DIM)
  assert probs.shape == (4, inception.NUM_CLASSES)
  assert pool.dtype == probs.dtype == np.float64
  assert pool.min() >= 0.0 and pool.max() > 0.0
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
  # Batching changes nothing; a grey channel equals three equal channels.
  same_pool, same_probs = inception.features(images, model, batch_size=4)
  np.testing.assert_allclose(same_pool, pool, rtol=1e-4, atol=1e-9)
  np.testing.assert_allclose(same_probs, probs, rtol=1e-5)
  rgb_pool, _ = inception.features(np.repeat(images, 3, axis=-1), model)
  np.testing.assert_allclose(rgb_pool, pool, rtol=1e-4, atol=1e-9)
  with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
    inception.features(images * 255.0, model)


def test_fid_of_a_set_against_itself_is_zero_and_of_two_sets_positive(
    saved_inception, digits):
  model, _, _ = saved_inception
  real = digits[:8]
  noise = np.random.default_rng(0).uniform(
      -1.0, 1.0, size=real.shape).astype(np.float32)
  pool, _ = inception.features(real, model)
  noise_pool, _ = inception.features(noise, model)
  other = inception.frechet_distance(pool, noise_pool)
  assert other > 0.0
  assert inception.frechet_distance(pool, pool) == pytest.approx(
      0.0, abs=1e-6 * other)
  assert inception.frechet_distance(pool[:4], pool[4:]) > 0.0


def test_weights_only_and_legacy_h5_files_load(saved_inception, tmp_path):
  # The third format, a whole-model .keras file, is what the apps.evaluate
  # run below loads (it takes ~8 s of CPU: Keras reads it from the zip).
  model, weights_path, _ = saved_inception
  expected = model.get_weights()[-2:]  # The classifier's kernel and bias.
  legacy = str(tmp_path / "inception.h5")
  model.save(legacy)  # Keras's legacy HDF5, like its own ImageNet download.
  for path in (weights_path, legacy):
    loaded = inception.load_inception(path).get_weights()[-2:]
    for got, want in zip(loaded, expected):
      np.testing.assert_array_equal(got, want, err_msg=path)


# One process (one TF import) for every apps.evaluate run: each bad argv is
# parsed and given to evaluate.main ("reference_images": only that step, on
# 5 test images, as it comes after the classifier is trained), their
# UsageError messages printed as one JSON line (null if none); then the good
# argv runs through the real entry point, common.run(evaluate.main), which
# prints the scores.
_RUNS = r"""
import json, sys
from absl import app, flags
import numpy as np
from apps import common, evaluate, evaluate_inception
bad, good = json.loads(sys.argv[1])
messages = []
for call, argv in bad:
  try:
    arguments = flags.FLAGS(["evaluate"] + argv)
    if call == "reference_images":
      evaluate_inception.reference_images(np.zeros((5, 8, 8, 1)))
    else:
      evaluate.main(arguments)
    messages.append(None)
  except app.UsageError as error:
    messages.append(str(error))
  finally:
    flags.FLAGS.unparse_flags()
print(json.dumps(messages), flush=True)
sys.argv = ["evaluate"] + good
common.run(evaluate.main)
"""


@pytest.fixture(scope="module")
def evaluate_runs(saved_inception, digits, tmp_path_factory):
  """(bad cases [(argv, expected message prefix[, call])], their messages,
  the .keras file the good run loads, its scores)."""
  _, weights_path, whole_model = saved_inception
  folder = tmp_path_factory.mktemp("evaluate")
  twelve = str(folder / "twelve.npz")
  np.savez(twelve, images=(digits[:12] + 1.0) / 2.0)
  eight = str(folder / "eight.npz")
  np.savez(eight, images=(digits[:8] + 1.0) / 2.0)
  other_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
  not_inception = str(folder / "small.weights.h5")
  other_model.save_weights(not_inception)
  missing = str(folder / "missing.weights.h5")
  wrong_suffix = str(folder / "weights.npz")
  np.savez(wrong_suffix, x=np.zeros(2))
  weights = f"--inception_weights={weights_path}"
  bad = [
      ([f"--samples={twelve}", f"--inception_weights={missing}"],
       f"--inception_weights={missing!r} does not exist; on a machine with "
       "internet, save them with `keras.applications.InceptionV3("
       "weights='imagenet').save_weights("),
      ([f"--samples={twelve}", f"--inception_weights={not_inception}"],
       f"--inception_weights={not_inception!r} does not hold the weights of "
       "keras.applications.InceptionV3 (1000 ImageNet classes, "
       "include_top=True): ValueError: "),
      ([f"--samples={twelve}", f"--inception_weights={wrong_suffix}"],
       f"--inception_weights={wrong_suffix!r} must end in one of "
       "('.weights.h5', '.keras', '.h5')"),
      ([f"--samples={eight}", weights],
       f"--inception_splits=10 needs at least 10 images, but "
       f"--samples={eight!r} gives 8; pass --inception_splits=8 or fewer, "
       "or score more images"),
      ([f"--samples={twelve}", "--inception_splits=4"],
       "--inception_splits=4 only applies with --inception_weights=PATH (the "
       "InceptionV3 weights file); pass it, or drop the flag."),
      ([f"--samples={twelve}", weights, "--inception_splits=0"],
       "--inception_splits=0 must be >= 1, e.g. 10."),
      ([f"--samples={twelve}", weights, "--inception_batch_size=0"],
       "--inception_batch_size=0 must be >= 1, e.g. 50."),
      ([f"--samples={twelve}", weights, "--inception_splits=2",
        "--inception_reference_images=3"],
       "--inception_reference_images=3 must be 0 (the whole test split) or "
       ">= 4 (the half-against-half FID needs 4, the Inception score "
       "--inception_splits)."),
      ([weights, "--inception_reference_images=6"],
       "--inception_reference_images=6 is more than the 5 test images; pass "
       "at most 5, or 0 for all of them.", "reference_images"),
      (["features", "--workdir=unused", weights],
       f"{weights} does not apply to `apps.evaluate features`; drop it."),
  ]
  # The good run's samples are exactly its evenly spaced reference images.
  reference = digits[np.linspace(0, len(digits) - 1, NUM_REFERENCE).round()
                     .astype(int)]
  samples = str(folder / "samples.npz")
  np.savez(samples, images=(reference + 1.0) / 2.0)
  good = [f"--samples={samples}", f"--inception_weights={whole_model}",
          f"--inception_reference_images={NUM_REFERENCE}",
          "--inception_splits=2", "--inception_batch_size=8"]
  argument = json.dumps([[(case[2] if len(case) > 2 else "main", case[0])
                          for case in bad], good])
  result = support.python(
      "-c", _RUNS, argument, timeout=300,
      env=dict(os.environ, TFGEN_CACHE_DIR=str(folder / "classifiers")))
  assert result.returncode == 0, result.stderr[-3000:]
  first_line, rest = result.stdout.split("\n", 1)
  return bad, json.loads(first_line), whole_model, json.loads(rest)


def test_evaluate_app_reports_inception_metrics_next_to_the_classifiers(
    evaluate_runs):
  _, _, whole_model, scores = evaluate_runs
  samples_row, real_row = scores["samples"], scores["real_test_images"]
  for row in (samples_row, real_row):
    assert "classifier_score" in row and "frechet_distance" in row
    assert 1.0 <= row["inception_score"] <= inception.NUM_CLASSES
    assert row["inception_score_std"] >= 0.0
    assert row["inception_num_images"] == NUM_REFERENCE
  # The samples are the reference images themselves.
  assert samples_row["fid_inception"] == pytest.approx(0.0, abs=1e-12)
  assert real_row["fid_inception"] > 0.0  # Even against odd halves.
  info = scores["inception"]
  assert info["weights"] == whole_model  # Loaded from a .keras file.
  assert info["splits"] == 2
  assert info["num_reference_images"] == NUM_REFERENCE
  assert "299x299" in info["preprocessing"]


def test_evaluate_app_rejects_bad_inception_input(evaluate_runs):
  bad, messages, _, _ = evaluate_runs
  assert len(messages) == len(bad)
  for case, message in zip(bad, messages):
    assert message is not None and message.startswith(case[1]), (case[0],
                                                                  message)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
