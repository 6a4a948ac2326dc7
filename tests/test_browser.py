"""The course in a real JupyterLab, driven by headless Chromium through Playwright.

One JupyterLab (loopback only, no token, a free port) and one Chromium serve the whole run
(tests/conftest.py), and each course notebook is executed there once: Run All, then Save
(tests/course_runs.py). These tests check what the page showed: decoded pictures, every widget rendered,
no error; and, on notebook 02's FrequencyExplorer with its kernel still running, that dragging the frame
slider and the temporal-cutoff slider makes the kernel write a new status line and picture (the status
line is written by the kernel). Screenshots go to tests/artifacts/.

The browser: an installed Chromium or Chrome (Debian ``chromium``, ``chromium-browser``, Google Chrome);
as root with apt, Debian's chromium is installed on first use, as ``.ci/run`` does (never a downloaded
browser build). Where none can be had (a laptop without root), the tests are skipped with one line saying
how to enable them, except under ``CI=true``, where a missing browser fails them. ``make test`` prints
at its end whether the browser tests ran (tests/conftest.py).
"""

import re
from pathlib import Path

import pytest
from course_runs import ARTIFACTS, SLIDER_NOTEBOOK, VISIBLE_OUTPUTS, page_of

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _drag(page, handle, dx: float) -> None:
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


@pytest.mark.browser
def test_the_course_frequency_explorer_answers_its_sliders_in_jupyterlab(browser_path, course_runs):
    """The FrequencyExplorer of notebook 02, nested in a VBox under a title, after its Run All: dragging
    the frame slider and then the temporal-cutoff slider makes the kernel write a new status line and a
    new picture each time."""
    from playwright.sync_api import expect

    page, errors = course_runs.page_on(SLIDER_NOTEBOOK)
    before_drags = len(errors)
    explorer = page.locator(VISIBLE_OUTPUTS).filter(has=page.locator(".widget-html-content", has_text="concentration"))
    expect(explorer).to_have_count(1)
    expect(explorer.locator(".widget-vbox .widget-vbox").first).to_be_visible()  # the explorer inside a box
    expect(explorer.locator(".widget-html-content", has_text="The input gradient of the toy model")).to_be_visible()
    status = explorer.locator(".widget-html-content", has_text="concentration")
    expect(status).to_contain_text("frame 0")
    # Where the run left the spatial cutoff (an exercise's solution may have moved it): dragging the
    # temporal one must not change it.
    spatial = re.search(r"spatial cutoff [\d.]+", status.inner_text()).group(0)
    image = explorer.locator(".jupyter-widgets img").first
    expect(image).to_be_visible()
    before = image.get_attribute("src")
    ARTIFACTS.mkdir(exist_ok=True)
    explorer.screenshot(path=str(ARTIFACTS / "explorer_initial.png"))

    sliders = explorer.locator(".widget-hslider")
    _drag(page, sliders.nth(0).locator(".noUi-handle"), 120)  # frame slider
    frame = sliders.nth(0).locator(".widget-readout").inner_text()
    expect(status).to_contain_text(f"frame {frame} ")  # the kernel re-rendered at the slider's last value
    expect(image).not_to_have_attribute("src", before)
    after_frame = image.get_attribute("src")

    _drag(page, sliders.nth(1).locator(".noUi-handle"), 150)  # temporal cutoff slider
    cutoff = sliders.nth(1).locator(".widget-readout").inner_text()
    expect(status).to_contain_text(f"temporal cutoff {cutoff}")
    expect(image).not_to_have_attribute("src", after_frame)
    explorer.screenshot(path=str(ARTIFACTS / "explorer_after_drag.png"))
    final = status.inner_text()
    assert frame != "0" and f"temporal cutoff {cutoff}" in final and spatial in final, final
    assert errors[before_drags:] == [], errors[before_drags:]


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


_EVERY_VIEW_DRAWN = """() => Array.from(
    document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')
).every(s => s.previousElementSibling && s.previousElementSibling.classList.contains('widget-subarea')
             && s.previousElementSibling.childElementCount > 0)"""
_FORMULAS_DRAWN = "() => [...document.querySelectorAll('math')].filter(m => m.getBoundingClientRect().width > 0).length"
COURSE_PAGES = sorted((ROOT / "docs" / "course").glob("*.html"))


