"""tfgen.serving.signature_spec: in-graph input checks and served outputs."""

import io
import sys

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from tfgen.serving import signature_spec


def _served(signature, max_batch=3):
  return tf.function(signature_spec.serving_fn(signature, max_batch),
                     input_signature=list(signature.inputs))


def _flat_signature(validate=lambda **_: []):
  """seed int64 [batch] -> flat grey 2x2 images, value seed / 10 - 1."""
  return signature_spec.Signature(
      name="serving_default",
      inputs=(tf.TensorSpec([None], tf.int64, name="seed"),),
      generate=lambda seed: tf.broadcast_to(
          tf.cast(seed, tf.float32)[:, None, None, None] / 10.0 - 1.0,
          tf.concat([tf.shape(seed), [2, 2, 1]], 0)),
      validate=validate, example={"seed": np.array([1])})


def test_outputs_map_minus_one_one_to_zero_one_and_encode_pngs():
  outputs = _served(_flat_signature())(tf.constant([0, 10, 20], tf.int64))
  np.testing.assert_allclose(outputs["images"].numpy()[:, 0, 0, 0],
                             [0.0, 0.5, 1.0])
  png = Image.open(io.BytesIO(outputs["images_bytes"].numpy()[1]))
  assert png.size == (2, 2) and np.asarray(png)[0, 0] in (127, 128)


@pytest.mark.parametrize("seeds, expected", [
    ([], "seed: empty batch"),
    ([1, 2, 3, 4], r"seed: batch of 4 instances is above max_batch=3"),
])
def test_batch_checks_name_the_input_and_the_limit(seeds, expected):
  with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
    _served(_flat_signature())(tf.constant(seeds, tf.int64))


@pytest.mark.parametrize("images, expected", [
    (np.zeros([1, 4, 4, 1]), r"image: shape \[1 4 4 1\] must be \[batch, "
                             r"2, 2, 1\]"),
    (np.full([1, 2, 2, 1], 1.5), r"image: values must be in \[0, 1\]"),
    (np.full([1, 2, 2, 1], np.nan), r"image: values must be in \[0, 1\]"),
])
def test_image_checks_refuse_wrong_shapes_and_values(images, expected):
  images = tf.constant(images, tf.float32)
  with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
    with tf.control_dependencies(
        signature_spec.image_checks("image", images, 2, 1)):
      tf.identity(images)


@pytest.mark.parametrize("masks, ok", [
    (np.ones([1, 2, 2, 1]), True), (np.zeros([1, 2, 2, 3]), True),
    (np.ones([1, 2, 2, 2]), False), (np.full([1, 2, 2, 1], 0.5), False)])
def test_mask_checks_take_one_or_all_channels_of_zeros_and_ones(masks, ok):
  masks = tf.constant(masks, tf.float32)

  def check():
    with tf.control_dependencies(
        signature_spec.mask_checks("mask", masks, 2, 3)):
      return tf.identity(masks)

  if ok:
    check()
  else:
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask: "):
      check()


def test_signature_validation_refuses_bad_values_and_serves_good_ones():
  served = _served(_flat_signature(
      validate=lambda seed: signature_spec.class_checks("seed", seed, 5)))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"seed: values \[7\] must be in \[0, 5\)"):
    served(tf.constant([7], tf.int64))
  assert served(tf.constant([4], tf.int64))["images"].shape == (1, 2, 2, 1)


def _branch_fn(generate, specs):
  return tf.function(
      lambda *args: signature_spec.generate_with_single_instance_branch(
          generate, {spec.name: arg for spec, arg in zip(specs, args)}),
      input_signature=specs)


def test_a_batch_of_one_runs_a_graph_traced_for_a_batch_of_one():
  # The traced batch size is baked into the output: 1 on the single-instance
  # branch, -1 (unknown) on the any-batch one.
  seed_spec = [tf.TensorSpec([None], tf.int64, name="seed")]
  fn = _branch_fn(lambda seed: tf.fill(
      tf.shape(seed), float(seed.shape[0] or -1)), seed_spec)
  np.testing.assert_array_equal(fn(tf.constant([4], tf.int64)), [1.0])
  np.testing.assert_array_equal(fn(tf.constant([4, 5, 6], tf.int64)),
                                [-1.0, -1.0, -1.0])


def test_the_single_instance_branch_does_not_leak_its_size_into_the_other():
  # Pinning the batch on the inputs themselves made larger requests fail:
  # with tf.reshape to [1, ...] the batch checks and a tf.map_fn of the other
  # branch saw one row, with tf.ensure_shape the branch's check ran for every
  # batch (both fail here; set_shape on an identity of the input failed the
  # inpaint tests of signatures_test.py). Inputs like the inpaint
  # signature's: two unknown in every dimension, and a seed.
  served = _served(signature_spec.Signature(
      name="inpaint",
      inputs=(tf.TensorSpec([None, None, None, None], tf.float32,
                            name="image"),
              tf.TensorSpec([None, None, None, None], tf.float32,
                            name="mask"),
              tf.TensorSpec([None], tf.int64, name="seed")),
      generate=lambda image, mask, seed: image * (1.0 - mask) + tf.map_fn(
          lambda s: tf.cast(s, tf.float32) / 10.0, seed,
          fn_output_signature=tf.float32)[:, None, None, None] * mask,
      validate=lambda **_: [], example={}), max_batch=4)
  for batch in (1, 4, 1, 2):
    image = np.linspace(-1, 1, batch * 8, dtype=np.float32).reshape(
        batch, 2, 2, 2)
    mask = np.zeros_like(image)
    mask[:, 0] = 1.0
    seed = np.arange(batch, dtype=np.int64) + 3
    out = served(tf.constant(image), tf.constant(mask),
                 tf.constant(seed))["images"].numpy()
    expected = np.where(mask > 0, (seed / 10.0)[:, None, None, None], image)
    np.testing.assert_allclose(out, (expected + 1.0) / 2.0, atol=1e-6)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
