"""Pool a family table over all families: per-method means and F-EP's paired differences over every clip.

Reads ``FOLDER/table.csv`` (written by ``fep experiments``) and writes ``FOLDER/pooled.txt``: means with
95 % t intervals and n per method and metric, then F-EP minus every other method of the table on eight
metrics, paired over clips, with p-values Holm-corrected over all those tests (F-EP minus the best
other method is among them, whichever it is). Run:
``python benchmarks/pooled_paired.py results/benchmark_v3/toy``.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

from fep.bench.stats import holm, mean_ci, paired_t

METRICS = ("insertion_margin_auc", "deletion_margin_auc", "game_keep", "game_remove", "insertion_auc",
           "deletion_auc", "gt_ap", "temporal_difference", "td_error", "game_tied", "randomisation_all",
           "randomisation_top")  # fmt: skip
COMPARED = METRICS[:8]


def main(folder: Path) -> str:
    rows = list(csv.DictReader((folder / "table.csv").open()))
    by = {(r["clip"], r["method"]): r for r in rows}
    clips = sorted({r["clip"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))

    def value(clip: str, method: str, key: str) -> float:
        text = by[(clip, method)].get(key)
        return float(text) if text not in ("", None) else math.nan

    lines = [f"{folder}: {len(clips)} clips, pooled over families", "", "means (± 95 % t, n):"]
    for key in METRICS:
        if not any(key in by[(c, m)] for c in clips for m in methods):
            continue
        cells = [f"{m} {mean:.3f}±{half:.3f}(n={n})" for m in methods for mean, half, n in
                 [mean_ci([value(c, m, key) for c in clips])]]  # fmt: skip
        lines.append(f"{key}: " + " | ".join(cells))
    tests = []
    others = [m for m in methods if m != "fep"]
    for key in COMPARED:
        for other in others:
            diffs = [value(c, "fep", key) - value(c, other, key) for c in clips]
            tests.append((key, other, paired_t([d for d in diffs if d == d])))
    lines += ["", f"F-EP minus other, paired over clips; Holm over these {len(tests)} tests:"]
    for (key, other, result), adjusted in zip(tests, holm([r["p"] for _, _, r in tests]), strict=True):
        mean, half, n = result["difference"]
        lines.append(f"{key:22s} fep-{other:9s} {mean:+.3f} ± {half:.3f} n={n} p={result['p']:.3g} holm={adjusted:.3g}")
    lines += ["", *_matched_area_table(folder, methods, set(clips))]
    text = "\n".join(lines) + "\n"
    (folder / "pooled.txt").write_text(text)
    return text


def _matched_area_table(folder: Path, methods: list[str], clips: set[str]) -> list[str]:
    """The matched-area game area by area: mean keep / remove (± 95 % t) per method, from the items of
    the table's clips (a folder may hold items of a larger run not merged yet)."""
    items = [json.loads(p.read_text()) for p in sorted((folder / "items").glob("*.json"))]
    items = [r for r in items if r["clip"] in clips]
    areas = json.loads((folder / "summary.json").read_text())["info"]["game_areas"]
    lines = ["matched-area game by area (keep the top a of the voxels, or remove them; normalised margin):",
             "method     " + " | ".join(f"a={a:g} keep / remove" for a in areas)]  # fmt: skip
    for method in methods:
        rows = [r for r in items if r["method"] == method and r.get("game_keep_curve") is not None]
        cells = []
        for k in range(len(areas)):
            keep = mean_ci([r["game_keep_curve"][k] for r in rows])
            remove = mean_ci([r["game_remove_curve"][k] for r in rows])
            cells.append(f"{keep[0]:.3f}±{keep[1]:.3f} / {remove[0]:.3f}±{remove[1]:.3f}")
        lines.append(f"{method:10s} " + " | ".join(cells) + f" (n={len(rows)})")
    return lines


if __name__ == "__main__":
    print(main(Path(sys.argv[1])))
