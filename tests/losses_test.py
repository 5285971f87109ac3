"""tfgen.core.losses: each GAN loss pair against its formula."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfgen.core import losses

REAL = tf.constant([2.0, -1.0, 0.5])
FAKE = tf.constant([-3.0, 0.0, 1.5])


def softplus(x):
  return np.log1p(np.exp(x))


@pytest.mark.parametrize("name, generator, discriminator", [
    ("non_saturating", lambda f: softplus(-f).mean(),
     lambda r, f: softplus(-r).mean() + softplus(f).mean()),
    ("minimax", lambda f: -softplus(f).mean(),
     lambda r, f: softplus(-r).mean() + softplus(f).mean()),
    ("least_squares", lambda f: 0.5 * ((f - 1) ** 2).mean(),
     lambda r, f: 0.5 * (((r - 1) ** 2).mean() + (f ** 2).mean())),
    ("hinge", lambda f: -f.mean(),
     lambda r, f: np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean()),
])
def test_each_pair_matches_its_formula(name, generator, discriminator):
  pair = losses.get(name)
  assert pair.name == name
  real, fake = REAL.numpy(), FAKE.numpy()
  assert float(pair.generator_loss(FAKE)) == pytest.approx(generator(fake),
                                                           rel=1e-6)
  assert float(pair.discriminator_loss(REAL, FAKE)) == pytest.approx(
      discriminator(real, fake), rel=1e-6)


def test_the_minimax_generator_loss_is_log_one_minus_d():
  d_fake = tf.sigmoid(FAKE).numpy()
  assert float(losses.minimax_generator_loss(FAKE)) == pytest.approx(
      np.log(1 - d_fake).mean(), rel=1e-5)


def test_an_unknown_pair_names_the_known_ones():
  with pytest.raises(ValueError, match=r"gan_loss='wasserstein' is not one "
                     r"of \['hinge', 'least_squares', 'minimax', "
                     r"'non_saturating'\]"):
    losses.get("wasserstein")


def test_mode_seeking_ratio_is_output_change_per_noise_change():
  a = tf.zeros([2, 4, 4, 1])
  b = tf.concat([tf.fill([1, 4, 4, 1], 0.5), tf.fill([1, 4, 4, 1], 2.0)], 0)
  za, zb = tf.zeros([2, 3]), tf.ones([2, 3])
  penalty, ratio = losses.mode_seeking(a, b, za, zb, epsilon=0.0)
  # Per example ratios 0.5 and 2.0: penalty mean(1/r) = 1.25, ratio 1.25.
  np.testing.assert_allclose(float(ratio), 1.25, rtol=1e-6)
  np.testing.assert_allclose(float(penalty), 1.25, rtol=1e-6)
  same, _ = losses.mode_seeking(a, a, za, zb)
  assert float(same) == pytest.approx(1e5)  # Ignoring z costs 1/epsilon.


def test_discriminator_accuracy_counts_both_sides():
  assert float(losses.discriminator_accuracy(REAL, FAKE)) == pytest.approx(
      0.5 * (2 / 3 + 1 / 3))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
