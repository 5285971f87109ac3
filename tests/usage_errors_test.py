"""Usage errors of every command line print one line, not the flag list.

absl answers an `app.UsageError` with the whole flag help; `apps.common.run`
(used by every app, `export`, `export.client` and `export.serve`) prints
only the message and a pointer to --helpfull, with exit status 1.
"""

import sys
import re

import pytest

import support


# TensorFlow's C++ start-up logs (before absl's logging is set up).
TF_LOG = re.compile(r"^([IWE]\d{4} |WARNING: All log messages before)")


@pytest.mark.parametrize("module, args, expected", [
    ("apps.train", [], "--workdir is required"),
    ("apps.sample", [], "--workdir is required"),
    ("apps.inpaint", [], "--workdir"),
    ("apps.evaluate", [], "Pass exactly one of --workdir"),
    ("export", [], "--workdir is required"),
    ("export.client", ["--output=x.jpg"], "--output='x.jpg' must be"),
    ("export.serve", [], "--export_base is required"),
])
def test_usage_errors_print_one_line_and_a_pointer_to_helpfull(
    module, args, expected):
  result = support.run_module(module, *args, timeout=240)
  assert result.returncode == 1, result.stderr[-2000:]
  lines = [line for line in result.stderr.splitlines() if line.strip()
           and not TF_LOG.match(line)]
  assert expected in lines[-2], result.stderr[-2000:]
  assert lines[-1] == "See --helpfull for every flag."
  assert len(lines) == 2, result.stderr
  assert "--num_steps" not in result.stderr  # No flag list.


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
