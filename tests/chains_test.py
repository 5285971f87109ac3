"""Chain diagnostics: ESS / R-hat (tfgen.metrics.chains), traced chains of
the MCMC families (trace_chains), their figures (tfgen.vis)."""

import sys

import numpy as np
from PIL import Image
import pytest

import support
from tfgen import families
from tfgen.mcmc import traces
from tfgen.metrics import chains
from tfgen.vis import canvas
from tfgen.vis import plots

SEED = 17


def test_ess_of_iid_gaussian_draws_is_about_the_number_of_draws():
  rng = np.random.default_rng(SEED)
  draws = rng.normal(size=(500, 4))
  # The estimate of 2000 draws spreads over 0.8-1.1 x 2000 across seeds.
  assert chains.effective_sample_size(draws) == pytest.approx(2000, rel=0.25)
  # Several quantities at once: one ESS each.
  ess = chains.effective_sample_size(rng.normal(size=(500, 4, 3)))
  assert ess.shape == (3,)
  np.testing.assert_allclose(ess, 2000, rtol=0.25)


def test_ess_of_autocorrelated_chains_follows_the_ar1_formula():
  rng = np.random.default_rng(SEED)
  rho, steps, count = 0.9, 2000, 4
  draws = np.zeros((steps, count))
  for t in range(1, steps):
    draws[t] = rho * draws[t - 1] + rng.normal(size=count)
  expected = steps * count * (1 - rho) / (1 + rho)  # ~421
  assert chains.effective_sample_size(draws) == pytest.approx(expected,
                                                              rel=0.3)


def test_rhat_is_one_for_one_distribution_and_large_for_stuck_chains():
  rng = np.random.default_rng(SEED)
  mixed = rng.normal(size=(400, 6))
  assert chains.potential_scale_reduction(mixed) == pytest.approx(1.0,
                                                                  abs=0.02)
  stuck = 0.01 * rng.normal(size=(400, 6)) + np.arange(6.0)
  assert chains.potential_scale_reduction(stuck) > 10.0
  # Chains stuck in 6 places are worth about 6 draws.
  assert chains.effective_sample_size(stuck) == pytest.approx(6.0, rel=0.3)
  # Split R-hat also flags chains that all drift the same way.
  drifting = rng.normal(size=(400, 6)) + np.linspace(0, 20, 400)[:, None]
  assert chains.potential_scale_reduction(drifting) > 2.0
  assert chains.potential_scale_reduction(
      drifting, split_chains=False) == pytest.approx(1.0, abs=0.05)


def test_summarize_discards_warmup_and_marks_constant_traces():
  rng = np.random.default_rng(SEED)
  trace = rng.normal(size=(400, 3, 2))
  trace[:200] += 100.0  # A warm-up far away.
  trace[:, :, 1] = -1.0  # A pixel clipped in every chain.
  rows = chains.summarize(trace, num_warmup=200)
  assert len(rows) == 2
  assert rows[0]["rhat"] < 1.05 and not rows[0]["constant"]
  assert chains.summarize(trace, 0)[0]["rhat"] > 5.0
  assert rows[1]["constant"]
  assert np.isnan(rows[1]["ess"]) and np.isnan(rows[1]["rhat"])
  assert rows[1]["last_mean"] == -1.0 and rows[1]["last_std"] == 0.0
  one = chains.summarize(trace[:, :, 0], 200)
  assert one["rhat"] == pytest.approx(rows[0]["rhat"])
  assert one["last_mean"] == pytest.approx(trace[-1, :, 0].mean())


@pytest.mark.parametrize("samples, num_warmup, message", [
    (np.zeros((10, 1)), 0, r"num_chains >= 2"),
    (np.zeros((1, 4)), 0, r"num_steps >= 2"),
    (np.zeros(10), 0, r"must be \[num_steps, num_chains"),
    (np.full((10, 2), np.nan), 0, "NaN or inf"),
    (np.zeros((10, 2)), 7, r"num_warmup=7 must be an integer in \[0, 6\]"),
    (np.zeros((10, 2)), -1, r"num_warmup=-1"),
    (np.zeros((10, 2, 2, 2)), 0, r"takes \[T, B\] or \[T, B, K\]"),
])
def test_bad_traces_are_refused_naming_the_argument(samples, num_warmup,
                                                    message):
  with pytest.raises(ValueError, match=message):
    chains.summarize(samples, num_warmup)


