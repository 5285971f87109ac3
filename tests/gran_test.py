"""Tests for GRAN: nets, recurrence, sampling, training step, config, export.

Tiny shapes: 16x16 digits16 nets at 1/8 width (8 filters), noise 8, batch
8, one or two steps.
"""

import sys
import dataclasses
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.core import seeds
from tfgen.models import gran
from tfgen.models import gran_config
from tfgen.models import gran_sampling
from tfgen.nets import gran as gran_nets
from tfgen.serving import gran_signatures
from tfgen.serving import signature_spec

TINY = dict(image_size=16, channels=1, noise_dim=8, generator_width=0.125,
            discriminator_width=0.125, seed=1)


def _model(**overrides):
  return gran.GRAN(**dict(TINY, **overrides))


def _images(batch=8, seed=0):
  return tf.random.stateless_uniform([batch, 16, 16, 1], [seed, 1], -1, 1)


def _trained(model, steps=1):
  for _ in range(steps):
    model.train_step((_images(), tf.zeros([8], tf.int32)))
  return model


# ---- nets ------------------------------------------------------------------------
@pytest.mark.parametrize("preset,size,channels,width,nz", [
    ("digits16", 16, 1, 1.0, 60), ("mnist28", 28, 1, 0.25, 60),
    ("cifar32", 32, 3, 1 / 32, 100), ("lsun64", 64, 3, 1 / 32, 100),
    ("auto", 8, 1, 1.0, 60), ("generic", 128, 3, 1 / 8, 60)])
def test_every_preset_draws_a_canvas_update_of_the_image_shape(
    preset, size, channels, width, nz):
  spec = gran_nets.gran_net_spec(size, channels, preset,
                                 generator_width=width,
                                 discriminator_width=width)
  assert spec.noise_dim == nz
  nets = gran_nets.build_gran_nets(spec, num_steps=2)
  h_z = nets.project_z(tf.zeros([2, nz]))
  delta = nets.decoder([h_z, tf.zeros([2, nz])])
  assert delta.shape == (2, size, size, channels)
  assert nets.encoder(delta).shape == (2, nz)
  assert nets.discriminator(delta).shape == (2, 1)


def _trainable_count(layers):
  return sum(int(np.prod(v.shape)) for layer in layers
             for v in layer.trainable_variables)


def test_mnist28_preset_has_the_paper_table5_sizes():
  spec = gran_nets.gran_net_spec(28, 1, "mnist28")
  assert (spec.start, spec.decoder_filters, spec.noise_dim) == (7, (80, 40),
                                                                60)
  nets = gran_nets.build_gran_nets(spec, num_steps=3)
  generator = _trainable_count(nets[:3])
  discriminator = _trainable_count([nets.discriminator])
  assert abs(generator - 0.88e6) < 0.01e6, generator
  assert abs(discriminator - 0.28e6) < 0.01e6, discriminator


def test_dcgan_option_uses_the_single_level_gan_discriminator():
  spec = gran_nets.gran_net_spec(16, 1, discriminator="dcgan",
                                 discriminator_width=0.125)
  d = gran_nets.build_discriminator(spec, 0)
  assert any(layer.name == "d_logit" for layer in d.layers)
  assert not any(isinstance(layer, gran_nets.BatchStatNormalization)
                 for layer in d.layers)


def test_preset_of_another_image_size_is_refused():
  with pytest.raises(ValueError, match="gran_preset='auto' has no preset "
                     "for image_size=20"):
    gran_nets.gran_net_spec(20, 1)
  with pytest.raises(ValueError, match="image_size=16"):
    gran_nets.gran_net_spec(16, 1, "mnist28")
  with pytest.raises(ValueError, match="image_size=24"):
    gran_nets.gran_net_spec(24, 1, "generic")


def test_an_8x8_model_trains_a_step_for_the_conformance_suite():
  model = gran.GRAN(image_size=8, noise_dim=8, generator_width=0.25,
                    discriminator_width=0.25, num_canvas_steps=2)
  images = tf.random.stateless_uniform([4, 8, 8, 1], [0, 2], -1, 1)
  metrics = model.train_step(images)
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert model.sample(2)[-1].shape == (2, 8, 8, 1)


