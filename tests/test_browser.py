"""The course in a real JupyterLab, driven by headless Chromium through Playwright.

One JupyterLab (loopback only, no token, a free port) and one Chromium serve the whole run
(tests/conftest.py). One test runs a small notebook with the FrequencyExplorer, drags the frame slider
and the temporal-cutoff slider, and checks that the kernel saw the new values (the status line is
written by the kernel) and that the rendered picture changed. The others read the one execution of
each course notebook (Run All then Save in JupyterLab, tests/course_runs.py) and check what the page
showed: decoded pictures, every widget rendered, no error. Screenshots go to tests/artifacts/.

The browser: an installed Chromium or Chrome (Debian ``chromium``, ``chromium-browser``, Google Chrome);
as root with apt, Debian's chromium is installed on first use, as ``.ci/run`` does (never a downloaded
browser build). Where none can be had (a laptop without root), the tests are skipped with one line saying
how to enable them, except under ``CI=true``, where a missing browser fails them. ``make test`` prints
at its end whether the browser tests ran (tests/conftest.py).
"""

import json
from pathlib import Path

import pytest
from course_runs import ARTIFACTS, page_of

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
CELLS = [
    "from fep import gradients as G\n"
    "from fep.models import load_model, preprocess\n"
    "from fep.samples import load_sample\n"
    "from fep.widgets import FrequencyExplorer",
    "clip, truth = load_sample(0)\n"
    "gradient = G.vanilla_gradient(load_model('toy'), preprocess(clip.frames, 'toy'), truth['label'])[0]\n"
    "explorer = FrequencyExplorer(clip.frames, gradient)\n"
    "explorer",
]


def _notebook(folder: Path) -> Path:
    cells = [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in CELLS]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = {"cells": cells, "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5}
    path = folder / "explorer.ipynb"
    path.write_text(json.dumps(nb))
    return path


def _drag(page, handle, dx: float) -> None:
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


def _open_and_run_all(page, url: str) -> None:
    """As a student: open the notebook, wait for the kernel, then Run > Run All Cells from the menu."""
    from playwright.sync_api import expect

    page.goto(url)
    page.wait_for_selector(".jp-Notebook")
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle")
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()


@pytest.mark.browser
def test_frequency_explorer_in_jupyterlab(browser_path, chromium, jupyterlab, lab_folder):
    from playwright.sync_api import expect

    _notebook(lab_folder)
    ARTIFACTS.mkdir(exist_ok=True)
    errors = []
    with page_of(chromium, errors, (1500, 1000)) as page:
        _open_and_run_all(page, f"{jupyterlab}/lab/tree/explorer.ipynb?reset")
        status = page.locator(".widget-html-content", has_text="concentration")
        expect(status).to_contain_text("frame 0")
        image = page.locator(".jupyter-widgets img").first
        expect(image).to_be_visible()
        before = image.get_attribute("src")
        page.screenshot(path=str(ARTIFACTS / "explorer_initial.png"))

        sliders = page.locator(".widget-hslider .noUi-handle")
        _drag(page, sliders.nth(0), 120)  # frame slider
        expect(status).not_to_contain_text("frame 0 ")  # the kernel re-rendered
        expect(image).not_to_have_attribute("src", before)
        after_frame = image.get_attribute("src")

        _drag(page, sliders.nth(1), 150)  # temporal cutoff slider
        expect(status).not_to_contain_text("ct = 0.25")
        expect(image).not_to_have_attribute("src", after_frame)
        page.screenshot(path=str(ARTIFACTS / "explorer_after_drag.png"))
        final = status.inner_text()
        page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.sessionContext.shutdown(); }")
    assert "frame 0 " not in final and "ct = 0.25" not in final and "cs = 0.25" in final
    assert not errors, errors


