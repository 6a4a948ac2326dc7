"""Each course notebook is executed once per test run, and every test reads that one execution.

With a browser, the execution is what a student does: JupyterLab's Run All in headless Chromium, then
Save; the saved notebook is what tests/test_notebooks.py checks, and what the page showed (decoded
pictures, rendered widgets, console errors, a full-page screenshot) is what tests/test_browser.py checks.
Without a browser (a laptop without root), nbclient runs the same prepared copy in a real kernel and the
browser-only checks are skipped with one line (a failure under ``CI=true``, see tests/conftest.py).

The prepared copy is the notebook plus: the code of every other exercise's solution (so that none is
left broken), the self-checking exercise's solution, then that exercise's check again, so that a run
also shows the solution passing its own check; last, the ids of
the widget models still open in the kernel, so that the page can be held to rendering each of them
(progress bars close their own widgets when done).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
EXECUTED = ARTIFACTS / "notebooks"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
# Only a hang reaches this: every wait ends on its condition long before it on any machine (the slowest
# notebook runs in under 20 s here). It exists so that a stuck kernel fails with a message instead of
# using up CI's 90 minutes; it is not a speed budget, and no test has a time limit of its own.
HANG_GUARD_S = 900
# A tab runs its notebook at a laptop's size, then grows tall enough that JupyterLab lays out every cell of
# a course notebook (it may skip far off-screen ones) while the test looks at it: painting a page 9000 px
# tall all the time a notebook runs costs Chromium a third more CPU.
RUN_VIEWPORT = (1400, 1000)
COURSE_VIEWPORT = (1400, 9000)


@dataclass
class Rendered:
    """What the JupyterLab page showed after Run All."""

    image_sizes: list[tuple[int, int]]  # natural sizes of every <img> in the output areas
    output_texts: list[str]  # text of every output area (textContent: JupyterLab's windowing leaves cells it
    # has not laid out yet without an innerText, so a read right after scrolling could miss them)
    widget_views: int  # output areas holding a rendered ipywidgets view
    errors: list[str]  # console and page errors while the notebook was open
    screenshot: Path


OPEN_WIDGETS = "open widget models:"
_OPEN_WIDGETS_CELL = f"from comm import get_comm_manager\n\nprint({OPEN_WIDGETS!r}, *sorted(get_comm_manager().comms))"


@dataclass
class ExecutedNotebook:
    source: Path  # the course notebook in notebooks/
    nb: object  # nbformat.NotebookNode of the prepared copy, executed (as saved by JupyterLab, or by nbclient)
    executed_by: str
    exercise: int  # index of the self-checking exercise's cell; the appended cells are the last three
    rendered: Rendered | None = None  # None when nbclient ran it (no browser)
    all_ran: bool = True  # JupyterLab's Run All reported every cell as run without an error

    @property
    def solution_check(self):
        """The appended second run of the exercise's check, after its solution."""
        return self.nb.cells[-2]

    def open_widget_views(self) -> int:
        """Outputs showing a widget whose model is still open in the kernel at the end."""
        return open_widget_views(self.nb)


def open_widget_views(nb) -> int:
    text = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []) if o.get("output_type") == "stream")
    if OPEN_WIDGETS not in text:
        return 0  # the run stopped before the last cell
    open_ids = set(text.split(OPEN_WIDGETS, 1)[1].split())
    views = [o.data[WIDGET_VIEW] for c in nb.cells for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {})]
    return sum(view["model_id"] in open_ids for view in views)


def solution_code(markdown: str) -> list[str]:
    """The Python blocks inside a markdown cell's ``<details>`` (an exercise's solution or discussion)."""
    blocks = []
    for details in markdown.split("<details>")[1:]:
        inside = details.split("</details>", 1)[0]
        blocks += [part.split("```", 1)[0] for part in inside.split("```python")[1:]]
    return blocks


