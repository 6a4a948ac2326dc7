"""A live view of an optimisation: the masks and the energy, redrawn every k iterations by the callback."""

from __future__ import annotations

import ipywidgets
import numpy as np
import torch

from fep.viz.explorer import display_frames
from fep.viz.figures import figure, figure_png, overlay_frames, rgb_frames

__all__ = ["LiveView"]


class LiveView(ipywidgets.VBox):
    """Watch an optimisation: pass ``view.callback`` as the engine's ``callback``. The view is an
    ``ipywidgets.VBox``: display it (or put it in a box) before the run starts.

    Args:
        video: ``(3, T, H, W)`` frames of the clip being explained.
        frames: frame indices to show (default 4 evenly spaced).

    Examples::

        >>> view = LiveView(clip.frames)
        >>> display(view)
        >>> result = extremal_perturbation(model, video, target, callback=view.callback, callback_every=10)
    """

    def __init__(self, video, frames=None) -> None:
        super().__init__()
        w = ipywidgets
        rgb = rgb_frames(video)
        self.video = display_frames(rgb)
        self.frames = frames or np.linspace(0, rgb.shape[0] - 1, 4).round().astype(int).tolist()
        self.image = w.Image(format="png")
        self.status = w.HTML("waiting for the first iteration…")
        self.children = [self.image, self.status]
        self.updates = 0

    @property
    def widget(self) -> ipywidgets.VBox:
        """The view itself (it is the widget; kept for code written when it held one)."""
        return self

    def callback(self, iteration: int, masks: torch.Tensor, history: dict) -> None:
        """Redraw masks (clip 0, every area) and the mean energy so far."""
        masks = masks[0]
        energy = history["energy"].float().flatten(1).nanmean(dim=1).cpu().numpy()  # NaN: masks that stopped
        fig = figure(figsize=(2.2 * len(self.frames) + 3, 2.2 * masks.shape[0]))
        grid = fig.add_gridspec(masks.shape[0], len(self.frames) + 2)
        for a in range(masks.shape[0]):
            stack = overlay_frames(self.video, masks[a], vmax=1.0)
            for j, t in enumerate(self.frames):
                ax = fig.add_subplot(grid[a, j])
                ax.imshow(stack[t])
                ax.set_axis_off()
                if a == 0:
                    ax.set_title(f"t={t}", fontsize=8)
        ax = fig.add_subplot(grid[:, -2:])
        ax.plot(energy)
        ax.set_title("energy (mean over masks)", fontsize=9)
        ax.set_xlabel("iteration")
        fig.tight_layout()
        self.image.value = figure_png(fig, dpi=70)
        self.updates += 1
        self.status.value = f"iteration {iteration + 1}: energy {energy[-1]:.3f}"
