r"""Trains a tfgen model: `python -m apps.train --flagfile=CFG --workdir=DIR`.

Flags given after `--flagfile` override it. Rerunning the same command resumes
from the workdir's latest checkpoint; a workdir whose config.json disagrees
with the flags is refused before any training.

Exit status: 0 when trained to --num_steps; 1 for bad flags, TF_CONFIG or
workdir, and when training diverged (see --on_divergence); 128 + the signal
(143 SIGTERM, 130 Ctrl-C) when stopped by a signal after saving a
checkpoint (rerun the same command to resume). --strategy=multi_worker
reads TF_CONFIG: see docs/distributed.md.
"""

from __future__ import annotations

import sys

from apps import common  # pylint: disable=unused-import  (quiet TF logs)
from absl import app
from absl import flags

from apps import config_flags

# Every data, training and model flag comes from the config dataclasses
# (`apps.config_flags`); only these two are the app's own.
WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, "
                              "summaries, samples and config.json.")
flags.DEFINE_integer("num_cpu_devices", 0, "Split the CPU into this many "
                     "logical devices (for --strategy=mirrored without GPUs).")
config_flags.define_all()

FLAGS = flags.FLAGS
FAMILY = config_flags.FAMILY


def config_from_flags():
  """The ExperimentConfig the flags describe (not yet validated)."""
  return config_flags.config_from_flags()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}.")
  if not WORKDIR.value:
    raise app.UsageError("--workdir is required, e.g. --workdir=/tmp/mg.")
  config = config_from_flags()
  try:
    config.validate()  # Flag errors first, before TensorFlow starts.
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  # pylint: disable=g-import-not-at-top
  from tfgen.train import loop
  from tfgen.train import strategy as strategy_lib
  from tfgen.train import workdir as workdir_lib
  if FLAGS.num_cpu_devices:
    strategy_lib.split_cpu(FLAGS.num_cpu_devices)
  try:
    if config.train.strategy == "multi_worker":
      strategy_lib.parse_tf_config()  # Before MultiWorkerMirroredStrategy.
    trainer = loop.Trainer(config, WORKDIR.value)
  except (ValueError, workdir_lib.CheckpointError) as error:
    raise app.UsageError(str(error)) from error
  try:
    trainer.run()
  except loop.DivergenceError as error:
    sys.exit(f"ERROR: {error}")
  if trainer.stopped_by:
    sys.exit(128 + _SIGNAL_NUMBERS.get(trainer.stopped_by, 15))
  print(f"Done: {WORKDIR.value} at step {trainer.step}.")


# Exit status 128 + N after a stop by signal N ('peer': another worker's).
_SIGNAL_NUMBERS = {"SIGTERM": 15, "SIGINT": 2, "peer": 15}


if __name__ == "__main__":
  app.run(main)
