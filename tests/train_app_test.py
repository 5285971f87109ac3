"""`python -m apps.train`: flagfiles, resume after an interruption, bad input.

Each case runs the app as a user would, in a subprocess.
"""

import dataclasses
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import support

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [*support.TINY_MULTIGRID_FLAGS, "--summary_every=5"]


def run_app(*args, timeout=240):
  env = dict(os.environ)
  env.pop("TF_CONFIG", None)
  return support.python("-m", "apps.train", *args, timeout=timeout, env=env)


def test_flagfile_trains_and_later_flags_override_it(tmp_path):
  flagfile = tmp_path / "tiny.cfg"
  flagfile.write_text("\n".join(TINY + ["--num_steps=50"]) + "\n")
  result = run_app(f"--flagfile={flagfile}", "--num_steps=3",
                   f"--workdir={tmp_path / 'run'}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "Done" in result.stdout and "at step 3" in result.stdout
  assert os.path.exists(tmp_path / "run" / "samples" / "step0000003_grid8.png")


_VALIDATE_FLAGFILES = r"""
import glob, json, sys
from absl import flags
from apps import train
results = {}
for path in sorted(glob.glob("apps/configs/*.cfg")):
  try:
    flags.FLAGS(["train", "--flagfile=" + path, "--workdir=unused"])
    config = train.config_from_flags()
    config.validate()
    results[path] = [config.family, getattr(config.model, "method", None)]
  except Exception as error:  # pylint: disable=broad-except
    results[path] = "ERROR " + str(error)
  finally:
    flags.FLAGS.unparse_flags()
print(json.dumps(results))
"""


def test_every_shipped_flagfile_gives_a_valid_config():
  result = support.python("-c", _VALIDATE_FLAGFILES, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  results = json.loads(result.stdout.strip().splitlines()[-1])
  errors = {k: v for k, v in results.items() if isinstance(v, str)}
  assert not errors
  methods = {v[1] for v in results.values()}
  assert {"multigrid", "single_grid", "cd", "persistent_cd"} <= methods


def test_interrupted_run_resumes_at_its_checkpoint(tmp_path):
  workdir = tmp_path / "run"
  args = TINY + ["--num_steps=400", "--checkpoint_every=10",
                 "--sample_every=400", f"--workdir={workdir}"]
  process = subprocess.Popen([sys.executable, "-m", "apps.train", *args],
                             cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 180
    while not glob.glob(str(workdir / "checkpoints" / "ckpt-*.index")):
      assert process.poll() is None, process.stderr.read()[-2000:]
      assert time.time() < deadline, "no checkpoint within 180 s"
      time.sleep(0.2)
    process.send_signal(signal.SIGINT)  # Ctrl-C part-way.
    process.wait(timeout=60)
  finally:
    if process.poll() is None:
      process.kill()
  steps = sorted(int(p.split("ckpt-")[1].split(".")[0]) for p in
                 glob.glob(str(workdir / "checkpoints" / "ckpt-*.index")))
  interrupted_at = steps[-1]
  assert 10 <= interrupted_at < 400
  result = run_app(*args)
  assert result.returncode == 0, result.stderr[-2000:]
  assert f"at step {interrupted_at}" in result.stdout.split("\n")[0] or (
      "Resuming" in result.stdout and f"step {interrupted_at}" in
      result.stdout)
  assert "at step 400" in result.stdout


@pytest.mark.parametrize("flags, expected", [
    (["--dataset=imagenet"], "dataset='imagenet'"),
    (["--grid_sizes=1,4,16"], "image_size=8"),
    (["--grid_sizes=1,8,4"], "strictly increasing"),
    (["--num_langevin_steps=0"], "num_langevin_steps=0"),
    (["--step_size=-0.1"], "step_size=[-0.1]"),
    (["--batch_size=0"], "batch_size=0"),
    (["--num_steps=-5"], "num_steps=-5"),
    (["--strategy=mirrored", "--num_cpu_devices=2", "--batch_size=7"],
     "not divisible by the 2 replicas"),
    (["--on_divergence=retry"],
     "--on_divergence=retry: value should be one of <stop|restore>"),
    (["--activation=foo"], "--activation=foo: value should be one of "
     "<leaky_relu|relu|"),
    (["--strategy=multi_worker"],
     "strategy='multi_worker' needs the TF_CONFIG environment variable"),
])
def test_bad_flags_fail_before_training_naming_flag_and_value(
    tmp_path, flags, expected):
  result = run_app(*TINY, *flags, f"--workdir={tmp_path / 'run'}")
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-2000:]
  assert not os.path.exists(tmp_path / "run" / "checkpoints")


@pytest.mark.parametrize("flags, expected", [
    (["--level_sizes=4,8"], "--level_sizes is a setting of --family=lapgan, "
     "not of --family=multigrid: drop it, or pass --family=lapgan."),
    (["--family=lapgan", "--grid_sizes=1,8"], "--grid_sizes is a setting of "
     "--family=multigrid, not of --family=lapgan"),
])
def test_a_flag_of_another_family_is_refused_naming_its_family(
    tmp_path, flags, expected):
  result = run_app(*flags, f"--workdir={tmp_path / 'run'}")
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-2000:]
  assert not os.path.exists(tmp_path / "run")


FAMILY_DEFAULTS = """
import json, sys
from absl import flags
from apps import train
flags.FLAGS(["train"] + sys.argv[1:])
print(json.dumps(train.config_from_flags().to_dict()["model"]))
"""


def test_model_settings_not_given_take_the_chosen_familys_defaults():
  from tfgen.models import lapgan_config  # pylint: disable=g-import-not-at-top
  result = support.python("-c", FAMILY_DEFAULTS, "--family=lapgan",
                          "--noise_dim=7", timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  model = json.loads(result.stdout.strip().splitlines()[-1])
  expected = dataclasses.asdict(lapgan_config.LapganConfig(noise_dim=7))
  assert model == {k: list(v) if isinstance(v, tuple) else v
                   for k, v in expected.items()}


def test_workdir_trained_with_other_settings_is_refused(tmp_path):
  workdir = f"--workdir={tmp_path / 'run'}"
  assert run_app(*TINY, "--num_steps=1", workdir).returncode == 0
  result = run_app(*TINY, "--num_steps=2", "--reference_stddev=0.5",
                   workdir)
  assert result.returncode != 0
  assert "reference_stddev: saved 1.0, requested 0.5" in result.stderr
  assert "new --workdir" in result.stderr


def test_divergence_restore_gives_up_after_the_retries_and_exits_1(
    tmp_path):
  result = run_app(*TINY, "--num_steps=3", "--step_size=1e10",
                   "--noclip_samples", "--on_divergence=restore",
                   "--max_divergence_retries=1",
                   f"--workdir={tmp_path / 'run'}")
  assert result.returncode == 1, result.stderr[-2000:]
  assert "halved step_size to [5000000000.0, 5000000000.0]" in result.stdout
  assert "ERROR: Training diverged at step 1: grid 4x4 first" in (
      result.stderr)
  assert "Gave up after 1 restores (--max_divergence_retries=1" in (
      result.stderr)


ADVICE = re.compile(r"To resume from it, rerun the same command with "
                    r"(--step_size=\S+) \(half the configured value\) or "
                    r"(--learning_rate=\S+);")


def test_the_rerun_that_the_divergence_advice_prints_is_accepted_and_resumes(
    tmp_path):
  workdir = tmp_path / "run"
  # Step size 600 diverges at step 3 (tiny model, seed 0). The weights it
  # learnt by step 2 diverge at smaller step sizes too (the advice cannot
  # undo that): the rerun is accepted and resumes, it need not finish. That
  # it finishes when the step size caused the divergence is
  # fault_tolerance_test's test_following_the_divergence_advice_finishes.
  flags = [*TINY, f"--workdir={workdir}", "--num_steps=4",
           "--checkpoint_every=1", "--noclip_samples"]
  result = run_app(*flags, "--step_size=600")
  assert result.returncode == 1, result.stderr[-2000:]
  assert "Training diverged at step 3" in result.stderr
  advice = ADVICE.search(result.stderr)
  assert advice, result.stderr[-2000:]
  assert advice.group(1) == "--step_size=300"
  result = run_app(*flags, advice.group(1))
  assert "holds a run with other settings" not in result.stderr
  assert "Resuming from" in result.stdout and "at step 2" in result.stdout
  with open(workdir / "config.json") as f:
    saved = json.load(f)
  assert saved["model"]["step_size"] == [300.0]
  assert saved["history"][0]["changed"] == {
      "model.step_size": {"from": [600.0], "to": [300.0]}}


def test_corrupt_checkpoint_is_refused_with_the_fix(tmp_path):
  workdir = f"--workdir={tmp_path / 'run'}"
  assert run_app(*TINY, "--num_steps=1", workdir).returncode == 0
  for path in glob.glob(str(tmp_path / "run" / "checkpoints" / "*.data-*")):
    with open(path, "wb") as f:
      f.write(b"garbage")
  result = run_app(*TINY, "--num_steps=2", workdir)
  assert result.returncode != 0
  assert "cannot be restored" in result.stderr



LAPGAN_TINY = ["--family=lapgan", "--image_size=8", "--level_sizes=4,8",
               "--noise_dim=4", "--generator_width=0.125",
               "--discriminator_width=0.125", "--batch_size=8"]


@pytest.mark.parametrize("flags, expected", [
    (["--level_sizes=2,8"], "each level must double the previous one"),
    (["--level_sizes=4"], "level_sizes=[4] cannot reach image_size=8"),
    (["--d_steps_per_g_step=0"], "d_steps_per_g_step=0"),
    (["--diversity_weight=-1"],
     "diversity_weight=-1.0 must be a finite number >= 0"),
    (["--condition_on_label", "--dataset=folder:/nonexistent"],
     "condition_on_label=True needs a labelled dataset"),
    (["--on_divergence=restore"], "--divergence_backoff=learning_rate"),
])
def test_bad_lapgan_flags_fail_before_training(tmp_path, flags, expected):
  result = run_app(*LAPGAN_TINY, *flags, f"--workdir={tmp_path / 'run'}")
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-2000:]
  assert not os.path.exists(tmp_path / "run" / "checkpoints")


CHECK_FLAGFILE = """
import json, sys
from absl import flags
from apps import train
flags.FLAGS(["train", "--flagfile=" + sys.argv[1]])
config = train.config_from_flags().validate()
print(json.dumps({"family": config.family, "model": config.to_dict()["model"],
                  "data": config.to_dict()["data"]}))
"""


@pytest.mark.parametrize("flagfile, dataset, level_sizes", [
    ("apps/configs/lapgan_digits.cfg", "digits", [4, 8, 16]),
    ("apps/configs/gan_digits.cfg", "digits", [16]),
    ("apps/configs/lapgan_cifar10.cfg", "cifar10", [8, 16, 32]),
])
def test_lapgan_flagfiles_describe_valid_configs(flagfile, dataset,
                                                 level_sizes):
  result = support.python("-c", CHECK_FLAGFILE, flagfile, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  config = json.loads(result.stdout.strip().splitlines()[-1])
  assert config["family"] == "lapgan"
  assert config["data"]["dataset"] == dataset
  assert config["model"]["level_sizes"] == level_sizes
  assert config["model"]["condition_on_label"] is True

if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
