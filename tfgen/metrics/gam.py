"""GAM, the generative adversarial metric (Im et al. 2016, §4, eqs. 10-11).

Two trained GANs M1 = (G1, D1), M2 = (G2, D2) swap opponents: each
discriminator judges the other generator's samples and the test split.
With "real" = logit > 0 (the official `errors`, p > 0.5):

    ε_test_k   = fraction of test images D_k calls fake         (k = 1, 2)
    ε_1_on_2   = fraction of G2's samples D1 calls real
    ε_2_on_1   = fraction of G1's samples D2 calls real
    r_test     = ε_test_1 / ε_test_2                               (eq. 10)
    r_sample   = ε_1_on_2 / ε_2_on_1

r_sample < 1: G1 fooled D2 more often than G2 fooled D1, so M1 wins; the
test ratio checks that neither discriminator is the better one only by
over-fitting. Eq. 11 names a winner where r_test ≃ 1 and gives no
tolerance; this module makes both parts explicit (`winner_rule`):

* **a winner only where |r_test - 1| <= test_ratio_tolerance** (default
  0.3: the paper's Table 2 declares a winner for every r_test in
  [0.79, 1.29], so 0.3 is the smallest round tolerance that reproduces
  its validity calls), **and r_sample's bootstrap interval excludes 1**;
  otherwise a tie. The paper's CIFAR GRAN1 vs GRAN3 "win" (r_sample 1.001)
  is a tie under this rule.
* Percentile bootstrap intervals (default 1000 resamples, 95%): the test
  images are resampled jointly for both discriminators (one test set,
  paired), each sample set independently.

`validity='ratio_or_difference'` (not the default) also accepts a battle
whose test errors do not differ significantly (the bootstrap interval of
ε_test_1 - ε_test_2 contains 0): with a few hundred test images and good
discriminators the test errors are counts like 1 and 0, and r_test = 1/0 is
inf although neither discriminator over-fits measurably more.

Also reported: `winner_paper` (eq. 11 on the point estimates, with the same
tolerance, no interval) and `winner_official` (the official battle.py:
accuracy ratio (1 - ε_1_on_2) / (1 - ε_2_on_1) > 1 -> M1, never a tie).
Ratios x/0 are inf and 0/0 nan, never an exception; a nan ratio is a tie.

Everything below `battle_from_logits` is pure NumPy on logits; `battle`
and `cross_matrix` draw samples from models exposing `sample_from_seeds`
and `discriminator_logits` (the family contract) in single-source batches
of a fixed size, because a discriminator with batch statistics (the
paper's) judges a batch, not an image.

A class-conditional discriminator D(x, y) judges an image by its most
real class, max_y D(x, y) (`player_of`), on the test split and on every
generator's samples alike: no source needs labels, so conditional and
unconditional models battle on the same terms (an image is called real if
D takes it for a real digit of some class).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Sequence

import numpy as np

DEFAULT_TOLERANCE = 0.3
DEFAULT_BOOTSTRAP = 1000
DEFAULT_CONFIDENCE = 0.95
VALIDITY_RULES = ("ratio", "ratio_or_difference")


def ratio(numerator: float, denominator: float) -> float:
  """numerator / denominator with x/0 = inf (x > 0) and 0/0 = nan."""
  if denominator == 0:
    return math.nan if numerator == 0 else math.inf
  return numerator / denominator


def called_real(logits) -> np.ndarray:
  """bool [N]: the discriminator calls the image real (logit > 0)."""
  return np.asarray(logits, np.float64).reshape(-1) > 0


def winner_rule(r_test: float, r_sample: float,
                r_sample_interval: Optional[tuple[float, float]] = None,
                test_ratio_tolerance: float = DEFAULT_TOLERANCE,
                test_difference_interval: Optional[tuple[float, float]] = None,
                ) -> str:
  """'1', '2' or 'tie' (see the module docstring).

  Without an interval the point estimate decides (eq. 11 with the
  tolerance); with one, a winner needs the whole interval on one side of 1.
  `test_difference_interval` (validity='ratio_or_difference'): the battle is
  also valid when this interval of ε_test_1 - ε_test_2 contains 0.
  """
  if not test_ratio_tolerance >= 0:
    raise ValueError(f"test_ratio_tolerance={test_ratio_tolerance} must be "
                     ">= 0, e.g. 0.3.")
  if math.isnan(r_sample):
    return "tie"
  valid = not math.isnan(r_test) and abs(r_test - 1.0) <= test_ratio_tolerance
  if test_difference_interval is not None:
    low, high = test_difference_interval
    valid = valid or (low <= 0.0 <= high)
  if not valid:
    return "tie"
  low, high = (r_sample, r_sample) if r_sample_interval is None else (
      r_sample_interval)
  if high < 1.0:
    return "1"
  if low > 1.0:
    return "2"
  return "tie"


def _percentile_interval(values: np.ndarray, confidence: float):
  """(low, high) percentile interval ignoring nan; nan if none finite."""
  values = values[~np.isnan(values)]
  if not values.size:
    return (math.nan, math.nan)
  tail = 100.0 * (1.0 - confidence) / 2.0
  # No interpolation: an inf resample (x / 0) stays inf instead of nan.
  low, high = np.percentile(values, [tail, 100.0 - tail],
                            method="inverted_cdf")
  return (float(low), float(high))


def _ratios(numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
  with np.errstate(divide="ignore", invalid="ignore"):
    return np.where(denominators == 0,
                    np.where(numerators == 0, np.nan, np.inf),
                    numerators / np.where(denominators == 0, 1, denominators))


@dataclasses.dataclass(frozen=True)
class GamResult:
  """One battle of M1 and M2 (all rates are fractions in [0, 1])."""
  name_1: str
  name_2: str
  test_error_1: float          # ε(D1(x_test)): test images D1 calls fake.
  test_error_2: float
  sample_error_1_on_2: float   # ε(D1(G2(z))): G2's samples D1 calls real.
  sample_error_2_on_1: float
  num_test: int
  num_samples_1: int           # Samples of G1 (judged by D2).
  num_samples_2: int
  r_test: float
  r_sample: float
  r_test_interval: tuple[float, float]
  r_sample_interval: tuple[float, float]
  test_difference_interval: tuple[float, float]  # of ε_test_1 - ε_test_2.
  validity: str                # 'ratio' or 'ratio_or_difference'.
  confidence: float
  num_bootstrap: int
  test_ratio_tolerance: float
  winner: str                  # '1', '2' or 'tie' (the rule above).
  winner_paper: str            # eq. 11 on point estimates (+ tolerance).
  winner_official: str         # battle.py: accuracy ratio, never a tie.
  sample_ratio_accuracy: float
  test_ratio_accuracy: float
  batch_size: Optional[int] = None

  @property
  def winner_name(self) -> str:
    return {"1": self.name_1, "2": self.name_2}.get(self.winner, "tie")

  def to_dict(self) -> dict:
    values = dataclasses.asdict(self)
    values["winner_name"] = self.winner_name
    return values


def battle_from_logits(test_logits_1, test_logits_2, logits_1_on_2,
                       logits_2_on_1, name_1: str = "1", name_2: str = "2",
                       test_ratio_tolerance: float = DEFAULT_TOLERANCE,
                       num_bootstrap: int = DEFAULT_BOOTSTRAP,
                       confidence: float = DEFAULT_CONFIDENCE, seed: int = 0,
                       batch_size: Optional[int] = None,
                       validity: str = "ratio") -> GamResult:
  """A battle from the four sets of logits (> 0 = real).

  Args:
    test_logits_1, test_logits_2: D1's and D2's logits on the same test
      images, in the same order ([N_test]).
    logits_1_on_2: D1's logits on G2's samples; logits_2_on_1: D2's on G1's.
    test_ratio_tolerance: |r_test - 1| above it is a tie.
    num_bootstrap: resamples of the intervals (0 = no interval; then the
      winner rule uses the point estimate).
    confidence: of the intervals, in (0, 1).
    seed: of the bootstrap's NumPy generator.
    validity: 'ratio' (the paper's check: |r_test - 1| <= tolerance) or
      'ratio_or_difference' (also valid when the interval of
      ε_test_1 - ε_test_2 contains 0: with test errors of a few images in
      a few hundred, r_test is a ratio of tiny counts, e.g. 1/0 = inf).
  """
  if validity not in VALIDITY_RULES:
    raise ValueError(f"validity={validity!r} is not one of "
                     f"{list(VALIDITY_RULES)}.")
  test_wrong_1 = ~called_real(test_logits_1)
  test_wrong_2 = ~called_real(test_logits_2)
  if test_wrong_1.shape != test_wrong_2.shape or not test_wrong_1.size:
    raise ValueError(
        f"test logits of D1 ({test_wrong_1.size}) and D2 "
        f"({test_wrong_2.size}) must be non-empty and of the same test "
        "images.")
  fooled_1 = called_real(logits_1_on_2)   # D1 fooled by G2.
  fooled_2 = called_real(logits_2_on_1)   # D2 fooled by G1.
  if not fooled_1.size or not fooled_2.size:
    raise ValueError("each discriminator needs at least one sample of the "
                     "other generator.")
  if not 0 < confidence < 1:
    raise ValueError(f"confidence={confidence} must be in (0, 1), e.g. "
                     "0.95.")
  if isinstance(num_bootstrap, bool) or num_bootstrap < 0:
    raise ValueError(f"num_bootstrap={num_bootstrap!r} must be >= 0.")
  e_test_1, e_test_2 = float(test_wrong_1.mean()), float(test_wrong_2.mean())
  e_12, e_21 = float(fooled_1.mean()), float(fooled_2.mean())
  r_test, r_sample = ratio(e_test_1, e_test_2), ratio(e_12, e_21)
  nan_pair = (math.nan, math.nan)
  test_interval = sample_interval = difference_interval = nan_pair
  if num_bootstrap:
    rng = np.random.default_rng(seed)
    n_test = test_wrong_1.size
    rows = rng.integers(0, n_test, size=(num_bootstrap, n_test))
    boot_test = _ratios(test_wrong_1[rows].mean(1), test_wrong_2[rows].mean(1))
    boot_12 = fooled_1[rng.integers(0, fooled_1.size,
                                    (num_bootstrap, fooled_1.size))].mean(1)
    boot_21 = fooled_2[rng.integers(0, fooled_2.size,
                                    (num_bootstrap, fooled_2.size))].mean(1)
    test_interval = _percentile_interval(boot_test, confidence)
    difference_interval = _percentile_interval(
        test_wrong_1[rows].mean(1) - test_wrong_2[rows].mean(1), confidence)
    sample_interval = _percentile_interval(_ratios(boot_12, boot_21),
                                           confidence)
  winner = winner_rule(
      r_test, r_sample, sample_interval if num_bootstrap else None,
      test_ratio_tolerance,
      difference_interval if (num_bootstrap and
                              validity == "ratio_or_difference") else None)
  sample_accuracy = ratio(1.0 - e_12, 1.0 - e_21)
  return GamResult(
      name_1=name_1, name_2=name_2, test_error_1=e_test_1,
      test_error_2=e_test_2, sample_error_1_on_2=e_12,
      sample_error_2_on_1=e_21, num_test=int(test_wrong_1.size),
      num_samples_1=int(fooled_2.size), num_samples_2=int(fooled_1.size),
      r_test=r_test, r_sample=r_sample, r_test_interval=test_interval,
      r_sample_interval=sample_interval,
      test_difference_interval=difference_interval, validity=validity,
      confidence=confidence,
      num_bootstrap=int(num_bootstrap),
      test_ratio_tolerance=test_ratio_tolerance, winner=winner,
      winner_paper=winner_rule(r_test, r_sample, None, test_ratio_tolerance),
      winner_official="1" if sample_accuracy > 1 else "2",
      sample_ratio_accuracy=sample_accuracy,
      test_ratio_accuracy=ratio(1.0 - e_test_1, 1.0 - e_test_2),
      batch_size=batch_size)


def fraction_called_real(logits, confidence: float = DEFAULT_CONFIDENCE
                         ) -> dict:
  """Table 3's quantity: the fraction of images a D calls real, with a
  Wilson score interval (binomial; the images are independent)."""
  real = called_real(logits)
  n = real.size
  if not n:
    raise ValueError("fraction_called_real needs at least one logit.")
  p = float(real.mean())
  z = _normal_quantile(0.5 + confidence / 2.0)
  centre = (p + z * z / (2 * n)) / (1 + z * z / n)
  half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
  return {"fraction_real": p, "count": n,
          "interval": (max(0.0, centre - half), min(1.0, centre + half)),
          "confidence": confidence}


def _normal_quantile(q: float) -> float:
  """Φ^-1(q) by bisection on math.erf (no SciPy needed)."""
  low, high = -10.0, 10.0
  for _ in range(100):
    mid = 0.5 * (low + high)
    if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < q:
      low = mid
    else:
      high = mid
  return 0.5 * (low + high)


# ---- models ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Player:
  """A battler: seeds -> images, and images -> logits.

  generate: int32 [B, 2] seed pairs -> images [B, S, S, C] in [-1, 1].
  discriminate: images [B, S, S, C] in [-1, 1] -> logits [B] (> 0 = real),
    or None for a sample source without a discriminator.
  """
  name: str
  generate: Callable
  discriminate: Optional[Callable]
  image_shape: tuple[int, ...] = ()
  # Samples already drawn, by (seed, count, batch): a player in many battles
  # is sampled once per seed (`player_samples`), not once per battle.
  drawn: dict = dataclasses.field(default_factory=dict, compare=False,
                                  repr=False)


def judge_logits(model) -> Callable:
  """The compiled images [B, S, S, C] in [-1, 1] -> logits [B] (> 0 =
  real) by which a model's discriminator judges in GAM: its
  `discriminator_logits`, or for a class-conditional discriminator the
  most real class's, max over y of D(x, y)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not model.has_conditional_discriminator:
    return tf.function(model.discriminator_logits)

  def most_real_class_logits(images):
    rows = tf.ones(tf.shape(images)[:1], tf.int32)
    return tf.reduce_max(tf.stack(
        [model.discriminator_logits(images, class_ids=rows * label)
         for label in range(model.num_classes)], axis=1), axis=1)
  return tf.function(most_real_class_logits)


def player_of(model, name: str, has_discriminator: bool = True,
              **sample_kwargs) -> Player:
  """A Player of a model of the family contract (e.g. a GRAN at T').

  has_discriminator: whether the model's `discriminator_logits` may judge
  (its family's 'battle' capability in `tfgen.families`; apps.battle asks
  the registry). `sample_kwargs` go to `sample_from_seeds` (e.g.
  num_canvas_steps=7). A class-conditional model's generator draws a class
  per seed (its `sample_from_seeds` default) and its discriminator's logit
  is max over classes y of D(x, y) (see the module docstring).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  sample = tf.function(lambda pairs: model.sample_from_seeds(
      pairs, **sample_kwargs)[-1])
  discriminate = None
  if has_discriminator:
    judge = judge_logits(model)

    def discriminate(images):
      return judge(tf.constant(images, tf.float32)).numpy()

  shape = (model.final_image_size, model.final_image_size,
           int(model.channels))
  return Player(name, lambda pairs: sample(pairs).numpy(), discriminate,
                shape)


def _batched(fn: Callable, array: np.ndarray, batch_size: int) -> np.ndarray:
  """fn over consecutive batches of `batch_size` rows (the last may be
  smaller), concatenated."""
  return np.concatenate([np.asarray(fn(array[i:i + batch_size])).reshape(-1)
                         for i in range(0, len(array), batch_size)])


def player_samples(player: Player, num_samples: int, seed,
                   batch_size: int = 100) -> np.ndarray:
  """[N, S, S, C] samples of a player from `example_seeds(seed, N)`.

  Drawn once per (seed, N, batch_size) and player: the same arrays again on
  a later call (a sample depends on its seed only, so nothing changes).
  """
  from tfgen.mcmc import noise  # pylint: disable=g-import-not-at-top
  key = (repr(np.asarray(seed).tolist()), int(num_samples), int(batch_size))
  if key not in player.drawn:
    pairs = noise.example_seeds(seed, int(num_samples)).numpy()
    player.drawn[key] = np.concatenate([
        np.asarray(player.generate(pairs[i:i + batch_size]))
        for i in range(0, len(pairs), batch_size)])
  return player.drawn[key]


def check_battlers(players: Sequence[Player], test_images: np.ndarray,
                   min_players: int = 2) -> None:
  """Raises ValueError for fewer than `min_players`, a player without a
  discriminator, or image shapes that differ."""
  if len(players) < min_players:
    raise ValueError(
        f"a battle needs at least {min_players} models with a "
        f"discriminator, got {len(players)}; pass more workdirs, e.g. "
        "--workdirs=A,B.")
  for player in players:
    if player.discriminate is None:
      raise ValueError(
          f"model {player.name!r} has no discriminator to battle with; use "
          "it as a sample source (--against) instead.")
  shapes = {tuple(p.image_shape) for p in players if p.image_shape}
  test_shape = tuple(np.shape(test_images)[1:])
  if len(shapes) > 1 or (shapes and test_shape not in shapes):
    raise ValueError(
        f"the battlers' image shapes {sorted(shapes)} and the test images' "
        f"{test_shape} differ; battle models trained on the same dataset "
        "and image size.")


def battle(player_1: Player, player_2: Player, test_images: np.ndarray,
           num_samples: int = 1000, seed: int = 0, batch_size: int = 100,
           **options) -> GamResult:
  """Battles two players on `test_images` ([N, S, S, C] in [-1, 1]).

  G_k's samples come from `example_seeds((seed, k), num_samples)`, so a
  model battling itself sees two different sample sets (r_test = 1
  exactly, r_sample ≈ 1). `options` go to `battle_from_logits`.
  """
  check_battlers([player_1, player_2], test_images)
  samples_1 = player_samples(player_1, num_samples, (seed, 1), batch_size)
  samples_2 = player_samples(player_2, num_samples, (seed, 2), batch_size)
  return battle_from_logits(
      _batched(player_1.discriminate, test_images, batch_size),
      _batched(player_2.discriminate, test_images, batch_size),
      _batched(player_1.discriminate, samples_2, batch_size),
      _batched(player_2.discriminate, samples_1, batch_size),
      name_1=player_1.name, name_2=player_2.name, seed=seed,
      batch_size=batch_size, **options)


def cross_matrix(players: Sequence[Player], test_images: np.ndarray,
                 num_samples: int = 1000, seed: int = 0,
                 batch_size: int = 100) -> dict:
  """Every D on every G and on the test split.

  Returns {"names", "sample_error": [i][j] = fraction of G_j's samples D_i
  calls real (diagonal: its own generator), "test_error": [i] = fraction
  of test images D_i calls fake}.
  """
  check_battlers(players, test_images, min_players=1)
  samples = [player_samples(p, num_samples, (seed, k + 1), batch_size)
             for k, p in enumerate(players)]
  matrix = [[float(called_real(_batched(d.discriminate, s, batch_size)).mean())
             for s in samples] for d in players]
  test = [float((~called_real(_batched(d.discriminate, test_images,
                                       batch_size))).mean()) for d in players]
  return {"names": [p.name for p in players], "sample_error": matrix,
          "test_error": test, "num_samples": int(num_samples),
          "num_test": int(len(test_images))}


def markdown_table(results: Sequence[GamResult]) -> str:
  """The Table 2 rows of battles, intervals included."""
  lines = ["| battle | ε test D1 / D2 | ε D1(G2) / D2(G1) | r_test [CI] | "
           "r_sample [CI] | winner | paper rule | battle.py rule |",
           "|---|---|---|---|---|---|---|---|"]

  def interval(values):
    return f"[{values[0]:.3g}, {values[1]:.3g}]"

  for r in results:
    names = {"1": r.name_1, "2": r.name_2, "tie": "tie"}
    lines.append(
        f"| {r.name_1} vs {r.name_2} | {r.test_error_1:.3f} / "
        f"{r.test_error_2:.3f} | {r.sample_error_1_on_2:.3f} / "
        f"{r.sample_error_2_on_1:.3f} | {r.r_test:.3g} "
        f"{interval(r.r_test_interval)} | {r.r_sample:.3g} "
        f"{interval(r.r_sample_interval)} | {names[r.winner]} | "
        f"{names[r.winner_paper]} | {names[r.winner_official]} |")
  return "\n".join(lines)
