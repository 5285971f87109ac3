"""Tests for tfgen.nets.gan: presets and the four LAPGAN network builders."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfgen.nets import gan


def test_presets_scale_with_width_and_size():
  coarse = gan.gan_net_spec(4, coarsest=True)
  assert coarse.generator_filters == (256, 64)
  assert coarse.discriminator_filters == (128, 256)
  assert gan.gan_net_spec(8, coarsest=False).discriminator_filters == (64, 128)
  fine = gan.gan_net_spec(16, coarsest=False, generator_width=0.5)
  assert fine.generator_filters == (32, 32, 32)
  assert fine.discriminator_filters == (32, 64, 128)
  assert gan.gan_net_spec(32, coarsest=True).generator_filters == (
      256, 128, 64, 64)


@pytest.mark.parametrize("kwargs,message", [
    (dict(generator_width=0.0), "generator_width=0.0"),
    (dict(discriminator_width=-1.0), "discriminator_width=-1.0"),
    (dict(dropout=1.0), "discriminator_dropout=1.0"),
])
def test_bad_presets_are_rejected(kwargs, message):
  with pytest.raises(ValueError, match=message):
    gan.gan_net_spec(8, coarsest=False, **kwargs)


@pytest.mark.parametrize("size", [4, 8, 16])
def test_coarse_generator_maps_noise_to_images_in_range(size):
  spec = gan.gan_net_spec(size, True, 0.125, 0.125)
  net = gan.build_coarse_generator(size, 3, 10, 0, spec, "g")
  images = net([tf.random.stateless_normal([2, 10], [0, 1])]).numpy()
  assert images.shape == (2, size, size, 3)
  assert np.abs(images).max() <= 1.0


def test_conditional_nets_take_the_class_and_it_changes_the_output():
  spec = gan.gan_net_spec(8, False, 0.25, 0.25)
  generator = gan.build_residual_generator(8, 1, 10, spec, "g")
  discriminator = gan.build_residual_discriminator(8, 1, 10, spec, "d")
  coarse = tf.random.stateless_uniform([2, 8, 8, 1], [0, 2], -1, 1)
  noise = tf.random.stateless_normal([2, 8, 8, 1], [0, 3])
  labels = tf.one_hot([[1, 2]], 10)[0]
  residual = generator([coarse, noise, labels])
  assert residual.shape == (2, 8, 8, 1)
  other = generator([coarse, noise, tf.one_hot([5, 5], 10)])
  assert np.abs((residual - other).numpy()).max() > 0
  logits = discriminator([residual, coarse, labels])
  assert logits.shape == (2, 1)
  assert [i.name for i in discriminator.inputs] == ["residual", "coarse_up",
                                                    "labels"]


def test_residual_generator_uses_its_noise_plane():
  spec = gan.gan_net_spec(8, False, 0.25, 0.25)
  generator = gan.build_residual_generator(8, 1, 0, spec, "g")
  coarse = tf.zeros([1, 8, 8, 1])
  a = generator([coarse, tf.random.stateless_normal([1, 8, 8, 1], [1, 1])])
  b = generator([coarse, tf.random.stateless_normal([1, 8, 8, 1], [1, 2])])
  assert np.abs((a - b).numpy()).max() > 1e-4


def test_coarse_discriminator_outputs_one_logit_per_image():
  spec = gan.gan_net_spec(4, True, 0.25, 0.25, dropout=0.5)
  net = gan.build_coarse_discriminator(4, 1, 0, spec, "d")
  assert net(tf.zeros([3, 4, 4, 1])).shape == (3, 1)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
