"""Wall time of each course notebook at its real settings (no FEP_FAST), executed with nbclient.

Run: ``python benchmarks/bench_notebooks.py``. Target: each <= 90 s, the sum <= 5 minutes.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine, write_result  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def main() -> None:
    os.environ.pop("FEP_FAST", None)
    times = {}
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        where = {"metadata": {"path": str(NOTEBOOKS)}}
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources=where)
        client.execute()
        times[path.stem] = time.perf_counter() - start
        print(f"{path.stem:28s} {times[path.stem]:6.1f} s", flush=True)
    print(f"{'total':28s} {sum(times.values()):6.1f} s")
    print(f"written: {write_result('notebooks', {**machine(), 'seconds': times})}")


if __name__ == "__main__":
    main()
