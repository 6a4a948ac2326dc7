"""The course's picture of the F-EP loop: one box per step, the low-pass highlighted."""

from __future__ import annotations

from fep.errors import FepValueError
from fep.viz.figures import NotebookFigure, figure

__all__ = ["plot_fep_loop"]



# The F-EP loop, box by box: (label, formula) placed on a ring; arrows follow the order.
_LOOP_STEPS = (
    ("clip", r"$x$: $(3, T, h, w)$"),
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
    fig = figure(figsize=(11, 3.8))
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
