"""P2: quality reached after k iterations — 3D-EP with TorchRay's schedule vs F-EP with the package defaults.

On held-out synthetic clips (toy model, one area a = 0.1), for k in 25 … 800:
- quality = target probability of each clip keeping only the top-a voxels of its mask (the rest
  blurred, :func:`fep.bench.faithfulness.kept_probability`) and ground-truth AP of the mask
  (:func:`fep.bench.map_metrics.ground_truth_ap`), both averaged over clips;
- 3D-EP follows TorchRay's schedule: the area weight is 300 · 1.0035^t at iteration t whatever the
  run length, so a k-iteration run is the first k iterations of the 800-iteration run. It is run once
  and read at every k (one short run is re-done in full to check that the snapshot is exact);
- F-EP uses the package defaults, whose area-weight schedule is stretched over the run, so every k
  is its own run.

Reports the smallest k at which F-EP matches 800-iteration 3D-EP: both mean qualities at least the
reference minus ``--tolerance`` (0.01). All clips are explained in one batch per run.
Finished runs are kept in ``results/performance/convergence.json`` and reused by a re-run with the same
settings (``--fresh`` to redo them), so an interrupted benchmark loses nothing.

Run: ``python benchmarks/bench_convergence.py [--quick] [--fep key=value,...]``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import RESULTS, machine, write_result  # noqa: E402

from fep.bench.clips import synthetic_clips  # noqa: E402
from fep.bench.faithfulness import kept_probability  # noqa: E402
from fep.bench.map_metrics import ground_truth_ap  # noqa: E402
from fep.bench.methods import parse_method  # noqa: E402
from fep.ep.api import extremal_perturbation  # noqa: E402
from fep.ep.settings import AREA_WEIGHT  # noqa: E402
from fep.models import load_model  # noqa: E402

KS = (25, 50, 100, 150, 200, 400, 800)
AREA = 0.1
TORCHRAY_GROWTH = 1.0035


def quality(model, clips, masks: torch.Tensor) -> dict:
    """Mean and per-clip kept probability and GT AP of masks ``(N, T, H, W)``."""
    video = torch.cat([c.video for c in clips])
    kept = kept_probability(model, video, [c.target for c in clips], masks, AREA).tolist()
    ap = [ground_truth_ap(m, c.actor_mask) for m, c in zip(masks, clips, strict=True)]
    means = {"kept_prob": statistics.fmean(kept), "gt_ap": statistics.fmean(ap)}
    return {**means, "kept_per_clip": kept, "ap_per_clip": ap}


def run_ep3d(model, clips, ks) -> list[dict]:
    """One TorchRay-schedule 3D-EP run of max(ks) iterations, read at every k."""
    video = torch.cat([c.video for c in clips])
    targets = [c.target for c in clips]
    last = max(ks)
    snapshots: dict[int, tuple[torch.Tensor, float]] = {}
    start = time.perf_counter()

    def keep(i, masks, history):
        if i in ks:  # masks at iteration i come from the parameters after i steps
            snapshots[i] = (masks[:, 0].clone(), time.perf_counter() - start)

    result = extremal_perturbation(
        model, video, targets, method="ep3d", areas=(AREA,), iterations=last,
        area_weight_final=AREA_WEIGHT * TORCHRAY_GROWTH ** (last - 1), callback=keep, progress=True,
    )  # fmt: skip
    snapshots[last] = (result.masks[:, 0], time.perf_counter() - start)
    rows = []
    for k in sorted(ks):
        masks, wall = snapshots[k]
        rows.append({"method": "ep3d", "k": k, "wall_s": wall, **quality(model, clips, masks)})
        print(f"ep3d k={k:4d}  kept {rows[-1]['kept_prob']:.4f}  AP {rows[-1]['gt_ap']:.4f}  {wall:7.1f} s")
    # The snapshot at the smallest k must equal a run of that length (same seed, same schedule so far).
    k = min(ks)
    short = extremal_perturbation(
        model, video, targets, method="ep3d", areas=(AREA,), iterations=k,
        area_weight_final=AREA_WEIGHT * TORCHRAY_GROWTH ** (k - 1), progress=False,
    )  # fmt: skip
    gap = (short.masks[:, 0] - snapshots[k][0]).abs().max().item()
    if gap > 1e-5:
        raise RuntimeError(f"3D-EP snapshot at k={k} differs from a {k}-iteration run by {gap}.")
    return rows


def run_fep(model, clips, k: int, options: dict) -> dict:
    video = torch.cat([c.video for c in clips])
    start = time.perf_counter()
    result = extremal_perturbation(
        model, video, [c.target for c in clips], method="fep", areas=(AREA,), iterations=k, **options
    )
    row = {"method": "fep", "k": k, "wall_s": time.perf_counter() - start, **quality(model, clips, result.masks[:, 0])}
    print(f"fep  k={k:4d}  kept {row['kept_prob']:.4f}  AP {row['gt_ap']:.4f}  {row['wall_s']:7.1f} s")
    return row


# Defaults that only F-EP reads (or that do not change a result): a change to them keeps stored 3D-EP runs.
FEP_ONLY = {"method", "iterations", "temporal_cutoff", "spatial_cutoff", "filter_type", "filter_order", "modulate",
            "lowpass_at",
            "preserve_norm", "schedule", "progress", "callback", "callback_every", "max_batch"}  # fmt: skip


# Defaults that no stored run depends on (k is always passed; chunking and progress do not change masks).
NEVER_CHANGE_A_RUN = {"iterations", "max_batch", "progress", "callback", "callback_every"}


def defaults_fingerprint(method: str) -> dict:
    """The engine's defaults that a stored run of ``method`` depends on."""
    params = inspect.signature(extremal_perturbation).parameters.values()
    return {
        p.name: repr(p.default)
        for p in params
        if p.default is not inspect.Parameter.empty
        and p.name not in NEVER_CHANGE_A_RUN
        and (method == "fep" or p.name not in FEP_ONLY)
    }


