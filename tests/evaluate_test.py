"""`python -m apps.evaluate`: JSON scores of sample files and workdirs."""

import json
import os
import sys
import textwrap

import numpy as np
import pytest

from tfgen import data

import support

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_SIZE = 8  # The bundled digits' own size: the quickest classifier.


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("classifiers"))


def run(*args, cache_dir, code=None):
  """Runs apps.evaluate (or `code`) in a fresh process with a private cache."""
  env = dict(os.environ, TFGEN_CACHE_DIR=cache_dir)
  command = ["-c", code, *args] if code else ["-m", "apps.evaluate", *args]
  return support.python(*command, env=env, timeout=300)


def write_images(path, images):
  np.savez(path, images=images)
  return str(path)


@pytest.fixture(scope="module")
def real_digits_file(tmp_path_factory):
  """The real test digits in [0, 1], as apps.sample writes samples."""
  images, _ = data.arrays("digits", "test", IMAGE_SIZE)
  folder = tmp_path_factory.mktemp("samples")
  return write_images(folder / "real.npz", (images + 1.0) / 2.0)


def test_evaluate_app_scores_real_digits_as_confident(real_digits_file,
                                                      cache_dir, tmp_path):
  output = str(tmp_path / "scores.json")
  result = run(f"--samples={real_digits_file}", f"--output={output}",
               cache_dir=cache_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  scores = json.loads(result.stdout)
  with open(output) as f:
    assert json.load(f) == scores
  assert scores["dataset"] == "digits"
  assert scores["image_size"] == IMAGE_SIZE
  assert scores["classifier_test_accuracy"] > 0.93
  samples, real = scores["samples"], scores["real_test_images"]
  assert samples["classifier_score"] > 5.0
  assert samples["classes_covered"] == 10
  assert samples["mean_top_probability"] > 0.8
  # The samples are the test split itself: distance 0 to it, while the
  # reference compares two halves of it.
  assert samples["frechet_distance"] == pytest.approx(0.0, abs=1e-6)
  assert real["frechet_distance"] > 0.0
  assert samples["num_images"] == real["num_images"] == 359
  assert 0.0 < samples["nearest_train_distance"] < np.sqrt(IMAGE_SIZE**2)
  # The same images as the reference: exactly as diverse within a class.
  diversity = samples["within_class_diversity"]
  assert diversity["grouped_by"] == "top_class"
  assert diversity["distance_ratio"] == pytest.approx(1.0, abs=0.05)
  assert "halves" in scores["notes"]
  # The second judge reads the same images the same way in both rows; the
  # test split's row has its labels.
  judged, judged_real = samples["pixel_svm"], real["pixel_svm"]
  assert judged["mean_top_probability"] == pytest.approx(
      judged_real["mean_top_probability"])
  assert judged["mean_top_probability"] > 0.85
  assert judged_real["class_accuracy"]["accuracy"] > 0.95
  assert "SVC" in judged["judge"]


def test_evaluate_app_scores_noise_far_below_real_digits(cache_dir, tmp_path):
  noise = np.random.default_rng(0).uniform(
      0, 1, size=(200, IMAGE_SIZE, IMAGE_SIZE, 1)).astype(np.float32)
  result = run(f"--samples={write_images(tmp_path / 'noise.npz', noise)}",
               "--dataset=digits", cache_dir=cache_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  scores = json.loads(result.stdout)
  samples, real = scores["samples"], scores["real_test_images"]
  assert samples["classifier_score"] < real["classifier_score"]
  assert samples["frechet_distance"] > 10 * real["frechet_distance"]
  assert (samples["nearest_train_distance"]
          > 2 * real["nearest_train_distance"])
  assert samples["pixel_svm"]["mean_top_probability"] < (
      real["pixel_svm"]["mean_top_probability"] - 0.3)


# apps.evaluate's main with a stand-in trained model whose samples are real
# test digits: checks the --workdir path without minutes of training.
FAKE_WORKDIR = textwrap.dedent("""
    import sys
    from types import SimpleNamespace
    from absl import app
    import numpy as np
    from apps import evaluate
    from tfgen import data
    from tfgen.train import workdir as workdir_lib

    class FakeModel:
      num_classes = 0  # The family contract's: unconditional.

      def sample(self, num_samples, seed, first_index=0):
        images, _ = data.arrays("digits", "test", 8)
        start = first_index
        return [images[start:start + num_samples, :4, :4],
                images[start:start + num_samples]]

    def load_model(path):
      if path != "trained":
        raise ValueError(f"workdir={path!r} has no config.json")
      config = SimpleNamespace(data=SimpleNamespace(
          dataset="digits", image_size=8, data_dir=None, channels=1))
      return FakeModel(), config, 7

    workdir_lib.load_model = load_model
    app.run(evaluate.main)
""")


def test_evaluate_app_samples_a_trained_workdir(cache_dir):
  result = run("--workdir=trained", "--num_samples=300", "--seed=0",
               cache_dir=cache_dir, code=FAKE_WORKDIR)
  assert result.returncode == 0, result.stderr[-3000:]
  scores = json.loads(result.stdout)
  assert scores["source"]["step"] == 7
  assert scores["dataset"] == "digits" and scores["image_size"] == 8
  assert scores["samples"]["num_images"] == 300
  assert scores["samples"]["classifier_score"] > 5.0


@pytest.mark.parametrize("args, expected", [
    (["--workdir=empty"], "--workdir='empty': workdir='empty' has no config"),
    (["--workdir=trained", "--image_size=16"],
     "--image_size=16 does not match the model in --workdir='trained'"),
])
def test_evaluate_app_reports_an_unusable_workdir(args, expected, cache_dir):
  result = run(*args, cache_dir=cache_dir, code=FAKE_WORKDIR)
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize("args, images, expected", [
    (["--samples={missing}"], None, "does not exist"),
    ([], None, "exactly one of --workdir"),
    (["--samples={file}", "--workdir=w"], "ok", "exactly one of --workdir"),
    (["--workdir=w", "--num_samples=0"], None, "--num_samples=0 must be"),
    (["--samples={file}"], "flat", "has shape (4, 8, 8), but must be"),
    (["--samples={file}"], "bytes", "divide uint8 images by 255"),
    (["--samples={file}"], "minus_one", "map [-1, 1] images"),
    (["--samples={file}", "--image_size=16"], "ok",
     "--image_size=16 does not match"),
    (["--samples={file}", "--dataset=nope"], "ok", "--dataset: dataset='nope'"),
    (["--samples={file}", "--dataset=celeb_a"], "ok",
     "--dataset='celeb_a' has no class labels"),
    (["--samples={file}", "--dataset=cifar10"], "ok", "3-channel images"),
    (["--samples={file}", "--num_refinements=4"], "ok",
     "--num_refinements=4 needs a LAPGAN --workdir"),
    (["--samples={file}", "--num_refinements=-1"], "ok",
     "--num_refinements=-1 must be >= 0"),
    (["--samples={file}", "--neighbours_png=n.jpg"], "ok",
     "--neighbours_png='n.jpg' must end in .png"),
])
def test_evaluate_app_rejects_bad_input(args, images, expected, tmp_path,
                                        cache_dir):
  shape = (4, IMAGE_SIZE, IMAGE_SIZE, 1)
  arrays = {"ok": np.full(shape, 0.5, np.float32),
            "flat": np.zeros(shape[:3], np.float32),
            "bytes": np.zeros(shape, np.uint8),
            "minus_one": -np.ones(shape, np.float32)}
  file = str(tmp_path / "samples.npz")
  if images:
    write_images(file, arrays[images])
  args = [a.format(file=file, missing=tmp_path / "missing.npz") for a in args]
  result = run(*args, cache_dir=cache_dir)
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-3000:]


def test_evaluate_app_reports_class_accuracy_of_labelled_samples(cache_dir,
                                                                 tmp_path):
  images, labels = data.arrays("digits", "test", IMAGE_SIZE)
  path = str(tmp_path / "labelled.npz")
  np.savez(path, images=(images + 1.0) / 2.0, labels=labels.astype(np.int32))
  result = run(f"--samples={path}", cache_dir=cache_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  accuracy = json.loads(result.stdout)["samples"]["class_accuracy"]
  # Real test digits under their true labels: the classifier's accuracy.
  assert accuracy["accuracy"] > 0.9
  assert sum(accuracy["counts"].values()) == len(labels)
  assert min(accuracy["per_class"].values()) > 0.7
  # The test split against itself: exactly as diverse as the real digits.
  diversity = json.loads(result.stdout)["samples"]["within_class_diversity"]
  assert diversity["distance_ratio"] == pytest.approx(1.0)
  assert diversity["ssim"] == pytest.approx(diversity["real_ssim"])
  # Wrong labels (shifted by one class) are recognised as wrong.
  np.savez(path, images=(images + 1.0) / 2.0,
           labels=((labels + 1) % 10).astype(np.int32))
  result = run(f"--samples={path}", cache_dir=cache_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads(result.stdout)["samples"]["class_accuracy"][
      "accuracy"] < 0.1


@pytest.mark.parametrize("labels, expected", [
    (np.zeros(4, np.float32), "'labels' has dtype float32 and shape (4,)"),
    (np.zeros(3, np.int32), "but must be int [4]"),
    (np.array([0, 1, 2, 10], np.int32), "labels lie in [0, 10] but"),
])
def test_evaluate_app_rejects_bad_sample_labels(labels, expected, cache_dir,
                                                tmp_path):
  path = str(tmp_path / "bad_labels.npz")
  np.savez(path, images=np.full((4, IMAGE_SIZE, IMAGE_SIZE, 1), 0.5,
                                np.float32), labels=labels)
  result = run(f"--samples={path}", cache_dir=cache_dir)
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-3000:]

def test_evaluate_app_writes_the_nearest_neighbour_panel(real_digits_file,
                                                         cache_dir, tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  panel = str(tmp_path / "neighbours.png")
  result = run(f"--samples={real_digits_file}", f"--neighbours_png={panel}",
               "--num_neighbour_rows=5", cache_dir=cache_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  json.loads(result.stdout)  # stdout stays one JSON object.
  width, height = Image.open(panel).size
  # 4 columns (image + 3 neighbours) by 5 rows of 8x8 images, 1-pixel gaps.
  assert width / height == pytest.approx((4 * 9 - 1) / (5 * 9 - 1), rel=0.05)


def test_evaluate_app_reports_lapgan_refinement_error(cache_dir, tmp_path):
  workdir = str(tmp_path / "lapgan")
  train = support.python(
      "-m", "apps.train", f"--workdir={workdir}",
      "--family=lapgan", "--image_size=8", "--level_sizes=4,8",
      "--noise_dim=4", "--generator_width=0.125",
      "--discriminator_width=0.125", "--batch_size=8", "--num_steps=2",
      "--num_sample_images=4", timeout=300)
  assert train.returncode == 0, train.stderr[-2000:]
  result = run(f"--workdir={workdir}", "--num_samples=20",
               "--num_refinements=3", cache_dir=cache_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  error = json.loads(result.stdout)["conditional_refinement_error"]
  assert error["num_images"] == 359 and error["num_refinements"] == 3
  assert 0.0 < error["min_l2"] <= error["mean_l2"]
  assert error["upsampled_coarse_l2"] > 0.0

if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
