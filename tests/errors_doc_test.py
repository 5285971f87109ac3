"""docs/errors.md stays true: every row names tests that exist.

Each table row of docs/errors.md ends with one or more references
`tests/<file>.py::<test function>`; this checks that every row has one and
that each file exists and defines that function, so that renaming or
deleting a test without updating the table fails here.
"""

import os
import re
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
DOC = os.path.join(REPO, "docs", "errors.md")
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


SEPARATOR = re.compile(r"\|(\s*:?-+:?\s*\|)+")


def table_rows(text):
  """(line number, cells) of every table body row (not header/separator)."""
  lines = text.splitlines() + [""]
  return [(number, [c.strip() for c in line.strip().strip("|").split("|")])
          for number, (line, following) in enumerate(zip(lines, lines[1:]), 1)
          if line.startswith("|") and not SEPARATOR.fullmatch(line.strip())
          and not SEPARATOR.fullmatch(following.strip())]


def problems(text, repo=REPO):
  """What is wrong with the table text (empty when all is well)."""
  found = []
  sources = {}
  for number, cells in table_rows(text):
    references = REFERENCE.findall(cells[-1])
    if not references:
      found.append(f"line {number}: the last cell names no test "
                   f"(`tests/<file>.py::<test>`): {cells[-1]!r}")
    if len(cells) < 3 or not all(cells):
      found.append(f"line {number}: needs an input, a message and a test.")
    for path, name in references:
      full = os.path.join(repo, path)
      if path not in sources:
        sources[path] = (open(full).read() if os.path.isfile(full)
                         else None)
      if sources[path] is None:
        found.append(f"line {number}: {path} does not exist.")
      elif not re.search(rf"^def {name}\(", sources[path], re.MULTILINE):
        found.append(f"line {number}: {path} defines no test {name}().")
  return found


@pytest.fixture(scope="module")
def doc_text():
  with open(DOC) as f:
    return f.read()


def test_every_row_names_existing_tests(doc_text):
  found = problems(doc_text)
  assert not found, ("docs/errors.md is out of step with the tests:\n  "
                     + "\n  ".join(found))


def test_the_table_covers_every_app(doc_text):
  rows = table_rows(doc_text)
  assert len(rows) >= 60
  for section in ("apps.train", "apps.sample", "apps.evaluate",
                  "python -m export", "Serving requests", "Datasets"):
    assert section in doc_text, section
  referenced = {path for _, cells in rows
                for path, _ in REFERENCE.findall(cells[-1])}
  for path in ("tests/train_app_test.py", "tests/config_test.py",
               "tests/loop_test.py", "tests/sample_app_test.py",
               "tests/evaluate_test.py", "tests/export_test.py",
               "tests/serve_test.py", "tests/signatures_test.py",
               "tests/sources_test.py", "tests/client_test.py",
               "tests/strategy_test.py", "tests/fault_tolerance_test.py"):
    assert path in referenced, path


def test_checker_catches_missing_files_tests_and_references():
  text = ("| input | message | test |\n|---|---|---|\n"
          "| a | `m` | `tests/errors_doc_test.py::test_no_such_test` |\n"
          "| b | `m` | `tests/no_such_file.py::test_x` |\n"
          "| c | `m` | no reference |\n"
          "| d | `m` | `tests/errors_doc_test.py::"
          "test_every_row_names_existing_tests` |\n")
  found = problems(text)
  assert len(found) == 3, found
  assert "defines no test test_no_such_test()" in found[0]
  assert "tests/no_such_file.py does not exist" in found[1]
  assert "names no test" in found[2]


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
