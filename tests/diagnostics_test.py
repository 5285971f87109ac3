"""tfgen.metrics.diagnostics: Y0/Y_T correlation, score table, gradient norms."""

import os
import sys

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

import support
from tfgen import data
from tfgen.metrics import diagnostics
from tfgen.vis import plots


tiny_model = support.tiny_multigrid


def digits(count=24):
  return data.arrays("digits", "train", 8, max_examples=count)[0]


@pytest.mark.parametrize("over", ["pixels", "chains"])
def test_correlation_of_identical_and_negated_images_is_one_and_minus_one(
    over):
  images = np.random.default_rng(0).uniform(-1, 1, (6, 4, 4, 2))
  assert diagnostics.pixel_correlation(images, images, over) == (
      pytest.approx(1.0))
  assert diagnostics.pixel_correlation(images, -images, over) == (
      pytest.approx(-1.0))
  # An affine map of each chain keeps a per-chain correlation of 1.
  if over == "pixels":
    assert diagnostics.pixel_correlation(images, 0.5 * images + 0.2,
                                         over) == pytest.approx(1.0)


def test_correlation_of_independent_images_is_near_zero():
  rng = np.random.default_rng(1)
  first, second = rng.normal(size=(2, 200, 8, 8, 1))
  for over in ("pixels", "chains"):
    assert abs(diagnostics.pixel_correlation(first, second, over)) < 0.05


def test_constant_starts_have_no_per_chain_correlation_but_one_across_chains():
  # One grey level per image: the up-sampled 1x1 start of a grey-scale model.
  levels = np.linspace(-0.8, 0.8, 10).reshape(10, 1, 1, 1)
  start = np.broadcast_to(levels, (10, 4, 4, 1))
  end = start + np.random.default_rng(2).normal(0, 0.05, start.shape)
  assert np.isnan(diagnostics.pixel_correlation(start, end, "pixels"))
  assert diagnostics.pixel_correlation(start, end, "chains") > 0.95


def test_correlation_rejects_bad_arguments():
  images = np.zeros((2, 4, 4, 1))
  with pytest.raises(ValueError, match="over='rows' must be one of"):
    diagnostics.pixel_correlation(images, images, "rows")
  with pytest.raises(ValueError, match="must both be"):
    diagnostics.pixel_correlation(images, images[:, :2], "pixels")


def test_chains_start_at_the_upsampled_previous_grid_and_zero_steps_stay():
  model = tiny_model()
  images = digits()
  # 3 steps on the 4x4 grid, none on the 8x8 grid.
  states = diagnostics.chain_states(model, images, seed=0, sampler=None,
                                    num_langevin_steps=(3, 0))
  assert sorted(states) == [4, 8]
  first4, last4 = states[4]
  means = images.mean(axis=(1, 2, 3))
  np.testing.assert_allclose(first4, np.broadcast_to(
      means.reshape(-1, 1, 1, 1), first4.shape), atol=1e-6)
  assert np.abs(last4 - first4).max() > 1e-3
  np.testing.assert_array_equal(states[8][0],
                                np.repeat(np.repeat(last4, 2, 1), 2, 2))
  np.testing.assert_array_equal(states[8][0], states[8][1])
  correlation = diagnostics.chain_correlation(
      model, images, seed=0, sampler=None, num_langevin_steps=(3, 0))
  assert np.isnan(correlation[4])  # Grey-scale 1x1 start: constant Y0.
  assert correlation[8] == pytest.approx(1.0)
  across = diagnostics.chain_correlation(
      model, images, seed=0, sampler=None, num_langevin_steps=(3, 0),
      over="chains")
  assert -1.0 <= across[4] < 1.0 and across[8] == pytest.approx(1.0)


@pytest.mark.parametrize("sampler", ["langevin", "hmc"])
def test_sampling_steps_lower_the_correlation_with_the_start(sampler):
  model = tiny_model(step_size=0.5)
  correlation = diagnostics.chain_correlation(
      model, digits(), seed=(1, 2), sampler=sampler, num_langevin_steps=10)
  # Below the start's 1; a chain that forgets its start entirely scores ~0
  # from either side (-0.0009 for HMC in one full-suite run).
  assert -0.1 < correlation[8] < 0.95
  again = diagnostics.chain_correlation(
      model, digits(), seed=(1, 2), sampler=sampler, num_langevin_steps=10)
  assert again[8] == correlation[8] and np.isnan(again[4])


def test_an_unknown_sampler_is_refused():
  with pytest.raises(ValueError, match="nuts"):
    diagnostics.chain_correlation(tiny_model(), digits(4), seed=0,
                                  sampler="nuts")


def set_positive_linear_energy(model):
  """Makes every f_g = a * sum(pixels) + b with a > 0 (no kink is crossed)."""
  for net in model.energy_nets:
    for layer in net.layers:
      if layer.weights:
        kernel, bias = layer.weights
        kernel.assign(np.full(kernel.shape, 0.01, np.float32))
        bias.assign(np.full(bias.shape, 10.0, np.float32))


