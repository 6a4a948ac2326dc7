"""A plausibility floor: a map that never looks at the model, run through every metric like a method.

Where a method scores no better than this, the metric measured the clip, not the explanation.
"""

from __future__ import annotations

import torch

from fep.ep.checks import check_video

__all__ = ["frame_difference"]


def frame_difference(model, video, target=None) -> torch.Tensor:
    """Motion energy of the clip: ``|x_{t+1} - x_t|`` summed over channels, ``(N, T, H, W)`` (the last
    frame repeats the one before). ``model`` and ``target`` are ignored."""
    video = check_video(video)
    change = (video[:, :, 1:] - video[:, :, :-1]).abs().sum(1)
    if change.shape[1] == 0:
        return torch.zeros(video.shape[0], *video.shape[2:], dtype=video.dtype, device=video.device)
    return torch.cat([change, change[:, -1:]], dim=1)
