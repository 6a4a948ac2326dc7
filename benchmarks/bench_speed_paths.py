"""CPU speed paths against the plain fp32 path, side by side in one run: channels-last 3-D convolutions.

On r2plus1d_18 (random weights: the cost does not depend on them) and a 16-frame 112 px clip, in one
process, alternating the paths so that machine load falls on both alike:

- one bare forward+backward at batch 1 and 2, each layout (median of repeats);
- F-EP at the current defaults with areas 0.05 and 0.1 (the performance target's explanation), plain
  and with ``memory_format="channels_last"``: wall time (median of repeats), the ratio, iterations per
  mask, the explanation in units of one bare batch-1 pass, and the largest difference between the masks.

Writes ``results/performance/speed_paths.json``. Run: ``python benchmarks/bench_speed_paths.py
[--repeats N]`` (about 5 minutes on a 2-core CPU with two repeats).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import bare_pass_seconds, deep_clip, deep_target, machine, write_result  # noqa: E402

from fep.ep.api import extremal_perturbation  # noqa: E402

AREAS = (0.05, 0.1)
PATHS = {"fp32 contiguous": {}, "channels_last": {"memory_format": "channels_last"}}


def main(repeats: int) -> dict:
    model, video = deep_target()
    bare = {f"{name} batch {b}": bare_pass_seconds(model, deep_clip(b), bool(opts))
            for b in (1, 2) for name, opts in PATHS.items()}  # fmt: skip
    runs = {name: [] for name in PATHS}
    masks = {}
    for _ in range(repeats):
        for name, options in PATHS.items():
            started = time.perf_counter()
            result = extremal_perturbation(model, video, 0, method="fep", areas=AREAS, progress=False, **options)
            runs[name].append({"seconds": time.perf_counter() - started,
                               "iterations_used": result.iterations_used[0].tolist()})  # fmt: skip
            masks[name] = result.masks
    unit = bare["fp32 contiguous batch 1"]
    seconds = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
    old, new = seconds["fp32 contiguous"], seconds["channels_last"]
    result = {
        "model": "r2plus1d_18 (weights=None)", "clip": [1, 3, 16, 112, 112], "areas": list(AREAS),
        "repeats": repeats, "bare_forward_backward_s": bare, "runs": runs, "median_s": seconds,
        "ratio": new / old, "bare_passes": {name: s / unit for name, s in seconds.items()},
        "max_mask_difference": float((masks["channels_last"] - masks["fp32 contiguous"]).abs().max()),
        "machine": machine(),
    }  # fmt: skip
    write_result("speed_paths", result)
    for name, s in bare.items():
        print(f"bare forward+backward, {name}: {s:.2f} s")
    for name, s in seconds.items():
        print(f"F-EP areas {AREAS}, {name}: {s:.1f} s = {s / unit:.0f} bare batch-1 passes; "
              f"iterations {runs[name][-1]['iterations_used']}")  # fmt: skip
    print(f"channels_last / contiguous: {new / old:.2f}; largest mask difference {result['max_mask_difference']:.2e}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    main(parser.parse_args().repeats)