def test_coordinates_are_fixed_distinct_and_start_at_the_centre():
  indices, names = traces.pixel_coordinates(16, 3, 5)
  assert names[0] == "pixel[8,8,0]" and indices[0] == (8 * 16 + 8) * 3
  assert len(set(indices)) == 5
  assert [n[-2] for n in names] == ["0", "1", "2", "0", "1"]  # Channels.
  every, _ = traces.pixel_coordinates(3, 2, 100)
  assert sorted(every) == list(range(18))  # Capped at all of them.
  assert traces.spread_coordinates(64, 4) == (
      [0, 21, 42, 63], ["code[0]", "code[21]", "code[42]", "code[63]"])
  assert traces.spread_coordinates(2, 4)[0] == [0, 1]
  with pytest.raises(ValueError, match="count=0"):
    traces.pixel_coordinates(4, 1, 0)


@pytest.fixture(scope="module")
def multigrid_model():
  model = support.tiny_multigrid()
  model.adapt(support.digits()[0])
  return model


def test_multigrid_chains_are_the_samplers_chains_traced(multigrid_model):
  model = multigrid_model
  stages = model.trace_chains(3, seed=5, num_steps=4, num_coordinates=2)
  assert [t.stage for t in stages] == ["grid4", "grid8"]
  final = stages[-1]
  assert final.log_prob.shape == (4, 3)
  assert final.coordinates.shape == (4, 3, 2)
  assert final.images.shape == (4, 3, 8, 8, 1)
  assert final.coordinate_names == ["pixel[4,4,0]", "pixel[4,2,0]"]
  assert final.accepted is None  # Langevin: no Metropolis test.
  # The last traced images are the sampler's (same seeds and steps).
  expected = model.sample_from_seeds(model.example_seeds(5, 3),
                                     num_langevin_steps=4)
  np.testing.assert_allclose(final.images[-1], expected[-1].numpy(),
                             atol=1e-6)
  # Grid 8 starts where grid 4 ended (up-sampled).
  np.testing.assert_array_equal(
      final.start_images, np.repeat(np.repeat(stages[0].images[-1], 2, 1),
                                    2, 2))
  # The traced log p and pixels are those of the traced images.
  np.testing.assert_allclose(
      final.log_prob[2], model.log_prob(final.images[2], 1).numpy(),
      rtol=1e-5, atol=1e-4)
  np.testing.assert_array_equal(final.coordinates[:, :, 0],
                                final.images[:, :, 4, 4, 0])


def test_multigrid_hmc_chains_record_their_acceptance(multigrid_model):
  stages = multigrid_model.trace_chains(2, seed=1, num_steps=3,
                                        sampler="hmc")
  for trace in stages:
    assert trace.accepted.shape == (3, 2) and trace.accepted.dtype == bool
    assert np.all(np.abs(trace.images) <= 1.0)  # Projected like Langevin.
  with pytest.raises(ValueError, match=r"sampler='nuts' must be one of"):
    multigrid_model.trace_chains(2, sampler="nuts")
  with pytest.raises(ValueError, match=r"num_chains=0 must be a positive"):
    multigrid_model.trace_chains(0)


