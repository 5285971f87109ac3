"""Tests for apps.report_checks: the paper's orderings next to ours."""

import copy
import sys

import pytest

import support
from apps import report_checks


def test_every_claim_agrees_when_multigrid_wins_everything():
  checks = report_checks.paper_checks(support.report_results())
  # 2 synthesis + 6 inpainting + 2 correlation + 4 scores + 2 SVM + 2 CNN
  # + 2 CNN on feature maps.
  assert len(checks) == 20
  assert all(c["agrees"] for c in checks), [c for c in checks
                                             if not c["agrees"]]


@pytest.mark.parametrize("edit, claim", [
    (lambda r: r["correlation"]["langevin"].update({"4": 0.95}),
     "Y0/Y30 correlation: coarser grids have smaller correlation (Langevin)"),
    (lambda r: r["correlation"]["langevin"].update({"4": None}),
     "Y0/Y30 correlation: coarser grids have smaller correlation (Langevin)"),
    (lambda r: r["correlation"]["hmc"].update({"16": 0.99}),
     "Y0/Y30 correlation: HMC has smaller correlations than Langevin"),
    (lambda r: r["scores"]["negative (uniform_noise)"]["16"].__setitem__(
        0, 5.0), "scores, grid 16: training and testing above every negative "
                 "set"),
    (lambda r: r["synthesis"]["cd1"].update(frechet_distance=1.0),
     "synthesis: multigrid has the best Frechet distance"),
    (lambda r: r["features"]["multigrid"][1].update(svm_error=0.5),
     "features, 300 labels: multigrid features give the lowest SVM error"),
    (lambda r: r["features"]["multigrid"][0].update(feature_cnn_error=0.4),
     "features, 100 labels: a CNN on the multigrid feature maps beats the "
     "supervised CNN of the same structure"),
])
def test_each_kind_of_claim_detects_its_reversal(edit, claim):
  results = copy.deepcopy(support.report_results())
  edit(results)
  checks = {c["claim"]: c["agrees"] for c in report_checks.paper_checks(
      results)}
  assert checks[claim] is False
  assert sum(not v for v in checks.values()) >= 1


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
