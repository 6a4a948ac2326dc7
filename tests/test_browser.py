"""The course in a real JupyterLab, driven by headless Chromium through Playwright.

The tests start their own JupyterLab (loopback only, no token, a free port). One runs a small notebook
with the FrequencyExplorer, drags the frame slider and the temporal-cutoff slider, and checks that the
kernel saw the new values (the status line is written by the kernel) and that the rendered picture
changed. The other opens a course notebook, runs all its cells and checks that its figures are
rendered as images in the output areas. Screenshots go to tests/artifacts/. The server is always stopped.

The browser: an installed Chromium or Chrome (Debian ``chromium``, ``chromium-browser``, Google Chrome);
as root with apt, Debian's chromium is installed on first use, as ``.ci/run`` does (never a downloaded
browser build). Where none can be had (a laptop without root), the tests are skipped with one line saying
how to enable them, except under ``CI=true``, where a missing browser fails them. ``make test`` prints
at its end whether the browser tests ran (tests/conftest.py).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
COURSE_NOTEBOOK = ROOT / "notebooks" / "02_frequency_modulation.ipynb"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(folder: Path) -> Path:
    cells = [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in CELLS]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = {"cells": cells, "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5}
    path = folder / "explorer.ipynb"
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, browser_path):
    tmp_path = tmp_path_factory.mktemp("lab")
    port = _free_port()
    _notebook(tmp_path)
    shutil.copy(COURSE_NOTEBOOK, tmp_path / COURSE_NOTEBOOK.name)
    # The whole course as in the repository: notebooks/ beside the committed results/ and data it reads.
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns("results", ".ipynb*"))
    (tmp_path / "results").symlink_to(ROOT / "results")
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
        f"--ServerApp.root_dir={tmp_path}", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ] + (["--allow-root"] if os.geteuid() == 0 else [])  # fmt: skip
    log = open(tmp_path / "jupyter.log", "w")
    server = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env={**os.environ, "FEP_FAST": "1"}
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError as err:
                if server.poll() is not None or time.monotonic() > deadline:
                    log_text = (tmp_path / "jupyter.log").read_text()[-2000:]
                    raise RuntimeError(f"JupyterLab did not start: {log_text}") from err
                time.sleep(0.2)  # polling the server's readiness
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _drag(page, handle, dx: float) -> None:
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


@contextmanager
def _page(browser_path: str, errors: list, viewport=(1280, 720)):
    """A page of a fresh headless Chromium; console and page errors are collected; always closed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page
        finally:
            browser.close()


def _open_and_run_all(page, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=60_000)
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()


@pytest.mark.browser
@pytest.mark.timeout(1200)  # the first browser test may install chromium (apt) before it starts
def test_frequency_explorer_in_jupyterlab(jupyterlab, browser_path):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    errors = []
    with _page(browser_path, errors, (1500, 1000)) as page:
        _open_and_run_all(page, f"{jupyterlab}/lab/tree/explorer.ipynb?reset")
        status = page.locator(".widget-html-content", has_text="concentration")
        expect(status).to_contain_text("frame 0", timeout=120_000)
        image = page.locator(".jupyter-widgets img").first
        expect(image).to_be_visible()
        before = image.get_attribute("src")
        page.screenshot(path=str(ARTIFACTS / "explorer_initial.png"))

        sliders = page.locator(".widget-hslider .noUi-handle")
        _drag(page, sliders.nth(0), 120)  # frame slider
        expect(status).not_to_contain_text("frame 0 ", timeout=30_000)  # the kernel re-rendered
        expect(image).not_to_have_attribute("src", before, timeout=30_000)
        after_frame = image.get_attribute("src")

        _drag(page, sliders.nth(1), 150)  # temporal cutoff slider
        expect(status).not_to_contain_text("ct = 0.25", timeout=30_000)
        expect(image).not_to_have_attribute("src", after_frame, timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "explorer_after_drag.png"))
        final = status.inner_text()
    assert "frame 0 " not in final and "ct = 0.25" not in final and "cs = 0.25" in final
    assert not errors, errors