def test_ppgn_chains_are_the_samplers_chains_traced():
  model = families.build_model(support.tiny_config(
      "ppgn", model=dict(captioner=False)))
  model.statistics["code_max"].assign(3.0)  # Untrained: let codes move.
  assert model.chain_samplers == ("mala_approx",)
  [trace] = model.trace_chains(3, seed=2, num_steps=5, num_coordinates=3,
                               class_id=4)
  assert trace.stage == "code"
  assert trace.coordinate_names == ["code[0]", "code[8]", "code[15]"]
  assert trace.log_prob.shape == (5, 3)
  assert trace.images.shape == (5, 3, 8, 8, 1)
  assert trace.start_images.shape == (3, 8, 8, 1)
  sampled = model.sample_from_seeds(
      model.example_seeds(2, 3), class_ids=4, num_steps=5,
      num_snapshots=2)[-1].numpy()  # Two run_chain segments, one trace.
  np.testing.assert_allclose(trace.images[-1], sampled, atol=1e-5)
  # log p is the class condition's log-probability of class 4 for the
  # traced images: E's plus C''s (class_condition='both', the default).
  assert model.settings.class_condition == "both"
  expected = 0.0
  for logits in (model.classify(trace.images[-1]).numpy(),
                 model.condition_net(trace.images[-1])[0].numpy()):
    expected += logits[:, 4] - np.log(np.exp(logits).sum(axis=1))
  np.testing.assert_allclose(trace.log_prob[-1], expected, atol=1e-4)
  with pytest.raises(ValueError, match=r"class_id=12 must be in \[0, 10\)"):
    model.trace_chains(2, class_id=12)


def test_every_chain_diagnostics_family_lists_its_kernels(multigrid_model):
  able = [f.name for f in families.FAMILIES.values()
          if f.has("chain_diagnostics")]
  assert able == ["multigrid", "ppgn"]
  assert multigrid_model.chain_samplers == ("langevin", "hmc")
  with pytest.raises(ValueError) as error:
    families.require_any("lapgan", ("chain_diagnostics", "canvas_steps"),
                         "`apps.evaluate chains`")
  message = str(error.value)
  assert "(family='lapgan'), which does not. Instead, a LAPGAN samples" in (
      message)
  assert ("Families that can: multigrid, ppgn (chain_diagnostics); gran "
          "(canvas_steps).") in message


def test_chain_frames_run_stage_after_stage_at_the_final_size():
  rng = np.random.default_rng(SEED)
  coarse = (rng.uniform(-1, 1, (2, 4, 4, 1)), rng.uniform(-1, 1,
                                                          (6, 2, 4, 4, 1)))
  fine = (rng.uniform(-1, 1, (2, 8, 8, 1)), rng.uniform(-1, 1,
                                                        (6, 2, 8, 8, 1)))
  frames = canvas.chain_frames([coarse, fine], num_frames=3)
  assert len(frames) == 1 + 2 * 3
  assert all(f.shape == (2, 8, 8, 1) for f in frames)
  assert all(0.0 <= f.min() and f.max() <= 1.0 for f in frames)
  np.testing.assert_allclose(frames[0][:, ::2, ::2], (coarse[0] + 1) / 2,
                             atol=1e-6)
  np.testing.assert_allclose(frames[3][:, 1::2, 1::2],
                             (coarse[1][-1] + 1) / 2, atol=1e-6)  # Grid 4's
  np.testing.assert_allclose(frames[-1], (fine[1][-1] + 1) / 2, atol=1e-6)
  # More frames than steps: each step once.
  assert len(canvas.chain_frames([fine], num_frames=10)) == 1 + 6
  with pytest.raises(ValueError, match="does not divide"):
    canvas.chain_frames([(np.zeros((1, 3, 3, 1)), np.zeros((2, 1, 3, 3, 1))),
                         fine], 1)


def test_trace_panels_draw_every_chain_and_the_warmup_marker(tmp_path):
  steps = np.arange(1, 21)
  panels = [plots.Panel("grid4", steps, np.sin(steps[None] * [[1], [2]]),
                        marker=10),
            plots.Panel("grid8", steps, np.cos(steps)[None])]
  path = plots.plot_panels(panels, str(tmp_path / "traces.png"))
  picture = np.asarray(Image.open(path).convert("RGB"))
  assert picture.shape == (400, 640, 3)
  for colour in plots.COLOURS[:2] + (plots.MARKER_COLOUR,):
    assert np.any(np.all(picture == colour, axis=-1))
  with pytest.raises(ValueError, match="nothing to plot"):
    plots.plot_panels([], str(tmp_path / "empty.png"))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
