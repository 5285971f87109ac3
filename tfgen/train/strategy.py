"""Choosing a `tf.distribute` strategy by name, and who writes the workdir.

'default' is one device, 'mirrored' all GPUs (or logical CPUs) of one host,
'multi_worker' `MultiWorkerMirroredStrategy` over the hosts that the
`TF_CONFIG` environment variable lists (see docs/distributed.md). Under
'multi_worker' only the chief writes checkpoints, summaries, samples and
config.json (`is_chief`).
"""

from __future__ import annotations

import json
import os
from typing import Mapping, Optional, Sequence

import tensorflow as tf

# Roles of a TF_CONFIG cluster that MultiWorkerMirroredStrategy trains with.
TRAINING_ROLES = ("chief", "worker")
TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host0:12345", '
                     '"host1:12345"]}, "task": {"type": "worker", '
                     '"index": 0}}\'')


def split_cpu(num_devices: int) -> None:
  """Makes the CPU appear as `num_devices` logical devices.

  For running `mirrored` on a machine without GPUs (tests, smoke runs). Must
  be called before TensorFlow initialises its devices.
  """
  cpus = tf.config.list_physical_devices("CPU")
  current = tf.config.get_logical_device_configuration(cpus[0])
  if current and len(current) == num_devices:
    return
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_devices)


def parse_tf_config(environ: Optional[Mapping[str, str]] = None) -> dict:
  """Checks `TF_CONFIG` for --strategy=multi_worker; returns it parsed.

  Raises ValueError naming TF_CONFIG, what is wrong and an example of a valid
  value. A missing TF_CONFIG is an error (not a silent one-worker run): N
  hosts started without it would each train alone into the same workdir.
  """
  environ = os.environ if environ is None else environ
  text = environ.get("TF_CONFIG", "")
  fix = (f" Set it on every host, e.g. {TF_CONFIG_EXAMPLE} on the first and "
         '"index": 1 on the second (docs/distributed.md).')
  if not text.strip():
    raise ValueError("strategy='multi_worker' needs the TF_CONFIG environment "
                     "variable, which is not set." + fix)
  try:
    parsed = json.loads(text)
  except json.JSONDecodeError as error:
    raise ValueError(f"TF_CONFIG={text!r} is not valid JSON ({error})."
                     + fix) from error
  cluster = parsed.get("cluster") if isinstance(parsed, dict) else None
  task = parsed.get("task") if isinstance(parsed, dict) else None
  if not isinstance(cluster, dict) or not isinstance(task, dict):
    raise ValueError(f"TF_CONFIG={text!r} needs a 'cluster' and a 'task' "
                     "object." + fix)
  other_roles = sorted(set(cluster) - set(TRAINING_ROLES))
  if other_roles:
    raise ValueError(f"TF_CONFIG={text!r} has cluster roles {other_roles}; "
                     f"strategy='multi_worker' uses only {TRAINING_ROLES}."
                     + fix)
  task_type, index = task.get("type"), task.get("index")
  if task_type not in cluster:
    raise ValueError(f"TF_CONFIG={text!r}: task type {task_type!r} is not a "
                     f"role of the cluster {sorted(cluster)}." + fix)
  addresses = cluster[task_type]
  if (isinstance(index, bool) or not isinstance(index, int)
      or not 0 <= index < len(addresses)):
    raise ValueError(f"TF_CONFIG={text!r}: task index {index!r} is not in "
                     f"[0, {len(addresses)}) for the {len(addresses)} "
                     f"{task_type!r} addresses." + fix)
  return parsed


def make_strategy(name: str,
                  devices: Optional[Sequence[str]] = None
                  ) -> tf.distribute.Strategy:
  """'default' (one device), 'mirrored' (all GPUs, else all logical CPUs) or
  'multi_worker' (the hosts of TF_CONFIG, each with its GPUs or its CPU).

  Create 'multi_worker' before any other TensorFlow op of the process.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if devices is None:
      gpus = tf.config.list_logical_devices("GPU")
      devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices=list(devices))
  if name == "multi_worker":
    parse_tf_config()
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise ValueError(
      f"strategy={name!r} is not supported; use 'default', 'mirrored' or "
      "'multi_worker'.")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes the workdir (always, but for non-chief
  workers of a multi-worker strategy)."""
  return bool(strategy.extended.should_checkpoint)


def task_id(strategy: tf.distribute.Strategy) -> int:
  """This worker's index in TF_CONFIG (0 without a cluster)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  return int(getattr(resolver, "task_id", 0) or 0)
