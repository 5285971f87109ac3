"""The family registry: the one place that knows which model families exist.

One `Family` row per family holds its settings dataclass, its model class
and builder, the transform of its training batches, its serving signatures
and the capabilities the apps ask about. The Trainer, the exporter and every
app look a family up here (`get(name)`, `of_model(model)`) and ask it
(`family.has(...)`, `require(...)`) instead of testing family names or
probing models for attributes.

Adding a family = its model / nets modules (a `tfgen.models.base.
GenerativeModel` subclass and a settings dataclass with `validate`), one row
in `FAMILIES` below, its flagfiles in `apps/configs/` and its tests (the
conformance suite `tests/family_conformance_test.py` covers it at once).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional

from tfgen.core import precision
from tfgen.core import seeds
from tfgen.models import gran
from tfgen.models import gran_config
from tfgen.models import lapgan
from tfgen.models import lapgan_config
from tfgen.models import multigrid
from tfgen.models import multigrid_config
from tfgen.models import ppgn
from tfgen.models import ppgn_config
from tfgen.serving import families as family_signatures
from tfgen.serving import gran_signatures
from tfgen.serving import ppgn_signatures

# What an app may ask a family for.
CAPABILITIES = {
    "sample": "draws images from seeds (apps.sample, export)",
    "class_conditional": "can be trained on labels (--condition_on_label) "
                         "and sampled per class (--class_id)",
    "inpaint": "fills masked pixels (apps.inpaint, the `inpaint` signature)",
    "refine": "refines given coarse images (the `refine` signature, "
              "apps.sample --refine_panel)",
    "features": "has energy-net features for apps.evaluate features / "
                "diagnostics / visualize",
    "battle": "has a discriminator for GAM battles (apps.battle)",
    "canvas_steps": "draws on a canvas in steps (apps.sample "
                    "--canvas_panel / --num_canvas_steps)",
    "step_size_backoff": "has a sampler step size that "
                         "--divergence_backoff=step_size halves",
    "serving_steps": "takes a number of sampler steps at export "
                     "(--serving_steps, bounded by --max_steps) and per "
                     "request (num_steps of the sample_steps signature)",
    "chain_snapshots": "returns images along its MCMC chains (apps.sample "
                       "--chain_gif)",
    "chain_diagnostics": "runs MCMC chains that can be traced (trace_chains: "
                         "ESS, R-hat, traces and GIFs of apps.evaluate "
                         "chains)",
    "plug_in_conditions": "takes plug-in conditions, a sampler prior and "
                          "MCMC settings at sampling time (apps.sample "
                          "--condition, --prior, --num_mcmc_steps, "
                          "--min_probability)",
}


@dataclasses.dataclass(frozen=True)
class Family:
  """One model family.

  name: the `--family` value and `config.json`'s "family".
  summary: one line for `--help` and listings.
  config_class: the frozen settings dataclass (`config.model`), with
    `validate(data, train, num_replicas)`.
  model_class: the `GenerativeModel` subclass.
  build: ExperimentConfig -> the compiled model (called inside the caller's
    strategy scope, with initial weights seeded by `build_model`).
  signatures: (model, num_steps or None, max_steps or None) ->
    [`signature_spec.Signature`]; with `serving_steps`, one of them is
    `sample_steps` (a `num_steps` request input bounded by max_steps).
  capabilities: a subset of `CAPABILITIES`.
  batch_transform: optional ExperimentConfig -> ((images, labels) -> the
    batch `update_step` takes), run in the input pipeline.
  instead: {capability: what to run instead}, shown when an app needs a
    capability the family lacks.
  default_flagfile: the digits flagfile in apps/configs/.
  tiny_settings: model settings of a tiny 8x8 digits model that trains a
    step in about a second (smoke tests and the conformance suite, which
    thereby cover every registered family).
  """
  name: str
  summary: str
  config_class: type
  model_class: type
  build: Callable[[Any], Any]
  signatures: Callable[..., list]
  capabilities: frozenset
  default_flagfile: str
  tiny_settings: Mapping[str, Any]
  batch_transform: Optional[Callable[[Any], Callable]] = None
  instead: Mapping[str, str] = dataclasses.field(default_factory=dict)

  def has(self, capability: str) -> bool:
    if capability not in CAPABILITIES:
      raise KeyError(f"Unknown capability {capability!r}; one of "
                     f"{sorted(CAPABILITIES)}.")
    return capability in self.capabilities


# ---- the builders of each row ------------------------------------------------
def _build_multigrid(config):
  m = config.model
  model = multigrid.MultigridEBM(
      grid_sizes=m.grid_sizes, channels=config.data.channels,
      num_langevin_steps=m.num_langevin_steps, step_size=m.step_size,
      noise_scale=m.noise_scale, reference_stddev=m.reference_stddev,
      clip_samples=m.clip_samples, net_width=m.net_width,
      activation=m.activation, start_bank_size=m.start_bank_size,
      seed=config.train.seed, jit_compile=config.train.jit_compile,
      method=m.method, sampler=m.sampler,
      num_leapfrog_steps=m.num_leapfrog_steps, metropolis=m.metropolis,
      num_classes=config.data.num_classes if m.condition_on_label else 0,
      persistent_bank_size=m.persistent_bank_size,
      num_sampling_steps=m.num_sampling_steps or None,
      num_inpainting_steps=m.num_inpainting_steps or None)
  model.compile(optimizer=precision.adam(
      config.train.learning_rate, beta_1=config.train.beta_1,
      ema_momentum=config.train.ema_momentum))
  model.optimizer.build(model.trainable_variables)
  return model


def _build_lapgan(config):
  m = config.model
  model = lapgan.LAPGAN(
      level_sizes=m.level_sizes, channels=config.data.channels,
      num_classes=config.data.num_classes if m.condition_on_label else 0,
      noise_dim=m.noise_dim, generator_width=m.generator_width,
      discriminator_width=m.discriminator_width,
      discriminator_dropout=m.discriminator_dropout,
      d_steps_per_g_step=m.d_steps_per_g_step,
      diversity_weight=m.diversity_weight,
      learning_rate=config.train.learning_rate,
      beta_1=config.train.beta_1, ema_momentum=config.train.ema_momentum,
      seed=config.train.seed)
  model.compile()
  return model


def _build_gran(config):
  model = gran.build_model(config)
  model.compile()
  return model


def _ppgn_signatures(model, num_steps=None, max_steps=None):
  # export's --serving_steps is a list (one value per multigrid grid); a
  # PPGN chain has one number of MALA-approx steps.
  if isinstance(num_steps, (list, tuple)):
    if len(num_steps) != 1:
      raise ValueError(f"num_steps={list(num_steps)} (--serving_steps): a "
                       "PPGN takes one number of MALA-approx steps, e.g. "
                       "--serving_steps=200.")
    num_steps = num_steps[0]
  return ppgn_signatures.ppgn_signatures(model, num_steps, max_steps)


def _lapgan_pyramid(config):
  sizes = tuple(config.model.level_sizes)
  return lambda images, labels: lapgan.pyramid_batch(images, labels, sizes)


FAMILIES = {row.name: row for row in (
    Family(
        name="multigrid",
        summary="Multigrid energy-based ConvNets (Gao et al. 2018): "
                "Langevin/HMC chains from 1x1 to the image size",
        config_class=multigrid_config.MultigridConfig,
        model_class=multigrid.MultigridEBM,
        build=_build_multigrid,
        signatures=family_signatures.multigrid_signatures,
        capabilities=frozenset({"sample", "class_conditional", "inpaint",
                                "features", "step_size_backoff",
                                "serving_steps", "chain_diagnostics"}),
        default_flagfile="apps/configs/multigrid_digits.cfg",
        tiny_settings=dict(grid_sizes=(1, 4, 8), num_langevin_steps=(2,),
                           net_width=0.125, start_bank_size=16),
        instead={"refine": "use `python -m apps.inpaint` to complete "
                           "images, or a LAPGAN workdir for refinement",
                 "battle": "score its samples with `python -m "
                           "apps.evaluate --samples=...`"}),
    Family(
        name="lapgan",
        summary="LAPGAN (Denton et al. 2015): a Laplacian pyramid of "
                "conditional GANs; one level = a single-level GAN",
        config_class=lapgan_config.LapganConfig,
        model_class=lapgan.LAPGAN,
        build=_build_lapgan,
        signatures=family_signatures.lapgan_signatures,
        capabilities=frozenset({"sample", "class_conditional", "refine",
                                "battle"}),
        default_flagfile="apps/configs/lapgan_digits.cfg",
        tiny_settings=dict(level_sizes=(4, 8), noise_dim=8,
                           generator_width=0.125, discriminator_width=0.25),
        batch_transform=_lapgan_pyramid,
        instead={"inpaint": "a LAPGAN does not inpaint; train a multigrid "
                            "model (apps/configs/multigrid_digits.cfg) for "
                            "apps.inpaint",
                 "features": "score its samples instead: `python -m "
                             "apps.sample --workdir=DIR --output=S.npz` "
                             "then `python -m apps.evaluate --samples=S.npz`",
                 "chain_diagnostics": "a LAPGAN samples each level in one "
                                      "pass, with no chain to diagnose; "
                                      "look at its refinements with "
                                      "`python -m apps.sample "
                                      "--refine_panel=PANEL.png`",
                 "serving_steps": "send the request without num_steps (to "
                                  "serving_default): a LAPGAN has no sampler "
                                  "steps, it draws each pyramid level in "
                                  "one generator pass"}),
    Family(
        name="gran",
        summary="GRAN (Im et al. 2016): a recurrent generator that draws T "
                "canvas updates, trained adversarially; GAM battles",
        config_class=gran_config.GranConfig,
        model_class=gran.GRAN,
        build=_build_gran,
        signatures=gran_signatures.gran_signatures,
        capabilities=frozenset({"sample", "class_conditional", "battle",
                                "serving_steps", "canvas_steps"}),
        default_flagfile="apps/configs/gran_digits.cfg",
        tiny_settings=dict(noise_dim=8, generator_width=0.25,
                           discriminator_width=0.25, num_canvas_steps=2),
        instead={"inpaint": "a GRAN does not inpaint; train a multigrid "
                            "model (apps/configs/multigrid_digits.cfg) for "
                            "apps.inpaint",
                 "refine": "sample its canvases over t instead: `python -m "
                           "apps.sample --canvas_panel=PANEL.png`",
                 "features": "score its samples instead: `python -m "
                             "apps.sample --workdir=DIR --output=S.npz` "
                             "then `python -m apps.evaluate --samples=S.npz`",
                 "step_size_backoff": "pass --divergence_backoff="
                                      "learning_rate",
                 "chain_diagnostics": "a GRAN draws its canvas steps in one "
                                      "pass, with no Markov chain: `python "
                                      "-m apps.evaluate chains` shows its "
                                      "canvas over the steps instead"}),
    Family(
        name="ppgn",
        summary="Plug & Play Generative Networks (Nguyen et al. 2017): a "
                "generator of an encoder's codes, sampled by MALA-approx "
                "chains with a learned prior and plug-in conditions",
        config_class=ppgn_config.PpgnConfig,
        model_class=ppgn.PPGN,
        build=ppgn.build_model,
        signatures=_ppgn_signatures,
        capabilities=frozenset({"sample", "class_conditional", "battle",
                                "serving_steps", "plug_in_conditions",
                                "inpaint", "chain_snapshots",
                                "chain_diagnostics"}),
        default_flagfile="apps/configs/ppgn_digits.cfg",
        tiny_settings=dict(encoder_steps=1, stats_steps=1, generator_steps=1,
                           dae_steps=1, code_dim=16, encoder_width=0.25,
                           generator_width=0.25, discriminator_width=0.25,
                           num_mcmc_steps=2, captioner=True),
        instead={"refine": "a PPGN does not refine coarse images; use a "
                           "LAPGAN workdir",
                 "features": "score its samples instead: `python -m "
                             "apps.sample --workdir=DIR --output=S.npz` "
                             "then `python -m apps.evaluate --samples=S.npz`"}),
)}


def names() -> tuple[str, ...]:
  return tuple(FAMILIES)


def get(name: str) -> Family:
  """The family called `name`; ValueError listing the known ones."""
  if name not in FAMILIES:
    raise ValueError(f"family={name!r} is not one of {list(FAMILIES)}.")
  return FAMILIES[name]


def of_model(model) -> Family:
  """The family of a model instance."""
  for family in FAMILIES.values():
    if type(model) is family.model_class:  # pylint: disable=unidiomatic-typecheck
      return family
  for family in FAMILIES.values():
    if isinstance(model, family.model_class):
      return family
  raise ValueError(f"model={type(model).__name__} belongs to no registered "
                   f"family ({list(FAMILIES)}).")


def of(thing) -> Family:
  """The family of a family name, an ExperimentConfig or a model."""
  if isinstance(thing, Family):
    return thing
  if isinstance(thing, str):
    return get(thing)
  from tfgen import config as config_lib  # pylint: disable=g-import-not-at-top
  if isinstance(thing, config_lib.ExperimentConfig):
    return get(thing.family)
  return of_model(thing)


def require(thing, capability: str, what: str) -> Family:
  """The family of `thing`, or ValueError if it lacks `capability`.

  what: what needs it, e.g. 'apps.inpaint' (named in the message, with the
  family and what to run instead).
  """
  family = of(thing)
  if family.has(capability):
    return family
  able = [f.name for f in FAMILIES.values() if f.has(capability)]
  advice = family.instead.get(capability)
  raise ValueError(
      f"{what} needs a model that {CAPABILITIES[capability]}; this is a "
      f"{family.name!r} model (family={family.name!r}), which does not. "
      + (f"Instead, {advice}. " if advice else "")
      + f"Families that can: {able or 'none'}.")


def require_any(thing, capabilities, what: str) -> Family:
  """The family of `thing`, or ValueError if it has none of `capabilities`.

  Like `require`, for a command that serves families of either capability
  (e.g. `apps.evaluate chains`: MCMC chains, or canvas steps); the message
  names the family, what to run instead and the families of each.
  """
  family = of(thing)
  if any(family.has(c) for c in capabilities):
    return family
  needs = " or ".join(CAPABILITIES[c] for c in capabilities)
  able = {c: [f.name for f in FAMILIES.values() if f.has(c)]
          for c in capabilities}
  advice = [family.instead[c] for c in capabilities if c in family.instead]
  raise ValueError(
      f"{what} needs a model that {needs}; this is a {family.name!r} model "
      f"(family={family.name!r}), which does not. "
      + (f"Instead, {advice[0]}. " if advice else "")
      + "Families that can: " + "; ".join(
          f"{', '.join(names) or 'none'} ({c})" for c, names in able.items())
      + ".")


def build_model(config):
  """The model `config` describes, compiled (inside the caller's scope).

  Its initial weights depend on `config.train.seed` only
  (`seeds.initial_weights`), so two runs with the same seed (one killed and
  resumed, one not; one process or several workers) start from the same
  weights.
  """
  family = get(config.family)
  with seeds.initial_weights(seeds.RunSeeds.from_seed(
      config.train.seed).init), precision.policy(config.train.precision):
    return family.build(config)


def batch_transform(config) -> Optional[Callable]:
  """(images, labels) -> the family's training batch, or None (as is)."""
  transform = get(config.family).batch_transform
  return transform(config) if transform is not None else None


def signatures(model, num_steps=None, max_steps=None) -> list:
  """The serving signatures of `model`'s family.

  Args:
    model: a model of a registered family.
    num_steps: the sampler steps of `serving_default` (`--serving_steps`;
      families with `serving_steps` only; default the trained ones).
    max_steps: the largest `num_steps` a `sample_steps` request may ask
      (`--max_steps`; families with `serving_steps` only; default
      `signature_spec.DEFAULT_MAX_STEPS`).
  """
  family = of_model(model)
  for flag, value in (("serving_steps", num_steps), ("max_steps", max_steps)):
    if value is not None and not family.has("serving_steps"):
      able = [f.name for f in FAMILIES.values() if f.has("serving_steps")]
      raise ValueError(
          f"--{flag}={value!r} applies to families with sampler "
          f"steps ({', '.join(able)}); a {family.name!r} model has none. "
          "Drop the flag.")
  return family.signatures(model, num_steps, max_steps)


def steps_refusal(thing) -> Optional[str]:
  """Why a request with `num_steps` is refused; None if the family takes it.

  The registry's `require` message: it names the family, says it has no
  sampler steps and what to send instead (what `export.serve` answers).
  """
  try:
    require(thing, "serving_steps", "a request with num_steps")
  except ValueError as error:
    return str(error)
  return None
