"""tfgen.serving.layout: versioned folders written atomically, models.config."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from tfgen.serving import layout

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_files(path):
  os.makedirs(os.path.join(path, "variables"))
  with open(os.path.join(path, "saved_model.pb"), "w") as f:
    f.write("model")


def dead_pid():
  """The PID of a process that has exited."""
  process = subprocess.Popen([sys.executable, "-c", "pass"])
  process.wait(timeout=30)
  return process.pid


def test_versions_are_the_all_digit_folders(tmp_path):
  for name in ("1", "3", "10", ".tmp-11-5", "abc", "2x"):
    (tmp_path / name).mkdir()
  (tmp_path / "7").write_text("a file, not a version")
  assert layout.versions(str(tmp_path)) == [1, 3, 10]
  assert layout.next_version(str(tmp_path)) == 11
  assert layout.next_version(str(tmp_path / "missing")) == 1


def test_write_version_renames_a_complete_folder_into_place(tmp_path):
  model_dir = str(tmp_path / "multigrid")
  seen = []

  def write(path):
    assert os.path.basename(path).startswith(".tmp-1-")
    assert layout.versions(model_dir) == []  # Not visible while writing.
    write_files(path)
    seen.append(path)

  version, path = layout.write_version(model_dir, write)
  assert (version, path) == (1, os.path.join(model_dir, "1"))
  assert os.path.exists(os.path.join(path, "saved_model.pb"))
  assert sorted(os.listdir(model_dir)) == ["1"]
  assert layout.write_version(model_dir, write_files)[0] == 2


def test_a_failed_write_leaves_no_version_and_no_scratch(tmp_path):
  model_dir = str(tmp_path / "m")

  def fail(path):
    write_files(path)
    raise RuntimeError("disk full")

  with pytest.raises(RuntimeError, match="disk full"):
    layout.write_version(model_dir, fail)
  assert os.listdir(model_dir) == []
  with pytest.raises(RuntimeError, match="wrote nothing"):
    layout.write_version(model_dir, lambda path: None)


def test_existing_version_is_refused_unless_overwrite(tmp_path):
  model_dir = str(tmp_path / "m")
  layout.write_version(model_dir, write_files, version=4)
  with pytest.raises(FileExistsError, match="--overwrite.*version 5"):
    layout.write_version(model_dir, write_files, version=4)

  def write_new(path):
    os.makedirs(path)
    with open(os.path.join(path, "saved_model.pb"), "w") as f:
      f.write("new")

  layout.write_version(model_dir, write_new, version=4, overwrite=True)
  with open(os.path.join(model_dir, "4", "saved_model.pb")) as f:
    assert f.read() == "new"
  assert sorted(os.listdir(model_dir)) == ["4"]


@pytest.mark.parametrize("version", [0, -1, "2", True])
def test_bad_versions_are_refused(tmp_path, version):
  with pytest.raises(ValueError, match="version=.*must be an int >= 1"):
    layout.write_version(str(tmp_path), write_files, version=version)


def test_scratch_of_dead_writers_is_cleaned_up(tmp_path):
  pid = dead_pid()
  model_dir = tmp_path / "m"
  (model_dir / f".tmp-3-{pid}").mkdir(parents=True)
  (model_dir / f".old-2-{pid}").mkdir()  # Killed between the two renames.
  (model_dir / f".old-1-{pid}").mkdir()
  (model_dir / "1").mkdir()
  alive = model_dir / f".tmp-9-{os.getpid()}"  # A live writer's: kept.
  alive.mkdir()
  handled = layout.remove_stale_scratch(str(model_dir))
  assert sorted(handled) == sorted([f".tmp-3-{pid}", f".old-2-{pid}",
                                    f".old-1-{pid}"])
  assert sorted(os.listdir(model_dir)) == sorted(["1", "2", alive.name])


def parse(path):
  config = model_server_config_pb2.ModelServerConfig()
  with open(path) as f:
    text_format.Parse(f.read(), config)
  return {c.name: (c.base_path, c.model_platform)
          for c in config.model_config_list.config}


def test_models_config_is_created_and_updated_keeping_other_models(tmp_path):
  base = str(tmp_path)
  path = layout.update_models_config(base, "multigrid")
  assert path == os.path.join(base, "models.config")
  assert parse(path) == {"multigrid": ("/models/multigrid", "tensorflow")}
  layout.update_models_config(base, "other", "/srv/models/")
  layout.update_models_config(base, "multigrid", "/data")
  assert parse(path) == {"multigrid": ("/data/multigrid", "tensorflow"),
                         "other": ("/srv/models/other", "tensorflow")}
  assert "model_config_list" in open(path).read()


def test_bad_models_config_and_arguments_are_reported(tmp_path):
  (tmp_path / "models.config").write_text("model_config_list { oops")
  with pytest.raises(ValueError, match="not a valid ModelServerConfig"):
    layout.update_models_config(str(tmp_path), "m")
  with pytest.raises(ValueError, match="serving_base_path='models'"):
    layout.update_models_config(str(tmp_path), "m", "models")


@pytest.mark.parametrize("name", ["", "12", ".hidden", "a/b", "a b", None])
def test_bad_model_names_are_refused(name):
  with pytest.raises(ValueError, match="model_name="):
    layout.check_model_name(name)


def test_good_model_names_pass():
  for name in ("multigrid", "mg_digits-2", "v1.2"):
    assert layout.check_model_name(name) == name


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))


WRITER = r"""
import os, sys, time
from tfgen.serving import layout
model_dir, go, version = sys.argv[1], sys.argv[2], sys.argv[3]
while not os.path.exists(go):
  time.sleep(0.01)

