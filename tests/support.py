"""Helpers shared by the tests: tiny models, tiny trained workdirs, apps.

Tiny means 8x8 digits, grids 1, 4, 8, nets at 1/8 width and 2 Langevin
steps: enough to exercise every code path in seconds, never to judge
quality (that is `-m slow`'s job).
"""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# `apps.train` flags of the tiny multigrid model (add --workdir, --num_steps).
TINY_MULTIGRID_FLAGS = ("--image_size=8", "--grid_sizes=1,4,8",
                        "--num_langevin_steps=2", "--net_width=0.125",
                        "--batch_size=8", "--start_bank_size=16",
                        "--num_sample_images=4")


def tiny_config(family: str = "multigrid", model: dict | None = None,
                **train_overrides):
  """A validated tiny 8x8 digits ExperimentConfig of any registered family.

  The model is the family's `tiny_settings` (tfgen.families) updated with
  `model`; training runs 4 steps of batch 8, checkpoints every 2.
  """
  # pylint: disable=g-import-not-at-top
  from tfgen import config as config_lib
  from tfgen import families
  row = families.get(family)
  train = dict(num_steps=4, batch_size=8, checkpoint_every=2, summary_every=1,
               sample_every=100, num_sample_images=4, learning_rate=1e-3)
  train.update(train_overrides)
  return config_lib.ExperimentConfig(
      family=family,
      data=config_lib.DataConfig(dataset="digits", image_size=8),
      model=row.config_class(**dict(row.tiny_settings, **(model or {}))),
      train=config_lib.TrainConfig(**train)).validate()


def tiny_flags(family: str) -> tuple[str, ...]:
  """`apps.train` flags of `tiny_config(family)` (add --workdir, --num_steps)."""
  from tfgen import families  # pylint: disable=g-import-not-at-top
  flags = [f"--family={family}", "--image_size=8", "--batch_size=8",
           "--num_sample_images=4"]
  for name, value in families.get(family).tiny_settings.items():
    if isinstance(value, (list, tuple)):
      value = ",".join(str(v) for v in value)
    flags.append(f"--{name}={value}")
  return tuple(flags)


def run_module(module: str, *args: str, timeout: float = 240,
               env: dict | None = None) -> subprocess.CompletedProcess:
  """`python -m module args...` from the repository root; output captured.

  Runs in a fork of a warm interpreter (`warm_run`) when `env` allows it,
  else in a fresh `python -m` process.
  """
  return python("-m", module, *args, timeout=timeout, env=env)


# --- A warm `python -m` -------------------------------------------------
# Most of a tiny app run is `import tensorflow` (5-20 s on a loaded CI
# core). The warm server imports TensorFlow, Keras and TFP once per pytest
# process (before any TF context exists, so forking is safe), then runs each
# `python -m module args` in a fork of itself: a fresh process (own flags,
# own TF context, own os.environ, exit status, stdout and stderr) whose only
# difference from `python -m` is that those three libraries are already
# imported. The tfgen, apps and export modules are NOT pre-imported: their
# import-time behaviour runs in every child as it would in `python -m`.
# TFGEN_TEST_COLD=1 turns it off (every run a fresh `python -m`). A forked
# child computes as fast as a fresh process (measured on an idle 2-core
# host: a compiled 512x512 matmul chain plus a conv, 2.27 / 2.13 s fresh
# vs 2.50 / 2.18 s forked; an earlier "slower" reading was taken under
# load); the suite went from 42 to 29 minutes with it.

# Environment variables a child may set differently from the server's (read
# after import). Any other difference (PYTHONPATH, TF_CPP_*, ...) is read at
# start-up or TF import, so such a run gets a fresh `python -m` process.
# PYTHONPATH is applied as Python's start-up would: after sys.path[0].
WARM_ENV_KEYS = frozenset({"TF_CONFIG", "TFGEN_CACHE_DIR", "TFGEN_TEST_TIMES",
                           "PYTHONPATH"})

