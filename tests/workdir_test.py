"""Behaviour of tfgen.train.workdir outside a training run."""

import sys
import os

import pytest

from tfgen import config as config_lib
from tfgen.train import workdir as workdir_lib


def test_prepare_creates_the_layout_and_writes_config(tmp_path):
  config = config_lib.ExperimentConfig()
  workdir_lib.prepare(str(tmp_path), config)
  for name in ("checkpoints", "summaries", "samples"):
    assert os.path.isdir(tmp_path / name)
  assert workdir_lib.read_config(str(tmp_path)) == config
  assert not os.path.exists(tmp_path / "config.json.tmp")


def test_unreadable_config_json_asks_for_a_new_workdir(tmp_path):
  (tmp_path / "config.json").write_text('{"train": {"bogus": 1}}')
  with pytest.raises(ValueError, match="new --workdir"):
    workdir_lib.read_config(str(tmp_path))


def test_configured_but_untrained_workdir_says_to_train(tmp_path):
  workdir_lib.prepare(str(tmp_path), config_lib.ExperimentConfig())
  with pytest.raises(ValueError, match="no checkpoint yet"):
    workdir_lib.load_model(str(tmp_path))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
