"""Slow: a few hundred training steps on digits make samples digit-like.

Marked `slow` (CI runs it; `-m "not slow"` skips it). It trains the default
digits setting, shortened, through the real Trainer, and scores samples with
the project's own digits classifier before and after training.
"""

import dataclasses
import sys

import numpy as np
import pytest

from tfgen import config as config_lib
from tfgen.metrics import classifier as classifier_lib
from tfgen.metrics import sample_quality
from tfgen.train import loop


@pytest.mark.slow
def test_classifier_score_rises_well_above_its_value_at_initialisation(
    tmp_path):
  bundle = classifier_lib.get_classifier("digits", 16,
                                         cache_dir=str(tmp_path / "cache"))
  default = config_lib.ExperimentConfig()
  config = dataclasses.replace(default, train=dataclasses.replace(
      default.train, num_steps=300, batch_size=50, checkpoint_every=300,
      sample_every=300, summary_every=50, learning_rate=5e-4))
  trainer = loop.Trainer(config, str(tmp_path / "run"), printer=lambda _: 0)

  def score():
    images = trainer.model.sample(300, seed=1)[-1].numpy()
    return sample_quality.classifier_score(bundle.probabilities(images))

  trainer.model.adapt(trainer.dataset().take(10))
  before = score()
  trainer.run()
  after = score()
  print(f"classifier score before {before:.2f}, after {after:.2f}")
  assert after > max(3.0, 2.0 * before), (before, after)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
