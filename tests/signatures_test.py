"""tfgen.serving.signatures: the exported functions, their checks and assets.

One tiny adapted (untrained) MultigridEBM is exported once per module; the
SavedModel is loaded back with the TF2 loader (the TF1 session loader and
`saved_model_cli` are exercised on a trained export in export_test.py).
"""

import io
import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tfgen.models import LAPGAN
from tfgen.models import MultigridEBM
from export import archive as signatures

MAX_BATCH = 5


def tiny_model(**overrides):
  settings = dict(grid_sizes=(1, 4, 8), channels=1, num_langevin_steps=2,
                  net_width=0.125, start_bank_size=16, seed=3)
  settings.update(overrides)
  model = MultigridEBM(**settings)
  images = np.random.RandomState(0).uniform(
      -1, 1, (16, 8, 8, settings["channels"])).astype(np.float32)
  model.adapt(images)
  return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """(model, loaded SavedModel, path, metadata, signatures)."""
  model = tiny_model()
  archive, metadata, sigs = signatures.build_archive(
      model, max_batch=MAX_BATCH, extra_metadata={"train_step": 7})
  path = str(tmp_path_factory.mktemp("export") / "1")
  archive.write_out(path, verbose=False)
  signatures.write_assets_extra(path, metadata,
                                signatures.warmup_records(sigs, "tiny"))
  return model, tf.saved_model.load(path), path, metadata, sigs


def sample(loaded, seeds):
  return loaded.signatures["serving_default"](
      seed=tf.constant(seeds, tf.int64))


def in_process(model, seeds):
  fn = tf.function(lambda s: model.sample_from_seeds(s)[-1])
  return fn(tf.constant(seeds, tf.int64)).numpy()


def test_samples_equal_the_in_process_sampler_bit_for_bit(exported):
  model, loaded, *_ = exported
  seeds = [3, 0, -5, 2**40 + 1]
  images = sample(loaded, seeds)["images"].numpy()
  assert images.shape == (4, 8, 8, 1) and images.dtype == np.float32
  assert 0.0 <= images.min() and images.max() <= 1.0
  expected = np.clip((in_process(model, seeds) + 1.0) / 2.0, 0.0, 1.0)
  np.testing.assert_array_equal(images, expected)


def test_each_image_depends_only_on_its_seed(exported):
  _, loaded, *_ = exported
  batch = sample(loaded, [5, 6, 7])["images"].numpy()
  alone = sample(loaded, [6])["images"].numpy()
  np.testing.assert_array_equal(alone[0], batch[1])
  assert np.abs(batch[0] - batch[2]).max() > 1e-3
  np.testing.assert_array_equal(sample(loaded, [5])["images"].numpy()[0],
                                batch[0])


def test_png_bytes_hold_the_images(exported):
  _, loaded, *_ = exported
  outputs = sample(loaded, [1, 2])
  for image, png in zip(outputs["images"].numpy(),
                        outputs["images_bytes"].numpy()):
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert decoded.shape == (8, 8)  # Grey PNG.
    np.testing.assert_array_equal(
        decoded, np.round(image[..., 0] * 255.0).astype(np.uint8))


def test_inpaint_keeps_observed_pixels(exported):
  _, loaded, *_ = exported
  image = np.random.RandomState(1).uniform(0, 1, (2, 8, 8, 1)).astype(
      np.float32)
  mask = np.zeros((2, 8, 8, 1), np.float32)
  mask[:, 2:6, 2:6] = 1.0
  out = loaded.signatures["inpaint"](
      image=tf.constant(image), mask=tf.constant(mask),
      seed=tf.constant([1, 2], tf.int64))["images"].numpy()
  observed = mask[..., 0] == 0
  np.testing.assert_allclose(out[..., 0][observed], image[..., 0][observed],
                             atol=1e-6)
  assert np.abs(out - image)[mask == 1].max() > 1e-3


GOOD_IMAGE = np.full((2, 8, 8, 1), 0.5, np.float32)
GOOD_MASK = np.ones((2, 8, 8, 1), np.float32)
GOOD_SEED = np.array([1, 2], np.int64)


