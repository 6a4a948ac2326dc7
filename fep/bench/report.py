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
from fep.bench.plots import cascade_plot, curve_plot, metric_plots
from fep.bench.stats import mean_ci, paired_differences
from fep.errors import FepFileNotFoundError, FepValueError

__all__ = ["METRICS", "merge", "load_summary", "summary_table", "item_path", "item_done"]

METRICS = (
    # plausibility: agreement with the task's ground truth
    "pointing_frame", "pointing_clip", "gt_ap", "mass_in_gt", "temporal_localisation",
    # faithfulness: what the model says (probability as in the literature; the normalised margin does not saturate)
    "deletion_auc", "insertion_auc", "deletion_margin_auc", "insertion_margin_auc", "game_keep", "game_remove",
    "game_tied", "margin_gap",
    # smoothness, and its distance to the ground truth's own
    "temporal_difference", "temporal_consistency", "spatial_tv", "high_freq_temporal", "high_freq_spatial",
    "td_error", "tv_error", "gt_temporal_difference", "gt_spatial_tv",
    # the cascading model-randomisation check: |rho| with the top layer, half and all layers re-initialised
    "randomisation_top", "randomisation_half", "randomisation_all", "randomisation_rank_corr",
)  # fmt: skip


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
    best = info.get("best_other") or {}
    paired = {
        f: paired_differences([r for r in rows if r.get("family", "") == f], methods, shown, best_other=best.get(f))
        for f in families
    }
    lines = _summary_markdown(summary, paired, methods, shown, len(set(clip_ids)), info)
    atomic_write(out / "summary.md", lambda f: f.write(("\n".join(lines) + "\n").encode()))
    flat = summary[families[0]] if families == [""] else summary
    payload = {"info": info, "clips": len(clip_ids), "methods": list(methods), "summary": flat, "paired": paired}
    atomic_write(out / "summary.json", lambda f: f.write((json.dumps(payload, indent=2) + "\n").encode()))
    for family in families:
        suffix = f"_{family}" if family else ""
        family_rows = [r for r in rows if r.get("family", "") == family]
        metric_plots(out, summary[family], methods, shown, suffix)
        curve_plot(out, family_rows, methods, suffix)
        cascade_plot(out, family_rows, methods, suffix)
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


def _cell(value: Sequence, clips: int) -> str:
    """``mean ± ci``, with n when not every clip was scored."""
    mean, ci, *n = value
    text = f"{mean:.3f} ± {ci:.3f}" if ci == ci else f"{mean:.3f}"
    return text + (f" (n={n[0]})" if n and n[0] != clips else "")


def _starts(init) -> str:
    """``{"fep": "saliency", "ep3d": 1.0}`` → ``"fep saliency, ep3d 1.0"`` (one value: as it is)."""
    if not isinstance(init, dict):
        return str(init)
    return ", ".join(f"{spec} {value}" for spec, value in init.items())


def _ep_clause(info: dict) -> str:
    """What the EP methods ran with, or nothing when the run had none."""
    if info.get("defaults") is None:
        return ""
    return (
        f"; EP methods at the {info['defaults']} defaults: iterations {info.get('ep_iterations')!r}, start "
        f"{_starts(info.get('ep_init'))}, areas {info.get('ep_areas')} combined by {info.get('ep_saliency')!r}"
    )


def _configuration_lines(info: dict, clips: int) -> list[str]:
    seeds = info.get("seeds")
    randomisation = info.get("randomisation")
    lines = [
        f"Model `{info.get('model_name')}`; {clips} clips"
        + (f" of the {info['split']} split, seeds {seeds[0]}–{seeds[1]}" if info.get("split") and seeds else "")
        + _ep_clause(info)
        + f"; {info.get('deletion_steps')} deletion/insertion steps; matched-area game at "
        f"{info.get('game_areas')} of the voxels; margin scores left out where the gap is below "
        f"{info.get('min_margin_gap')} logit.",
    ]
    if randomisation:
        lines.append(
            f"Randomisation check: cascading over {randomisation['layers']} parameter layers, depths "
            f"{randomisation['depths']}, {randomisation['inits']} initialisations each, on {randomisation['clips']} "
            "clips; |rho| per depth (0 = unrelated maps; 1 = the method ignores the model)."
        )
    if info.get("best_other_from"):
        lines.append(f"The best other method per metric was chosen on the tuning run `{info['best_other_from']}`.")
    return lines


def _summary_markdown(summary: dict, paired: dict, methods, shown, clips: int, info: dict) -> list[str]:
    lines = _configuration_lines(info, clips) + [
        "",
        "Mean ± 95 % t interval over clips, (n=…) where not every clip was scored. Higher is better for "
        "pointing, gt_ap, mass_in_gt, temporal_localisation (clips with an evidence window only), insertion_*, "
        "game_keep, temporal_consistency; lower for deletion_*, game_remove, temporal_difference, spatial_tv, "
        "high_freq_*, td_error/tv_error (distance to the ground truth's own TD/TV) and randomisation_*. "
        "*_margin_* and game_* are on the normalised logit margin (whole clip 1, fully perturbed clip 0); "
        "game_tied is the share of the kept voxels chosen among ties. Paired comparisons: t intervals, "
        "p-values of the paired t test, Holm-corrected over every comparison of the family's table; a "
        "verdict needs p_holm < 0.05.",
    ]
    for family, table in summary.items():
        lines += ["", f"### {family}" if family else "", "", "| method | " + " | ".join(shown) + " | seconds |",
                  "|---" * (len(shown) + 2) + "|"]  # fmt: skip
        for m in methods:
            cells = [_cell(table[m][k], clips) for k in shown]
            lines.append(f"| `{m}` | " + " | ".join(cells) + f" | {table[m]['seconds'][0]:.1f} |")
        lines += _paired_lines(paired.get(family) or {})
    return lines


def _paired_lines(paired: dict) -> list[str]:
    if not paired:
        return []
    lines = ["", "| metric | compared with | F-EP − other | n | p | p (Holm) | verdict |", "|---" * 7 + "|"]
    for key, entries in paired.items():
        for label, entry in entries.items():
            d, ci, n = entry["difference"]
            other = entry["method"] if label == "best" else label
            lines.append(
                f"| {key} | {other}{' (best on tuning)' if label == 'best' else ''} | {d:+.3f} ± {ci:.3f} | {n} | "
                f"{entry['p']:.3g} | {entry['p_holm']:.3g} | {entry['verdict']} |"
            )
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
        cells = [_cell(table[m][k], -1) if k in table[m] else "—" for k in metrics]
        lines.append(f"| {label_of(m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
