"""Serving: SavedModel signatures, TF Serving's directory layout, a client.

* `signature_spec`: one signature's inputs, in-graph input checks and
  outputs (per-instance `seed` -> `images`, `images_bytes`), and the
  `num_steps` request input of `sample_steps` (`StepsInput`).
* `families`: the multigrid and LAPGAN signatures (`serving_default`,
  `sample_steps`, `inpaint`, `refine`); `gran_signatures`,
  `ppgn_signatures`: theirs. Each family's row in `tfgen.families` names its
  builder. `export.archive` puts them into a `keras.export.ExportArchive`.
* `layout`: TF Serving's versioned `BASE/NAME/N/` layout, written atomically,
  and `BASE/models.config`.
* `client`: `Client(url, model_name)` for TF Serving's REST (and gRPC) API.

This `__init__` imports nothing, so `tfgen.serving.client` loads without
TensorFlow; `python -m export` is the command line.
"""
