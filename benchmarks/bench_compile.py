"""Does ``torch.compile`` win, for fep's own per-iteration work or for a deep model's pass? (Use it only if it wins.)

``fep`` (the default): fep's work in an iteration, without the model: upsample the mask grid, the area
loss, the masked clips from the blur pyramid, and the backward pass through them (toy-model sizes: one
clip 3x16x112x112, areas 0.05 / 0.1 / 0.2). Writes ``results/performance/compile.json``.

``model``: one forward+backward to the input of r2plus1d_18 (random weights, frozen; batch 1, 16x112x112,
channels-last as the CPU defaults run it), eager and ``torch.compile``-d. Writes
``results/performance/compile_model.json``, with the passes a default explanation took in
``fast_defaults_time.json`` for comparison.

Each is measured eager and compiled (median after the first call), with the compile time from an empty
compile cache. Compiling pays only if (eager - compiled) x passes > compile time.

Run: ``python benchmarks/bench_compile.py [fep|model]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# A fresh compile cache, so the compile time is what a user pays the first time (a warm cache roughly
# halves it; it is still paid in every new process for the Python-side tracing).
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="fep-inductor-")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import RESULTS, deep_target, machine, median_time, write_result  # noqa: E402

from fep.ep.model_state import frozen_model  # noqa: E402
from fep.ep.objectives import area_loss, area_zero_counts  # noqa: E402
from fep.ep.perturbation import Perturbation, upsample_mask  # noqa: E402


def fep_work() -> None:
    info = machine()
    print(f"machine: {info['processor']}, {info['threads']} threads, torch {info['torch']}")
    torch.manual_seed(0)
    video = torch.randn(1, 3, 16, 112, 112)
    pert = Perturbation(video, "blur")
    params = torch.rand(1, 3, 16, 16, 16, requires_grad=True)
    zeros = area_zero_counts((0.05, 0.1, 0.2), 16 * 112 * 112)
    tiebreak = 1e-6 * torch.rand(1, 1, 16, 112, 112)

    def step(p: torch.Tensor) -> torch.Tensor:
        mask = upsample_mask(p, (112, 112), 7)
        return pert.apply(mask).mean() - area_loss(mask, zeros, False, tiebreak).sum()

    def per_iteration(fn) -> float:
        times = []
        for _ in range(10):
            start = time.perf_counter()
            torch.autograd.grad(fn(params), params)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    torch.autograd.grad(step(params), params)
    eager = per_iteration(step)
    try:
        compiled_step = torch.compile(step)
        start = time.perf_counter()
        torch.autograd.grad(compiled_step(params), params)
        compile_s = time.perf_counter() - start
        compiled = per_iteration(compiled_step)
    except Exception as err:  # no compiler toolchain: compiling cannot win here
        print(f"torch.compile failed: {type(err).__name__}: {err}")
        compile_s = compiled = None
    result = {**info, "eager_ms": eager * 1e3, "compile_s": compile_s,
              "compiled_ms": None if compiled is None else compiled * 1e3}  # fmt: skip
    if compiled is not None and compiled < eager:
        result["break_even_iterations"] = compile_s / (eager - compiled)
    print(f"eager {eager * 1e3:.1f} ms per iteration; " + (
        "compiled: unavailable" if compiled is None else
        f"compiled {compiled * 1e3:.1f} ms after {compile_s:.1f} s of compiling; break-even after "
        f"{result.get('break_even_iterations', float('inf')):.0f} iterations (default run: 100)"))  # fmt: skip
    print(f"written: {write_result('compile', result)}")


def model_pass() -> None:
    info = machine()
    model, video = deep_target()
    video = video.contiguous(memory_format=torch.channels_last_3d)

    def once(net):
        clip = video.clone().requires_grad_(True)
        torch.autograd.grad(net(clip)[:, 0].sum(), clip)

    with frozen_model(model, channels_last=True):
        eager = median_time(lambda: once(model), repeats=3, warmup=1)
        try:
            compiled_model = torch.compile(model)
            start = time.perf_counter()
            once(compiled_model)
            compile_s = time.perf_counter() - start
            compiled = median_time(lambda: once(compiled_model), repeats=3, warmup=0)
        except Exception as err:  # no compiler toolchain: compiling cannot win here
            print(f"torch.compile failed: {type(err).__name__}: {err}")
            compile_s = compiled = None
    timing = RESULTS / "fast_defaults_time.json"
    passes = json.loads(timing.read_text())["bare_passes"] if timing.exists() else None
    result = {**info, "model": "r2plus1d_18 (weights=None, frozen, channels-last)", "clip": [1, 3, 16, 112, 112],
              "eager_s": eager, "compile_s": compile_s, "compiled_s": compiled,
              "explanation_bare_passes": passes}  # fmt: skip
    if compiled is not None and compiled < eager:
        result["break_even_passes"] = compile_s / (eager - compiled)
    print(f"eager {eager:.2f} s per forward+backward; " + (
        "compiled: unavailable" if compiled is None else
        f"compiled {compiled:.2f} s after {compile_s:.1f} s of compiling (first call); break-even after "
        f"{result.get('break_even_passes', float('inf')):.0f} passes; a default explanation: {passes}"))  # fmt: skip
    print(f"written: {write_result('compile_model', result)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", nargs="?", choices=("fep", "model"), default="fep")
    fep_work() if parser.parse_args().part == "fep" else model_pass()
