"""pytest set-up shared by all tests: quiet TF logs, importable repo root."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# `python -m pytest` puts the working directory on sys.path, plain `pytest` and
# Bazel do not always: make `import tfgen` / `import apps` work either way.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)
