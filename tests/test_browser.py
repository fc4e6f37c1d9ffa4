"""A real-browser test of the interactive explorer: JupyterLab in headless Chromium, driven by Playwright.

The explorer notebook is converted to ``.ipynb`` with ``SMOKE = True`` injected (``INTERACTIVE`` keeps its
default, True), served by a JupyterLab on a free localhost port with a random token, opened in headless Chromium
and run with *Run All Cells*. The test then waits for the explorer's plotly graph, reads its trace data, moves
the ``nu`` slider with the keyboard and asserts that the traces were redrawn without a traceback. It checks what a
teacher saw wrong, in the page: every control's label shown whole, the start/end markers of the ternary plot in its
legend, the training explorer's accuracy axis on [0, 1] before a run, and its command line with numbers of at most
6 significant digits, never broken inside a flag. Last it switches JupyterLab to its dark theme and checks that a
figure built afterwards (the kernel reads the theme JupyterLab saved) is dark. Screenshots go to
``build/browser/``: ``NAME-before.png`` and ``NAME-after.png`` (the game explorer around the slider move),
``NAME-ternary.png`` (its plot), ``NAME-training-before.png`` and ``NAME-training.png`` (the training explorer
before and after its run) and ``NAME-dark.png``; on failure the test saves a screenshot of the whole page there and
prints the tail of JupyterLab's log (which carries the kernel's stderr).

It needs Chromium at ``/usr/bin/chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it) and the
``playwright`` package (the ``dev`` extra); without either it is skipped with the reason. Playwright's own browser
download is not needed. Run it alone with ``.venv/bin/pytest -m browser``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jupyter_browser as jb
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPLORER_NOTEBOOK = ROOT / "notebooks" / "06_explorer.py"  # the notebook under test
PARAMETERS = {"SMOKE": True}  # injected by papermill; INTERACTIVE keeps the notebook's default (True)
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "browser"
EXPLORER = ".advdist-game-explorer"  # the CSS class of advdist_lab.widgets.GameExplorer's box
PLOT = f"{EXPLORER} .js-plotly-plot"  # plotly.js graph divs inside it (they carry `.data`)
SLIDER = "nu"  # the slider the test moves (its description)
TRAINING = ".advdist-training-explorer"  # the CSS class of advdist_lab.widgets.TrainingExplorer's box
TRAINING_PLOT = f"{TRAINING} .js-plotly-plot"
SMOKE_EPOCHS = 2  # the training explorer's epochs in the notebook's smoke parameters (TRAIN_EPOCHS)
TRAINING_RUN = 60  # seconds for its run (teacher pretraining included) to stream every epoch into the plot

LABELS = f"{EXPLORER} .widget-label, {TRAINING} .widget-label"  # the controls' descriptions
COMMAND = f"{TRAINING} .advdist-command"  # the training explorer's advdist-lab train line
DECIMAL = re.compile(r"(?<![\w.-])\d+\.\d+(?:e[-+]?\d+)?")
THEME_SETTINGS = ("lab-settings", "@jupyterlab", "apputils-extension", "themes.jupyterlab-settings")
DARK_CELL = """from advdist_lab.viz.common import use_theme
print("theme:", use_theme())  # what setup_notebook does: JupyterLab's theme, as saved in its user settings
display(GameExplorer(p_r=P_R, steps=200))"""
DARK_PAPER = "rgb(17,17,17)"  # plotly_dark's background, JupyterLab Dark's

# Bounded waits, in seconds; the whole test takes well under two minutes when the notebook's smoke run is quick.
LAB_START = 60
KERNEL_IDLE = 60
RUN_ALL = 90
REDRAW = 30

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def playwright_api() -> Any:
    """``playwright.sync_api``; skips the test when Chromium or the playwright package is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    return pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (dev extra)")


@pytest.fixture(scope="module")
def explorer_source() -> Path:
    """The notebook under test (a fixture, so a development copy of this module can point elsewhere)."""
    return EXPLORER_NOTEBOOK


