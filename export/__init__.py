"""Serving export of trained tfgen models.

* `python -m export --workdir=DIR --export_base=BASE`: writes the trained
  model as a SavedModel in TF Serving's layout, `BASE/NAME/N/`, and
  `BASE/models.config`.
* `python -m export.serve --export_base=BASE`: a development stand-in for
  TF Serving's REST API (tests, local tries; not a production server).
* `python -m export.client --url=... --model_name=NAME --seeds=0:16
  --output=FILE.png`: requests samples from TF Serving or the dev server.

The library code lives in `tfgen.serving`.
"""
