r"""A DEVELOPMENT stand-in for TF Serving's REST API (tests, local tries).

    python -m export.serve --export_base=BASE [--port=8501] [--host=127.0.0.1]

serves every model folder `BASE/NAME/` (its highest version; a newer
version written later is loaded at the next request) with TF Serving's REST
surface:

    GET  /v1/models/NAME[/versions/N]            version status
    GET  /v1/models/NAME[/versions/N]/metadata   signature defs
    POST /v1/models/NAME[/versions/N]:predict    row ("instances") or
                                                 columnar ("inputs") format

Row requests get `{"predictions": [...]}`, columnar ones `{"outputs":
{...}}`; string outputs whose key ends in `_bytes` are `{"b64": "..."}`.
Errors are `{"error": "..."}`: HTTP 400 for bad requests (malformed or
absurdly nested JSON, true/false for an integer input) and failed input
checks (InvalidArgumentError, with the check's message only), 404 for an
unknown model or version.

A request's number of sampler steps (`num_steps`, docs/serving-steps.md)
is read against the export's metadata (its `get_config` signature):
a non-integer value is a 400 naming the allowed range (out-of-range
values fail the signature's own check, with the same range), `num_steps`
sent to another signature is a 400 pointing to `sample_steps`, and any
`num_steps` sent to a family without steps (LAPGAN) is a 400 saying so.

It is not a production server: no gRPC, no batching, no model_config_file
or version policies (only the latest version is served), no classify /
regress APIs, no TLS or authentication, one request runs at a time. It
binds to 127.0.0.1 unless --host says otherwise. Use TF Serving (the
`tensorflow/serving` Docker image) to serve for real.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import signal
import threading
from typing import Optional

from apps import common
from absl import app
from absl import flags
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MAX_BODY_BYTES = 64 << 20
_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)"
                   r"(?:/versions/(?P<version>\d+))?"
                   r"(?:(?P<metadata>/metadata)|:(?P<method>[A-Za-z]+))?$")


class RequestError(Exception):
  """A request the server answers with `status` and {"error": message}."""

  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status = status
    self.message = message


class ServedModel:
  """One loaded version: its signatures and their JSON conversions."""

  def __init__(self, name: str, version: int, path: str):
    # pylint: disable=g-import-not-at-top
    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2
    self.name, self.version, self.path = name, version, path
    self._tf = tf
    self._loaded = tf.saved_model.load(path)
    self.signatures = dict(self._loaded.signatures)
    self.steps = _steps_metadata(self.signatures)
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
      proto.ParseFromString(f.read())
    signature_defs = {
        key: value for key, value in proto.meta_graphs[0].signature_def.items()
        if not key.startswith("__")}
    self.metadata = {
        "model_spec": {"name": name, "signature_name": "",
                       "version": str(version)},
        "metadata": {"signature_def": {
            "signature_def": {k: json_format.MessageToDict(v)
                              for k, v in sorted(signature_defs.items())}}}}

  def status(self) -> dict:
    return {"model_version_status": [{
        "version": str(self.version), "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]}

  def predict(self, body) -> dict:
    """A parsed JSON predict request -> the JSON-ready response."""
    tf = self._tf
    if not isinstance(body, dict):
      raise RequestError(400, "The request must be a JSON object with "
                         "'instances' (row format) or 'inputs' (columnar).")
    name = body.get("signature_name") or "serving_default"
    function = self.signatures.get(name)
    specs = function.structured_input_signature[1] if function else {}
    self._check_steps_request(name, _input_names(body), list(specs))
    if function is None:
      raise RequestError(400, f"Serving signature name: {name!r} not found "
                         f"in signature def; have {sorted(self.signatures)}.")
    row = "instances" in body
    if row == ("inputs" in body):
      raise RequestError(400, "The request must have exactly one of "
                         "'instances' (row format) or 'inputs' (columnar "
                         "format).")
    values = (_rows_to_columns(body["instances"], list(specs)) if row
              else _columns(body["inputs"], list(specs)))
    tensors = {}
    for key, spec in specs.items():
      if spec.dtype.is_integer and _has_bool(values[key]):
        raise RequestError(400, f"Input {key!r}: true/false is not an "
                           f"{spec.dtype.name}; send integers, e.g. 1."
                           + self._steps_range(key))
      try:
        tensors[key] = tf.constant(_decode_b64(values[key]), spec.dtype)
      except (TypeError, ValueError) as error:
        raise RequestError(400, f"Input {key!r}: cannot make a "
                           f"{spec.dtype.name} tensor of the value "
                           f"({error})." + self._steps_range(key)) from error
      if not spec.shape.is_compatible_with(tensors[key].shape):
        raise RequestError(400, f"Input {key!r}: shape "
                           f"{tensors[key].shape.as_list()} does not match "
                           f"the signature's {spec.shape}.")
    try:
      outputs = function(**tensors)
    except tf.errors.InvalidArgumentError as error:
      raise RequestError(400, _short(error.message)) from error
    outputs = {k: _to_json(k, np.asarray(v.numpy()))
               for k, v in sorted(outputs.items())}
    if not row:
      return {"outputs": outputs if len(outputs) > 1
              else next(iter(outputs.values()))}
    sizes = {len(v) if isinstance(v, list) else None for v in outputs.values()}
    if len(sizes) != 1 or None in sizes:
      raise RequestError(400, "The row format needs every output to have "
                         "the batch dimension; use the columnar format "
                         "('inputs') for this signature.")
    count = sizes.pop()
    if len(outputs) == 1:
      return {"predictions": next(iter(outputs.values()))}
    return {"predictions": [{k: v[i] for k, v in outputs.items()}
                            for i in range(count)]}


  def _check_steps_request(self, signature: str, sent: set,
                           takes: list) -> None:
    """400 for `num_steps` where the export takes none (see the module)."""
    steps = self.steps
    if not steps:
      return
    name = steps["input"]
    if name not in sent and signature != steps["signature"]:
      return
    if not steps["accepted"]:
      raise RequestError(400, f"{name}: {steps['refusal']}")
    if name in sent and name not in takes:
      raise RequestError(
          400, f"{name}: signature {signature!r} takes no {name} (it runs "
          f"this export's default steps, {steps['default']}); send {name} "
          f"{steps['allowed']} with signature_name {steps['signature']!r}.")

  def _steps_range(self, key: str) -> str:
    """' num_steps must be integers in [1, N] ...' for the steps input."""
    steps = self.steps
    if not steps or not steps["accepted"] or key != steps["input"]:
      return ""
    return f" {key} must be integers {steps['allowed']}."


def _steps_metadata(signatures: dict) -> Optional[dict]:
  """The `serving.steps` metadata of a tfgen export's `get_config`.

  None for a SavedModel without it (not a tfgen export, or an older one).
  """
  config = signatures.get("get_config")
  if config is None or config.structured_input_signature[1]:
    return None
  try:
    text = next(iter(config().values())).numpy()
    return json.loads(text)["serving"].get("steps")
  except (ValueError, KeyError, TypeError, AttributeError):
    return None


def _input_names(body: dict) -> set:
  """The input names a row or columnar request sends."""
  inputs = body.get("inputs", body.get("instances"))
  if isinstance(inputs, dict):
    return set(inputs)
  if isinstance(inputs, list):
    return {key for instance in inputs if isinstance(instance, dict)
            and "b64" not in instance for key in instance}
  return set()


# TF's tail naming the failed op: "\n\t [[{{node check_seed/Assert}}]]".
_NODE_TAIL = re.compile(r"\s*\[\[\{\{node [^}]*\}\}\]\].*$", re.DOTALL)
# Deepest JSON nesting accepted (an image batch is 4 deep, b64 objects 5).
MAX_JSON_DEPTH = 32


def _short(message: str) -> str:
  """The in-graph check's message, without TF's preamble and node tail."""
  start = message.find("assertion failed:")
  message = message[start:] if start >= 0 else message
  message = _NODE_TAIL.sub("", message).strip()
  found = re.fullmatch(r"assertion failed: \[(.*)\]", message, re.DOTALL)
  return found.group(1) if found else message


def _has_bool(value) -> bool:
  """Whether a JSON value holds true/false anywhere (iterative)."""
  stack = [value]
  while stack:
    item = stack.pop()
    if isinstance(item, bool):
      return True
    if isinstance(item, list):
      stack.extend(item)
  return False


def _check_depth(value, limit: int = MAX_JSON_DEPTH) -> None:
  """RequestError(400) for JSON nested deeper than `limit` (iterative)."""
  stack = [(value, 1)]
  while stack:
    item, depth = stack.pop()
    if depth > limit:
      raise RequestError(400, f"The request is nested more than {limit} "
                         "levels deep; tensors need at most a few levels.")
    if isinstance(item, list):
      stack.extend((v, depth + 1) for v in item)
    elif isinstance(item, dict):
      stack.extend((v, depth + 1) for v in item.values())


def _rows_to_columns(instances, names: list) -> dict:
  if not isinstance(instances, list):
    raise RequestError(400, "'instances' must be a list, one entry per "
                       "instance.")
  columns = {name: [] for name in names}
  for index, instance in enumerate(instances):
    if isinstance(instance, dict) and "b64" not in instance:
      if set(instance) != set(names):
        raise RequestError(400, f"instances[{index}] has the inputs "
                           f"{sorted(instance)}; the signature takes "
                           f"{sorted(names)}.")
      for name in names:
        columns[name].append(instance[name])
    elif len(names) == 1:
      columns[names[0]].append(instance)
    else:
      raise RequestError(400, f"instances[{index}] must be an object with "
                         f"the inputs {sorted(names)}.")
  return columns


def _columns(inputs, names: list) -> dict:
  if isinstance(inputs, dict) and set(inputs) == set(names):
    return inputs
  if len(names) == 1 and not isinstance(inputs, dict):
    return {names[0]: inputs}
  given = sorted(inputs) if isinstance(inputs, dict) else "one value"
  raise RequestError(400, f"'inputs' has {given}; the signature takes "
                     f"{sorted(names)}.")


def _decode_b64(value):
  """{"b64": text} -> bytes, anywhere in a nested list."""
  if isinstance(value, dict):
    if set(value) != {"b64"}:
      raise ValueError(f"an object must be {{\"b64\": ...}}, got keys "
                       f"{sorted(value)}")
    return base64.b64decode(value["b64"])
  if isinstance(value, list):
    return [_decode_b64(v) for v in value]
  return value


def _to_json(key: str, array):
  """numpy output -> JSON value; bytes become {"b64"} for `*_bytes` keys."""
  if array.dtype.kind in "SO":
    def convert(item):
      if isinstance(item, list):
        return [convert(i) for i in item]
      if key.endswith("_bytes"):
        return {"b64": base64.b64encode(item).decode("ascii")}
      return item.decode("utf-8", errors="replace")
    return convert(array.tolist())
  return array.tolist()


class Registry:
  """The models of an export base; loads each one's latest version."""

  def __init__(self, export_base: str):
    self.export_base = export_base
    self._models = {}
    self._lock = threading.Lock()

  def names(self) -> list[str]:
    # pylint: disable=g-import-not-at-top
    from tfgen.serving import layout
    if not os.path.isdir(self.export_base):
      return []
    return sorted(
        name for name in os.listdir(self.export_base)
        if not name.startswith(".") and layout.versions(
            os.path.join(self.export_base, name)))

  def get(self, name: str, version: Optional[int] = None) -> ServedModel:
    """The served model; RequestError(404) if there is none."""
    # pylint: disable=g-import-not-at-top
    from tfgen.serving import layout
    model_dir = os.path.join(self.export_base, name)
    if name.startswith(".") or not os.path.isdir(model_dir):
      raise RequestError(404, f"Servable not found for request: model "
                         f"{name!r} (serving {self.names()}).")
    with self._lock:
      found = layout.versions(model_dir)
      if not found:
        raise RequestError(404, f"Model {name!r} has no version under "
                           f"{model_dir}.")
      current = self._models.get(name)
      if current is None or current.version != found[-1]:
        current = ServedModel(name, found[-1],
                              os.path.join(model_dir, str(found[-1])))
        self._models[name] = current
    if version is not None and version != current.version:
      raise RequestError(404, f"Servable not found for request: "
                         f"Specific({name}, {version}); this server serves "
                         f"only the latest version, {current.version}.")
    return current


