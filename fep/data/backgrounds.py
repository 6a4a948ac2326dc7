"""Backgrounds of the synthetic clips: a smooth random texture, or a photograph seen by a panning camera."""

from __future__ import annotations

import math
from functools import cache

import torch
import torch.nn.functional as F

__all__ = ["PHOTOS", "texture", "photo_background"]

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "grass", "gravel", "brick")


def texture(gen: torch.Generator, size: int, contrast: float) -> torch.Tensor:
    """``(3, size, size)``: smooth colour blobs of the given contrast with a little grain."""
    coarse = torch.rand(1, 3, max(2, size // 8), max(2, size // 8), generator=gen)
    smooth = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0]
    grain = torch.rand(3, size, size, generator=gen)
    return (0.45 + contrast * (smooth - 0.5) * 2 + 0.05 * (grain - 0.5)).clamp(0, 1)


@cache
def _photo_pixels(name: str) -> torch.Tensor:
    """A scikit-image photograph as ``(3, H, W)`` float in [0, 1] (grayscale ones repeated to RGB)."""
    from skimage import data

    image = torch.from_numpy(getattr(data, name)()).float().div(255)
    return image[None].expand(3, -1, -1).clone() if image.ndim == 2 else image.permute(2, 0, 1)[:3].contiguous()


@cache
def _scaled_photo(name: str, side: int) -> torch.Tensor:
    """The photograph scaled so that its shorter side is ``side`` pixels."""
    photo = _photo_pixels(name)
    scale = side / min(photo.shape[1:])
    return F.interpolate(photo[None], scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)[0]


def photo_background(gen: torch.Generator, config) -> torch.Tensor:
    """``(3, T, H, W)``: a random photograph seen through a camera panning at ``pan_speed`` px/frame."""
    t_len, size = config.frames, config.size
    name = PHOTOS[int(torch.randint(len(PHOTOS), (), generator=gen))]
    angle = 2 * math.pi * torch.rand((), generator=gen).item()
    travel = config.pan_speed * (t_len - 1)
    side = size + math.ceil(travel) + 2
    photo = _scaled_photo(name, side)
    room_y, room_x = photo.shape[1] - side, photo.shape[2] - side
    y0 = int(torch.randint(room_y + 1, (), generator=gen)) + (0 if math.sin(angle) >= 0 else math.ceil(travel))
    x0 = int(torch.randint(room_x + 1, (), generator=gen)) + (0 if math.cos(angle) >= 0 else math.ceil(travel))
    frames = []
    for t in range(t_len):
        dy, dx = round(t * config.pan_speed * math.sin(angle)), round(t * config.pan_speed * math.cos(angle))
        frames.append(photo[:, y0 + dy : y0 + dy + size, x0 + dx : x0 + dx + size])
    return torch.stack(frames, dim=1).clamp(0, 1)
