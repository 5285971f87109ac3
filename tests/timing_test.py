"""Tests for tfgen.bench.timing: interleaving, summaries, machine facts."""

import sys

import numpy as np
import pytest

from tfgen.bench import timing


def test_summarize_median_min_max_and_rate():
  summary = timing.summarize([3.0, 1.0, 2.0, 10.0, 2.5], work=100)
  assert summary == {"repeats": 5, "median_seconds": 2.5, "min_seconds": 1.0,
                     "max_seconds": 10.0, "per_second": 40.0}
  assert "per_second" not in timing.summarize([1.0])
  with pytest.raises(ValueError, match="at least one"):
    timing.summarize([])


def test_percentiles_interpolate():
  values = list(np.arange(1.0, 101.0))
  result = timing.percentiles(values)
  assert result["p50"] == pytest.approx(50.5)
  assert result["p95"] == pytest.approx(95.05)


def test_interleave_rotates_and_warms_up():
  calls = []
  variants = {name: (lambda n: lambda: calls.append(n))(name)
              for name in "abc"}
  first, times, cpu = timing.interleave(variants, repeats=3, warmup=2,
                                        shuffle_seed=None)
  assert set(first) == set(times) == set(cpu) == {"a", "b", "c"}
  assert all(len(t) == 3 for t in list(times.values()) + list(cpu.values()))
  # Warm-up: each variant twice, then rounds starting at a, b, c.
  assert calls == list("aabbcc") + list("abc") + list("bca") + list("cab")
  with pytest.raises(ValueError, match="repeats=0"):
    timing.interleave(variants, repeats=0)


def test_interleave_shuffles_each_round_reproducibly():
  def orders(seed):
    calls = []
    variants = {name: (lambda n: lambda: calls.append(n))(name)
                for name in "abcdef"}
    timing.interleave(variants, repeats=4, warmup=1, shuffle_seed=seed)
    timed = calls[6:]
    return [tuple(timed[i:i + 6]) for i in range(0, 24, 6)]

  rounds = orders(3)
  assert all(sorted(r) == list("abcdef") for r in rounds)
  assert len(set(rounds)) > 1  # Not one fixed order.
  assert orders(3) == rounds


def test_matmul_variants_compute_a_product():
  variants = timing.matmul_variants(16)
  assert set(variants) == {"matmul_tf", "matmul_numpy"}
  for call in variants.values():
    call()
  assert timing.matmul_flops(16) == 2 * 16**3


def test_matmul_gflops_is_a_positive_rate():
  rate = timing.matmul_gflops(size=64, repeats=2)
  assert 0 < rate < 1e6


def test_machine_and_memory():
  info = timing.machine()
  assert info["cores"] >= 1 and info["cpu_model"]
  assert info["tensorflow"] and info["torch"] is None
  # ru_maxrss and /proc/self/statm count a few shared pages differently.
  current = timing.current_rss_bytes()
  assert current > 100e6 and timing.peak_rss_bytes() > 0.95 * current


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
