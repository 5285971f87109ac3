"""Each family's serving signatures (`tfgen.families.signatures`), before export.

The exported SavedModels themselves are tested in signatures_test.py.
"""

import io
import sys

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

import support
from tfgen.models import LAPGAN
from tfgen import families
from tfgen.serving import signature_spec


def test_models_without_a_family_are_refused_naming_the_families():
  with pytest.raises(ValueError, match=r"model=Sequential belongs to no "
                     r"registered family \(\['multigrid', 'lapgan'"):
    families.signatures(keras.Sequential())


def test_multigrid_models_serve_samples_and_inpainting():
  model = support.tiny_multigrid()
  assert families.of_model(model).name == "multigrid"
  assert [s.name for s in families.signatures(model)] == [
      "serving_default", "sample_steps", "inpaint"]


def test_three_channel_models_export_colour_pngs():
  model = support.tiny_multigrid(channels=3, grid_sizes=(1, 4))
  model.adapt(np.random.RandomState(0).uniform(-1, 1, (16, 4, 4, 3)).astype(
      np.float32))
  sig = families.signatures(model)[0]
  fn = tf.function(signature_spec.serving_fn(sig, 4),
                   input_signature=list(sig.inputs))
  outputs = fn(tf.constant([1, 2], tf.int64))
  assert outputs["images"].shape == (2, 4, 4, 3)
  png = Image.open(io.BytesIO(outputs["images_bytes"].numpy()[0]))
  assert png.size == (4, 4) and png.mode == "RGB"


def test_conditional_models_take_a_checked_class_id():
  model = support.tiny_multigrid(start_bank_size=20, num_classes=2)
  images = np.concatenate([np.full((10, 8, 8, 1), -0.5, np.float32),
                           np.full((10, 8, 8, 1), 0.5, np.float32)])
  model.adapt(images, labels=np.repeat([0, 1], 10))
  sig = families.signatures(model)[0]
  assert [spec.name for spec in sig.inputs] == ["seed", "class_id"]
  fn = tf.function(signature_spec.serving_fn(sig, 4),
                   input_signature=list(sig.inputs))
  seeds = tf.constant([1, 2], tf.int64)
  served = fn(seeds, tf.constant([1, 1], tf.int64))["images"].numpy()
  expected = model.sample_from_seeds(seeds, class_ids=tf.constant([1, 1]))
  np.testing.assert_allclose(served, (expected[-1].numpy() + 1) / 2,
                             atol=1e-6)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"class_id: values \[0 2\] must be in \[0, 2\)"):
    fn(seeds, tf.constant([0, 2], tf.int64))



def test_lapgan_refuses_langevin_step_overrides():
  model = LAPGAN(level_sizes=(4, 8), noise_dim=4, generator_width=0.125,
                 discriminator_width=0.125)
  with pytest.raises(ValueError, match=r"--serving_steps=3 applies to "
                     r"families with sampler steps \(multigrid, "):
    families.signatures(model, num_steps=3)
  names = [s.name for s in families.signatures(model)]
  assert names == ["serving_default", "refine"]
  assert [spec.name for spec in families.signatures(model)[0].inputs
          ] == ["seed"]  # Unconditional: no class_id input.


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
