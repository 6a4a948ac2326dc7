"""Shared helpers for the benchmarks: median-of-repeats timing, the deep-model target, a machine description."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from fep.ep.model_state import frozen_model
from fep.models import load_model

RESULTS = Path(__file__).resolve().parent.parent / "results" / "performance"


def median_time(fn: Callable[[], object], repeats: int = 7, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sync() -> None:
    """Wait for queued GPU work, so a timestamp means what it says (no-op without CUDA)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def deep_target(batch: int = 1) -> tuple[torch.nn.Module, torch.Tensor]:
    """r2plus1d_18 with random weights (cost does not depend on them) and a seeded 16-frame 112 px clip."""
    torch.manual_seed(0)
    return load_model("r2plus1d_18", weights=None), deep_clip(batch)


def deep_clip(batch: int = 1) -> torch.Tensor:
    """The seeded (batch, 3, 16, 112, 112) clip of :func:`deep_target`."""
    return torch.rand(batch, 3, 16, 112, 112, generator=torch.Generator().manual_seed(0))


def bare_pass_seconds(model: torch.nn.Module, video: torch.Tensor, channels_last: bool = False) -> float:
    """Median time of one forward+backward to the input, weights frozen as an explanation runs them."""
    if channels_last:
        video = video.contiguous(memory_format=torch.channels_last_3d)

    def once():
        clip = video.clone().requires_grad_(True)
        model(clip)[:, 0].sum().backward()

    with frozen_model(model, channels_last):
        return median_time(once, repeats=3, warmup=1)


def machine() -> dict:
    """What the numbers were measured on."""
    return {
        "machine": platform.node(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def write_result(name: str, data: dict) -> Path:
    """Write ``results/performance/<name>.json`` atomically and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    with tempfile.NamedTemporaryFile("w", dir=RESULTS, suffix=".tmp", delete=False) as tmp:
        json.dump(data, tmp, indent=2)
    os.replace(tmp.name, path)
    return path
