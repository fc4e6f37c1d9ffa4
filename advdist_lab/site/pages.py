"""One executed notebook made into a page of the course site (:mod:`advdist_lab.site.build`), without running it.

:func:`site_notebook` takes a notebook as papermill left it (``make course``: ``build/executed/NN_topic.ipynb``) and
returns the notebook the site renders:

* one parameters cell, not two: papermill's ``injected-parameters`` cell is removed and its assignments are written
  under the notebook's own parameters cell as a comment ("this page ran with ..."), so the reader sees the
  defaults and what the page's run changed;
* every plotly figure kept as its figure (data and layout) and drawn by the one ``plotly.min.js`` of the site
  (:data:`PLOTLY_JS`), instead of the 4-5 MB copy of plotly.js that the notebook renderer embeds in each page;
* no widget views or widget state (a static page has no kernel to drive them; their text fallback stays);
* the cells' run metadata (papermill's timings, execution times) dropped;
* the first heading moved above the code cells that precede it (the parameters cell comes first for papermill).

:func:`page_title` is the page's first Markdown heading. Everything here is pure (nbformat dictionaries in and
out) and reads no file.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping

__all__ = ["PLOTLY_JS", "PLOTLY_MIME", "WIDGET_MIME", "page_title", "plotly_html", "site_notebook"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PLOTLY_JS = "plotly.min.js"
"""The file name of plotly.js in the site's ``_static`` folder, loaded once by every page."""
_RUN_METADATA = ("execution", "papermill", "ExecuteTime", "collapsed", "scrolled")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")


def _source(cell: Mapping) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _tags(cell: Mapping) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def page_title(notebook: Mapping) -> str:
    """The text of the notebook's first Markdown heading (``"01 · Knowledge distillation vs ..."``); a
    ``ValueError`` when it has none (every course notebook starts its prose with one)."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in _source(cell).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    raise ValueError("the notebook has no Markdown heading to title its page with")


def plotly_html(figure: Mapping, div_id: str) -> str:
    """A ``<div>`` and the ``<script>`` that draws ``figure`` (plotly's JSON: data, layout) into it with the page's
    plotly.js (:data:`PLOTLY_JS`, loaded once by the page), responsive to the page's width."""
    import plotly.io as pio

    return pio.to_html(
        dict(figure),
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config={"responsive": True, "displaylogo": False},
        validate=False,
    )


def _injected_lines(cell: Mapping) -> list[str]:
    return [line for line in _source(cell).splitlines() if _ASSIGNMENT.match(line)]


def _page_output(output: dict, name: str, count: int) -> dict | None:
    """``output`` as the site shows it (module docstring); ``None`` to drop it. ``count`` numbers the figures."""
    if output.get("output_type") not in ("display_data", "execute_result"):
        return output
    data = dict(output.get("data", {}))
    if PLOTLY_MIME in data:
        html = plotly_html(data[PLOTLY_MIME], f"{name}-figure-{count}")
        return {**output, "data": {"text/html": html}, "metadata": {}}
    data.pop(WIDGET_MIME, None)
    html = data.get("text/html")
    html_text = "".join(html) if isinstance(html, list) else (html or "")
    if "window.PlotlyConfig" in html_text or "define('plotly'" in html_text or 'define("plotly"' in html_text:
        return None  # the notebook renderer's copy of plotly.js: the site loads its own once
    if not data:
        return None
    return {**output, "data": data}


def site_notebook(notebook: Mapping, name: str) -> dict:
    """The page of ``notebook`` (an executed nbformat-4 dictionary) named ``name`` (its file stem, which also
    prefixes the figures' element ids); the input is not changed (module docstring)."""
    if not isinstance(notebook, Mapping) or notebook.get("nbformat") != 4:
        raise ValueError(f"{name}: not an nbformat-4 notebook")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"page name must be letters, digits, '_' or '-' (got {name!r})")
    page = copy.deepcopy(dict(notebook))
    page["metadata"] = {k: v for k, v in page.get("metadata", {}).items() if k not in ("widgets", "papermill")}
    cells = page.get("cells", [])
    injected = [c for c in cells if "injected-parameters" in _tags(c)]
    overrides = [line for cell in injected for line in _injected_lines(cell)]
    figures = 0
    kept = []
    for cell in cells:
        if "injected-parameters" in _tags(cell):
            continue
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k not in _RUN_METADATA}
        if "parameters" in _tags(cell) and overrides:
            note = "\n# This page ran with: " + "; ".join(line.strip() for line in overrides)
            cell["source"] = _source(cell).rstrip("\n") + "\n" + note
        if cell.get("cell_type") == "code":
            outputs = []
            for output in cell.get("outputs", []):
                figures += PLOTLY_MIME in output.get("data", {})
                shown = _page_output(output, name, figures)
                if shown is not None:
                    outputs.append(shown)
            cell["outputs"] = outputs
        kept.append(cell)
    # the title first: papermill needs the parameters cell before any other, a reader the heading
    title = next((i for i, c in enumerate(kept) if c.get("cell_type") == "markdown" and _source(c).startswith("#")), 0)
    page["cells"] = [kept[title], *kept[:title], *kept[title + 1 :]] if title else kept
    return page
