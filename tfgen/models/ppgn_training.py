"""The staged training of `PPGN` (a mixin; see `tfgen.models.ppgn`).

Stages by step, in one run (`PpgnConfig.stage_ends`):

0. E (and the condition net C', and the captioner of template captions)
   on the labels (cross-entropy, shift augmentation);
1. code statistics under the frozen E: running means of h, h1 and |x|, and
   code_max = the largest h seen (replica-reduced MEAN / MAX);
2. G and D with E frozen: L_G = img_weight L_img + feature_weight L_h1
   (+ code_weight L_h with noise on x, h1, h for the Joint PPGN-h)
   + gan_weight L_GAN; the paper's balancing heuristic pauses D while
   r = loss_D / loss_G(GAN part) < gan_pause_low and G while r >
   gan_pause_high, from the replica-averaged losses (the same decision on
   every replica);
3. the h-DAE and the x-DAE (denoising, noise as settings);
then nothing (metrics only).

Only the active stage's losses and gradients are computed (one
`tf.switch_case` on the step), but every optimizer is applied at every step,
outside the switch: `tf.distribute` does not allow a synchronisation point
(gradient aggregation) inside control flow. An inactive (or paused)
optimizer gets zero gradients and a learning rate of 0, so its weights do
not move, and its step count is put back (Adam's first and second moments
still decay by beta_1, beta_2 on such a step).
"""

from __future__ import annotations

import tensorflow as tf

from tfgen.core import losses
from tfgen.core import seeds as seeds_lib
from tfgen.mcmc import noise
from tfgen.mcmc import runner
from tfgen.models import ppgn_captions

# Metrics every step returns (inactive stages report 0).
METRIC_KEYS = (
    "stage", "e_loss", "e_accuracy", "c_loss", "c_accuracy", "code_max",
    "h_mean", "g_loss", "img_loss", "h1_loss", "h_loss", "gan_g_loss",
    "d_loss", "d_accuracy", "d_paused", "g_paused", "loss_ratio",
    "code_dae_loss", "image_dae_loss", "caption_loss", "caption_accuracy")
STAT_KEYS = ("h_mean", "h1_mean", "x_abs_mean", "code_max")
GROUPS = ("encoder", "condition", "generator", "discriminator", "code_dae",
          "image_dae", "captioner")


def _all_reduce(op: str, value: tf.Tensor) -> tf.Tensor:
  """MEAN / MAX of `value` over replicas (identity with one replica)."""
  if noise.num_replicas() == 1:
    return value
  context = tf.distribute.get_replica_context()
  if op == "MAX":
    # ReduceOp has only SUM and MEAN: gather every replica's value.
    return tf.reduce_max(context.all_gather(value[None], axis=0))
  return context.all_reduce(op, value)


def _global_uniform(draw, shape, seed) -> tf.Tensor:
  """Uniforms in [0, 1): this replica's rows of one global-batch draw."""
  return tf.clip_by_value(
      0.5 * (1.0 + tf.math.erf(draw(shape, seed) / 2.0**0.5)), 0.0,
      1.0 - 1e-7)


def shift_images(images: tf.Tensor, max_shift: int,
                 seed: tf.Tensor) -> tf.Tensor:
  """Each image translated by up to `max_shift` pixels (background -1).

  The offsets are this replica's rows of one global-batch draw, so a
  mirrored step shifts every example as a single-device step does.
  """
  if not max_shift:
    return images
  size = images.shape[1]
  padded = tf.pad(images, [[0, 0], [max_shift] * 2, [max_shift] * 2, [0, 0]],
                  constant_values=-1.0)
  batch = tf.shape(images)[0]
  draw = noise.global_batch_noise(batch)
  offsets = tf.cast(tf.floor(_global_uniform(draw, tf.stack([batch, 2]),
                                             seed) * (2 * max_shift + 1)),
                    tf.int32)

  def crop(args):
    image, offset = args
    return tf.slice(image, [offset[0], offset[1], 0], [size, size, -1])

  return tf.map_fn(crop, (padded, offsets),
                   fn_output_signature=tf.TensorSpec(images.shape[1:],
                                                     tf.float32))


