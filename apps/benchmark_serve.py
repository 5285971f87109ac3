"""`python -m apps.benchmark serve`: latency of exported sampling.

Exports a trained multigrid workdir with `python -m export` (or first trains
a tiny one: one iteration of the digits config, enough for timing), then
times, interleaved, requests of 1, 16 and 64 samples through

* `in_process`: the trained model's `sample_from_seeds` in a `tf.function`
  (how `model.sample` runs), the baseline; it traces each batch size it
  first sees with that size fixed;
* `in_process_any_batch`: the same function traced once for any batch size
  (`input_signature` [None], as a serving signature must be): the cost of a
  dynamic batch dimension alone;
* `saved_model`: the export's `serving_default` signature after
  `tf.saved_model.load` (adds the input checks, [0, 1] scaling and PNG
  encoding of the export);
* `rest`: the same export behind the REST dev server `python -m
  export.serve` on 127.0.0.1 (adds JSON, HTTP and base64), through
  `tfgen.serving.client.Client`.

With `steps` (`--serve_steps=10,30,90`) it also times the export's
`sample_steps` signature (docs/serving-steps.md) at each listed number of
Langevin steps per grid, `steps_batch` samples per request, through the
SavedModel (`saved_model`) and the REST server (`rest`), interleaved with
the rest: p50 / p90 latency against steps.

The server runs on a free port, answers a bounded number of requests and is
stopped by its PID (SIGTERM, then SIGKILL if it does not exit) whatever
happens.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAME = "multigrid"
PATHS = ("in_process", "in_process_any_batch", "saved_model", "rest")
STEPS_PATHS = ("saved_model", "rest")  # Of the sample_steps signature.


def train_tiny(workdir: str, grids: Sequence[int], batch_size: int,
               num_langevin_steps: int, net_width: float) -> None:
  """One training iteration of the digits config into `workdir`."""
  # pylint: disable=g-import-not-at-top
  from tfgen.bench import train_cost
  from tfgen.train import loop
  config = train_cost.digits_config(grids, batch_size, num_langevin_steps,
                                    net_width)
  config = dataclasses.replace(config, train=dataclasses.replace(
      config.train, num_steps=1, num_sample_images=4))
  loop.Trainer(config, workdir, printer=lambda _: None).run()


def export(workdir: str, export_base: str,
           max_steps: Optional[int] = None) -> str:
  """`python -m export` in a subprocess; returns the version folder."""
  extra = [f"--max_steps={max_steps}"] if max_steps else []
  result = subprocess.run(
      [sys.executable, "-m", "export", f"--workdir={workdir}",
       f"--export_base={export_base}", f"--model_name={MODEL_NAME}",
       f"--serving_base_path={os.path.abspath(export_base)}", *extra],
      cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
  if result.returncode:
    raise RuntimeError(f"python -m export failed:\n{result.stderr[-3000:]}")
  from tfgen.serving import layout  # pylint: disable=g-import-not-at-top
  model_dir = os.path.join(export_base, MODEL_NAME)
  return os.path.join(model_dir, str(layout.versions(model_dir)[-1]))


def free_port() -> int:
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


class DevServer:
  """`python -m export.serve` in a subprocess, stopped by PID on exit."""

  def __init__(self, export_base: str, log_path: str,
               start_timeout: float = 180.0):
    self.export_base, self.log_path = export_base, log_path
    self.start_timeout = start_timeout
    self.port = free_port()
    self.url = f"http://127.0.0.1:{self.port}"
    self.process = None
    self.exit_code = None

  def __enter__(self):
    from tfgen.serving import client  # pylint: disable=g-import-not-at-top
    with open(self.log_path, "w") as log:
      self.process = subprocess.Popen(
          [sys.executable, "-m", "export.serve",
           f"--export_base={self.export_base}", "--host=127.0.0.1",
           f"--port={self.port}", "--quiet"],
          cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    probe = client.Client(self.url, MODEL_NAME, timeout=5.0)
    deadline = time.monotonic() + self.start_timeout
    while True:
      try:
        probe.status()
        return self
      except client.ServingError:
        if self.process.poll() is not None or time.monotonic() > deadline:
          self.stop()
          with open(self.log_path) as f:
            raise RuntimeError("The dev server did not start:\n"
                               + f.read()[-3000:]) from None
        time.sleep(0.25)

  def stop(self) -> None:
    if self.process is None or self.exit_code is not None:
      return
    if self.process.poll() is None:
      os.kill(self.process.pid, signal.SIGTERM)
      try:
        self.process.wait(timeout=30)
      except subprocess.TimeoutExpired:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
    self.exit_code = self.process.returncode

  def __exit__(self, *exc_info):
    self.stop()


def _steps_calls(loaded, rest_client, steps, batch: int) -> dict:
  """'steps_path/k' -> a call of `sample_steps` with k steps, `batch` seeds."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  signature = loaded.signatures["sample_steps"]
  seeds = tf.range(batch, dtype=tf.int64)
  calls = {}
  for count in steps:
    num_steps = tf.fill([batch], tf.constant(count, tf.int64))
    calls[f"steps_saved_model/{count}"] = (
        lambda k: lambda: signature(seed=seeds, num_steps=k)[
            "images"].numpy())(num_steps)
    calls[f"steps_rest/{count}"] = (
        lambda k: lambda: rest_client.predict(list(range(batch)),
                                              num_steps=k))(count)
  return calls