def test_conv_transpose_is_the_input_gradient_of_a_strided_conv():
  # Supp. eqs. 12-17: the decoder's transposed conv is the conv's gradient.
  kernel = tf.random.stateless_normal([5, 5, 2, 3], [1, 2])
  x = tf.random.stateless_normal([1, 8, 8, 3], [3, 4])
  transposed = tf.nn.conv2d_transpose(x, kernel, [1, 16, 16, 2], 2, "SAME")
  inputs = tf.zeros([1, 16, 16, 2])
  with tf.GradientTape() as tape:
    tape.watch(inputs)
    out = tf.nn.conv2d(inputs, kernel, 2, "SAME")
  gradient = tape.gradient(out, inputs, output_gradients=x)
  np.testing.assert_allclose(transposed.numpy(), gradient.numpy(), atol=1e-5)


def test_step_batch_norm_trains_on_batch_moments_and_infers_per_step():
  norm = gran_nets.StepBatchNormalization(2, momentum=0.0)
  x = tf.random.stateless_normal([16, 3], [0, 1]) * 3.0 + 2.0
  y = norm(x, step=1, training=True)
  np.testing.assert_allclose(tf.reduce_mean(y, 0).numpy(), 0, atol=1e-5)
  np.testing.assert_allclose(tf.math.reduce_std(y, 0).numpy(), 1, atol=1e-3)
  moving = norm.moving_mean.numpy()
  np.testing.assert_allclose(moving[0], 0.0)  # Row 0 untouched.
  np.testing.assert_allclose(moving[1], tf.reduce_mean(x, 0).numpy(),
                             atol=1e-5)
  # Inference: row 1's statistics, so one row alone gives its batch value;
  # steps past the last row reuse it.
  np.testing.assert_allclose(norm(x[:1], step=1).numpy(), y[:1].numpy(),
                             atol=1e-3)
  np.testing.assert_allclose(norm(x[:1], step=5).numpy(), y[:1].numpy(),
                             atol=1e-3)


# ---- recurrence ----------------------------------------------------------------
def test_canvases_are_partial_sums_and_the_encoder_reads_each_update():
  model = _model(num_canvas_steps=3)
  z = tf.random.stateless_normal([4, 8], [5, 6])
  canvases, deltas = model.generate(z, None, 3, training=False)
  assert len(canvases) == len(deltas) == 3
  for t in range(3):
    np.testing.assert_allclose(
        canvases[t].numpy(), np.tanh(0.5 * np.sum(deltas[:t + 1], axis=0)),
        atol=1e-5)
  np.testing.assert_allclose(  # = 2 sigmoid(sum) - 1.
      canvases[-1].numpy(),
      2 * tf.sigmoid(tf.add_n(deltas)).numpy() - 1, atol=1e-5)
  h_z = model.project_z(z, step=0)
  np.testing.assert_allclose(  # h_c,1 = 0.
      deltas[0].numpy(),
      model.decoder([h_z, tf.zeros([4, 8])], step=0).numpy(), atol=1e-5)
  h_c = model.encoder(deltas[0], step=0)  # g sees ΔC_1, not the canvas.
  np.testing.assert_allclose(deltas[1].numpy(),
                             model.decoder([h_z, h_c], step=1).numpy(),
                             atol=1e-5)


def test_per_step_noise_draws_a_new_z_per_step_and_extends_with_t():
  pairs = tf.constant([[0, 1], [0, 2]], tf.int32)
  three = gran_sampling.per_example_noise(pairs, 8, "per_step", 3).numpy()
  five = gran_sampling.per_example_noise(pairs, 8, "per_step", 5).numpy()
  assert three.shape == (2, 3, 8)
  np.testing.assert_array_equal(five[:, :3], three)
  assert np.abs(three[:, 0] - three[:, 1]).min() > 0
  shared = gran_sampling.per_example_noise(pairs, 8, "shared", 3).numpy()
  assert shared.shape == (2, 8)


# ---- sampling ------------------------------------------------------------------
@pytest.mark.parametrize("noise_mode", ["shared", "per_step"])
def test_longer_sampling_keeps_the_first_canvases(noise_mode):
  model = _trained(_model(num_canvas_steps=2, noise_mode=noise_mode))
  short = model.sample(3, seed=4)
  long = model.sample(3, seed=4, num_canvas_steps=4)
  assert len(short) == 2 and len(long) == 4
  for a, b in zip(short, long):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
  assert all(c.shape == (3, 16, 16, 1) for c in long)
  assert all(np.abs(c.numpy()).max() <= 1.0 for c in long)


