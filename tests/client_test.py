"""tfgen.serving.client.Client and `python -m export.client`.

REST runs against the development server (export.serve) in a thread; gRPC
against a minimal `PredictionService` defined here on the same SavedModel
(TF Serving itself is a Docker image, not available to tests). Every server
is shut down in its fixture.
"""

import concurrent.futures
import os
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

import support

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_BATCH = 4
MAX_STEPS = 5  # --max_steps of the conditional multigrid export.


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
  with pytest.raises(client_lib.ServingError) as caught:
    client.inpaint(np.zeros([1, 8, 8, 1]), np.full([1, 8, 8, 1], 0.5), [1])
  assert caught.value.status == status
  assert str(caught.value).endswith(
      "mask: values must be 0 (observed) or 1 (missing).")  # No TF node tail.
  with pytest.raises(client_lib.ServingError,
                     match="seed: batch of 5 instances is above max_batch=4"):
    client._call_once("serving_default",  # pylint: disable=protected-access
                      {"seed": np.arange(MAX_BATCH + 1)})


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_a_request_above_the_max_batch_is_split_into_several(
    request, loaded, kind):
  client = client_lib.Client(request.getfixturevalue(f"{kind}_url"), "tiny")
  assert client.max_batch() == MAX_BATCH  # From the export's get_config.
  seeds = list(range(30, 40))
  images = client.predict(seeds)
  assert images.shape == (10, 8, 8, 1)
  expected = np.concatenate([direct(loaded, seeds[i:i + MAX_BATCH])[
      "images"].numpy() for i in range(0, 10, MAX_BATCH)])
  np.testing.assert_array_equal(images, expected)
  assert len(client.predict_png(seeds)) == 10


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


@pytest.mark.parametrize("num_steps", [0, True, 2.5, "3"])
def test_bad_num_steps_are_refused_before_sending(num_steps):
  with pytest.raises(ValueError, match=rf"num_steps={num_steps!r} must be "
                     r"an int >= 1 \(the request's sampler steps\), or "
                     "None for the export's own."):
    client_lib.Client("http://127.0.0.1:9", "m").predict(
        [1], num_steps=num_steps)


def test_parse_seeds():
  assert client_lib.parse_seeds("1,2, 3") == [1, 2, 3]
  assert client_lib.parse_seeds("0:4") == [0, 1, 2, 3]
  assert client_lib.parse_seeds("-2") == [-2]
  for bad in ("a", "1:x", "4:2", ""):
    with pytest.raises(ValueError, match="--seeds="):
      client_lib.parse_seeds(bad)


def run_client(*args):
  return support.python("-m", "export.client", *args, timeout=300,
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
    (["--output={tmp}/x.png", "--num_steps=0"], "--num_steps=0 must be >= 1"),
    (["--output={tmp}/x.png", "--num_steps=3", "--signature=refine"],
     "--num_steps goes with sampling (--signature=serving_default), not "
     "--signature=refine"),
])
def test_command_line_reports_errors(rest_url, tmp_path, args, expected):
  args = [a.format(url=rest_url, tmp=tmp_path) for a in args]
  result = run_client(*args)
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-2000:]
  assert not os.listdir(tmp_path)


# ---- class-conditional exports, inpaint and refine ----------------------------


@pytest.fixture(scope="module")
def conditional_url(tmp_path_factory):
  """A dev server of a conditional multigrid and a conditional LAPGAN."""
  from tfgen.models import LAPGAN  # pylint: disable=g-import-not-at-top
  path = str(tmp_path_factory.mktemp("conditional"))
  multigrid = MultigridEBM(grid_sizes=(1, 4, 8), channels=1,
                           num_langevin_steps=2, net_width=0.125,
                           start_bank_size=8, num_classes=3)
  multigrid.adapt(np.linspace(-1, 1, 8 * 64).reshape(8, 8, 8, 1),
                  labels=np.arange(8) % 3)
  lapgan = LAPGAN(level_sizes=(4, 8), num_classes=3, noise_dim=4,
                  generator_width=0.125, discriminator_width=0.125, seed=1)
  loaded = {}
  for name, model, max_steps in (("mg", multigrid, MAX_STEPS),
                                 ("lap", lapgan, None)):
    archive, metadata, _ = signatures.build_archive(model, MAX_BATCH,
                                                    max_steps=max_steps)

    def write(version_dir, archive=archive, metadata=metadata):
      archive.write_out(version_dir, verbose=False)
      signatures.write_assets_extra(version_dir, metadata)

    layout.write_version(os.path.join(path, name), write)
    loaded[name] = tf.saved_model.load(os.path.join(path, name, "1"))
  server = serve.make_server(path, port=0, quiet=True)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f"http://127.0.0.1:{server.server_port}", loaded
  finally:
    server.shutdown()
    server.server_close()
    thread.join(timeout=30)