def _calls(model, loaded, rest_client, batches) -> dict:
  """'path/n' -> zero-argument call returning when the images are ready."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tfgen.mcmc import runner
  in_process = runner.compile_fn(lambda seeds: model.sample_from_seeds(
      seeds)[-1], model.sampler_jit_compile)
  any_batch = tf.function(lambda seeds: model.sample_from_seeds(seeds)[-1],
                          input_signature=[tf.TensorSpec([None], tf.int64)],
                          jit_compile=bool(model.sampler_jit_compile))
  serving = loaded.signatures["serving_default"]
  calls = {}
  for n in batches:
    seeds = tf.range(n, dtype=tf.int64)
    calls[f"in_process/{n}"] = (lambda s: lambda: in_process(s).numpy())(
        seeds)
    calls[f"in_process_any_batch/{n}"] = (
        lambda s: lambda: any_batch(s).numpy())(seeds)
    calls[f"saved_model/{n}"] = (lambda s: lambda: serving(seed=s)[
        "images"].numpy())(seeds)
    calls[f"rest/{n}"] = (lambda s: lambda: rest_client.predict(s))(
        list(range(n)))
  return calls


def run(workdir: Optional[str], batches: Sequence[int], requests: int,
        grids: Sequence[int] = (1, 4, 16), batch_size: int = 100,
        num_langevin_steps: int = 30, net_width: float = 1.0,
        settle_seconds: float = 0.0,
        printer: Callable[[str], None] = print,
        steps: Sequence[int] = (), steps_batch: int = 1) -> dict:
  """Exports, serves and times; returns the JSON-ready report.

  `steps`: numbers of Langevin steps per grid at which `sample_steps` is
  timed (`steps_batch` samples per request); none: not timed.
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tfgen.bench import timing
  from tfgen.serving import client
  from tfgen.train import workdir as workdir_lib
  with tempfile.TemporaryDirectory(prefix="tfgen_bench_serve_") as scratch:
    trained_here = workdir is None
    if trained_here:
      workdir = os.path.join(scratch, "workdir")
      printer(f"serve: training a tiny workdir (grids {list(grids)}, one "
              "iteration)")
      train_tiny(workdir, grids, batch_size, num_langevin_steps, net_width)
    export_base = os.path.join(scratch, "export")
    printer("serve: exporting (python -m export)")
    started = time.perf_counter()
    from tfgen.serving import signature_spec  # pylint: disable=g-import-not-at-top
    path = export(workdir, export_base, max(steps) if steps and max(
        steps) > signature_spec.DEFAULT_MAX_STEPS else None)
    export_seconds = time.perf_counter() - started
    model, config, step = workdir_lib.load_model(workdir)
    started = time.perf_counter()
    loaded = tf.saved_model.load(path)
    export_cost = {
        "export_command_seconds": export_seconds,
        "saved_model_pb_bytes": os.path.getsize(
            os.path.join(path, "saved_model.pb")),
        "load_seconds": time.perf_counter() - started}
    printer("serve: starting the dev server (python -m export.serve)")
    with DevServer(export_base, os.path.join(scratch, "serve.log")) as server:
      rest_client = client.Client(server.url, MODEL_NAME)
      calls = _calls(model, loaded, rest_client, batches)
      calls.update(_steps_calls(loaded, rest_client, steps, steps_batch))
      first, times, _ = timing.interleave(
          calls, requests, settle_seconds=settle_seconds,
          on_round=lambda r: printer(f"  round {r + 1}/{requests}"))
    latency = {}
    for n in batches:
      row = {}
      for name in PATHS:
        seconds = times[f"{name}/{n}"]
        row[name] = {**timing.percentiles(seconds),
                     "first_call_seconds": first[f"{name}/{n}"],
                     "requests": len(seconds)}
      base = row["in_process"]["p50"]
      row["saved_model_vs_in_process"] = row["saved_model"]["p50"] / base
      row["saved_model_vs_in_process_any_batch"] = (
          row["saved_model"]["p50"] / row["in_process_any_batch"]["p50"])
      row["rest_vs_in_process"] = row["rest"]["p50"] / base
      latency[str(n)] = row
    by_steps = {}
    for count in steps:
      by_steps[str(count)] = {
          name: {**timing.percentiles(times[f"steps_{name}/{count}"],
                                      qs=(50, 90)),
                 "first_call_seconds": first[f"steps_{name}/{count}"],
                 "requests": len(times[f"steps_{name}/{count}"])}
          for name in STEPS_PATHS}
    return {
        "benchmark": "serve", "machine": timing.machine(),
        "model": {"grid_sizes": list(model.grid_sizes),
                  "num_langevin_steps": list(model.num_langevin_steps),
                  "net_width": model.net_width, "train_step": step,
                  "dataset": config.data.dataset,
                  "trained_here": trained_here},
        "requests_per_batch": requests,
        "export": export_cost,
        "server_exit_code": server.exit_code,
        "latency": latency,
        # sample_steps: p50 / p90 seconds per number of steps per grid.
        "latency_by_steps": {"samples_per_request": steps_batch,
                             "steps": by_steps},
        "targets": [{"target": "saved_model_vs_in_process <= 1.3",
                     "where": f"{n} samples",
                     "value": latency[str(n)]["saved_model_vs_in_process"],
                     "met": latency[str(n)]["saved_model_vs_in_process"]
                            <= 1.3} for n in batches],
    }


