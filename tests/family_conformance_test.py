"""The family contract, checked on every family in `tfgen.families`.

Each test is parametrized over the registry, so a family is covered the
moment it registers: its settings round-trip, its model saves as `.keras`
and as a checkpoint and comes back sampling the same images, its samples are
functions of their seeds, one-instance serving equals its row of a batch,
the Trainer runs it on one device, and its export runs in `saved_model_cli`
in a fresh process. The rest of the contract is in
family_mirrored_test.py (2 mirrored logical CPUs equal one device) and
family_apps_test.py (every app works on its workdir or refuses it naming the
family): separate files so that xdist's --dist=loadfile spreads the
contract over its workers. Tiny models (`tiny_settings` of each row, 8x8
digits): these check behaviour, not quality.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import keras

import support
from tfgen import config as config_lib
from tfgen import families
from tfgen.models import base
from tfgen.serving import signature_spec
from tfgen.train import checkpoints
from tfgen.train import loop

FAMILIES = families.names()
REPO = support.REPO


def built(family: str):
  """The tiny model of `family`, ready to sample (adapted if it needs it)."""
  model = families.build_model(support.tiny_config(family))
  if model.needs_adapt:
    images, labels = support.digits("train", 8, 32)
    model.adapt(images, labels=labels)
  return model


def final(images) -> np.ndarray:
  return images[-1].numpy()


@pytest.mark.parametrize("family", FAMILIES)
def test_the_row_is_complete_and_the_model_implements_the_contract(family):
  row = families.get(family)
  assert row.capabilities <= set(families.CAPABILITIES)
  assert os.path.exists(os.path.join(REPO, row.default_flagfile))
  model = built(family)
  assert isinstance(model, base.GenerativeModel)
  assert families.of_model(model) is row
  images = model.sample(3, seed=1)
  assert len(images) == len(model.sample_names())
  assert images[-1].shape == (3, model.final_image_size,
                              model.final_image_size, model.channels)
  assert float(tf.reduce_min(images[-1])) >= -1.0
  assert float(tf.reduce_max(images[-1])) <= 1.0
  # Its capability says whether requests choose their sampler steps.
  names = [s.name for s in families.signatures(model)]
  assert (signature_spec.STEPS_SIGNATURE in names) == row.has("serving_steps")


@pytest.mark.parametrize("family", FAMILIES)
def test_the_config_round_trips_through_json(family):
  config = support.tiny_config(family)
  again = config_lib.ExperimentConfig.from_json(config.to_json())
  assert again == config and again.family == family


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seeds_give_identical_samples_and_other_seeds_others(family):
  model = built(family)
  seeds = tf.constant([3, 4, 5], tf.int64)
  first = final(model.sample_from_seeds(seeds))
  np.testing.assert_array_equal(first, final(model.sample_from_seeds(seeds)))
  other = final(model.sample_from_seeds(tf.constant([6, 7, 8], tf.int64)))
  assert np.abs(first - other).max() > 1e-3
  # A sample depends on its own seed only, not on its batch-mates.
  alone = final(model.sample_from_seeds(seeds[1:2]))
  np.testing.assert_allclose(alone[0], first[1], atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_keras_file_round_trip_samples_the_same_images(family, tmp_path):
  model = built(family)
  path = str(tmp_path / "model.keras")
  model.save(path)
  loaded = keras.saving.load_model(path)
  assert type(loaded) is type(model)
  assert loaded.get_config() == model.get_config()
  seeds = tf.constant([1, 2], tf.int64)
  np.testing.assert_allclose(final(loaded.sample_from_seeds(seeds)),
                             final(model.sample_from_seeds(seeds)), atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_checkpoint_restores_every_variable_and_the_step(family, tmp_path):
  config = support.tiny_config(family)
  model = built(family)
  model.train_step(support.digits_batch(8, 8))
  step = checkpoints.make_step_counter()
  step.assign(7)
  path = checkpoints.make_checkpoint(model.checkpoint_objects(), step).save(
      str(tmp_path / "ckpt"))
  fresh = families.build_model(config)
  checkpoint = checkpoints.make_checkpoint(fresh.checkpoint_objects())
  checkpoints.restore_path(checkpoint, path)
  assert int(checkpoint.step.numpy()) == 7
  for a, b in zip(model.weights, fresh.weights):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  seeds = tf.constant([1, 2], tf.int64)
  np.testing.assert_allclose(final(fresh.sample_from_seeds(seeds)),
                             final(model.sample_from_seeds(seeds)), atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_one_instance_serving_equals_its_row_of_a_batch(family):
  model = built(family)
  signature = families.signatures(model)[0]
  assert signature.name == "serving_default"
  serve = tf.function(signature_spec.serving_fn(signature, 8),
                      input_signature=list(signature.inputs))
  extra = [tf.zeros([3], tf.int64)] if len(signature.inputs) > 1 else []
  batch = serve(tf.constant([4, 5, 6], tf.int64), *extra)["images"].numpy()
  one = serve(tf.constant([5], tf.int64),
              *[e[:1] for e in extra])["images"].numpy()
  np.testing.assert_allclose(one[0], batch[1], atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_trainer_owns_the_step_and_runs_the_family(family, tmp_path):
  workdir = str(tmp_path / "run")
  trainer = loop.Trainer(support.tiny_config(family, num_steps=2), workdir,
                         printer=lambda _: None, handle_signals=False)
  metrics = trainer.run()
  assert trainer.step == 2 and metrics
  assert all(np.isfinite(v) for v in metrics.values())
  info = trainer.model.metric_info()
  assert set(metrics) <= set(info), set(metrics) - set(info)
  names = {name for name, _ in tf.train.list_variables(
      os.path.join(workdir, "checkpoints", "ckpt-2"))}
  assert "step/.ATTRIBUTES/VARIABLE_VALUE" in names
  resumed = loop.Trainer(support.tiny_config(family, num_steps=3), workdir,
                         printer=lambda _: None, handle_signals=False)
  assert resumed.step == 2
  resumed.run()
  assert resumed.step == 3


@pytest.fixture(scope="module", params=FAMILIES)
def tiny_workdir(request, tmp_path_factory):
  family = request.param
  return family, support.tiny_trained_workdir(family, tmp_path_factory)


def test_the_export_runs_in_saved_model_cli_in_a_fresh_process(tiny_workdir,
                                                              tmp_path):
  family, workdir = tiny_workdir
  base_dir = str(tmp_path / "models")
  result = support.run_module("export", f"--workdir={workdir}",
                              f"--export_base={base_dir}", "--max_batch=8")
  assert result.returncode == 0, result.stderr[-3000:]
  version = os.path.join(base_dir, family, "1")
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  if not os.path.exists(cli):
    pytest.skip(f"saved_model_cli is not installed beside {sys.executable}")
  out = str(tmp_path / "cli")
  inputs = "seed=[1,2]"
  signature = families.signatures(
      families.build_model(support.tiny_config(family)))[0]
  if len(signature.inputs) > 1:
    inputs += ";class_id=[0,1]"
  result = subprocess.run(
      [cli, "run", "--dir", version, "--tag_set", "serve",
       "--signature_def", "serving_default", "--input_exprs", inputs,
       "--outdir", out, "--overwrite"], cwd=REPO, capture_output=True,
      text=True, timeout=180)
  assert result.returncode == 0, result.stderr[-3000:]
  images = np.load(os.path.join(out, "images.npy"))
  assert images.shape[0] == 2 and 0.0 <= images.min() <= images.max() <= 1.0


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