def test_a_sample_depends_only_on_its_seed():
  model = _trained(_model(num_canvas_steps=2))
  seeds = tf.constant([7, 3, 9, 3], tf.int64)
  batch = model.sample_from_seeds(seeds)[-1].numpy()
  alone = model.sample_from_seeds(seeds[1:2])[-1].numpy()
  np.testing.assert_allclose(batch[1], alone[0], atol=1e-6)
  np.testing.assert_allclose(batch[1], batch[3], atol=1e-6)
  assert np.abs(batch[0] - batch[1]).max() > 1e-4
  # sample(n, first_index=k) continues sample(k).
  whole = model.sample(4, seed=2)[-1].numpy()
  rest = model.sample(2, seed=2, first_index=2)[-1].numpy()
  np.testing.assert_allclose(whole[2:], rest, atol=1e-6)


def test_bad_canvas_steps_name_the_setting():
  model = _model()
  for steps in (0, -1, 1.5):
    with pytest.raises(ValueError, match="num_canvas_steps=.* must be an "
                       "integer >= 1"):
      model.sample(2, num_canvas_steps=steps)


def test_conditional_samples_follow_the_class():
  model = _trained(_model(num_classes=3, num_canvas_steps=2))
  seeds = tf.constant([5, 5], tf.int64)
  images = model.sample_from_seeds(seeds, class_ids=tf.constant([0, 2]))[-1]
  assert np.abs((images[0] - images[1]).numpy()).max() > 1e-5
  logits = model.discriminator_logits(images, class_ids=[0, 2])
  assert logits.shape == (2,)
  with pytest.raises(ValueError, match="class_id=5 must be integers in "
                     r"\[0, 3\)"):
    model.sample(2, class_id=5)


# ---- training ------------------------------------------------------------------
def _values(variables):
  return [v.numpy().copy() for v in variables]


@pytest.mark.parametrize("noise_mode", ["shared", "per_step"])
def test_train_step_updates_g_and_d_and_reports_finite_metrics(noise_mode):
  model = _model(num_canvas_steps=2, noise_mode=noise_mode)
  g_before = _values(model.generator_variables)
  d_before = _values(model.discriminator.trainable_variables)
  metrics = model.train_step((_images(), tf.zeros([8], tf.int32)))
  assert set(metrics) == set(model.metric_info())
  assert {"delta_rms/step1", "delta_rms/step2"} <= set(metrics)
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert model.metric_info()["delta_rms/step2"] == (
      "delta_rms", "canvas_step", 2, False)
  for before, after in ((g_before, model.generator_variables),
                        (d_before, model.discriminator.trainable_variables)):
    assert all(np.abs(b - a.numpy()).max() > 0 for b, a in zip(before, after))
  assert int(model.step_counter.numpy()) == 1


def test_the_mode_seeking_term_changes_the_generator_update():
  images = (_images(), tf.zeros([8], tf.int32))
  updates = {}
  for weight in (0.0, 1.0):
    with seeds.initial_weights(3):
      model = _model(num_canvas_steps=2, diversity_weight=weight)
    metrics = model.train_step(images)
    assert ("g_diversity" in metrics) == bool(weight)
    assert set(metrics) == set(model.metric_info())
    updates[weight] = _values(model.generator_variables)
  assert float(metrics["g_diversity"]) > 0
  gap = max(np.abs(a - b).max() for a, b in zip(updates[0.0], updates[1.0]))
  assert gap > 0


def test_a_negative_diversity_weight_names_the_flag():
  with pytest.raises(ValueError, match=r"diversity_weight=-1.0 must be a "
                     r"finite number >= 0"):
    _model(diversity_weight=-1.0)


def test_the_step_seeds_the_training_noise():
  with seeds.initial_weights(5):
    first = _model()
  with seeds.initial_weights(5):
    second = _model()
  images = _images()
  for model in (first, second):
    model.train_step(images)
  np.testing.assert_array_equal(
      first.discriminator.trainable_variables[0].numpy(),
      second.discriminator.trainable_variables[0].numpy())


