r"""The `chains` subcommand of `python -m apps.evaluate`: MCMC diagnostics.

    python -m apps.evaluate chains --workdir=DIR --output=OUT_DIR \
        [--num_chains=8 --num_steps=200 --samplers=langevin,hmc --seed=0]
    python -m apps.evaluate chains --workdir=DIR --output=FILE.json

Families whose sampler is an MCMC chain ('chain_diagnostics' in
`tfgen.families`: multigrid, PPGN) run --num_chains independent chains of
--num_steps steps (multigrid: per grid, from each chain's own start image
and noise, as `apps.sample` draws; PPGN: MALA-approx in code space, every
chain conditioned on one class, --class_id, default 0) with each of
--samplers (multigrid: langevin and hmc; PPGN: mala_approx), traced through
`tfgen.mcmc.runner.run_chain`'s trace_fn. For each sampler and stage (grid,
or PPGN's code chain) it reports the effective sample size across chains
and the split R-hat (`tfgen.metrics.chains`: `tfp.mcmc.effective_sample_
size`, `tfp.mcmc.potential_scale_reduction`) of log p and of
--num_coordinates fixed pixels (multigrid) or code coordinates (PPGN),
over the second half of each chain (the first half is warm-up), and draws:

* `traces_<sampler>.png`: every chain's log p and traced coordinates over
  the steps, one panel each, stage after stage (the grey line ends the
  warm-up; a line per chain);
* `chains_<sampler>.gif`: the chains evolving, stage after stage
  (multigrid: the 1x1 start, then grid by grid, up-sampled), with
  --num_chain_frames frames per stage.

GRAN ('canvas_steps') has no Markov chain: it writes `canvases.png` (the
first 10 samples' canvases over t, as `apps.sample --canvas_panel`) and
`canvases.gif` (--num_chains samples drawing), and the mean absolute canvas
change per step; --num_steps sets the canvas steps T' (default: the
model's). Other families (LAPGAN) are refused, naming the family.

--output=DIR writes DIR/chains.json and the figures in DIR;
--output=FILE.json writes FILE.json and the figures beside it, named
FILE_traces_<sampler>.png etc. The JSON (also printed, without the raw
log p traces) names every figure.
"""

from __future__ import annotations

import os
import time

from absl import app
from absl import flags

from apps import analysis

NUM_COORDINATES = flags.DEFINE_integer(
    "num_coordinates", 4, "chains: state coordinates traced per stage "
    "besides log p (multigrid: fixed pixels from the centre out; PPGN: code "
    "coordinates spread over the code).")
NUM_CHAIN_FRAMES = flags.DEFINE_integer(
    "num_chain_frames", 20, "chains: GIF frames per stage (multigrid: per "
    "grid), evenly spaced along the chain (at most one per step).")
CLASS_ID = flags.DEFINE_integer(
    "class_id", None, "chains: the class of every chain of a class-"
    "conditional model (PPGN: of its class condition; default 0), so that "
    "all chains sample one target.")

CHAIN_FLAGS = ("num_coordinates", "num_chain_frames", "class_id")
# Flags of the other modes that `chains` refuses.
OTHER_FLAGS = (analysis.SAMPLE_QUALITY_FLAGS + analysis.FEATURE_FLAGS +
               ("output_dir", "num_score_images", "negatives",
                "max_examples"))
