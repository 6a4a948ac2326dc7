"""Does ``torch.compile`` win for fep's own per-iteration work? (Use it only if it wins here.)

fep's work in an iteration, without the model: upsample the mask grid, the area loss, the masked clips
from the blur pyramid, and the backward pass through them (toy-model sizes: one clip 3x16x112x112,
areas 0.05 / 0.1 / 0.2). Measured eager and compiled (median of 10 after the first call), with the
compile time with an empty compile cache. Compiling pays only if (eager - compiled) x iterations > compile time.

Run: ``python benchmarks/bench_compile.py``.
"""

from __future__ import annotations

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
from _timing import machine, write_result  # noqa: E402

from fep.ep.objectives import area_loss, area_zero_counts  # noqa: E402
from fep.ep.perturbation import Perturbation, upsample_mask  # noqa: E402


def main() -> None:
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


if __name__ == "__main__":
    main()