def show(report: dict) -> None:
  model = report["model"]
  print(f"Serve: grids {model['grid_sizes']}, Langevin steps "
        f"{model['num_langevin_steps']}, {report['requests_per_batch']} "
        "requests per batch size (p50 / p95 in ms)")
  print(f"{'samples':>7s} " + " ".join(f"{p:>21s}" for p in PATHS)
        + f" {'SM/in':>6s} {'SM/any':>6s} {'REST/in':>7s}")
  for n, row in report["latency"].items():
    cells = " ".join(f"{row[p]['p50'] * 1e3:10.1f} /{row[p]['p95'] * 1e3:9.1f}"
                     for p in PATHS)
    print(f"{n:>7s} {cells} {row['saved_model_vs_in_process']:6.2f} "
          f"{row['saved_model_vs_in_process_any_batch']:6.2f} "
          f"{row['rest_vs_in_process']:7.2f}")
  by_steps = report["latency_by_steps"]
  if by_steps["steps"]:
    print(f"sample_steps, {by_steps['samples_per_request']} sample(s) per "
          "request: latency against Langevin steps per grid (p50 / p90 in "
          "ms)")
    print(f"{'steps':>7s} " + " ".join(f"{p:>21s}" for p in STEPS_PATHS))
    for count, row in by_steps["steps"].items():
      print(f"{count:>7s} " + " ".join(
          f"{row[p]['p50'] * 1e3:10.1f} /{row[p]['p90'] * 1e3:9.1f}"
          for p in STEPS_PATHS))
  cost = report["export"]
  print(f"python -m export {cost['export_command_seconds']:.1f} s (process "
        f"start and imports included), saved_model.pb "
        f"{cost['saved_model_pb_bytes'] / 1e6:.2f} MB, tf.saved_model.load "
        f"{cost['load_seconds']:.1f} s")
  for target in report["targets"]:
    print(f"{target['target']} ({target['where']}): {target['value']:.2f} "
          f"{'met' if target['met'] else 'MISSED'}")
  print(f"dev server stopped (exit code {report['server_exit_code']})")
