"""Choosing the faster defaults on the tuning split: chained sweeps, step rules and schedules.

Every candidate is a set of named defaults (:class:`fep.ep.presets.Defaults`) run against the frozen
2026-12 defaults on the same tuning clips (never a published table's), F-EP at the performance
target's areas (0.05, 0.1). Per clip: the model passes the explanation costs on a CPU (the iterations
of every mask summed: a chain runs one mask per pass, and a batch of two costs about two passes here)
and the fair metrics of its saliency. Paired differences (candidate − 2026-12), 95 % t intervals, Holm
over the table; a candidate qualifies with fewer passes and the worse end of every faithfulness
interval within 0.02.

Writes ``results/performance/fast_defaults_study[_<model>].md`` and ``.json``; every scored explanation is kept
in ``fast_defaults_study/items/`` so a stopped study resumes. Run: ``python benchmarks/study_fast_defaults.py
[--clips N] [--model toy] [--families motion …] [--candidates NAME …]`` (N per family).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from pathlib import Path
from types import MappingProxyType

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import RESULTS, candidate_tables, paired_tests, with_holm, write_report  # noqa: E402
from _timing import machine  # noqa: E402

import fep.ep.settings as settings_module  # noqa: E402
from fep.atomic import atomic_write  # noqa: E402
from fep.bench.clips import family_clips  # noqa: E402
from fep.bench.runner import score_map  # noqa: E402
from fep.data.synthetic import FAMILIES  # noqa: E402
from fep.ep.api import extremal_perturbation  # noqa: E402
from fep.ep.presets import DEFAULTS, DEFAULTS_2026_12, DEFAULTS_2026_12B  # noqa: E402
from fep.models import load_model  # noqa: E402

AREAS = (0.05, 0.1)
BASE = DEFAULTS[DEFAULTS_2026_12]
CHAIN = dict(sweep="chain", memory_format="model")
CANDIDATES = {
    "chain, SGD 0.1, schedule 20, link 5": dict(CHAIN, chain_schedule=5),
    "chain, SGD 0.2, schedule 10, link 5": dict(CHAIN, chain_schedule=5, auto_schedule=10, lr=0.2),
    "chain, Adam 0.1, schedule 10, link 5": dict(CHAIN, chain_schedule=5, auto_schedule=10, optimizer="adam", lr=0.1),
    "chain, SGD 0.2, schedule 20, link 10": dict(CHAIN, chain_schedule=10, lr=0.2),
    "chain, Adam 0.1, schedule 10, link 5, tol 0.1": dict(CHAIN, chain_schedule=5, auto_schedule=10, optimizer="adam",
                                                          lr=0.1, energy_tolerance=0.1),
    "chain, Adam 0.1, schedule 10, link 2, tol 0.1": dict(CHAIN, chain_schedule=2, auto_schedule=10, optimizer="adam",
                                                          lr=0.1, energy_tolerance=0.1),
    "chain, Adam 0.1, schedule 10, link 5, tol 0.15": dict(CHAIN, chain_schedule=5, auto_schedule=10,
                                                           optimizer="adam", lr=0.1, energy_tolerance=0.15),
    "chain, Adam 0.2, schedule 10, link 5, tol 0.1": dict(CHAIN, chain_schedule=5, auto_schedule=10, optimizer="adam",
                                                          lr=0.2, energy_tolerance=0.1),
    "chain, Adam 0.2, schedule 10, link 5, tol 0.05": dict(CHAIN, chain_schedule=5, auto_schedule=10,
                                                           optimizer="adam", lr=0.2, energy_tolerance=0.05),
    "chain, Adam 0.2, schedule 10, link 10, tol 0.1": dict(CHAIN, chain_schedule=10, auto_schedule=10,
                                                           optimizer="adam", lr=0.2, energy_tolerance=0.1),
    "chain, Adam 0.15, schedule 10, link 5, tol 0.1": dict(CHAIN, chain_schedule=5, auto_schedule=10,
                                                           optimizer="adam", lr=0.15, energy_tolerance=0.1),
    "batch, Adam 0.2, schedule 10, tol 0.1": dict(sweep="batch", memory_format="model", auto_schedule=10,
                                                  optimizer="adam", lr=0.2, energy_tolerance=0.1),
}
METRICS = ("insertion_margin_auc", "deletion_margin_auc", "game_keep", "game_remove", "gt_ap")
LOWER_IS_BETTER = {"deletion_margin_auc", "game_remove"}


@contextlib.contextmanager
def candidate_defaults(changes: dict):
    """The 2026-12b name bound to the 2026-12 defaults with ``changes`` (lr is an option, not a default)."""
    saved = settings_module.DEFAULTS
    fields = {k: v for k, v in changes.items() if k != "lr"}
    settings_module.DEFAULTS = MappingProxyType({**saved, DEFAULTS_2026_12B: dataclasses.replace(BASE, **fields)})
    try:
        yield {"lr": changes["lr"]} if "lr" in changes else {}
    finally:
        settings_module.DEFAULTS = saved


def explain(model, clip, changes: dict | None):
    if changes is None:
        return extremal_perturbation(model, clip.video, clip.target, method="fep", areas=AREAS, progress=False,
                                     defaults=DEFAULTS_2026_12)  # fmt: skip
    with candidate_defaults(changes) as options:
        return extremal_perturbation(model, clip.video, clip.target, method="fep", areas=AREAS, progress=False,
                                     defaults=DEFAULTS_2026_12B, **options)  # fmt: skip


def main(clips_per_family: int, model_name: str, candidates: list[str], families: list[str]) -> dict:
    torch.set_num_threads(2)
    model = load_model(model_name)
    clips = family_clips(clips_per_family, families, split="tuning")
    runs = {"2026-12": None, **{name: CANDIDATES[name] for name in candidates}}
    done = _load_done(model_name)
    rows = {name: [] for name in runs}
    for clip in clips:
        for name, changes in runs.items():
            row = done.setdefault(clip.id, {}).get(name)
            if row is None:
                row = done[clip.id][name] = _row(model, clip, changes)
                _save_done(model_name, done)
            rows[name].append(row)
        print(clip.id, {n: r[-1]["iterations"] for n, r in rows.items()}, flush=True)
    tests = with_holm([t for name in candidates
                       for t in paired_tests(rows[name], rows["2026-12"], ("passes", *METRICS), candidate=name)])
    result = {"model": model_name, "clips": [c.id for c in clips], "areas": list(AREAS), "base": "2026-12",
              "candidates": {n: CANDIDATES[n] for n in candidates}, "rows": rows, "tests": tests,
              "machine": machine()}  # fmt: skip
    _write(result)
    return result


def _row(model, clip, changes: dict | None) -> dict:
    """One explanation's cost and fair metrics."""
    result = explain(model, clip, changes)
    row = {m: score_map(model, clip, result.saliency[0], fast=False).get(m) for m in METRICS}
    row.update(clip=clip.id, passes=int(result.iterations_used[0].sum()),
               iterations=[int(v) for v in result.iterations_used[0]])  # fmt: skip
    return row


