"""PPGN's caption condition: template captions, the captioner's loss and
the condition term (the scaled-down analogue of the paper's LRCN, section
4.1 of Nguyen et al. 2017).

Captions are templates of a digit's label (digits 0-9; any dataset with at
most 10 classes gets the same words for its class ids):

| template | e.g. for 7 |
|---|---|
| the digit NAME | the digit seven |
| a / an NAME | a seven |
| an odd / an even digit | an odd digit |
| a digit with a loop / with no loop (loops: 0, 6, 8, 9) | a digit with no loop |
| an odd / an even digit with a loop / with no loop | an odd digit with no loop |

Tokens: 0 = end (also the padding), 1 = start, then the words of
`VOCABULARY` in order. A caption of n words is L = `SEQUENCE_LENGTH` token
steps: inputs (start, w1 .. wn, end ...), targets (w1 .. wn, end, end ...),
weights 1 on the first n + 1 steps (the words and the end), 0 after.

The condition is the caption's log-likelihood under the captioner,
log p(w1 .. wn, end | image) = sum over those n + 1 steps of the
log-softmax of the target token (teacher forced, full backpropagation
through the recurrent layer); its probability for filtering
(`--min_probability`) is the per-token geometric mean exp(log p / (n + 1)).
Integer tokens carry no gradient (the official sampler needed a patched
Caffe for its EmbedLayer); the gradient flows to the image only.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from tfgen.mcmc.mala_approx import ConditionOutput
from tfgen.models import ppgn_condition_spec as spec_lib

NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven",
         "eight", "nine")
MAX_CLASSES = len(NAMES)
END, START = 0, 1
SPECIAL_TOKENS = ("<end>", "<start>")


def captions_of(label: int) -> tuple[str, ...]:
  """The template captions of class `label` (0 <= label < 10)."""
  label = int(label)
  if not 0 <= label < MAX_CLASSES:
    raise ValueError(f"label={label} has no caption templates; captions "
                     f"name digits 0..{MAX_CLASSES - 1}.")
  name = NAMES[label]
  article = "an" if name[0] in "aeiou" else "a"
  parity = "an odd" if spec_lib.is_odd(label) else "an even"
  loop = "with a loop" if spec_lib.has_loop(label) else "with no loop"
  return (f"the digit {name}", f"{article} {name}", f"{parity} digit",
          f"a digit {loop}", f"{parity} digit {loop}")


NUM_TEMPLATES = len(captions_of(0))
VOCABULARY = tuple(sorted({word for label in range(MAX_CLASSES)
                           for caption in captions_of(label)
                           for word in caption.split()}))
TOKENS = SPECIAL_TOKENS + VOCABULARY
MAX_WORDS = max(len(caption.split()) for label in range(MAX_CLASSES)
                for caption in captions_of(label))
SEQUENCE_LENGTH = MAX_WORDS + 1


def encode(words: Sequence[str]) -> tuple[np.ndarray, np.ndarray,
                                          np.ndarray]:
  """(inputs, targets int32 [L], weights float32 [L]) of one caption.

  Raises ValueError naming a word outside `VOCABULARY` (the apps check
  through `ppgn_condition_spec` first) or a caption of more than
  `MAX_WORDS` words.
  """
  words = list(words)
  if not words or len(words) > MAX_WORDS:
    raise ValueError(f"caption={' '.join(words)!r} must have 1 to "
                     f"{MAX_WORDS} words (the longest template), e.g. "
                     "'an odd digit with a loop'.")
  unknown = [w for w in words if w not in VOCABULARY]
  if unknown:
    raise ValueError(f"caption word {unknown[0]!r} is not in the "
                     f"captioner's vocabulary; use words from: "
                     f"{' '.join(VOCABULARY)}")
  ids = [TOKENS.index(w) for w in words]
  inputs = np.full([SEQUENCE_LENGTH], END, np.int32)
  targets = np.full([SEQUENCE_LENGTH], END, np.int32)
  weights = np.zeros([SEQUENCE_LENGTH], np.float32)
  inputs[:len(ids) + 1] = [START] + ids
  targets[:len(ids)] = ids
  weights[:len(ids) + 1] = 1.0
  return inputs, targets, weights


def check_lengths(specs: Sequence[spec_lib.ConditionSpec]) -> None:
  """Raises ValueError for a caption condition longer than `MAX_WORDS`."""
  for spec in specs:
    if spec.kind == "caption" and len(spec.values) > MAX_WORDS:
      raise ValueError(
          f"condition={spec.text!r}: the caption has {len(spec.values)} "
          f"words, more than the {MAX_WORDS} of the longest template; e.g. "
          "caption:an odd digit with a loop.")


def caption_table(num_classes: int) -> tuple[np.ndarray, ...]:
  """(inputs, targets [K, T, L] int32, weights [K, T, L] float32): the
  encoded templates of every class (T = `NUM_TEMPLATES`)."""
  if not 1 <= num_classes <= MAX_CLASSES:
    raise ValueError(f"num_classes={num_classes} must be in [1, "
                     f"{MAX_CLASSES}] for the caption templates (digits).")
  rows = [[encode(c.split()) for c in captions_of(k)]
          for k in range(num_classes)]
  return tuple(np.array([[entry[i] for entry in row] for row in rows])
               for i in range(3))


def sequence_log_likelihood(captioner, images: tf.Tensor, inputs: tf.Tensor,
                            targets: tf.Tensor, weights: tf.Tensor,
                            training: bool = False) -> tf.Tensor:
  """[B] sum over weighted steps of log p(target_t | inputs_<=t, image).

  images [B, S, S, C] in [-1, 1]; inputs, targets int32 [B, L]; weights
  float32 [B, L].
  """
  logits = captioner([images, inputs], training=training)
  log_probs = tf.nn.log_softmax(logits)
  token = tf.gather(log_probs, targets, batch_dims=2)
  return tf.reduce_sum(weights * token, axis=1)


def caption_loss(captioner, images: tf.Tensor, labels: tf.Tensor,
                 template_index: tf.Tensor, num_classes: int,
                 training: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
  """(loss, token accuracy) of teacher-forced template captions.

  Example b is captioned with template `template_index[b]` of its label.
  The loss is each example's mean cross-entropy over its caption's tokens
  (words and end), averaged over the batch: a per-example quantity, so
  replicas' means add up to the global batch's.

  Args:
    captioner: `tfgen.nets.captioner.build_captioner`'s model.
    images: [B, S, S, C] in [-1, 1].
    labels: int [B] in [0, num_classes).
    template_index: int [B] in [0, NUM_TEMPLATES).
    num_classes: of the data (<= 10).
  """
  table = [tf.constant(t) for t in caption_table(num_classes)]
  index = tf.stack([tf.cast(labels, tf.int32),
                    tf.cast(template_index, tf.int32)], axis=-1)
  inputs, targets, weights = (tf.gather_nd(t, index) for t in table)
  logits = captioner([images, inputs], training=training)
  token = -tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
  count = tf.reduce_sum(weights, axis=1)
  loss = tf.reduce_mean(-tf.reduce_sum(weights * token, axis=1) / count)
  hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32),
                          targets), tf.float32)
  accuracy = tf.reduce_mean(tf.reduce_sum(weights * hits, axis=1) / count)
  return loss, accuracy


def caption_condition(captioner, words: Sequence[str]) -> Callable:
  """Condition (images, step) -> ConditionOutput on the caption `words`.

  objective = log_prob = log p(caption | image) [B]; prob = its per-token
  geometric mean (module docstring).
  """
  inputs, targets, weights = (tf.constant(a)[None] for a in encode(words))
  num_tokens = float(len(words) + 1)

  def condition(images, step):
    del step
    images = tf.convert_to_tensor(images, tf.float32)
    batch = tf.shape(images)[0]
    tile = lambda a: tf.tile(a, [batch, 1])  # pylint: disable=g-long-lambda
    log_prob = sequence_log_likelihood(captioner, images, tile(inputs),
                                       tile(targets), tile(weights))
    return ConditionOutput(log_prob, log_prob, tf.exp(log_prob / num_tokens))

  return condition


def best_captions(captioner, images, num_classes: int) -> list[str]:
  """The most likely template caption of each image (eager; a check of
  what the captioner learned). images [N, S, S, C] in [-1, 1]."""
  images = tf.convert_to_tensor(images, tf.float32)
  captions = [c for k in range(num_classes) for c in captions_of(k)]
  unique = sorted(set(captions))
  scores = []
  for caption in unique:
    scores.append(caption_condition(captioner, caption.split())(
        images, 0).log_prob)
  best = tf.argmax(tf.stack(scores, axis=1), axis=1).numpy()
  return [unique[i] for i in best]
