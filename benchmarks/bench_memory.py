"""P4: peak memory of an F-EP call ÷ one bare forward+backward on the same batch.

Each measurement runs in its own process (a freed allocation stays in the process's resident set, so
two measurements in one process would hide each other). Three measures per model:

- ``tensors``: the peak of the bytes held by live tensors (``_tensor_peak.py``), the CPU counterpart of
  ``torch.cuda.max_memory_allocated`` — what the algorithm allocates, and what the target is judged on;
- ``increment``: resident set (VmRSS) growth, from just before the work to its high-water mark (VmHWM
  after ``/proc/self/clear_refs``). It also counts library code paged in on first use (``RssFile``),
  thread pools and the C allocator's free lists, which on the toy model outweigh its tensors;
- ``process``: whole-process peak of the F-EP run ÷ that of the bare run;
- on a GPU, ``torch.cuda.max_memory_allocated`` of each, and their ratio.

Target: <= 1.3. Batches as P1: the toy model with areas (0.05, 0.1, 0.2), r2plus1d_18
(weights=None) with one area, both at 1x3x16x112x112, five iterations. Linux only (reads /proc).

Run: ``python benchmarks/bench_memory.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tensor_peak import tensor_peak_bytes  # noqa: E402
from _timing import machine, write_result  # noqa: E402

CASES = {"toy": (0.05, 0.1, 0.2), "r2plus1d_18": (0.1,)}
ITERATIONS = 5


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(model_name: str, what: str, measure_tensors: bool) -> dict:
    """One measurement (runs in a fresh process)."""
    import torch
    import torchvision

    from fep.ep.api import extremal_perturbation
    from fep.ep.model_state import frozen_model
    from fep.models import load_model

    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if model_name == "toy":
        model = load_model("toy").to(device)
    else:
        model = torchvision.models.video.r2plus1d_18(weights=None).eval().to(device)
    areas = CASES[model_name]
    video = torch.randn(1, 3, 16, 112, 112, device=device)

    def work() -> None:
        if what == "bare":
            batch = video.expand(len(areas), -1, -1, -1, -1).clone().requires_grad_(True)
            with frozen_model(model):
                for _ in range(ITERATIONS):  # as many passes as the F-EP run, so allocator reuse is alike
                    batch.grad = None
                    model(batch)[:, 0].sum().backward()
        else:
            extremal_perturbation(model, video, 0, method="fep", areas=areas, iterations=ITERATIONS, progress=False)

    if measure_tensors:
        return {"tensor_peak_bytes": tensor_peak_bytes(work)}
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident set
    before = {k: _status_kib(k) for k in ("VmRSS", "RssFile")}
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        cuda_before = torch.cuda.memory_allocated()
    work()
    result = {
        "rss_before_kib": before["VmRSS"],
        "rss_peak_kib": _status_kib("VmHWM"),
        "rss_file_growth_kib": _status_kib("RssFile") - before["RssFile"],
    }
    if device == "cuda":
        torch.cuda.synchronize()
        result["cuda_peak_bytes"] = torch.cuda.max_memory_allocated() - cuda_before
    return result


def measure(model_name: str, what: str, measure_tensors: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", model_name, what] + (["--tensors"] if measure_tensors else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="toy model only")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--tensors", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.tensors)))
        return
    info = machine()
    print(f"machine: {info['processor']}, {info['threads']} threads, torch {info['torch']}")
    rows = []
    for name in ["toy"] if args.quick else list(CASES):
        bare, fep = measure(name, "bare"), measure(name, "fep")
        tensors = {k: measure(name, k, measure_tensors=True)["tensor_peak_bytes"] / 2**20 for k in ("bare", "fep")}
        inc = {k: (r["rss_peak_kib"] - r["rss_before_kib"]) / 1024 for k, r in (("bare", bare), ("fep", fep))}
        row = {
            "model": name,
            "areas": list(CASES[name]),
            "bare": bare,
            "fep": fep,
            "tensor_peak_mib": tensors,
            "tensor_ratio": tensors["fep"] / tensors["bare"],
            "increment_mib": inc,
            "increment_ratio": inc["fep"] / inc["bare"],
            "process_ratio": fep["rss_peak_kib"] / bare["rss_peak_kib"],
        }
        if "cuda_peak_bytes" in bare:
            row["cuda_ratio"] = fep["cuda_peak_bytes"] / bare["cuda_peak_bytes"]
        rows.append(row)
        print(
            f"{name:12s} tensors: bare {tensors['bare']:.1f} MiB, F-EP {tensors['fep']:.1f} MiB = "
            f"{row['tensor_ratio']:.2f}x (target <= 1.3) | resident-set growth: bare {inc['bare']:.0f} MiB "
            f"(of which library code {bare['rss_file_growth_kib'] / 1024:.0f}), F-EP {inc['fep']:.0f} MiB "
            f"(code {fep['rss_file_growth_kib'] / 1024:.0f}) = {row['increment_ratio']:.2f}x | whole process "
            f"{bare['rss_peak_kib'] / 1024:.0f} -> {fep['rss_peak_kib'] / 1024:.0f} MiB = {row['process_ratio']:.2f}x"
        )
    print(f"written: {write_result('memory' + ('_quick' if args.quick else ''), {**info, 'rows': rows})}")


if __name__ == "__main__":
    main()
