"""Tests of PPGN on tiny shapes: stages, pause heuristic, sampling, configs."""

import sys
import dataclasses
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.models import ppgn
from tfgen.models import ppgn_condition_spec as spec_lib
from tfgen.models import ppgn_config
from tfgen.nets import ppgn as nets

TINY = dict(image_size=8, channels=1, num_classes=10, encoder_steps=2,
            stats_steps=2, generator_steps=2, dae_steps=2, encoder_width=0.25,
            generator_width=0.25, discriminator_width=0.25, code_dim=16,
            num_mcmc_steps=4)


def tiny_model(**overrides):
  return ppgn.PPGN(**dict(TINY, **overrides))


def batch(seed=0):
  rng = np.random.default_rng(seed)
  images = rng.uniform(-1, 1, [8, 8, 8, 1]).astype(np.float32)
  return tf.constant(images), tf.constant(np.arange(8) % 10, tf.int32)


def weights_of(model):
  return {group: [v.numpy().copy() for v in model.group_variables(group)]
          for group in ("encoder", "condition", "generator", "discriminator",
                        "code_dae", "image_dae")}


def changed(before, after):
  return {g for g in before
          if any(not np.array_equal(a, b) for a, b in zip(before[g],
                                                          after[g]))}


@pytest.fixture(scope="module")
def trained():
  """A tiny model ready to sample: code statistics set, weights as built.

  Sampling needs no trained weights to show its contracts (seeds, batch
  independence, priors, conditions); the stages are tested below.
  """
  model = tiny_model()
  for key, value in (("h_mean", 0.5), ("h1_mean", 0.5), ("x_abs_mean", 0.5),
                     ("code_max", 2.0)):
    model.statistics[key].assign(value)
  model.stats_batches.assign(1.0)
  return model


@pytest.mark.slow  # Tracing the five-stage step takes ~30-60 s here.
def test_compiled_step_equals_eager_step():
  eager, compiled = tiny_model(), tiny_model()
  compiled.set_weights(eager.get_weights())
  step = tf.function(compiled.update_step)
  for s in (0, 4):
    a = eager.update_step(batch(s), tf.constant(s, tf.int64))
    b = step(batch(s), tf.constant(s, tf.int64))
    for key in ("stage", "e_loss", "g_loss", "d_loss"):
      np.testing.assert_allclose(float(a[key]), float(b[key]), rtol=1e-4)


