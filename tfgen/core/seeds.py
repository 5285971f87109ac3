"""Seeds in one place: the named salts and the run seed's one split.

Every random number in tfgen comes from stateless ops on an int32[2] seed
(`tfgen.mcmc.runner.fold_in`). Streams that must never coincide are kept
apart by a *salt*: either the second element of a `[seed, salt]` pair
(a stream of a training run) or the integer folded into a per-example seed
(`fold_in(pair, salt)`, a stream of one sample). All salts are listed here,
once; their values are those the families always used, so checkpoints,
samples and exports made before this table existed are unchanged.

`RunSeeds.from_seed(config.train.seed)` is the one split of a run's seed
the Trainer makes (its front door): the data order, each family's training
noise and the initial weights all derive from it.
"""

from __future__ import annotations

import contextlib
import random
from typing import NamedTuple

import tensorflow as tf

# Second element of a run's [seed, salt] pair: one stream per purpose.
DATA_ORDER = 0x64617461        # 'data': the epochs' shuffles.
MULTIGRID_TRAINING = 0x6D67    # 'mg': multigrid training chains.
LAPGAN_TRAINING = 0x6C67       # 'lg': LAPGAN training noise.
GRAN_TRAINING = 0x6772         # 'gr': GRAN training noise.
PPGN_TRAINING = 0x7070         # 'pp': PPGN training noise.

# Folded into one example's seed pair: one stream per purpose of a sample.
START_CHOICE = -1              # which start-bank image a chain starts from.
CLASS_START_CHOICE = -3        # which start image of the requested class.
LAPGAN_CLASS_CHOICE = -7       # the class an unconditioned LAPGAN draws.

# LAPGAN's level noise of one sample folds the level index (0 = coarsest,
# 1, 2, ...) into its seed pair; multigrid's per-grid noise the grid index.

# The initial state of the fold over a batch's seeds (multigrid HMC).
HMC_BATCH_SEED = (0x686D, 0x6363)  # 'hm', 'cc'


def run_stream(seed: int, salt: int) -> tf.Tensor:
  """int32[2] seed of one stream of a run: `[seed mod 2**31, salt]`."""
  return tf.constant([int(seed) % 2**31, salt], tf.int32)


class RunSeeds(NamedTuple):
  """The seeds a training run derives from its one `--seed`.

  data: base of the data order (`tfgen.train.input`, with DATA_ORDER).
  model: base of the families' training noise (with the family's salt).
  init: seed of the initial weights (`initial_weights`).
  """
  data: int
  model: int
  init: int

  @classmethod
  def from_seed(cls, seed: int) -> "RunSeeds":
    seed = int(seed)
    return cls(data=seed, model=seed, init=seed)


@contextlib.contextmanager
def initial_weights(seed: int):
  """Keras initializers without their own seed draw from `seed` in the block.

  Keras 3 draws the seed of every unseeded initializer from the `random`
  module that `keras.src.random.seed_generator` imported
  (`make_default_seed`). Inside the block that name is a private
  `random.Random(seed)`, so initial weights are a function of `seed` and
  Python's global `random` is neither read nor changed. (The draws equal
  those of `random.seed(seed)`, which earlier versions used.)
  """
  from keras.src.random import seed_generator  # pylint: disable=g-import-not-at-top
  saved = seed_generator.python_random
  seed_generator.python_random = random.Random(int(seed))
  try:
    yield
  finally:
    seed_generator.python_random = saved
