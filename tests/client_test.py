"""tfgen.serving.client.Client and `python -m export.client`.

REST runs against the development server (export.serve) in a thread; gRPC
against a minimal `PredictionService` defined here on the same SavedModel
(TF Serving itself is a Docker image, not available to tests). Every server
is shut down in its fixture.
"""

import concurrent.futures
import os
import subprocess
import sys
import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from export import serve
from tfgen.models import MultigridEBM
from tfgen.serving import client as client_lib
from tfgen.serving import layout
from export import archive as signatures

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_BATCH = 4


@pytest.fixture(scope="module")
def base(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("models"))
  model = MultigridEBM(grid_sizes=(1, 4, 8), channels=1, num_langevin_steps=2,
                       net_width=0.125, start_bank_size=8)
  model.adapt(np.linspace(-1, 1, 8 * 64).reshape(8, 8, 8, 1))
  archive, metadata, _ = signatures.build_archive(model, MAX_BATCH)

  def write(version_dir):
    archive.write_out(version_dir, verbose=False)
    signatures.write_assets_extra(version_dir, metadata)

  layout.write_version(os.path.join(path, "tiny"), write)
  return path


@pytest.fixture(scope="module")
def loaded(base):
  return tf.saved_model.load(os.path.join(base, "tiny", "1"))


@pytest.fixture(scope="module")
def rest_url(base):
  server = serve.make_server(base, port=0, quiet=True)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f"http://127.0.0.1:{server.server_port}"
  finally:
    server.shutdown()
    server.server_close()
    thread.join(timeout=30)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
  """TF Serving's gRPC Predict on one loaded SavedModel (test stand-in)."""

  def __init__(self, loaded):
    self.loaded = loaded

  def Predict(self, request, context):  # pylint: disable=invalid-name
    if request.model_spec.name != "tiny":
      context.abort(grpc.StatusCode.NOT_FOUND, "Servable not found")
    function = self.loaded.signatures[request.model_spec.signature_name
                                      or "serving_default"]
    inputs = {k: tf.constant(tf.make_ndarray(v))
              for k, v in request.inputs.items()}
    try:
      outputs = function(**inputs)
    except tf.errors.InvalidArgumentError as error:
      context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
    response = predict_pb2.PredictResponse()
    for key, value in outputs.items():
      response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
    return response


@pytest.fixture(scope="module")
def grpc_url(loaded):
  server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
  prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
      PredictionService(loaded), server)
  port = server.add_insecure_port("127.0.0.1:0")
  server.start()
  try:
    yield f"grpc://127.0.0.1:{port}"
  finally:
    server.stop(grace=None).wait(timeout=30)


def direct(loaded, seeds):
  return loaded.signatures["serving_default"](
      seed=tf.constant(seeds, tf.int64))


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_predict_returns_the_saved_model_images(request, loaded, kind):
  url = request.getfixturevalue(f"{kind}_url")
  client = client_lib.Client(url, "tiny")
  expected = direct(loaded, [3, 1, 2])
  images = client.predict([3, 1, 2])
  assert images.shape == (3, 8, 8, 1) and images.dtype == np.float32
  np.testing.assert_array_equal(images, expected["images"].numpy())
  assert client.predict_png([3, 1, 2]) == list(
      expected["images_bytes"].numpy())


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_inpaint_keeps_observed_pixels(request, kind):
  client = client_lib.Client(request.getfixturevalue(f"{kind}_url"), "tiny")
  image = np.full([2, 8, 8, 1], 0.75, np.float32)
  mask = np.zeros([2, 8, 8, 1], np.float32)
  mask[:, :, :4] = 1
  filled = client.inpaint(image, mask, [1, 2])
  np.testing.assert_allclose(filled[:, :, 4:], 0.75, atol=1e-6)


@pytest.mark.parametrize("kind, status", [("rest", 400),
                                          ("grpc", "INVALID_ARGUMENT")])
def test_server_errors_raise_serving_error_with_the_message(
    request, kind, status):
  client = client_lib.Client(request.getfixturevalue(f"{kind}_url"), "tiny")
  with pytest.raises(client_lib.ServingError,
                     match="seed: batch of 5 instances is above max_batch=4"
                     ) as caught:
    client.predict(list(range(MAX_BATCH + 1)))
  assert caught.value.status == status