def test_d_steps_per_g_step_and_gran1_without_encoder_gradients():
  model = _model(num_canvas_steps=1, d_steps_per_g_step=2)
  encoder_before = _values(model.encoder.trainable_variables)
  model.train_step(_images())
  assert int(model.d_optimizer.iterations.numpy()) == 2
  assert int(model.g_optimizer.iterations.numpy()) == 1
  for before, after in zip(encoder_before, model.encoder.trainable_variables):
    np.testing.assert_array_equal(before, after.numpy())


def test_learning_rate_scale_keeps_the_d_to_g_ratio():
  model = _model(generator_learning_rate=2e-4,
                 discriminator_learning_rate=1e-4)
  model.set_learning_rate_scale(0.5)
  assert float(model.g_optimizer.learning_rate) == pytest.approx(1e-4)
  assert float(model.d_optimizer.learning_rate) == pytest.approx(5e-5)
  assert model.backoff_settings()["discriminator_learning_rate"] == (
      pytest.approx(5e-5))
  decayed = _model(generator_learning_rate=2e-4, learning_rate_decay_steps=1)
  decayed._decay_learning_rates(tf.constant(3, tf.int64))
  assert float(decayed.g_optimizer.learning_rate) == pytest.approx(5e-5)


def test_config_round_trips_through_keras_saving(tmp_path):
  model = _trained(_model(num_canvas_steps=2, noise_mode="per_step"))
  config = model.get_config()
  assert gran.GRAN.from_config(config).get_config() == config
  path = str(tmp_path / "gran.keras")
  model.save(path)
  loaded = keras.saving.load_model(path)
  assert isinstance(loaded, gran.GRAN)
  np.testing.assert_allclose(loaded.sample(3, seed=1)[-1].numpy(),
                             model.sample(3, seed=1)[-1].numpy(), atol=1e-6)


# ---- config --------------------------------------------------------------------
_DATA = types.SimpleNamespace(image_size=16, channels=1, num_classes=10,
                              dataset="digits")
_TRAIN = types.SimpleNamespace(batch_size=64, learning_rate=2e-4, beta_1=0.5,
                               on_divergence="stop",
                               divergence_backoff="learning_rate")


@pytest.mark.parametrize("changes,message", [
    (dict(num_canvas_steps=0), "num_canvas_steps=0 must be an integer >= 1"),
    (dict(noise_mode="each"), "noise_mode='each' is not one of"),
    (dict(gran_preset="mnist28"), "gran_preset='mnist28' builds 28x28 images "
     "but image_size=16; pass --image_size=28"),
    (dict(discriminator="wgan"), "discriminator='wgan' is not one of"),
    (dict(generator_beta_1=1.0), "generator_beta_1=1.0 must be in"),
    (dict(d_steps_per_g_step=0), "d_steps_per_g_step=0"),
    (dict(generator_width=0.0), "generator_width=0.0 must be > 0"),
])
def test_config_validation_names_setting_value_and_fix(changes, message):
  config = dataclasses.replace(gran_config.GranConfig(), **changes)
  with pytest.raises(ValueError, match=message):
    config.validate(_DATA, _TRAIN, 1)


def test_config_validation_refuses_labels_and_backoff_it_cannot_use():
  gran_config.GranConfig().validate(_DATA, _TRAIN, 1)
  unlabelled = types.SimpleNamespace(image_size=16, channels=1,
                                     num_classes=0, dataset="folder:x")
  with pytest.raises(ValueError, match="condition_on_label=True needs a "
                     "labelled dataset"):
    gran_config.GranConfig(condition_on_label=True).validate(unlabelled,
                                                             _TRAIN, 1)
  restore = dataclasses.replace(_TRAIN, on_divergence="restore",
                                divergence_backoff="step_size") if (
      dataclasses.is_dataclass(_TRAIN)) else types.SimpleNamespace(
          **dict(vars(_TRAIN), on_divergence="restore",
                 divergence_backoff="step_size"))
  with pytest.raises(ValueError, match="--divergence_backoff=learning_rate"):
    gran_config.GranConfig().validate(_DATA, restore, 1)
  with pytest.raises(ValueError, match="gran_preset='auto' has no preset"):
    gran_config.GranConfig().validate(
        types.SimpleNamespace(**dict(vars(_DATA), image_size=20)), _TRAIN, 1)


def test_every_config_field_has_help_text():
  for field in dataclasses.fields(gran_config.GranConfig):
    assert field.metadata.get("help"), field.name


