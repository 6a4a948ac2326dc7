"""How fast the FrequencyExplorer answers a slider move (16x112x112 clip and gradient, this CPU).

Run: ``python benchmarks/bench_widgets.py``. Prints medians of repeated frame and cutoff changes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine, median_time, write_result  # noqa: E402

from fep.baselines import gradients as G  # noqa: E402
from fep.data.samples import load_sample  # noqa: E402
from fep.models import load_model, preprocess  # noqa: E402
from fep.viz.widgets import FrequencyExplorer  # noqa: E402


def main() -> None:
    clip, truth = load_sample(0)
    gradient = G.vanilla_gradient(load_model("toy"), preprocess(clip.frames, "toy"), truth["label"])[0]
    explorer = FrequencyExplorer(clip.frames, gradient)
    frames = iter(range(10**6))
    cutoffs = iter(x / 1000 for x in range(1, 10**6))
    frame_s = median_time(lambda: explorer.set_frame(next(frames) % 16), repeats=15)
    cutoff_s = median_time(lambda: explorer.set_cutoffs(temporal=next(cutoffs) % 1), repeats=15)
    info = machine()
    print(f"machine: {info['processor']}, {info['threads']} threads, torch {info['torch']}")
    print(f"frame slider move  : {frame_s * 1e3:6.0f} ms (median of 15)")
    print(f"cutoff slider move : {cutoff_s * 1e3:6.0f} ms (median of 15, new cutoff each time: no cache hits)")
    print(f"written: {write_result('widgets', {**info, 'frame_ms': frame_s * 1e3, 'cutoff_ms': cutoff_s * 1e3})}")


if __name__ == "__main__":
    main()
