"""Figures of explanations: overlays and frame grids, as figures that show themselves in Jupyter.

Every plotting function in :mod:`fep.viz` returns a :class:`NotebookFigure`: a
:class:`matplotlib.figure.Figure` that Jupyter shows as a PNG image when it is a cell's value or passed
to ``display()``, with no ``import matplotlib.pyplot`` and no ``%matplotlib`` magic. In Jupyter it is
built directly (not through ``pyplot``, so nothing is left open in pyplot's registry however often it
is called; a bare ``Figure`` would print as ``<Figure size ...>``); in a script it behaves like pyplot's
own figures: ``fig.show()`` and ``plt.show()`` open it, ``savefig`` writes it (:func:`figure`).
:func:`figure` makes an empty one for your own drawing.
Saliency maps are drawn with one colour scale across all frames of a row, so a brighter frame really is
more salient.

Examples::

    >>> from fep import viz
    >>> fig = viz.frame_grid(clip.frames, {"F-EP": result.saliency[0]}, boxes=truth["boxes"])
    >>> fig.savefig("grid.png")
    >>> viz.save_animation(clip.frames, result.saliency[0], "overlay.gif", fps=8)
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from fep.atomic import atomic_write
from fep.errors import FepValueError

__all__ = [
    "NotebookFigure",
    "figure",
    "figure_png",
    "as_numpy",
    "rgb_frames",
    "OVERLAY_CMAP",
    "OVERLAY_ALPHA",
    "overlay_colormap",
    "overlay_frames",
    "grey_frames",
    "shade_evidence",
    "box",
    "frame_grid",
    "overlay",
]


class NotebookFigure(Figure):
    """A matplotlib figure that shows itself as a PNG in Jupyter (JupyterLab, classic, nbclient).

    It is an ordinary :class:`~matplotlib.figure.Figure` (``savefig``, ``subplots``, ... all work); it
    adds ``_repr_png_``, which IPython calls when the figure is a cell's value or is passed to
    ``display()``. Where pyplot's inline backend is also active, IPython uses that backend's formatter
    instead: still one image, never two.
    """

    def show(self, warn: bool = True) -> None:
        """Show the figure in a window, as ``pyplot`` would: it is handed to pyplot first if it was made
        without it (where the backend cannot open windows, matplotlib warns, as for any figure)."""
        if self.canvas.manager is None:
            import matplotlib.pyplot as plt

            host = plt.figure(figsize=self.get_size_inches(), dpi=self.dpi)
            host.canvas.figure = self  # pyplot's manager now holds this figure: plt.show() shows it too
            self.set_canvas(host.canvas)
        super().show(warn=warn)

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()

    def __repr__(self) -> str:
        width, height = self.get_size_inches() * self.dpi
        return f"<fep figure {width:.0f}x{height:.0f} px with {len(self.axes)} axes: shown as an image in Jupyter>"


def figure(figsize: tuple[float, float] = (6.4, 4.8), **kwargs) -> NotebookFigure:
    """An empty figure that Jupyter displays as an image; draw on it with ``fig.subplots()``.

    In Jupyter, and wherever matplotlib cannot open windows (the Agg backend of a server or a CI run),
    the figure stays outside pyplot's registry, so nothing is left open however often it is called; it
    has a drawing canvas (``fig.canvas.draw()``, ``buffer_rgba()``) and ``fig.show()`` hands it to pyplot.
    In a script with a window backend (TkAgg, QtAgg, macOS) it is made by pyplot, so ``plt.show()``
    shows it with the script's other figures.

    Args:
        figsize: width and height in inches.
        **kwargs: any other keyword of :class:`matplotlib.figure.Figure` (``dpi``, ``layout``, ...).

    Examples::

        >>> fig = viz.figure(figsize=(7, 2.6))
        >>> ax = fig.subplots()
        >>> ax.plot(signal)
        >>> fig                      # the last expression of a cell: shown as a picture
    """
    if _pyplot_shows_windows():
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, FigureClass=NotebookFigure, **kwargs)
    fig = NotebookFigure(figsize=figsize, **kwargs)
    FigureCanvasAgg(fig)  # a canvas that draws, as pyplot's figures have
    return fig


def _pyplot_shows_windows() -> bool:
    """Outside a Jupyter kernel, with a backend that opens windows: where ``plt.show()`` shows figures."""
    if _in_a_kernel():
        return False
    try:
        from matplotlib.backends import BackendFilter, backend_registry

        interactive = backend_registry.list_builtin(BackendFilter.INTERACTIVE)
    except ImportError:  # matplotlib before 3.9
        interactive = [name.lower() for name in matplotlib.rcsetup.interactive_bk]
    return matplotlib.get_backend().lower() in interactive


def _in_a_kernel() -> bool:
    """Running in a Jupyter kernel, where figures are shown as the cell's images, never through pyplot."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def as_numpy(x) -> np.ndarray:
    """A tensor (any device, detached) or array-like as a float32 numpy array."""
    return x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)


