"""Shared fixtures: the tiny deterministic models and clips of fep.testing; the browser (found, or
installed as root with apt), one JupyterLab and one Chromium for the whole run; and the course
notebooks, each executed once per run (tests/course_runs.py) and read by tests/test_notebooks.py and
tests/test_browser.py."""

import contextlib
import os
import shutil
import subprocess

import pytest
import torch

from fep.testing import TinyVideoNet, moving_square_clip, square_detector

pytest_plugins = ["pytester"]  # tests/test_browser.py runs pytest on a machine without a browser


@pytest.fixture(autouse=True)
def _two_threads():
    # The suite's speed budget is set for 2 threads; keep tests independent of the host.
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, threads))
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # Tests never reach the internet: loading Kinetics weights must not try download.pytorch.org. The
    # download tests (tests/test_models.py) lift this and serve checkpoints from 127.0.0.1.
    monkeypatch.setenv("FEP_OFFLINE", "1")


@pytest.fixture
def square_clip():
    return moving_square_clip(frames=8, size=32, square=8)


@pytest.fixture
def detector():
    return square_detector()


@pytest.fixture
def tiny_net():
    return TinyVideoNet()


# ---- the browser of tests/test_browser.py ----

BROWSER_USED = pytest.StashKey[str]()
BROWSER_NOTE = pytest.StashKey[str]()
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
HOW_TO_ENABLE = "install Chromium or Chrome (Debian: sudo apt-get install chromium) to run it"


def find_browser() -> str | None:
    """Path of an installed Chromium or Chrome, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def install_debian_chromium() -> str:
    """Install Debian's chromium with apt (root only); returns why it could not, or '' on success."""
    if os.name != "posix" or os.geteuid() != 0:
        return "not root"
    if shutil.which("apt-get") is None:
        return "no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return ""


@pytest.fixture(scope="session")
def browser_path(pytestconfig) -> str:
    path = find_browser()
    if path is None:
        why = install_debian_chromium()
        path = find_browser()
        if path is None:
            message = f"no Chromium/Chrome on this machine and it could not be installed ({why or 'not found'})"
            pytestconfig.stash[BROWSER_NOTE] = f"{message}; {HOW_TO_ENABLE}"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"Browser test under CI=true: {message}.")
            pytest.skip(f"Browser test skipped: {message}; {HOW_TO_ENABLE}.")
        pytestconfig.stash[BROWSER_NOTE] = "installed Debian chromium with apt for this run"
    pytestconfig.stash[BROWSER_USED] = path
    return path


@pytest.fixture(scope="session")
def lab_folder(tmp_path_factory):
    """JupyterLab's root for the run: notebooks/ (prepared copies of the course) beside results/."""
    from course_runs import lab_root

    return lab_root(tmp_path_factory.mktemp("lab"))


@pytest.fixture(scope="session")
def jupyterlab(lab_folder, browser_path):
    """The URL of one JupyterLab for the whole run (loopback, no token); always stopped."""
    from course_runs import jupyterlab_server

    with jupyterlab_server(lab_folder) as url:
        yield url


@pytest.fixture(scope="session")
def chromium(browser_path):
    """One headless Chromium for the whole run; each test opens pages of its own (course_runs.page_of)."""
    from course_runs import CHROMIUM_FLAGS, HANG_GUARD_S
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=HANG_GUARD_S * 1000)  # every expect waits on its condition, not on a clock
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def course_runs(request, lab_folder):
    """The course notebooks, each executed once: by JupyterLab's Run All in Chromium where there is a
    browser (two tabs at a time; notebook 02 stays open for its slider test), else by nbclient (the
    browser-only checks then skip, or fail under CI=true)."""
    from course_runs import LANES, ROOT, RUN_VIEWPORT, SLIDER_NOTEBOOK, CourseRuns, Lane, page_of

    course = sorted((ROOT / "notebooks").glob("*.ipynb"))
    try:
        browser, url = request.getfixturevalue("chromium"), request.getfixturevalue("jupyterlab")
    except pytest.skip.Exception:
        yield CourseRuns(course, lab_folder / "notebooks")
        return
    with contextlib.ExitStack() as stack:
        lanes = []
        for _ in range(LANES):
            errors = []
            page = stack.enter_context(page_of(browser, errors, RUN_VIEWPORT))
            page.goto(f"{url}/lab?reset")
            page.wait_for_function("() => window.jupyterapp !== undefined")
            page.evaluate("async () => { await window.jupyterapp.restored; }")
            lanes.append(Lane(page, errors))
        runs = CourseRuns(
            course, lab_folder / "notebooks", lanes, request.config.stash[BROWSER_USED],
            keep_open=SLIDER_NOTEBOOK,
        )  # fmt: skip
        yield runs
        runs.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say at the end of every run whether the browser tests ran, and with which browser (and the GPU ones)."""
    if config.stash.get(CUDA_NOTE, None):
        terminalreporter.write_line(config.stash[CUDA_NOTE])
    outcomes = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        count = sum("browser" in getattr(report, "keywords", ()) for report in terminalreporter.stats.get(outcome, []))
        if count:
            outcomes[outcome] = count
    if not outcomes:
        return
    counts = ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items())
    used = config.stash.get(BROWSER_USED, None)
    note = config.stash.get(BROWSER_NOTE, "")
    where = f" in {used}" if used else ""
    ran = "ran" if outcomes.get("passed") or outcomes.get("failed") else "did NOT run"  # errors: at setup
    terminalreporter.write_line(
        f"browser tests (JupyterLab in headless Chromium) {ran}{where}: {counts}" + (f"; {note}" if note else "")
    )


# ---- CUDA: the tests marked cuda run wherever a GPU is present and are left out (not skipped) elsewhere ----


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    gpu = [item for item in items if "cuda" in item.keywords]
    if gpu:
        config.hook.pytest_deselected(items=gpu)
        items[:] = [item for item in items if "cuda" not in item.keywords]
        config.stash[CUDA_NOTE] = f"{len(gpu)} cuda tests left out: no CUDA GPU here (benchmarks/device_check.sh)"


CUDA_NOTE = pytest.StashKey[str]()
