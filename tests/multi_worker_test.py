"""--strategy=multi_worker: 2 worker processes on 127.0.0.1 equal one process.

Two workers (MultiWorkerMirroredStrategy, TF_CONFIG with two free local
ports) train the tiny digits config for a few steps into one workdir. Both
must finish with bitwise equal weights; only the chief writes the workdir
(one checkpoint per save, one TensorBoard events file, its samples, no
scratch folder left); and every step's losses and the final weights equal
a single-process run with the same global batch and seed. That comparison
is exact in its inputs: the data order is a pure function of (seed, step)
and each global replica takes its rows of the global batch (see
tfgen/train/input.py), and the Langevin noise is the same rows of one
global noise batch, so only the all-reduce's summation order differs.

A worker whose peer never starts waits forever, so every process runs under
a deadline and is killed by its PID if it is still running.
"""

import glob
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import support
from tfgen import families
from tfgen.train import loop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_STEPS = 4  # A PPGN's tiny stages (1 step each) all run.
DEADLINE_S = 600  # Every family's run on one cluster.

WORKER = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from tfgen.train import strategy as strategy_lib
strategy = strategy_lib.make_strategy("multi_worker")  # Before other TF ops.
import numpy as np
from tfgen import config as config_lib
from tfgen.train import loop

# One run per (config, workdir, weights file) of argv[1], in order, on one
# cluster (a cluster start-up costs more than a tiny run).
reports = {}
for family, config_json, workdir, weights in json.loads(sys.argv[1]):
  config = config_lib.ExperimentConfig.from_json(config_json)
  history = []
  trainer = loop.Trainer(config, workdir, strategy=strategy,
                         printer=lambda _: None,
                         on_step=lambda step, metrics: history.append(metrics))
  trainer.run()
  np.savez(weights, *[np.asarray(w) for w in trainer.model.weights])
  reports[family] = dict(history=history, chief=trainer.is_chief,
                         replicas=strategy.num_replicas_in_sync,
                         step=trainer.step)
print(json.dumps(reports))
"""


def tiny_config(strategy, family="multigrid"):
  return support.tiny_config(
      family, num_steps=NUM_STEPS, batch_size=8, learning_rate=1e-3,
      strategy=strategy, checkpoint_every=2, summary_every=1,
      sample_every=NUM_STEPS, num_sample_images=4)


def free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  try:
    for s in sockets:
      s.bind(("127.0.0.1", 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def run_workers(tmp_path, runs):
  """Starts 2 workers running `runs` ([family, config JSON, workdir name]);
  returns their (returncode, stdout, stderr) and the scratch folder."""
  ports = free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
  scratch = tmp_path / "tmp"
  scratch.mkdir()
  processes = []
  try:
    for index in range(2):
      env = dict(os.environ, TMPDIR=str(scratch), TF_CONFIG=json.dumps(
          {"cluster": cluster, "task": {"type": "worker", "index": index}}))
      plan = [[family, config_json, str(tmp_path / name),
               str(tmp_path / f"{name}_weights{index}.npz")]
              for family, config_json, name in runs]
      processes.append(subprocess.Popen(
          [sys.executable, "-c", WORKER, json.dumps(plan)],
          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
          text=True))
    deadline = time.time() + DEADLINE_S
    outputs = []
    for process in processes:
      try:
        out, err = process.communicate(
            timeout=max(1.0, deadline - time.time()))
      except subprocess.TimeoutExpired:
        pytest.fail(f"worker pid {process.pid} still running after "
                    f"{DEADLINE_S} s (a hung collective?)")
      outputs.append((process.returncode, out, err))
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()  # By PID.
        process.wait(timeout=30)
  return outputs, scratch


# Every registered family (the conformance suite's 2-process check), all
# trained in turn by one pair of worker processes.
@pytest.fixture(scope="module")
def cluster_runs(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("multi_worker")
  runs = [[family, tiny_config("multi_worker", family).to_json(),
           f"run_{family}"] for family in families.names()]
  outputs, scratch = run_workers(tmp_path, runs)
  reports = []
  for index, (code, out, err) in enumerate(outputs):
    assert code == 0, f"worker {index} exited {code}:\n{err[-3000:]}"
    reports.append(json.loads(out.strip().splitlines()[-1]))
  return tmp_path, reports, scratch


@pytest.fixture(scope="module", params=families.names())
def family(request):
  return request.param


@pytest.fixture(scope="module")
def two_workers(cluster_runs, family):
  tmp_path, reports, scratch = cluster_runs
  weights = [list(np.load(tmp_path / f"run_{family}_weights{i}.npz").values())
             for i in range(2)]
  return dict(reports=[r[family] for r in reports], weights=weights,
              workdir=tmp_path / f"run_{family}", scratch=scratch)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, family):
  history = []
  trainer = loop.Trainer(
      tiny_config("default", family),
      str(tmp_path_factory.mktemp(f"single_{family}")),
      printer=lambda _: None,
      on_step=lambda step, metrics: history.append(metrics))
  trainer.run()
  return dict(history=history, info=trainer.model.metric_info(),
              weights=[np.asarray(w) for w in trainer.model.weights])


def test_both_workers_finish_with_bitwise_equal_weights(two_workers):
  chief, other = two_workers["reports"]
  assert chief["replicas"] == other["replicas"] == 2
  assert chief["step"] == other["step"] == NUM_STEPS
  assert (chief["chief"], other["chief"]) == (True, False)
  for a, b in zip(*two_workers["weights"]):
    np.testing.assert_array_equal(a, b)


def test_only_the_chief_writes_the_workdir(two_workers, family):
  workdir = two_workers["workdir"]
  checkpoints = workdir / "checkpoints"
  # Saved at steps 2 and 4 (checkpoint_every; 4 is also the end), once each.
  assert sorted(os.listdir(checkpoints)) == [
      "checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index",
      "ckpt-4.data-00000-of-00001", "ckpt-4.index"]
  assert len(glob.glob(str(workdir / "summaries" / "events.out.*"))) == 1
  assert sorted(os.listdir(workdir / "samples")) == sorted(
      f"step{NUM_STEPS:07d}_{name}.png" for name in
      families.build_model(tiny_config("default", family)).sample_names())
  assert (workdir / "config.json").exists()
  # The non-chief's scratch checkpoints were removed.
  assert os.listdir(two_workers["scratch"]) == []


def test_losses_and_weights_equal_one_process_with_the_global_batch(
    two_workers, one_process):
  history = two_workers["reports"][0]["history"]
  assert len(history) == len(one_process["history"]) == NUM_STEPS
  for step, (multi, single) in enumerate(zip(history,
                                             one_process["history"])):
    for name in single:
      # Means over the batch (grad_l1, sample_abs_max and accuracies are
      # per-replica norms, maxima or counts averaged over replicas).
      quantity = one_process["info"][name].quantity
      if quantity.endswith("loss") or quantity.startswith("score_"):
        assert multi[name] == pytest.approx(single[name], abs=1e-5), (
            step + 1, name)
  scale = max(float(np.max(np.abs(w))) for w in one_process["weights"])
  assert scale > 1e-3
  # 5e-5: the all-reduce's summation order differs; a LAPGAN's small
  # batch-norm statistics move by up to 1.5e-5 after 4 steps (measured).
  for a, b in zip(two_workers["weights"][0], one_process["weights"]):
    np.testing.assert_allclose(a, b, atol=5e-5)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