def _dropout(x: tf.Tensor, rate: float, seed: tf.Tensor) -> tf.Tensor:
  """Inverted dropout whose mask rows come from one global-batch draw."""
  if not rate:
    return x
  draw = noise.global_batch_noise(tf.shape(x)[0])
  keep = tf.cast(_global_uniform(draw, tf.shape(x), seed) >= rate, x.dtype)
  return x * keep / (1.0 - rate)


class PpgnTraining:
  """Mixin of `PPGN`: `update_step` and the stages."""

  # ---- the contract -------------------------------------------------------
  def update_step(self, batch, step):
    """One per-replica update at `step` (int64); the stage comes from step."""
    images, labels = self._unpack(batch)
    step = tf.cast(step, tf.int64)
    seed = runner.fold_in(
        seeds_lib.run_stream(self.seed, seeds_lib.PPGN_TRAINING), step)
    ends = self.settings.stage_ends
    stage = tf.reduce_sum(tf.cast(step >= tf.constant(ends, tf.int64),
                                  tf.int32))
    branches = [lambda: self._encoder_stage(images, labels, seed),
                lambda: self._stats_stage(images),
                lambda: self._generator_stage(images, seed),
                lambda: self._dae_stage(images, seed),
                self._idle_stage]
    metrics, stats, grads = tf.switch_case(stage, branches)
    metrics = dict(metrics)

    # Synchronisation points: outside the switch (see the module docstring).
    in_stats = tf.equal(stage, 1)
    first = tf.equal(step, ends[0])
    reduced = {k: _all_reduce("MAX" if k == "code_max" else "MEAN", v)
               for k, v in stats.items()}
    count = tf.cast(step - ends[0], tf.float32)
    for key in STAT_KEYS:
      variable = self.statistics[key]
      if key == "code_max":
        new = tf.where(first, reduced[key], tf.maximum(variable, reduced[key]))
      else:
        new = variable + (reduced[key] - variable) / (count + 1.0)
      variable.assign(tf.where(in_stats, new, variable))
    self.stats_batches.assign(tf.where(
        in_stats, count + 1.0, self.stats_batches))
    metrics["code_max"] = tf.identity(self.statistics["code_max"])
    metrics["h_mean"] = tf.identity(self.statistics["h_mean"])

    in_gan = tf.equal(stage, 2)
    d_loss = _all_reduce("MEAN", metrics["d_loss"])
    g_loss = _all_reduce("MEAN", metrics["gan_g_loss"])
    ratio = d_loss / tf.maximum(g_loss, 1e-12)
    d_paused = in_gan & (ratio < self.settings.gan_pause_low)
    g_paused = in_gan & (ratio > self.settings.gan_pause_high)
    metrics["loss_ratio"] = tf.where(in_gan, ratio, 0.0)
    metrics["d_paused"] = tf.cast(d_paused, tf.float32)
    metrics["g_paused"] = tf.cast(g_paused, tf.float32)
    active = {"encoder": tf.equal(stage, 0), "condition": tf.equal(stage, 0),
              "generator": in_gan & ~g_paused,
              "discriminator": in_gan & ~d_paused,
              "code_dae": tf.equal(stage, 3), "image_dae": tf.equal(stage, 3),
              "captioner": tf.equal(stage, 0)}
    for group in GROUPS:
      self._gated_apply(group, grads[group], active[group])
    metrics["stage"] = tf.cast(stage, tf.float32)
    return {key: metrics[key] for key in METRIC_KEYS}

  def _unpack(self, batch):
    if isinstance(batch, dict):
      images, labels = batch["images"], batch.get("labels")
    elif isinstance(batch, (tuple, list)):
      images, labels = batch[0], (batch[1] if len(batch) > 1 else None)
    else:
      images, labels = batch, None
    images = tf.convert_to_tensor(images, tf.float32)
    if labels is None:
      labels = tf.zeros(tf.shape(images)[:1], tf.int32)
    return images, tf.cast(labels, tf.int32)

  def _gated_apply(self, group: str, grads, active) -> None:
    """Applies `grads` with rate 0 unless `active`; restores the step count."""
    optimizer = self.optimizers[group]
    variables = self.group_variables(group)
    if not variables:
      return
    gate = tf.cast(active, tf.float32)
    optimizer.learning_rate = (self.base_learning_rates[group] *
                               self.learning_rate_scale * gate)
    iterations = tf.identity(optimizer.iterations)
    optimizer.apply_gradients(zip(grads, variables))
    optimizer.iterations.assign(iterations + tf.cast(active,
                                                     iterations.dtype))

  # ---- stages: each returns (metrics, stats, grads by group) ------------
  def _zeros(self, metrics=None, stats=None, grads=None):
    out_metrics = {k: tf.constant(0.0) for k in METRIC_KEYS}
    out_metrics.update(metrics or {})
    out_stats = {k: tf.constant(0.0) for k in STAT_KEYS}
    out_stats.update(stats or {})
    out_grads = {g: [tf.zeros_like(v) for v in self.group_variables(g)]
                 for g in GROUPS}
    for group, values in (grads or {}).items():
      out_grads[group] = [tf.zeros_like(v) if g is None else
                          tf.convert_to_tensor(g)
                          for g, v in zip(values, self.group_variables(group))]
    return ({k: tf.cast(v, tf.float32) for k, v in out_metrics.items()},
            {k: tf.cast(v, tf.float32) for k, v in out_stats.items()},
            out_grads)

  def _idle_stage(self):
    return self._zeros()

  def _encoder_stage(self, images, labels, seed):
    replicas = noise.num_replicas()
    shifted = shift_images(images, self.settings.encoder_max_shift,
                           runner.fold_in(seed, 0))
    metrics, grads = {}, {}
    variables = self.group_variables("encoder")
    with tf.GradientTape() as tape:
      # E3 with dropout drawn per global batch (Keras' Dropout layers draw
      # per replica, so a mirrored step would differ from one device).
      rate = self.settings.encoder_dropout
      code = self.encode(shifted, training=True)
      hidden = self.encoder_head.get_layer("fc7")(
          _dropout(code, rate, runner.fold_in(seed, 2)))
      logits = self.encoder_head.get_layer("fc8")(
          _dropout(hidden, rate, runner.fold_in(seed, 3)))
      e_loss = tf.reduce_mean(
          tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
      scaled = self.optimizers["encoder"].scale_loss(e_loss / replicas)
    grads["encoder"] = tape.gradient(scaled, variables)
    metrics["e_loss"] = e_loss
    metrics["e_accuracy"] = tf.reduce_mean(tf.cast(
        tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels),
        tf.float32))
    if self.condition_net is not None:
      shifted = shift_images(images, self.settings.encoder_max_shift,
                             runner.fold_in(seed, 1))
      targets = self.condition_targets(labels)
      variables = self.group_variables("condition")
      with tf.GradientTape() as tape:
        outputs = self.condition_net(shifted, training=True)
        terms = [tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(t, o))
                 for t, o in zip(targets, outputs[:3])]
        c_loss = tf.add_n(terms)
        scaled = self.optimizers["condition"].scale_loss(c_loss / replicas)
      grads["condition"] = tape.gradient(scaled, variables)
      metrics["c_loss"] = c_loss
      metrics["c_accuracy"] = tf.reduce_mean(tf.cast(tf.equal(
          tf.argmax(outputs[0], -1, output_type=tf.int32), labels),
                                                     tf.float32))
    if self.captioner is not None:
      metrics["caption_loss"], metrics["caption_accuracy"], grads[
          "captioner"] = self._captioner_update(images, labels, seed)
    return self._zeros(metrics, None, grads)

  def _captioner_update(self, images, labels, seed):
    """(loss, token accuracy, grads): one template caption per example."""
    shifted = shift_images(images, self.settings.encoder_max_shift,
                           runner.fold_in(seed, 4))
    draw = noise.global_batch_noise(tf.shape(images)[0])
    template = tf.cast(tf.floor(_global_uniform(
        draw, tf.shape(labels), runner.fold_in(seed, 5)) *
                                ppgn_captions.NUM_TEMPLATES), tf.int32)
    variables = self.group_variables("captioner")
    with tf.GradientTape() as tape:
      loss, accuracy = ppgn_captions.caption_loss(
          self.captioner, shifted, labels, template, self.num_classes)
      scaled = loss / noise.num_replicas()
    return loss, accuracy, tape.gradient(scaled, variables)

  def _stats_stage(self, images):
    h1 = self.encoder_features(images, training=False)
    h = self.encoder_code(h1, training=False)
    return self._zeros(None, {"h_mean": tf.reduce_mean(h),
                              "h1_mean": tf.reduce_mean(h1),
                              "x_abs_mean": tf.reduce_mean(tf.abs(images)),
                              "code_max": tf.reduce_max(h)})

  def _sigma(self, key: str, factor: float) -> tf.Tensor:
    return factor * self.statistics[key]

  def _generator_stage(self, images, seed):
    s = self.settings
    replicas = noise.num_replicas()
    local_batch = tf.shape(images)[0]
    draw = noise.global_batch_noise(local_batch)
    h1 = self.encoder_features(images, training=False)
    h = self.encoder_code(h1, training=False)
    joint = s.variant == "joint_ppgn_h"
    if joint:
      noisy_x = images + self._sigma("x_abs_mean", s.noise_x) * draw(
          tf.shape(images), runner.fold_in(seed, 10))
      noisy_h1 = self.encoder_features(noisy_x, training=False)
      noisy_h1 += self._sigma("h1_mean", s.noise_h1) * draw(
          tf.shape(noisy_h1), runner.fold_in(seed, 11))
      code_in = self.encoder_code(noisy_h1, training=False)
      code_in += self._sigma("h_mean", s.noise_h) * draw(
          tf.shape(code_in), runner.fold_in(seed, 12))
    else:
      code_in = h
    h1, h, code_in = (tf.stop_gradient(h1), tf.stop_gradient(h),
                      tf.stop_gradient(code_in))
    pair = losses.get(s.gan_loss)
    g_variables = self.group_variables("generator")
    with tf.GradientTape() as tape:
      fake = self.generator(code_in, training=True)
      fake_h1 = self.encoder_features(fake, training=False)
      img_loss = tf.reduce_mean(tf.square(fake - images))
      h1_loss = tf.reduce_mean(tf.square(fake_h1 - h1))
      h_loss = tf.constant(0.0)
      if joint:
        h_loss = tf.reduce_mean(tf.square(
            self.encoder_code(fake_h1, training=False) - h))
      fake_logits = self.discriminator(fake, training=True)[:, 0]
      gan_g_loss = pair.generator_loss(fake_logits)
      g_loss = (s.img_weight * img_loss + s.feature_weight * h1_loss +
                s.code_weight * h_loss + s.gan_weight * gan_g_loss)
      scaled = self.optimizers["generator"].scale_loss(g_loss / replicas)
    g_grads = tape.gradient(scaled, g_variables)
    d_variables = self.group_variables("discriminator")
    with tf.GradientTape() as tape:
      real_logits = self.discriminator(images, training=True)[:, 0]
      fake_logits = self.discriminator(tf.stop_gradient(fake),
                                       training=True)[:, 0]
      d_loss = pair.discriminator_loss(real_logits, fake_logits)
      scaled = self.optimizers["discriminator"].scale_loss(
          d_loss / replicas)
    d_grads = tape.gradient(scaled, d_variables)
    return self._zeros(
        {"g_loss": g_loss, "img_loss": img_loss, "h1_loss": h1_loss,
         "h_loss": h_loss, "gan_g_loss": gan_g_loss, "d_loss": d_loss,
         "d_accuracy": losses.discriminator_accuracy(real_logits,
                                                     fake_logits)},
        None, {"generator": g_grads, "discriminator": d_grads})

  def _dae_stage(self, images, seed):
    s = self.settings
    replicas = noise.num_replicas()
    draw = noise.global_batch_noise(tf.shape(images)[0])
    metrics, grads = {}, {}
    if self.code_dae is not None:
      h = self.encode(images)
      noisy = h + self._sigma("h_mean", s.code_dae_noise) * draw(
          tf.shape(h), runner.fold_in(seed, 20))
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(self.code_dae(noisy, training=True)
                                        - h))
        scaled = self.optimizers["code_dae"].scale_loss(loss / replicas)
      grads["code_dae"] = tape.gradient(scaled,
                                        self.group_variables("code_dae"))
      metrics["code_dae_loss"] = loss
    if self.image_dae is not None:
      noisy = images + s.image_dae_noise * draw(tf.shape(images),
                                                runner.fold_in(seed, 21))
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(
            self.image_dae(noisy, training=True) - images))
        scaled = self.optimizers["image_dae"].scale_loss(loss / replicas)
      grads["image_dae"] = tape.gradient(scaled,
                                         self.group_variables("image_dae"))
      metrics["image_dae_loss"] = loss
    return self._zeros(metrics, None, grads)