@pytest.mark.browser
@pytest.mark.parametrize("path", COURSE_PAGES, ids=lambda p: p.stem)
def test_rendered_course_page_works_offline(browser_path, chromium, path):
    """Opened from disk with every network request refused: maths drawn, widgets drawn, nothing fetched."""
    import re

    html = path.read_text()
    formulas = html.count("<math ")
    remote, errors = [], []
    with page_of(chromium, errors) as page:
        def only_local(route):
            url = route.request.url
            if url.startswith(("file:", "data:", "about:", "blob:")):
                route.continue_()
            else:
                remote.append(url)
                route.abort()

        page.route("**/*", only_local)
        page.goto(path.as_uri(), wait_until="load")
        # The widget manager draws each saved view into a sub-area just before the view's script.
        page.wait_for_function(_EVERY_VIEW_DRAWN)
        text = page.inner_text("body")
        ARTIFACTS.mkdir(exist_ok=True)
        if formulas:
            page.locator("math").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"offline_{path.stem}.png"))
        drawn = page.evaluate(_FORMULAS_DRAWN)
    assert remote == [], remote
    assert not [e for e in errors if "favicon" not in e], errors
    assert not re.findall(r"\$[^$\n]+\$", text), "raw TeX in the visible text"
    assert drawn == formulas, f"{drawn} of {formulas} formulas drawn"


# The section of a rendered page under a heading: its decoded pictures and its printed text.
_SECTION = """(title) => {
    const heading = [...document.querySelectorAll('h2')].find(h => h.textContent.startsWith(title));
    if (!heading) return null;
    const cell = heading.closest('.jp-Cell');
    const pictures = [], text = [];
    for (let c = cell.nextElementSibling; c && !c.querySelector('h2'); c = c.nextElementSibling) {
        c.querySelectorAll('.jp-OutputArea img').forEach(i => pictures.push(i.naturalWidth));
        c.querySelectorAll('.jp-OutputArea pre').forEach(p => text.push(p.innerText));
    }
    return {pictures, text: text.join('\\n')};
}"""


_CLAIMS_PRINTED = "() => [...document.querySelectorAll('pre')].some(p => p.innerText.includes('all claims hold'))"


@pytest.mark.browser
def test_the_rendered_low_pass_page_shows_g_next_to_g_hat_and_the_same_start_comparison(browser_path, chromium):
    """03's page, offline: the G / Ĝ figure is drawn, and in the same-start comparison F-EP's printed
    temporal difference is at most 0.7 of 3D-EP's and closer to the ground truth's own."""
    import re

    errors = []
    with page_of(chromium, errors, viewport=(1280, 900)) as page:
        page.route("**/*", lambda route: route.abort() if route.request.url.startswith("http") else route.continue_())
        page.goto((ROOT / "docs" / "course" / "03_extremal_perturbation.html").as_uri(), wait_until="load")
        pair = page.evaluate(_SECTION, "G and Ĝ")
        same = page.evaluate(_SECTION, "3D-EP and F-EP from the same start")
        page.locator("h2", has_text="G and Ĝ").first.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "offline_03_g_and_g_hat.png"))
        checked = page.evaluate(_CLAIMS_PRINTED)
    assert pair and pair["pictures"] and min(pair["pictures"]) > 0, f"no G / Ĝ picture drawn: {pair}"
    assert "|Ĝ|" in pair["text"], pair["text"]
    assert same and len(same["pictures"]) >= 2 and min(same["pictures"]) > 0, f"the comparison's pictures: {same}"
    td = {m: float(v) for m, v in re.findall(r"^(3D-EP|F-EP)\s+temporal difference ([\d.]+)", same["text"], re.M)}
    truth = float(re.search(r"ground truth's own temporal difference ([\d.]+)", same["text"]).group(1))
    assert td["F-EP"] <= 0.7 * td["3D-EP"] and abs(td["F-EP"] - truth) < abs(td["3D-EP"] - truth), (td, truth)
    assert checked, "the check-yourself cell printed 'all claims hold' on the rendered page"
    assert not [e for e in errors if "favicon" not in e and "ERR_FAILED" not in e], errors


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
