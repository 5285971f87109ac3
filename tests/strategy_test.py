"""MirroredStrategy on 2 logical CPU devices equals one device.

Runs in a subprocess: the CPU must be split into logical devices before
TensorFlow initialises, which the pytest process has already done.
"""

import json
import os
import sys

import pytest

from tfgen.train import strategy as strategy_lib

import support

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = r"""
import dataclasses, json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf
from tfgen.train import strategy as strategy_lib
strategy_lib.split_cpu(2)
from tfgen import config as config_lib, data
from tfgen.models import MultigridEBM
from tfgen.train import loop

settings = dict(grid_sizes=(1, 4, 8), num_langevin_steps=3, net_width=0.25,
                noise_scale=1.0, start_bank_size=16)
images = tf.constant(data.arrays("digits", "train", 8, max_examples=8)[0])
seed = tf.constant([4, 2])
single = MultigridEBM(**settings)
grads_one, _, syn_one = single.compute_gradients(images, seed)

strategy = strategy_lib.make_strategy("mirrored")
with strategy.scope():
  mirrored = MultigridEBM(**settings)
mirrored.set_weights(single.get_weights())

def split(batch):
  return strategy.experimental_distribute_values_from_function(
      lambda ctx: batch[ctx.replica_id_in_sync_group * 4:
                        (ctx.replica_id_in_sync_group + 1) * 4])

@tf.function
def replica_step(batch):
  return strategy.run(mirrored.compute_gradients, args=(batch, seed))

grads_rep, _, syn_rep = replica_step(split(images))
summed = [strategy.reduce("SUM", g, axis=None)
          for g in tf.nest.flatten(grads_rep)]
flat_one = tf.nest.flatten(grads_one)
grad_diff = max(float(tf.reduce_max(tf.abs(a - b)))
                for a, b in zip(summed, flat_one))
grad_scale = max(float(tf.reduce_max(tf.abs(a))) for a in flat_one)
local = strategy.experimental_local_results(syn_rep[-1])
sample_diff = float(tf.reduce_max(tf.abs(tf.concat(local, 0) - syn_one[-1])))

# The same images on both replicas: their chains must still differ (noise).
same = tf.concat([images[:4], images[:4]], 0)
_, _, syn_same = replica_step(split(same))
halves = strategy.experimental_local_results(syn_same[-1])
replica_noise_diff = float(tf.reduce_max(tf.abs(halves[0] - halves[1])))

# And the whole training loop runs under the strategy.
config = config_lib.ExperimentConfig(
    data=config_lib.DataConfig(image_size=8),
    model=config_lib.MultigridConfig(grid_sizes=(1, 4, 8),
                                     num_langevin_steps=(2,), net_width=0.125,
                                     start_bank_size=16),
    train=config_lib.TrainConfig(num_steps=2, batch_size=8, strategy="mirrored",
                                 checkpoint_every=1, sample_every=2,
                                 num_sample_images=4))
losses = {}
trainer = loop.Trainer(config, sys.argv[1] + "/mirrored", printer=lambda _: None,
                       on_step=lambda s, m: losses.setdefault("mirrored", []
                                                             ).append(m))
metrics = trainer.run()
# The same config on one device: the loop feeds replica r rows r*4..r*4+3 of
# each global batch, so the losses must match.
loop.Trainer(config, sys.argv[1] + "/one", strategy=tf.distribute.get_strategy(),
             printer=lambda _: None,
             on_step=lambda s, m: losses.setdefault("one", []).append(m)).run()
loop_loss_diff = max(abs(a[k] - b[k]) for a, b in zip(losses["mirrored"],
                                                      losses["one"])
                     for k in a if k.startswith(("loss/", "score_")))
# Persistent CD: every replica writes its rows back into one shared bank.
pcd = dataclasses.replace(config, model=dataclasses.replace(
    config.model, grid_sizes=(1, 8), noise_scale=(1.0,), method="persistent_cd",
    persistent_bank_size=24))
# (The loop's strategy again: a third MirroredStrategy in one process clashes
# with the others' collective instance keys.)
pcd_mirrored = loop.Trainer(pcd, sys.argv[1] + "/pcd_mirrored",
                            strategy=trainer.strategy, printer=lambda _: None)
pcd_mirrored.run()
pcd_one = loop.Trainer(pcd, sys.argv[1] + "/pcd_one",
                       strategy=tf.distribute.get_strategy(),
                       printer=lambda _: None)
pcd_one.run()
banks = [v.numpy() for v in pcd_mirrored.strategy.experimental_local_results(
    pcd_mirrored.model.persistent_chains)]
bank_one = pcd_one.model.persistent_chains.numpy()
pcd_bank_diff = max(float(np.abs(b - bank_one).max()) for b in banks)
# Chains start flat (up-sampled 1x1 averages); moved ones are not flat.
pcd_rows_moved = int((bank_one.reshape(24, -1).std(axis=1) > 1e-4).sum())
# LAPGAN: synchronized BatchNorm and one global noise draw make the mirrored
# losses those of one device.
lap = config_lib.ExperimentConfig(
    family="lapgan", data=config_lib.DataConfig(image_size=8),
    model=config_lib.LapganConfig(level_sizes=(4, 8), noise_dim=4,
                                  generator_width=0.125,
                                  discriminator_width=0.125),
    train=config_lib.TrainConfig(num_steps=3, batch_size=8,
                                 strategy="mirrored", checkpoint_every=1,
                                 sample_every=3, num_sample_images=4))
lap_losses = {}
for name, lap_strategy in (("mirrored", trainer.strategy),
                           ("one", tf.distribute.get_strategy())):
  loop.Trainer(lap, sys.argv[1] + "/lap_" + name, strategy=lap_strategy,
               printer=lambda _: None,
               on_step=lambda s, m, name=name: lap_losses.setdefault(
                   name, []).append(m)).run()
lapgan_loss_diff = max(abs(a[k] - b[k]) for a, b in zip(lap_losses["mirrored"],
                                                        lap_losses["one"])
                       for k in a if k.startswith(("d_loss/", "g_loss/")))
print(json.dumps(dict(
    lapgan_loss_diff=lapgan_loss_diff, lapgan_steps=len(lap_losses["one"]),
    pcd_bank_diff=pcd_bank_diff, pcd_rows_moved=pcd_rows_moved,
    replicas=strategy.num_replicas_in_sync, grad_diff=grad_diff,
    grad_scale=grad_scale, sample_diff=sample_diff,
    replica_noise_diff=replica_noise_diff, loop_step=trainer.step,
    loop_replicas=trainer.strategy.num_replicas_in_sync,
    loop_finite=all(np.isfinite(v) for v in metrics.values()),
    loop_loss_diff=loop_loss_diff, loop_steps=len(losses["one"]))))
"""


