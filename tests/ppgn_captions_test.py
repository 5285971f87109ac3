"""The caption condition of PPGN: templates, the captioner, its training,
the condition term and its bad inputs (tiny shapes, in-process)."""

import sys

import numpy as np
import pytest
import tensorflow as tf

import support

from tfgen.models import ppgn
from tfgen.models import ppgn_captions as captions
from tfgen.nets import captioner as captioner_nets

TINY = dict(image_size=8, channels=1, num_classes=10, encoder_steps=2,
            stats_steps=1, generator_steps=1, dae_steps=0, encoder_width=0.25,
            generator_width=0.25, discriminator_width=0.25, code_dim=16,
            num_mcmc_steps=3)


def test_templates_describe_the_digit_and_encode_with_start_and_end():
  assert captions.captions_of(9) == (
      "the digit nine", "a nine", "an odd digit", "a digit with a loop",
      "an odd digit with a loop")
  assert captions.captions_of(8)[1] == "an eight"
  assert captions.captions_of(4)[4] == "an even digit with no loop"
  # 'an odd digit with a loop' describes a 9 only.
  matches = [k for k in range(10)
             if "an odd digit with a loop" in captions.captions_of(k)]
  assert matches == [9]
  inputs, targets, weights = captions.encode("a nine".split())
  ids = [captions.TOKENS.index(w) for w in ("a", "nine")]
  assert captions.SEQUENCE_LENGTH == 7
  np.testing.assert_array_equal(inputs, [captions.START] + ids + [0] * 4)
  np.testing.assert_array_equal(targets, ids + [captions.END] + [0] * 4)
  np.testing.assert_array_equal(weights, [1, 1, 1, 0, 0, 0, 0])
  with pytest.raises(ValueError, match="word 'zebra' is not in the "
                     "captioner's vocabulary; use words from: a an digit"):
    captions.encode(["a", "zebra"])
  with pytest.raises(ValueError, match="must have 1 to 6 words"):
    captions.encode("a digit with a loop and more".split())


def test_log_likelihood_is_the_teacher_forced_sum_of_causal_steps():
  net = captioner_nets.build_captioner(8, 1, len(captions.TOKENS),
                                       captions.SEQUENCE_LENGTH, units=16,
                                       cell="lstm")
  images = tf.random.stateless_uniform([3, 8, 8, 1], [1, 2], -1.0, 1.0)
  words = "an odd digit with a loop".split()
  total = captions.caption_condition(net, words)(images, 0).log_prob.numpy()
  inputs, targets, _ = captions.encode(words)
  expected = np.zeros(3)
  for t in range(len(words) + 1):
    # Only the tokens up to step t: later padding must not matter.
    prefix = np.where(np.arange(len(inputs)) <= t, inputs, 7)[None]
    logits = net([images, tf.constant(np.repeat(prefix, 3, 0))])
    expected += tf.nn.log_softmax(logits)[:, t, targets[t]].numpy()
  np.testing.assert_allclose(total, expected, rtol=1e-5, atol=1e-5)


def test_the_captioner_learns_which_digit_it_sees():
  """A few hundred teacher-forced steps on 8x8 digits: 'the digit K' is
  most likely for the true K on held-out digits."""
  images, labels = support.digits("train", 8, 1024)
  test_images, test_labels = support.digits("test", 8, 200)
  net = captioner_nets.build_captioner(8, 1, len(captions.TOKENS),
                                       captions.SEQUENCE_LENGTH)
  optimizer = tf.keras.optimizers.Adam(3e-3)

  @tf.function
  def step(x, y, seed):
    template = tf.random.stateless_uniform(tf.shape(y), seed, 0,
                                           captions.NUM_TEMPLATES, tf.int32)
    with tf.GradientTape() as tape:
      loss, _ = captions.caption_loss(net, x, y, template, 10)
    optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_variables),
                                  net.trainable_variables))
    return loss

  losses = []
  for i in range(300):
    part = slice(64 * (i % 16), 64 * (i % 16 + 1))
    losses.append(float(step(images[part], labels[part],
                             tf.constant([i, 0]))))
  assert np.mean(losses[-20:]) < 0.6 * np.mean(losses[:5]), losses[::30]
  scores = np.stack([captions.caption_condition(
      net, f"the digit {name}".split())(test_images, 0).log_prob.numpy()
                     for name in captions.NAMES], axis=1)
  accuracy = np.mean(scores.argmax(1) == test_labels)
  assert accuracy > 0.6, accuracy
  best = captions.best_captions(net, test_images[:50], 10)
  # The most likely template is one of the true digit's five.
  assert np.mean([c in captions.captions_of(y)
                  for c, y in zip(best, test_labels[:50])]) > 0.6


