"""P1: per-iteration overhead of the explanation engine over a bare forward+backward.

For each model, on the same batch (N clips x A areas), measures
- bare: one forward + backward with frozen parameters and the input requiring grad;
- one iteration of F-EP, 3D-EP and STEP (package defaults), from timestamps taken by the engine's
  callback at every iteration (so set-up and the final scoring pass are excluded);
and prints medians and the ratio iteration / bare. Targets: <= 1.5 for the tiny model,
<= 1.10 for r2plus1d_18 at 1x3x16x112x112.

Run: ``python benchmarks/bench_explain.py [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine, median_time, sync, write_result  # noqa: E402

from fep.ep.api import extremal_perturbation  # noqa: E402
from fep.ep.model_state import frozen_model  # noqa: E402
from fep.testing import TinyVideoNet  # noqa: E402


def bare_step(model: torch.nn.Module, batch: torch.Tensor, target: int, repeats: int) -> float:
    clips = batch.clone().requires_grad_(True)

    def step():
        clips.grad = None
        model(clips)[:, target].sum().backward()

    with frozen_model(model):
        return median_time(step, repeats=repeats, warmup=2)


def iteration_time(model, video, target, method, areas, iterations) -> float:
    stamps: list[float] = []
    extremal_perturbation(
        model,
        video,
        target,
        method=method,
        areas=areas,
        iterations=iterations,
        progress=False,
        callback=lambda i, m, h: (sync(), stamps.append(time.perf_counter())),
    )
    gaps = [b - a for a, b in zip(stamps[2:], stamps[3:], strict=False)]  # skip warm-up steps
    return statistics.median(gaps)


def measure(name, model, video, areas, iterations, repeats) -> dict:
    batch = video.expand(len(areas), -1, -1, -1, -1).contiguous()
    bare = bare_step(model, batch, 0, repeats)
    row = {"model": name, "input": list(video.shape), "areas": list(areas), "bare_ms": bare * 1e3}
    for method in ("fep", "ep3d", "step"):
        it = iteration_time(model, video, 0, method, areas, iterations)
        row[f"{method}_ms"] = it * 1e3
        row[f"{method}_ratio"] = it / bare
    print(
        f"{name:12s} batch {len(areas)}x{tuple(video.shape[1:])}: bare {bare * 1e3:8.1f} ms | "
        + " | ".join(f"{m} {row[m + '_ms']:8.1f} ms = {row[m + '_ratio']:.2f}x" for m in ("fep", "ep3d", "step"))
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model only, fewer repeats")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (results: explain_overhead_cuda.json)")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    video = torch.randn(1, 3, 16, 112, 112, device=device)
    info = machine()
    print(f"machine: {info['processor']}, {info['threads']} threads, torch {info['torch']}, GPU {info['cuda']}")
    rows = [measure("tiny", TinyVideoNet(num_classes=4).to(device), video, (0.05, 0.1, 0.2), 15, 9)]
    if not args.quick:
        r2p1 = torchvision.models.video.r2plus1d_18(weights=None).eval().to(device)
        rows.append(measure("r2plus1d_18", r2p1, video, (0.1,), 7, 5))
    name = "explain_overhead" if device.type == "cpu" else f"explain_overhead_{device.type}"
    print(f"written: {write_result(name, {**info, 'rows': rows})}")


if __name__ == "__main__":
    main()
