"""The cost of an explanation at the 2026-12 defaults against the frozen 2026-11 ones, side by side.

On r2plus1d_18 (random weights: the cost does not depend on them) and a 16-frame 112 px clip, in one
process, alternating old and new so that machine load falls on both alike:

- **at equal areas** (0.05 and 0.1): F-EP with ``defaults="2026-12"`` against ``defaults="2026-11"``,
  everything else left unset; the ratio new / old of the wall time, and the iterations each mask ran;
- **a default explanation** (F-EP, the 2026-12 defaults' sweep of six areas), its total wall time and
  iterations, in units of one bare batch-1 forward+backward of the same model measured in the same run.

Writes ``results/performance/defaults_cost.json``. Run: ``python benchmarks/bench_defaults_cost.py
[--repeats N]`` (about 15 minutes on a 2-core CPU with one repeat).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import bare_pass_seconds, deep_target, machine, write_result  # noqa: E402

from fep.ep.api import extremal_perturbation  # noqa: E402

EQUAL_AREAS = (0.05, 0.1)


def _explain(model, video, **options) -> dict:
    started = time.perf_counter()
    result = extremal_perturbation(model, video, 0, method="fep", progress=False, **options)
    return {"seconds": time.perf_counter() - started, "iterations_used": result.iterations_used[0].tolist(),
            "areas": list(result.areas), "stop_reason": result.stop_reason[0]}  # fmt: skip


def main(repeats: int) -> dict:
    model, video = deep_target()
    bare_pass = bare_pass_seconds(model, video)
    runs = {"2026-11": [], "2026-12": []}
    for _ in range(repeats):
        for name in runs:
            runs[name].append(_explain(model, video, areas=EQUAL_AREAS, defaults=name))
    default = _explain(model, video)
    old = statistics.median(r["seconds"] for r in runs["2026-11"])
    new = statistics.median(r["seconds"] for r in runs["2026-12"])
    result = {
        "model": "r2plus1d_18 (weights=None)", "clip": [1, 3, 16, 112, 112], "repeats": repeats,
        "bare_forward_backward_s": bare_pass,
        "equal_areas": {"areas": list(EQUAL_AREAS), "runs": runs, "old_s": old, "new_s": new, "ratio": new / old},
        "default_explanation": {**default, "bare_passes": default["seconds"] / bare_pass},
        "machine": machine(),
    }  # fmt: skip
    write_result("defaults_cost", result)
    print(f"one bare forward+backward: {bare_pass:.2f} s")
    print(f"equal areas {EQUAL_AREAS}: 2026-11 {old:.1f} s, 2026-12 {new:.1f} s, ratio {new / old:.2f}")
    print(f"default explanation ({len(default['areas'])} areas): {default['seconds']:.1f} s = "
          f"{default['seconds'] / bare_pass:.0f} bare passes; iterations {default['iterations_used']}")  # fmt: skip
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    main(parser.parse_args().repeats)