DEFAULT_NUM_CHAINS = 8
DEFAULT_NUM_STEPS = 200
# Half the steps are warm-up and split R-hat needs >= 4 kept steps.
MIN_MCMC_STEPS = 8
JSON_NAME = "chains.json"
CANVAS_ROWS = 10
PANEL_HEIGHT = 150  # Pixels per trace panel (log p, then each coordinate).
NOTES = (
    "ESS: tfp.mcmc.effective_sample_size across chains (cross_chain_dims, "
    "Geyer's initial positive sequence), of all kept draws together: iid "
    "draws give about num_chains * (num_steps - num_warmup), chains stuck in "
    "K places about K. R-hat: tfp.mcmc.potential_scale_reduction with split "
    "chains (about 1 when the chains agree; > 1.1 = not mixed). Both over "
    "steps num_warmup.. of each stage; null where the kept trace is "
    "constant (e.g. a pixel clipped at -1 in every chain). last_mean / "
    "last_std: over the chains at the last step. Chains of a multigrid grid "
    "start from the previous grid's end states, so later grids inherit the "
    "earlier grids' spread.")


def output_paths(output: str) -> tuple[str, str]:
  """(JSON path, figure prefix) of --output (a folder or a .json file)."""
  if output.endswith(".json"):
    return output, os.path.splitext(output)[0] + "_"
  return os.path.join(output, JSON_NAME), os.path.join(output, "")


def check_flags(workdir, output) -> tuple[int, int]:
  """UsageError for a bad flag (before TensorFlow loads); (chains, steps)."""
  analysis.refuse_flags("chains", OTHER_FLAGS)
  if not workdir:
    raise app.UsageError("`apps.evaluate chains` needs --workdir=DIR, a "
                         "workdir trained with apps.train.")
  if not os.path.isdir(workdir):
    raise app.UsageError(f"--workdir={workdir!r} does not exist: train one "
                         "with python -m apps.train --workdir=... first.")
  if not output:
    raise app.UsageError(
        "`apps.evaluate chains` needs --output: a folder (for chains.json "
        "and the figures) or a .json file (figures beside it), e.g. "
        "--output=/tmp/chains.")
  num_chains = analysis.NUM_CHAINS.value
  if num_chains is None:
    num_chains = DEFAULT_NUM_CHAINS
  if num_chains < 2:
    raise app.UsageError(f"--num_chains={num_chains} must be >= 2 (R-hat "
                         f"compares independent chains), e.g. "
                         f"{DEFAULT_NUM_CHAINS}.")
  num_steps = analysis.NUM_STEPS.value
  if num_steps is not None and num_steps <= 0:
    raise app.UsageError(f"--num_steps={num_steps} must be a positive "
                         f"integer, e.g. {DEFAULT_NUM_STEPS}.")
  for flag, example in ((NUM_COORDINATES, 4), (NUM_CHAIN_FRAMES, 20)):
    if flag.value < 1:
      raise app.UsageError(f"--{flag.name}={flag.value} must be a positive "
                           f"integer, e.g. {example}.")
  if CLASS_ID.value is not None and CLASS_ID.value < 0:
    raise app.UsageError(f"--class_id={CLASS_ID.value} must be >= 0, e.g. "
                         "--class_id=3.")
  json_path, _ = output_paths(output)
  # pylint: disable=g-import-not-at-top
  from tfgen.train import preflight
  try:
    if output.endswith(".json"):
      preflight.check_output(json_path, "output")
    else:
      preflight.check_writable_dir(output, "output")
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  return num_chains, num_steps


def _check_family(workdir: str, num_steps) -> None:
  """Refuses (from config.json, before the model loads) a family without
  chains or canvas steps, and too few steps for an MCMC family."""
  # pylint: disable=g-import-not-at-top
  from tfgen import families
  from tfgen.train import workdir as workdir_lib
  try:
    config = workdir_lib.read_config(workdir)
    if config is None:
      return  # The loader names what is missing.
    family = families.require_any(
        config, ("chain_diagnostics", "canvas_steps"),
        "`apps.evaluate chains`")
  except ValueError as error:
    raise app.UsageError(f"--workdir={workdir!r}: {error}") from None
  if (family.has("chain_diagnostics") and num_steps is not None
      and num_steps < MIN_MCMC_STEPS):
    raise app.UsageError(
        f"--num_steps={num_steps} is too few: ESS and R-hat use the second "
        f"half of each chain and need >= {MIN_MCMC_STEPS} steps, e.g. "
        f"--num_steps={DEFAULT_NUM_STEPS}.")


