"""Animations of explanations: a GIF or mp4 file, or a self-contained HTML player (play, pause, a frame
slider) that works in a saved notebook or an exported page with no kernel and no network."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from fep.atomic import atomic_write
from fep.errors import FepValueError
from fep.viz.figures import OVERLAY_ALPHA, OVERLAY_CMAP, as_numpy, overlay_frames

__all__ = ["save_animation", "animation_html"]


def save_animation(
    video,
    saliency,
    path: str | os.PathLike,
    fps: float = 8.0,
    alpha: float = OVERLAY_ALPHA,
    cmap: str = OVERLAY_CMAP,
    scale: int = 2,
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
        from fep.data.video import write_video

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
    video,
    saliency,
    fps: float = 8.0,
    alpha: float = OVERLAY_ALPHA,
    cmap: str = OVERLAY_CMAP,
    boxes=None,
    scale: int = 2,
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