class Handler(http.server.BaseHTTPRequestHandler):
  """TF Serving's REST paths; the server has `.registry`."""

  server_version = "tfgen-dev-serving"
  protocol_version = "HTTP/1.1"

  def _route(self):
    path = self.path.split("?", 1)[0]
    match = _PATH.match(path)
    if not match:
      raise RequestError(404, f"Malformed request: {self.command} {path}; "
                         "expected /v1/models/NAME[/versions/N][/metadata "
                         "| :predict].")
    version = match.group("version")
    model = self.server.registry.get(match.group("name"),
                                     int(version) if version else None)
    return model, match

  def do_GET(self):  # pylint: disable=invalid-name
    def answer():
      model, match = self._route()
      if match.group("method"):
        raise RequestError(405, f"Use POST for :{match.group('method')}.")
      return model.metadata if match.group("metadata") else model.status()
    self._respond(answer)

  def do_POST(self):  # pylint: disable=invalid-name
    def answer():
      length = self.headers.get("Content-Length")
      if length is None or not length.isdigit():
        raise RequestError(411, "A POST needs a Content-Length.")
      if int(length) > MAX_BODY_BYTES:
        raise RequestError(413, f"The body ({length} bytes) is above "
                           f"{MAX_BODY_BYTES} bytes.")
      body = self.rfile.read(int(length))
      model, match = self._route()
      if match.group("method") != "predict":
        raise RequestError(404 if match.group("method") else 405,
                           "This development server implements only "
                           ":predict (POST /v1/models/NAME:predict).")
      try:
        request = json.loads(body)
      except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(400, f"JSON parse error: {error}.") from error
      except RecursionError as error:
        raise RequestError(400, "JSON parse error: the request is nested "
                           "too deeply.") from error
      _check_depth(request)
      with self.server.predict_lock:
        return model.predict(request)
    self._respond(answer)

  def _respond(self, answer):
    try:
      status, payload = 200, answer()
    except RequestError as error:
      status, payload = error.status, {"error": error.message}
    except Exception as error:  # pylint: disable=broad-except
      status, payload = 500, {"error": f"{type(error).__name__}: {error}"}
    data = json.dumps(payload).encode("utf-8")
    self.send_response(status)
    self.send_header("Content-Type", "application/json")
    self.send_header("Content-Length", str(len(data)))
    if status >= 400:  # The body may be unread: do not reuse the connection.
      self.send_header("Connection", "close")
      self.close_connection = True
    self.end_headers()
    self.wfile.write(data)

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    if not self.server.quiet:
      super().log_message(format, *args)