@pytest.fixture(scope="module")
def lab(
    playwright_api: Any, explorer_source: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[jb.JupyterLab]:
    """A JupyterLab serving a temporary folder that holds the explorer notebook with smoke parameters."""
    if not explorer_source.exists():
        pytest.skip(f"{explorer_source.relative_to(ROOT)} missing")
    workdir = tmp_path_factory.mktemp("jupyterlab")
    root = workdir / "root"
    root.mkdir()
    jb.prepare_notebook(explorer_source, root, PARAMETERS)
    with jb.JupyterLab(root, workdir, startup_timeout=LAB_START) as server:
        yield server


@pytest.fixture
def page(playwright_api: Any) -> Iterator[Any]:
    """A fresh page in headless Chromium (the system's, launched without a sandbox as CI containers need)."""
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(30_000)
            yield context.new_page()
        finally:
            browser.close()


@contextmanager
def diagnostics(page: Any, lab: jb.JupyterLab, name: str) -> Iterator[None]:
    """On any failure: save a screenshot of the whole page and print the tail of JupyterLab's log."""
    try:
        yield
    except BaseException:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(SCREENSHOTS / f"{name}-failure.png"), full_page=True)
            print(f"failure screenshot: {SCREENSHOTS / f'{name}-failure.png'}")
        except Exception as exc:  # noqa: BLE001 - the original failure matters more
            print(f"no failure screenshot: {exc}")
        try:
            for error in jb.kernel_errors(page):
                print(f"--- kernel error ---\n{error}")
        except Exception:  # noqa: BLE001 - the page may be gone
            pass
        print(f"--- JupyterLab log (tail) ---\n{lab.log_tail()}")
        raise