def prepare(source: Path, folder: Path) -> tuple[Path, int]:
    """Copy ``source`` into ``folder`` with every exercise's solution, the self-check's solution and check,
    and the open widgets appended."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    (exercise,) = [i for i, c in enumerate(nb.cells) if "exercise-check" in c.metadata.get("tags", [])]
    (solution,) = solution_code(nb.cells[exercise + 1].source.split("</details>", 1)[0] + "</details>")
    markdown = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and i != exercise + 1]
    others = [block for _, c in markdown for block in solution_code(c.source)]
    nb.cells += [
        *(nbformat.v4.new_code_cell(block) for block in others),
        nbformat.v4.new_code_cell(solution),
        nbformat.v4.new_code_cell(nb.cells[exercise].source),
        nbformat.v4.new_code_cell(_OPEN_WIDGETS_CELL),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / source.name
    nbformat.write(nb, path)
    return path, exercise


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab_server(root: Path):
    """A JupyterLab on 127.0.0.1 (no token, a free port) serving ``root``, with ``window.jupyterapp``
    exposed so that a test can wait for Run All's own promise; always stopped. Yields its URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
        f"--ServerApp.root_dir={root}", "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ] + (["--allow-root"] if os.geteuid() == 0 else [])  # fmt: skip
    log_path = root / "jupyter.log"
    with open(log_path, "w") as log:
        env = {**os.environ, "FEP_FAST": "1", "OMP_NUM_THREADS": str(KERNEL_THREADS)}  # the kernels inherit it
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env)
        try:
            _wait_until_serving(f"http://127.0.0.1:{port}", server, log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_serving(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError as err:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start: {log_path.read_text()[-2000:]}") from err
            time.sleep(0.2)  # polling the server's readiness


@contextmanager
def page_of(browser, errors: list, viewport=(1280, 720)):
    """A fresh page (its own context) of the session's Chromium; console and page errors are collected."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        page = context.new_page()
        page.set_default_timeout(HANG_GUARD_S * 1000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page
    finally:
        context.close()


# Open a notebook in the running JupyterLab, Run All (its command resolves once every cell has run, or
# false at the first error), then Save, as a student would from the menus. It returns at once; the page
# records the outcome in window.fepRun, which the lanes below poll.
_START_RUN_ALL_AND_SAVE = """(path) => {
    window.fepRun = {done: false};
    (async () => {
        const app = window.jupyterapp;
        const panel = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
        await panel.context.ready;
        await panel.sessionContext.ready;
        app.shell.activateById(panel.id);
        const ok = await app.commands.execute('notebook:run-all-cells');
        await app.commands.execute('docmanager:save');
        window.fepRun = {done: true, ok: ok === true};
    })().catch(err => { window.fepRun = {done: true, ok: false, error: String(err)}; });
}"""
# Back to the top of the notebook (Run All leaves it scrolled to the last cell), as a reader starts.
_SCROLL_TO_TOP = """() => {
    const outer = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
    if (outer) outer.scrollTop = 0;
}"""
_CLOSE_AND_SHUT_DOWN = """async () => {
    const panel = window.jupyterapp.shell.currentWidget;
    await panel.sessionContext.shutdown();
    panel.dispose();
}"""
# The output areas of the notebook on screen (JupyterLab hides, but keeps, the other panels).
VISIBLE_OUTPUTS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_OUTPUT_TEXTS = "(outputs) => [...document.querySelectorAll(outputs)].map(o => o.textContent)"
# Every widget output has a rendered view, and every picture in the outputs is decoded.
_SETTLED = """([outputs, views]) => {
    const rendered = [...document.querySelectorAll(outputs)].filter(o => o.querySelector('.jupyter-widgets'));
    const images = [...document.querySelectorAll(outputs + ' img')];
    return rendered.length >= views && images.every(i => i.complete && i.naturalWidth > 0);
}"""
_SEEN = """(outputs) => ({
    images: [...document.querySelectorAll(outputs + ' img')].map(i => [i.naturalWidth, i.naturalHeight]),
    widget_views: [...document.querySelectorAll(outputs)].filter(o => o.querySelector('.jupyter-widgets')).length,
})"""
# Two notebooks at a time, in two JupyterLab tabs, each kernel with half the cores for torch: a notebook
# spends much of its time in single-threaded Python (imports, plotting), so two lanes keep a 2-core
# machine busy (the course: 43 s against 67 s one after the other, measured here with nbclient).
LANES = 2
KERNEL_THREADS = max(1, (os.cpu_count() or 2) // LANES)
# Run last and left open with its kernel, for the test that drags its FrequencyExplorer's sliders.
SLIDER_NOTEBOOK = ROOT / "notebooks" / "02_frequency_modulation.ipynb"


@dataclass
class Lane:
    """One JupyterLab tab of the run: it runs one notebook at a time."""

    page: object
    errors: list  # console and page errors since the current notebook started
    running: tuple | None = None  # (source, prepared path, exercise index) while its Run All runs
    showing: Path | None = None  # the notebook left open, its kernel alive


@dataclass
class CourseRuns:
    """Executes the course notebooks once, all at the first test that asks, then hands out the results."""

    sources: list[Path]  # the course notebooks, in notebooks/
    folder: Path  # the prepared copies live here (JupyterLab's root_dir/notebooks when a browser is used)
    lanes: list[Lane] = field(default_factory=list)  # JupyterLab tabs; none: nbclient runs them
    browser_name: str = ""
    keep_open: Path | None = None  # left open after its run, for a test that drives its widgets
    done: dict = field(default_factory=dict)  # source -> ExecutedNotebook, or the exception it raised

    def of(self, source: Path) -> ExecutedNotebook:
        if not self.done:
            self._execute_all()
        if isinstance(self.done[source], Exception):
            raise self.done[source]
        return self.done[source]

    def page_on(self, source: Path) -> tuple:
        """``(page, errors)`` of the tab where ``source`` is still open after its run, kernel alive."""
        run = self.of(source)
        assert run.all_ran, f"{source.name} did not run to the end: see {run.rendered.screenshot}"
        (lane,) = [lane for lane in self.lanes if lane.showing == source]
        return lane.page, lane.errors

    def close(self) -> None:
        """Close every notebook left open and shut its kernel down."""
        for lane in self.lanes:
            if lane.showing is not None:
                lane.page.evaluate(_CLOSE_AND_SHUT_DOWN)
                lane.showing = None

    def _execute_all(self) -> None:
        if not self.lanes:
            for source in self.sources:
                self._keep(source, self._with_nbclient)
            return
        queue = sorted(self.sources, key=lambda s: s == self.keep_open)  # the one kept open runs last
        while queue or any(lane.running for lane in self.lanes):
            for lane in self.lanes:
                if lane.running is None and queue:
                    self._keep(queue[0], lambda source, lane=lane: self._start(lane, source))
                    queue.pop(0)
                elif lane.running is not None and lane.page.evaluate("() => window.fepRun.done"):
                    source = lane.running[0]
                    self._keep(source, lambda _, lane=lane: self._finish(lane))
            time.sleep(0.2)  # polling the tabs' Run All, not synchronising on time

    def _keep(self, source: Path, step) -> None:
        """Run one step for ``source``; its result or its exception is what the tests will see."""
        import nbformat

        try:
            run = step(source)
        except Exception as err:  # kept, so that every test of that notebook reports it
            self.done[source] = err
            for lane in self.lanes:
                lane.running = None if lane.running and lane.running[0] == source else lane.running
            return
        if isinstance(run, ExecutedNotebook):
            self.done[source] = run
            EXECUTED.mkdir(parents=True, exist_ok=True)
            nbformat.write(run.nb, EXECUTED / source.name)  # for a person to open and look at

    def _with_nbclient(self, source: Path) -> ExecutedNotebook:
        path, exercise = prepare(source, self.folder)
        return ExecutedNotebook(source, execute_with_nbclient(path), "nbclient", exercise)

    def _start(self, lane: Lane, source: Path) -> None:
        path, exercise = prepare(source, self.folder)
        lane.errors.clear()
        lane.running = (source, path, exercise)
        lane.page.evaluate(_START_RUN_ALL_AND_SAVE, f"{path.parent.name}/{path.name}")

    def _finish(self, lane: Lane) -> ExecutedNotebook:
        import nbformat

        (source, path, exercise), page = lane.running, lane.page
        lane.running, lane.showing = None, source
        outcome = page.evaluate("() => window.fepRun")
        nb = nbformat.read(path, as_version=4)
        page.set_viewport_size(dict(zip(("width", "height"), COURSE_VIEWPORT, strict=True)))
        page.evaluate(_SCROLL_TO_TOP)
        # Widgets render once their models arrive, pictures once decoded: wait for both before looking.
        page.wait_for_function(_SETTLED, arg=[VISIBLE_OUTPUTS, open_widget_views(nb)])
        seen = page.evaluate(_SEEN, VISIBLE_OUTPUTS)
        rendered = Rendered(
            image_sizes=[tuple(size) for size in seen["images"]],
            output_texts=page.evaluate(_OUTPUT_TEXTS, VISIBLE_OUTPUTS),
            widget_views=seen["widget_views"],
            errors=list(lane.errors) + ([outcome["error"]] if "error" in outcome else []),
            screenshot=ARTIFACTS / f"course_{source.stem}.png",
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(rendered.screenshot), full_page=True)
        page.set_viewport_size(dict(zip(("width", "height"), RUN_VIEWPORT, strict=True)))
        if source != self.keep_open:
            page.evaluate(_CLOSE_AND_SHUT_DOWN)
            lane.showing = None
        by = f"JupyterLab Run All in {self.browser_name}"
        return ExecutedNotebook(source, nb, by, exercise, rendered, all_ran=outcome["ok"])


def execute_with_nbclient(path: Path):
    """Run ``path`` top to bottom in a fresh kernel from its folder (FEP_FAST=1), as JupyterLab would."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=HANG_GUARD_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute(env={**os.environ, "FEP_FAST": "1"})  # the kernel's environment
    return nb


def lab_root(folder: Path) -> Path:
    """JupyterLab's root: ``notebooks/`` (the prepared copies go there) beside the committed results/."""
    (folder / "notebooks").mkdir(parents=True, exist_ok=True)
    (folder / "results").symlink_to(ROOT / "results")
    return folder
