"""The course notebooks are stored clean and are structured as the course promises.

They are *executed* by nbmake in `make test` (pytest --nbmake notebooks, with FEP_FAST=1)."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "00_quickstart", "01_gradients", "02_frequency_modulation", "03_extremal_perturbation", "04_experiments",
    "05_your_own_video",
]  # fmt: skip


def test_the_six_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} carries outputs"
            assert cell.get("execution_count") is None, f"{path.name} carries execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_goals_exercise_with_hidden_solution_and_summary(path):
    text = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
    assert "**Learning goals**" in text
    assert "**Exercise.**" in text and "<details>" in text
    assert "**Summary.**" in text


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
