"""A small image captioner: images + caption prefix -> next-word logits.

The caption condition of PPGN (`tfgen.models.ppgn_captions`) plays the role
of the paper's LRCN (Donahue et al.; Nguyen et al. 2017, section 4.1): a
recurrent language model whose every step sees static image features. Here
it is scaled down to template captions of small images:

* an image trunk of its own (not E's, not C''s): two 3x3 ReLU convs with
  2x2 max-pooling, flatten, a dense ReLU feature layer;
* the features set the recurrent layer's initial state (dense tanh) and are
  concatenated to every step's word embedding (LRCN's factored model feeds
  the image to its second LSTM at every step);
* one Keras `GRU` or `LSTM` layer (unrolled: the captions are a few words,
  and an unrolled loop is faster on CPU and differentiable without a
  while loop), then a dense layer of next-token logits.

Teacher forcing: the token input at step t is the previous word (the start
token at t = 0), the output at step t predicts word t (the end token after
the last word); padding after the end never influences an earlier output.
"""

from __future__ import annotations

import keras

from tfgen.core import precision

CELLS = ("gru", "lstm")


def build_captioner(size: int, channels: int, vocabulary_size: int,
                    sequence_length: int, filters: tuple[int, ...] = (16, 32),
                    feature_dim: int = 64, embedding_dim: int = 32,
                    units: int = 64, cell: str = "gru",
                    name: str = "captioner") -> keras.Model:
  """The captioner: [images, tokens] -> next-token logits.

  Args:
    size, channels: images [B, size, size, channels] in [-1, 1].
    vocabulary_size: tokens, special ones included (ids in [0, V)).
    sequence_length: L, the token steps (longest caption + 1).
    filters: the image trunk's conv channels (each followed by pooling).
    feature_dim: width of the image features.
    embedding_dim: width of the word embedding.
    units: width of the recurrent layer.
    cell: 'gru' or 'lstm'.

  Returns:
    A functional keras.Model: inputs images float32 [B, S, S, C] and tokens
    int32 [B, L]; output logits float32 [B, L, V].
  """
  if cell not in CELLS:
    raise ValueError(f"captioner_cell={cell!r} must be one of {CELLS}.")
  for label, value in (("vocabulary_size", vocabulary_size),
                       ("sequence_length", sequence_length),
                       ("feature_dim", feature_dim),
                       ("embedding_dim", embedding_dim), ("units", units)):
    if isinstance(value, bool) or int(value) != value or value <= 0:
      raise ValueError(f"{label}={value!r} must be a positive integer.")
  if not filters or any(int(f) != f or f <= 0 for f in filters):
    raise ValueError(f"filters={filters!r} must be positive integers.")
  images = keras.Input((size, size, channels), name="images")
  tokens = keras.Input((sequence_length,), dtype="int32", name="tokens")
  x = images
  for i, width in enumerate(filters):
    x = keras.layers.Conv2D(int(width), 3, padding="same", activation="relu",
                            name=f"conv{i + 1}")(x)
    x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
  x = keras.layers.Flatten(name="flatten")(x)
  features = keras.layers.Dense(int(feature_dim), activation="relu",
                                name="features")(x)
  words = keras.layers.Embedding(int(vocabulary_size), int(embedding_dim),
                                 name="embedding")(tokens)
  static = keras.layers.RepeatVector(int(sequence_length),
                                     name="static_features")(features)
  steps = keras.layers.Concatenate(name="step_inputs")([words, static])
  state = keras.layers.Dense(int(units), activation="tanh",
                             name="initial_state")(features)
  if cell == "gru":
    hidden = keras.layers.GRU(int(units), return_sequences=True, unroll=True,
                              name="gru")(steps, initial_state=[state])
  else:
    memory = keras.layers.Dense(int(units), name="initial_memory")(features)
    hidden = keras.layers.LSTM(int(units), return_sequences=True,
                               unroll=True, name="lstm")(
                                   steps, initial_state=[state, memory])
  logits = keras.layers.Dense(int(vocabulary_size), name="logits")(hidden)
  return keras.Model([images, tokens], precision.to_float32(logits),
                     name=name)
