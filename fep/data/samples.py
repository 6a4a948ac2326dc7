"""The sample clips shipped in ``data/samples/``: mp4 files with their ground truth, made deterministically.

``python -m fep.data.samples`` (re)writes ``sample_00.mp4`` … with a ``.npz`` of ground truth each. Clip ``i``
is :func:`fep.data.synthetic.generate_clip` with seed ``SAMPLE_SEED + i`` and label ``i % 4`` — seeds the toy
model never saw in training or evaluation.

Examples::

    >>> from fep.data.samples import load_sample
    >>> clip, truth = load_sample(0)
    >>> clip.frames.shape, truth["class_name"], truth["actor_mask"].shape
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from fep.atomic import atomic_write
from fep.data import DATA_DIR
from fep.data.synthetic import CLASSES, SyntheticClip, SyntheticConfig, generate_clip
from fep.data.video import VideoClip, load_video, write_video
from fep.errors import FepFileNotFoundError

__all__ = ["SAMPLE_SEED", "SAMPLE_COUNT", "SAMPLE_FPS", "SAMPLES_DIR", "make_sample", "write_sample", "load_sample"]

SAMPLE_SEED = 500_000
SAMPLE_COUNT = 8
SAMPLE_FPS = 8.0
SAMPLES_DIR = DATA_DIR / "samples"


def make_sample(index: int) -> SyntheticClip:
    """The synthetic clip behind sample ``index``."""
    return generate_clip(SyntheticConfig(), SAMPLE_SEED + index, label=index % len(CLASSES))


def sample_paths(index: int, folder: Path = SAMPLES_DIR) -> tuple[Path, Path]:
    stem = folder / f"sample_{index:02d}"
    return stem.with_suffix(".mp4"), stem.with_suffix(".npz")


def write_sample(index: int, folder: Path = SAMPLES_DIR) -> tuple[Path, Path]:
    """Write sample ``index`` as mp4 + ground-truth npz into ``folder`` (atomically)."""
    clip = make_sample(index)
    video_path, truth_path = sample_paths(index, folder)
    write_video(video_path, clip.video, SAMPLE_FPS)
    arrays = {
        "label": np.array(clip.label),
        "class_name": np.array(CLASSES[clip.label]),
        "actor_mask": clip.actor_mask.numpy(),
        "boxes": clip.boxes.numpy(),
        "evidence": clip.evidence.numpy(),
        "params": np.array(json.dumps(clip.params)),
    }
    atomic_write(truth_path, lambda f: np.savez_compressed(f, **arrays))
    return video_path, truth_path


def load_sample(index: int, folder: Path = SAMPLES_DIR, num_frames: int = 16) -> tuple[VideoClip, dict]:
    """Read sample ``index``: the decoded clip and its ground truth (label, class_name, actor_mask
    ``(T, H, W)`` bool, boxes ``(T, 4)`` as ``(y0, x0, y1, x1)``, evidence ``(T,)`` bool, params)."""
    video_path, truth_path = sample_paths(index, folder)
    clip = load_video(video_path, num_frames=num_frames)
    if not truth_path.is_file():
        raise FepFileNotFoundError(
            f"Ground truth {truth_path} is missing; regenerate it with `python -m fep.data.samples`."
        )
    with np.load(truth_path, allow_pickle=False) as data:
        truth = {key: data[key] for key in data.files}
    truth["label"] = int(truth["label"])
    truth["class_name"] = str(truth["class_name"])
    truth["params"] = json.loads(str(truth["params"]))
    return clip, truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fep.data.samples", description="Write the sample clips.")
    parser.add_argument("--out", type=Path, default=SAMPLES_DIR, help="folder (default data/samples/)")
    parser.add_argument("--count", type=int, default=SAMPLE_COUNT, help=f"number of clips (default {SAMPLE_COUNT})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for index in range(args.count):
        for path in write_sample(index, args.out):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
