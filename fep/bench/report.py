"""The outputs of a run: ``table.csv``, ``summary.md``, ``summary.json`` and the plots, from its items."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

from fep.atomic import atomic_write
from fep.bench.methods import label_of
from fep.bench.plots import curve_plot, metric_plots
from fep.bench.stats import mean_ci, paired_differences, verdict
from fep.ep.presets import METHOD_EP3D
from fep.errors import FepFileNotFoundError, FepValueError

__all__ = ["METRICS", "merge", "load_summary", "summary_table", "item_path", "item_done"]

METRICS = (
    "pointing_frame",
    "pointing_clip",
    "gt_ap",
    "mass_in_gt",
    "deletion_auc",
    "insertion_auc",
    "temporal_difference",
    "temporal_consistency",
    "spatial_tv",
    "high_freq_temporal",
    "high_freq_spatial",
    "temporal_localisation",
    "randomisation_rank_corr",
)


def item_path(out: Path, clip_id: str, method: str) -> Path:
    """Where the result of one (clip, method) item is kept."""
    safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", method)
    return out / "items" / f"{clip_id}__{safe}.json"


def item_done(path: Path, fast: bool | None = None) -> bool:
    """A finished item (parses), made with the same budget when ``fast`` is given: an item from a
    ``fast=True`` run is not reused by a full run into the same folder (or the other way round)."""
    try:
        item = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return fast is None or item.get("fast", fast) == fast


def merge(out: str | os.PathLike, clip_ids: Sequence[str], methods: Sequence[str], **info) -> list[dict]:
    """Read the items of a run and write ``table.csv``, ``summary.md``, ``summary.json`` and plots.

    With task families, everything is per family; ``summary.md`` also gives, per family and metric, the
    paired differences (over the same clips) F-EP - 3D-EP and F-EP - the best other method.
    """
    out = Path(out)
    # A run killed while writing leaves hidden temporary files (atomic_write's); every rank is done
    # when merge runs, so none of them is still being written.
    for stale in [*out.glob(".*.tmp"), *(out / "items").glob(".*.tmp")]:
        stale.unlink(missing_ok=True)
    rows, seconds = _read_items(out, clip_ids, methods)
    _write_table(out, rows)
    families = list(dict.fromkeys(r.get("family", "") for r in rows))
    summary = {
        f: {m: _summary_of([r for r in rows if r["method"] == m and r.get("family", "") == f]) for m in methods}
        for f in families
    }
    for m in methods:
        for family in families:
            summary[family][m]["seconds"] = mean_ci(seconds[(family, m)])
    shown = [k for k in METRICS if any(not math.isnan(summary[f][m][k][0]) for f in families for m in methods)]
    paired = {f: paired_differences([r for r in rows if r.get("family", "") == f], methods, shown) for f in families}
    lines = _summary_markdown(summary, paired, methods, shown, len(set(clip_ids)))
    atomic_write(out / "summary.md", lambda f: f.write(("\n".join(lines) + "\n").encode()))
    flat = summary[families[0]] if families == [""] else summary
    payload = {"info": info, "clips": len(clip_ids), "methods": list(methods), "summary": flat, "paired": paired}
    atomic_write(out / "summary.json", lambda f: f.write((json.dumps(payload, indent=2) + "\n").encode()))
    for family in families:
        suffix = f"_{family}" if family else ""
        metric_plots(out, summary[family], methods, shown, suffix)
        curve_plot(out, [r for r in rows if r.get("family", "") == family], methods, suffix)
    return rows


def _read_items(out: Path, clip_ids: Sequence[str], methods: Sequence[str]) -> tuple[list[dict], dict]:
    rows, seconds = [], {}
    for clip_id in clip_ids:
        for method in methods:
            path = item_path(out, clip_id, method)
            if not item_done(path):
                raise FepFileNotFoundError(f"Item {path.name} is missing; re-run the experiments to finish them.")
            row = json.loads(path.read_text())
            seconds.setdefault((row.get("family", ""), method), []).append(row.pop("seconds"))
            rows.append(row)
    return rows, seconds


def _write_table(out: Path, rows: list[dict]) -> None:
    columns = ["clip", "family", "method", "target", *METRICS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{row[k]:.6f}" if isinstance(row.get(k), float) else row.get(k, "")) for k in columns})
    atomic_write(out / "table.csv", lambda f: f.write(buffer.getvalue().encode()))


def _summary_of(rows: list[dict]) -> dict:
    return {k: mean_ci([r.get(k, math.nan) for r in rows]) for k in METRICS}


def _summary_markdown(summary: dict, paired: dict, methods, shown, clips: int) -> list[str]:
    lines = [
        f"Clips: {clips}; mean ± 95 % interval (1.96·s/√n). Higher is better for pointing, gt_ap, mass_in_gt, "
        "insertion_auc, temporal_consistency, temporal_localisation; lower for deletion_auc, temporal_difference, "
        "spatial_tv, high_freq_*, randomisation_rank_corr (the model-randomisation check: 1 = the method ignores "
        "the model; the paired differences compare |rho|: 0 = unrelated maps, a negative rho is shared structure "
        "too). "
        "Deletion/insertion AUCs are over log-spaced shares from 0.25 % of the voxels.",
    ]
    for family, table in summary.items():
        lines += ["", f"### {family}" if family else "", "", "| method | " + " | ".join(shown) + " | seconds |",
                  "|---" * (len(shown) + 2) + "|"]  # fmt: skip
        for m in methods:
            cells = [f"{table[m][k][0]:.3f} ± {table[m][k][1]:.3f}" for k in shown]
            lines.append(f"| `{m}` | " + " | ".join(cells) + f" | {table[m]['seconds'][0]:.1f} |")
        if paired.get(family):
            lines += ["", "| metric | F-EP − 3D-EP | F-EP − best other (which) |", "|---|---|---|"]
            for key, entry in paired[family].items():
                cells = []
                for label in (label_of(METHOD_EP3D), "best"):
                    if label in entry:
                        (d, ci), better = entry[label]["difference"], entry[label]["better_if"]
                        name = f" ({entry[label]['method']})" if label == "best" else ""
                        cells.append(f"{d:+.3f} ± {ci:.3f}{name} — {verdict((d, ci), better)}")
                    else:
                        cells.append("—")
                lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


def load_summary(folder: str | os.PathLike) -> dict:
    """The ``summary.json`` of a results folder (e.g. the committed ``results/benchmark_v2/toy``)."""
    path = Path(folder) / "summary.json"
    if not path.is_file():
        raise FepFileNotFoundError(f"No summary.json in {folder}; run `fep experiments --out {folder}` first.")
    return json.loads(path.read_text())


def summary_table(summary: dict, family: str, metrics: Sequence[str], methods: Sequence[str] | None = None) -> str:
    """A Markdown table of one family of a :func:`load_summary` result: mean ± 95 % interval per method."""
    table = summary["summary"][family] if family in summary["summary"] else None
    if table is None:
        raise FepValueError(f"No family {family!r} in this summary; it has {', '.join(summary['summary'])}.")
    methods = list(methods or summary["methods"])
    lines = ["| method | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for m in methods:
        cells = [f"{table[m][k][0]:.3f} ± {table[m][k][1]:.3f}" for k in metrics]
        lines.append(f"| {label_of(m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