def test_each_stage_changes_only_its_weights():
  model = tiny_model()
  step = model.update_step
  expected = [{"encoder", "condition"}, {"encoder", "condition"}, set(),
              set(), {"generator", "discriminator"},
              {"generator", "discriminator"}, {"code_dae", "image_dae"},
              {"code_dae", "image_dae"}, set()]
  for s, groups in enumerate(expected):
    before = weights_of(model)
    stats_before = float(model.statistics["code_max"])
    metrics = step(batch(s), tf.constant(s, tf.int64))
    assert changed(before, weights_of(model)) == groups, s
    assert float(metrics["stage"]) == min(s // 2, 4)
    if s in (2, 3):
      assert float(model.statistics["code_max"]) > 0
    elif s > 3:
      assert float(model.statistics["code_max"]) == stats_before


def test_statistics_are_the_running_mean_and_max():
  model = tiny_model()
  step = model.update_step
  for s in range(2):
    step(batch(s), tf.constant(s, tf.int64))
  codes = [model.encode(batch(s)[0]).numpy() for s in (2, 3)]
  for s in (2, 3):
    step(batch(s), tf.constant(s, tf.int64))
  np.testing.assert_allclose(float(model.statistics["h_mean"]),
                             np.mean([c.mean() for c in codes]), rtol=1e-5)
  np.testing.assert_allclose(float(model.statistics["code_max"]),
                             max(c.max() for c in codes), rtol=1e-6)
  assert model.is_adapted


@pytest.mark.parametrize("low,high,paused", [(100.0, 1000.0, "d"),
                                             (1e-4, 1e-3, "g")])
def test_pause_heuristic(low, high, paused):
  model = tiny_model(gan_pause_low=low, gan_pause_high=high)
  step = model.update_step
  for s in range(4):
    step(batch(s), tf.constant(s, tf.int64))
  before = weights_of(model)
  metrics = step(batch(4), tf.constant(4, tf.int64))
  moved = changed(before, weights_of(model))
  if paused == "d":
    assert float(metrics["d_paused"]) == 1.0 and moved == {"generator"}
  else:
    assert float(metrics["g_paused"]) == 1.0 and moved == {"discriminator"}


def test_same_seed_same_samples_and_batch_independence(trained):
  first = trained.sample(3, seed=5, class_id=3)
  again = trained.sample(3, seed=5, class_id=3)
  np.testing.assert_array_equal(first[-1].numpy(), again[-1].numpy())
  alone = trained.sample(1, seed=5, first_index=1, class_id=3)
  np.testing.assert_allclose(alone[-1].numpy()[0], first[-1].numpy()[1],
                             atol=1e-6)
  assert len(first) == 4 and first[-1].shape == (3, 8, 8, 1)
  assert float(tf.reduce_max(tf.abs(first[-1]))) <= 1.0


@pytest.mark.parametrize("prior", ["none", "encoder", "code_dae",
                                   "image_dae"])
def test_every_prior_samples(trained, prior):
  images = trained.sample(2, seed=1, class_id=[1, 2], prior=prior,
                          conditions=("parity:odd@0.5",))
  assert images[-1].shape == (2, 8, 8, 1)
  assert np.all(np.isfinite(images[-1].numpy()))


def test_noise_batch_independence(trained):
  sampler = {"sampler_noise": 0.5}
  both = trained.sample(2, seed=9, class_id=4, sampler=sampler)[-1].numpy()
  alone = trained.sample(1, seed=9, first_index=1, class_id=4,
                         sampler=sampler)[-1].numpy()
  np.testing.assert_allclose(alone[0], both[1], atol=1e-6)


@pytest.mark.parametrize("conditions", [
    ("class:0,1,2",), ("other_class:3",), ("loop:yes", "class:8@2"),
    ("unit:conv:3",), ("unit:dense:5",)])
def test_condition_kinds_sample(trained, conditions):
  images = trained.sample(2, seed=2, conditions=conditions)
  assert np.all(np.isfinite(images[-1].numpy()))
  probs = trained.condition_probability(images[-1], conditions=conditions)
  assert probs.shape == (2,)


def test_a_class_conditions_on_e_and_c_prime_together_by_default(trained):
  images = trained.sample(2, seed=3, class_id=[4, 7])[-1]
  labels = tf.constant([4, 7])
  p_e, p_c = (trained.condition_probability(images, labels, class_condition=c)
              for c in ("encoder", "condition_net"))
  both = trained.condition_probability(images, labels)
  assert trained.settings.class_condition == "both"
  np.testing.assert_allclose(both, p_e * p_c, rtol=1e-5)
  # Each choice is its own chain: the same seeds end elsewhere.
  finals = [trained.sample(2, seed=3, class_id=[4, 7],
                           sampler={"class_condition": c})[-1].numpy()
            for c in ("both", "encoder", "condition_net")]
  np.testing.assert_array_equal(finals[0], images.numpy())
  assert not np.allclose(finals[0], finals[1])
  assert not np.allclose(finals[1], finals[2])


def test_inpainting_keeps_observed_pixels(trained):
  images, _ = batch(1)
  masks = np.zeros([2, 8, 8, 1], np.float32)
  masks[:, :, 4:] = 1.0
  filled = trained.inpaint_from_seeds(
      images[:2], masks, tf.constant([0, 1], tf.int64),
      labels=tf.constant([1, 2]), sampler={"context_weight": 1e-3})[-1]
  np.testing.assert_allclose(filled.numpy()[:, :, :4],
                             images.numpy()[:2, :, :4], atol=1e-6)


def test_untrained_prior_is_refused():
  model = tiny_model(dae_steps=0)
  with pytest.raises(ValueError, match="code_dae.*--dae_steps"):
    model.sample(1, seed=0, class_id=1, prior="code_dae")


def test_config_round_trip(trained, tmp_path):
  clone = ppgn.PPGN.from_config(trained.get_config())
  assert clone.get_config() == trained.get_config()
  path = str(tmp_path / "ppgn.keras")
  trained.save(path)
  loaded = keras.saving.load_model(path)
  np.testing.assert_allclose(float(loaded.statistics["code_max"]),
                             float(trained.statistics["code_max"]))
  codes = tf.ones([1, 16])
  np.testing.assert_allclose(loaded.generator(codes).numpy(),
                             trained.generator(codes).numpy(), atol=1e-6)


def test_net_presets():
  spec16 = nets.ppgn_net_spec(16)
  assert spec16.code_dim == 256 and nets.h1_shape(16, spec16) == (4, 4, 128)
  spec32 = nets.ppgn_net_spec(32)
  assert spec32.code_dim == 512 and nets.h1_shape(32, spec32) == (4, 4, 256)
  generator = nets.build_generator(32, 3, spec32)
  assert generator.output_shape == (None, 32, 32, 3)
  assert not any("batch_norm" in layer.name for layer in generator.layers)
  with pytest.raises(ValueError, match="power of two"):
    nets.ppgn_net_spec(12)


# ---- the condition syntax ------------------------------------------------
def test_parse_conditions():
  specs = spec_lib.parse_conditions(
      ["class:7", "parity:odd@0.5", "class:0,1,2", "loop:yes",
       "unit:conv:3"], 10, {"conv": 8, "dense": 16})
  assert specs[0] == spec_lib.ConditionSpec("class", (7,), 1.0, "class:7")
  assert specs[1].values == (1,) and specs[1].weight == 0.5
  assert specs[2].values == (0, 1, 2)
  assert specs[3].values == (1,) and specs[4].values == ("conv", 3)


@pytest.mark.parametrize("text,match", [
    ("colour:red", "unknown condition kind 'colour'"),
    ("class:12", "class 12 is out of range.*\\[0, 10\\)"),
    ("class:seven", "'seven' is not an integer"),
    ("parity:odd@heavy", "weight 'heavy' is not a number"),
    ("parity:odd@-1", "must be a finite number > 0"),
    ("parity:prime", "'prime' is not one of"),
    ("unit:conv:99", "unit 99 is out of range"),
    ("unit:fc:1", "unit layer 'fc'"),
    ("caption:a seven", "no captioner"),
    ("seven", "KIND:VALUE"),
])
def test_condition_errors(text, match):
  with pytest.raises(ValueError, match=match):
    spec_lib.parse_condition(text, 10, {"conv": 8, "dense": 16})


def test_caption_vocabulary_names_the_unknown_word():
  with pytest.raises(ValueError, match="word 'zebra'"):
    spec_lib.parse_condition("caption:a zebra", 10, None, ["a", "seven"])


# ---- config validation ---------------------------------------------------
DATA = types.SimpleNamespace(image_size=16, channels=1, num_classes=10,
                             dataset="digits")
TRAIN = types.SimpleNamespace(batch_size=64, learning_rate=2e-4, beta_1=0.5,
                              num_steps=10_000, on_divergence="stop",
                              divergence_backoff="learning_rate")


@pytest.mark.parametrize("changes,match", [
    ({"variant": "ppgn_z"}, "variant='ppgn_z'"),
    ({"sampler_noise": -1.0}, "sampler_noise=-1.0 must be a number >= 0"),
    ({"prior": "code_dae", "dae_steps": 0}, "--dae_steps"),
    ({"prior": "magic"}, "prior='magic'"),
    ({"stats_steps": 0}, "stats_steps=0"),
    ({"gan_pause_low": 20.0}, "0 < low < high"),
    ({"condition_gradient": "exact"}, "condition_gradient='exact'"),
    ({"class_condition": "svm"}, "class_condition='svm'"),
    ({"condition_net": False}, "--class_condition=encoder"),
])
def test_config_validation_messages(changes, match):
  config = dataclasses.replace(ppgn_config.PpgnConfig(), **changes)
  with pytest.raises(ValueError, match=match):
    config.validate(DATA, TRAIN)


def test_config_needs_labels_and_power_of_two():
  config = ppgn_config.PpgnConfig()
  with pytest.raises(ValueError, match="no labels"):
    config.validate(types.SimpleNamespace(**dict(vars(DATA), num_classes=0,
                                                 dataset="celeb_a")), TRAIN)
  with pytest.raises(ValueError, match="power of two"):
    config.validate(types.SimpleNamespace(**dict(vars(DATA), image_size=28)),
                    TRAIN)
  assert config.validate(DATA, TRAIN) is config


def test_a_run_may_stop_inside_a_stage():
  # num_steps below the stages' total is not an error: training stops in a
  # stage and resumes from there with a larger --num_steps.
  config = dataclasses.replace(ppgn_config.PpgnConfig(),
                               generator_steps=20_000)
  assert config.validate(DATA, TRAIN) is config


def test_every_field_has_help():
  for field in dataclasses.fields(ppgn_config.PpgnConfig):
    assert field.metadata.get("help"), field.name


# ---- serving -----------------------------------------------------------------
@pytest.mark.slow  # Traces three samplers, each with its batch-1 branch.
def test_signatures_are_per_instance_and_checked(trained):
  from tfgen.serving import ppgn_signatures  # pylint: disable=g-import-not-at-top
  from tfgen.serving import signature_spec  # pylint: disable=g-import-not-at-top
  signatures = {s.name: s for s in ppgn_signatures.ppgn_signatures(
      trained, num_steps=3, max_steps=10)}
  assert set(signatures) == {"serving_default", "sample_steps", "inpaint"}
  serve = tf.function(signature_spec.serving_fn(
      signatures["sample_steps"], max_batch=8))
  seeds = tf.constant([4, 5], tf.int64)
  classes = tf.constant([1, 2], tf.int64)
  both = serve(seeds, classes, tf.constant([3, 3], tf.int64))["images"]
  one = serve(seeds[1:], classes[1:], tf.constant([3], tf.int64))["images"]
  # Batch 1 vs 2 may differ by float round-off (oneDNN), as in the
  # conformance suite's check (atol 1e-5).
  np.testing.assert_allclose(one.numpy()[0], both.numpy()[1], atol=1e-6)
  default = tf.function(signature_spec.serving_fn(
      signatures["serving_default"], max_batch=8))
  np.testing.assert_array_equal(default(seeds, classes)["images"].numpy(),
                                both.numpy())
  with pytest.raises(tf.errors.InvalidArgumentError, match="class_id"):
    default(seeds, tf.constant([1, 12], tf.int64))
  with pytest.raises(tf.errors.InvalidArgumentError, match="num_steps"):
    serve(seeds, classes, tf.constant([3, 50], tf.int64))
  inpaint = signatures["inpaint"]
  example = {k: tf.constant(v) for k, v in inpaint.example.items()}
  filled = tf.function(signature_spec.serving_fn(inpaint, 8))(
      *[example[spec.name] for spec in inpaint.inputs])["images"].numpy()
  np.testing.assert_allclose(filled[:, :, :4], 0.5, atol=1e-6)


def test_export_refuses_a_model_without_statistics():
  from export import archive  # pylint: disable=g-import-not-at-top
  model = tiny_model()
  assert model.needs_adapt
  with pytest.raises(ValueError, match="never trained or adapted"):
    archive.build_archive(model, 8)
  model.adapt(batch()[0])
  assert not model.needs_adapt and model.is_adapted

if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
