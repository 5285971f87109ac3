"""Serving: SavedModel signatures, TF Serving's directory layout, a client.

* `signatures`: each family's serving signatures (`serving_default`:
  per-instance `seed` -> `images`, `images_bytes`; `inpaint` for multigrid)
  with in-graph input checks, built into a `keras.export.ExportArchive`.
* `layout`: TF Serving's versioned `BASE/NAME/N/` layout, written atomically,
  and `BASE/models.config`.
* `client`: `Client(url, model_name)` for TF Serving's REST (and gRPC) API.

This `__init__` imports nothing, so `tfgen.serving.client` loads without
TensorFlow; `python -m export` is the command line.
"""
