"""Tests for tfgen.metrics.gam: eq. 10-11 on hand-made logits, the tie
rule, intervals, and battles of stub players and of tiny GRANs."""

import sys
import math

import numpy as np
import pytest

from tfgen.metrics import gam


def _logits(num_real: int, total: int) -> np.ndarray:
  """`num_real` positive (called real) logits out of `total`."""
  return np.array([1.0] * num_real + [-1.0] * (total - num_real))


def test_errors_and_ratios_follow_eq_10():
  # D1 calls 10 of 100 test images fake, D2 20: r_test = 0.5.
  # D1 is fooled by 30 of 100 of G2's samples, D2 by 60 of G1's: r = 0.5.
  result = gam.battle_from_logits(
      _logits(90, 100), _logits(80, 100), _logits(30, 100), _logits(60, 100),
      num_bootstrap=0, test_ratio_tolerance=0.6)
  assert result.test_error_1 == pytest.approx(0.1)
  assert result.test_error_2 == pytest.approx(0.2)
  assert result.sample_error_1_on_2 == pytest.approx(0.3)
  assert result.sample_error_2_on_1 == pytest.approx(0.6)
  assert result.r_test == pytest.approx(0.5)
  assert result.r_sample == pytest.approx(0.5)
  assert result.winner == result.winner_paper == "1"  # r_sample < 1.
  # battle.py's accuracy ratio (0.7 / 0.4 > 1) names the same model.
  assert result.sample_ratio_accuracy == pytest.approx(0.7 / 0.4)
  assert result.winner_official == "1"
  assert result.test_ratio_accuracy == pytest.approx(0.9 / 0.8)


def test_a_zero_logit_counts_as_fake():
  assert gam.called_real([0.0, 1e-6, -1.0]).tolist() == [False, True, False]


@pytest.mark.parametrize("r_test,r_sample,interval,tolerance,winner", [
    (1.0, 0.5, None, 0.3, "1"),
    (1.0, 1.75, None, 0.3, "2"),       # Paper Table 2, MNIST GRAN1 v GRAN3.
    (0.79, 1.75, None, 0.3, "2"),
    (1.4, 0.5, None, 0.3, "tie"),      # Test ratio out of tolerance.
    (0.79, 1.75, None, 0.2, "tie"),
    (1.0, 1.0, None, 0.3, "tie"),
    (1.0, 1.001, (0.9, 1.1), 0.3, "tie"),  # CIFAR 1.001: 1 in the interval.
    (1.0, 1.2, (1.05, 1.4), 0.3, "2"),
    (1.0, 0.8, (0.6, 0.95), 0.3, "1"),
    (math.nan, 0.5, None, 0.3, "tie"),
    (1.0, math.nan, None, 0.3, "tie"),
    (1.0, math.inf, None, 0.3, "2"),
])
def test_winner_rule_with_tolerance_and_interval(r_test, r_sample, interval,
                                                 tolerance, winner):
  assert gam.winner_rule(r_test, r_sample, interval, tolerance) == winner


def test_the_paper_tolerance_admits_every_table2_row():
  table2 = [(0.79, 1.75), (0.95, 1.19), (1.28, 1.001), (1.29, 1.011),
            (1.00, 2.289), (0.95, 13.68), (0.99, 13.97), (0.99, 2.38)]
  assert all(gam.winner_rule(t, s) == "2" for t, s in table2)


def test_zero_errors_give_inf_and_nan_never_an_exception():
  assert gam.ratio(0.0, 0.0) != gam.ratio(0.0, 0.0)  # nan
  assert gam.ratio(0.2, 0.0) == math.inf
  result = gam.battle_from_logits(
      _logits(10, 10), _logits(10, 10), _logits(0, 10), _logits(0, 10),
      num_bootstrap=50)
  assert math.isnan(result.r_test) and math.isnan(result.r_sample)
  assert result.winner == "tie"


def test_intervals_cover_the_estimate_and_shrink_with_more_samples():
  small = gam.battle_from_logits(
      _logits(90, 100), _logits(90, 100), _logits(20, 100), _logits(40, 100),
      num_bootstrap=500, seed=1)
  large = gam.battle_from_logits(
      _logits(900, 1000), _logits(900, 1000), _logits(200, 1000),
      _logits(400, 1000), num_bootstrap=500, seed=1)
  for result in (small, large):
    low, high = result.r_sample_interval
    assert low < result.r_sample < high
    assert result.r_test == 1.0
  assert (large.r_sample_interval[1] - large.r_sample_interval[0] <
          small.r_sample_interval[1] - small.r_sample_interval[0])
  assert large.winner == "1"


def test_a_one_percent_difference_is_a_tie_with_intervals():
  # Like CIFAR GRAN1 vs GRAN3 (r_sample 1.001-1.011) at 1000 samples a side.
  result = gam.battle_from_logits(
      _logits(900, 1000), _logits(900, 1000), _logits(303, 1000),
      _logits(300, 1000), num_bootstrap=1000)
  assert result.r_sample == pytest.approx(1.01)
  assert result.winner_paper == "2"
  assert result.winner == "tie"
  assert result.winner_official == "2"


def test_fraction_called_real_has_a_binomial_interval():
  out = gam.fraction_called_real(_logits(10, 100))
  assert out["fraction_real"] == pytest.approx(0.1)
  low, high = out["interval"]
  assert 0.05 < low < 0.1 < high < 0.18


def _stub(name, level, image_shape=(2, 2, 1), with_d=True):
  """Samples of constant value `level`; D calls real what is above 0."""
  def generate(pairs):
    return np.full((len(pairs),) + image_shape, level, np.float32)

  def discriminate(images):
    return images.reshape(len(images), -1).mean(1)

  return gam.Player(name, generate, discriminate if with_d else None,
                    image_shape)


