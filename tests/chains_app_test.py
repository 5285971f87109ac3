"""`python -m apps.evaluate chains` (apps/chains.py) end to end.

Flag errors that are caught before TensorFlow loads run the real command
line (fast). Everything that needs a model runs in one subprocess: it
writes tiny untrained workdirs of every family (`support.untrained_
workdir`, no training) and calls `apps.evaluate`'s main once per command
line, with absl's flags parsed as the command line would (one TensorFlow
start-up instead of one per command).
"""

import json
import os
import sys

from PIL import Image
import pytest

import support

DRIVER = r"""
import contextlib, io, json, sys
sys.path.insert(0, "tests")
import support
from absl import app, flags
from apps import evaluate
root, runs, results_path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
images = support.digits()[0]
support.untrained_workdir(root + "/multigrid", "multigrid",
                          lambda model: model.adapt(images))
support.untrained_workdir(
    root + "/ppgn", "ppgn",
    lambda model: model.statistics["code_max"].assign(3.0),
    model=dict(captioner=False, condition_net=False,
               class_condition="encoder"))
support.untrained_workdir(root + "/gran", "gran")
support.untrained_workdir(root + "/lapgan", "lapgan")
results = {}
for name, argv in runs.items():
  argv = ["evaluate"] + [a.replace("{root}", root) for a in argv]
  printed = io.StringIO()
  try:
    with contextlib.redirect_stdout(printed):
      evaluate.main(flags.FLAGS(argv))
    results[name] = {"printed": printed.getvalue()}
  except app.UsageError as error:
    results[name] = {"error": str(error)}
  finally:
    flags.FLAGS.unparse_flags()
with open(results_path, "w") as f:
  json.dump(results, f)
"""