# Every explanation scored so far, by clip and candidate name, so an interrupted study resumes where it stopped.
def _done_path(model_name: str) -> Path:
    return RESULTS / "fast_defaults_study" / "items" / f"{model_name}.json"


def _load_done(model_name: str) -> dict:
    path = _done_path(model_name)
    return json.loads(path.read_text()) if path.exists() else {}


def _save_done(model_name: str, done: dict) -> None:
    path = _done_path(model_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(done, indent=1).encode()
    atomic_write(path, lambda f: f.write(payload))


def _write(result: dict) -> None:
    n = len(result["clips"])
    lines = ["# Faster defaults: candidates against the 2026-12 defaults on the tuning split", "",
             f"F-EP, areas {result['areas']}, {result['model']} model, tuning split, {n} clips; "
             "`passes` is every mask's iterations summed (a CPU's cost); written by "
             "`python benchmarks/study_fast_defaults.py`.", "",
             "| defaults | passes, mean | " + " | ".join(METRICS) + " |",
             "|---" * (2 + len(METRICS)) + "|"]  # fmt: skip
    lines += candidate_tables(result, "passes", "2026-12", METRICS, LOWER_IS_BETTER)
    text = "\n".join(lines) + "\n"
    stem = "fast_defaults_study" + ("" if result["model"] == "toy" else f"_{result['model']}")
    write_report(stem, text, result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=2, help="tuning clips per family")
    parser.add_argument("--model", default="toy")
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    args = parser.parse_args()
    main(args.clips, args.model, args.candidates, args.families)
