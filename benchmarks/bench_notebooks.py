"""Run the course at its real settings (no FEP_FAST): time each notebook and render it with its outputs.

Run: ``python benchmarks/bench_notebooks.py`` (``make course``); ``… 03 06`` re-renders only the
notebooks whose names start so (their times are printed, not written: they are not the course's);
``… --offline`` only rewrites the pages already there with ``_offline.make_offline`` (no notebook runs).
Target: each notebook <= 60 s, the course <= 6 minutes on a 2-core CPU. Writes
``results/performance/notebooks.json`` and, for each notebook,
``docs/course/NN_name.html``: the notebook as it ran, outputs and pictures included, so the course can be
read without a kernel, offline: it loads no script, style, font or image from the network (maths is
MathML; the widget manager and the shared CSS are in ``docs/course/assets/``). Each page records the
sha256 of the notebook it was rendered from
(``tests/test_course_docs.py`` checks that it is current). Every notebook must pass its check-yourself
cell; a failing one stops the run with its error (nothing is written for it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _offline import make_offline  # noqa: E402
from _timing import machine, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DOCS = ROOT / "docs" / "course"
SOURCE_MARK = "fep-course-source-sha256"
TARGET_EACH, TARGET_TOTAL = 60.0, 360.0


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def render(path: Path, nb) -> Path:
    """Write ``docs/course/<name>.html`` for an executed notebook, stamped with its source's hash."""
    from fep.atomic import atomic_write

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    stamp = f"<!-- {SOURCE_MARK}: {source_hash(path)} (rendered by benchmarks/bench_notebooks.py) -->\n"
    DOCS.mkdir(parents=True, exist_ok=True)
    page = make_offline(stamp + body, DOCS)
    return atomic_write(DOCS / f"{path.stem}.html", lambda f: f.write(page.encode()))


def rewrite_offline() -> None:
    """Convert the pages already rendered, keeping their stamps (their notebooks are not run)."""
    from fep.atomic import atomic_write

    for page_path in sorted(DOCS.glob("*.html")):
        before = page_path.read_text(encoding="utf-8")
        page = make_offline(before, DOCS)
        atomic_write(page_path, lambda f, page=page: f.write(page.encode()))
        print(f"{page_path.relative_to(ROOT)}: {len(before) / 1e6:.2f} MB → {len(page) / 1e6:.2f} MB", flush=True)


def main(prefixes: list[str]) -> None:
    os.environ.pop("FEP_FAST", None)
    times = {}
    paths = [p for p in sorted(NOTEBOOKS.glob("*.ipynb")) if not prefixes or p.stem.startswith(tuple(prefixes))]
    if not paths:
        sys.exit(f"No notebook in {NOTEBOOKS} starts with {' or '.join(prefixes)}.")
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        # The course's scratch folder: a runner there resumes from its items, so a second run would time
        # (and show) a cached table; each notebook runs as a student's first run does.
        shutil.rmtree(NOTEBOOKS / "results", ignore_errors=True)
        start = time.perf_counter()
        where = {"metadata": {"path": str(NOTEBOOKS)}}
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources=where, store_widget_state=True)
        client.execute()
        times[path.stem] = time.perf_counter() - start
        page = render(path, nb)
        verdict = "ok" if times[path.stem] <= TARGET_EACH else f"over {TARGET_EACH:.0f} s"
        print(f"{path.stem:30s} {times[path.stem]:6.1f} s  {verdict}  → {page.relative_to(ROOT)}", flush=True)
    if prefixes:
        return
    total = sum(times.values())
    print(f"{'course':30s} {total:6.1f} s  {'ok' if total <= TARGET_TOTAL else f'over {TARGET_TOTAL:.0f} s'}")
    result = {**machine(), "seconds": times, "total": total, "target_each": TARGET_EACH, "target_total": TARGET_TOTAL}
    print(f"written: {write_result('notebooks', result)}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--offline"]:
        rewrite_offline()
    else:
        main(sys.argv[1:])