_WARM_SERVER = r"""
import json, os, runpy, select, signal, socket, sys, traceback
import tensorflow, keras, tensorflow_probability  # The slow part, once.
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # Reap the per-request forks.
listener = socket.socket(socket.AF_UNIX)
listener.bind(sys.argv[1])
listener.listen(16)
print("ready", flush=True)
while True:
  ready, _, _ = select.select([listener, sys.stdin], [], [])
  if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1):
    sys.exit(0)  # The pytest process is gone (its end of stdin closed).
  if listener not in ready:
    continue
  conn, _ = listener.accept()
  if os.fork():
    conn.close()
    continue
  listener.close()
  signal.signal(signal.SIGCHLD, signal.SIG_DFL)
  request = json.loads(conn.makefile().readline())
  pid = os.fork()
  if pid == 0:  # The `python -m` process.
    conn.close()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
      out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
      os.dup2(out, fd)
      os.close(out)
    extra = request["env"].get("PYTHONPATH")
    if extra:
      sys.path[1:1] = [p or os.getcwd() for p in extra.split(os.pathsep)]
    flag, target, *args = request["argv"]
    code = 0
    try:
      if flag == "-m":
        sys.argv = [target, *args]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
      else:  # -c
        sys.argv = ["-c", *args]
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
    except SystemExit as error:
      code = error.code
      if code is None:
        code = 0
      elif not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    except BaseException:  # As `python -m` does: traceback, status 1.
      traceback.print_exc()
      code = 1
    try:
      sys.stdout.flush()
      sys.stderr.flush()
    finally:
      os._exit(code)
  conn.sendall(f"{pid}\n".encode())
  _, status = os.waitpid(pid, 0)
  code = (os.waitstatus_to_exitcode(status))
  conn.sendall(f"{code}\n".encode())
  conn.close()
  os._exit(0)
"""

_warm = {}  # pid of this pytest process -> (server Popen, socket path).


