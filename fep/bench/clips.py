"""What the benchmark explains: held-out synthetic clips with ground truth, or a folder of real videos.

Synthetic clips use seeds never used for training (:mod:`fep.models.train`) or for the model cards'
evaluation; a folder of videos has no ground truth, so its ground-truth metrics stay empty.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from fep.ep.model_state import frozen_model
from fep.errors import FepFileNotFoundError, FepValueError

__all__ = ["Clip", "synthetic_clips", "family_clips", "video_clips", "small_actor_clips"]


@dataclass
class Clip:
    """One clip to explain: ``video`` ``(1, C, T, H, W)`` as the model expects, its target, and ground
    truth (``boxes`` ``(T, 4)``, ``actor_mask`` ``(T, H, W)``, ``evidence`` ``(T,)``) when known."""

    id: str
    video: torch.Tensor
    target: int
    boxes: torch.Tensor | None = None
    actor_mask: torch.Tensor | None = None
    evidence: torch.Tensor | None = None
    family: str = ""


def synthetic_clips(
    count: int = 64,
    config=None,
    seed: int | None = None,
    model_name: str = "toy",
    family: str | None = None,
    split: str = "test",
) -> list[Clip]:
    """Held-out synthetic clips (seeds never used for training or the model card's evaluation): of a task
    family (:data:`fep.data.synthetic.FAMILIES`), of ``config``, or (neither) of the held-out variant.
    Seeds run from ``seed``, by default the start of ``split`` (:data:`fep.data.synthetic.SPLITS`)."""
    from fep.data.synthetic import FAMILIES, HELD_OUT, SPLITS, generate_clip

    if split not in SPLITS:
        raise FepValueError(f"Unknown split {split!r}; choose one of {', '.join(SPLITS)}.")
    seed = SPLITS[split].start if seed is None else seed
    if seed in SPLITS[split] and seed + count - 1 not in SPLITS[split]:
        raise FepValueError(f"{count} clips from seed {seed} run past the {split} split; ask for fewer clips.")

    if family is not None:
        if family not in FAMILIES:
            raise FepValueError(f"Unknown family {family!r}; choose one of {', '.join(FAMILIES)}.")
        config = FAMILIES[family]
    config = HELD_OUT if config is None else config
    prefix = family or "synthetic"
    clips = []
    for i in range(count):
        c = generate_clip(config, seed + i, label=i % 4)
        video = c.video[None]
        clips.append(Clip(f"{prefix}_{seed + i}", video, c.label, c.boxes, c.actor_mask, c.evidence, family or ""))
    return clips


def family_clips(count: int, families: Sequence[str], split: str = "test") -> list[Clip]:
    """``count`` held-out clips of each family of ``split``, family by family."""
    return [clip for family in families for clip in synthetic_clips(count, family=family, split=split)]


def video_clips(folder: str | os.PathLike, model, model_name: str, frames: int = 16) -> list[Clip]:
    """Every video in ``folder``, preprocessed for ``model_name``; the target is the predicted class."""
    from fep.data.video import load_video
    from fep.models import preprocess

    folder = Path(folder)
    if not folder.is_dir():
        raise FepFileNotFoundError(f"No folder of videos at {folder}; check the path.")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv", ".webm"))
    if not paths:
        raise FepFileNotFoundError(f"{folder} contains no video files (.mp4, .avi, .mov, .mkv, .webm).")
    clips = []
    for path in paths:
        video = preprocess(load_video(path, num_frames=frames).frames, model_name)
        with frozen_model(model), torch.no_grad():
            target = int(model(video).argmax(1)[0])
        clips.append(Clip(path.stem, video, target))
    return clips


def small_actor_clips(count: int = 16) -> list[Clip]:
    """Held-out clips with a 14 px actor (1.2 % of the frame): where smoothing meets its limit."""
    from fep.data.synthetic import HELD_OUT

    return synthetic_clips(count, replace(HELD_OUT, actor_size=14), seed=300_000)