def test_battle_of_stub_players():
  test = np.full([30, 2, 2, 1], 0.5, np.float32)
  good, bad = _stub("good", 0.3), _stub("bad", -0.3)
  result = gam.battle(good, bad, test, num_samples=40, batch_size=16)
  # D_bad is fooled by every good sample; D_good by none of the bad ones.
  assert result.sample_error_1_on_2 == 0.0
  assert result.sample_error_2_on_1 == 1.0
  assert result.r_test != result.r_test  # 0/0: both D right on the test.
  assert result.winner == "tie"  # The validity check is undefined.
  matrix = gam.cross_matrix([good, bad], test, num_samples=8)
  assert matrix["sample_error"] == [[1.0, 0.0], [1.0, 0.0]]
  assert matrix["test_error"] == [0.0, 0.0]
  assert "| good vs bad |" in gam.markdown_table([result])


def test_a_player_is_sampled_once_per_seed_across_battles():
  test = np.full([6, 2, 2, 1], 0.5, np.float32)
  calls = []
  players = []
  for name, level in (("a", 0.3), ("b", -0.3), ("c", 0.1)):
    player = _stub(name, level)
    generate = player.generate
    players.append(gam.Player(
        name, lambda pairs, g=generate, n=name: calls.append(n) or g(pairs),
        player.discriminate, player.image_shape))
  first = [gam.battle(players[i], players[j], test, num_samples=8,
                      batch_size=8, num_bootstrap=0)
           for i, j in ((0, 1), (0, 2), (1, 2))]
  again = gam.battle(players[0], players[1], test, num_samples=8,
                     batch_size=8, num_bootstrap=0)
  # a: (seed, 1) only; b: (seed, 2) and (seed, 1); c: (seed, 2).
  assert sorted(calls) == ["a", "b", "b", "c"]
  assert (again.sample_error_1_on_2, again.sample_error_2_on_1) == (
      first[0].sample_error_1_on_2, first[0].sample_error_2_on_1)


def test_bad_battles_are_refused_with_a_message():
  test = np.zeros([4, 2, 2, 1], np.float32)
  with pytest.raises(ValueError, match="at least 2 models"):
    gam.check_battlers([_stub("a", 0.1)], test)
  with pytest.raises(ValueError, match="'src' has no discriminator"):
    gam.battle(_stub("a", 0.1), _stub("src", 0.1, with_d=False), test)
  with pytest.raises(ValueError, match="image shapes"):
    gam.battle(_stub("a", 0.1), _stub("b", 0.1, (4, 4, 1)), test)


def test_gran_players_battle_themselves_with_r_test_one():
  from tfgen.models import gran  # pylint: disable=g-import-not-at-top
  model = gran.GRAN(image_size=16, noise_dim=8, generator_width=0.125,
                    discriminator_width=0.125, num_canvas_steps=2, seed=2)
  test = np.random.default_rng(0).uniform(-1, 1, [20, 16, 16, 1]).astype(
      np.float32)
  at_2 = gam.player_of(model, "gran@2")
  at_3 = gam.player_of(model, "gran@3", num_canvas_steps=3)
  result = gam.battle(at_2, at_3, test, num_samples=20, batch_size=10,
                      num_bootstrap=20)
  assert result.r_test == 1.0 or math.isnan(result.r_test)
  assert result.num_samples_1 == result.num_samples_2 == 20


@pytest.mark.parametrize("family", ["gran", "lapgan"])
def test_a_conditional_discriminator_judges_by_its_most_real_class(family):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfgen.models import gran, lapgan  # pylint: disable=g-import-not-at-top
  if family == "gran":
    model = gran.GRAN(image_size=16, noise_dim=8, generator_width=0.125,
                      discriminator_width=0.125, num_canvas_steps=2, seed=2,
                      num_classes=3)
  else:
    model = lapgan.LAPGAN(level_sizes=(4, 8), noise_dim=8,
                          generator_width=0.125, discriminator_width=0.25,
                          num_classes=3, seed=2)
  size = model.final_image_size
  images = np.random.default_rng(0).uniform(-1, 1, [6, size, size, 1]
                                            ).astype(np.float32)
  per_class = np.stack([model.discriminator_logits(
      tf.constant(images), class_ids=tf.fill([6], label)).numpy()
                        for label in range(3)], axis=1)
  assert np.abs(per_class[:, 0] - per_class.max(axis=1)).max() > 0  # Differ.
  player = gam.player_of(model, family)
  np.testing.assert_allclose(player.discriminate(images),
                             per_class.max(axis=1), rtol=1e-5, atol=1e-5)
  assert player.generate(np.array([[1, 2], [3, 4]], np.int32)).shape == (
      2, size, size, 1)


def test_difference_validity_accepts_test_errors_of_one_and_zero():
  # 1 of 359 vs 0 of 359 test images called fake: r_test = inf (a tie by
  # the ratio rule), but the difference is not significant.
  args = (_logits(358, 359), _logits(359, 359), _logits(800, 1000),
          _logits(10, 1000))
  strict = gam.battle_from_logits(*args, num_bootstrap=500)
  assert strict.r_test == math.inf and strict.winner == "tie"
  assert strict.r_sample_interval[0] > 1
  loose = gam.battle_from_logits(*args, num_bootstrap=500,
                                 validity="ratio_or_difference")
  assert loose.test_difference_interval[0] <= 0 <= (
      loose.test_difference_interval[1])
  assert loose.winner == "2"
  with pytest.raises(ValueError, match="validity='x' is not one of"):
    gam.battle_from_logits(*args, validity="x")


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