def _samplers(model, family) -> tuple:
  names = tuple(model.chain_samplers)
  if not analysis.SAMPLERS.present:
    return names
  chosen = tuple(analysis.SAMPLERS.value)
  unknown = [s for s in chosen if s not in names]
  if unknown or not chosen:
    raise app.UsageError(
        f"--samplers={','.join(chosen)}: a {family.name!r} model's chains "
        f"run {list(names)}; pass some of them, e.g. "
        f"--samplers={','.join(names)}.")
  return chosen


def _check_class_id(model, class_id) -> None:
  """UsageError for a --class_id the model cannot sample (as apps.sample)."""
  try:
    model.sample_classes(1, class_id=class_id)
  except ValueError as error:
    raise app.UsageError(f"--class_id: {error}") from error


def _stage_summary(trace, num_warmup: int) -> dict:
  from tfgen.metrics import chains as chains_lib  # pylint: disable=g-import-not-at-top
  log_prob = chains_lib.summarize(trace.log_prob, num_warmup)
  coordinates = chains_lib.summarize(trace.coordinates, num_warmup)
  rows = [log_prob] + coordinates
  rhats = [r["rhat"] for r in rows if r["rhat"] == r["rhat"]]
  esses = [r["ess"] for r in rows if r["ess"] == r["ess"]]
  return {
      "log_prob": dict(log_prob, name=trace.log_prob_name),
      "coordinates": dict(zip(trace.coordinate_names, coordinates)),
      "max_rhat": max(rhats) if rhats else None,
      "min_ess": min(esses) if esses else None,
      "acceptance_rate": (None if trace.accepted is None
                          else float(trace.accepted.mean())),
      "log_prob_trace": trace.log_prob.tolist(),
  }


def _trace_panels(sampler: str, trace, summary: dict, num_warmup: int):
  """Plot panels of one stage: log p, then each traced coordinate."""
  from tfgen.vis import plots  # pylint: disable=g-import-not-at-top
  steps = range(1, len(trace.log_prob) + 1)

  def title(what, row):
    return (f"{sampler} {trace.stage} {what}: ESS {row['ess']:.1f}, R-hat "
            f"{row['rhat']:.3g} over steps {num_warmup + 1}..{len(steps)}")

  panels = [plots.Panel(title("log p", summary["log_prob"]), steps,
                        trace.log_prob.T, marker=num_warmup)]
  for k, name in enumerate(trace.coordinate_names):
    panels.append(plots.Panel(title(name, summary["coordinates"][name]),
                              steps, trace.coordinates[:, :, k].T,
                              marker=num_warmup))
  return panels


def _mcmc(model, family, num_chains, num_steps, seed, prefix) -> dict:
  """Traces, statistics and figures of every sampler; the JSON part."""
  # pylint: disable=g-import-not-at-top
  from tfgen.vis import canvas as canvas_lib
  from tfgen.vis import plots
  samplers = _samplers(model, family)
  if num_steps is None:
    num_steps = DEFAULT_NUM_STEPS
  class_id = CLASS_ID.value
  if class_id is None and model.is_conditional:
    class_id = 0
  _check_class_id(model, class_id)
  num_warmup = num_steps // 2
  results = {}
  for sampler in samplers:
    start = time.time()
    stage_traces = model.trace_chains(
        num_chains, seed=seed, num_steps=num_steps,
        num_coordinates=NUM_COORDINATES.value, sampler=sampler,
        class_id=class_id)
    seconds = time.time() - start
    stages = {t.stage: _stage_summary(t, num_warmup) for t in stage_traces}
    panels = [panel for t in stage_traces
              for panel in _trace_panels(sampler, t, stages[t.stage],
                                         num_warmup)]
    png = plots.plot_panels(panels, f"{prefix}traces_{sampler}.png",
                            panel_height=PANEL_HEIGHT)
    gif = canvas_lib.save_drawing_gif(canvas_lib.chain_frames(
        [(t.start_images, t.images) for t in stage_traces],
        NUM_CHAIN_FRAMES.value), f"{prefix}chains_{sampler}.gif")
    results[sampler] = {"stages": stages, "traces_png": png,
                        "chains_gif": gif, "seconds": round(seconds, 1)}
  return {"mcmc": True, "num_chains": num_chains, "num_steps": num_steps,
          "num_warmup": num_warmup, "class_id": class_id,
          "samplers": results, "notes": NOTES}


