"""The family contract, checked on every family in `tfgen.families`.

Each test is parametrized over the registry, so a family is covered the
moment it registers: its settings round-trip, its model saves as `.keras`
and as a checkpoint and comes back sampling the same images, its samples are
functions of their seeds, one-instance serving equals its row of a batch,
the Trainer runs it (one device, 2 mirrored logical CPUs), its export runs
in `saved_model_cli` in a fresh process, and every app either works on its
workdir or refuses it naming the family. Tiny models (`tiny_settings` of
each row, 8x8 digits): these check behaviour, not quality.
"""

import json
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


MIRRORED = r"""
import json, sys
import numpy as np
from tfgen.train import strategy as strategy_lib
strategy_lib.split_cpu(2)
import support
from tfgen.train import loop
family, workdir = sys.argv[1], sys.argv[2]
weights = {}
for name in ("default", "mirrored"):
  trainer = loop.Trainer(support.tiny_config(family, num_steps=2,
                                             strategy=name, ema_momentum=0.5),
                         workdir + "/" + name, printer=lambda _: None,
                         handle_signals=False)
  trainer.run()
  # The weight averages, updated in every replica, equal one device's too.
  assert trainer.model.use_averaged_weights()
  weights[name] = [np.asarray(w) for w in trainer.model.weights]
  replicas = trainer.strategy.num_replicas_in_sync
gap = max(float(np.abs(a - b).max())
          for a, b in zip(weights["default"], weights["mirrored"]))
moved = max(float(np.abs(a).max()) for a in weights["default"])
print(json.dumps(dict(gap=gap, moved=moved, replicas=replicas)))
"""


@pytest.mark.parametrize("family", FAMILIES)
def test_a_mirrored_step_equals_one_device(family, tmp_path):
  result = support.python("-c", MIRRORED, family, str(tmp_path),
                          cwd=os.path.join(REPO, "tests"), timeout=300,
                          env=dict(os.environ, PYTHONPATH=REPO))
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report["replicas"] == 2 and report["moved"] > 1e-3
  assert report["gap"] < 1e-4, report


@pytest.fixture(scope="module", params=FAMILIES)
def tiny_workdir(request, tmp_path_factory):
  family = request.param
  path = str(tmp_path_factory.mktemp(f"workdir_{family}") / "run")
  result = support.run_module("apps.train", f"--workdir={path}",
                              *support.tiny_flags(family), "--num_steps=2")
  assert result.returncode == 0, result.stderr[-3000:]
  return family, path


# (app and its arguments, the capability it needs or None for every family).
APPS = (
    (("apps.sample", "--num_samples=4", "--output={out}/s.npz"), "sample"),
    (("apps.evaluate", "--num_samples=20", "--output={out}/e.json"), None),
    (("apps.inpaint", "--num_images=3", "--output={out}/i.npz"), "inpaint"),
    (("apps.visualize", "--num_images=2", "--output_dir={out}/v"),
     "features"),
    (("apps.evaluate", "features", "--output={out}/f.json"), "features"),
)


def test_every_app_works_on_the_family_or_refuses_it_by_name(tiny_workdir,
                                                            tmp_path):
  family, workdir = tiny_workdir
  row = families.get(family)
  for args, capability in APPS:
    module, *rest = args
    rest = [a.format(out=tmp_path) for a in rest]
    result = support.run_module(module, f"--workdir={workdir}", *rest)
    if capability is None or row.has(capability):
      assert result.returncode == 0, (module, rest, result.stderr[-2000:])
    else:
      assert result.returncode != 0, (module, rest)
      assert f"family={family!r}" in result.stderr, (module,
                                                     result.stderr[-2000:])
      assert "Traceback" not in result.stderr, result.stderr[-2000:]


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
