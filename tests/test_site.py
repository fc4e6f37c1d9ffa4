"""The course website (``make site``, :mod:`advdist_lab.site`): a page per executed notebook, built offline with
Sphinx and MyST-NB from the smoke copies (``build/smoke/``), without running them.

* :func:`advdist_lab.site.pages.site_notebook` on notebooks made here: one parameters cell, figures drawn by the
  site's one plotly.js, no widget state, the title first;
* the site of the smoke copies: every notebook a page in the course's order, pages of reasonable size, no script
  or style from another host, a second build runs no notebook;
* in Chromium (marker ``browser``): three pages show their math typeset (no raw ``$$``, ``\\(`` or ``\\[`` left in
  the visible text) and their plotly figures drawn; screenshots in ``build/browser/site-*.png``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest
from smoke_copies import SmokeCopies

from advdist_lab import course
from advdist_lab.site import build_site
from advdist_lab.site.pages import PLOTLY_JS, PLOTLY_MIME, WIDGET_MIME, page_title, site_notebook

ROOT = Path(__file__).resolve().parent.parent
SMOKE_DIR = ROOT / "build" / "smoke"
SOURCES = course.discover(ROOT / "notebooks")
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "browser"
BROWSER_PAGES = ("01_kd_vs_ngan", "03_adim_equilibrium", "05_gradient_variance")
TYPESET = "window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0"  # MathJax 2 has typeset the page
MAX_PAGE_BYTES = 2_000_000  # the notebooks' own HTML copies are 5-15 MB, plotly.js embedded in each


def _executed_notebook() -> dict:
    """A small executed notebook as papermill leaves it: parameters, injected parameters, a figure (with the
    notebook renderer's copy of plotly.js beside it), a widget, Markdown with math."""
    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[0.1, 0.2, 0.4], name="student"))
    parameters = nbformat.v4.new_code_cell("SMOKE = False\nSEED = 0", metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell("# Parameters\nSMOKE = True\n", metadata={"tags": ["injected-parameters"]})
    title = nbformat.v4.new_markdown_cell("# 99 · A test page\n\nThe loss $$KL(p_r\\|p_s)$$ falls.")
    plotted = nbformat.v4.new_code_cell("fig", execution_count=3)
    plotted.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<script>window.PlotlyConfig = {};</script>"}),
        nbformat.v4.new_output(
            "display_data", data={PLOTLY_MIME: json.loads(figure.to_json()), "text/html": "<div>big copy</div>"}
        ),
        nbformat.v4.new_output("display_data", data={WIDGET_MIME: {"model_id": "x"}, "text/plain": "Slider(...)"}),
    ]
    plotted.metadata["execution"] = {"iopub.execute_input": "2026-12-06T00:00:00Z"}
    notebook = nbformat.v4.new_notebook(cells=[parameters, injected, title, plotted])
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return json.loads(nbformat.writes(notebook))


# ------------------------------------------------------------------------------------------------------
# pages
# ------------------------------------------------------------------------------------------------------


def test_a_page_has_one_parameters_cell_saying_what_its_run_changed() -> None:
    page = site_notebook(_executed_notebook(), "99_test")
    tags = [cell["metadata"].get("tags", []) for cell in page["cells"]]
    assert ["injected-parameters"] not in tags
    parameters = next(c for c in page["cells"] if "parameters" in c["metadata"].get("tags", []))
    assert parameters["source"].startswith("SMOKE = False\nSEED = 0")
    assert parameters["source"].endswith("# This page ran with: SMOKE = True")


def test_a_page_draws_its_figures_with_the_sites_plotly_and_keeps_no_widgets() -> None:
    page = site_notebook(_executed_notebook(), "99_test")
    outputs = page["cells"][-1]["outputs"]
    assert len(outputs) == 2  # the copy of plotly.js is gone
    html = outputs[0]["data"]["text/html"]
    assert list(outputs[0]["data"]) == ["text/html"]
    assert 'id="99_test-figure-1"' in html and "Plotly.newPlot" in html and '"y":[0.1,0.2,0.4]' in html
    assert "PlotlyConfig" not in html and len(html) < 20_000  # the figure's data, not plotly.js
    assert "".join(outputs[1]["data"]["text/plain"]) == "Slider(...)" and list(outputs[1]["data"]) == ["text/plain"]
    assert "widgets" not in page["metadata"]
    assert "execution" not in page["cells"][-1]["metadata"]


def test_a_page_starts_with_its_title_and_leaves_its_input_alone() -> None:
    notebook = _executed_notebook()
    before = json.dumps(notebook)
    page = site_notebook(notebook, "99_test")
    assert "".join(page["cells"][0]["source"]).startswith("# 99 · A test page")
    assert page_title(page) == "99 · A test page"
    assert json.dumps(notebook) == before


def test_pages_refuse_what_is_not_a_notebook() -> None:
    with pytest.raises(ValueError, match="not an nbformat-4 notebook"):
        site_notebook({"cells": []}, "x")
    with pytest.raises(ValueError, match="page name must be"):
        site_notebook(_executed_notebook(), "../x")
    with pytest.raises(ValueError, match="no Markdown heading"):
        page_title({"cells": [{"cell_type": "code", "source": "x = 1"}]})