def test_unknown_model_version_and_unreachable_server(rest_url):
  with pytest.raises(client_lib.ServingError, match="HTTP 404") as caught:
    client_lib.Client(rest_url, "nope").predict([1])
  assert caught.value.status == 404
  with pytest.raises(client_lib.ServingError, match="HTTP 404"):
    client_lib.Client(rest_url, "tiny", version=9).predict([1])
  assert client_lib.Client(rest_url, "tiny", version=1).predict([1]).shape == (
      1, 8, 8, 1)
  with pytest.raises(client_lib.ServingError, match="Cannot reach") as caught:
    client_lib.Client("http://127.0.0.1:9", "tiny", timeout=5).predict([1])
  assert caught.value.status is None


def test_status_and_metadata(rest_url):
  client = client_lib.Client(rest_url, "tiny")
  assert client.status()["model_version_status"][0]["state"] == "AVAILABLE"
  defs = client.metadata()["metadata"]["signature_def"]["signature_def"]
  assert "inpaint" in defs


@pytest.mark.parametrize("args, expected", [
    (("ftp://x", "m"), "url='ftp://x' must be http://host:port"),
    (("http://", "m"), "url='http://' must be"),
    (("http://h:1", ""), "model_name='' must be"),
    (("http://h:1", "m", 0), "version=0 must be an int >= 1"),
    (("http://h:1", "m", None, 0), "timeout=0 must be > 0"),
])
def test_bad_client_arguments(args, expected):
  with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
    client_lib.Client(*args)


@pytest.mark.parametrize("seeds", [[], [1.5], [[1, 2]], ["a"]])
def test_bad_seeds_are_refused_before_sending(seeds):
  with pytest.raises(ValueError, match="must be a non-empty list of ints"):
    client_lib.Client("http://127.0.0.1:9", "m").predict(seeds)


def test_parse_seeds():
  assert client_lib.parse_seeds("1,2, 3") == [1, 2, 3]
  assert client_lib.parse_seeds("0:4") == [0, 1, 2, 3]
  assert client_lib.parse_seeds("-2") == [-2]
  for bad in ("a", "1:x", "4:2", ""):
    with pytest.raises(ValueError, match="--seeds="):
      client_lib.parse_seeds(bad)


def run_client(*args):
  return subprocess.run([sys.executable, "-m", "export.client", *args],
                        cwd=REPO, capture_output=True, text=True, timeout=120,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def test_command_line_writes_a_png_grid_and_npz(rest_url, loaded, tmp_path):
  png = str(tmp_path / "out" / "samples.png")
  result = run_client(f"--url={rest_url}", "--model_name=tiny",
                      "--seeds=0:4", f"--output={png}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "Wrote 4 images of shape [8, 8, 1]" in result.stdout
  assert Image.open(png).size[0] >= 8 * 2
  npz = str(tmp_path / "samples.npz")
  result = run_client(f"--url={rest_url}", "--model_name=tiny",
                      "--seeds=5,6", f"--output={npz}")
  assert result.returncode == 0, result.stderr[-2000:]
  with np.load(npz) as archive:
    np.testing.assert_array_equal(archive["seeds"], [5, 6])
    np.testing.assert_array_equal(archive["images"],
                                  direct(loaded, [5, 6])["images"].numpy())


@pytest.mark.parametrize("args, expected", [
    (["--output=x.jpg"], "--output='x.jpg' must be a path ending"),
    (["--output={tmp}/x.png", "--seeds=a"], "--seeds='a' must be ints"),
    (["--output={tmp}/x.png", "--url=http://127.0.0.1:9"], "Cannot reach"),
    (["--output={tmp}/x.png", "--model_name=nope", "--url={url}"],
     "HTTP 404"),
])
def test_command_line_reports_errors(rest_url, tmp_path, args, expected):
  args = [a.format(url=rest_url, tmp=tmp_path) for a in args]
  result = run_client(*args)
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-2000:]
  assert not os.listdir(tmp_path)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
