"""Paired GAN losses: each generator loss with the discriminator loss it pairs.

Every function takes discriminator logits (float [B], any real value) and
returns a scalar mean over the batch; under a strategy, divide by the number
of replicas for this replica's share of the global mean. A pair is chosen by
name with `get(name)`:

| name | generator loss | discriminator loss |
|---|---|---|
| 'non_saturating' | E softplus(-D(G(z))) | E softplus(-D(x)) + E softplus(D(G(z))) |
| 'minimax' | -E softplus(D(G(z))) (= E log(1 - sigmoid D(G(z)))) | as non_saturating |
| 'least_squares' | E (D(G(z)) - 1)^2 / 2 | E (D(x) - 1)^2 / 2 + E D(G(z))^2 / 2 |
| 'hinge' | -E D(G(z)) | E relu(1 - D(x)) + E relu(1 + D(G(z))) |

The discriminator losses equal the binary cross-entropy of 'real' = 1,
'fake' = 0 for the first two (Goodfellow et al. 2014; the non-saturating
generator loss is the paper's practical variant), the LSGAN loss with a=0,
b=c=1 (Mao et al. 2017) and the hinge loss (Lim & Ye 2017).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import tensorflow as tf


def _mean(values: tf.Tensor) -> tf.Tensor:
  return tf.reduce_mean(tf.cast(values, tf.float32))


def non_saturating_generator_loss(fake_logits):
  return _mean(tf.nn.softplus(-fake_logits))


def non_saturating_discriminator_loss(real_logits, fake_logits):
  return (_mean(tf.nn.softplus(-real_logits)) +
          _mean(tf.nn.softplus(fake_logits)))


def minimax_generator_loss(fake_logits):
  return -_mean(tf.nn.softplus(fake_logits))


minimax_discriminator_loss = non_saturating_discriminator_loss


def least_squares_generator_loss(fake_logits):
  return 0.5 * _mean(tf.square(fake_logits - 1.0))


def least_squares_discriminator_loss(real_logits, fake_logits):
  return 0.5 * (_mean(tf.square(real_logits - 1.0)) +
                _mean(tf.square(fake_logits)))


def hinge_generator_loss(fake_logits):
  return -_mean(fake_logits)


def hinge_discriminator_loss(real_logits, fake_logits):
  return (_mean(tf.nn.relu(1.0 - real_logits)) +
          _mean(tf.nn.relu(1.0 + fake_logits)))


class GanLossPair(NamedTuple):
  """A generator loss (fake logits -> scalar) and its discriminator loss."""
  name: str
  generator_loss: Callable[[tf.Tensor], tf.Tensor]
  discriminator_loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


PAIRS = {
    pair.name: pair for pair in (
        GanLossPair("non_saturating", non_saturating_generator_loss,
                    non_saturating_discriminator_loss),
        GanLossPair("minimax", minimax_generator_loss,
                    minimax_discriminator_loss),
        GanLossPair("least_squares", least_squares_generator_loss,
                    least_squares_discriminator_loss),
        GanLossPair("hinge", hinge_generator_loss, hinge_discriminator_loss),
    )
}


def get(name: str) -> GanLossPair:
  """The loss pair called `name` (one of `PAIRS`)."""
  if name not in PAIRS:
    raise ValueError(f"gan_loss={name!r} is not one of {sorted(PAIRS)}.")
  return PAIRS[name]


def discriminator_accuracy(real_logits, fake_logits) -> tf.Tensor:
  """Fraction of real (logit > 0) and fake (logit < 0) classified right."""
  return 0.5 * (_mean(real_logits > 0) + _mean(fake_logits < 0))


def mode_seeking(images_a: tf.Tensor, images_b: tf.Tensor,
                 noise_a: tf.Tensor, noise_b: tf.Tensor,
                 epsilon: float = 1e-5) -> tuple[tf.Tensor, tf.Tensor]:
  """The mode-seeking regulariser (Mao et al. 2019): (penalty, mean ratio).

  images_a / images_b: a generator's outputs [B, ...] for the same inputs
  and two noise draws noise_a / noise_b [B, ...]. Per example, ratio =
  mean |images_a - images_b| / mean |noise_a - noise_b| (how far the output
  moves per unit of noise); penalty = mean over the batch of
  1 / (ratio + epsilon), a scalar >= 0 that a generator adds (weighted) to
  its loss so that it cannot ignore its noise. Both are float32 scalars
  (this replica's mean, like the losses above).
  """
  def per_example_mean_abs(x):
    x = tf.cast(x, tf.float32)
    return tf.reduce_mean(tf.abs(x), axis=list(range(1, len(x.shape))))
  ratio = (per_example_mean_abs(images_a - images_b) /
           per_example_mean_abs(noise_a - noise_b))
  return tf.reduce_mean(1.0 / (ratio + epsilon)), tf.reduce_mean(ratio)