def test_a_solution_is_folded_on_its_page(tmp_path: Path) -> None:
    notebook = _executed_notebook()
    solution = nbformat.v4.new_code_cell(
        "# Solution to exercise 1\nprint(2)", metadata={"tags": ["solution", "hide-cell"]}
    )
    solution["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    notebook["cells"].append(json.loads(json.dumps(solution)))
    (tmp_path / "executed").mkdir()
    (tmp_path / "executed" / "99_test.ipynb").write_text(json.dumps(notebook))
    build_site(tmp_path / "executed", tmp_path / "site")
    html = (tmp_path / "site" / "99_test.html").read_text()
    folded = html[html.index('<details class="admonition hide above-input">') :]
    assert "Show the solution" in folded[:400]
    assert folded.index("# Solution to exercise 1") < folded.index("</details>")


def test_build_refuses_a_folder_without_executed_notebooks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no executed notebooks in .*: run `make course`"):
        build_site(tmp_path / "nothing", tmp_path / "site")


# ------------------------------------------------------------------------------------------------------
# the site of the smoke copies
# ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    copies = SmokeCopies(SMOKE_DIR)
    for source in SOURCES:
        assert (copies / f"{source.stem}.ipynb").exists()
    out = tmp_path_factory.mktemp("site") / "site"
    report = build_site(SMOKE_DIR, out)
    print("\n".join(report.lines()))
    assert [page.name for page in report.pages] == [source.stem for source in SOURCES]
    return out


def test_every_notebook_is_a_page_in_the_courses_order(site: Path) -> None:
    index = (site / "index.html").read_text()
    positions = [index.find(f'href="{source.stem}.html"') for source in SOURCES]
    assert all(p > 0 for p in positions) and positions == sorted(positions)
    for source in SOURCES:
        page = (site / f"{source.stem}.html").read_text()
        other = SOURCES[1] if source == SOURCES[0] else SOURCES[0]
        assert f'href="{other.stem}.html"' in page  # the course's navigation on every page


def test_the_exercises_solutions_are_folded_on_every_page_01_to_09(site: Path) -> None:
    for source in SOURCES:
        if "01" <= source.stem[:2] <= "09":
            html = (site / f"{source.stem}.html").read_text()
            folded = html.count("Show the solution")
            assert 3 <= folded <= 5, f"{source.stem}.html folds {folded} solutions"
            assert html.count("# Solution to exercise") == folded


def test_pages_are_small_and_load_nothing_from_another_host(site: Path) -> None:
    assert (site / "_static" / PLOTLY_JS).stat().st_size > 1_000_000  # plotly.js once, for every page
    assert (site / "_static" / "mathjax" / "MathJax.js").exists()
    for source in SOURCES:
        html = (site / f"{source.stem}.html").read_text()
        assert len(html.encode()) < MAX_PAGE_BYTES, f"{source.stem}.html is {len(html) / 1e6:.1f} MB"
        assert "window.PlotlyConfig" not in html  # no page embeds its own plotly.js
        external = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="((?:https?:)?//[^"]+)"', html)
        assert not external, f"{source.stem}.html loads {external}"
        assert 'src="_static/mathjax/MathJax.js' in html


def test_a_second_build_runs_no_notebook_and_rewrites_no_page_source(site: Path) -> None:
    source = site.with_name(site.name + "-src")
    before = {p.name: p.stat().st_mtime_ns for p in source.glob("*.ipynb")}
    smoke = {p.name: p.stat().st_mtime_ns for p in SMOKE_DIR.glob("*.ipynb")}
    build_site(SMOKE_DIR, site)
    assert {p.name: p.stat().st_mtime_ns for p in source.glob("*.ipynb")} == before
    assert {p.name: p.stat().st_mtime_ns for p in SMOKE_DIR.glob("*.ipynb")} == smoke  # read, never run


@pytest.mark.browser
def test_three_pages_show_typeset_math_and_drawn_figures(site: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (dev extra)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for name in BROWSER_PAGES:
                failed = []
                page.on("requestfailed", lambda request, failed=failed: failed.append(request.url))
                page.goto((site / f"{name}.html").as_uri())
                page.wait_for_function(TYPESET, timeout=60_000)
                page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
                page.screenshot(path=str(SCREENSHOTS / f"site-{name}.png"))
                text = page.inner_text("main")
                raw = [text[max(0, m.start() - 40) : m.end() + 40] for m in re.finditer(r"\$\$|\\\(|\\\[", text)]
                assert not raw, f"{name}: math left as TeX: {raw[:3]}"
                assert page.locator(".MathJax_CHTML, .mjx-chtml, .MathJax").count() > 3, f"{name}: no typeset math"
                assert page.locator(".js-plotly-plot .main-svg").count() >= 2, f"{name}: no figure drawn"
                # (MathJax probes a font of its own that the package leaves out, and falls back to STIX-Web)
                scripts = [url for url in failed if url.split("?")[0].endswith(".js")]
                assert not scripts, f"{name}: scripts that failed to load: {scripts}"
                assert not page.locator("#MathJax_Message:visible").count(), "MathJax reports a file it cannot load"
        finally:
            browser.close()