def rgb_frames(video) -> np.ndarray:
    """``(3, T, H, W)`` or ``(1, 3, T, H, W)`` frames → ``(T, H, W, 3)`` float in [0, 1] for display
    (a model-normalised clip is stretched back to [0, 1])."""
    v = as_numpy(video)
    if v.ndim == 5:
        v = v[0]
    if v.ndim != 4 or v.shape[0] != 3:
        raise FepValueError(f"Expected RGB frames (3, T, H, W), got shape {v.shape}.")
    lo, hi = v.min(), v.max()
    if lo < 0 or hi > 1:  # normalised model input: stretch back to [0, 1] for display
        v = (v - lo) / max(hi - lo, 1e-8)
    return v.transpose(1, 2, 3, 0)


def _maps(saliency, frames: int) -> np.ndarray:
    s = as_numpy(saliency)
    while s.ndim > 3 and s.shape[0] == 1:
        s = s[0]
    if s.ndim != 3 or s.shape[0] != frames:
        raise FepValueError(f"Expected a map (T, H, W) with T = {frames}, got shape {s.shape}.")
    return s


# The overlay style every picture of a map shares. The map is drawn over the frame in grey, so its colours
# mix with no colour of the clip (the bundled actor is yellow, its distractors cyan, its background
# textured in every hue); the colour map avoids yellow (jet's top is the actor's). A map's value sets both
# its colour and its opacity, and colour bars show that blend (see :func:`overlay_colormap`).
OVERLAY_CMAP = "RdPu"
OVERLAY_ALPHA = 0.6
# The neutral background a colour bar blends the overlay onto: the mid grey of a frame's average.
_BAR_BACKGROUND = 0.5


def overlay_colormap(cmap: str = OVERLAY_CMAP, alpha: float = OVERLAY_ALPHA):
    """The colours a map's values take in :func:`overlay_frames`, over a mid-grey frame: for colour bars.

    An overlay of value ``v`` (scaled to [0, 1]) is drawn with colour ``cmap(v)`` at opacity ``alpha * v``,
    so a bar of the bare colour map would show strong colours for weak values that the frames show faintly.
    """
    from matplotlib.colors import ListedColormap

    v = np.linspace(0, 1, 256)[:, None]
    colours = matplotlib.colormaps[cmap](v[:, 0])[:, :3]
    return ListedColormap((1 - alpha * v) * _BAR_BACKGROUND + alpha * v * colours, name=f"{cmap}_overlay")


def overlay_frames(
    video, saliency, alpha: float = OVERLAY_ALPHA, cmap: str = OVERLAY_CMAP, vmax: float | None = None
) -> np.ndarray:
    """Blend a colour-mapped saliency volume onto the frames, drawn in grey.

    Args:
        video: ``(3, T, H, W)`` frames.
        saliency: ``(T, H, W)``; scaled by ``vmax`` (default: its maximum over all frames).
        alpha: opacity of the map where it is strongest (the map's value scales the opacity).
        cmap: matplotlib colormap name.

    Returns:
        ``(T, H, W, 3)`` uint8 frames.
    """
    grey = grey_frames(video)
    s = _maps(saliency, grey.shape[0])
    scale = float(vmax) if vmax is not None else float(max(s.max(), 1e-8))
    s = np.clip(s / scale, 0, 1)
    colours = matplotlib.colormaps[cmap](s)[..., :3]
    weight = alpha * s[..., None]
    return ((1 - weight) * grey + weight * colours).clip(0, 1).__mul__(255).round().astype(np.uint8)


def grey_frames(video) -> np.ndarray:
    """``(T, H, W, 3)`` frames in grey (Rec. 601 luma), the background an overlay is drawn on."""
    rgb = rgb_frames(video)
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=rgb.dtype)
    return np.repeat(luma[..., None], 3, axis=-1)


def shade_evidence(ax, evidence, alpha: float = 0.15) -> None:
    """Shade the evidence frames (``(T,)`` bool, or None for none) on a plot whose x axis is the frame."""
    if evidence is None:
        return
    for t, on in enumerate(as_numpy(evidence).astype(bool)):
        if on:
            ax.axvspan(t - 0.5, t + 0.5, color="gold", alpha=alpha, linewidth=0)


def box(ax, box, colour: str = "lime") -> None:
    y0, x0, y1, x1 = (float(v) for v in box)
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=1.2))


