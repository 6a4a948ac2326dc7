"""The 2026-12c defaults against the 2026-12 ones, side by side: wall time, and quality on test clips.

``time``: on r2plus1d_18 (random weights: the cost does not depend on them) and a 16-frame 112 px clip,
in one process, alternating old and new so that machine load falls on both alike: F-EP at areas 0.05 and
0.1 with ``defaults="2026-12"``, ``"2026-12c"`` and ``"2026-12b"`` (everything else unset), median of the repeats, the
ratio new / old, and each in units of one bare batch-1 forward+backward of the same model (contiguous,
weights frozen as an explanation runs them, measured in the same run).
Writes ``results/performance/fast_defaults_time.json``.

``quality``: the same explanation, old and new, on test clips of the synthetic benchmark, with the toy
model or the shipped MC3-18; per clip the fair metrics of each saliency (margin insertion, the
matched-area keep averaged over its areas, margin deletion, the game's remove, GT AP, temporal
difference). Paired new − old with 95 % t intervals, Holm over the table; **non-inferior** where the worse
end of the interval is within 0.02. Each clip is saved as it finishes (``items/``), so a stopped run
resumes. Writes ``results/performance/fast_defaults_<model>.md`` and ``.json``.

``window``: the full default sweep of six areas on a linear detector of one known window (the clip
and model of the fair-metrics tests), for every named set of defaults and for the new one with its areas
in one batch: per mask its iterations, why it stopped, its kept share and the share of that inside the
window, and the matched-area game's keep against a random map's. Seconds on a CPU. Writes
``results/performance/fast_defaults_window.json``.

Run: ``python benchmarks/bench_fast_defaults.py time [--repeats N]`` (about 5 minutes on 2 cores), and
``python benchmarks/bench_fast_defaults.py quality --model toy --clips 16`` (16 clips per family).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import mean_present, non_inferior, paired_tests, with_holm, write_report  # noqa: E402
from _timing import RESULTS, bare_pass_seconds, deep_target, machine, write_result  # noqa: E402

from fep.atomic import atomic_write  # noqa: E402
from fep.bench.clips import family_clips  # noqa: E402
from fep.bench.runner import score_map  # noqa: E402
from fep.data.synthetic import FAMILIES  # noqa: E402
from fep.ep.api import extremal_perturbation  # noqa: E402
from fep.ep.presets import DEFAULTS  # noqa: E402
from fep.models import load_model  # noqa: E402

AREAS = (0.05, 0.1)
OLD, NEW = "2026-12", "2026-12c"
EARLIER = ("2026-12b",)  # timed beside them, so every faster preset's ratio comes from one run
PRIMARY = ("insertion_margin_auc", "game_keep")  # the non-inferiority metrics
METRICS = (*PRIMARY, "deletion_margin_auc", "game_remove", "gt_ap", "temporal_difference")
LOWER_IS_BETTER = {"deletion_margin_auc", "game_remove", "temporal_difference"}


def _explain(model, video, target, defaults: str):
    started = time.perf_counter()
    result = extremal_perturbation(model, video, target, method="fep", areas=AREAS, progress=False, defaults=defaults)
    return result, time.perf_counter() - started


def time_main(repeats: int) -> dict:
    model, video = deep_target()
    unit = bare_pass_seconds(model, video)
    runs = {OLD: [], NEW: [], **{name: [] for name in EARLIER}}
    for _ in range(repeats):
        for name in runs:
            result, seconds = _explain(model, video, 0, name)
            runs[name].append({"seconds": seconds, "iterations_used": result.iterations_used[0].tolist(),
                               "stop_reason": result.stop_reason[0], "ran": result.settings["ran"],
                               "model_calls": result.model_calls})  # fmt: skip
    seconds = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
    out = {
        "model": "r2plus1d_18 (weights=None)", "clip": [1, 3, 16, 112, 112], "areas": list(AREAS),
        "old": OLD, "new": NEW, "repeats": repeats, "bare_forward_backward_s": unit, "runs": runs, "median_s": seconds,
        "ratio": seconds[NEW] / seconds[OLD], "bare_passes": {n: s / unit for n, s in seconds.items()},
        "threads": torch.get_num_threads(), "machine": machine(),
    }  # fmt: skip
    write_result("fast_defaults_time", out)
    print(f"bare forward+backward, batch 1: {unit:.2f} s")
    for name, s in seconds.items():
        print(f"F-EP areas {AREAS}, defaults {name}: {s:.1f} s = {s / unit:.1f} bare passes; "
              f"iterations {runs[name][-1]['iterations_used']}")  # fmt: skip
    print(f"{NEW} / {OLD}: {out['ratio']:.3f}")
    return out


def quality_main(model_name: str, clips_per_family: int, families: list[str]) -> dict:
    model = load_model(model_name)
    clips = family_clips(clips_per_family, families, split="test")
    items = RESULTS / f"fast_defaults_{model_name}" / "items"
    items.mkdir(parents=True, exist_ok=True)
    rows = []
    for clip in clips:
        path = items / f"{clip.id}.json"
        row = json.loads(path.read_text()) if path.exists() else {"clip": clip.id}
        missing = [name for name in (OLD, NEW) if name not in row]  # a row keeps every preset it has run
        for name in missing:
            result, seconds = _explain(model, clip.video, clip.target, name)
            scores = score_map(model, clip, result.saliency[0], fast=False)
            row[name] = {m: scores.get(m) for m in METRICS}
            row[name].update(seconds=seconds, iterations_used=result.iterations_used[0].tolist())
        if missing:
            payload = json.dumps(row).encode()
            atomic_write(path, lambda f, payload=payload: f.write(payload))
            print(clip.id, {n: row[n]["iterations_used"] for n in (OLD, NEW)}, flush=True)
        rows.append(row)
    # No seconds here: rows resume from items/ across runs, so their times need not share a machine's load
    # (the time part compares them side by side).
    tests = with_holm(paired_tests([r[NEW] for r in rows], [r[OLD] for r in rows], METRICS))
    out = {"model": model_name, "split": "test", "clips": [r["clip"] for r in rows], "areas": list(AREAS),
           "old": OLD, "new": NEW, "rows": rows, "tests": tests, "machine": machine()}  # fmt: skip
    _write_quality(out)
    return out


def window_main() -> dict:
    from fep.bench.faithfulness import GAME_AREAS, matched_area_game
    from fep.testing import WindowDetector, window_clip

    video, inside = window_clip(frames=4, size=48, top=8, left=4, window=12)
    model = WindowDetector(top=8, left=4, size=12)
    random_map = torch.rand(inside.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = {"clip": "window_clip(frames=4, size=48, top=8, left=4, window=12)", "game_areas": list(GAME_AREAS),
           "random_keep": matched_area_game(model, video, 0, random_map)["keep"], "runs": {}}  # fmt: skip
    runs = {name: dict(defaults=name) for name in DEFAULTS if name != "2026-11"}
    runs[f"{NEW}, sweep batch"] = dict(defaults=NEW, sweep="batch")
    for name, options in runs.items():
        result = extremal_perturbation(model, video, 0, method="fep", progress=False, **options)
        kept = result.masks[0] > 0.5
        out["runs"][name] = {
            "areas": list(result.settings["areas"]), "iterations_used": result.iterations_used[0].tolist(),
            "stop_reason": result.stop_reason[0], "ran": result.settings["ran"],
            "kept_share": [float(k.float().mean()) for k in kept],
            "in_window_share": [float((k & inside).sum() / k.sum().clamp(min=1)) for k in kept],
            "game_keep": matched_area_game(model, video, 0, result.saliency[0])["keep"],
        }  # fmt: skip
        print(name, {k: [round(v, 3) if isinstance(v, float) else v for v in vs]
                     for k, vs in out["runs"][name].items() if k != "ran"}, flush=True)  # fmt: skip
    out["machine"] = machine()
    write_result("fast_defaults_window", out)
    return out


def _verdict(t: dict) -> str:
    d = t["difference"][0]
    if t["metric"] == "seconds":
        return "—"
    if t["metric"] == "temporal_difference":
        return "smoother" if t["holm"] < 0.05 and d < 0 else ("rougher" if t["holm"] < 0.05 else "tie")
    return non_inferior(t, LOWER_IS_BETTER)


def _write_quality(out: dict) -> None:
    n = len(out["clips"])
    lines = [f"# {NEW} against {OLD} on {out['model']}: quality on test clips", "",
             f"F-EP at areas {out['areas']}, {n} test clips of the synthetic benchmark "
             f"({', '.join(sorted({c.rsplit('_', 1)[0] for c in out['clips']}))}); written by "
             f"`python benchmarks/bench_fast_defaults.py quality --model {out['model']}`. Each clip's row is kept in "
             "`items/` as it finishes and a later run reuses it, so the table compares quality only; the wall time "
             "is compared side by side in `fast_defaults_time.json`.", "",
             f"| metric | {OLD} | {NEW} | new − old (95 % t) | n | p (Holm) | non-inferior (margin 0.02) |",
             "|---" * 7 + "|"]  # fmt: skip
    for t in out["tests"]:
        metric, (d, ci, k) = t["metric"], t["difference"]
        means = [mean_present([r[name] for r in out["rows"]], metric) for name in (OLD, NEW)]
        lines.append(f"| {metric} | {means[0]:.3f} | {means[1]:.3f} | {d:+.3f} ± {ci:.3f} | {k} | {t['holm']:.3g} | "
                     f"{_verdict(t)} |")  # fmt: skip
    text = "\n".join(lines) + "\n"
    write_report(f"fast_defaults_{out['model']}", text, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    timing = sub.add_parser("time", help="wall time on r2plus1d_18, side by side")
    timing.add_argument("--repeats", type=int, default=2)
    quality = sub.add_parser("quality", help="paired quality on test clips")
    quality.add_argument("--model", default="toy", help="toy or mc3_18_synthetic")
    quality.add_argument("--clips", type=int, default=16, help="test clips per family")
    quality.add_argument("--families", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    sub.add_parser("window", help="the full sweep on a detector of one known window")
    args = parser.parse_args()
    if args.part == "time":
        time_main(args.repeats)
    elif args.part == "window":
        window_main()
    else:
        quality_main(args.model, args.clips, args.families)