def test_moving_a_slider_redraws_the_explorer_in_chromium(
    lab: jb.JupyterLab, page: Any, explorer_source: Path, playwright_api: Any
):
    name = explorer_source.stem
    start = time.perf_counter()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with diagnostics(page, lab, name):
        page.goto(lab.url(f"lab/tree/{name}.ipynb"))
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=LAB_START * 1000)
        jb.wait_for_kernel_idle(page, timeout=KERNEL_IDLE)
        jb.watch_kernel_errors(page)

        ok = jb.run_all_cells(page, timeout=RUN_ALL)
        assert ok and not jb.notebook_errors(page), f"the notebook failed in JupyterLab: {jb.notebook_errors(page)}"
        page.wait_for_selector(PLOT, state="visible", timeout=REDRAW * 1000)
        page.wait_for_function(
            "(selector) => Array.from(document.querySelectorAll(selector)).every((g) => (g.data || []).length > 0)",
            arg=PLOT,
            timeout=REDRAW * 1000,
        )
        before = jb.wait_for_stable_plot(page, PLOT, quiet=1.0, timeout=REDRAW)
        page.locator(EXPLORER).first.screenshot(path=str(SCREENSHOTS / f"{name}-before.png"))
        page.locator(PLOT).first.screenshot(path=str(SCREENSHOTS / f"{name}-ternary.png"))
        legend = jb.legend_names(page, PLOT)
        assert {"start", "end"} <= set(legend), f"the path markers are not in the legend: {legend}"

        readout = jb.nudge_slider(page, EXPLORER, SLIDER, "ArrowRight", presses=3)
        try:
            jb.wait_for_plot_change(page, PLOT, before, timeout=REDRAW)
        except playwright_api.TimeoutError:
            errors = "\n".join(jb.kernel_errors(page)) or "none"
            shown = page.locator(EXPLORER).first.inner_text()
            pytest.fail(
                f"moving {SLIDER} to {readout} did not redraw within {REDRAW} s.\n"
                f"The explorer shows:\n{shown}\nKernel errors:\n{errors}"
            )
        after = jb.wait_for_stable_plot(page, PLOT, quiet=1.0, timeout=REDRAW)  # every key press redraws once
        page.locator(EXPLORER).first.screenshot(path=str(SCREENSHOTS / f"{name}-after.png"))

        assert after != before, f"moving {SLIDER} to {readout} did not change the plot's traces"
        assert len(after) == len(before), "the explorer's plots appeared or disappeared"
        explorer_output = page.locator(".jp-OutputArea", has=page.locator(EXPLORER)).first.inner_text()
        assert "Traceback" not in explorer_output, explorer_output
        assert not jb.kernel_errors(page), jb.kernel_errors(page)
        assert not jb.notebook_errors(page), jb.notebook_errors(page)

        # the training explorer before a run: a sensible empty plot, whole labels, a short unbroken command line
        page.locator(TRAINING).first.scroll_into_view_if_needed()
        page.wait_for_function(
            "(selector) => { const g = document.querySelector(selector); return g && g._fullLayout; }",
            arg=TRAINING_PLOT,
            timeout=REDRAW * 1000,
        )
        page.locator(TRAINING).first.screenshot(path=str(SCREENSHOTS / f"{name}-training-before.png"))
        low, high = jb.axis_range(page, TRAINING_PLOT, "yaxis")
        assert 0 <= low < high and (high <= 1 or high == 100), f"the accuracy axis runs from {low} to {high}"
        labels = jb.truncated_labels(page, LABELS)
        assert labels["widths"] and not labels["cut"], f"cut labels (scroll/client width): {labels['cut']}"
        check_command(page)
        assert paper_colors(page, TRAINING_PLOT) == ["white"], "a light JupyterLab draws light figures"

        # the training explorer: Run trains in the kernel's background thread, epochs stream into the plot
        page.locator(f"{TRAINING} button", has_text="Run").first.click()
        page.wait_for_function(
            "([selector, epochs]) => Array.from(document.querySelectorAll(selector)).some("
            "(g) => (g.data || []).length > 0 && Array.from(g.data[0].x || []).length >= epochs)",
            arg=[TRAINING_PLOT, SMOKE_EPOCHS],
            timeout=TRAINING_RUN * 1000,
            polling=250,
        )
        page.wait_for_function(
            "(selector) => /finished: student/.test(document.querySelector(selector).innerText)",
            arg=TRAINING,
            timeout=TRAINING_RUN * 1000,
        )
        page.locator(TRAINING).first.screenshot(path=str(SCREENSHOTS / f"{name}-training.png"))
        student = jb.plot_data(page, TRAINING_PLOT)[0][0]
        assert len(student["x"]) == SMOKE_EPOCHS and all(0 <= y <= 1 for y in student["y"]), student
        assert jb.axis_range(page, TRAINING_PLOT, "yaxis") == [low, high]  # the axis stays put as epochs come
        check_command(page)
        assert not jb.kernel_errors(page), jb.kernel_errors(page)

        # JupyterLab Dark: JupyterLab saves the user's choice, the kernel reads it, later figures are dark
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        settings = lab.workdir.joinpath(*THEME_SETTINGS)
        deadline = time.monotonic() + REDRAW
        while not (settings.exists() and "Dark" in settings.read_text()) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert settings.exists() and "Dark" in settings.read_text(), f"JupyterLab saved no dark theme to {settings}"
        jb.run_new_cell(page, DARK_CELL, timeout=REDRAW)
        page.wait_for_function(
            "([selector, count]) => Array.from(document.querySelectorAll(selector))"
            ".filter((g) => g._fullLayout).length > count",
            arg=[PLOT, len(before)],
            timeout=REDRAW * 1000,
        )
        last_cell = page.locator(".jp-Notebook .jp-Cell").last
        assert "theme: dark" in last_cell.inner_text(), last_cell.inner_text()
        assert paper_colors(page, PLOT)[-1].replace(" ", "") == DARK_PAPER
        last_cell.locator(EXPLORER).screenshot(path=str(SCREENSHOTS / f"{name}-dark.png"))
        assert not jb.kernel_errors(page), jb.kernel_errors(page)
    print(f"{name}: browser test body took {time.perf_counter() - start:.1f} s; slider {SLIDER} now {readout}")
    print(f"label widths (text/box px): {', '.join(labels['widths'])}")


def check_command(page: Any) -> None:
    """The training explorer's command line: numbers of at most 6 significant digits, no flag broken."""
    command = page.locator(COMMAND).first.inner_text()
    assert command.startswith("advdist-lab train --method"), command
    long = [n for n in DECIMAL.findall(command) if len(n.lower().split("e")[0].replace(".", "").lstrip("0")) > 6]
    assert not long, f"numbers with more than 6 significant digits in {command!r}: {long}"
    broken = jb.broken_elements(page, f"{COMMAND} span")
    assert not broken, f"flags broken over two lines: {broken}"


def paper_colors(page: Any, selector: str) -> list[str]:
    """The background colour plotly drew each graph matching ``selector`` with."""
    return page.evaluate(
        "(selector) => Array.from(document.querySelectorAll(selector)).map((g) => g._fullLayout.paper_bgcolor)",
        selector,
    )