RUNS = {
    "multigrid": ["chains", "--workdir={root}/multigrid",
                  "--output={root}/out/multigrid", "--num_chains=3",
                  "--num_steps=8", "--num_chain_frames=2",
                  "--num_coordinates=2", "--seed=4"],
    "ppgn": ["chains", "--workdir={root}/ppgn",
             "--output={root}/out/ppgn/result.json", "--num_chains=3",
             "--num_steps=8", "--class_id=4"],
    "gran": ["chains", "--workdir={root}/gran", "--output={root}/out/gran",
             "--num_chains=3", "--num_steps=3"],
    "lapgan": ["chains", "--workdir={root}/lapgan",
               "--output={root}/out/lapgan"],
    "too_few_steps": ["chains", "--workdir={root}/multigrid",
                      "--output={root}/out/x", "--num_steps=6"],
    "other_sampler": ["chains", "--workdir={root}/multigrid",
                      "--output={root}/out/x", "--samplers=mala_approx"],
    "gran_samplers": ["chains", "--workdir={root}/gran",
                      "--output={root}/out/x", "--samplers=langevin"],
    "unconditional_class": ["chains", "--workdir={root}/multigrid",
                            "--output={root}/out/x", "--class_id=3"],
    "ppgn_class": ["chains", "--workdir={root}/ppgn", "--output={root}/out/x",
                   "--class_id=12"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("chains"))
  results_path = os.path.join(root, "results.json")
  process = support.python("-c", DRIVER, root, json.dumps(RUNS),
                           results_path, timeout=400)
  assert process.returncode == 0, process.stderr[-3000:]
  with open(results_path) as f:
    return root, json.load(f)


def saved_json(results, name):
  """The JSON a run printed (it failed if it has an error)."""
  assert "error" not in results[name], results[name]
  return json.loads(results[name]["printed"])


def test_multigrid_chains_report_every_sampler_and_grid(runs):
  root, results = runs
  printed = saved_json(results, "multigrid")
  with open(os.path.join(root, "out", "multigrid", "chains.json")) as f:
    saved = json.load(f)
  assert saved["family"] == "multigrid" and saved["mcmc"]
  assert (saved["num_chains"], saved["num_steps"], saved["num_warmup"]) == (
      3, 8, 4)
  assert saved["source"]["seed"] == 4 and saved["source"]["step"] == 0
  assert sorted(saved["samplers"]) == ["hmc", "langevin"]
  for sampler, part in saved["samplers"].items():
    assert sorted(part["stages"]) == ["grid4", "grid8"]
    for stage in part["stages"].values():
      log_prob = stage["log_prob"]
      assert log_prob["ess"] > 0 and log_prob["rhat"] > 0
      assert log_prob["name"].startswith("log p_g(x)")
      assert list(stage["coordinates"])[0] in ("pixel[2,2,0]",
                                               "pixel[4,4,0]")
      assert len(stage["coordinates"]) == 2
      assert len(stage["log_prob_trace"]) == 8
      assert len(stage["log_prob_trace"][0]) == 3
      if sampler == "hmc":
        assert 0.0 <= stage["acceptance_rate"] <= 1.0
      else:
        assert stage["acceptance_rate"] is None
    # Per grid: log p and 2 pixels, 150 pixels each.
    assert Image.open(part["traces_png"]).size == (640, 2 * 3 * 150)
    gif = Image.open(part["chains_gif"])
    assert gif.n_frames == 1 + 2 * 2  # Start, then 2 frames per grid.
    assert part["traces_png"].endswith(f"traces_{sampler}.png")
  # The printed JSON is the file's without the raw traces.
  stage = printed["samplers"]["hmc"]["stages"]["grid8"]
  assert "log_prob_trace" not in stage
  assert stage["log_prob"] == saved["samplers"]["hmc"]["stages"]["grid8"][
      "log_prob"]


def test_ppgn_chains_trace_codes_of_one_class_beside_a_json_file(runs):
  root, results = runs
  saved = saved_json(results, "ppgn")
  assert saved["class_id"] == 4 and list(saved["samplers"]) == [
      "mala_approx"]
  part = saved["samplers"]["mala_approx"]
  assert list(part["stages"]) == ["code"]
  assert list(part["stages"]["code"]["coordinates"]) == [
      "code[0]", "code[5]", "code[10]", "code[15]"]
  assert part["stages"]["code"]["log_prob"]["name"].startswith(
      "log p(y = class | G(h))")
  folder = os.path.join(root, "out", "ppgn")
  assert sorted(os.listdir(folder)) == [
      "result.json", "result_chains_mala_approx.gif",
      "result_traces_mala_approx.png"]
  # The start, then one frame per step (20 frames asked, 8 steps).
  assert Image.open(part["chains_gif"]).n_frames == 1 + 8
  assert Image.open(part["traces_png"]).size == (640, 5 * 150)


def test_gran_shows_its_canvas_over_the_steps_without_chain_statistics(runs):
  root, results = runs
  saved = saved_json(results, "gran")
  assert not saved["mcmc"] and "no ESS or R-hat" in saved["notes"]
  assert (saved["num_canvas_steps"], saved["trained_canvas_steps"]) == (3, 2)
  assert len(saved["mean_abs_canvas_change"]) == 3
  assert all(v >= 0 for v in saved["mean_abs_canvas_change"])
  assert Image.open(saved["canvas_gif"]).n_frames == 3
  assert saved["canvas_panel"] == os.path.join(root, "out", "gran",
                                               "canvases.png")


@pytest.mark.parametrize("name, expected", [
    ("lapgan", "--workdir='{root}/lapgan': `apps.evaluate chains` needs a "
     "model that runs MCMC chains that can be traced"),
    ("lapgan", "this is a 'lapgan' model (family='lapgan'), which does not. "
     "Instead, a LAPGAN samples each level in one pass, with no chain to "
     "diagnose; look at its refinements with `python -m apps.sample "
     "--refine_panel=PANEL.png`. Families that can: multigrid, ppgn "
     "(chain_diagnostics); gran (canvas_steps)."),
    ("too_few_steps", "--num_steps=6 is too few: ESS and R-hat use the "
     "second half of each chain and need >= 8 steps, e.g. --num_steps=200."),
    ("other_sampler", "--samplers=mala_approx: a 'multigrid' model's chains "
     "run ['langevin', 'hmc']; pass some of them, e.g. "
     "--samplers=langevin,hmc."),
    ("gran_samplers", "--samplers=['langevin'] applies to families whose "
     "sampler is an MCMC chain; a 'gran' model draws its canvas steps "
     "without one. Drop it."),
    ("unconditional_class", "--class_id: class_id=3 needs a "
     "class-conditional model; this one is unconditional"),
    ("ppgn_class", "--class_id: class_id=12 must be in [0, 10)"),
])
def test_bad_model_inputs_name_the_flag_and_the_fix(runs, name, expected):
  root, results = runs
  assert expected.format(root=root) in results[name].get("error", ""), (
      results[name])


@pytest.mark.parametrize("args, expected", [
    (["chains"], "`apps.evaluate chains` needs --workdir=DIR, a workdir "
     "trained with apps.train."),
    (["chains", "--workdir=/no/such/dir"], "--workdir='/no/such/dir' does "
     "not exist: train one with python -m apps.train --workdir=... first."),
    (["chains", "--workdir={tmp}"], "`apps.evaluate chains` needs --output: "
     "a folder (for chains.json and the figures) or a .json file"),
    (["chains", "--workdir={tmp}", "--output={tmp}/o", "--num_chains=1"],
     "--num_chains=1 must be >= 2 (R-hat compares independent chains), "
     "e.g. 8."),
    (["chains", "--workdir={tmp}", "--output={tmp}/o", "--num_steps=0"],
     "--num_steps=0 must be a positive integer, e.g. 200."),
    (["chains", "--workdir={tmp}", "--output={tmp}/o",
      "--num_coordinates=0"],
     "--num_coordinates=0 must be a positive integer, e.g. 4."),
    (["chains", "--workdir={tmp}", "--output={tmp}/o",
      "--num_chain_frames=0"],
     "--num_chain_frames=0 must be a positive integer, e.g. 20."),
    (["chains", "--workdir={tmp}", "--output={tmp}/o", "--class_id=-1"],
     "--class_id=-1 must be >= 0, e.g. --class_id=3."),
    (["chains", "--workdir={tmp}", "--output={tmp}/o", "--num_labelled=5"],
     "--num_labelled=['5'] does not apply to `apps.evaluate chains`; drop "
     "it."),
    (["chains", "--workdir={tmp}", "--samples=s.npz"],
     "--samples does not apply to `apps.evaluate chains`"),
    (["features", "--workdir={tmp}", "--num_coordinates=3"],
     "--num_coordinates=3 does not apply to `apps.evaluate features`; drop "
     "it."),
    (["--workdir={tmp}", "--num_chain_frames=3"], "--num_chain_frames=3 "
     "does not apply to `apps.evaluate sample quality (no subcommand)`"),
])
def test_bad_flags_are_refused_before_any_work(args, expected, tmp_path):
  result = support.run_module(
      "apps.evaluate", *[a.format(tmp=tmp_path) for a in args], timeout=120)
  assert result.returncode == 1
  assert expected in result.stderr, result.stderr[-2000:]
  assert not os.path.exists(tmp_path / "o")


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
