"""Pictures of explanations: overlays, frame grids, animations, DCT spectra and optimisation history.

Every plotting function returns a :class:`NotebookFigure`: a :class:`matplotlib.figure.Figure`
built directly (not through ``pyplot``, so nothing is left open in pyplot's registry however often it
is called) that Jupyter shows as a PNG image when it is a cell's value or passed to ``display()``, with
no ``import matplotlib.pyplot`` and no ``%matplotlib`` magic. (A bare ``Figure`` would print as
``<Figure size ...>``: IPython's inline backend registers its PNG formatter only when pyplot is
imported.) :func:`figure` makes an empty one for your own drawing. Saliency maps are drawn with one
colour scale across all frames of a row, so a brighter frame really is more salient.

Examples::

    >>> from fep import viz
    >>> fig = viz.frame_grid(clip.frames, {"F-EP": result.saliency[0]}, boxes=truth["boxes"])
    >>> fig.savefig("grid.png")
    >>> viz.save_animation(clip.frames, result.saliency[0], "overlay.gif", fps=8)
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from fep.atomic import atomic_write
from fep.errors import FepValueError
from fep.methods import label_of
from fep.metrics import auc, spectrum_profile

__all__ = [
    "NotebookFigure",
    "figure",
    "overlay_frames",
    "frame_grid",
    "overlay",
    "save_animation",
    "animation_html",
    "as_numpy",
    "rgb_frames",
    "plot_spectrum",
    "plot_history",
    "figure_png",
]


class NotebookFigure(Figure):
    """A matplotlib figure that shows itself as a PNG in Jupyter (JupyterLab, classic, nbclient).

    It is an ordinary :class:`~matplotlib.figure.Figure` (``savefig``, ``subplots``, ... all work); it
    adds ``_repr_png_``, which IPython calls when the figure is a cell's value or is passed to
    ``display()``. Where pyplot's inline backend is also active, IPython uses that backend's formatter
    instead: still one image, never two.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()

    def __repr__(self) -> str:
        width, height = self.get_size_inches() * self.dpi
        return f"<fep figure {width:.0f}x{height:.0f} px with {len(self.axes)} axes: shown as an image in Jupyter>"


def figure(figsize: tuple[float, float] = (6.4, 4.8), **kwargs) -> NotebookFigure:
    """An empty figure that Jupyter displays as an image; draw on it with ``fig.subplots()``.

    Args:
        figsize: width and height in inches.
        **kwargs: any other keyword of :class:`matplotlib.figure.Figure` (``dpi``, ``layout``, ...).

    Examples::

        >>> fig = viz.figure(figsize=(7, 2.6))
        >>> ax = fig.subplots()
        >>> ax.plot(signal)
        >>> fig                      # the last expression of a cell: shown as a picture
    """
    return NotebookFigure(figsize=figsize, **kwargs)


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


def overlay_frames(video, saliency, alpha: float = 0.5, cmap: str = "jet", vmax: float | None = None) -> np.ndarray:
    """Blend a colour-mapped saliency volume onto the frames.

    Args:
        video: ``(3, T, H, W)`` frames.
        saliency: ``(T, H, W)``; scaled by ``vmax`` (default: its maximum over all frames).
        alpha: opacity of the map where it is strongest (the map's value scales the opacity).
        cmap: matplotlib colormap name.

    Returns:
        ``(T, H, W, 3)`` uint8 frames.
    """
    rgb = rgb_frames(video)
    s = _maps(saliency, rgb.shape[0])
    scale = float(vmax) if vmax is not None else float(max(s.max(), 1e-8))
    s = np.clip(s / scale, 0, 1)
    colours = matplotlib.colormaps[cmap](s)[..., :3]
    weight = alpha * s[..., None]
    return ((1 - weight) * rgb + weight * colours).clip(0, 1).__mul__(255).round().astype(np.uint8)


