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

from tfgen import config as config_lib

_D = config_lib.DataConfig()
_M = config_lib.MultigridConfig()
_L = config_lib.LapganConfig()
_T = config_lib.TrainConfig()

WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, "
                              "summaries, samples and config.json.")
FAMILY = flags.DEFINE_enum("family", "multigrid", config_lib.FAMILIES,
                           "Model family.")
# Data.
flags.DEFINE_string("dataset", _D.dataset, "digits, mnist, cifar10, "
                    "svhn_cropped, celeb_a, lsun/<category> or folder:<path>.")
flags.DEFINE_integer("image_size", _D.image_size, "Image side in pixels.")
flags.DEFINE_string("data_dir", _D.data_dir, "tfds data_dir.")
flags.DEFINE_bool("download", _D.download, "Let tfds download the dataset.")
flags.DEFINE_integer("folder_channels", _D.folder_channels,
                     "Channels of folder: images (1 or 3).")
# Multigrid model.
flags.DEFINE_list("grid_sizes", [str(g) for g in _M.grid_sizes],
                  "Increasing grid sides, e.g. 1,4,16; the last = image_size.")
flags.DEFINE_list("num_langevin_steps", [str(v) for v in _M.num_langevin_steps],
                  "Langevin steps per grid (one value or one per model grid).")
flags.DEFINE_list("step_size", [str(v) for v in _M.step_size],
                  "Langevin step size delta per grid.")
flags.DEFINE_list("noise_scale", [str(v) for v in _M.noise_scale],
                  "Langevin noise multiplier per grid (0 = noise-free).")
flags.DEFINE_float("reference_stddev", _M.reference_stddev,
                   "Std of the Gaussian reference term of log p.")
flags.DEFINE_bool("clip_samples", _M.clip_samples, "Clip chains to [-1, 1].")
flags.DEFINE_float("net_width", _M.net_width, "Energy net width multiplier.")
flags.DEFINE_string("activation", _M.activation, "Energy net activation.")
flags.DEFINE_integer("start_bank_size", _M.start_bank_size,
                     "Training images whose 1x1 averages start sampling.")
flags.DEFINE_enum("method", _M.method, config_lib.METHODS,
                  "multigrid, or a baseline of the paper: single_grid (needs "
                  "--grid_sizes=1,S), cd (CD-k from the observed images, "
                  "k = --num_langevin_steps) or persistent_cd.")
flags.DEFINE_enum("sampler", _M.sampler, config_lib.SAMPLERS,
                  "MCMC of training and sampling: langevin or hmc (TFP).")
flags.DEFINE_integer("num_leapfrog_steps", _M.num_leapfrog_steps,
                     "HMC leapfrog steps per MCMC step.")
flags.DEFINE_bool("metropolis", _M.metropolis,
                  "HMC with the Metropolis accept/reject test.")
flags.DEFINE_bool("condition_on_label", _M.condition_on_label,
                  "Class-conditional model on the dataset's labels (multigrid: "
                  "one score per class; LAPGAN: the class is an input of "
                  "every level).")
flags.DEFINE_integer("persistent_bank_size", _M.persistent_bank_size,
                     "Persistent chains of --method=persistent_cd.")
flags.DEFINE_list("num_sampling_steps", [str(v) for v in _M.num_sampling_steps],
                  "Steps per grid for sampling/inpainting (empty = "
                  "--num_langevin_steps).")
# LAPGAN model (--family=lapgan).
flags.DEFINE_list("level_sizes", [str(s) for s in _L.level_sizes],
                  "LAPGAN levels, coarse to fine, each doubling the previous; "
                  "the last = image_size; one level = a single-level GAN.")
flags.DEFINE_integer("noise_dim", _L.noise_dim,
                     "LAPGAN: noise vector length of the coarsest generator.")
flags.DEFINE_float("generator_width", _L.generator_width,
                   "LAPGAN: generator width multiplier.")
flags.DEFINE_float("discriminator_width", _L.discriminator_width,
                   "LAPGAN: discriminator width multiplier.")
flags.DEFINE_float("discriminator_dropout", _L.discriminator_dropout,
                   "LAPGAN: dropout before the discriminators' logit.")
flags.DEFINE_integer("d_steps_per_g_step", _L.d_steps_per_g_step,
                     "LAPGAN: discriminator updates per generator update.")
flags.DEFINE_float("diversity_weight", _L.diversity_weight,
                   "LAPGAN: weight of the mode-seeking term that makes "
                   "generators use their noise (0 = off, as in the paper).")
# Training.
flags.DEFINE_integer("num_steps", _T.num_steps, "Training iterations.")
flags.DEFINE_integer("batch_size", _T.batch_size, "Global batch size.")
flags.DEFINE_float("learning_rate", _T.learning_rate, "Adam learning rate.")
flags.DEFINE_float("beta_1", _T.beta_1, "Adam beta_1.")
flags.DEFINE_integer("seed", _T.seed, "Seed of data order and chains.")
flags.DEFINE_string("strategy", _T.strategy, "default (one device), mirrored "
                    "(all GPUs of this host) or multi_worker (the hosts of "
                    "TF_CONFIG; see docs/distributed.md).")
flags.DEFINE_bool("jit_compile", _T.jit_compile,
                  "XLA-compile the sampler (slower on the CPUs measured).")
