"""--precision: every family trains and samples in mixed precision.

bfloat16 / float16 nets keep float32 variables and float32 outputs, so one
training step from the same initial weights gives finite metrics close to
float32's, samples stay float32 images, and a mixed-precision checkpoint is
the same float32 tensors (it restores into a float32 model).
"""

import sys

import numpy as np
import pytest
import tensorflow as tf

import support
from export import archive as archive_lib
from tfgen import families
from tfgen.core import precision

# |mixed - float32| <= RTOL * |float32| + ATOL for every metric of one step.
RTOL, ATOL = 0.1, 0.05


def one_step(family, precision_name):
  """Builds the tiny model in `precision_name`, trains one step."""
  config = support.tiny_config(family, precision=precision_name)
  model = families.build_model(config)
  model.attach_step_counter(tf.Variable(0, dtype=tf.int64))
  images, labels = support.digits_batch(8, 8)
  if model.needs_adapt:
    model.adapt(images)
  transform = families.batch_transform(config)
  batch = transform(images, labels) if transform else (images, labels)
  metrics = {k: float(v) for k, v in model.train_step(batch).items()}
  return model, metrics


def sample(model):
  seeds = tf.constant([1, 2], tf.int64)
  conditions = {"class_ids": tf.constant([0, 1], tf.int64)} if (
      model.is_conditional) else {}
  return model.sample_from_seeds(seeds, **conditions)[-1]


@pytest.mark.parametrize("family", families.names())
def test_mixed_precision_step_is_finite_close_to_float32_and_samples_float32(
    family):
  reference_model, reference = one_step(family, "float32")
  for name in ("mixed_bfloat16", "mixed_float16"):
    model, metrics = one_step(family, name)
    compute = {layer.dtype_policy.compute_dtype
               for layer in model._flatten_layers() if layer.weights}  # pylint: disable=protected-access
    assert name.split("_")[1] in compute, (name, compute)
    assert {str(v.dtype) for v in model.weights} <= {"float32", "int64",
                                                      "int32"}, name
    assert set(metrics) == set(reference)
    for key, value in metrics.items():
      assert np.isfinite(value), (name, key)
      assert abs(value - reference[key]) <= (
          RTOL * abs(reference[key]) + ATOL), (name, key, value,
                                               reference[key])
    images = sample(model)
    assert images.dtype == tf.float32
    assert -1.0 <= float(tf.reduce_min(images)) <= float(
        tf.reduce_max(images)) <= 1.0
  del reference_model


def test_a_bfloat16_checkpoint_restores_into_a_float32_model(tmp_path):
  mixed, _ = one_step("multigrid", "mixed_bfloat16")
  path = tf.train.Checkpoint(model=mixed).write(str(tmp_path / "ckpt"))
  plain = families.build_model(support.tiny_config("multigrid"))
  tf.train.Checkpoint(model=plain).read(path).assert_existing_objects_matched()
  for a, b in zip(mixed.weights, plain.weights):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_mixed_precision_export_serves_float32_images(tmp_path):
  model, _ = one_step("lapgan", "mixed_bfloat16")
  archive, _, signatures = archive_lib.build_archive(model, max_batch=4)
  archive.write_out(str(tmp_path / "saved"))
  loaded = tf.saved_model.load(str(tmp_path / "saved"))
  name = signatures[0].name
  outputs = loaded.signatures[name](**{
      key: tf.constant(value) for key, value in signatures[0].example.items()})
  images = outputs["images"]
  assert images.dtype == tf.float32
  assert 0.0 <= float(tf.reduce_min(images)) <= float(
      tf.reduce_max(images)) <= 1.0


def test_an_unknown_precision_is_refused_naming_the_choices():
  with pytest.raises(ValueError, match="precision='float8'.*float32"):
    support.tiny_config("multigrid", precision="float8")
  with pytest.raises(ValueError, match="mixed_bfloat16"):
    with precision.policy("half"):
      pass


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
