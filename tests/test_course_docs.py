"""The rendered course (docs/course/*.html, `make course`) exists for every notebook and is current."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DOCS = ROOT / "docs" / "course"
COURSE_BUDGET_BYTES = 4_000_000
# Anything a browser would fetch by itself: script, style sheet, font, image, frame, CSS url()/@import.
_FETCHED = re.compile(
    r"""<(?:script|img|iframe|source|video|audio)\b[^>]*\bsrc\s*=\s*["']([^"']+)"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']([^"']+)"""
    r"""|url\(\s*["']?([^"')]+)|@import\s+["']([^"']+)""",
    re.I,
)
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
    body = html.partition("<body")[2]
    pictures = len(re.findall(r"data:image/(?:png|jpeg);base64", body)) + body.count('"model_name":"ImageModel"')
    assert pictures >= 1, "the page carries its pictures (inline, or in a saved image widget)"
    assert "all claims hold" in html, "the check-yourself cell ran and passed at real settings"


def _fetched(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _FETCHED.finditer(text)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_rendered_page_loads_nothing_from_the_network(path):
    """Every script, style, font and image of a page is inline or in docs/course/assets/, and is there."""
    html = (DOCS / f"{path.stem}.html").read_text()
    fetched = [u for u in _fetched(html) if not u.startswith(("data:", "#"))]
    remote = [u for u in fetched if re.match(r"(https?:)?//", u)]
    assert not remote, f"{path.stem}.html loads {remote}: run `make course` (benchmarks/_offline.py rewrites them)"
    missing = [u for u in fetched if not (DOCS / u.split("?")[0]).is_file()]
    assert not missing, f"{path.stem}.html refers to {missing}, which docs/course/ lacks"
    assert "$" not in re.sub(r"<(pre|code|script|style)\b.*?</\1>", "", html, flags=re.S), "maths left as TeX"


def test_the_shared_assets_load_nothing_from_the_network():
    """The bundled CSS and widget manager fetch only files next to them (fonts), never a URL."""
    for asset in sorted((DOCS / "assets").glob("*.css")):
        remote = [u for u in _fetched(asset.read_text()) if re.match(r"(https?:)?//", u)]
        assert not remote, f"{asset.name} fetches {remote}"
    bundle = (DOCS / "assets" / "html-manager-embed.js").read_text()
    assert "__jupyter_widgets_assets_path__" in bundle, "the bundle resolves its fonts next to itself"
    assert "@import url(" not in bundle.replace("/* @import url(", ""), "the bundle imports a remote style"


def test_the_course_pages_and_their_assets_fit_the_budget():
    pages = sorted(DOCS.glob("*.html"))
    assets = [p for p in (DOCS / "assets").iterdir() if p.is_file()]
    used = sum(p.stat().st_size for p in pages + assets)
    assert len(pages) == len(NOTEBOOKS)
    assert used <= COURSE_BUDGET_BYTES, f"docs/course/ holds {used / 1e6:.2f} MB, over {COURSE_BUDGET_BYTES / 1e6} MB"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_rendered_page_shows_an_unfinished_progress_bar(path):
    html = (DOCS / f"{path.stem}.html").read_text()
    saved = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.S)
    models = json.loads(saved.group(1))["state"].values() if saved else []
    bars = [m["state"] for m in models if m["model_name"] in ("FloatProgressModel", "IntProgressModel")]
    unfinished = [(b["value"], b["max"]) for b in bars if b["value"] != b["max"]]
    assert not unfinished, f"{path.stem}.html shows progress bars stopped at (value, max) {unfinished}"


INSTRUCTOR_PARTS = ("**Timing.**", "**Key idea.**", "**Discussion questions.**", "**Common student mistakes.**",
                    "**Cells that need a live kernel.**")  # fmt: skip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_instructor_guide_covers_the_notebook(path):
    """docs/instructor.md has a section per notebook, titled as the notebook is, with every part filled."""
    guide = (ROOT / "docs" / "instructor.md").read_text()
    nb = json.loads(path.read_text())
    title = next(line[2:] for c in nb["cells"] if c["cell_type"] == "markdown"
                 for line in "".join(c["source"]).splitlines() if line.startswith("# "))  # fmt: skip
    sections = {s.splitlines()[0]: s for s in re.split(r"^## ", guide, flags=re.M)[1:]}
    assert title in sections, f"docs/instructor.md has no section '## {title}'"
    section = sections[title]
    missing = [p for p in INSTRUCTOR_PARTS if p not in section]
    assert not missing, f"the guide's section on {path.stem} lacks {missing}"
    questions = section.split("**Discussion questions.**")[1].split("**Common student mistakes.**")[0]
    assert len(re.findall(r"^\d\. ", questions, flags=re.M)) >= 2, "two discussion questions"
    total = re.search(r"\*\*total\*\* \| \*\*(\d+)\*\*", section)
    assert total, "a timing table with its total"
    timing = section.split("**Timing.**")[1].split("**Key idea.**")[0]
    minutes = [int(m) for m in re.findall(r"^\|(?! \*\*total).*\| (\d+) \|$", timing, flags=re.M)]
    assert sum(minutes) == int(total.group(1)), f"{path.stem}: sections sum to {sum(minutes)}, not {total.group(1)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_rendered_page_shows_a_self_checks_answer_before_its_solution_is_opened(path):
    """What the page shows with every ``<details>`` closed: the self-check's question, its cells and their
    output hold no expected value (fep.course keeps it), and the check says only that it waits."""
    from fep.course import SELF_CHECKS

    html = (DOCS / f"{path.stem}.html").read_text()
    closed = re.sub(r"<details\b.*?</details>", "", html, flags=re.S)
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", "", closed, flags=re.S))
    visible = " ".join(visible.replace("&quot;", '"').split())
    start = visible.index("(self-checking)")
    region = visible[start : visible.index("Summary.", start)]
    key = re.search(r'check\s*\(\s*"([\w-]+)"', region)
    assert key and key.group(1) in SELF_CHECKS, f"{path.stem}: the check cell is not shown"
    assert "Not answered yet" in region and "✓ Right" not in region, "the page shows the check waiting for an answer"
    try:
        expected = SELF_CHECKS[key.group(1)].expected()
    except TypeError:
        return  # computed from the notebook's own objects: its check cell (above) carries no value
    shown = {f"{expected:g}", f"{expected:.2f}", f"{expected:.3f}", f"{expected:.4f}", f"{100 * expected:.0f} %"}
    leaked = [s for s in shown if re.search(rf"(?<![\d.]){re.escape(s)}(?![\d])", region)]
    assert not leaked, f"{path.stem}: the self-check's answer {leaked} is visible before its solution is opened"


def test_the_widget_bundle_ships_without_the_css_source_maps_no_page_reads():
    spec = importlib.util.spec_from_file_location("_offline", ROOT / "benchmarks" / "_offline.py")
    offline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(offline)
    source_map = '{version:3,sources:["x.css"],mappings:"AAAA",sourcesContent:[".x{}"]}'
    js = 'a.push([e.id,".x{content:\\"}\\"}","",' + source_map + "]);b()\n//# sourceMappingURL=embed.js.map"
    assert offline.strip_source_maps(js) == 'a.push([e.id,".x{content:\\"}\\"}","",""]);b()\n'
    bundle = (DOCS / "assets" / "html-manager-embed.js").read_text()
    assert "{version:3,sources:[" not in bundle and not re.search(r"//# sourceMappingURL=\S+\s*$", bundle)
    assert offline.strip_source_maps(bundle) == bundle  # what `make course-assets` leaves, unchanged by a rerun


def test_pictures_are_quantised_to_256_colours_only_where_that_keeps_their_colours():
    import io

    import numpy as np
    from PIL import Image

    spec = importlib.util.spec_from_file_location("_offline", ROOT / "benchmarks" / "_offline.py")
    offline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(offline)
    ramp = np.stack(np.meshgrid(np.arange(256), np.arange(256)), -1)
    smooth = Image.fromarray(np.concatenate([ramp, ramp[..., :1]], -1).astype(np.uint8))  # 65 536 colours
    flat = Image.fromarray(np.where(ramp[..., :1] < 128, 255, 0).repeat(3, -1).astype(np.uint8))  # two colours
    assert not offline._faithful(smooth, smooth.quantize(256))
    assert offline._faithful(flat, flat.quantize(256))
    buffer = io.BytesIO()
    smooth.save(buffer, "PNG")
    kind, data = offline._smaller_encoding(buffer.getvalue())
    if kind == "png":  # then the full-colour PNG, never the banded 256-colour one
        assert offline._faithful(smooth, Image.open(io.BytesIO(data)))
