"""Fewer iterations to the same answer: step rules for ``iterations="auto"``, on the tuning split.

F-EP at the current defaults with the performance target's areas (0.05, 0.1), on the toy model and
tuning clips (never a published table's), against the same with another step rule: a larger SGD step
and Adam. Per clip: the iterations of the slowest mask (what a batched run waits for) and the fair
metrics of the saliency (margin insertion and deletion, the matched-area game, GT AP). Paired
differences (candidate − current) with 95 % t intervals, Holm over the table. A candidate is worth
adopting only with fewer iterations and no fair metric worse by more than 0.02 at the lower end of its
interval (the performance target's non-inferiority margin).

Writes ``results/performance/iterations_study.md`` and ``.json``. Run:
``python benchmarks/study_iterations.py [--clips N]`` (N per family; about 5 minutes at 2 on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import candidate_tables, paired_tests, with_holm, write_report  # noqa: E402
from _timing import machine  # noqa: E402

from fep.bench.clips import family_clips  # noqa: E402
from fep.bench.runner import score_map  # noqa: E402
from fep.data.synthetic import FAMILIES  # noqa: E402
from fep.ep.api import extremal_perturbation  # noqa: E402
from fep.models import load_model  # noqa: E402

AREAS = (0.05, 0.1)
CANDIDATES = {"current (SGD, lr 0.1)": {}, "SGD, lr 0.2": {"lr": 0.2}, "Adam, lr 0.05": {"optimizer": "adam"}}
METRICS = ("insertion_margin_auc", "deletion_margin_auc", "game_keep", "game_remove", "gt_ap")
LOWER_IS_BETTER = {"deletion_margin_auc", "game_remove"}


def main(clips_per_family: int) -> dict:
    torch.set_num_threads(2)
    model = load_model("toy")
    clips = family_clips(clips_per_family, FAMILIES, split="tuning")
    rows = {name: [] for name in CANDIDATES}
    for clip in clips:
        for name, options in CANDIDATES.items():
            result = extremal_perturbation(model, clip.video, clip.target, method="fep", areas=AREAS,
                                           progress=False, **options)  # fmt: skip
            scores = score_map(model, clip, result.saliency[0], fast=False)
            row = {m: scores.get(m) for m in METRICS}
            row.update(clip=clip.id, iterations=int(result.iterations_used[0].max()))
            rows[name].append(row)
        print(clip.id, {n: r[-1]["iterations"] for n, r in rows.items()}, flush=True)
    base_name = next(iter(CANDIDATES))
    tests = with_holm([t for name in list(CANDIDATES)[1:]
                       for t in paired_tests(rows[name], rows[base_name], ("iterations", *METRICS), candidate=name)])
    result = {"clips": [c.id for c in clips], "areas": list(AREAS), "candidates": CANDIDATES, "rows": rows,
              "tests": tests, "machine": machine()}  # fmt: skip
    _write(result, base_name)
    return result


def _write(result: dict, base_name: str) -> None:
    n = len(result["clips"])
    lines = ["# Step rules for `iterations=\"auto\"`: fewer iterations to the same answer?", "",
             f"F-EP, current defaults, areas {result['areas']}, toy model, tuning split, {n} clips "
             f"({', '.join(result['clips'])}); written by `python benchmarks/study_iterations.py`.", "",
             "| rule | iterations (slowest mask), mean | " + " | ".join(METRICS) + " |",
             "|---" * (2 + len(METRICS)) + "|"]  # fmt: skip
    lines += candidate_tables(result, "iterations", base_name, METRICS, LOWER_IS_BETTER)
    text = "\n".join(lines) + "\n"
    write_report("iterations_study", text, result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=2, help="tuning clips per family")
    main(parser.parse_args().clips)
