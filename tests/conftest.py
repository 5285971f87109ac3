"""pytest set-up shared by all tests: quiet TF logs, importable repo root."""

import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# `python -m pytest` puts the working directory on sys.path, plain `pytest` and
# Bazel do not always: make `import tfgen` / `import apps` work either way.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)


def pytest_runtest_logreport(report):
  """With $TFGEN_TEST_TIMES set, appends "seconds phase test-id" per phase as
  tests finish (so even an interrupted run shows where the time went)."""
  path = os.environ.get("TFGEN_TEST_TIMES")
  if path:
    with open(path, "a") as f:
      f.write(f"{report.duration:.2f} {report.when} {report.nodeid}\n")


@pytest.fixture(autouse=True)
def no_global_tf_seed_after_a_test():
  """Each test leaves no global TF seed behind: `keras.utils.
  set_random_seed(0)` in one test (tests/inception_test.py) would otherwise
  change every seeded random op of the tests after it in its worker (TF
  pairs an op's seed with the global one), so results depended on order."""
  yield
  tf = sys.modules.get("tensorflow")
  if tf is not None:
    tf.random.set_seed(None)