def _warm_server():
  """The (Popen, socket path) of this process's warm server, or None."""
  import atexit  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  if os.getpid() in _warm:
    return _warm[os.getpid()]
  _warm[os.getpid()] = None
  directory = tempfile.mkdtemp(prefix="tfgen_warm_")
  path = os.path.join(directory, "socket")
  server = subprocess.Popen([sys.executable, "-c", _WARM_SERVER, path],
                            cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
  if server.stdout.readline().strip() != "ready":
    server.kill()
    server.wait()
    return None
  atexit.register(lambda: (server.kill(), server.wait()))
  _warm[os.getpid()] = (server, path)
  return _warm[os.getpid()]


def python(*argv: str, timeout: float = 240, env: dict | None = None,
           cwd: str = REPO) -> subprocess.CompletedProcess:
  """`python -m module args...` or `python -c code args...` (`argv`) with
  `env` (default os.environ) in `cwd`, output captured as text: like
  `subprocess.run([sys.executable, *argv], ...)`, but in a fork of the warm
  server when it runs and `env` differs from os.environ only in
  WARM_ENV_KEYS."""
  import json  # pylint: disable=g-import-not-at-top
  import signal  # pylint: disable=g-import-not-at-top
  import socket  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  assert argv and argv[0] in ("-m", "-c"), argv
  command = [sys.executable, *argv]
  env = dict(os.environ if env is None else env)
  changed = {k for k in set(env) | set(os.environ)
             if env.get(k) != os.environ.get(k)}
  server = None
  if not os.environ.get("TFGEN_TEST_COLD") and changed <= WARM_ENV_KEYS:
    server = _warm_server()
  if server is None:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
  with tempfile.TemporaryDirectory(prefix="tfgen_run_") as directory:
    outputs = {name: os.path.join(directory, name)
               for name in ("stdout", "stderr")}
    with socket.socket(socket.AF_UNIX) as conn:
      conn.connect(server[1])
      conn.sendall((json.dumps(dict(argv=list(argv), cwd=cwd,
                                    env=env, **outputs)) + "\n").encode())
      conn.settimeout(timeout)
      reply = conn.makefile()
      pid = int(reply.readline())
      try:
        line = reply.readline()
      except (socket.timeout, TimeoutError):
        line = None
      if not line:  # Timed out (or the fork died): like subprocess.run.
        try:
          os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
          pass
        raise subprocess.TimeoutExpired(command, timeout)
      code = int(line)
    texts = {}
    for name, path in outputs.items():
      with open(path, errors="replace") as f:
        texts[name] = f.read()
  return subprocess.CompletedProcess(command, code, texts["stdout"],
                                     texts["stderr"])


def run_report(*args: str, timeout: float = 900
               ) -> subprocess.CompletedProcess:
  """`python -m apps.report args...` (the report tests' one entry point)."""
  return run_module("apps.report", *args, timeout=timeout)


def json_numbers(value, kinds=(float,)):
  """Every number of `kinds` in a JSON-like value (dicts, lists), depth
  first; bools are never numbers."""
  if isinstance(value, dict):
    for item in value.values():
      yield from json_numbers(item, kinds)
  elif isinstance(value, list):
    for item in value:
      yield from json_numbers(item, kinds)
  elif isinstance(value, kinds) and not isinstance(value, bool):
    yield value


def train_tiny_workdir(path: str, *extra_flags: str,
                       num_steps: int = 2) -> str:
  """Trains the tiny multigrid model into `path` with `apps.train`."""
  result = run_module("apps.train", f"--workdir={path}",
                      *TINY_MULTIGRID_FLAGS, f"--num_steps={num_steps}",
                      *extra_flags)
  assert result.returncode == 0, result.stderr[-2000:]
  return path


def tiny_trained_workdir(family: str, tmp_path_factory,
                         num_steps: int = 2) -> str:
  """A workdir of `tiny_flags(family)` trained `num_steps` by `apps.train`,
  once per test session (shared by every file and xdist worker that asks).

  Cached under the session's temp root (the parent of the workers' temp
  dirs under xdist), keyed by the flags, behind a file lock, so the workers
  never train it twice nor read it half-written. Treat it as read-only.
  """
  import fcntl  # pylint: disable=g-import-not-at-top
  import hashlib  # pylint: disable=g-import-not-at-top
  flags = (*tiny_flags(family), f"--num_steps={num_steps}")
  root = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    root = root.parent  # One temp root per session, shared by the workers.
  key = hashlib.sha1("\0".join(flags).encode()).hexdigest()[:12]
  base = os.path.join(str(root), f"tiny_workdir_{family}_{key}")
  os.makedirs(base, exist_ok=True)
  path = os.path.join(base, "run")
  with open(os.path.join(base, "lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not os.path.exists(os.path.join(base, "done")):
      result = run_module("apps.train", f"--workdir={path}", *flags)
      assert result.returncode == 0, result.stderr[-3000:]
      open(os.path.join(base, "done"), "w").close()
  return path


def untrained_workdir(path: str, family: str, adjust=None,
                      model: dict | None = None) -> str:
  """A workdir of `tiny_config(family, model)`'s untrained model, in-process.

  Writes config.json and a checkpoint at step 0 (what `load_model` reads)
  without training: seconds instead of an `apps.train` run. `adjust(model)`
  runs before saving (e.g. `model.adapt(images)` for a multigrid start
  bank).
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tfgen import families
  from tfgen.train import checkpoints
  config = tiny_config(family, model)
  built = families.build_model(config)
  if adjust is not None:
    adjust(built)
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "config.json"), "w") as f:
    f.write(config.to_json())
  checkpoint = checkpoints.make_checkpoint(built.checkpoint_objects())
  tf.train.CheckpointManager(checkpoint, os.path.join(path, "checkpoints"),
                             max_to_keep=1,
                             checkpoint_name=checkpoints.PREFIX).save()
  return path


def tiny_multigrid(**overrides):
  """An untrained tiny `MultigridEBM` (grids 1, 4, 8; width 1/8; seed 3)."""
  from tfgen.models.multigrid import MultigridEBM  # pylint: disable=g-import-not-at-top
  settings = dict(grid_sizes=(1, 4, 8), channels=1, num_langevin_steps=2,
                  step_size=0.3, noise_scale=1.0, net_width=0.125,
                  start_bank_size=16, seed=3)
  settings.update(overrides)
  return MultigridEBM(**settings)


def digits(split: str = "train", image_size: int = 8, count: int = 32):
  """(images [count, S, S, 1] in [-1, 1], labels [count]) of bundled digits."""
  from tfgen import data  # pylint: disable=g-import-not-at-top
  return data.arrays("digits", split, image_size, max_examples=count)


# The tiny LAPGAN: levels 4 and 8, nets at 1/8 (G) and 1/4 (D) width.
TINY_LAPGAN = dict(level_sizes=(4, 8), channels=1, noise_dim=8,
                   generator_width=0.125, discriminator_width=0.25)


def tiny_lapgan(**overrides):
  """A compiled, untrained tiny `LAPGAN`."""
  from tfgen.models import lapgan  # pylint: disable=g-import-not-at-top
  model = lapgan.LAPGAN(**dict(TINY_LAPGAN, **overrides))
  model.compile()
  return model


def digits_batch(batch: int = 8, size: int = 8):
  """(images, labels) tensors of `batch` bundled digits at `size` pixels."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  images, labels = digits("train", size, batch)
  return tf.constant(images), tf.constant(labels)


REPORT_METHODS = ("multigrid", "single_grid", "cd1", "persistent_cd")


def report_results():
  """An `apps.report` report.json dict where multigrid wins every claim."""
  rank = {"multigrid": 0, "single_grid": 1, "persistent_cd": 2, "cd1": 3}
  methods = {m: dict(flagfile=f"configs/{m}.cfg", step=10, batch_size=8,
                     num_langevin_steps=[30], num_sampling_steps=[30],
                     sampler="langevin", reused=m != "multigrid",
                     train_wall_s=12.0, training_time_s=600.0)
             for m in REPORT_METHODS}
  synthesis = {m: dict(classifier_score=8.0 - rank[m],
                       classes_covered=10, mean_top_probability=0.9,
                       frechet_distance=10.0 + rank[m],
                       nearest_train_distance=1.5, num_images=500)
               for m in REPORT_METHODS}
  synthesis["real_test_images"] = dict(synthesis["multigrid"])
  inpainting = {mask: {m: dict(mae_missing=0.1 + 0.01 * rank[m],
                               psnr_missing=16.0 - rank[m],
                               psnr_whole_image=20.0, missing_fraction=0.25)
                       for m in REPORT_METHODS}
                for mask in ("square", "doodle", "pepper_salt")}
  features = {m: [dict(num_labelled=n, svm_error=0.1 + 0.01 * rank[m],
                       supervised_cnn_error=0.3 if m == "multigrid" else None,
                       feature_cnn_error=0.2 if m == "multigrid" else None)
                  for n in (100, 300)] for m in REPORT_METHODS}
  return dict(
      command="python -m apps.report multigrid --output=/tmp/r",
      wall_time_s=600.0, image_size=16, methods=methods, synthesis=synthesis,
      inpainting=inpainting, inpainting_settings=dict(num_images=360),
      inpainting_sampler_checks=[],
      correlation=dict(num_chains=300, langevin={"4": 0.5, "16": 0.9},
                       hmc={"4": 0.4, "16": 0.8}),
      scores={"training": {"4": [5.0, 1.0], "16": [3.0, 0.5]},
              "testing": {"4": [4.9, 1.0], "16": [2.9, 0.5]},
              "synthesized": {"4": [4.8, 1.0], "16": [2.8, 0.5]},
              "negative (uniform_noise)": {"4": [1.0, 1.0],
                                           "16": [-3.0, 0.5]}},
      features=features, timings={"training": 500.0, "synthesis": 60.0,
                                  "inpainting": 60.0},
      gradient_norms={"4": dict(first=10.0, last=2.0, max=12.0,
                                num_points=80)})