@pytest.fixture(scope="module")
def model():
  m = ppgn.PPGN(captioner=True, **TINY)
  for key, value in (("h_mean", 0.5), ("h1_mean", 0.5), ("x_abs_mean", 0.5),
                     ("code_max", 2.0)):
    m.statistics[key].assign(value)
  m.stats_batches.assign(1.0)
  return m


def test_the_caption_steers_the_chain_and_has_a_probability(model):
  specs = model.parse_conditions(["caption:an odd digit with a loop"])
  assert specs[0].values == ("an", "odd", "digit", "with", "a", "loop")
  seeds = tf.constant([3, 4], tf.int64)
  steered = model.sample_from_seeds(seeds, conditions=specs, num_steps=3,
                                    prior="none")[-1]
  other = model.sample_from_seeds(
      seeds, conditions=model.parse_conditions(["caption:the digit two"]),
      num_steps=3, prior="none")[-1]
  assert not np.allclose(steered.numpy(), other.numpy())
  # One row alone equals its row in the batch (chains are independent).
  alone = model.sample_from_seeds(seeds[:1], conditions=specs, num_steps=3,
                                  prior="none")[-1]
  np.testing.assert_allclose(alone.numpy(), steered.numpy()[:1], atol=1e-5)
  prob = model.condition_probability(steered, conditions=specs).numpy()
  assert prob.shape == (2,) and np.all((prob > 0) & (prob <= 1))
  weighted = model.condition_probability(
      steered, conditions=["caption:an odd digit with a loop@2",
                           "class:9"]).numpy()
  assert weighted.shape == (2,) and np.all(weighted <= prob + 1e-6)


def test_stage_one_trains_the_captioner_and_only_it():
  clone = ppgn.PPGN(captioner=True, **TINY)
  images, labels = support.digits_batch(8)
  before = [v.numpy().copy() for v in clone.captioner.trainable_variables]
  metrics = clone.update_step((images, labels), tf.constant(0, tf.int64))
  after = [v.numpy() for v in clone.captioner.trainable_variables]
  assert float(metrics["caption_loss"]) > 0
  assert 0 <= float(metrics["caption_accuracy"]) <= 1
  assert all(not np.array_equal(a, b) for a, b in zip(before, after))
  assert int(clone.optimizers["captioner"].iterations) == 1
  metrics = clone.update_step((images, labels), tf.constant(2, tf.int64))
  assert float(metrics["caption_loss"]) == 0  # Stage 2: G and D.
  np.testing.assert_array_equal(
      after[0], clone.captioner.trainable_variables[0].numpy())


@pytest.mark.parametrize("condition, message", [
    ("caption:a zebra", "condition='caption:a zebra': word 'zebra' is not "
                        "in the captioner's vocabulary; use words from: a "
                        "an digit eight"),
    ("caption:the digit 7", "word '7' is not in the captioner's vocabulary"),
    ("caption:a digit with a loop a loop", "the caption has 7 words, more "
                                           "than the 6 of the longest"),
])
def test_bad_captions_name_the_word_and_the_vocabulary(model, condition,
                                                      message):
  with pytest.raises(ValueError) as error:
    model.parse_conditions([condition])
  assert message in str(error.value)


def test_a_model_without_captioner_names_the_fix():
  bare = ppgn.PPGN(**TINY)
  assert bare.captioner is None and not bare.settings.captioner
  with pytest.raises(ValueError) as error:
    bare.parse_conditions(["caption:the digit seven"])
  assert ("condition='caption:the digit seven': this model has no "
          "captioner; train one with --captioner") in str(error.value)


def test_the_captioner_needs_digit_like_labels():
  with pytest.raises(ValueError, match="captioner=True: the caption "
                     "templates name digits 0-9.*--nocaptioner"):
    ppgn.PPGN(captioner=True, **dict(TINY, num_classes=12))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
