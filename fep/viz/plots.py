"""Line plots: DCT spectra, the optimisation's history, per-frame profiles and changes, metric curves."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from fep.bench.map_metrics import auc, spectrum_profile
from fep.bench.methods import label_of
from fep.errors import FepValueError
from fep.viz.figures import NotebookFigure, as_numpy, figure, shade_evidence

__all__ = ["plot_spectrum", "plot_history", "plot_temporal_profile", "plot_frame_changes", "plot_curves"]


def plot_spectrum(
    volume, temporal_cutoff: float | None = None, spatial_cutoff: float | None = None, title=None
) -> NotebookFigure:
    """Energy of a volume's DCT along temporal and spatial frequency, log scale, cutoffs drawn."""
    temporal, spatial, nu_s = spectrum_profile(volume)
    nu_t = np.arange(len(temporal)) / len(temporal)
    fig = figure(figsize=(7.5, 2.8))
    ax_t, ax_s = fig.subplots(1, 2)
    ax_t.semilogy(nu_t, temporal + 1e-12, marker="o", ms=3)
    ax_t.set_xlabel("temporal frequency  ν_t = k_t / T")
    ax_t.set_ylabel("DCT energy")
    ax_s.semilogy(nu_s, spatial + 1e-12, marker="o", ms=3, color="tab:orange")
    ax_s.set_xlabel("spatial frequency  ν_s = √(k_y²+k_x²) / √(h²+w²)")
    for ax, cutoff in ((ax_t, temporal_cutoff), (ax_s, spatial_cutoff)):
        if cutoff is not None:
            ax.axvline(cutoff, color="crimson", linestyle="--", label=f"cutoff {cutoff:g}")
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_history(explanation, clip: int = 0) -> NotebookFigure:
    """Reward, area loss and energy per iteration of an :class:`~fep.ep.explanation.Explanation`, one line per area."""
    history = explanation.history
    keys = [k for k in ("reward", "area_loss", "core_loss", "energy") if k in history]
    if explanation.settings.get("core_weight", 0) == 0 and "core_loss" in keys:
        keys.remove("core_loss")
    fig = figure(figsize=(3.2 * len(keys), 2.6))
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys, strict=True):
        values = np.asarray(history[key])[:, clip]
        for a, area in enumerate(explanation.areas):
            ax.plot(values[:, a], label=f"area {area:g}")
        ax.set_title(key.replace("_", " "), fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{label_of(explanation.method)}: optimisation history", fontsize=10)
    fig.tight_layout()
    return fig


def _finish_frame_plot(fig: NotebookFigure, ax, xlabel: str, ylabel: str, title: str | None) -> NotebookFigure:
    """Labels, legend, grid and title of a per-frame line plot."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside, never on, the lines
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_temporal_profile(maps: Mapping[str, object], evidence=None, title: str | None = None) -> NotebookFigure:
    """Share of each map's mass per frame, with the evidence frames shaded: where in *time* a method looks.

    Args:
        maps: label → ``(T, H, W)`` saliency (absolute values are used).
        evidence: optional ``(T,)`` bool, frames that carry the class evidence.
    """
    fig = figure(figsize=(7, 2.8))
    ax = fig.subplots()
    length = None
    for label, m in maps.items():
        mass = np.abs(as_numpy(m)).sum(axis=(1, 2))
        length = len(mass)
        ax.plot(mass / max(mass.sum(), 1e-12), marker="o", ms=3, label=label)
    if length:
        shade_evidence(ax, evidence)
    return _finish_frame_plot(fig, ax, "frame (shaded: evidence frames)", "share of saliency", title)


def plot_frame_changes(maps: Mapping[str, object], evidence=None, title: str | None = None) -> NotebookFigure:
    """How much each map changes from one frame to the next (:func:`fep.bench.map_metrics.frame_changes`): flicker.

    Args:
        maps: label → ``(T, H, W)`` saliency (absolute values are used).
        evidence: optional ``(T,)`` bool, shaded.
    """
    from fep.bench.map_metrics import frame_changes

    fig = figure(figsize=(7, 2.8))
    ax = fig.subplots()
    for label, m in maps.items():
        changes = frame_changes(torch.as_tensor(np.abs(as_numpy(m)), dtype=torch.float64)).numpy()
        ax.plot(np.arange(len(changes)) + 0.5, changes, marker="o", ms=3, label=f"{label} (mean {changes.mean():.3f})")
    shade_evidence(ax, evidence)
    ax.set_ylim(0, 1)
    return _finish_frame_plot(fig, ax, "between frame t and t+1", "normalised L1 change", title)


def plot_curves(
    curves: Mapping[str, object], title: str = "", xlabel: str = "", ylabel: str = "", margin: bool = False
) -> NotebookFigure:
    """Several curves, one line each, AUC in the legend.

    Args:
        curves: label → either a sequence of values sampled evenly on [0, 1], or the dict that
            :func:`fep.bench.faithfulness.deletion_insertion` returns (``fractions``, ``scores``, ``auc``): then the
            x axis is the share of voxels in %, on a log scale for the log-spaced schedule, and the
            legend gives that function's AUC.
        margin: for those dicts, draw the normalised margin (``margins``, ``margin_auc``) instead of the
            probability: it still moves where a confident model's probability is stuck at 1.
    """
    fig = figure(figsize=(5, 3.2))
    ax = fig.subplots()
    log_scale = False
    for label, values in curves.items():
        if isinstance(values, Mapping):
            x = 100 * np.asarray(values["fractions"], dtype=float)
            if margin and values.get("margins") is None:
                raise FepValueError(f"{label}: no normalised margin (the margin gap is too small); use margin=False.")
            y = np.asarray(values["margins" if margin else "scores"], dtype=float)
            area = float(values["margin_auc" if margin else "auc"])
            log_scale = len(x) > 3 and x[-1] - x[-2] > 1.5 * (x[2] - x[1])  # steps that grow: log-spaced
            if log_scale:
                x, y = x[1:], y[1:]  # the intact clip (0 %) has no place on a log axis
        else:
            y = np.asarray(values, dtype=float)
            x, area = np.linspace(0, 1, len(y)), auc(y)
        ax.plot(x, y, marker="o", ms=2.5, label=f"{label} (AUC {area:.3f})")
    if log_scale:
        ax.set_xscale("log")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
