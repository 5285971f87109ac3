"""`python -m export`: a trained workdir as a TF Serving model version.

The export is checked the way TF Serving loads it: `saved_model_cli run` in
fresh processes and the TF1 session loader, plus the versioned layout,
models.config, and a writer killed mid-write.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

import support
from tfgen import families
from tfgen.train import workdir as workdir_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def run(args, timeout=240):
  return subprocess.run(args, cwd=REPO, capture_output=True, text=True,
                        timeout=timeout, env=ENV)


def run_module(module, *args, timeout=240):
  return support.run_module(module, *args, timeout=timeout)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("trained"))
  result = run_module(
      "apps.train", f"--workdir={path}", "--image_size=8",
      "--grid_sizes=1,4,8", "--num_langevin_steps=2", "--net_width=0.125",
      "--batch_size=8", "--num_steps=2", "--start_bank_size=16",
      "--num_sample_images=4")
  assert result.returncode == 0, result.stderr[-2000:]
  return path


@pytest.fixture(scope="module")
def base(workdir, tmp_path_factory):
  """An export base holding multigrid/1 (exported once per module)."""
  path = str(tmp_path_factory.mktemp("models"))
  result = run_module("export", f"--workdir={workdir}",
                      f"--export_base={path}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "multigrid/1 (version 1" in result.stdout, result.stdout
  return path


def saved_model_cli(*args, timeout=120):
  """Runs TensorFlow's `saved_model_cli` in a new process.

  The module its console script runs (`python -m` of it, through the
  tests' warm fork: no tfgen code is imported in that process); the
  console script itself runs in the family conformance suite.
  """
  return support.python("-m", "tensorflow.python.tools.saved_model_cli",
                        *args, timeout=timeout)


def cli_run(version_dir, signature, input_exprs, outdir):
  """`saved_model_cli run` of one signature in a fresh process."""
  return saved_model_cli(
      "run", "--dir", version_dir, "--tag_set", "serve", "--signature_def",
      signature, "--input_exprs", input_exprs, "--outdir", str(outdir),
      "--overwrite")


def cli_sample(version_dir, seeds, outdir, signature="serving_default",
               more_inputs=""):
  result = cli_run(version_dir, signature, f"seed={seeds!r}{more_inputs}",
                   outdir)
  assert result.returncode == 0, result.stderr[-3000:]
  return np.load(os.path.join(str(outdir), "images.npy"))


def test_export_writes_the_versioned_layout_and_models_config(base):
  model_dir = os.path.join(base, "multigrid")
  assert sorted(os.listdir(model_dir)) == ["1"]
  version = os.path.join(model_dir, "1")
  for name in ("saved_model.pb", "variables",
               "assets.extra/tf_serving_warmup_requests",
               "assets.extra/tfgen_export.json"):
    assert os.path.exists(os.path.join(version, name)), name
  config = model_server_config_pb2.ModelServerConfig()
  with open(os.path.join(base, "models.config")) as f:
    text_format.Parse(f.read(), config)
  [entry] = config.model_config_list.config
  assert (entry.name, entry.base_path, entry.model_platform) == (
      "multigrid", "/models/multigrid", "tensorflow")
  with open(os.path.join(version, "assets.extra", "tfgen_export.json")) as f:
    metadata = json.load(f)
  assert metadata["serving"]["num_langevin_steps"] == [2, 2]
  assert metadata["train_step"] == 2
  assert metadata["experiment_config"]["model"]["grid_sizes"] == [1, 4, 8]


def test_saved_model_cli_show_lists_the_signatures(base):
  result = saved_model_cli("show", "--dir", os.path.join(base, "multigrid",
                                                          "1"), "--all")
  assert result.returncode == 0, result.stderr[-2000:]
  for text in ("signature_def['serving_default']", "inputs['seed']",
               "DT_INT64", "outputs['images']", "outputs['images_bytes']",
               "signature_def['inpaint']", "inputs['mask']",
               "signature_def['get_config']"):
    assert text in result.stdout, text


def test_saved_model_cli_run_is_reproducible_and_equals_in_process(
    base, workdir, tmp_path):
  version = os.path.join(base, "multigrid", "1")
  first = cli_sample(version, [1, 2, 3], tmp_path / "a")
  again = cli_sample(version, [1, 2, 3], tmp_path / "b")
  assert first.shape == (3, 8, 8, 1) and first.dtype == np.float32
  assert 0.0 <= first.min() and first.max() <= 1.0
  np.testing.assert_array_equal(first, again)  # Across processes.
  assert np.abs(first[0] - first[1]).max() > 1e-3
  model, _, _ = workdir_lib.load_model(workdir)
  expected = tf.function(lambda s: model.sample_from_seeds(s)[-1])(
      tf.constant([1, 2, 3], tf.int64)).numpy()
  np.testing.assert_array_equal(
      first, np.clip((expected + 1.0) / 2.0, 0.0, 1.0))  # Bit for bit.


def test_saved_model_cli_runs_sample_steps_and_checks_its_range(
    base, workdir, tmp_path):
  version = os.path.join(base, "multigrid", "1")
  first = cli_sample(version, [1, 2], tmp_path / "a", "sample_steps",
                     ";num_steps=[3,3]")
  again = cli_sample(version, [1, 2], tmp_path / "b", "sample_steps",
                     ";num_steps=[3,3]")
  np.testing.assert_array_equal(first, again)  # Across processes.
  model, _, _ = workdir_lib.load_model(workdir)
  expected = tf.function(lambda s: model.sample_from_seeds(
      s, num_langevin_steps=3)[-1])(tf.constant([1, 2], tf.int64)).numpy()
  np.testing.assert_array_equal(
      first, np.clip((expected + 1.0) / 2.0, 0.0, 1.0))  # Bit for bit.
  bad = cli_run(version, "sample_steps", "seed=[1];num_steps=[1001]",
                tmp_path / "c")
  assert bad.returncode != 0
  assert "InvalidArgument" in bad.stderr, bad.stderr[-2000:]
  # The words of export.serve's HTTP 400 (tests/client_test.py).
  assert ("num_steps: values [1001] must be in [1, 1000] (the max_steps of "
          "this export).") in bad.stderr, bad.stderr[-2000:]


def test_tf1_session_loader_runs_the_signatures(base):
  version = os.path.join(base, "multigrid", "1")
  with tf.Graph().as_default() as graph:
    with tf.compat.v1.Session(graph=graph) as session:
      meta_graph = tf.compat.v1.saved_model.loader.load(
          session, ["serve"], version)
      sample = meta_graph.signature_def["serving_default"]
      images, pngs = session.run(
          [sample.outputs["images"].name, sample.outputs["images_bytes"].name],
          {sample.inputs["seed"].name: [4, 5]})
      inpaint = meta_graph.signature_def["inpaint"]
      mask = np.zeros([1, 8, 8, 1], np.float32)
      mask[:, :4] = 1.0
      image = np.full([1, 8, 8, 1], 0.25, np.float32)
      filled = session.run(inpaint.outputs["images"].name, {
          inpaint.inputs["image"].name: image,
          inpaint.inputs["mask"].name: mask,
          inpaint.inputs["seed"].name: [9]})
      config = meta_graph.signature_def["get_config"]
      metadata = json.loads(session.run(config.outputs["config"].name))
  assert images.shape == (2, 8, 8, 1) and len(pngs) == 2
  assert pngs[0].startswith(b"\x89PNG")
  np.testing.assert_allclose(filled[:, 4:], 0.25, atol=1e-6)
  assert metadata["family"] == "multigrid"


def test_existing_version_is_refused_then_overwritten_and_next_is_written(
    workdir, tmp_path):
  base_dir = str(tmp_path)
  args = [f"--workdir={workdir}", f"--export_base={base_dir}",
          "--model_name=mg", "--nowarmup", "--noverify"]
  assert run_module("export", *args, "--version=3").returncode == 0
  refused = run_module("export", *args, "--version=3")
  assert refused.returncode != 0
  assert "exists: pass --overwrite" in refused.stderr, refused.stderr[-2000:]
  result = run_module("export", *args, "--version=3", "--overwrite",
                      "--serving_steps=1", "--serving_base_path=/srv",
                      "--max_steps=7")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "num_steps per request in [1, 7] (sample_steps)" in result.stdout
  with open(os.path.join(base_dir, "mg", "3", "assets.extra",
                         "tfgen_export.json")) as f:
    serving = json.load(f)["serving"]
  assert serving["num_langevin_steps"] == [1, 1]
  assert (serving["steps"]["max"], serving["steps"]["default"]) == (7, [1, 1])
  assert not os.path.exists(os.path.join(base_dir, "mg", "3", "assets.extra",
                                         "tf_serving_warmup_requests"))
  assert sorted(os.listdir(os.path.join(base_dir, "mg"))) == ["3"]
  assert 'base_path: "/srv/mg"' in open(os.path.join(
      base_dir, "models.config")).read()


def test_a_writer_killed_mid_write_leaves_no_partial_version(
    workdir, tmp_path):
  base_dir = str(tmp_path)
  model_dir = os.path.join(base_dir, "multigrid")
  process = subprocess.Popen(
      [sys.executable, "-m", "export", f"--workdir={workdir}",
       f"--export_base={base_dir}"], cwd=REPO, env=ENV,
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  killed_in = None
  try:
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
      scratch = [n for n in (os.listdir(model_dir)
                             if os.path.isdir(model_dir) else [])
                 if n.startswith(".tmp-")]
      if scratch:
        os.kill(process.pid, signal.SIGKILL)
        killed_in = scratch[0]
        break
      time.sleep(0.005)
  finally:
    if process.poll() is None:
      process.kill()
    process.wait(timeout=30)
  assert killed_in is not None, "the exporter finished before it was killed"
  assert process.returncode == -signal.SIGKILL
  assert not [n for n in os.listdir(model_dir) if n.isdigit()], (
      os.listdir(model_dir))
  result = run_module("export", f"--workdir={workdir}",
                      f"--export_base={base_dir}", "--nowarmup")
  assert result.returncode == 0, result.stderr[-2000:]
  assert sorted(os.listdir(model_dir)) == ["1"]  # Scratch cleaned up.


@pytest.mark.parametrize("args, expected", [
    (["--export_base=/tmp/x"], "--workdir is required"),
    (["--workdir={workdir}"], "--export_base is required"),
    (["--workdir={tmp}", "--export_base={tmp}"], "no config.json"),
    (["--workdir={workdir}", "--export_base={tmp}", "--version=0"],
     "--version=0 must be >= 1"),
    (["--workdir={workdir}", "--export_base={tmp}", "--max_batch=0"],
     "--max_batch=0 must be >= 1"),
    (["--workdir={workdir}", "--export_base={tmp}", "--model_name=a/b"],
     "--model_name='a/b' must start"),
    (["--workdir={workdir}", "--export_base={tmp}", "--serving_steps=x"],
     "--serving_steps=x must be integers"),
    (["--workdir={workdir}", "--export_base={tmp}", "--serving_steps=1,2,3"],
     "num_langevin_steps=[1, 2, 3] must be one int"),
    (["--workdir={workdir}", "--export_base={tmp}", "--max_steps=0"],
     "--max_steps=0 must be >= 1, e.g. --max_steps=1000 (or omit it)."),
    (["--workdir={workdir}", "--export_base={tmp}", "--max_steps=1"],
     "--max_steps=1 is below this export's default steps [2, 2] (Langevin "
     "steps on every grid; --serving_steps or the trained ones): raise "
     "--max_steps to at least 2 or lower --serving_steps."),
])
def test_bad_arguments_are_reported(workdir, tmp_path, args, expected):
  args = [a.format(tmp=tmp_path, workdir=workdir) for a in args]
  result = run_module("export", *args)
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-2000:]



# ---- LAPGAN --------------------------------------------------------------------


@pytest.fixture(scope="module")
def lapgan_version(tmp_path_factory):
  """(workdir, version dir) of a tiny trained class-conditional LAPGAN."""
  workdir = str(tmp_path_factory.mktemp("lapgan"))
  result = run_module(
      "apps.train", f"--workdir={workdir}", "--family=lapgan",
      "--image_size=8", "--level_sizes=4,8", "--noise_dim=4",
      "--generator_width=0.125", "--discriminator_width=0.125",
      "--condition_on_label", "--batch_size=8", "--num_steps=2",
      "--num_sample_images=4")
  assert result.returncode == 0, result.stderr[-2000:]
  base_dir = str(tmp_path_factory.mktemp("lapgan_models"))
  result = run_module("export", f"--workdir={workdir}",
                      f"--export_base={base_dir}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "lapgan/1 (version 1; signatures serving_default, refine, " \
      "get_config)" in result.stdout, result.stdout
  return workdir, os.path.join(base_dir, "lapgan", "1")


def test_lapgan_saved_model_cli_run_samples_and_refines(lapgan_version,
                                                        tmp_path):
  workdir, version = lapgan_version
  outputs = []
  for name in ("a", "b"):
    result = saved_model_cli(
        "run", "--dir", version, "--tag_set", "serve", "--signature_def",
        "serving_default", "--input_exprs", "seed=[1,2,3];class_id=[0,5,9]",
        "--outdir", str(tmp_path / name), "--overwrite")
    assert result.returncode == 0, result.stderr[-3000:]
    outputs.append(np.load(str(tmp_path / name / "images.npy")))
  np.testing.assert_array_equal(outputs[0], outputs[1])  # Across processes.
  assert outputs[0].shape == (3, 8, 8, 1)
  model, _, _ = workdir_lib.load_model(workdir)
  expected = tf.function(lambda s, c: model.sample_from_seeds(s, c)[-1])(
      tf.constant([1, 2, 3], tf.int64), tf.constant([0, 5, 9], tf.int32))
  np.testing.assert_array_equal(
      outputs[0], np.clip((expected.numpy() + 1.0) / 2.0, 0.0, 1.0))
  coarse = [[[[0.25]] * 4] * 4] * 2
  result = saved_model_cli(
      "run", "--dir", version, "--tag_set", "serve", "--signature_def",
      "refine", "--input_exprs",
      f"image={coarse!r};seed=[7,8];class_id=[3,3]",
      "--outdir", str(tmp_path / "refine"), "--overwrite")
  assert result.returncode == 0, result.stderr[-3000:]
  refined = np.load(str(tmp_path / "refine" / "images.npy"))
  assert refined.shape == (2, 8, 8, 1)
  assert np.abs(refined[0] - refined[1]).max() > 0  # Seeds differ.
  bad = saved_model_cli(
      "run", "--dir", version, "--tag_set", "serve", "--signature_def",
      "serving_default", "--input_exprs", "seed=[1];class_id=[10]",
      "--outdir", str(tmp_path / "bad"), "--overwrite")
  assert bad.returncode != 0
  assert "must be in [0, 10)" in bad.stderr, (
      bad.stderr[-2000:])


def test_lapgan_export_refuses_serving_steps(lapgan_version, tmp_path):
  workdir, _ = lapgan_version
  result = run_module("export", f"--workdir={workdir}",
                      f"--export_base={tmp_path}", "--serving_steps=3")
  assert result.returncode != 0
  able = ", ".join(f for f in families.names()
                   if families.get(f).has("serving_steps"))
  assert (f"applies to families with sampler steps ({able}); a 'lapgan' "
          "model has none. Drop the flag.") in result.stderr, (
      result.stderr[-2000:])

if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