def smallest_matching_k(rows: list[dict], tolerance: float) -> int | None:
    ref = next(r for r in rows if r["method"] == "ep3d" and r["k"] == max(x["k"] for x in rows))
    for row in sorted((r for r in rows if r["method"] == "fep"), key=lambda r: r["k"]):
        if row["kept_prob"] >= ref["kept_prob"] - tolerance and row["gt_ap"] >= ref["gt_ap"] - tolerance:
            return row["k"]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--ks", default=",".join(map(str, KS)), help="comma-separated iteration counts")
    parser.add_argument("--fep", default="", help="F-EP options instead of the defaults, e.g. optimizer=adam")
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--quick", action="store_true", help="4 clips, k = 10, 20, 40")
    parser.add_argument("--fresh", action="store_true", help="ignore stored runs")
    parser.add_argument("--name", default="convergence", help="results file name")
    args = parser.parse_args()
    clips_n, ks = (4, (10, 20, 40)) if args.quick else (args.clips, tuple(int(k) for k in args.ks.split(",")))
    _, options = parse_method(f"fep[{args.fep}]") if args.fep else ("fep", {})
    model = load_model("toy")
    clips = synthetic_clips(clips_n)
    info = machine()
    print(f"machine: {info['processor']}, {info['threads']} threads, torch {info['torch']}; {clips_n} clips")
    settings = {"clips": clips_n, "ks": list(ks), "area": AREA, "fep_options": options,
                "defaults": {m: defaults_fingerprint(m) for m in ("ep3d", "fep")}}  # fmt: skip
    path = RESULTS / f"{args.name}.json"
    stored = json.loads(path.read_text()) if path.exists() and not args.fresh else {}
    old = stored.get("settings", {})

    def still_valid(row: dict) -> bool:
        keys = ("clips", "ks", "area") + (("fep_options",) if row["method"] == "fep" else ())
        same = all(old.get(k) == settings[k] for k in keys)
        return same and old["defaults"][row["method"]] == settings["defaults"][row["method"]]

    rows = [r for r in stored.get("rows", []) if still_valid(r)]

    def save(done: bool) -> None:
        k_match = smallest_matching_k(rows, args.tolerance) if done else None
        write_result(args.name, {**info, "settings": settings, "tolerance": args.tolerance, "complete": done,
                                 "fep_matches_ep3d_800_at_k": k_match, "rows": rows})  # fmt: skip

    if not any(r["method"] == "ep3d" for r in rows):
        rows += run_ep3d(model, clips, ks)
        save(False)
    for k in ks:
        if not any(r["method"] == "fep" and r["k"] == k for r in rows):
            rows.append(run_fep(model, clips, k, options))
            save(False)
    save(True)
    k_match = smallest_matching_k(rows, args.tolerance)
    print(f"F-EP matches {max(ks)}-iteration 3D-EP at k = {k_match} (tolerance {args.tolerance})")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