def test_class_ids_reach_conditional_exports_and_requests_are_split(
    conditional_url):
  url, loaded = conditional_url
  seeds, classes = list(range(6)), [0, 1, 2, 2, 1, 0]
  for name in ("mg", "lap"):
    client = client_lib.Client(url, name)
    images = client.predict(seeds, classes)  # 6 > max_batch 4: two parts.
    expected = np.concatenate([loaded[name].signatures["serving_default"](
        seed=tf.constant(seeds[i:i + 4], tf.int64),
        class_id=tf.constant(classes[i:i + 4], tf.int64))["images"].numpy()
                               for i in (0, 4)])
    np.testing.assert_array_equal(images, expected)
    one_class = client.predict([1, 2], class_ids=2)
    np.testing.assert_array_equal(one_class, expected[[1, 2]] * 0 + (
        loaded[name].signatures["serving_default"](
            seed=tf.constant([1, 2], tf.int64),
            class_id=tf.constant([2, 2], tf.int64))["images"].numpy()))
    with pytest.raises(client_lib.ServingError, match=r"class_id: values "
                       r"\[3\] must be in \[0, 3\)"):
      client.predict([1], class_ids=3)
  with pytest.raises(ValueError, match="must be one int or 2 ints"):
    client_lib.Client(url, "mg").predict([1, 2], class_ids=[1, 2, 3])


def test_inpaint_and_refine_of_conditional_exports(conditional_url):
  url, loaded = conditional_url
  image = np.full([5, 8, 8, 1], 0.75, np.float32)
  mask = np.zeros([5, 8, 8, 1], np.float32)
  mask[:, :, :4] = 1
  filled = client_lib.Client(url, "mg").inpaint(image, mask, range(5),
                                                class_ids=1)
  assert filled.shape == (5, 8, 8, 1)
  np.testing.assert_allclose(filled[:, :, 4:], 0.75, atol=1e-6)
  coarse = np.random.RandomState(0).uniform(0, 1, (5, 4, 4, 1)).astype(
      np.float32)
  refined = client_lib.Client(url, "lap").refine(coarse, range(5), [0, 1, 2,
                                                                    0, 1])
  expected = np.concatenate([loaded["lap"].signatures["refine"](
      image=tf.constant(coarse[i:i + 4]),
      seed=tf.constant(list(range(5))[i:i + 4], tf.int64),
      class_id=tf.constant([0, 1, 2, 0, 1][i:i + 4], tf.int64))[
          "images"].numpy() for i in (0, 4)])
  np.testing.assert_array_equal(refined, expected)