def write(path):
  os.makedirs(path)
  time.sleep(1.0)  # Both writers are inside write_version at once.
  with open(os.path.join(path, "writer"), "w") as f:
    f.write(str(os.getpid()))

try:
  number, _ = layout.write_version(model_dir, write,
                                   int(version) if version else None)
except FileExistsError as error:
  print("refused:", error)
else:
  print("version", number)
"""


def race(tmp_path, version=""):
  """Two writer processes released at the same moment; their outputs."""
  model_dir = str(tmp_path / "models" / "tiny")
  go = str(tmp_path / "go")
  processes = [subprocess.Popen(
      [sys.executable, "-c", WRITER, model_dir, go, version], cwd=REPO,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
  try:
    time.sleep(3)  # Both imported and waiting.
    open(go, "w").close()
    outputs = [p.communicate(timeout=120) for p in processes]
  finally:
    for p in processes:
      if p.poll() is None:
        p.kill()
  for p, (_, err) in zip(processes, outputs):
    assert p.returncode == 0, err[-2000:]
  return model_dir, [out.strip() for out, _ in outputs], processes


def test_two_concurrent_writers_get_different_versions(tmp_path):
  model_dir = str(tmp_path / "models" / "tiny")
  layout.write_version(model_dir, lambda path: os.makedirs(path))  # 1.
  model_dir, outputs, processes = race(tmp_path)
  assert sorted(outputs) == ["version 2", "version 3"]
  assert layout.versions(model_dir) == [1, 2, 3]
  writers = set()
  for version in (2, 3):
    with open(os.path.join(model_dir, str(version), "writer")) as f:
      writers.add(int(f.read()))
  assert writers == {p.pid for p in processes}  # Neither replaced the other.
  assert sorted(os.listdir(model_dir)) == ["1", "2", "3"]  # No leftovers.


def test_two_concurrent_writers_of_one_version_one_is_refused(tmp_path):
  model_dir, outputs, _ = race(tmp_path, version="5")
  assert sorted(o.split()[0] for o in outputs) == ["refused:", "version"]
  refused = next(o for o in outputs if o.startswith("refused:"))
  assert ("/5 is being written by another export (PID " in refused
          or "/5 exists: pass --overwrite" in refused), refused
  assert layout.versions(model_dir) == [5]


def test_a_stale_reservation_of_a_dead_writer_is_taken_over(tmp_path):
  model_dir = str(tmp_path / "tiny")
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  os.makedirs(os.path.join(model_dir, ".lock-1"))
  with open(os.path.join(model_dir, ".lock-1", "owner.json"), "w") as f:
    json.dump({"pid": dead.pid, "host": socket.gethostname()}, f)
  assert layout.write_version(model_dir, os.makedirs, 1)[0] == 1
  assert os.listdir(model_dir) == ["1"]
  # Without --version, a dead writer's reservation does not take a number.
  os.makedirs(os.path.join(model_dir, ".lock-2"))
  with open(os.path.join(model_dir, ".lock-2", "owner.json"), "w") as f:
    json.dump({"pid": dead.pid, "host": socket.gethostname()}, f)
  assert layout.write_version(model_dir, os.makedirs)[0] == 2
  assert sorted(os.listdir(model_dir)) == ["1", "2"]