def frame_grid(
    video,
    rows: Mapping[str, object] | None = None,
    frames: Sequence[int] | None = None,
    boxes=None,
    alpha: float = OVERLAY_ALPHA,
    cmap: str = OVERLAY_CMAP,
    title: str | None = None,
    cell: float = 1.4,
    percentile: float | None = None,
    colorbar: bool = False,
) -> NotebookFigure:
    """A grid: the clip's frames on top, then one row per map overlaid on the same frames.

    Args:
        video: ``(3, T, H, W)`` frames.
        rows: label → map ``(T, H, W)`` (saliency, gradient, a mask per area, ...); each row has one
            colour scale across its frames.
        frames: which frame indices to show (default: all, at most 16 evenly spaced).
        boxes: optional ``(T, 4)`` ground-truth boxes ``(y0, x0, y1, x1)`` drawn on every row.
        alpha, cmap: overlay style.
        title: figure title.
        cell: inches per cell.
        percentile: scale each row to this percentile of its values instead of its maximum (e.g. 99:
            raw gradients have a few huge voxels that would leave everything else invisible).
        colorbar: add one colour bar per row (its scale, shared by the row's frames).

    Returns:
        The figure.
    """
    rgb = rgb_frames(video)
    t_len = rgb.shape[0]
    if frames is None:
        frames = np.linspace(0, t_len - 1, min(t_len, 16)).round().astype(int).tolist()
    rows = dict(rows or {})
    images = [("clip", (rgb * 255).astype(np.uint8))]
    if percentile is not None and not 0 < percentile <= 100:
        raise FepValueError(f"percentile must be in (0, 100], got {percentile}.")
    magnitudes = {label: np.abs(_maps(m, t_len)) for label, m in rows.items()}  # each map read once
    top = {label: np.percentile(a, percentile) if percentile else a.max() for label, a in magnitudes.items()}
    scales = {label: float(max(value, 1e-12)) for label, value in top.items()}
    images += [(label, overlay_frames(video, a, alpha, cmap, scales[label])) for label, a in magnitudes.items()]
    fig = figure(
        figsize=(cell * len(frames) + (1.6 if colorbar else 0.8), cell * len(images) + (0.6 if title else 0.3))
    )
    axes = fig.subplots(len(images), len(frames), squeeze=False)
    _fill_grid(axes, images, frames, boxes)
    if title:
        fig.suptitle(title, fontsize=11)
    right = 1 - 1.0 / fig.get_figwidth() if colorbar else 0.99
    # Room above the frame labels in inches, so a title clears them whatever the number of rows.
    top = 1 - (0.55 if title else 0.25) / fig.get_figheight()
    fig.subplots_adjust(left=0.04, right=right, bottom=0.01, top=top, wspace=0.04, hspace=0.06)
    if colorbar:
        labels = [label for label, _ in images[1:]]
        _row_colour_bars(fig, axes, labels, scales, overlay_colormap(cmap, alpha), percentile)
    return fig


def _fill_grid(axes, images: list, frames: Sequence[int], boxes) -> None:
    """One row of frames per (label, stack), the label on the left, frame numbers on top."""
    for r, (label, stack) in enumerate(images):
        for c, t in enumerate(frames):
            ax = axes[r, c]
            ax.imshow(stack[t], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if boxes is not None:
                box(ax, as_numpy(boxes)[t])
            if r == 0:
                ax.set_title(f"t={t}", fontsize=8)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)


def _row_colour_bars(fig, axes, labels, scales: dict, cmap, percentile: float | None) -> None:
    """One colour bar per map row of :func:`frame_grid` (row 0 is the clip), in the overlay's own colours."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    for r, label in enumerate(labels, start=1):
        bar = fig.colorbar(ScalarMappable(Normalize(0, scales[label]), cmap), ax=list(axes[r]), fraction=0.02, pad=0.01)
        bar.ax.tick_params(labelsize=6)
        if percentile:
            bar.set_label(f"≥ p{percentile:g}", fontsize=6)


def overlay(
    video, saliency, frame: int, alpha: float = OVERLAY_ALPHA, cmap: str = OVERLAY_CMAP, boxes=None, ax=None
) -> NotebookFigure:
    """Draw one frame with its overlay into ``ax`` (or a new figure); returns the figure."""
    image = overlay_frames(video, saliency, alpha, cmap)[frame]
    fig = None
    if ax is None:
        fig = figure(figsize=(3, 3))
        ax = fig.subplots()
    ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    if boxes is not None:
        box(ax, as_numpy(boxes)[frame])
    return fig if fig is not None else ax.figure


def figure_png(fig: Figure, path: str | os.PathLike | None = None, dpi: int = 100) -> bytes:
    """PNG bytes of a figure; also written atomically to ``path`` when given."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    data = buffer.getvalue()
    if path is not None:
        atomic_write(path, lambda f: f.write(data))
    return data
