"""What every explorer shares: a frame slider with a Play button, an image, a status line, and controls
whose observers call plain methods (so tests and notebooks can drive them without a browser).

Every explorer *is* an ``ipywidgets.VBox``: it composes inside ``VBox``/``HBox``/``Tab`` and IPython
displays it as it is."""

from __future__ import annotations

import ipywidgets
import numpy as np
import torch
from matplotlib.figure import Figure

from fep.errors import FepValueError
from fep.viz.figures import figure_png

__all__ = ["Explorer", "display_frames"]


def display_frames(rgb: np.ndarray) -> torch.Tensor:
    """``(T, H, W, 3)`` display frames → ``(3, T, H, W)`` tensor in [0, 1] (stretched once, globally)."""
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(3, 0, 1, 2)))


class Explorer(ipywidgets.VBox):
    """Shared plumbing: a frame slider with a Play button, an image and a status line (a ``VBox``)."""

    def __init__(self, frames: int, fps: float) -> None:
        super().__init__()
        w = ipywidgets
        self.frame = 0
        self.frame_slider = w.IntSlider(value=0, min=0, max=frames - 1, description="frame", continuous_update=True)
        self.play = w.Play(value=0, min=0, max=frames - 1, interval=int(1000 / fps), description="play")
        w.jslink((self.play, "value"), (self.frame_slider, "value"))
        self.image = w.Image(format="png")
        self.status = w.HTML()
        self.renders = 0
        self._syncing = False
        self._observe(self.frame_slider, self.set_frame)

    def _sync(self, control, value) -> None:
        """Move a control to ``value`` without its observer rendering a second time."""
        self._syncing = True
        try:
            control.value = value
        finally:
            self._syncing = False

    def _observe(self, control, method) -> None:
        control.observe(lambda change: None if self._syncing else method(change["new"]), names="value")

    def set_frame(self, frame: int) -> None:
        """Show frame ``frame`` (the slider calls this)."""
        if not 0 <= frame <= self.frame_slider.max:
            raise FepValueError(f"frame must be between 0 and {self.frame_slider.max}, got {frame}.")
        self.frame = int(frame)
        self._sync(self.frame_slider, self.frame)
        self._render()

    def _show(self, fig: Figure) -> None:
        self.image.value = figure_png(fig, dpi=80)
        self.renders += 1

    @property
    def widget(self) -> ipywidgets.VBox:
        """The explorer itself (it is the widget; kept for code written when it held one)."""
        return self