@pytest.mark.parametrize("name, inputs, expected", [
    ("serving_default", dict(seed=np.zeros([0], np.int64)),
     "seed: empty batch"),
    ("serving_default", dict(seed=np.arange(MAX_BATCH + 1, dtype=np.int64)),
     f"seed: batch of {MAX_BATCH + 1} instances is above "
     f"max_batch={MAX_BATCH}"),
    ("inpaint", dict(image=np.full((2, 8, 8, 3), 0.5, np.float32),
                     mask=GOOD_MASK, seed=GOOD_SEED),
     r"image: shape \[2 8 8 3\] must be \[batch, 8, 8, 1\]"),
    ("inpaint", dict(image=np.full((2, 4, 4, 1), 0.5, np.float32),
                     mask=GOOD_MASK, seed=GOOD_SEED), "image: shape"),
    ("inpaint", dict(image=GOOD_IMAGE * 3, mask=GOOD_MASK, seed=GOOD_SEED),
     r"image: values must be in \[0, 1\]"),
    ("inpaint", dict(image=GOOD_IMAGE, mask=GOOD_MASK * 0.5, seed=GOOD_SEED),
     "mask: values must be 0 .observed. or 1 .missing."),
    ("inpaint", dict(image=GOOD_IMAGE, mask=np.ones((2, 8, 8, 2), np.float32),
                     seed=GOOD_SEED), "mask: shape"),
    ("inpaint", dict(image=GOOD_IMAGE, mask=GOOD_MASK, seed=GOOD_SEED[:1]),
     "seed: batch of 1 differs from the batch of image"),
    ("inpaint", dict(image=GOOD_IMAGE[:0], mask=GOOD_MASK[:0],
                     seed=GOOD_SEED[:0]), "image: empty batch"),
])
def test_bad_requests_fail_with_a_message_naming_the_input(
    exported, name, inputs, expected):
  _, loaded, *_ = exported
  with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
    loaded.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})


def saved_graph_ops(path):
  proto = saved_model_pb2.SavedModel()
  with open(os.path.join(path, "saved_model.pb"), "rb") as f:
    proto.ParseFromString(f.read())
  graph = proto.meta_graphs[0].graph_def
  nodes = list(graph.node)
  for function in graph.library.function:
    nodes += list(function.node_def)
  return nodes, graph.library.function