def test_build_model_resolves_rates_from_the_train_section():
  config = types.SimpleNamespace(
      family="gran", data=_DATA, train=types.SimpleNamespace(
          **dict(vars(_TRAIN), seed=3, ema_momentum=0.0)),
      model=gran_config.GranConfig(noise_dim=8, generator_width=0.125,
                                   discriminator_width=0.125,
                                   discriminator_learning_rate=1e-4,
                                   generator_beta_1=0.0))
  model = gran.build_model(config)
  assert float(model.g_optimizer.learning_rate) == pytest.approx(2e-4)
  assert float(model.d_optimizer.learning_rate) == pytest.approx(1e-4)
  assert float(model.g_optimizer.beta_1) == 0.0
  assert float(model.d_optimizer.beta_1) == 0.5
  again = gran.build_model(config)
  np.testing.assert_array_equal(  # Initial weights follow train.seed.
      model.decoder.trainable_variables[0].numpy(),
      again.decoder.trainable_variables[0].numpy())


# ---- serving ---------------------------------------------------------------------
def test_signatures_serve_the_sample_and_each_canvas():
  model = _trained(_model(num_canvas_steps=2))
  signatures = {s.name: s for s in gran_signatures.gran_signatures(
      model, num_steps=3)}
  assert set(signatures) == {"serving_default", "sample_steps", "canvas"}
  seeds = tf.constant([4, 4, 4, 8], tf.int64)
  expected = model.sample_from_seeds(seeds, num_canvas_steps=3)
  serve = tf.function(signature_spec.serving_fn(signatures["serving_default"],
                                                max_batch=8))
  images = serve(seeds)["images"].numpy()
  np.testing.assert_allclose(images, (expected[-1].numpy() + 1) / 2,
                             atol=1e-6)
  canvas = tf.function(signature_spec.serving_fn(signatures["canvas"], 8))
  steps = tf.constant([1, 2, 3, 1], tf.int64)
  got = canvas(seeds, steps)["images"].numpy()
  for row, step in enumerate([1, 2, 3, 1]):
    np.testing.assert_allclose(got[row],
                               (expected[step - 1][row].numpy() + 1) / 2,
                               atol=1e-6)
  with pytest.raises(tf.errors.InvalidArgumentError, match="canvas_step"):
    canvas(seeds, tf.constant([0, 1, 2, 4], tf.int64))


# ---- canvas panel --------------------------------------------------------------
def test_canvas_panel_puts_samples_in_rows_and_steps_in_columns(tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from tfgen.vis import canvas  # pylint: disable=g-import-not-at-top
  steps = [np.full([2, 4, 4, 1], t / 3.0, np.float32) for t in range(3)]
  panel = canvas.canvas_panel(steps, padding=1)
  assert panel.shape == (2 * 5 - 1, 3 * 5 - 1, 1)
  np.testing.assert_allclose(panel[0, 5 * 2], 2 / 3.0)  # Row 0, column t=3.
  png = canvas.save_canvas_panel(steps, str(tmp_path / "p.png"))
  gif = canvas.save_drawing_gif(steps, str(tmp_path / "d.gif"))
  assert Image.open(png).size[0] >= 256
  assert Image.open(gif).n_frames == 3
  with pytest.raises(ValueError, match="canvases must be"):
    canvas.canvas_panel([])


def test_keras_fit_trains_with_the_models_own_step_counter():
  model = _model(num_canvas_steps=2)
  model.compile()
  dataset = tf.data.Dataset.from_tensors(
      (_images(), tf.zeros([8], tf.int32))).repeat()
  history = model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
  assert np.isfinite(history.history["g_loss"][-1])
  assert int(model.step_counter.numpy()) == 2
  assert int(model.g_optimizer.iterations.numpy()) == 2


def test_a_training_checkpoint_restores_every_variable(tmp_path):
  # Regression: the decoder's and encoder's layers held only in lists were
  # not in TF checkpoints (a Trainer run restored random encoder convs).
  first = _trained(_model(generator_width=0.25))
  path = tf.train.Checkpoint(model=first).write(str(tmp_path / "ckpt"))
  second = _model(generator_width=0.25)
  tf.train.Checkpoint(model=second).read(path).expect_partial()
  assert len(first.weights) == len(second.weights)
  for a, b in zip(first.weights, second.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
