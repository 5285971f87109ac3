"""`--ema_momentum`: moving averages of the sampling nets' weights.

Every family keeps Keras' optimizer EMA of the nets it samples with (never a
discriminator's), the average is the textbook recursion of the weights each
step left, `use_averaged_weights` puts it into the nets, a checkpoint keeps
it, and `workdir.load_model` samples with it unless told `weights='last'`.
"""

import sys

import numpy as np
import pytest

import support
from tfgen import config as config_lib
from tfgen import families
from tfgen.train import loop
from tfgen.train import workdir as workdir_lib

FAMILIES = families.names()
MOMENTUM = 0.5


def averaged_values(model):
  return [np.asarray(v) for _, variables in model.weight_averages()
          for v in variables]


@pytest.mark.parametrize("family", FAMILIES)
def test_the_average_is_the_ema_of_the_weights_each_step_left(family):
  config = support.tiny_config(family, ema_momentum=MOMENTUM)
  model = families.build_model(config)
  if model.needs_adapt:
    images, labels = support.digits("train", 8, 32)
    model.adapt(images, labels=labels)
  batch = support.digits_batch(8, 8)
  transform = families.batch_transform(config)
  if transform is not None:
    batch = transform(*batch)
  assert model.weight_averages(), "the family averages no weights"
  expected, previous = None, averaged_values(model)
  for _ in range(3):
    model.train_step(batch)
    now = averaged_values(model)
    # An optimizer updates its average only on steps it applies (a paused
    # or not-yet-started stage leaves its weights and average alone).
    moved = [not np.array_equal(a, b) for a, b in zip(now, previous)]
    if expected is None:
      expected = [w if m else None for w, m in zip(now, moved)]
    else:
      expected = [w if e is None and m else
                  (MOMENTUM * e + (1 - MOMENTUM) * w if m else e)
                  for e, w, m in zip(expected, now, moved)]
    previous = now
  last = averaged_values(model)
  assert model.use_averaged_weights()
  for average, want, weight in zip(averaged_values(model), expected, last):
    np.testing.assert_allclose(average, weight if want is None else want,
                               rtol=1e-5, atol=1e-6)


def test_without_momentum_nothing_is_averaged():
  model = families.build_model(support.tiny_config("gran"))
  assert not model.use_averaged_weights()


@pytest.mark.parametrize("family", ["multigrid", "gran"])
def test_a_workdir_samples_with_the_average_unless_told_last(family,
                                                           tmp_path):
  workdir = str(tmp_path / "run")
  trainer = loop.Trainer(
      support.tiny_config(family, num_steps=3, ema_momentum=MOMENTUM),
      workdir, printer=lambda _: None, handle_signals=False)
  trainer.run()
  trained = averaged_values(trainer.model)
  last, _, _ = workdir_lib.load_model(workdir, weights="last")
  for a, b in zip(averaged_values(last), trained):
    np.testing.assert_array_equal(a, b)
  averaged, _, _ = workdir_lib.load_model(workdir)
  trainer.model.use_averaged_weights()
  gaps = [float(np.abs(a - b).max()) for a, b in
          zip(averaged_values(averaged), trained)]
  assert max(gaps) > 0
  for a, b in zip(averaged_values(averaged),
                  averaged_values(trainer.model)):
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("value", [-0.1, 1.0, "x"])
def test_a_momentum_outside_zero_one_names_the_flag(value):
  with pytest.raises(ValueError, match=r"ema_momentum=.* must be in \[0"):
    config_lib.TrainConfig(ema_momentum=value).validate()


def test_an_unknown_weights_choice_names_the_choices(tmp_path):
  with pytest.raises(ValueError, match="weights='best' is not one of"):
    workdir_lib.load_model(str(tmp_path), weights="best")


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