def test_saved_graph_has_no_python_ops_and_no_xla(exported):
  *_, path, _, _ = exported
  nodes, functions = saved_graph_ops(path)
  op_types = {node.op for node in nodes}
  assert "StatelessRandomNormalV2" in op_types or (
      "StatelessRandomNormal" in op_types), sorted(op_types)
  assert not op_types & {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
  assert not {op for op in op_types if op.startswith("Xla")}
  assert not [op for op in op_types if "RandomStandardNormal" in op
              or op == "RandomUniform"], "stateful random ops in the export"
  for function in functions:
    attr = function.attr.get("_XlaMustCompile")
    assert not (attr and attr.b), function.signature.name
  for node in nodes:
    attr = node.attr.get("_XlaMustCompile")
    assert not (attr and attr.b), node.name


def test_metadata_is_in_get_config_and_assets_extra(exported):
  model, loaded, path, metadata, _ = exported
  config = json.loads(loaded.signatures["get_config"]()["config"].numpy())
  assert config == json.loads(json.dumps(metadata))
  with open(os.path.join(path, "assets.extra", signatures.METADATA_FILE)) as f:
    assert json.load(f) == config
  serving = config["serving"]
  assert serving["num_langevin_steps"] == list(model.num_langevin_steps)
  assert serving["step_size"] == pytest.approx(list(model.step_size))
  assert serving["max_batch"] == MAX_BATCH
  assert serving["image_shape"] == [8, 8, 1]
  assert set(serving["signatures"]) == {"serving_default", "sample_steps",
                                        "inpaint"}
  assert serving["steps"] == {
      "accepted": True, "signature": "sample_steps", "input": "num_steps",
      "min": 1, "max": 1000, "default": [2, 2],
      "allowed": "in [1, 1000] (the max_steps of this export)",
      "unit": "Langevin steps on every grid"}
  assert config["family"] == "multigrid" and config["train_step"] == 7


def test_warmup_file_holds_one_valid_request_per_signature(exported):
  _, loaded, path, _, sigs = exported
  records = list(tf.data.TFRecordDataset(os.path.join(
      path, "assets.extra", signatures.WARMUP_FILE)).as_numpy_iterator())
  assert len(records) == len(sigs)
  for record in records:
    request = prediction_log_pb2.PredictionLog.FromString(
        record).predict_log.request
    assert request.model_spec.name == "tiny"
    inputs = {k: tf.constant(tf.make_ndarray(v))
              for k, v in request.inputs.items()}
    outputs = loaded.signatures[request.model_spec.signature_name](**inputs)
    assert outputs["images"].shape[0] == len(inputs["seed"])


def test_serving_steps_override_changes_samples_and_is_recorded():
  model = tiny_model()
  _, metadata, sigs = signatures.build_archive(model, num_langevin_steps=[0, 5])
  assert metadata["serving"]["num_langevin_steps"] == [0, 5]
  seeds = tf.constant([1, 2], tf.int64)
  overridden = tf.function(sigs[0].generate)(seed=seeds).numpy()
  expected = tf.function(lambda s: model.sample_from_seeds(
      s, num_langevin_steps=(0, 5))[-1])(seeds).numpy()
  np.testing.assert_array_equal(overridden, expected)
  assert np.abs(overridden - in_process(model, [1, 2])).max() > 1e-4


@pytest.mark.parametrize("steps", [[1, 2, 3], [-1], [1.5]])
def test_bad_serving_steps_are_refused(steps):
  with pytest.raises(ValueError, match="num_langevin_steps=.*one per model "
                     "grid"):
    signatures.build_archive(tiny_model(), num_langevin_steps=steps)


def test_unexportable_models_are_refused():
  with pytest.raises(ValueError, match="no start images"):
    signatures.build_archive(MultigridEBM(grid_sizes=(1, 4), net_width=0.125,
                                          start_bank_size=4))
  with pytest.raises(ValueError, match="max_batch=0 must be an int >= 1"):
    signatures.build_archive(tiny_model(), max_batch=0)


# ---- LAPGAN ------------------------------------------------------------------


@pytest.fixture(scope="module")
def lapgan_export(tmp_path_factory):
  """(conditional tiny LAPGAN, loaded SavedModel, metadata)."""
  model = LAPGAN(level_sizes=(4, 8), num_classes=3, noise_dim=4,
                 generator_width=0.125, discriminator_width=0.125, seed=1)
  archive, metadata, _ = signatures.build_archive(model, max_batch=MAX_BATCH)
  path = str(tmp_path_factory.mktemp("lapgan") / "1")
  archive.write_out(path, verbose=False)
  return model, tf.saved_model.load(path), metadata


def test_lapgan_samples_equal_the_in_process_sampler_per_class(lapgan_export):
  model, loaded, metadata = lapgan_export
  seeds, classes = [4, 4, 9], [0, 2, 1]
  images = loaded.signatures["serving_default"](
      seed=tf.constant(seeds, tf.int64),
      class_id=tf.constant(classes, tf.int64))["images"].numpy()
  expected = tf.function(lambda s, c: model.sample_from_seeds(s, c)[-1])(
      tf.constant(seeds, tf.int64), tf.constant(classes, tf.int32)).numpy()
  np.testing.assert_array_equal(images,
                                np.clip((expected + 1) / 2, 0.0, 1.0))
  assert np.abs(images[0] - images[1]).max() > 1e-4  # Same seed, new class.
  assert metadata["family"] == "lapgan"
  assert metadata["serving"]["num_langevin_steps"] is None
  steps = metadata["serving"]["steps"]
  assert (steps["accepted"], steps["input"]) == (False, "num_steps")
  assert "a LAPGAN has no sampler steps" in steps["refusal"]
  assert set(metadata["serving"]["signatures"]["refine"]["inputs"]) == {
      "image", "seed", "class_id"}


def test_lapgan_refine_signature_refines_coarse_images(lapgan_export):
  model, loaded, _ = lapgan_export
  coarse = np.full([3, 4, 4, 1], 0.5, np.float32)
  coarse[:, :2] = 0.9
  out = loaded.signatures["refine"](
      image=tf.constant(coarse), seed=tf.constant([1, 2, 3], tf.int64),
      class_id=tf.constant([0, 0, 0], tf.int64))["images"].numpy()
  assert out.shape == (3, 8, 8, 1)
  expected = model.refine_from_seeds(
      tf.constant(coarse * 2 - 1), tf.constant([1, 2, 3], tf.int64),
      tf.constant([0, 0, 0], tf.int32))[-1].numpy()
  np.testing.assert_allclose(out, np.clip((expected + 1) / 2, 0, 1),
                             atol=1e-6)
  assert np.std(out, axis=0).mean() > 0  # Seeds give different refinements.


@pytest.mark.parametrize("name, inputs, expected", [
    ("serving_default", {"seed": np.array([1], np.int64),
                         "class_id": np.array([3], np.int64)},
     r"class_id: values \[3\] must be in \[0, 3\)"),
    ("refine", {"image": np.zeros([1, 8, 8, 1], np.float32),
                "seed": np.array([1], np.int64),
                "class_id": np.array([0], np.int64)},
     r"image: shape \[1 8 8 1\] must be \[batch, 4, 4, 1\]"),
    ("refine", {"image": np.full([1, 4, 4, 1], 2.0, np.float32),
                "seed": np.array([1], np.int64),
                "class_id": np.array([0], np.int64)},
     r"image: values must be in \[0, 1\]"),
])
def test_lapgan_bad_requests_name_the_input(lapgan_export, name, inputs,
                                            expected):
  _, loaded, _ = lapgan_export
  with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
    loaded.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
