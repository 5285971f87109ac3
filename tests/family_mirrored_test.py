"""The family contract, part 2: on 2 mirrored logical CPUs the Trainer takes
the same step as on one device (weight averages included), for every family
in `tfgen.families` (see family_conformance_test.py for the rest).

In a subprocess: the CPU is split into logical devices before TensorFlow
initialises. Tiny models (`tiny_settings` of each row, 8x8 digits).
"""

import json
import os
import sys

import pytest

import support
from tfgen import families

FAMILIES = families.names()
REPO = support.REPO


MIRRORED = r"""
import json, sys
import numpy as np
from tfgen.train import strategy as strategy_lib
strategy_lib.split_cpu(2)
import support
from tfgen.train import loop
family, workdir = sys.argv[1], sys.argv[2]
weights = {}
for name in ("default", "mirrored"):
  trainer = loop.Trainer(support.tiny_config(family, num_steps=2,
                                             strategy=name, ema_momentum=0.5),
                         workdir + "/" + name, printer=lambda _: None,
                         handle_signals=False)
  trainer.run()
  # The weight averages, updated in every replica, equal one device's too.
  assert trainer.model.use_averaged_weights()
  weights[name] = [np.asarray(w) for w in trainer.model.weights]
  replicas = trainer.strategy.num_replicas_in_sync
gap = max(float(np.abs(a - b).max())
          for a, b in zip(weights["default"], weights["mirrored"]))
moved = max(float(np.abs(a).max()) for a in weights["default"])
print(json.dumps(dict(gap=gap, moved=moved, replicas=replicas)))
"""


@pytest.mark.parametrize("family", FAMILIES)
def test_a_mirrored_step_equals_one_device(family, tmp_path):
  result = support.python("-c", MIRRORED, family, str(tmp_path),
                          cwd=os.path.join(REPO, "tests"), timeout=300,
                          env=dict(os.environ, PYTHONPATH=REPO))
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report["replicas"] == 2 and report["moved"] > 1e-3
  assert report["gap"] < 1e-4, report


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
