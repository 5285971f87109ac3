"""The family contract, part 3: every app either works on a tiny trained
workdir of each family in `tfgen.families` or refuses it naming the family
(see family_conformance_test.py for the rest).

The workdirs are trained once per test session by `apps.train`
(`support.tiny_trained_workdir`, shared with family_conformance_test.py).
"""

import sys

import pytest

import support
from tfgen import families

FAMILIES = families.names()


@pytest.fixture(scope="module", params=FAMILIES)
def tiny_workdir(request, tmp_path_factory):
  family = request.param
  return family, support.tiny_trained_workdir(family, tmp_path_factory)


# (app and its arguments, the capability it needs or None for every family).
APPS = (
    (("apps.sample", "--num_samples=4", "--output={out}/s.npz"), "sample"),
    (("apps.evaluate", "--num_samples=20", "--output={out}/e.json"), None),
    (("apps.inpaint", "--num_images=3", "--output={out}/i.npz"), "inpaint"),
    (("apps.visualize", "--num_images=2", "--output_dir={out}/v"),
     "features"),
    (("apps.evaluate", "features", "--output={out}/f.json"), "features"),
)


def test_every_app_works_on_the_family_or_refuses_it_by_name(tiny_workdir,
                                                            tmp_path):
  family, workdir = tiny_workdir
  row = families.get(family)
  for args, capability in APPS:
    module, *rest = args
    rest = [a.format(out=tmp_path) for a in rest]
    result = support.run_module(module, f"--workdir={workdir}", *rest)
    if capability is None or row.has(capability):
      assert result.returncode == 0, (module, rest, result.stderr[-2000:])
    else:
      assert result.returncode != 0, (module, rest)
      assert f"family={family!r}" in result.stderr, (module,
                                                     result.stderr[-2000:])
      assert "Traceback" not in result.stderr, result.stderr[-2000:]


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
