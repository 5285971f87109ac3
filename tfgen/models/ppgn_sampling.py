"""Sampling of `PPGN`: MALA-approx chains in the code space (a mixin).

`sample_from_seeds(seeds, class_ids=None, conditions=(), prior=None, ...)`
runs one chain per seed with the `MalaApproxKernel`: the start code, the
sampler noise and the Joint PPGN-h's prior noise all come from that seed
alone (per-example stateless draws indexed by the step), so a sample does
not depend on its batch-mates. `inpaint_from_seeds` is PPGN-context:
observed pixels composited in before every network sees the image, the
chain started from E of the image with the hole at 0, and the context term
(`context_weight`). Priors: 'none' (DGN-AM), 'code_dae' (PPGN-h),
'encoder' (E(G(h)), the (Noiseless) Joint PPGN-h) and 'image_dae' (PPGN-x:
the chain runs on pixels, started from noise).
"""

from __future__ import annotations

import collections
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tfgen.mcmc import mala_approx
from tfgen.mcmc import noise
from tfgen.mcmc import runner
from tfgen.models import ppgn_captions
from tfgen.models import ppgn_condition_spec as spec_lib
from tfgen.models import ppgn_conditions
from tfgen.models import ppgn_config

START_SALT = -11      # a chain's start code
NOISE_SALT = -12      # the sampler noise (epsilon3)
PRIOR_SALT = -13      # Joint PPGN-h's noise inside the prior
CLASS_SALT = -14      # the class of an unconditioned request
# What `chain_parts` returns: see there.
ChainParts = collections.namedtuple(
    "ChainParts", ["kernel_args", "start", "decode", "composite_fn",
                   "condition", "pairs", "num_steps"])
# The sampler settings `sample_from_seeds(sampler=...)` may override.
SAMPLER_KEYS = ("prior_weight", "condition_weight", "sampler_noise",
                "context_weight", "sampler_step_size", "sampler_step_size_end",
                "normalize_steps", "condition_gradient", "class_condition")


def _per_example_normal(pairs, shape, salt, step=None) -> tf.Tensor:
  """[B] + shape normals; row b depends only on pairs[b] (and step)."""
  def draw(pair):
    seed = runner.fold_in(pair, salt)
    if step is not None:
      seed = runner.fold_in(seed, step)
    return tf.random.stateless_normal(shape, seed=seed)
  return tf.map_fn(draw, pairs,
                   fn_output_signature=tf.TensorSpec(shape, tf.float32))


