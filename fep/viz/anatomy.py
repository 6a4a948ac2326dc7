"""Pictures of what F-EP's low-pass does to one step: the mask gradient G next to its low-passed Ĝ, and
the paths of the plain and the low-passed optimiser on the two-voxel toy (:mod:`fep.ep.anatomy`)."""

from __future__ import annotations

import numpy as np
import torch

from fep.ep.anatomy import two_voxel_energy
from fep.ep.dct import dct
from fep.viz.figures import NotebookFigure, figure

__all__ = ["plot_gradient_pair", "plot_two_voxel_paths"]


def _temporal_energy(volume: torch.Tensor) -> np.ndarray:
    """DCT energy per temporal frequency of a ``(T, h, w)`` volume, summed over space, as a share of the total."""
    energy = (dct(volume.double(), dims=0) ** 2).sum(dim=(1, 2))
    return (energy / energy.sum().clamp_min(1e-30)).numpy()


def plot_gradient_pair(snapshot, frame: int | None = None, row: int | None = None, area: int = 0) -> NotebookFigure:
    r"""G and Ĝ of one :class:`~fep.ep.anatomy.GradientSnapshot`: one frame, a time × x slice and the temporal spectrum.

    Args:
        snapshot: from :func:`fep.ep.anatomy.gradient_snapshot`.
        frame: the frame shown in space (default: the middle one).
        row: the grid row of the time × x slice (default: the row where :math:`|G|` is largest).
        area: which of the snapshot's areas.

    Returns:
        A figure: top row G, bottom row Ĝ (same colour scale, red pushes the mask down, blue up);
        right column, the share of each temporal frequency's energy, and the filter H as a step size.
    """
    g, g_hat = snapshot.gradient[area].double(), snapshot.lowpassed[area].double()
    t_len = g.shape[0]
    frame = t_len // 2 if frame is None else frame
    row = int(g.abs().sum(dim=(0, 2)).argmax()) if row is None else row
    limit = float(max(g.abs().max(), g_hat.abs().max()))
    fig = figure(figsize=(10.5, 5.6), layout="constrained")
    axes = fig.subplots(2, 3, gridspec_kw={"width_ratios": [1, 1, 1.35]})
    for r, (name, volume) in enumerate((("G  (what 3D-EP steps along)", g), ("Ĝ  (what F-EP steps along)", g_hat))):
        ax_s, ax_t = axes[r, 0], axes[r, 1]
        image = ax_s.imshow(volume[frame].numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax_s.axhline(row, color="k", lw=0.8, ls=":")
        ax_s.set_title(f"{name}\nframe t = {frame} (grid y × x)", fontsize=9)
        ax_t.imshow(volume[:, row].numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        ax_t.axhline(frame, color="k", lw=0.8, ls=":")
        ax_t.set_title(f"grid row y = {row}: time × x", fontsize=9)
        ax_t.set_ylabel("frame t", fontsize=8)
        for ax in (ax_s, ax_t):
            ax.tick_params(labelsize=7)
    fig.colorbar(image, ax=axes[:, :2].ravel().tolist(), shrink=0.8, label="gradient value")
    nu_t = np.arange(t_len) / t_len
    ax_spec = axes[0, 2]
    ax_spec.semilogy(nu_t, _temporal_energy(g) + 1e-12, marker="o", ms=3, label="G")
    ax_spec.semilogy(nu_t, _temporal_energy(g_hat) + 1e-12, marker="s", ms=3, label="Ĝ")
    ax_spec.set_title("share of energy per temporal frequency", fontsize=9)
    ax_spec.legend(fontsize=8)
    ax_h = axes[1, 2]
    if snapshot.response is not None:
        ax_h.plot(nu_t, snapshot.response[:, 0, 0].numpy(), marker="o", ms=3, color="tab:green")
    else:
        ax_h.plot(nu_t, np.ones(t_len), marker="o", ms=3, color="tab:green")
    ax_h.set_ylim(0, 1.05)
    ax_h.set_title("H: the step size per temporal frequency", fontsize=9)
    for ax in (ax_spec, ax_h):
        ax.set_xlabel("temporal frequency ν_t = k_t / T", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    return fig


def plot_two_voxel_paths(paths: dict, title: str | None = None) -> NotebookFigure:
    """The two optimisers' paths on the contours of the two-voxel energy (:func:`fep.ep.anatomy.two_voxel_paths`)."""
    grid = torch.linspace(0, 1, 101, dtype=torch.float64)
    m0, m1 = torch.meshgrid(grid, grid, indexing="xy")
    energy = two_voxel_energy(torch.stack([m0, m1], -1)).numpy()
    fig = figure(figsize=(5.2, 4.6))
    ax = fig.subplots()
    contours = ax.contour(m0.numpy(), m1.numpy(), energy, levels=14, cmap="Greys", linewidths=0.8)
    ax.clabel(contours, fontsize=6, fmt="%.2f")
    for key, colour, label in (
        ("plain", "tab:blue", "plain step (3D-EP)"),
        ("lowpassed", "tab:orange", "low-passed step (F-EP)"),
    ):
        p = paths[key].numpy()
        ax.plot(
            p[:, 0],
            p[:, 1],
            marker="o",
            ms=2.5,
            color=colour,
            label=f"{label}: ends at ({p[-1, 0]:.2f}, {p[-1, 1]:.2f})",
        )
    ax.plot([1.0], [0.2], marker="*", ms=14, color="crimson", ls="none", label="minimum (1, 0.2)")
    ax.plot(*paths["plain"][0].numpy(), marker="s", ms=8, color="k", ls="none", label="start: a mask of 1")
    ax.plot([0, 1], [0, 1], color="tab:green", lw=0.8, ls="--", label="m₀ = m₁ (no change between frames)")
    ax.set_xlabel("m₀ (frame 0)")
    ax.set_ylabel("m₁ (frame 1)")
    ax.set_xlim(-0.02, 1.05)
    ax.set_ylim(-0.02, 1.05)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower left")
    if title:
        ax.set_title(title, fontsize=10)
    return fig
