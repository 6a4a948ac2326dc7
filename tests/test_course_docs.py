"""The rendered course (docs/course/*.html, `make course`) exists for every notebook and is current."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("bench_notebooks", ROOT / "benchmarks" / "bench_notebooks.py")
bench_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_notebooks)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_rendered_page_is_current_and_shows_outputs(path):
    page = ROOT / "docs" / "course" / f"{path.stem}.html"
    assert page.is_file(), f"{page.name} is missing: run `make course`"
    html = page.read_text()
    stamp = f"{bench_notebooks.SOURCE_MARK}: {bench_notebooks.source_hash(path)}"
    assert stamp in html.splitlines()[0], f"{page.name} was rendered from an older {path.name}: run `make course`"
    assert html.count("data:image/png;base64") >= 1, "the page carries its pictures"
    assert "all claims hold" in html, "the check-yourself cell ran and passed at real settings"
