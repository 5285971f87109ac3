"""A client for tfgen models served by TF Serving (or `export.serve`).

    from tfgen.serving.client import Client
    client = Client("http://127.0.0.1:8501", "multigrid")
    images = client.predict([0, 1, 2])       # float32 [3, S, S, C] in [0, 1]
    pngs = client.predict_png([0, 1, 2])     # three PNG files' bytes

Conditional exports take `class_ids` (one int for all, or one per seed);
`num_steps=K` asks an iterative export (multigrid, GRAN, PPGN) for K sampler
steps through its `sample_steps` signature (docs/serving-steps.md);
`inpaint` (multigrid) and `refine` (LAPGAN) call the other signatures. A
request larger than the export's `max_batch` (read once from its
`get_config` signature) is sent as several requests of at most that many
instances, and the answers are joined.

`http://host:port` speaks TF Serving's REST predict API with the standard
library only (urllib); `grpc://host:port` speaks its gRPC
`PredictionService` and needs `grpcio` and `tensorflow-serving-api` (imported
only then). Server errors raise `ServingError` with the server's message
(e.g. "seed: batch of 300 instances is above this export's max_batch=256").
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional, Sequence

import numpy as np


class ServingError(RuntimeError):
  """The server refused a request or could not be reached.

  `status` is the HTTP status (or the gRPC status code name), None when the
  server was not reached.
  """

  def __init__(self, message: str, status=None):
    super().__init__(message)
    self.status = status


class Client:
  """Requests images from one served model."""

  def __init__(self, url: str, model_name: str,
               version: Optional[int] = None, timeout: float = 60.0):
    """Creates the client (no connection is made until a request).

    Args:
      url: `http://host:port` (REST, TF Serving's port 8501) or
        `grpc://host:port` (gRPC, port 8500).
      model_name: the served model's name, e.g. "multigrid".
      version: a specific version; default: the latest the server serves.
      timeout: seconds per request.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https", "grpc") or not parsed.netloc:
      raise ValueError(f"url={url!r} must be http://host:port (REST) or "
                       "grpc://host:port (gRPC), e.g. "
                       "'http://127.0.0.1:8501'.")
    if not model_name or "/" in model_name:
      raise ValueError(f"model_name={model_name!r} must be the served "
                       "model's name, e.g. 'multigrid'.")
    if version is not None and (not isinstance(version, int) or version < 1):
      raise ValueError(f"version={version!r} must be an int >= 1 or None "
                       "(the latest).")
    if not timeout > 0:
      raise ValueError(f"timeout={timeout!r} must be > 0 seconds.")
    self.url = url.rstrip("/")
    self.model_name = model_name
    self.version = version
    self.timeout = float(timeout)
    self._grpc = parsed.scheme == "grpc"
    self._target = parsed.netloc
    self._stub = None
    self._max_batch = None  # Read from the export's get_config when needed.

  # ---- what users call ----------------------------------------------------
  def predict(self, seeds: Sequence[int], class_ids=None,
              num_steps: Optional[int] = None) -> np.ndarray:
    """One sample per seed: float32 [N, S, S, C] in [0, 1].

    `class_ids`: for a class-conditional export, one int for every seed or
    one per seed. `num_steps`: the request's sampler steps (an iterative
    export's `sample_steps`; default: the export's own).
    """
    return self.sample(seeds, class_ids, num_steps)["images"]

  def predict_png(self, seeds: Sequence[int], class_ids=None,
                  num_steps: Optional[int] = None) -> list[bytes]:
    """One PNG (bytes) per seed."""
    return self.sample(seeds, class_ids, num_steps)["images_bytes"]

  def sample(self, seeds: Sequence[int], class_ids=None,
             num_steps: Optional[int] = None) -> dict:
    """{"images": [N, S, S, C], "images_bytes": [N]} of one sample per seed.

    Without `num_steps`, `serving_default` (the export's steps); with it
    (an int >= 1, at most the export's max_steps), `sample_steps`.
    """
    seeds = _seeds(seeds)
    inputs = _with_classes({"seed": seeds}, class_ids, len(seeds))
    if num_steps is None:
      return self.call("serving_default", inputs)
    if (isinstance(num_steps, bool) or
        not isinstance(num_steps, (int, np.integer)) or num_steps < 1):
      raise ValueError(f"num_steps={num_steps!r} must be an int >= 1 (the "
                       "request's sampler steps), or None for the export's "
                       "own.")
    inputs["num_steps"] = np.full([len(seeds)], num_steps, np.int64)
    return self.call("sample_steps", inputs)

  def inpaint(self, images: np.ndarray, masks: np.ndarray,
              seeds: Sequence[int], class_ids=None) -> np.ndarray:
    """Fills missing pixels (masks: 1 = missing) of images in [0, 1]."""
    images = np.asarray(images, np.float32)
    masks = np.asarray(masks, np.float32)
    if images.ndim != 4 or masks.ndim != 4:
      raise ValueError(f"images {images.shape} and masks {masks.shape} must "
                       "be [N, S, S, C] and [N, S, S, 1 or C].")
    seeds = _seeds(seeds)
    return self.call("inpaint", _with_classes(
        {"image": images, "mask": masks, "seed": seeds}, class_ids,
        len(seeds)))["images"]

  def refine(self, images: np.ndarray, seeds: Sequence[int],
             class_ids=None) -> np.ndarray:
    """LAPGAN: refines coarse images in [0, 1] up to the finest level."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
      raise ValueError(f"images {images.shape} must be [N, s, s, C] coarse "
                       "images in [0, 1].")
    seeds = _seeds(seeds)
    return self.call("refine", _with_classes(
        {"image": images, "seed": seeds}, class_ids, len(seeds)))["images"]

  def max_batch(self) -> Optional[int]:
    """The export's max_batch (its get_config metadata); None if unknown."""
    if self._max_batch is None:
      try:
        answer = self._call_once("get_config", {})
        config = answer.get("config", next(iter(answer.values()), None))
        if isinstance(config, (list, tuple)):
          config = config[0]
        if isinstance(config, bytes):
          config = config.decode("utf-8")
        self._max_batch = int(json.loads(config)["serving"]["max_batch"])
      except (ServingError, KeyError, TypeError, ValueError):
        self._max_batch = 0  # Not a tfgen export: send requests whole.
    return self._max_batch or None

  def call(self, signature_name: str, inputs: dict) -> dict:
    """Any signature: {input: array} -> {output: array}.

    String outputs are lists of bytes; numeric ones numpy arrays. Inputs
    with more instances than the export's max_batch are sent in parts.
    """
    count = len(next(iter(inputs.values()))) if inputs else 0
    limit = self.max_batch() if count > 1 else None
    if not limit or count <= limit:
      return self._call_once(signature_name, inputs)
    parts = [self._call_once(signature_name,
                             {k: np.asarray(v)[start:start + limit]
                              for k, v in inputs.items()})
             for start in range(0, count, limit)]
    return {key: (np.concatenate([p[key] for p in parts])
                  if isinstance(parts[0][key], np.ndarray)
                  else [item for p in parts for item in p[key]])
            for key in parts[0]}

  def _call_once(self, signature_name: str, inputs: dict) -> dict:
    if self._grpc:
      return self._call_grpc(signature_name, inputs)
    return self._call_rest(signature_name, inputs)

  def status(self) -> dict:
    """The model's version status (REST `GET /v1/models/NAME`)."""
    return self._get("")

  def metadata(self) -> dict:
    """The model's signature defs (REST `GET .../metadata`)."""
    return self._get("/metadata")

  # ---- REST -----------------------------------------------------------------
  def _model_url(self) -> str:
    url = f"{self.url}/v1/models/{urllib.parse.quote(self.model_name)}"
    return url + (f"/versions/{self.version}" if self.version else "")

  def _get(self, suffix: str) -> dict:
    if self._grpc:
      raise ServingError("status() and metadata() use the REST API: create "
                         "the Client with an http:// url.")
    return self._http(urllib.request.Request(self._model_url() + suffix))

  def _call_rest(self, signature_name: str, inputs: dict) -> dict:
    body = {"signature_name": signature_name,
            "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}}
    request = urllib.request.Request(
        self._model_url() + ":predict", data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"}, method="POST")
    outputs = self._http(request)["outputs"]
    if not isinstance(outputs, dict):  # A single output is sent bare.
      outputs = {"output": outputs}
    return {key: _from_json(key, value) for key, value in outputs.items()}

  def _http(self, request: urllib.request.Request) -> dict:
    try:
      with urllib.request.urlopen(request, timeout=self.timeout) as response:
        return json.loads(response.read())
    except urllib.error.HTTPError as error:
      text = error.read().decode("utf-8", errors="replace")
      try:
        message = json.loads(text).get("error", text)
      except (ValueError, AttributeError):
        message = text
      raise ServingError(f"{request.full_url} answered HTTP {error.code}: "
                         f"{clean_message(message)}",
                         status=error.code) from error
    except (urllib.error.URLError, OSError) as error:
      raise ServingError(f"Cannot reach {request.full_url} ({error}): is the "
                         "server running at that address?") from error

  # ---- gRPC -----------------------------------------------------------------
  def _call_grpc(self, signature_name: str, inputs: dict) -> dict:
    try:
      # pylint: disable=g-import-not-at-top
      import grpc
      import tensorflow as tf
      from tensorflow_serving.apis import predict_pb2
      from tensorflow_serving.apis import prediction_service_pb2_grpc
    except ImportError as error:
      raise ImportError(
          "A grpc:// url needs grpcio, tensorflow and tensorflow-serving-api "
          "(pip install grpcio tensorflow-serving-api); or use the REST url "
          "http://host:8501.") from error
    if self._stub is None:
      self._stub = prediction_service_pb2_grpc.PredictionServiceStub(
          grpc.insecure_channel(self._target))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = self.model_name
    request.model_spec.signature_name = signature_name
    if self.version:
      request.model_spec.version.value = self.version
    for key, value in inputs.items():
      request.inputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
    try:
      response = self._stub.Predict(request, timeout=self.timeout)
    except grpc.RpcError as error:
      raise ServingError(
          f"{self.url} answered {error.code().name}: "
          f"{clean_message(error.details())}",
          status=error.code().name) from error
    outputs = {}
    for key, proto in response.outputs.items():
      array = tf.make_ndarray(proto)
      if array.dtype == object:  # Strings: bytes, or a list of them.
        outputs[key] = array.item() if array.ndim == 0 else list(array)
      else:
        outputs[key] = array
    return outputs


def parse_seeds(text: str) -> list[int]:
  """Seeds of a command line: '1,2,3' -> [1, 2, 3]; '0:4' -> [0, 1, 2, 3]."""
  try:
    if ":" in text:
      start, stop = (int(part) for part in text.split(":"))
      seeds = list(range(start, stop))
    else:
      seeds = [int(part) for part in text.split(",") if part.strip()]
  except ValueError as error:
    raise ValueError(f"--seeds={text!r} must be ints separated by commas "
                     "(1,2,3) or START:STOP (0:16).") from error
  if not seeds:
    raise ValueError(f"--seeds={text!r} gives no seed; e.g. --seeds=0:16.")
  return seeds


_NODE_TAIL = re.compile(r"\s*\[\[\{\{node [^}]*\}\}\]\].*$", re.DOTALL)


def clean_message(message) -> str:
  """A server's error without TF's "[[{{node check_seed/Assert}}]]" tail."""
  message = _NODE_TAIL.sub("", str(message)).strip()
  found = re.search(r"assertion failed: \[(.*)\]$", message, re.DOTALL)
  return found.group(1) if found else message


def _with_classes(inputs: dict, class_ids, count: int) -> dict:
  """Adds `class_id` int64 [count] (one int broadcast, or one per seed)."""
  if class_ids is None:
    return inputs
  classes = np.asarray(class_ids)
  if classes.ndim == 0:
    classes = np.full([count], classes)
  if (classes.ndim != 1 or len(classes) != count
      or classes.dtype.kind not in "iu"):
    raise ValueError(f"class_ids={np.asarray(class_ids).tolist()!r} must be "
                     f"one int or {count} ints, one per seed.")
  return {**inputs, "class_id": classes.astype(np.int64)}


def _seeds(seeds) -> np.ndarray:
  seeds = np.asarray(seeds)
  if seeds.ndim != 1 or seeds.size == 0 or seeds.dtype.kind not in "iu":
    raise ValueError(f"seeds={seeds.tolist()!r} must be a non-empty list of "
                     "ints, one per image.")
  return seeds.astype(np.int64)


def _from_json(key: str, value):
  if key.endswith("_bytes"):
    return [base64.b64decode(item["b64"]) for item in value]
  if isinstance(value, str):
    return value
  return np.asarray(value, np.float32 if key == "images" else None)