def _canvas(model, family, num_chains, num_steps, seed, prefix) -> dict:
  """The GRAN canvas over its steps: panel, GIF, change per step."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from tfgen.vis import canvas as canvas_lib
  for name in ("samplers", "num_coordinates"):
    if flags.FLAGS[name].present:
      raise app.UsageError(
          f"--{name}={flags.FLAGS[name].value} applies to families whose "
          "sampler is an MCMC chain; a "
          f"{family.name!r} model draws its canvas steps without one. Drop "
          "it.")
  _check_class_id(model, CLASS_ID.value)
  try:
    steps = model.sampling_steps(num_steps)
  except ValueError as error:  # Names num_canvas_steps, the model's term.
    raise app.UsageError(f"--num_steps={num_steps}: {error}") from error
  canvases = model.sample(num_chains, seed=seed, class_id=CLASS_ID.value,
                          num_canvas_steps=steps)
  shown = [(np.asarray(c) + 1.0) / 2.0 for c in canvases]
  panel, gif = canvas_lib.save_canvas_figures(
      shown, f"{prefix}canvases.png", CANVAS_ROWS, num_chains)
  previous = np.full_like(shown[0], 0.5)  # C_0 = tanh(0) = 0, grey.
  change = []
  for canvas in shown:
    change.append(float(np.mean(np.abs(canvas - previous))))
    previous = canvas
  return {"mcmc": False, "num_samples": num_chains,
          "num_canvas_steps": steps, "trained_canvas_steps":
          int(model.num_canvas_steps), "canvas_panel": panel,
          "canvas_gif": gif, "mean_abs_canvas_change": change,
          "notes": (f"A {family.name!r} model draws T' canvas steps in one "
                    "pass of its recurrent generator from per-sample noise: "
                    "no Markov chain, so no ESS or R-hat. canvas_panel: the "
                    f"first {CANVAS_ROWS} samples (rows) over t (columns); "
                    "canvas_gif: every sample drawing; "
                    "mean_abs_canvas_change[t-1]: mean |C_t - C_(t-1)| in "
                    "[0, 1] pixel units, C_0 the grey empty canvas.")}


def chains_command(workdir: str, output: str, seed: int,
                   load_workdir) -> dict:
  """Runs `chains`; `load_workdir(path) -> (model, config, step)`."""
  num_chains, num_steps = check_flags(workdir, output)
  _check_family(workdir, num_steps)
  model, _, step = load_workdir(workdir)
  from tfgen import families  # pylint: disable=g-import-not-at-top
  family = families.of_model(model)
  json_path, prefix = output_paths(output)
  os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
  run = _mcmc if family.has("chain_diagnostics") else _canvas
  result = dict(family=family.name,
                **run(model, family, num_chains, num_steps, seed, prefix))
  result["source"] = {"workdir": os.path.abspath(workdir), "step": step,
                      "seed": seed}
  printed = result
  if result["mcmc"]:
    printed = dict(result, samplers={
        name: dict(part, stages={
            stage: {k: v for k, v in values.items() if k != "log_prob_trace"}
            for stage, values in part["stages"].items()})
        for name, part in result["samplers"].items()})
  analysis.write_json(result, json_path, printed)
  return result
