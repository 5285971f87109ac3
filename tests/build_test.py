"""Consistency of the root BUILD file with the files on disk.

BUILD lists every source explicitly (no glob), so it goes stale whenever a
module, test or app is added without a BUILD entry; these tests say exactly
what to add. The Starlark in BUILD is Python syntax for the rules used, so it
is evaluated with stand-in `py_library` / `py_test` / `py_binary` functions
that record their arguments.
"""

import ast
import collections
import glob
import os
import re
import sys

import pytest

# realpath: under `bazel test` this file is a symlink in the runfiles tree,
# which holds only what BUILD declares; the check needs the source tree.
REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
BUILD_PATH = os.path.join(REPO, "BUILD")
# Directories whose Python files form the library and the apps.
LIBRARY_ROOTS = ("tfgen", "apps", "export")
FIRST_PARTY = frozenset(LIBRARY_ROOTS)

Rule = collections.namedtuple("Rule", ["kind", "name", "attrs"])


class BuildError(Exception):
  """BUILD uses something this checker (and the explicit-lists rule) forbids."""


def parse_build(text):
  """Evaluates BUILD text, returns {name: Rule} in definition order."""
  rules = {}

  def recorder(kind):
    def record(**attrs):
      name = attrs.get("name")
      if not name:
        raise BuildError(f"a {kind} has no name: {attrs}")
      if name in rules:
        raise BuildError(f"two rules are named {name!r}")
      rules[name] = Rule(kind, name, attrs)
    return record

  def glob_forbidden(*args, **kwargs):
    raise BuildError(f"glob({args or kwargs}) is not allowed in BUILD: list "
                     "files explicitly so that tests/build_test.py can check "
                     "them.")

  def ignore(*args, **kwargs):
    del args, kwargs

  namespace = {
      "py_library": recorder("py_library"),
      "py_test": recorder("py_test"),
      "py_binary": recorder("py_binary"),
      "package": ignore,
      "licenses": ignore,
      "exports_files": ignore,
      "glob": glob_forbidden,
  }
  exec(compile(text, BUILD_PATH, "exec"), {"__builtins__": {}},  # pylint: disable=exec-used
       namespace)
  return rules


@pytest.fixture(scope="module")
def rules():
  with open(BUILD_PATH) as f:
    return parse_build(f.read())


def _of_kind(rules, kind):
  return [rule for rule in rules.values() if rule.kind == kind]


def _relative(paths):
  return sorted(os.path.relpath(p, REPO).replace(os.sep, "/") for p in paths)


def library_modules():
  """Every .py file of tfgen/, apps/ and export/ (recursively)."""
  paths = []
  for root in LIBRARY_ROOTS:
    paths += glob.glob(os.path.join(REPO, root, "**", "*.py"), recursive=True)
  return _relative(paths)


def disk_test_files():
  return _relative(glob.glob(os.path.join(REPO, "tests", "*_test.py")))


def disk_test_helpers():
  """tests/*.py that are not tests themselves (conftest.py, helpers)."""
  return sorted(set(_relative(glob.glob(os.path.join(REPO, "tests", "*.py"))))
                - set(disk_test_files()))


def app_mains():
  """apps/<name>.py modules that define a top-level `main`."""
  return sorted(
      path for path in _relative(glob.glob(os.path.join(REPO, "apps", "*.py")))
      if re.search(r"^def main\(", _read(path), re.MULTILINE))


def _read(path):
  with open(os.path.join(REPO, path)) as f:
    return f.read()


def _srcs(rule):
  return list(rule.attrs.get("srcs", []))


def _suggest(kind, name, srcs, deps=()):
  srcs_text = ", ".join(f'"{s}"' for s in srcs)
  deps_text = ", ".join(f'"{d}"' for d in deps)
  return (f'  {kind}(name = "{name}", srcs = [{srcs_text}]'
          + (f", deps = [{deps_text}]" if deps else "") + ")")