COURSE = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.browser
@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_every_course_notebook_after_run_all_in_jupyterlab(browser_path, course_runs, path):
    """Run All in JupyterLab (FEP_FAST=1): the check-yourself cell says its claims hold, every figure is a
    decoded picture, every widget is rendered (its models came from the kernel), and a full-page
    screenshot is saved for a person to look at (tests/artifacts/)."""
    import nbformat
    from test_notebooks import FIGURE_CALLS, cells_calling

    run = course_runs.of(path)
    shown = run.rendered
    assert shown is not None and run.executed_by.startswith("JupyterLab"), run.executed_by
    assert run.all_ran, f"Run All stopped at an error; see {shown.screenshot}"
    expected = cells_calling(nbformat.read(path, as_version=4), FIGURE_CALLS)
    views = run.open_widget_views()
    texts = shown.output_texts
    assert [t for t in texts if "all claims hold" in t], texts
    assert len([1 for w, h in shown.image_sizes if w >= 200 and h >= 100]) >= max(expected, 1), shown.image_sizes
    assert shown.widget_views == views, f"{shown.widget_views} widgets rendered of {views} open in the kernel"
    assert not [t for t in texts if "<Figure size" in t or "Traceback" in t or "Error displaying widget" in t], texts
    assert not [e for e in shown.errors if "favicon" not in e], shown.errors


@pytest.mark.browser
def test_animation_player_works_offline(browser_path, chromium):
    """The overlay player of fep.viz: no request leaves the page, and play, pause and step work."""
    import torch
    from playwright.sync_api import expect

    from fep import viz

    frames = torch.rand(3, 6, 24, 24, generator=torch.Generator().manual_seed(0))
    saliency = torch.zeros(6, 24, 24)
    saliency[:, 8:16, 8:16] = 1
    html = viz.animation_html(frames, saliency, fps=20, boxes=torch.tensor([[8, 8, 16, 16]] * 6))
    requests, errors = [], []
    with page_of(chromium, errors) as page:
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("data:", "about:")) else None)
        page.set_content(f"<html><body>{html}</body></html>")
        label = page.locator(".fep-animation span")
        expect(label).not_to_have_text("t = 0")  # it plays on its own
        page.locator("[data-do=play]").click()  # pause
        paused = label.inner_text()
        page.locator("[data-do=first]").click()
        expect(label).to_have_text("t = 0")
        page.locator("[data-do=next]").click()
        expect(label).to_have_text("t = 1")
        page.locator("[data-do=back]").click()
        page.locator("[data-do=back]").click()
        expect(label).to_have_text("t = 5")  # wraps around
        sources = {page.locator(".fep-animation img").get_attribute("src")}
        page.locator("[data-do=next]").click()
        sources.add(page.locator(".fep-animation img").get_attribute("src"))
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "animation_player.png"))
    assert not errors, errors
    assert paused.startswith("t = ") and len(sources) == 2
    assert requests == [], requests  # nothing fetched: no icon font, no CDN


@pytest.mark.parametrize("ci", ["false", "true"])
def test_without_any_browser_the_tests_skip_with_one_line_except_under_ci(pytester, monkeypatch, ci):
    """A laptop without root and without Chromium: skipped with how to enable it; under CI=true, a failure."""
    conftest = (Path(__file__).parent / "conftest.py").read_text()
    no_browser = "\n\nshutil.which = lambda name: None  # no browser on PATH\nos.geteuid = lambda: 1000  # not root\n"
    pytester.makeconftest(conftest + no_browser)
    pytester.makepyfile(
        test_browser="import pytest\n\n@pytest.mark.browser\ndef test_needs_a_browser(browser_path):\n    pass\n"
    )
    monkeypatch.setenv("CI", ci)
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider", "-o", "markers=browser: needs a browser")
    output = result.stdout.str()
    if ci == "true":
        result.assert_outcomes(errors=1)
        assert "Browser test under CI=true: no Chromium/Chrome on this machine" in output
    else:
        result.assert_outcomes(skipped=1)
        assert "could not be installed (not root)" in output and "sudo apt-get install chromium" in output
    assert "browser tests (JupyterLab in headless Chromium) did NOT run" in output  # the run's last word says so
