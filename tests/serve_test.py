"""`export.serve`: the development REST server speaks TF Serving's API.

A tiny adapted model is exported in-process once per module; the server
runs in a thread on a free port (and once as `python -m export.serve` in a
subprocess), and is always shut down.
"""

import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from export import serve
from tfgen.models import MultigridEBM
from tfgen.serving import layout
from export import archive as signatures

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_BATCH = 4


def export_tiny(base, name="tiny", max_batch=MAX_BATCH, steps=None):
  model = MultigridEBM(grid_sizes=(1, 4, 8), channels=1, num_langevin_steps=2,
                       net_width=0.125, start_bank_size=8)
  model.adapt(np.linspace(-1, 1, 8 * 64).reshape(8, 8, 8, 1))
  archive, metadata, _ = signatures.build_archive(model, max_batch, steps)

  def write(path):
    archive.write_out(path, verbose=False)
    signatures.write_assets_extra(path, metadata)

  return layout.write_version(os.path.join(base, name), write)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("models"))
  export_tiny(path)
  return path


@pytest.fixture(scope="module")
def url(base):
  server = serve.make_server(base, port=0, quiet=True)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f"http://127.0.0.1:{server.server_port}"
  finally:
    server.shutdown()
    server.server_close()
    thread.join(timeout=30)


def request(url, path, body=None, raw=None):
  """(HTTP status, parsed JSON) of a GET (no body) or POST."""
  data = raw if raw is not None else (
      None if body is None else json.dumps(body).encode())
  req = urllib.request.Request(url + path, data=data,
                               method="GET" if data is None else "POST")
  try:
    with urllib.request.urlopen(req, timeout=120) as response:
      return response.status, json.loads(response.read())
  except urllib.error.HTTPError as error:
    return error.code, json.loads(error.read())


def direct(base, seeds):
  loaded = tf.saved_model.load(os.path.join(base, "tiny", "1"))
  return loaded.signatures["serving_default"](
      seed=tf.constant(seeds, tf.int64))["images"].numpy()


def test_status_and_metadata(url):
  assert request(url, "/v1/models/tiny") == (200, {"model_version_status": [{
      "version": "1", "state": "AVAILABLE",
      "status": {"error_code": "OK", "error_message": ""}}]})
  assert request(url, "/v1/models/tiny/versions/1")[0] == 200
  status, metadata = request(url, "/v1/models/tiny/metadata")
  assert status == 200
  assert metadata["model_spec"] == {"name": "tiny", "signature_name": "",
                                    "version": "1"}
  defs = metadata["metadata"]["signature_def"]["signature_def"]
  assert set(defs) == {"serving_default", "sample_steps", "inpaint",
                       "get_config"}
  assert defs["serving_default"]["inputs"]["seed"]["dtype"] == "DT_INT64"


def test_row_and_columnar_predictions_match_the_saved_model(url, base):
  expected = direct(base, [1, 2, 3])
  status, rows = request(url, "/v1/models/tiny:predict", {
      "instances": [{"seed": 1}, {"seed": 2}, {"seed": 3}]})
  assert status == 200, rows
  images = np.array([row["images"] for row in rows["predictions"]],
                    np.float32)
  np.testing.assert_array_equal(images, expected)
  png = base64.b64decode(rows["predictions"][0]["images_bytes"]["b64"])
  np.testing.assert_array_equal(
      np.asarray(Image.open(io.BytesIO(png))),
      np.round(expected[0, ..., 0] * 255).astype(np.uint8))
  bare = request(url, "/v1/models/tiny:predict", {"instances": [1, 2, 3]})
  assert bare == (status, rows)  # One input: instances may be bare values.
  status, columns = request(url, "/v1/models/tiny/versions/1:predict", {
      "signature_name": "serving_default", "inputs": {"seed": [1, 2, 3]}})
  assert status == 200, columns
  np.testing.assert_array_equal(
      np.array(columns["outputs"]["images"], np.float32), expected)
  assert len(columns["outputs"]["images_bytes"]) == 3


def test_inpaint_and_get_config_signatures(url):
  image = np.full([8, 8, 1], 0.25).tolist()
  mask = np.zeros([8, 8, 1])
  mask[:4] = 1
  status, rows = request(url, "/v1/models/tiny:predict", {
      "signature_name": "inpaint",
      "instances": [{"image": image, "mask": mask.tolist(), "seed": 5}]})
  assert status == 200, rows
  filled = np.array(rows["predictions"][0]["images"])
  np.testing.assert_allclose(filled[4:], 0.25, atol=1e-6)
  status, config = request(url, "/v1/models/tiny:predict", {
      "signature_name": "get_config", "inputs": {}})
  assert status == 200, config
  assert json.loads(config["outputs"])["serving"]["max_batch"] == MAX_BATCH


