"""README.md and docs/*.md link only to files and headings that exist.

The README is a front page that links into one guide per family and per
topic; the guides link to each other's headings. A moved section or a
renamed heading must not leave a link pointing at nothing. Links inside
code spans and code blocks are not links and are skipped; links with a
scheme (https:, mailto:) are not checked.
"""

import os
import re
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"#{1,6} ")


def anchors(text):
  """GitHub's anchor for every heading of a markdown text (set of str)."""
  seen, found, in_code = {}, set(), False
  for line in text.splitlines():
    if line.startswith("```"):
      in_code = not in_code
      continue
    if in_code or not HEADING.match(line):
      continue
    slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower())
    slug = slug.replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    found.add(slug if count == 0 else f"{slug}-{count}")
  return found


def links(text):
  """(line number, target) of every markdown link outside code."""
  in_code = False
  for number, line in enumerate(text.splitlines(), 1):
    if line.startswith("```"):
      in_code = not in_code
      continue
    if in_code:
      continue
    for match in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
      yield number, match.group(1)


def broken_links(path):
  """'FILE:LINE: target' for every relative link of `path` that resolves to
  no file, or to a markdown file without that heading."""
  with open(path, encoding="utf-8") as f:
    text = f.read()
  found = []
  for number, target in links(text):
    if re.match(r"[a-zA-Z][\w+.-]*:", target):
      continue
    file_part, _, anchor = target.partition("#")
    dest = (os.path.normpath(os.path.join(os.path.dirname(path), file_part))
            if file_part else path)
    ok = os.path.exists(dest)
    if ok and anchor and dest.endswith(".md"):
      with open(dest, encoding="utf-8") as f:
        ok = anchor in anchors(f.read())
    if not ok:
      found.append(f"{os.path.relpath(path, REPO)}:{number}: {target}")
  return found


def markdown_files():
  docs = os.path.join(REPO, "docs")
  found = [os.path.join(REPO, "README.md")]
  for folder, _, names in sorted(os.walk(docs)):
    found += [os.path.join(folder, n) for n in sorted(names) if n.endswith(".md")]
  return found


def test_every_relative_link_resolves():
  broken = [b for path in markdown_files() for b in broken_links(path)]
  assert not broken, "broken links (fix the path or the #heading):\n  " + (
      "\n  ".join(broken))


def test_the_readme_links_every_guide():
  with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
    targets = {t.partition("#")[0] for _, t in links(f.read())}
  guides = {"docs/" + n for n in os.listdir(os.path.join(REPO, "docs"))
            if n.endswith(".md")}
  assert not guides - targets, f"README.md links none of {sorted(guides - targets)}"


def test_a_missing_file_or_heading_is_reported(tmp_path):
  (tmp_path / "docs").mkdir()
  (tmp_path / "docs" / "guide.md").write_text("# Guide\n\n## Some heading\n")
  page = tmp_path / "README.md"
  page.write_text("[a](docs/guide.md#some-heading) [b](docs/guide.md#gone)\n"
                  "[c](docs/missing.md) `[d](docs/not-a-link.md)`\n"
                  "```\n[e](docs/in-code.md)\n```\n[f](https://example.com/x)\n")
  broken = broken_links(str(page))
  assert [b.rsplit(": ", 1)[1] for b in broken] == ["docs/guide.md#gone",
                                                      "docs/missing.md"]


def test_anchors_follow_githubs_rules():
  text = "# A `b`: c (d)\n## A `b`: c (d)\n```\n# not a heading\n```\n"
  assert anchors(text) == {"a-b-c-d", "a-b-c-d-1"}


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
