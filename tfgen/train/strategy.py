"""Choosing a `tf.distribute` strategy by name."""

from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf


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


def make_strategy(name: str,
                  devices: Optional[Sequence[str]] = None
                  ) -> tf.distribute.Strategy:
  """'default' (one device) or 'mirrored' (all GPUs, else all logical CPUs)."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if devices is None:
      gpus = tf.config.list_logical_devices("GPU")
      devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices=list(devices))
  raise ValueError(
      f"strategy={name!r} is not supported; use 'default' or 'mirrored'.")