@pytest.mark.parametrize("body, expected", [
    ({"inputs": {"seed": []}}, "seed: empty batch"),
    ({"instances": [{"seed": s} for s in range(MAX_BATCH + 1)]},
     f"seed: batch of {MAX_BATCH + 1} instances is above max_batch="
     f"{MAX_BATCH}"),
    ({"signature_name": "inpaint", "inputs": {
        "image": np.zeros([1, 4, 4, 1]).tolist(),
        "mask": np.zeros([1, 8, 8, 1]).tolist(), "seed": [1]}},
     r"image: shape \[1 4 4 1\] must be \[batch, 8, 8, 1\]"),
    ({"signature_name": "inpaint", "inputs": {
        "image": np.zeros([1, 8, 8, 1]).tolist(),
        "mask": np.full([1, 8, 8, 1], 0.5).tolist(), "seed": [1]}},
     r"mask: values must be 0 \(observed\) or 1 \(missing\)"),
    ({"signature_name": "inpaint", "inputs": {
        "image": np.zeros([8, 8, 1]).tolist(),
        "mask": np.zeros([1, 8, 8, 1]).tolist(), "seed": [1]}},
     r"Input 'image': shape \[8, 8, 1\] does not match"),
    ({"inputs": {"seed": [1.5]}}, "Input 'seed': cannot make a int64"),
    ({"inputs": {"seed": [[1, 2], [3]]}}, "Input 'seed': cannot make"),
    ({"inputs": {"sed": [1]}}, r"'inputs' has \['sed'\]; the signature "
     r"takes \['seed'\]"),
    ({"instances": [{"sed": 1}]}, r"instances\[0\] has the inputs"),
    ({"instances": [1], "inputs": [1]}, "exactly one of 'instances'"),
    ({"signature_name": "nope", "inputs": [1]}, "'nope' not found"),
    ([1, 2], "must be a JSON object"),
])
def test_bad_requests_get_http_400_with_the_message(url, body, expected):
  status, answer = request(url, "/v1/models/tiny:predict", body)
  assert status == 400, answer
  assert re.search(expected, answer["error"]), answer["error"]


def test_absurdly_nested_json_and_booleans_for_integers_get_http_400(url):
  deep = b"[" * 100_000 + b"]" * 100_000
  status, answer = request(url, "/v1/models/tiny:predict", raw=deep)
  assert status == 400, answer
  assert "nested too deeply" in answer["error"]
  nested = {"inputs": {"seed": json.loads("[" * 40 + "1" + "]" * 40)}}
  status, answer = request(url, "/v1/models/tiny:predict", nested)
  assert status == 400 and "nested more than 32 levels" in answer["error"]
  for body in ({"inputs": {"seed": [True]}}, {"instances": [{"seed": True}]},
               {"instances": [True, 2]}):
    status, answer = request(url, "/v1/models/tiny:predict", body)
    assert status == 400, answer
    assert answer["error"] == ("Input 'seed': true/false is not an int64; "
                               "send integers, e.g. 1.")


def test_in_graph_check_messages_have_no_tensorflow_node_tail(url):
  status, answer = request(url, "/v1/models/tiny:predict",
                           {"inputs": {"seed": list(range(MAX_BATCH + 1))}})
  assert status == 400
  assert answer["error"] == (
      f"seed: batch of {MAX_BATCH + 1} instances is above max_batch="
      f"{MAX_BATCH} of this export; split the request or re-export with a "
      "larger --max_batch.")


def test_malformed_json_and_unknown_paths(url):
  status, answer = request(url, "/v1/models/tiny:predict", raw=b"{\"inp")
  assert status == 400 and "JSON parse error" in answer["error"]
  for path in ("/v1/models/nope", "/v1/models/tiny/versions/7",
               "/v1/models/..", "/v2/anything"):
    status, answer = request(url, path)
    assert status == 404, (path, answer)
    assert answer["error"]
  status, answer = request(url, "/v1/models/tiny:classify", {"inputs": [1]})
  assert status == 404 and ":predict" in answer["error"]
  status, answer = request(url, "/v1/models/nope:predict", {"inputs": [1]})
  assert status == 404 and "'nope'" in answer["error"]


def test_a_newer_version_is_served_at_the_next_request(tmp_path):
  base = str(tmp_path)
  export_tiny(base, "m")
  server = serve.make_server(base, port=0, quiet=True)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    url = f"http://127.0.0.1:{server.server_port}"
    assert request(url, "/v1/models/m")[1]["model_version_status"][0][
        "version"] == "1"
    export_tiny(base, "m", steps=0)
    assert request(url, "/v1/models/m")[1]["model_version_status"][0][
        "version"] == "2"
    assert request(url, "/v1/models/m/versions/1")[0] == 404
  finally:
    server.shutdown()
    server.server_close()
    thread.join(timeout=30)


def test_make_server_refuses_a_missing_base(tmp_path):
  with pytest.raises(ValueError, match="is not a directory"):
    serve.make_server(str(tmp_path / "missing"), port=0)


def test_command_line_server_starts_answers_and_stops_on_sigterm(base):
  process = subprocess.Popen(
      [sys.executable, "-m", "export.serve", f"--export_base={base}",
       "--port=0", "--quiet"], cwd=REPO, stdout=subprocess.PIPE,
      stderr=subprocess.DEVNULL, text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  try:
    line = process.stdout.readline()  # Printed once it listens.
    match = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
    assert match, line
    assert "development server" in line
    status, rows = request(match.group(1), "/v1/models/tiny:predict",
                           {"instances": [7]})
    assert status == 200
    np.testing.assert_array_equal(
        np.array(rows["predictions"][0]["images"], np.float32),
        direct(base, [7])[0])
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert "Stopped." in process.stdout.read()
  finally:
    if process.poll() is None:
      process.kill()
      process.wait(timeout=30)
    process.stdout.close()


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
