"""`python -m apps.benchmark ops`: one sampler call, op by op.

For each net and shape: tfgen's sampler (the model's path) is traced and
called once, a TF 4096x4096 matmul is timed `repeats` times, then one call
runs under TF's profiler (`tfgen.bench.op_profile`). The report gives the
time per op type and the 12 slowest graph nodes, and the conv kernels'
GFLOP/s next to the matmul rate: what bounds the sampler's speed.
"""

from __future__ import annotations

from typing import Callable, Sequence


def run(kinds: Sequence[str], shapes: Sequence[tuple], batch_size: int,
        num_steps: int, net_width: float, noise_scale: float,
        matmul_size: int, repeats: int,
        printer: Callable[[str], None] = print) -> dict:
  """Profiles one tfgen sampler call per (net kind, image shape)."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tfgen.bench import op_profile
  from tfgen.bench import samplers
  from tfgen.bench import timing
  matmul_tf = timing.matmul_variants(matmul_size)["matmul_tf"]
  groups = []
  for kind in kinds:
    for shape in shapes:
      setup = samplers.make_setup(kind, shape, net_width,
                                  noise_scale=noise_scale)
      printer(f"{setup.name}: profiling tfgen's sampler")
      chain = samplers.tfgen_chain(setup, num_steps)
      start = samplers.start_state(setup, batch_size)
      seed = tf.constant([0, 1], tf.int32)
      chain(start, seed).numpy()  # Tracing and warm-up, not profiled.
      _, times, _ = timing.interleave({"matmul_tf": matmul_tf}, repeats,
                                      settle_seconds=0.0)
      matmul = timing.matmul_flops(matmul_size) / timing.summarize(
          times["matmul_tf"])["median_seconds"] / 1e9
      profile = op_profile.profile_call(chain, start, seed)
      rates = op_profile.conv_rates(profile, setup.net, batch_size,
                                    num_steps)
      for key in ("forward", "backward_to_input"):
        gflops = rates[key]["gflops"]
        rates[key]["vs_matmul"] = gflops / matmul if gflops else None
      groups.append({
          "net": kind, "image_shape": list(shape),
          "matmul_gflops": matmul, "conv": rates,
          "wall_milliseconds": profile["wall_milliseconds"],
          "op_milliseconds": profile["op_milliseconds"],
          "by_type": profile["by_type"],
          "top_nodes": dict(list(profile["by_node"].items())[:12])})
  return {"benchmark": "ops", "machine": timing.machine(),
          "settings": {"batch_size": batch_size,
                       "num_langevin_steps": num_steps,
                       "net_width": net_width, "noise_scale": noise_scale,
                       "matmul_size": matmul_size},
          "groups": groups}


def show(report: dict) -> None:
  """Prints the report as tables."""
  print(f"One profiled call of tfgen's sampler: batch "
        f"{report['settings']['batch_size']}, "
        f"{report['settings']['num_langevin_steps']} steps")
  for group in report["groups"]:
    shape = "x".join(map(str, group["image_shape"]))
    conv = group["conv"]
    print(f"\n{group['net']} {shape}: wall {group['wall_milliseconds']:.0f} "
          f"ms, op time {group['op_milliseconds']:.0f} ms; matmul "
          f"{group['matmul_gflops']:.0f} GFLOP/s")
    for key in ("forward", "backward_to_input"):
      rate = conv[key]
      if rate["gflops"]:
        print(f"  conv {key:18s} {rate['milliseconds']:8.1f} ms "
              f"{rate['gflops']:7.1f} GFLOP/s ({rate['vs_matmul']:.2f} of "
              "matmul)")
    print(f"  other ops: {100 * conv['other_ops_share']:.1f}% of op time")
    for name, milliseconds in list(group["by_type"].items())[:10]:
      share = 100 * milliseconds / group["op_milliseconds"]
      print(f"  {name:34s} {milliseconds:8.1f} ms {share:5.1f}%")