@pytest.fixture(scope="module")
def mirrored_report(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("mirrored"))
  result = support.python("-c", SCRIPT, workdir, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def test_mirrored_gradients_equal_single_device_within_1e_5(mirrored_report):
  assert mirrored_report["replicas"] == 2
  assert mirrored_report["grad_scale"] > 1e-3  # The comparison is not vacuous.
  assert mirrored_report["grad_diff"] < 1e-5


def test_mirrored_chains_equal_the_single_device_chains(mirrored_report):
  assert mirrored_report["sample_diff"] < 1e-5


def test_mirrored_lapgan_losses_equal_one_device(mirrored_report):
  # Without synchronized BatchNorm the generators normalise each replica's
  # half batch on its own and the losses differ by ~1e-2.
  assert mirrored_report["lapgan_steps"] == 3
  assert mirrored_report["lapgan_loss_diff"] < 1e-5


def test_langevin_noise_differs_between_replicas(mirrored_report):
  assert mirrored_report["replica_noise_diff"] > 1e-2


def test_training_loop_runs_under_mirrored_strategy(mirrored_report):
  assert mirrored_report["loop_replicas"] == 2
  assert mirrored_report["loop_step"] == 2
  assert mirrored_report["loop_finite"]


def test_training_loop_under_mirrored_equals_one_device(mirrored_report):
  assert mirrored_report["loop_steps"] == 2
  assert mirrored_report["loop_loss_diff"] < 1e-5


CLUSTER = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


def test_persistent_cd_bank_under_mirrored_equals_one_device(mirrored_report):
  # 2 steps of global batch 8 update bank rows 0..15 (of 24), in one shared
  # bank whichever replica computed them.
  assert mirrored_report["pcd_rows_moved"] == 16
  assert mirrored_report["pcd_bank_diff"] < 1e-5


@pytest.mark.parametrize("tf_config, match", [
    (None, "needs the TF_CONFIG environment variable, which is not set"),
    ("{cluster: 1}", "is not valid JSON"),
    (json.dumps({"cluster": CLUSTER}), "needs a 'cluster' and a 'task'"),
    (json.dumps({"cluster": dict(CLUSTER, ps=["h:1"]),
                 "task": {"type": "worker", "index": 0}}),
     r"has cluster roles \['ps'\]"),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "chief", "index": 0}}),
     "task type 'chief' is not a role of the cluster"),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": 2}}),
     r"task index 2 is not in \[0, 2\)"),
])
def test_bad_tf_config_is_refused_with_an_example(tf_config, match):
  environ = {} if tf_config is None else {"TF_CONFIG": tf_config}
  with pytest.raises(ValueError, match=match) as error:
    strategy_lib.parse_tf_config(environ)
  assert '"index": 1 on the second' in str(error.value)


def test_valid_tf_config_is_returned_parsed():
  value = {"cluster": dict(CLUSTER, chief=["127.0.0.1:3"]),
           "task": {"type": "worker", "index": 1}}
  assert strategy_lib.parse_tf_config(
      {"TF_CONFIG": json.dumps(value)}) == value


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
