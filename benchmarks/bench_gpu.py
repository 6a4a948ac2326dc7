"""P6: absolute times of whole explanations on a CUDA GPU (run by ``benchmarks/device_check.sh``).

On one held-out synthetic clip (16 x 112 x 112): the toy model at the package defaults (areas 0.05, 0.1,
0.2) and r2plus1d_18 with random weights (``weights=None``) at the CLI's default areas (0.05, 0.1), each
with ``iterations="auto"`` (the default) and a fixed 100, in float32 and with ``autocast="bf16"``; and
with ``iterations="auto"``, the 2026-12 defaults and the faster 2026-12b ones side by side (the
performance target: r2plus1d_18 at areas 0.05 and 0.1 within 0.3 s). Each configuration runs once to
warm up, then its median of three runs is reported (the GPU is synchronised before every timestamp).
Writes ``results/performance/gpu.json``.

Run: ``python benchmarks/bench_gpu.py`` (needs CUDA; about a minute on an H100).
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
from _timing import machine, sync, write_result  # noqa: E402

from fep.bench.runner import synthetic_clips  # noqa: E402
from fep.ep.api import extremal_perturbation  # noqa: E402
from fep.models import load_model, preprocess  # noqa: E402


def timed(model, video, target, repeats: int, **options) -> dict:
    runs = []
    for _ in range(repeats + 1):
        sync()
        started = time.perf_counter()
        result = extremal_perturbation(model, video, target, progress=False, **options)
        sync()
        runs.append(time.perf_counter() - started)
    return {
        "seconds": statistics.median(runs[1:]),
        "iterations_used": result.iterations_used[0].tolist(),
        "masked_prob": [round(float(p), 4) for p in result.scores["masked_prob"][0]],
        "model_calls": result.model_calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="a quick check of the script: 5 iterations, 1 run")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_gpu.py needs a CUDA GPU (or --device cpu --smoke to check the script).")
    counts, repeats = (("auto", 5), 1) if args.smoke else (("auto", 100), 3)
    precisions = (None, "bf16") if device.type == "cuda" else (None,)
    clip = synthetic_clips(1)[0]
    toy = load_model("toy", device=device)
    torch.manual_seed(0)
    r2p1 = torchvision.models.get_model("r2plus1d_18", weights=None).eval().to(device)
    r2p1_video = preprocess(clip.video[0], "r2plus1d_18").to(device)  # the clip's frames, Kinetics-normalised
    with torch.no_grad():
        r2p1_target = int(r2p1(r2p1_video).argmax())  # its predicted class, as the CLI's --target auto
    cases = {
        "toy": (toy, clip.video.to(device), clip.target, (0.05, 0.1, 0.2)),
        "r2plus1d_18": (r2p1, r2p1_video, r2p1_target, (0.05, 0.1)),
    }
    runs = [(iterations, precision, None) for iterations in counts for precision in precisions]
    runs += [("auto", precision, defaults) for defaults in ("2026-12", "2026-12b") for precision in precisions]
    rows = []
    for name, (model, video, target, areas) in cases.items():
        for iterations, precision, defaults in runs:
            row = {"model": name, "iterations": iterations, "autocast": precision, "areas": list(areas),
                   "defaults": defaults or "current"}  # fmt: skip
            options = {"defaults": defaults} if defaults else {}
            row.update(timed(model, video, target, repeats, areas=areas, iterations=iterations, autocast=precision,
                             **options))  # fmt: skip
            rows.append(row)
            print(f"{name:12s} defaults={row['defaults']:8s} iterations={iterations!s:4s} autocast={precision!s:4s}: "
                  f"{row['seconds']:6.2f} s (iterations used {row['iterations_used']}, "
                  f"p(target | kept) {row['masked_prob']})", flush=True)  # fmt: skip
    info = machine()
    name = "gpu" if device.type == "cuda" and not args.smoke else "gpu_smoke"
    print(f"GPU: {info['cuda']}; written: {write_result(name, {**info, 'rows': rows})}")


if __name__ == "__main__":
    main()
