"""The plots of a run: metrics per method, the smoothness/plausibility trade-off, deletion and insertion curves."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure

from fep.atomic import atomic_write
from fep.bench.methods import label_of

__all__ = ["metric_plots", "curve_plot"]


def _save_png(fig: Figure, path: Path) -> None:
    """Written whole or not at all. (The benchmark draws on plain matplotlib figures: it sits below fep.viz.)"""
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))


def metric_plots(out: Path, summary: dict, methods: Sequence[str], shown: Sequence[str], suffix: str = "") -> None:
    cols = 4
    rows_n = math.ceil(len(shown) / cols)
    fig = Figure(figsize=(4 * cols, 2.8 * rows_n))
    axes = fig.subplots(rows_n, cols, squeeze=False).ravel()
    for ax, key in zip(axes, shown, strict=False):
        means = [summary[m][key][0] for m in methods]
        errs = [0 if math.isnan(summary[m][key][1]) else summary[m][key][1] for m in methods]
        ax.bar(range(len(methods)), means, yerr=errs, color="tab:blue", alpha=0.8)
        ax.set_xticks(range(len(methods)), [label_of(m).replace(" [", "\n[") for m in methods], rotation=90, fontsize=6)
        ax.set_title(key, fontsize=9)
    for ax in axes[len(shown) :]:
        ax.set_axis_off()
    fig.tight_layout()
    _save_png(fig, out / f"metrics{suffix}.png")
    if "pointing_frame" in shown:
        fig = Figure(figsize=(7.5, 4.2))
        ax = fig.subplots()
        markers = "osD^vP*Xhp<>"
        for i, m in enumerate(methods):  # a legend, not labels at the points: those overlap where methods tie
            x, y = summary[m]["temporal_difference"][0], summary[m]["pointing_frame"][0]
            ax.scatter(x, y, s=40, marker=markers[i % len(markers)], label=label_of(m), alpha=0.85)
        ax.set_xlabel("temporal difference (lower = smoother in time)")
        ax.set_ylabel("pointing game per frame\n(plausibility: agreement with ground truth)")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        _save_png(fig, out / f"pareto{suffix}.png")


def curve_plot(out: Path, rows: list[dict], methods: Sequence[str], suffix: str = "") -> None:
    """Mean deletion and insertion curves per method (log-spaced shares)."""
    from fep.bench.faithfulness import removal_fractions

    if not rows or "deletion_curve" not in rows[0]:
        return
    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 2)
    for ax, mode in zip(axes, ("deletion", "insertion"), strict=True):
        for m in methods:
            curves = torch.tensor([r[f"{mode}_curve"] for r in rows if r["method"] == m], dtype=torch.float64)
            if len(curves):
                x = removal_fractions(curves.shape[1] - 1)[1:]
                ax.plot([100 * v for v in x], curves.mean(0)[1:].tolist(), marker="o", ms=2, label=label_of(m))
        ax.set_xscale("log")
        ax.set_xlabel(f"voxels {'removed' if mode == 'deletion' else 'revealed'} (%, log scale)")
        ax.set_ylabel("p(target)")
        ax.set_title(f"{mode} (mean over clips)", fontsize=9)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    _save_png(fig, out / f"curves{suffix}.png")


def cascade_plot(out: Path, rows: list[dict], methods: Sequence[str], suffix: str = "") -> None:
    """|rho| against how many of the top parameter layers were re-initialised, one line per method
    (mean over clips and initialisations): a method that explains the model falls towards 0."""
    checked = [r for r in rows if r.get("randomisation_cascade")]
    if not checked:
        return
    fig = Figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    markers = "osD^vP*Xhp<>"
    for i, m in enumerate(methods):
        cascades = [r["randomisation_cascade"] for r in checked if r["method"] == m]
        if not cascades:
            continue
        depths = [depth for depth, _ in cascades[0]]
        means = [
            sum(abs(rho) for c in cascades for rho in c[k][1]) / sum(len(c[k][1]) for c in cascades)
            for k in range(len(depths))
        ]
        ax.plot(depths, means, marker=markers[i % len(markers)], label=label_of(m))
    ax.set_xlabel(f"top parameter layers re-initialised (of {checked[0].get('randomisation_layers', '?')})")
    ax.set_ylabel("|ρ| with the trained model's map")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    _save_png(fig, out / f"randomisation{suffix}.png")
