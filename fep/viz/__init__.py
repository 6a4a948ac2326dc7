"""Pictures: figures for notebooks and files (:mod:`~fep.viz.figures`), line plots
(:mod:`~fep.viz.plots`), the animation player (:mod:`~fep.viz.player`), the course's diagram
(:mod:`~fep.viz.diagram`) and the interactive explorers (:mod:`~fep.viz.widgets`).
``from fep import viz`` gives every figure function."""

from fep.viz.diagram import plot_fep_loop
from fep.viz.figures import (
    NotebookFigure,
    as_numpy,
    box,
    figure,
    figure_png,
    frame_grid,
    overlay,
    overlay_frames,
    rgb_frames,
    shade_evidence,
)
from fep.viz.player import animation_html, save_animation
from fep.viz.plots import plot_curves, plot_frame_changes, plot_history, plot_spectrum, plot_temporal_profile

__all__ = [
    "NotebookFigure",
    "figure",
    "figure_png",
    "as_numpy",
    "rgb_frames",
    "overlay_frames",
    "shade_evidence",
    "box",
    "frame_grid",
    "overlay",
    "save_animation",
    "animation_html",
    "plot_spectrum",
    "plot_history",
    "plot_temporal_profile",
    "plot_frame_changes",
    "plot_curves",
    "plot_fep_loop",
]
