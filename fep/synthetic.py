"""A synthetic video task with ground truth: the class is *how* an actor moves, not what it looks like.

Each clip ``(3, T, H, W)`` in [0, 1] shows a static textured background with per-frame sensor noise,
several **distractors** (squares of another colour on random walks) and one **actor** (a yellow
disc with a dark bar, identical in every class) that moves in a straight line. The direction of
motion is the class (:data:`CLASSES`: right, left, down, up), so a single frame cannot tell the
class: a model must use motion. Optionally the actor moves only during an **evidence window** (a
sub-range of frames) and stands still before and after it.

Ground truth per clip: the label, the actor's per-frame mask and box, and the evidence frames (the
frames in which the actor moves, plus the frame where it arrives). Every knob is a field of
:class:`SyntheticConfig`, and the same seed with ``render_actor=False`` or ``render_distractors=False``
gives the same clip with that layer painted over by background — the controls that show what a
model really needs.

Examples::

    >>> from fep.synthetic import SyntheticConfig, generate_clip
    >>> clip = generate_clip(SyntheticConfig(), seed=0)
    >>> clip.video.shape, clip.label, clip.actor_mask.shape
    (torch.Size([3, 16, 112, 112]), 2, torch.Size([16, 112, 112]))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from fep.errors import FepIndexError, FepValueError

__all__ = ["CLASSES", "SyntheticConfig", "SyntheticClip", "generate_clip", "SyntheticVideos", "HELD_OUT"]

CLASSES = ("moves right", "moves left", "moves down", "moves up")
_DIRECTIONS = torch.tensor([[0.0, 1.0], [0.0, -1.0], [1.0, 0.0], [-1.0, 0.0]])  # (dy, dx) per class


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the generator (sizes in pixels, speeds in pixels per frame).

    Attributes:
        frames, size: clip length T and frame side H = W.
        actor_size: diameter of the actor (28 px on 112 is 5 % of the frame, a UCF101-24-like box).
        actor_speed: (min, max) speed of the actor while it moves.
        distractors: number of distractor squares.
        distractor_size: their side.
        distractor_speed: their maximum speed per axis; they turn at random every frame.
        noise: standard deviation of the per-frame sensor noise.
        texture: contrast of the static background texture.
        window_prob: probability that a clip has an evidence window.
        window_min: minimum number of moving frames in a window.
    """

    frames: int = 16
    size: int = 112
    actor_size: int = 28
    actor_speed: tuple[float, float] = (2.0, 3.0)
    distractors: int = 3
    distractor_size: int = 14
    distractor_speed: float = 3.0
    noise: float = 0.03
    texture: float = 0.15
    window_prob: float = 0.5
    window_min: int = 6

    def __post_init__(self) -> None:
        if self.frames < 2 or self.size < 16:
            raise FepValueError(f"A clip needs at least 2 frames of 16x16 pixels, got {self.frames}x{self.size}.")
        if not 4 <= self.actor_size <= self.size // 2:
            raise FepValueError(f"actor_size must be between 4 and size/2 = {self.size // 2}, got {self.actor_size}.")
        if not 2 <= self.window_min <= self.frames:
            raise FepValueError(f"window_min must be between 2 and frames = {self.frames}, got {self.window_min}.")
        lo, hi = self.actor_speed
        if not 0 < lo <= hi:
            raise FepValueError(f"actor_speed must be (min, max) with 0 < min <= max, got {self.actor_speed}.")
        travel = hi * (self.frames - 1)
        if travel > self.size - self.actor_size:
            raise FepValueError(
                f"An actor at {hi} px/frame for {self.frames} frames travels {travel:.0f} px, more than the "
                f"{self.size - self.actor_size} px the frame allows; lower actor_speed or actor_size."
            )


# Held-out variant for experiments: a parameter set the toy model was not trained on.
HELD_OUT = SyntheticConfig(actor_speed=(2.5, 3.5), distractors=4, distractor_speed=4.0, noise=0.04)


