"""config.json's `history`: the resumable settings a rerun changed.

A workdir may be resumed with other values of the settings in
`config.RESUMABLE_FIELDS` (e.g. a lower `learning_rate` or `step_size`
after a divergence, a higher `num_steps`). `config.json` then holds the
values of the latest run and, under "history", one entry per run that
changed any of them: `{"time": ..., "changed": {"train.learning_rate":
{"from": 0.0005, "to": 0.00025}}}`. `ExperimentConfig.from_json` ignores the
key, so the history never affects what a workdir is.
"""

from __future__ import annotations

import json
import os
import time
from typing import Optional

from tfgen import config as config_lib

KEY = "history"


def changes(saved: config_lib.ExperimentConfig,
            requested: config_lib.ExperimentConfig) -> dict:
  """{'section.name': {'from': saved, 'to': requested}} of changed values."""
  before, after = saved.to_dict(), requested.to_dict()
  found = {}
  for section in ("data", "model", "train"):
    for name, value in after[section].items():
      old = before[section].get(name)
      norm = (lambda v: list(v) if isinstance(v, (list, tuple)) else v)
      if norm(old) != norm(value):
        found[f"{section}.{name}"] = {"from": norm(old), "to": norm(value)}
  return found


def previous(path: str) -> list:
  """The history list of the config.json at `path` ([] if none)."""
  try:
    with open(path) as f:
      entries = json.load(f).get(KEY, [])
  except (OSError, ValueError, AttributeError):
    return []
  return entries if isinstance(entries, list) else []


def config_json(workdir: str, saved: Optional[config_lib.ExperimentConfig],
                requested: config_lib.ExperimentConfig,
                filename: str = "config.json") -> str:
  """The text of config.json for a run of `requested` in `workdir`."""
  entries = previous(os.path.join(workdir, filename)) if saved else []
  changed = changes(saved, requested) if saved else {}
  if changed:
    entries.append({"time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                    "changed": changed})
  values = requested.to_dict()
  if entries:
    values[KEY] = entries
  return json.dumps(values, indent=2, sort_keys=True)