def test_build_parses_without_glob(rules):
  assert rules, "BUILD defines no rules."
  with open(BUILD_PATH) as f:
    calls = {node.func.id for node in ast.walk(ast.parse(f.read()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
  assert "glob" not in calls, "BUILD must not use glob()."
  for rule in rules.values():
    for attr in ("srcs", "data", "deps"):
      value = rule.attrs.get(attr, [])
      assert isinstance(value, list), (
          f"{rule.kind} {rule.name!r}: {attr} must be an explicit list, got "
          f"{value!r}.")


def test_parse_build_rejects_glob_and_duplicates():
  with pytest.raises(BuildError, match="glob"):
    parse_build('py_library(name = "x", srcs = glob(["*.py"]))')
  with pytest.raises(BuildError, match="two rules"):
    parse_build('py_test(name = "x")\npy_binary(name = "x")')


def test_every_module_is_in_exactly_one_library(rules):
  owners = collections.defaultdict(list)
  for rule in _of_kind(rules, "py_library"):
    for src in _srcs(rule):
      owners[src].append(rule.name)
  missing = [m for m in library_modules() if m not in owners]
  repeated = {m: names for m, names in owners.items() if len(names) > 1}
  message = []
  if missing:
    message.append(
        "These modules are in no py_library's srcs in BUILD; add each to the "
        "py_library of its directory (or add one, e.g. "
        f"{_suggest('py_library', 'tfgen_metrics', ['tfgen/metrics/__init__.py'])}"
        "):\n  " + "\n  ".join(missing))
  if repeated:
    message.append("These files are in several py_libraries (keep one):\n  "
                   + "\n  ".join(f"{m}: {n}" for m, n in repeated.items()))
  assert not message, "\n".join(message)


def test_one_library_per_package_directory(rules):
  directories = collections.defaultdict(set)
  message = []
  for rule in _of_kind(rules, "py_library"):
    rule_directories = {os.path.dirname(src) for src in _srcs(rule)}
    if len(rule_directories) > 1:
      message.append(f"py_library {rule.name!r} mixes directories "
                     f"{sorted(rule_directories)}: use one per directory.")
    for directory in rule_directories:
      directories[directory].add(rule.name)
  for directory, names in sorted(directories.items()):
    if len(names) > 1:
      message.append(f"{directory}/ is split over py_libraries "
                     f"{sorted(names)}: use one per directory.")
  package_directories = {os.path.dirname(m) for m in library_modules()}
  for directory in sorted(package_directories - set(directories)):
    message.append(f"{directory}/ has no py_library: add "
                   + _suggest("py_library", directory.replace("/", "_"),
                              [f"{directory}/__init__.py", "..."]))
  assert not message, "\n".join(message)


def test_every_test_file_has_a_py_test(rules):
  tested = {src for rule in _of_kind(rules, "py_test") for src in _srcs(rule)}
  missing = [t for t in disk_test_files() if t not in tested]
  assert not missing, (
      "These test files have no py_test in BUILD; add e.g.\n" + "\n".join(
          _suggest("py_test", os.path.basename(t)[:-3], [t],
                   [":test_support", ":<the libraries it imports>"])
          for t in missing))


def test_test_helpers_are_in_a_library(rules):
  in_library = {src for rule in _of_kind(rules, "py_library")
                for src in _srcs(rule)}
  missing = [h for h in disk_test_helpers() if h not in in_library]
  assert not missing, (
      "These tests/ helpers are in no py_library (add them to the testonly "
      "py_library 'test_support'):\n  " + "\n  ".join(missing))
  for rule in _of_kind(rules, "py_test"):
    assert ":test_support" in rule.attrs.get("deps", []), (
        f"py_test {rule.name!r} must depend on ':test_support' "
        "(tests/conftest.py) like the other tests.")


def test_every_app_with_main_has_a_py_binary(rules):
  binaries = {}
  for rule in _of_kind(rules, "py_binary"):
    main = rule.attrs.get("main") or (_srcs(rule) or [None])[0]
    binaries[main] = rule.name
  missing = [app for app in app_mains() if app not in binaries]
  assert not missing, (
      "These apps define main() but have no py_binary in BUILD; add e.g.\n"
      + "\n".join(
          f'  py_binary(name = "{os.path.basename(a)[:-3]}", srcs = ["{a}"], '
          f'main = "{a}", deps = [":apps"])' for a in missing))


def test_every_file_named_in_build_exists(rules):
  missing = []
  for rule in rules.values():
    named = _srcs(rule) + list(rule.attrs.get("data", []))
    if rule.attrs.get("main"):
      named.append(rule.attrs["main"])
    for path in named:
      if path.startswith(("//", ":")):
        continue  # A label, not a file.
      if not os.path.isfile(os.path.join(REPO, path)):
        missing.append(f"{rule.kind} {rule.name!r}: {path}")
  assert not missing, ("BUILD names files that do not exist (removed or "
                       "renamed?):\n  " + "\n  ".join(missing))


def test_main_is_one_of_the_srcs(rules):
  for rule in _of_kind(rules, "py_test") + _of_kind(rules, "py_binary"):
    main = rule.attrs.get("main")
    if main:
      assert main in _srcs(rule), (
          f"{rule.kind} {rule.name!r}: main={main!r} must be in its srcs.")
    else:
      assert f"{rule.name}.py" in map(os.path.basename, _srcs(rule)), (
          f"{rule.kind} {rule.name!r} needs main = ... (no {rule.name}.py "
          "in srcs).")


def test_config_files_are_data(rules):
  data = {path for rule in rules.values()
          for path in rule.attrs.get("data", [])}
  configs = _relative(glob.glob(os.path.join(REPO, "apps", "configs", "*")))
  missing = [c for c in configs if c not in data]
  assert not missing, ("These app configs are not in the 'apps' py_library's "
                       "data in BUILD:\n  " + "\n  ".join(missing))


def test_deps_resolve_without_cycles(rules):
  message = []
  for rule in rules.values():
    for dep in rule.attrs.get("deps", []):
      if not dep.startswith(":") or dep[1:] not in rules:
        message.append(f"{rule.kind} {rule.name!r}: dep {dep!r} is not a "
                       "rule of this BUILD file.")
      elif rules[dep[1:]].kind != "py_library":
        message.append(f"{rule.kind} {rule.name!r}: dep {dep!r} is a "
                       f"{rules[dep[1:]].kind}, not a py_library.")
  assert not message, "\n".join(message)

  def visit(name, path):
    if name in path:
      cycle = path[path.index(name):] + [name]
      raise AssertionError("BUILD has a dependency cycle: "
                           + " -> ".join(cycle))
    for dep in rules[name].attrs.get("deps", []):
      visit(dep[1:], path + [name])

  for name in rules:
    visit(name, [])


def _module_file(module):
  """tfgen.data.sources -> 'tfgen/data/sources.py' (or the package's
  __init__.py); None where no such first-party file exists."""
  base = module.replace(".", "/")
  for path in (base + ".py", base + "/__init__.py"):
    if os.path.isfile(os.path.join(REPO, path)):
      return path
  return None


def imported_files(path):
  """First-party files that `path` imports (anywhere in it, not only on top).

  Only the imported module itself counts: parent packages' __init__.py files
  are left out, because Bazel supplies them (and depending on them would
  make cycles such as tfgen/config.py <-> tfgen/data).
  """
  tree = ast.parse(_read(path), path)
  package = os.path.dirname(path).replace("/", ".")
  modules = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      modules.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = package.split(".")
        parts = parts[:len(parts) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
      for alias in node.names:
        candidate = f"{base}.{alias.name}" if base else alias.name
        modules.add(candidate if _module_file(candidate) else base)
  files = set()
  for module in modules:
    if module.split(".")[0] in FIRST_PARTY:
      found = _module_file(module)
      if found and found != path:
        files.add(found)
  return files


def test_imports_are_covered_by_deps(rules):
  """Each rule can import its first-party imports through its (transitive)
  deps, so that `bazel test` / `bazel run` find them in the runfiles."""
  def reachable(name, seen=None):
    seen = set() if seen is None else seen
    for dep in rules[name].attrs.get("deps", []):
      if dep[1:] in rules and dep[1:] not in seen:
        seen.add(dep[1:])
        reachable(dep[1:], seen)
    return seen

  message = []
  for rule in rules.values():
    available = set(_srcs(rule))
    for dep in reachable(rule.name):
      available.update(_srcs(rules[dep]))
    for src in _srcs(rule):
      if not src.endswith(".py") or not os.path.isfile(
          os.path.join(REPO, src)):
        continue
      for needed in sorted(imported_files(src) - available):
        owners = [r.name for r in _of_kind(rules, "py_library")
                  if needed in _srcs(r)]
        message.append(f"{rule.kind} {rule.name!r}: {src} imports {needed}; "
                       f"add {[':' + o for o in owners] or 'its library'} "
                       "to deps.")
  assert not message, "\n".join(message)


def test_test_files_run_their_tests_as_main():
  """Bazel runs a py_test's main as a script: it must call pytest."""
  pattern = re.compile(
      r"^if __name__ == [\"']__main__[\"']:\n\s+.*pytest\.main\(",
      re.MULTILINE)
  missing = [t for t in disk_test_files() if not pattern.search(_read(t))]
  assert not missing, (
      "`bazel test` would run these files as plain scripts and so run none "
      "of their tests; end each with\n\n"
      "  if __name__ == \"__main__\":\n"
      "    sys.exit(pytest.main([__file__, \"-q\"]))\n\n(and `import sys`):\n  "
      + "\n  ".join(missing))


def test_checker_catches_a_missing_test_and_module(tmp_path):
  """The checks above fail for a BUILD that lacks something on disk."""
  with open(BUILD_PATH) as f:
    text = f.read()
  # Drop the rules for this very test and for the vis package.
  text = re.sub(r'py_test\(\n    name = "build_test",.*?\n\)\n', "", text,
                flags=re.DOTALL)
  text = re.sub(r'py_library\(\n    name = "tfgen_vis",.*?\n\)\n', "", text,
                flags=re.DOTALL)
  stale = parse_build(text)
  assert "build_test" not in stale and "tfgen_vis" not in stale
  with pytest.raises(AssertionError, match="tests/build_test.py"):
    test_every_test_file_has_a_py_test(stale)
  with pytest.raises(AssertionError, match="tfgen/vis/grid.py"):
    test_every_module_is_in_exactly_one_library(stale)
  with pytest.raises(AssertionError, match=":tfgen_vis"):
    test_deps_resolve_without_cycles(stale)


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