@dataclass
class SyntheticClip:
    """One generated clip and its ground truth.

    Attributes:
        video: ``(3, T, H, W)`` float32 in [0, 1].
        label: class index into :data:`CLASSES`.
        actor_mask: ``(T, H, W)`` bool, the actor's pixels.
        boxes: ``(T, 4)`` int ``(y0, x0, y1, x1)`` of the actor, end-exclusive.
        evidence: ``(T,)`` bool, frames that show the motion.
        params: the config, seed and sampled values (JSON-serialisable).
    """

    video: torch.Tensor
    label: int
    actor_mask: torch.Tensor
    boxes: torch.Tensor
    evidence: torch.Tensor
    params: dict


def _texture(gen: torch.Generator, size: int, contrast: float) -> torch.Tensor:
    coarse = torch.rand(1, 3, max(2, size // 8), max(2, size // 8), generator=gen)
    smooth = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0]
    grain = torch.rand(3, size, size, generator=gen)
    return (0.45 + contrast * (smooth - 0.5) * 2 + 0.05 * (grain - 0.5)).clamp(0, 1)


def _uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * torch.rand((), generator=gen).item()


def _actor_path(gen: torch.Generator, config: SyntheticConfig, label: int):
    """The actor's top-left corner per frame ``(T, 2)``, its evidence window ``[start, stop)`` and speed.

    The actor moves during frames ``[start, stop)`` and holds still otherwise; its start is drawn so the
    whole path stays inside the frame.
    """
    t_len, size, diameter = config.frames, config.size, config.actor_size
    if torch.rand((), generator=gen).item() < config.window_prob:
        length = int(torch.randint(config.window_min, t_len + 1, (), generator=gen))
        start = int(torch.randint(0, t_len - length + 1, (), generator=gen))
    else:
        length, start = t_len, 0
    stop = start + length
    speed = _uniform(gen, *config.actor_speed)
    steps = torch.arange(t_len, dtype=torch.float32).clamp(start, stop - 1) - start  # frames moved so far
    travel = speed * (length - 1)
    direction = _DIRECTIONS[label]
    origin = []
    for axis in range(2):
        d = direction[axis].item()
        lo = 0.0 if d >= 0 else travel
        hi = size - diameter - (travel if d > 0 else 0.0)
        origin.append(_uniform(gen, lo, hi))
    return torch.tensor(origin)[None] + steps[:, None] * speed * direction[None], start, stop, speed


def _actor_pixels(top_left: torch.Tensor, size: int, diameter: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The actor's disc ``(T, H, W)`` and the dark bar across it (structure without a direction)."""
    yy = torch.arange(size, dtype=torch.float32)[:, None]
    xx = torch.arange(size, dtype=torch.float32)[None, :]
    radius = diameter / 2
    centre = top_left + radius - 0.5
    dy = yy[None] - centre[:, 0, None, None]
    dx = xx[None] - centre[:, 1, None, None]
    actor = dy**2 + dx**2 <= radius**2
    return actor, actor & (dy.abs() <= radius / 5)


def _distractor_pixels(gen: torch.Generator, config: SyntheticConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Squares on random walks, reflected at the borders: ``(T, H, W)`` (0 = none, k + 1 = distractor k)
    and their colours ``(3, K)``."""
    t_len, size, side = config.frames, config.size, config.distractor_size
    pos = torch.rand(config.distractors, 2, generator=gen) * (size - side)
    vel = (torch.rand(config.distractors, 2, generator=gen) * 2 - 1) * config.distractor_speed
    turns = (torch.rand(t_len, config.distractors, 2, generator=gen) * 2 - 1) * config.distractor_speed * 0.5
    colours = torch.tensor([0.2, 0.75, 0.85])[:, None] + 0.1 * torch.rand(3, config.distractors, generator=gen)
    pixels = torch.zeros(t_len, size, size, dtype=torch.long)
    for t in range(t_len):
        for k in range(config.distractors):
            y0, x0 = (int(round(v)) for v in pos[k].tolist())
            pixels[t, y0 : y0 + side, x0 : x0 + side] = k + 1
        vel = (vel + turns[t]).clamp(-config.distractor_speed, config.distractor_speed)
        pos = pos + vel
        bounce = (pos < 0) | (pos > size - side)
        vel = torch.where(bounce, -vel, vel)
        pos = pos.clamp(0, size - side)
    return pixels, colours


def generate_clip(
    config: SyntheticConfig = SyntheticConfig(),
    seed: int = 0,
    *,
    label: int | None = None,
    render_actor: bool = True,
    render_distractors: bool = True,
) -> SyntheticClip:
    """Generate one clip deterministically from ``seed``.

    Args:
        config: generator settings.
        seed: every random choice comes from a generator seeded with it.
        label: force a class (default: drawn from the seed).
        render_actor, render_distractors: paint that layer or leave background there; all random
            draws happen either way, so the rest of the clip is identical.

    Returns:
        :class:`SyntheticClip`.
    """
    gen = torch.Generator().manual_seed(int(seed))
    t_len, size, diameter = config.frames, config.size, config.actor_size
    drawn_label = int(torch.randint(len(CLASSES), (), generator=gen))
    label = drawn_label if label is None else int(label)
    if not 0 <= label < len(CLASSES):
        raise FepValueError(f"label must be between 0 and {len(CLASSES) - 1}, got {label}.")

    background = _texture(gen, size, config.texture)
    top_left, start, stop, speed = _actor_path(gen, config, label)
    actor, bar = _actor_pixels(top_left, size, diameter)
    distractor_pixels, colours = _distractor_pixels(gen, config)
    noise = config.noise * torch.randn(3, t_len, size, size, generator=gen)

    video = background[:, None].expand(3, t_len, size, size).clone()
    if render_distractors:
        for k in range(config.distractors):
            where = distractor_pixels == k + 1
            video.masked_scatter_(where[None].expand_as(video), colours[:, k, None].expand(3, int(where.sum())))
    if render_actor:
        actor_colour = torch.tensor([0.95, 0.85, 0.15])
        video = torch.where(actor[None], actor_colour[:, None, None, None], video)
        video = torch.where(bar[None], torch.tensor(0.1), video)
    video = (video + noise).clamp(0, 1)

    boxes = torch.zeros(t_len, 4, dtype=torch.long)
    for t in range(t_len):
        ys, xs = torch.nonzero(actor[t], as_tuple=True)
        boxes[t] = torch.tensor([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])
    evidence = torch.zeros(t_len, dtype=torch.bool)
    evidence[start:stop] = True
    params = {
        "config": asdict(config),
        "seed": int(seed),
        "label": label,
        "class_name": CLASSES[label],
        "window": [start, stop],
        "speed": speed,
        "render_actor": render_actor,
        "render_distractors": render_distractors,
    }
    return SyntheticClip(video, label, actor, boxes, evidence, params)


class SyntheticVideos(Dataset):
    """A torch Dataset of ``length`` clips: item ``i`` is clip ``seed + i``, returned as
    ``(video (3, T, H, W), label)``; :meth:`clip` gives the full :class:`SyntheticClip`.

    Args:
        length: number of clips.
        config: generator settings.
        seed: seed of the first clip; disjoint seed ranges give disjoint clips.
        balanced: cycle the labels (i % 4) so every class has the same count.
        **render: ``render_actor`` / ``render_distractors`` for control sets.
    """

    def __init__(
        self,
        length: int,
        config: SyntheticConfig = SyntheticConfig(),
        seed: int = 0,
        balanced: bool = True,
        **render: bool,
    ) -> None:
        if length < 1:
            raise FepValueError(f"length must be positive, got {length}.")
        self.length, self.config, self.seed, self.balanced, self.render = (
            length,
            config,
            seed,
            balanced,
            render,
        )

    def __len__(self) -> int:
        return self.length

    def clip(self, index: int) -> SyntheticClip:
        if not 0 <= index < self.length:
            raise FepIndexError(f"index {index} out of range for {self.length} clips")
        label = index % len(CLASSES) if self.balanced else None
        return generate_clip(self.config, self.seed + index, label=label, **self.render)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        clip = self.clip(index)
        return clip.video, clip.label

    def with_config(self, **changes) -> SyntheticVideos:
        """The same seeds with some config fields changed."""
        return SyntheticVideos(self.length, replace(self.config, **changes), self.seed, self.balanced, **self.render)