def test_score_table_orders_brighter_images_higher_on_a_linear_energy():
  model = tiny_model()
  set_positive_linear_energy(model)
  shape = (5, 8, 8, 1)
  sets = {"dark": -np.ones(shape), "grey": np.zeros(shape),
          "bright": np.ones(shape), "digits": digits(7)}
  table = diagnostics.score_table(model, sets)
  assert sorted(table) == sorted(sets)
  for grid in (4, 8):
    assert (table["dark"][grid][0] < table["grey"][grid][0]
            < table["bright"][grid][0])
    assert table["bright"][grid][1] == pytest.approx(0.0, abs=1e-3)
    scores = model.score(tf.image.resize(sets["digits"], [grid, grid],
                                         method="area"),
                         model.model_grids.index(grid)).numpy()
    assert table["digits"][grid][0] == pytest.approx(scores.mean(), rel=1e-4)
    assert table["digits"][grid][1] == pytest.approx(scores.std(), rel=1e-3)


def test_score_table_rejects_images_of_another_size():
  with pytest.raises(ValueError, match=r"image_sets\['small'\] has shape"):
    diagnostics.score_table(tiny_model(), {"small": np.zeros((2, 4, 4, 1))})


def test_score_table_of_a_conditional_model_scores_each_images_class():
  model = tiny_model(num_classes=3)
  images = digits(6)
  labels = np.array([0, 1, 2, 2, 1, 0])
  with pytest.raises(ValueError, match=r"pass labels\['real'\]"):
    diagnostics.score_table(model, {"real": images})
  table = diagnostics.score_table(model, {"real": images},
                                  labels={"real": labels})
  outputs = model.energy_nets[1](images).numpy()
  expected = outputs[np.arange(6), labels]
  assert table["real"][8][0] == pytest.approx(expected.mean(), rel=1e-4)


def test_negative_images_keep_each_images_pixels_or_are_uniform_noise():
  images = digits(6)
  negatives = diagnostics.negative_images(images, seed=0)
  permuted, noise = negatives["pixel_permuted"], negatives["uniform_noise"]
  assert permuted.shape == noise.shape == images.shape
  for original, shuffled in zip(images, permuted):
    np.testing.assert_array_equal(np.sort(original.ravel()),
                                  np.sort(shuffled.ravel()))
  assert np.abs(permuted - images).max() > 0.5
  assert noise.min() >= -1 and noise.max() <= 1 and noise.std() > 0.5
  again = diagnostics.negative_images(images, seed=0)
  np.testing.assert_array_equal(again["pixel_permuted"], permuted)


def write_gradient_events(folder, values):
  writer = tf.summary.create_file_writer(folder)
  with writer.as_default():
    for step, by_grid in values:
      for grid, value in by_grid.items():
        tf.summary.scalar(f"grad_l1/grid{grid}", value, step=step)
      tf.summary.scalar("loss/grid4", 0.5, step=step)
  writer.close()


def test_gradient_norm_history_reads_every_file_and_newer_values_win(
    tmp_path):
  folder = str(tmp_path / "summaries")
  write_gradient_events(folder, [(50, {4: 1.0, 16: 10.0}),
                                 (100, {4: 2.0, 16: 20.0})])
  # A resumed run (new event file, later wall time) rewrites step 100.
  import time  # pylint: disable=g-import-not-at-top
  time.sleep(1.1)  # Event file names carry the time in seconds.
  write_gradient_events(folder, [(100, {4: 3.0, 16: 30.0}),
                                 (150, {4: 4.0, 16: 40.0})])
  history = diagnostics.gradient_norm_history(str(tmp_path))
  assert history == {4: [(50, 1.0), (100, 3.0), (150, 4.0)],
                     16: [(50, 10.0), (100, 30.0), (150, 40.0)]}
  path = plots.plot_gradient_norms(history, str(tmp_path / "g.png"))
  picture = np.asarray(Image.open(path).convert("RGB"))
  assert picture.shape == (400, 640, 3)
  # Each panel draws its curve in its own colour.
  for colour in plots.COLOURS[:2]:
    assert np.any(np.all(picture == colour, axis=-1))


def test_gradient_norm_history_names_a_workdir_without_summaries(tmp_path):
  with pytest.raises(ValueError, match="no TensorBoard event files"):
    diagnostics.gradient_norm_history(str(tmp_path))
  os.makedirs(tmp_path / "summaries")
  write_gradient_events(str(tmp_path / "summaries"), [])
  tf.summary.create_file_writer(str(tmp_path / "summaries")).close()
  writer = tf.summary.create_file_writer(str(tmp_path / "summaries"))
  with writer.as_default():
    tf.summary.scalar("loss/grid4", 1.0, step=1)
  writer.close()
  with pytest.raises(ValueError, match="no 'grad_l1/grid<size>' scalars"):
    diagnostics.gradient_norm_history(str(tmp_path))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