class PpgnSampling:
  """Mixin of `PPGN`: conditions, priors, chains."""

  # ---- conditions ---------------------------------------------------------
  def condition_units(self) -> dict:
    """{'conv': channels, 'dense': units} of the condition net C'."""
    if self.condition_net is None:
      return {}
    conv, dense = self.condition_net.outputs[3], self.condition_net.outputs[4]
    return {"conv": int(conv.shape[-1]), "dense": int(dense.shape[-1])}

  def parse_conditions(self, texts: Sequence[str]):
    """ConditionSpecs of `texts`, checked against this model."""
    vocabulary = (ppgn_captions.VOCABULARY if self.captioner is not None
                  else None)
    specs = spec_lib.parse_conditions(texts, self.num_classes,
                                      self.condition_units() or None,
                                      vocabulary)
    ppgn_captions.check_lengths(specs)
    if spec_lib.needs_condition_net(specs) and self.condition_net is None:
      raise ValueError(f"condition={list(texts)!r} needs the condition net "
                       "C', which this run did not train; train with "
                       "--condition_net or use class:K.")
    return specs

  def _condition_net_outputs(self, images):
    return self.condition_net(images, training=False)

  def _class_logits_fns(self, class_condition: str) -> list:
    """The logits functions (images -> [B, K]) a chain's class conditions
    on: C''s class head, E's, or both (`PpgnConfig.class_condition`)."""
    if class_condition != "encoder" and self.condition_net is None:
      raise ValueError(
          f"class_condition={class_condition!r} needs the condition net C', "
          "which this run did not train; pass --class_condition=encoder.")

    def other_class_logits(images):
      return self._condition_net_outputs(images)[0]

    return {"encoder": [self.classify],
            "condition_net": [other_class_logits],
            "both": [self.classify, other_class_logits]}[class_condition]

  def _condition_fn(self, specs, class_ids, num_steps, gradient,
                    class_condition):
    """(images, step) -> ConditionOutput for specs (+ per-chain class_ids
    on the classifiers of `class_condition`)."""
    terms = []
    if class_ids is not None:
      for logits_fn in self._class_logits_fns(class_condition):
        terms.append((1.0, ppgn_conditions.class_condition(
            logits_fn, class_ids, gradient)))
    for spec in specs:
      if spec.kind == "class":
        ids = tf.constant([list(spec.values)], tf.int32)
        if len(spec.values) == 1:
          fn = _broadcast_class(self.classify, spec.values[0], gradient)
        else:
          segment = tf.maximum(
              tf.cast(num_steps, tf.int32) // len(spec.values), 1)
          fn = _scheduled_class(self.classify, ids, gradient, segment)
      elif spec.kind in ("other_class", "parity", "loop"):
        head = {"other_class": 0, "parity": 1, "loop": 2}[spec.kind]
        fn = _broadcast_class(
            lambda x, head=head: self._condition_net_outputs(x)[head],
            spec.values[0], gradient)
      elif spec.kind == "unit":
        layer, unit = spec.values
        if layer == "conv":
          def activations(x):
            units = self._condition_net_outputs(x)[3]
            centre = units.shape[1] // 2
            return units[:, centre, centre, :]
        else:
          def activations(x):
            return self._condition_net_outputs(x)[4]
        fn = ppgn_conditions.unit_condition(activations, unit)
      elif self.captioner is not None:  # caption
        fn = ppgn_captions.caption_condition(self.captioner, spec.values)
      else:
        raise ValueError(f"condition={spec.text!r}: this model has no "
                         "captioner; train with --captioner.")
      terms.append((spec.weight, fn))
    if not terms:
      return None
    if len(terms) == 1 and terms[0][0] == 1.0:
      return terms[0][1]
    return ppgn_conditions.sum_condition(terms)

  def condition_probability(self, images, class_ids=None, conditions=(),
                            class_condition: Optional[str] = None):
    """p(condition | images) [B] (the filter's probability), eager; the
    class terms on `class_condition`'s classifiers (default the setting's),
    a product over terms."""
    specs = self._as_specs(conditions)
    fn = self._condition_fn(specs, None if class_ids is None else
                            tf.cast(class_ids, tf.int32),
                            self.settings.num_mcmc_steps, "official",
                            class_condition or self.settings.class_condition)
    images = tf.convert_to_tensor(images, tf.float32)
    if fn is None:
      return tf.ones(tf.shape(images)[:1])
    return fn(images, tf.constant(10**9, tf.int32)).prob

  def _as_specs(self, conditions):
    if not conditions:
      return ()
    if isinstance(conditions, str):
      conditions = [conditions]
    if all(isinstance(c, spec_lib.ConditionSpec) for c in conditions):
      return tuple(conditions)
    return self.parse_conditions(list(conditions))

  # ---- priors -------------------------------------------------------------
  def check_prior(self, prior: Optional[str]) -> str:
    """The prior to use (default: the variant's); refuses untrained ones."""
    prior = prior or self.settings.resolved_prior
    if prior not in ppgn_config.PRIORS:
      raise ValueError(f"prior={prior!r} is not one of {ppgn_config.PRIORS}.")
    self.settings.check_prior_trained(prior)
    return prior

  def _reconstruct_fn(self, prior: str, pairs):
    s = self.settings
    if prior == "none":
      return None
    if prior == "code_dae":
      return lambda h, images, seed, step: self.code_dae(h, training=False)
    if prior == "image_dae":
      return lambda x, images, seed, step: self.image_dae(images,
                                                          training=False)
    if s.variant != "joint_ppgn_h":
      return lambda h, images, seed, step: self.encode(images)

    def joint(h, images, seed, step):
      # Joint PPGN-h samples with the training noise on x, h1 and h.
      del h, seed
      x = images + s.noise_x * self.statistics["x_abs_mean"] * (
          _per_example_normal(pairs, images.shape[1:], PRIOR_SALT, step))
      h1 = self.encoder_features(x, training=False)
      h1 += s.noise_h1 * self.statistics["h1_mean"] * _per_example_normal(
          pairs, h1.shape[1:], PRIOR_SALT - 100, step)
      code = self.encoder_code(h1, training=False)
      return code + s.noise_h * self.statistics["h_mean"] * (
          _per_example_normal(pairs, code.shape[1:], PRIOR_SALT - 200, step))
    return joint

  # ---- chains -------------------------------------------------------------
  def _start_codes(self, pairs) -> tf.Tensor:
    codes = _per_example_normal(pairs, [self.code_dim], START_SALT)
    codes *= self.settings.start_scale * self.statistics["h_mean"]
    return tf.clip_by_value(codes, 0.0, self.statistics["code_max"])

  def _class_ids(self, pairs, class_ids):
    if class_ids is None:
      return None
    class_ids = tf.cast(class_ids, tf.int32)
    return tf.broadcast_to(class_ids, tf.shape(pairs)[:1])

  def sample_from_seeds(self, seeds, class_ids=None, conditions=(),
                        prior: Optional[str] = None, num_steps=None,
                        num_snapshots: int = 4, sampler: Optional[dict] = None,
                        images=None, masks=None) -> list:
    """One chain per seed; images at `num_snapshots` points, final last.

    Args:
      seeds: int [B] per-instance seeds or int32 [B, 2] pairs.
      class_ids: int [B] or scalar: E's class per chain (None: only
        `conditions`; with neither, a class is drawn from each seed).
      conditions: ConditionSpecs or condition strings (`class:7`, ...).
      prior: 'none', 'code_dae', 'encoder', 'image_dae' (default: the
        variant's).
      num_steps: MALA-approx steps (default `num_mcmc_steps`; may be a
        tensor).
      num_snapshots: images returned along the chain (>= 1), the last is
        the final state.
      sampler: overrides of the sampler settings (PpgnConfig names:
        prior_weight, condition_weight, sampler_noise, context_weight,
        sampler_step_size, sampler_step_size_end, normalize_steps,
        condition_gradient).
      images, masks: inpainting (PPGN-context): images [B, S, S, C] in
        [-1, 1], masks [B, S, S, 1 or C] with 1 = missing.

    Returns:
      num_snapshots images [B, S, S, C] in [-1, 1].
    """
    chain = self.chain_parts(seeds, class_ids, conditions, prior, num_steps,
                             sampler, images, masks)
    snapshots, state = [], chain.start
    num_snapshots = max(1, int(num_snapshots))
    steps_t = tf.cast(chain.num_steps, tf.int32)
    done = tf.constant(0, tf.int32)
    for k in range(num_snapshots):
      target = steps_t * (k + 1) // num_snapshots
      kernel = _OffsetKernel(
          mala_approx.MalaApproxKernel(**chain.kernel_args), done)
      state = runner.run_chain(kernel, state, target - done,
                               runner.fold_in(chain.pairs[0], k)).state
      done = target
      image = chain.decode(state)
      if chain.composite_fn is not None:
        image = chain.composite_fn(image)
      snapshots.append(tf.clip_by_value(image, -1.0, 1.0))
    return snapshots

  def chain_parts(self, seeds, class_ids=None, conditions=(),
                  prior: Optional[str] = None, num_steps=None,
                  sampler: Optional[dict] = None, images=None,
                  masks=None) -> "ChainParts":
    """The MALA-approx chains of `sample_from_seeds` (same arguments), unrun.

    Returns a `ChainParts`: the kernel's arguments, the start state (codes
    [B, code_dim], or images for PPGN-x), the decoder state -> images, the
    compositing of observed pixels (None unless inpainting), the condition
    (images, step) -> ConditionOutput (None without one), the seed pairs
    [B, 2] and the number of steps.
    """
    settings = dict(self.sampler_defaults(), **(sampler or {}))
    prior = self.check_prior(prior)
    pairs = noise.seed_pairs(seeds)
    specs = self._as_specs(conditions)
    steps = self.settings.num_mcmc_steps if num_steps is None else (
        num_steps)
    if class_ids is None and not specs:
      class_ids = noise.per_example_choice(pairs, self.num_classes,
                                           CLASS_SALT)
    class_ids = self._class_ids(pairs, class_ids)
    condition = self._condition_fn(specs, class_ids, steps,
                                   settings["condition_gradient"],
                                   settings["class_condition"])
    pixel_space = prior == "image_dae"
    composite_fn = context_fn = None
    if images is not None:
      observed = tf.convert_to_tensor(images, tf.float32)
      masks = tf.cast(masks, tf.float32)
      masks = tf.broadcast_to(masks, tf.shape(observed))
      composite_fn = lambda x: masks * x + (1.0 - masks) * observed  # pylint: disable=g-long-lambda
      context_fn = ppgn_conditions.context_objective(observed, masks)
      start = self.encode(observed * (1.0 - masks))
      if pixel_space:
        start = observed * (1.0 - masks)
    elif pixel_space:
      start = tf.clip_by_value(
          0.5 * _per_example_normal(pairs, self.image_shape, START_SALT),
          -1.0, 1.0)
    else:
      start = self._start_codes(pairs)
    decode = (lambda x: x) if pixel_space else (
        lambda h: self.generator(h, training=False))
    clip = (-1.0, 1.0) if pixel_space else (0.0, self.statistics["code_max"])
    noise_fn = _step_indexed_noise(pairs, start.shape[1:])
    end = settings["sampler_step_size_end"]
    # Step sizes are in units of the mean code activation (pixels for
    # PPGN-x): the official lr 1 on fc6 codes of mean ~10 is 0.1 mean h.
    unit = 1.0 if pixel_space else self.statistics["h_mean"]
    kernel_args = dict(
        decode_fn=decode, condition=condition,
        reconstruct_fn=self._reconstruct_fn(prior, pairs),
        prior_weight=settings["prior_weight"],
        condition_weight=settings["condition_weight"],
        noise_scale=settings["sampler_noise"],
        step_size=settings["sampler_step_size"] * unit,
        step_size_end=None if end < 0 else end * unit,
        num_schedule_steps=steps,
        normalize="mean_abs" if settings["normalize_steps"] else None,
        clip_range=clip, composite_fn=composite_fn, context_fn=context_fn,
        context_weight=settings["context_weight"], noise_fn=noise_fn,
        image_shape=self.image_shape)
    return ChainParts(kernel_args, start, decode, composite_fn, condition,
                      pairs, steps)

  def inpaint_from_seeds(self, images, masks, seeds, labels=None,
                         conditions=(), num_steps=None, prior=None,
                         sampler: Optional[dict] = None,
                         num_snapshots: int = 1) -> list:
    """PPGN-context inpainting; observed pixels are kept exactly.

    `labels` (int [B] or scalar) are E's classes of the chains (the
    family contract's name for `sample_from_seeds`' class_ids); the rest as
    `sample_from_seeds` with images / masks.
    """
    return self.sample_from_seeds(
        seeds, class_ids=labels, conditions=conditions, prior=prior,
        num_steps=num_steps, num_snapshots=num_snapshots, sampler=sampler,
        images=images, masks=masks)

  def sampler_defaults(self) -> dict:
    """The sampler settings `sample_from_seeds` uses unless overridden."""
    s = self.settings
    return {name: getattr(s, name) for name in SAMPLER_KEYS}

  def sampler_settings(self, num_steps=None) -> dict:
    """JSON-ready settings of the sampler an export runs (the contract)."""
    return dict(self.sampler_defaults(),
                prior=self.settings.resolved_prior,
                num_mcmc_steps=int(num_steps or self.settings.num_mcmc_steps))

  # ---- eager entry point --------------------------------------------------
  def cycled_classes(self, num_samples: int, first_index: int = 0):
    """int32 [num_samples]: example i of `sample` follows class i mod K."""
    return ((np.arange(num_samples) + int(first_index)) %
            self.num_classes).astype(np.int32)
  def _check_class_id(self, class_id) -> np.ndarray:
    values = np.asarray(class_id)
    if (values.size == 0 or not np.issubdtype(values.dtype, np.integer)
        or values.min() < 0 or values.max() >= self.num_classes):
      raise ValueError(f"class_id={class_id!r} must be in "
                       f"[0, {self.num_classes}), e.g. --class_id=7.")
    return values

  def sample(self, num_samples: int, seed=(0, 0), first_index: int = 0,
             class_id=None, **kwargs) -> list:
    """`num_samples` chains; example i uses `example_seeds(seed)[i]`.

    The class of E example i follows: `class_id` if given; else, unless
    `conditions` steer the chains, class (first_index + i) mod K (so 500
    samples of digits are 50 per class; `sample_from_seeds` without
    classes draws one from each seed instead).
    """
    if (isinstance(num_samples, bool) or
        not isinstance(num_samples, (int, np.integer)) or num_samples <= 0):
      raise ValueError(f"num_samples={num_samples!r} must be a positive int.")
    classes = None
    if class_id is not None:
      values = self._check_class_id(class_id)
      classes = tf.broadcast_to(tf.constant(values, tf.int32), [num_samples])
    elif not kwargs.get("conditions"):
      # Example i follows class i mod K: N = 50 K samples are 50 per class.
      classes = tf.constant(self.cycled_classes(num_samples, first_index))
    pairs = noise.example_seeds(seed, int(num_samples), int(first_index))
    if "conditions" in kwargs:
      kwargs["conditions"] = self._as_specs(kwargs["conditions"])
    return self._compiled_sample(pairs, classes, **kwargs)


def _broadcast_class(logits_fn, class_id: int, gradient: str):
  def condition(images, step):
    ids = tf.fill(tf.shape(images)[:1], int(class_id))
    return ppgn_conditions.class_condition(logits_fn, ids, gradient)(
        images, step)
  return condition


def _scheduled_class(logits_fn, ids, gradient, segment):
  def condition(images, step):
    schedule = tf.tile(ids, [tf.shape(images)[0], 1])
    return ppgn_conditions.class_condition(logits_fn, schedule, gradient,
                                           segment)(images, step)
  return condition


def _step_indexed_noise(pairs, state_shape):
  """Noise source whose row b at step t depends only on (pairs[b], t)."""
  def noise_fn(shape, seed, step):
    del shape, seed
    return _per_example_normal(pairs, state_shape, NOISE_SALT, step)
  return noise_fn


class _OffsetKernel(mala_approx.MalaApproxKernel):
  """A MalaApproxKernel whose step count starts at `first_step`."""

  def __init__(self, kernel, first_step):  # pylint: disable=super-init-not-called
    self._parameters = dict(kernel.parameters)
    self._first_step = first_step

  def bootstrap_results(self, init_state):
    results = super().bootstrap_results(init_state)
    return results._replace(step=tf.cast(self._first_step, tf.int32))