flags.DEFINE_integer("checkpoint_every", _T.checkpoint_every,
                     "Steps between checkpoints (also saved on exit).")
flags.DEFINE_integer("summary_every", _T.summary_every,
                     "Steps between TensorBoard scalars.")
flags.DEFINE_integer("sample_every", _T.sample_every,
                     "Steps between sample grids (PNG + TensorBoard).")
flags.DEFINE_integer("num_sample_images", _T.num_sample_images,
                     "Images per sample grid.")
flags.DEFINE_integer("max_checkpoints", _T.max_checkpoints,
                     "Checkpoints kept.")
flags.DEFINE_string("on_divergence", _T.on_divergence,
                    "On a NaN/inf metric: stop (exit 1 naming the step and "
                    "quantity) or restore (reload the last good checkpoint, "
                    "halve --divergence_backoff, continue).")
flags.DEFINE_string("divergence_backoff", _T.divergence_backoff,
                    "What --on_divergence=restore halves: step_size or "
                    "learning_rate (kept in the checkpoint).")
flags.DEFINE_integer("max_divergence_retries", _T.max_divergence_retries,
                     "Restores per run before --on_divergence=restore gives "
                     "up (exit 1).")
flags.DEFINE_integer("num_cpu_devices", 0, "Split the CPU into this many "
                     "logical devices (for --strategy=mirrored without GPUs).")

FLAGS = flags.FLAGS


def _numbers(name: str, kind):
  values = FLAGS[name].value
  try:
    return tuple(kind(v) for v in values)
  except ValueError as error:
    raise app.UsageError(
        f"--{name}={','.join(values)} must be a comma-separated list of "
        f"{kind.__name__}s ({error}).") from error


def _lapgan_config() -> config_lib.LapganConfig:
  return config_lib.LapganConfig(
      level_sizes=_numbers("level_sizes", int), noise_dim=FLAGS.noise_dim,
      generator_width=FLAGS.generator_width,
      discriminator_width=FLAGS.discriminator_width,
      discriminator_dropout=FLAGS.discriminator_dropout,
      d_steps_per_g_step=FLAGS.d_steps_per_g_step,
      diversity_weight=FLAGS.diversity_weight,
      condition_on_label=FLAGS.condition_on_label)


def config_from_flags() -> config_lib.ExperimentConfig:
  """The ExperimentConfig the flags describe (not yet validated)."""
  return config_lib.ExperimentConfig(
      family=FAMILY.value,
      data=config_lib.DataConfig(
          dataset=FLAGS.dataset, image_size=FLAGS.image_size,
          data_dir=FLAGS.data_dir, download=FLAGS.download,
          folder_channels=FLAGS.folder_channels),
      model=_lapgan_config() if FAMILY.value == "lapgan" else
      config_lib.MultigridConfig(
          grid_sizes=_numbers("grid_sizes", int),
          num_langevin_steps=_numbers("num_langevin_steps", int),
          step_size=_numbers("step_size", float),
          noise_scale=_numbers("noise_scale", float),
          reference_stddev=FLAGS.reference_stddev,
          clip_samples=FLAGS.clip_samples, net_width=FLAGS.net_width,
          activation=FLAGS.activation,
          start_bank_size=FLAGS.start_bank_size, method=FLAGS.method,
          sampler=FLAGS.sampler, num_leapfrog_steps=FLAGS.num_leapfrog_steps,
          metropolis=FLAGS.metropolis,
          condition_on_label=FLAGS.condition_on_label,
          persistent_bank_size=FLAGS.persistent_bank_size,
          num_sampling_steps=_numbers("num_sampling_steps", int)),
      train=config_lib.TrainConfig(
          num_steps=FLAGS.num_steps, batch_size=FLAGS.batch_size,
          learning_rate=FLAGS.learning_rate, beta_1=FLAGS.beta_1,
          seed=FLAGS.seed, strategy=FLAGS.strategy,
          jit_compile=FLAGS.jit_compile,
          checkpoint_every=FLAGS.checkpoint_every,
          summary_every=FLAGS.summary_every,
          sample_every=FLAGS.sample_every,
          num_sample_images=FLAGS.num_sample_images,
          max_checkpoints=FLAGS.max_checkpoints,
          on_divergence=FLAGS.on_divergence,
          divergence_backoff=FLAGS.divergence_backoff,
          max_divergence_retries=FLAGS.max_divergence_retries))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}.")
  if not WORKDIR.value:
    raise app.UsageError("--workdir is required, e.g. --workdir=/tmp/mg.")
  config = config_from_flags()
  # pylint: disable=g-import-not-at-top
  from tfgen.train import preflight
  try:
    config.validate()  # Flag errors first, before TensorFlow starts.
    preflight.check_config(config)
  except ValueError as error:
    raise app.UsageError(str(error)) from error
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
  except (loop.DivergenceError, ValueError) as error:  # ValueError: data.
    sys.exit(f"ERROR: {error}")
  if trainer.stopped_by:
    sys.exit(128 + _SIGNAL_NUMBERS.get(trainer.stopped_by, 15))
  print(f"Done: {WORKDIR.value} at step {trainer.step}.")


# Exit status 128 + N after a stop by signal N ('peer': another worker's).
_SIGNAL_NUMBERS = {"SIGTERM": 15, "SIGINT": 2, "peer": 15}


if __name__ == "__main__":
  common.run(main)