def shade_evidence(ax, evidence, alpha: float = 0.15) -> None:
    """Shade the evidence frames (``(T,)`` bool, or None for none) on a plot whose x axis is the frame."""
    if evidence is None:
        return
    for t, on in enumerate(as_numpy(evidence).astype(bool)):
        if on:
            ax.axvspan(t - 0.5, t + 0.5, color="gold", alpha=alpha, linewidth=0)


def _box(ax, box, colour: str = "lime") -> None:
    y0, x0, y1, x1 = (float(v) for v in box)
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=1.2))


def frame_grid(
    video,
    rows: Mapping[str, object] | None = None,
    frames: Sequence[int] | None = None,
    boxes=None,
    alpha: float = 0.55,
    cmap: str = "jet",
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
    fig = NotebookFigure(
        figsize=(cell * len(frames) + (1.6 if colorbar else 0.8), cell * len(images) + (0.4 if title else 0.1))
    )
    axes = fig.subplots(len(images), len(frames), squeeze=False)
    for r, (label, stack) in enumerate(images):
        for c, t in enumerate(frames):
            ax = axes[r, c]
            ax.imshow(stack[t], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if boxes is not None:
                _box(ax, as_numpy(boxes)[t])
            if r == 0:
                ax.set_title(f"t={t}", fontsize=8)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    right = 1 - 1.0 / fig.get_figwidth() if colorbar else 0.99
    fig.subplots_adjust(left=0.04, right=right, bottom=0.01, top=0.9 if title else 0.95, wspace=0.04, hspace=0.06)
    if colorbar:
        _row_colour_bars(fig, axes, [label for label, _ in images[1:]], scales, cmap, percentile)
    return fig


def _row_colour_bars(fig, axes, labels, scales: dict, cmap: str, percentile: float | None) -> None:
    """One colour bar per map row of :func:`frame_grid` (row 0 is the clip)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    for r, label in enumerate(labels, start=1):
        bar = fig.colorbar(ScalarMappable(Normalize(0, scales[label]), cmap), ax=list(axes[r]), fraction=0.02, pad=0.01)
        bar.ax.tick_params(labelsize=6)
        if percentile:
            bar.set_label(f"≥ p{percentile:g}", fontsize=6)


def overlay(video, saliency, frame: int, alpha: float = 0.55, cmap: str = "jet", boxes=None, ax=None) -> NotebookFigure:
    """Draw one frame with its overlay into ``ax`` (or a new figure); returns the figure."""
    image = overlay_frames(video, saliency, alpha, cmap)[frame]
    fig = None
    if ax is None:
        fig = NotebookFigure(figsize=(3, 3))
        ax = fig.subplots()
    ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    if boxes is not None:
        _box(ax, as_numpy(boxes)[frame])
    return fig if fig is not None else ax.figure


def save_animation(
    video, saliency, path: str | os.PathLike, fps: float = 8.0, alpha: float = 0.55, cmap: str = "jet", scale: int = 2
) -> Path:
    """Write the overlay as an animated GIF (``.gif``) or H.264 video (``.mp4``), atomically.

    Args:
        video, saliency, alpha, cmap: as in :func:`overlay_frames`.
        path: destination; the suffix picks the format.
        fps: frames per second.
        scale: integer upscaling (nearest) so small clips are visible.

    Returns:
        The path written. The file has exactly T frames.
    """
    from PIL import Image

    frames = overlay_frames(video, saliency, alpha, cmap)
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        from fep.video import write_video

        return write_video(path, frames, fps)
    if suffix != ".gif":
        raise FepValueError(f"Unknown animation format {path.suffix!r}; use a .gif or .mp4 path.")
    images = [Image.fromarray(f) for f in frames]

    def write(f) -> None:
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)

    return atomic_write(path, write)


def _draw_boxes(frames: np.ndarray, boxes, scale: int, colour=(0, 255, 0)) -> np.ndarray:
    """Draw each frame's ``(y0, x0, y1, x1)`` box (in unscaled pixels) as a 1-pixel outline, in place."""
    for frame, (y0, x0, y1, x1) in zip(frames, as_numpy(boxes), strict=True):
        height, width = frame.shape[:2]
        top, left = int(np.clip(round(y0 * scale), 0, height - 1)), int(np.clip(round(x0 * scale), 0, width - 1))
        bottom = int(np.clip(round(y1 * scale) - 1, 0, height - 1))
        right = int(np.clip(round(x1 * scale) - 1, 0, width - 1))
        frame[top, left : right + 1] = frame[bottom, left : right + 1] = colour
        frame[top : bottom + 1, left] = frame[top : bottom + 1, right] = colour
    return frames


_PLAYER = """<div class="fep-animation" id="{id}" style="display:inline-block;font-family:sans-serif;font-size:12px">
<img src="{first}" alt="saliency overlay, frame 0" style="width:{width}px;height:{height}px;image-rendering:pixelated">
<div style="display:flex;align-items:center;gap:4px;margin-top:4px">
<button data-do="first" title="first frame">|&#9664;</button>
<button data-do="back" title="one frame back">&#9664;</button>
<button data-do="play" title="play / pause" style="min-width:5em">&#10074;&#10074; pause</button>
<button data-do="next" title="one frame on">&#9654;</button>
<button data-do="last" title="last frame">&#9654;|</button>
<input type="range" min="0" max="{last}" value="0" style="flex:1">
<span style="min-width:4.5em">t = 0</span>
</div>
<script>
(function () {{
  var root = document.getElementById("{id}");
  var image = root.querySelector("img");
  var frames = [image.getAttribute("src")].concat({frames});  // frame 0 is the image's own source
  var slider = root.querySelector("input"), label = root.querySelector("span");
  var play = root.querySelector("[data-do=play]"), t = 0, timer = null;
  function show(i) {{
    t = (i + frames.length) % frames.length;
    image.src = frames[t]; slider.value = t; label.textContent = "t = " + t;
    image.alt = "saliency overlay, frame " + t;
  }}
  function stop() {{ clearInterval(timer); timer = null; play.innerHTML = "&#9654; play"; }}
  function start() {{
    timer = setInterval(function () {{ show(t + 1); }}, {interval});
    play.innerHTML = "&#10074;&#10074; pause";
  }}
  root.querySelectorAll("button").forEach(function (button) {{
    button.addEventListener("click", function () {{
      var what = button.getAttribute("data-do");
      if (what === "play") {{ timer ? stop() : start(); return; }}
      stop();
      show({{first: 0, back: t - 1, next: t + 1, last: frames.length - 1}}[what]);
    }});
  }});
  slider.addEventListener("input", function () {{ stop(); show(parseInt(slider.value, 10)); }});
  start();
}})();
</script>
</div>"""


def animation_html(
    video, saliency, fps: float = 8.0, alpha: float = 0.55, cmap: str = "jet", boxes=None, scale: int = 2
) -> str:
    """A self-contained HTML player of the overlay for notebooks: ``IPython.display.HTML(...)``.

    The frames are PNG data URIs and the controls (first, back, play/pause, on, last, a frame slider)
    are plain buttons with text symbols, so it works offline: it references no network resource (no
    icon font, no CDN). Where JavaScript does not run (an untrusted notebook, a static preview), the
    first frame is shown.

    Args:
        video, saliency, alpha, cmap: as in :func:`overlay_frames`.
        fps: playing speed.
        boxes: optional ``(T, 4)`` ground-truth boxes ``(y0, x0, y1, x1)``, drawn in green.
        scale: integer upscaling (nearest) so small clips are visible.

    Returns:
        The HTML text.
    """
    import base64
    import uuid

    from PIL import Image

    frames = overlay_frames(video, saliency, alpha, cmap)
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    frames = np.ascontiguousarray(frames)
    if boxes is not None:
        _draw_boxes(frames, boxes, scale)
    uris = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="PNG")
        uris.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
    return _PLAYER.format(
        id=f"fep-animation-{uuid.uuid4().hex[:12]}",
        first=uris[0],
        frames="[" + ",".join(f'"{u}"' for u in uris[1:]) + "]",
        width=frames.shape[2],
        height=frames.shape[1],
        last=len(uris) - 1,
        interval=max(1, round(1000 / fps)),
    )


def plot_spectrum(
    volume, temporal_cutoff: float | None = None, spatial_cutoff: float | None = None, title=None
) -> NotebookFigure:
    """Energy of a volume's DCT along temporal and spatial frequency, log scale, cutoffs drawn."""
    temporal, spatial, nu_s = spectrum_profile(volume)
    nu_t = np.arange(len(temporal)) / len(temporal)
    fig = NotebookFigure(figsize=(7.5, 2.8))
    ax_t, ax_s = fig.subplots(1, 2)
    ax_t.semilogy(nu_t, temporal + 1e-12, marker="o", ms=3)
    ax_t.set_xlabel("temporal frequency  k_t / T")
    ax_t.set_ylabel("DCT energy")
    ax_s.semilogy(nu_s, spatial + 1e-12, marker="o", ms=3, color="tab:orange")
    ax_s.set_xlabel("spatial frequency  |k| / sqrt(H²+W²)")
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
    """Reward, area loss and energy per iteration of an :class:`~fep.explanation.Explanation`, one line per area."""
    history = explanation.history
    keys = [k for k in ("reward", "area_loss", "core_loss", "energy") if k in history]
    if explanation.settings.get("core_weight", 0) == 0 and "core_loss" in keys:
        keys.remove("core_loss")
    fig = NotebookFigure(figsize=(3.2 * len(keys), 2.6))
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


def figure_png(fig: Figure, path: str | os.PathLike | None = None, dpi: int = 100) -> bytes:
    """PNG bytes of a figure; also written atomically to ``path`` when given."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    data = buffer.getvalue()
    if path is not None:
        atomic_write(path, lambda f: f.write(data))
    return data


def plot_temporal_profile(maps: Mapping[str, object], evidence=None, title: str | None = None) -> NotebookFigure:
    """Share of each map's mass per frame, with the evidence frames shaded: where in *time* a method looks.

    Args:
        maps: label → ``(T, H, W)`` saliency (absolute values are used).
        evidence: optional ``(T,)`` bool, frames that carry the class evidence.
    """
    fig = NotebookFigure(figsize=(7, 2.8))
    ax = fig.subplots()
    length = None
    for label, m in maps.items():
        mass = np.abs(as_numpy(m)).sum(axis=(1, 2))
        length = len(mass)
        ax.plot(mass / max(mass.sum(), 1e-12), marker="o", ms=3, label=label)
    if length:
        shade_evidence(ax, evidence)
    ax.set_xlabel("frame (shaded: evidence frames)")
    ax.set_ylabel("share of saliency")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_frame_changes(maps: Mapping[str, object], evidence=None, title: str | None = None) -> NotebookFigure:
    """How much each map changes from one frame to the next (:func:`fep.metrics.frame_changes`): flicker.

    Args:
        maps: label → ``(T, H, W)`` saliency (absolute values are used).
        evidence: optional ``(T,)`` bool, shaded.
    """
    from fep.metrics import frame_changes

    fig = NotebookFigure(figsize=(7, 2.8))
    ax = fig.subplots()
    for label, m in maps.items():
        changes = frame_changes(torch.as_tensor(np.abs(as_numpy(m)), dtype=torch.float64)).numpy()
        ax.plot(np.arange(len(changes)) + 0.5, changes, marker="o", ms=3, label=f"{label} (mean {changes.mean():.3f})")
    shade_evidence(ax, evidence)
    ax.set_ylim(0, 1)
    ax.set_xlabel("between frame t and t+1")
    ax.set_ylabel("normalised L1 change")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_curves(curves: Mapping[str, object], title: str = "", xlabel: str = "", ylabel: str = "") -> NotebookFigure:
    """Several curves, one line each, AUC in the legend.

    Args:
        curves: label → either a sequence of values sampled evenly on [0, 1], or the dict that
            :func:`fep.metrics.deletion_insertion` returns (``fractions``, ``scores``, ``auc``): then the
            x axis is the share of voxels in %, on a log scale for the log-spaced schedule, and the
            legend gives that function's AUC.
    """
    fig = NotebookFigure(figsize=(5, 3.2))
    ax = fig.subplots()
    log_scale = False
    for label, values in curves.items():
        if isinstance(values, Mapping):
            x = 100 * np.asarray(values["fractions"], dtype=float)
            y = np.asarray(values["scores"], dtype=float)
            area = float(values["auc"])
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


__all__ += ["plot_temporal_profile", "plot_frame_changes", "plot_curves", "shade_evidence"]


# The F-EP loop, box by box: (label, formula) placed on a ring; arrows follow the order.
_LOOP_STEPS = (
    ("clip", r"$x$: $(C, T, H, W)$"),
    ("mask grid", r"$P$: $T \times 16 \times 16$"),
    ("upsample", r"$m = \mathrm{up}(P)$ (bilinear)"),
    ("perturb", r"$\Phi(x; m)$: keep / blur"),
    ("model", r"$f_c(\Phi(x; m))$"),
    ("energy", r"$E = -R + \lambda A(m)$"),
    ("gradient", r"$G = \partial E / \partial P$"),
    ("DCT low-pass", r"$\hat G = \mathrm{IDCT}(H \odot \mathrm{DCT}(G))$"),
    ("step", r"$P \leftarrow P - \eta \hat G$"),
)


def plot_fep_loop(highlight: str | None = "DCT low-pass") -> NotebookFigure:
    """A diagram of one F-EP iteration: clip → mask grid → upsample → perturb → model → energy →
    gradient → DCT low-pass → step, and back to the mask grid.

    Args:
        highlight: the box drawn in colour (F-EP's addition to 3D-EP by default; None for none).

    Returns:
        The figure (shown as an image in Jupyter).

    Examples::

        >>> viz.plot_fep_loop()                       # F-EP = 3D-EP + the highlighted box
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    names = [name for name, _ in _LOOP_STEPS]
    if highlight is not None and highlight not in names:
        raise FepValueError(f"highlight {highlight!r} is not a box of the diagram; use one of {', '.join(names)}.")
    # Top row left to right (clip ... model), bottom row right to left (energy ... step).
    top = [(0.10 + 0.20 * i, 0.72) for i in range(5)]
    bottom = [(0.90 - 0.2667 * i, 0.22) for i in range(4)]
    places = top + bottom
    fig = NotebookFigure(figsize=(11, 3.8))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_axis_off()
    width, height = 0.16, 0.2
    for (name, formula), (x, y) in zip(_LOOP_STEPS, places, strict=True):
        colour = "#ffd27f" if name == highlight else "#e8eef7"
        box = FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.01",
                             facecolor=colour, edgecolor="#33415c", linewidth=1.2)  # fmt: skip
        ax.add_patch(box)
        ax.text(x, y + 0.045, name, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x, y - 0.04, formula, ha="center", va="center", fontsize=8.5)
    arrow = {"arrowstyle": "-|>", "mutation_scale": 14, "color": "#33415c", "linewidth": 1.3}
    for (x0, y0), (x1, y1) in zip(places[:-1], places[1:], strict=True):
        if y0 == y1:  # along a row
            step = (width / 2 + 0.012) * (1 if x1 > x0 else -1)  # the box edge plus its rounded pad
            ax.add_patch(FancyArrowPatch((x0 + step, y0), (x1 - step, y1), **arrow))
        else:  # down the right-hand side, model -> energy
            ax.add_patch(FancyArrowPatch((x0, y0 - height / 2), (x1, y1 + height / 2), **arrow))
    # Back from the step to the mask grid: the next iteration.
    (xs, ys), (xp, yp) = places[-1], places[1]
    ax.add_patch(FancyArrowPatch((xs, ys + height / 2 + 0.02), (xp, yp - height / 2 - 0.03),
                                 connectionstyle="arc3,rad=-0.25", linestyle="--", **arrow))  # fmt: skip
    ax.text((xs + xp) / 2 - 0.06, 0.47, "next iteration", fontsize=8, style="italic", color="#33415c")
    return fig


__all__ += ["plot_fep_loop"]