def test_num_steps_per_request_through_the_dev_server(conditional_url,
                                                     tmp_path):
  url, loaded = conditional_url
  client = client_lib.Client(url, "mg")
  seeds, classes = [1, 2, 3, 4, 5], [0, 1, 2, 0, 1]  # Sent in two parts.
  three = client.predict(seeds, classes, num_steps=3)
  np.testing.assert_array_equal(three, client.predict(seeds, classes,
                                                      num_steps=3))
  np.testing.assert_array_equal(three[:4], loaded["mg"].signatures[
      "sample_steps"](seed=tf.constant(seeds[:4], tf.int64),
                      class_id=tf.constant(classes[:4], tf.int64),
                      num_steps=tf.constant([3] * 4, tf.int64))["images"])
  assert np.abs(three - client.predict(seeds, classes, num_steps=1)).max() > (
      1e-4)
  # The export's default is 2 steps on every grid: num_steps=2 is that.
  np.testing.assert_array_equal(client.predict(seeds, classes, num_steps=2),
                                client.predict(seeds, classes))
  for inputs, expected in (
      ({"num_steps": [0]}, r"num_steps: values \[0\] must be in \[1, 5\] "
       r"\(the max_steps of this export\)\.$"),
      ({"num_steps": [6]}, r"num_steps: values \[6\] must be in \[1, 5\]"),
      ({"num_steps": np.array([2.5])}, r"Input 'num_steps': cannot make a "
       r"int64 tensor of the value \(.*\)\. num_steps must be integers in "
       r"\[1, 5\] \(the max_steps of this export\)\.$"),
      ({"num_steps": [True]}, r"true/false is not an int64; send integers, "
       r"e\.g\. 1\. num_steps must be integers in \[1, 5\]")):
    with pytest.raises(client_lib.ServingError, match=expected) as raised:
      client.call("sample_steps", {"seed": [1], "class_id": [0], **inputs})
    assert raised.value.status == 400
  with pytest.raises(client_lib.ServingError, match=(
      r"HTTP 400: num_steps: signature 'serving_default' takes no num_steps "
      r"\(it runs this export's default steps, \[2, 2\]\); send num_steps in "
      r"\[1, 5\] \(the max_steps of this export\) with signature_name "
      r"'sample_steps'\.")):
    client.call("serving_default", {"seed": [1], "class_id": [0],
                                    "num_steps": [3]})
  lapgan = client_lib.Client(url, "lap")
  for call in (lambda: lapgan.predict([1], [0], num_steps=3),
               lambda: lapgan.call("serving_default", {
                   "seed": [1], "class_id": [0], "num_steps": [3]})):
    with pytest.raises(client_lib.ServingError, match=(
        r"HTTP 400: num_steps: a request with num_steps needs a model that "
        r"takes a number of sampler steps .*this is a 'lapgan' model "
        r"\(family='lapgan'\), which does not\. Instead, send the request "
        r"without num_steps \(to serving_default\): a LAPGAN has no sampler "
        r"steps")):
      call()
  npz = str(tmp_path / "steps.npz")
  result = run_client(f"--url={url}", "--model_name=mg", "--seeds=1:6",
                      "--class_id=0", "--num_steps=3", f"--output={npz}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "(serving_default, 3 steps)" in result.stdout
  with np.load(npz) as archive:
    np.testing.assert_array_equal(archive["images"], client.predict(
        seeds, 0, num_steps=3))


def test_command_line_sends_class_id_and_calls_refine_and_inpaint(
    conditional_url, tmp_path):
  url, loaded = conditional_url
  npz = str(tmp_path / "samples.npz")
  result = run_client(f"--url={url}", "--model_name=lap", "--seeds=0:6",
                      "--class_id=2", f"--output={npz}")
  assert result.returncode == 0, result.stderr[-2000:]
  with np.load(npz) as archive:
    np.testing.assert_array_equal(
        archive["images"][:4], loaded["lap"].signatures["serving_default"](
            seed=tf.constant(range(4), tf.int64),
            class_id=tf.constant([2] * 4, tf.int64))["images"].numpy())
  coarse = str(tmp_path / "coarse.npz")
  np.savez(coarse, images=np.full([3, 4, 4, 1], 0.5, np.float32))
  result = run_client(f"--url={url}", "--model_name=lap", "--seeds=0:3",
                      "--signature=refine", f"--input={coarse}",
                      "--class_id=1", f"--output={tmp_path}/refined.png")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "(refine)" in result.stdout
  masked = str(tmp_path / "masked.npz")
  np.savez(masked, images=np.full([2, 8, 8, 1], 0.5, np.float32),
           masks=np.ones([2, 8, 8, 1], np.float32))
  result = run_client(f"--url={url}", "--model_name=mg", "--seeds=0:2",
                      "--signature=inpaint", f"--input={masked}",
                      "--class_id=0", f"--output={tmp_path}/filled.npz")
  assert result.returncode == 0, result.stderr[-2000:]
  result = run_client(f"--url={url}", "--model_name=mg", "--seeds=0:3",
                      "--signature=inpaint", f"--input={masked}",
                      f"--output={tmp_path}/x.npz")
  assert result.returncode == 1
  assert "holds 2 images but --seeds='0:3' gives 3 seeds" in result.stderr


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