def make_server(export_base: str, host: str = "127.0.0.1", port: int = 8501,
                quiet: bool = False) -> http.server.ThreadingHTTPServer:
  """The server, bound (port 0: any free port; see `server.server_port`).

  Run it with `serve_forever()`, stop it with `shutdown()` (from another
  thread) and `server_close()`.
  """
  if not os.path.isdir(export_base):
    raise ValueError(f"export_base={export_base!r} is not a directory: "
                     "export a model first (python -m export).")
  server = http.server.ThreadingHTTPServer((host, port), Handler)
  server.daemon_threads = True
  server.registry = Registry(export_base)
  server.predict_lock = threading.Lock()
  server.quiet = quiet
  return server


EXPORT_BASE = flags.DEFINE_string("export_base", None,
                                  "Folder of BASE/NAME/N/ exports.")
HOST = flags.DEFINE_string("host", "127.0.0.1", "Address to bind; the "
                           "default accepts local connections only.")
PORT = flags.DEFINE_integer("port", 8501, "Port (0: any free port).")
QUIET = flags.DEFINE_boolean("quiet", False, "Do not log requests.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}.")
  if not EXPORT_BASE.value:
    raise app.UsageError("--export_base is required: the folder that "
                         "`python -m export` wrote.")
  try:
    server = make_server(EXPORT_BASE.value, HOST.value, PORT.value,
                         QUIET.value)
  except (ValueError, OSError) as error:
    raise app.UsageError(str(error)) from error
  names = server.registry.names()
  for name in names:  # Load now, so that the first request is fast.
    server.registry.get(name)

  def stop(signum, frame):
    del signum, frame
    threading.Thread(target=server.shutdown, daemon=True).start()

  signal.signal(signal.SIGTERM, stop)
  print(f"Serving {names} from {EXPORT_BASE.value} at http://{HOST.value}:"
        f"{server.server_port}/v1/models/NAME (development server; use TF "
        "Serving in production).", flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass
  finally:
    server.server_close()
  print("Stopped.", flush=True)


if __name__ == "__main__":
  common.run(main)