@pytest.mark.browser
@pytest.mark.timeout(1200)
def test_course_notebook_shows_its_figures_in_jupyterlab(jupyterlab, browser_path):
    """Run All on a course notebook: its figures are images in the output areas, none printed as text."""
    import nbformat
    from playwright.sync_api import expect
    from test_notebooks import FIGURE_CALLS, cells_calling

    expected = cells_calling(nbformat.read(COURSE_NOTEBOOK, as_version=4), FIGURE_CALLS)
    assert expected >= 2
    ARTIFACTS.mkdir(exist_ok=True)
    errors = []
    # Tall enough that every cell is laid out: JupyterLab may skip rendering cells far off-screen.
    with _page(browser_path, errors, (1400, 6000)) as page:
        _open_and_run_all(page, f"{jupyterlab}/lab/tree/{COURSE_NOTEBOOK.name}?reset")
        # The explorer in the last code cell answers only after every cell above it has run.
        last = page.locator(".widget-html-content", has_text="concentration")
        expect(last).to_contain_text("frame 0", timeout=180_000)
        images = page.locator(".jp-OutputArea-output.jp-RenderedImage img")
        expect(images.nth(expected - 1)).to_be_visible(timeout=60_000)
        sizes = images.evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
        texts = page.locator(".jp-OutputArea-output").all_inner_texts()
        page.screenshot(path=str(ARTIFACTS / "course_notebook_run_all.png"), full_page=True)
    assert len(sizes) >= expected, sizes
    assert all(w >= 200 and h >= 100 for w, h in sizes), sizes  # decoded pictures, not broken icons
    assert not [t for t in texts if "<Figure size" in t], texts
    assert not errors, errors


COURSE = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.browser
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_every_course_notebook_after_run_all_in_jupyterlab(jupyterlab, browser_path, path):
    """Run All in JupyterLab (FEP_FAST=1): the check-yourself cell says its claims hold, every figure is a
    decoded picture, and a full-page screenshot is saved for a person to look at (tests/artifacts/)."""
    import nbformat
    from playwright.sync_api import expect
    from test_notebooks import FIGURE_CALLS, cells_calling

    expected = cells_calling(nbformat.read(path, as_version=4), FIGURE_CALLS)
    ARTIFACTS.mkdir(exist_ok=True)
    errors = []
    with _page(browser_path, errors, (1400, 9000)) as page:
        _open_and_run_all(page, f"{jupyterlab}/lab/tree/notebooks/{path.name}?reset")
        outputs = page.locator(".jp-OutputArea-output")
        expect(outputs.filter(has_text="all claims hold")).to_have_count(1, timeout=300_000)
        # The unanswered self-check is the last code cell: once it has printed, every cell has run.
        expect(outputs.filter(has_text="Not answered yet")).to_have_count(1, timeout=120_000)
        images = page.locator(".jp-OutputArea-output img")
        sizes = images.evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
        texts = outputs.all_inner_texts()
        page.screenshot(path=str(ARTIFACTS / f"course_{path.stem}.png"), full_page=True)
    assert len([1 for w, h in sizes if w >= 200 and h >= 100]) >= max(expected, 1), sizes
    assert not [t for t in texts if "<Figure size" in t or "Traceback" in t], texts
    assert not [e for e in errors if "favicon" not in e], errors


@pytest.mark.browser
@pytest.mark.timeout(1200)
def test_animation_player_works_offline(browser_path):
    """The overlay player of fep.viz: no request leaves the page, and play, pause and step work."""
    import torch
    from playwright.sync_api import expect

    from fep import viz

    frames = torch.rand(3, 6, 24, 24, generator=torch.Generator().manual_seed(0))
    saliency = torch.zeros(6, 24, 24)
    saliency[:, 8:16, 8:16] = 1
    html = viz.animation_html(frames, saliency, fps=20, boxes=torch.tensor([[8, 8, 16, 16]] * 6))
    requests, errors = [], []
    with _page(browser_path, errors) as page:
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("data:", "about:")) else None)
        page.set_content(f"<html><body>{html}</body></html>")
        label = page.locator(".fep-animation span")
        expect(label).not_to_have_text("t = 0", timeout=10_000)  # it plays on its own
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
