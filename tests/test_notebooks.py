"""The course notebooks are stored clean, are structured as the course promises, and show their pictures.

Each is executed once per run, top to bottom by a real kernel with FEP_FAST=1 (JupyterLab's Run All in
headless Chromium, or nbclient without a browser: tests/course_runs.py); this file checks the saved
notebook — a PNG per figure-producing cell, an animation per player cell, no figure printed as
``<Figure size ...>`` text, the claims and the exercise — and tests/test_browser.py checks what the page
showed. The executed copies land in tests/artifacts/notebooks/."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "00_quickstart", "01_gradients", "02_frequency_modulation", "03_extremal_perturbation", "04_experiments",
    "05_your_own_video", "06_sanity_checks_and_limits",
]  # fmt: skip


def test_the_seven_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} carries outputs"
            assert cell.get("execution_count") is None, f"{path.name} carries execution counts"


def _markdown(path) -> str:
    return "\n".join(
        "".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"
    )


def _tagged(nb: dict, tag: str) -> list[int]:
    return [i for i, c in enumerate(nb["cells"]) if tag in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_the_parts_a_course_needs(path):
    text = _markdown(path)
    head = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert "**Run time:**" in head and "**Prerequisites:**" in head, "run time and prerequisites at the top"
    for part in ("**Learning goals**", "**Summary.**", "**What to try next.**", "## References"):
        assert part in text, part
    exercises = [part.split("</details>", 1)[0] for part in text.split("**Exercise ")[1:]]
    assert len(exercises) >= 3, "at least three exercises"
    for kind in ("(predict, then verify)", "(what happens if)", "(self-checking)"):
        assert sum(e.split("\n", 1)[0].count(kind) for e in exercises) >= 1, f"an exercise {kind}"
    assert text.count("<details>") >= len(exercises), "every exercise's solution hidden behind a click"
    references = text[text.index("## References") :]
    assert "arXiv:2111.01215" in references, "every notebook cites the F-EP paper"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_check_yourself_cell_asserts_at_least_two_claims(path):
    nb = json.loads(path.read_text())
    (index,) = _tagged(nb, "check-yourself")
    assert "".join(nb["cells"][index]["source"]).count("assert ") >= 2
    (exercise,) = _tagged(nb, "exercise-check")
    assert "```python" in "".join(nb["cells"][exercise + 1]["source"]), "the self-check's solution follows it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_self_check_cell_shows_no_answer_and_every_solution_gives_its_reasoning(path):
    """The check cell names its exercise and the notebook objects it needs, nothing else: the expected value
    is in fep.course, so the page cannot give the answer away; each solution explains, not only computes."""
    import re

    from fep.course import SELF_CHECKS

    nb = json.loads(path.read_text())
    (exercise,) = _tagged(nb, "exercise-check")
    source = "".join(nb["cells"][exercise]["source"]).strip()
    found = re.fullmatch(r'check\("([\w-]+)", answer(?:, (\w+)=\2)*\)', source)
    assert found, f"{path.name}: the check cell carries more than its exercise's name: {source!r}"
    assert found.group(1) in SELF_CHECKS and found.group(1).startswith(path.stem[:2])
    for details in _markdown(path).split("<details>")[1:]:
        inside = details.split("</details>", 1)[0]
        prose = re.sub(r"```python.*?```", "", inside, flags=re.S).split("</summary>", 1)[-1]
        assert len(prose.split()) >= 25, f"{path.name}: a solution without its reasoning: {inside[:80]!r}"


# Besides the figures (FIGURE_CALLS, below): what else shows something a reader must interpret.
SHOWING_MORE = ("viz.animation_html(", "Explorer(", "LiveView(", "summary_table(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_and_table_is_followed_by_its_reading(path):
    """d2l's and the UvA notebooks' habit: after each picture or table, a paragraph that says what it shows."""
    cells = json.loads(path.read_text())["cells"]
    shown, unread = 0, []
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or not any(call in source for call in FIGURE_CALLS + SHOWING_MORE):
            continue
        shown += 1
        following = next(("".join(c["source"]) for c in cells[i + 1 :] if c["cell_type"] == "markdown"), "")
        if not following.lstrip().startswith("**Reading it."):
            unread.append(f"cell {i}: {source.splitlines()[-1][:60]}")
    assert shown > 0 or path.stem == "05_your_own_video"
    assert not unread, f"{path.name}: {len(unread)} of {shown} shown without a 'Reading it.' after: {unread}"


def test_notebooks_cite_the_methods_they_use():
    needs = {
        "01_gradients": ["1706.03825", "1703.01365", "1610.02391"],
        "03_extremal_perturbation": ["1910.08485", "2005.00375"],
        "04_experiments": ["1806.07421", "1810.03292"],
        "06_sanity_checks_and_limits": ["1810.03292"],
    }
    for path in NOTEBOOKS:
        text = _markdown(path)
        for arxiv in needs.get(path.stem, []):
            assert arxiv in text[text.index("## References") :], (path.name, arxiv)


def test_cells_call_fep_instead_of_defining_library_code():
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            lines = "".join(cell["source"]).splitlines()
            assert not any(line.lstrip().startswith(("def ", "class ")) for line in lines), path.name


def test_readme_lists_every_notebook_and_make_lab():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme
    for name in EXPECTED:
        assert f"{name}.ipynb" in readme, name


# ---- what a reader sees: every notebook executed once by a real kernel, its pictures counted ----

# The fep.viz functions that return a picture (a NotebookFigure), and IPython's display of a PNG file.
FIGURE_FUNCTIONS = (
    "frame_grid", "plot_spectrum", "plot_history", "plot_temporal_profile", "plot_frame_changes", "plot_curves",
    "overlay", "figure", "plot_fep_loop", "plot_gradient_pair", "plot_two_voxel_paths",
)  # fmt: skip
FIGURE_CALLS = tuple(f"viz.{name}(" for name in FIGURE_FUNCTIONS) + ("display(Image(",)


def test_figure_functions_are_every_picture_function_of_viz():
    import inspect

    from fep import viz

    returning_figures = {
        name
        for name in viz.__all__
        if inspect.isfunction(getattr(viz, name))
        and "NotebookFigure" in str(inspect.signature(getattr(viz, name)).return_annotation)
    }
    assert returning_figures == set(FIGURE_FUNCTIONS)


def cells_calling(nb, calls) -> int:
    return sum(cell.cell_type == "code" and any(call in cell.source for call in calls) for cell in nb.cells)


def printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def errors_in(nb) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_shows_its_figures(path, course_runs):
    """Run top to bottom once in a fresh kernel (FEP_FAST=1) from notebooks/ with the exercise's solution
    appended (JupyterLab's Run All then Save; nbclient where there is no browser), then count what the saved
    notebook shows: at least one PNG per figure-producing cell, an animation per player cell, no figure
    printed as text, the claims checked, the exercise unanswered and its solution passing."""
    import nbformat

    run = course_runs.of(path)
    nb, exercise = run.nb, run.exercise
    assert run.all_ran and not errors_in(nb), f"{path.name} ({run.executed_by}): {errors_in(nb)}"
    source = nbformat.read(path, as_version=4)
    expected = cells_calling(source, FIGURE_CALLS)
    expected_players = cells_calling(source, ("viz.animation_html(",))

    (check_cell,) = [c for c in nb.cells if "check-yourself" in c.metadata.get("tags", [])]
    assert "all claims hold" in printed(check_cell), printed(check_cell)
    assert "Not answered yet" in printed(nb.cells[exercise]), "the exercise ships unanswered"
    assert "✓ Right" in printed(run.solution_check), f"the solution passes its own check: {printed(run.solution_check)}"

    images, players, figure_texts = 0, 0, []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            images += "image/png" in data
            players += '<img src="data:image/png' in "".join(data.get("text/html", ""))
            text = "".join(data.get("text/plain", "") if "data" in output else output.get("text", ""))
            if "<Figure size" in text:
                figure_texts.append(text)
    assert not figure_texts, f"{path.name}: figures printed as text instead of shown: {figure_texts}"
    assert expected + expected_players > 0 or path.stem == "05_your_own_video"
    assert images >= expected, f"{path.name}: {images} images for {expected} figure-producing cells"
    assert players >= expected_players, f"{path.name}: {players} animations for {expected_players} player cells"


@pytest.mark.slow
def test_without_a_browser_nbclient_runs_a_notebook_the_same_way(tmp_path):
    """The fallback executor (a laptop without a browser): a prepared copy runs in a real kernel from its
    folder under FEP_FAST=1, the solution is appended, and figures come back as PNGs."""
    import nbformat
    from course_runs import execute_with_nbclient, open_widget_views, prepare

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import os\nfrom fep import viz\nfrom fep.course import check\nimport torch"),
        nbformat.v4.new_code_cell("print('fast', os.environ['FEP_FAST'], 'in', os.path.basename(os.getcwd()))"),
        nbformat.v4.new_code_cell("viz.frame_grid(torch.rand(3, 2, 8, 8), frames=range(2))"),
        nbformat.v4.new_markdown_cell("**Exercise 1.** <details>\n\n```python\nprint('other', 1 + 1)\n```\n</details>"),
        nbformat.v4.new_code_cell("answer = None  # the exercise"),
        nbformat.v4.new_code_cell('check("02-shortest-period", answer)', metadata={"tags": ["exercise-check"]}),
        nbformat.v4.new_markdown_cell("<details>\n\n```python\nanswer = 2 * 40 / 4\n```\n</details>"),
    ]
    nbformat.write(nb, tmp_path / "mini.ipynb")
    path, exercise = prepare(tmp_path / "mini.ipynb", tmp_path / "run")
    ran = execute_with_nbclient(path)
    assert exercise == 5 and len(ran.cells) == 11  # + the other exercise's solution, the solution, the check
    assert printed(ran.cells[1]) == "fast 1 in run\n"
    assert "image/png" in ran.cells[2].outputs[0].data
    assert printed(ran.cells[-4]) == "other 2\n"
    assert "Not answered yet" in printed(ran.cells[5]) and "✓ Right: 20.0." in printed(ran.cells[-2])
    assert open_widget_views(ran) == 0 and "open widget models:" in printed(ran.cells[-1])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_header_run_time_is_the_measured_one_and_within_a_minute(path):
    """The run time a notebook promises is the one `make course` measured at real settings."""
    import re

    measured = json.loads((ROOT / "results" / "performance" / "notebooks.json").read_text())["seconds"][path.stem]
    head = "".join(json.loads(path.read_text())["cells"][0]["source"])
    promised = float(re.search(r"\*\*Run time:\*\* about (\d+) s", head).group(1))
    assert measured <= 60, f"{path.stem} takes {measured:.0f} s at real settings, over a minute"
    assert 0.6 <= promised / measured <= 1.6, f"{path.stem} promises about {promised:g} s; it took {measured:.1f} s"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_explorer_is_also_shown_as_a_static_frame_grid(path):
    """A page read without a kernel still teaches: each explorer's content is also a static picture, in
    its own cell or in one of the next two code cells."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    sources = ["".join(c["source"]) for c in cells]
    missing = [
        s.splitlines()[0][:60]
        for i, s in enumerate(sources)
        if any(w in s for w in ("Explorer(", "LiveView("))
        and not any("viz.frame_grid(" in t for t in sources[max(0, i - 2) : i + 3])
    ]
    assert not missing, f"{path.name}: explorers without a static frame grid: {missing}"


# TeX commands that are operators, layout or functions, not symbols a reader must look up.
_TEX_WORDS = {
    "mathrm", "text", "operatorname", "mathbb", "big", "Big", "big(", "sum", "cos", "sqrt", "le", "ge", "times",
    "dots", "cdot", "in", "odot", "hat", "lVert", "rVert", "leftarrow", "frac", "quad", "log", "approx", "ll",
    "partial", "pi", "e",  # the derivative sign and the constants pi and e
}  # fmt: skip


def _symbols(tex: str) -> set[str]:
    """The letters and Greek names of one formula, with text, function names and subscripts' digits out."""
    import re

    tex = re.sub(r"\\(?:mathrm|text|operatorname)\{[^}]*\}", " ", tex)
    greek = set(re.findall(r"\\([A-Za-z]+)", tex)) - _TEX_WORDS
    latin = set(re.findall(r"(?<![\\A-Za-z])([A-Za-z])(?![A-Za-z])", re.sub(r"\\[A-Za-z]+", " ", tex)))
    return (greek | latin) - _TEX_WORDS


def test_one_notation_every_symbol_of_the_course_is_in_the_table_of_00():
    import re

    markdown = _markdown(ROOT / "notebooks" / "00_quickstart.ipynb")
    table = markdown[markdown.index("## Notation for the whole course") :].split("\n\n## ")[0]
    defined = set()
    for row in re.findall(r"^\| (.+?) \|", table, flags=re.M):
        for tex in re.findall(r"\$([^$]+)\$", row):
            defined |= _symbols(tex)
    assert {"x", "T", "h", "w", "H", "G", "nu", "rho", "lambda"} <= defined
    undefined = {}
    for path in NOTEBOOKS:
        text = re.sub(r"```.*?```", "", _markdown(path), flags=re.S)
        for tex in re.findall(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", text, flags=re.S):
            for symbol in _symbols(tex[0] or tex[1]) - defined:
                undefined.setdefault(symbol, path.stem)
    assert not undefined, f"symbols used but not in 00's notation table (symbol: first notebook): {undefined}"
