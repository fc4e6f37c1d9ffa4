"""The course as a static website: Sphinx with MyST-NB over the executed notebooks (``make site``).

:func:`build_site` turns the notebooks that ``make course`` executed (``build/executed/NN_topic.ipynb``) into a
site (``build/site/index.html`` and a page per notebook), without running them: each becomes a page
(:func:`advdist_lab.site.pages.site_notebook`) in a Sphinx project written under ``build/site-src/``, which
MyST-NB renders with ``nb_execution_mode = "off"``: the executed outputs are the cache, no notebook runs (the book
theme changes Sphinx's configuration as it loads, so Sphinx re-reads every page; the 11 pages take seconds).

Why Sphinx and MyST-NB: both are Python packages from the package index, kept by the Executable Books project,
and render notebooks, MyST Markdown and math without Node.js or a network (Jupyter Book 2 builds with Node.js and
fetches its theme when it builds).

Offline by construction:

* the math is MathJax 2.7 from the ``jupyter-server-mathjax`` package (the copy Jupyter's own servers ship),
  copied once into ``_static/mathjax/``;
* the figures are drawn by one ``_static/plotly.min.js`` (plotly's own file) that every page loads, so a page holds
  its figures' data only;
* no page refers to another host (``tests/test_site.py`` checks every ``src`` and ``href``).

The navigation follows the course: ``index.md`` lists the pages in the notebooks' order (00, 01, ...), each under
the title of its first heading.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..files import atomic_write_bytes
from .pages import PLOTLY_JS, page_title, site_notebook

__all__ = ["SitePage", "SiteReport", "build_site", "executed_notebooks", "write_project"]

MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"
CONF = """# Written by advdist_lab.site.build (make site); edits are overwritten.
project = "advdist-lab"
author = "advdist-lab developers"
html_title = "advdist-lab: adversarial distillation, executable"
extensions = ["myst_nb"]
html_theme = "sphinx_book_theme"
html_theme_options = {{"show_toc_level": 2, "navigation_with_keys": False}}
nb_execution_mode = "off"  # the executed notebooks of make course are the outputs
nb_render_markdown_format = "myst"  # Markdown printed by cells keeps its math
nb_code_prompt_show = "Show the solution"  # cells tagged hide-cell: the exercises' solutions, folded
nb_code_prompt_hide = "Hide the solution"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True  # the notebooks write $$...$$ inside paragraphs and list items
html_static_path = ["_static"]
html_js_files = ["{plotly}"]
mathjax_path = "mathjax/MathJax.js?config={mathjax}"
mathjax2_config = {{
    "tex2jax": {{
        "inlineMath": [["\\\\(", "\\\\)"]],
        "displayMath": [["\\\\[", "\\\\]"]],
        "processEscapes": True,
        # MyST-NB marks a notebook's section tex2jax_ignore and its math spans "math": only those are typeset
        "processClass": "math|output_area|tex2jax_process|mathjax_process",
        "ignoreClass": "tex2jax_ignore|mathjax_ignore",
    }},
    # the package ships the STIX-Web fonts only (as Jupyter's own servers configure it)
    "HTML-CSS": {{"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None}},
    "SVG": {{"font": "STIX-Web"}},
}}
html_copy_source = False
html_show_sourcelink = False
exclude_patterns = ["_build"]
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]
"""


@dataclass(frozen=True)
class SitePage:
    """One page of the site: the notebook's stem, its title and the size of its HTML file in bytes."""

    name: str
    title: str
    html_bytes: int


@dataclass(frozen=True)
class SiteReport:
    """What :func:`build_site` built: the site's folder, its pages and the seconds it took."""

    out: Path
    pages: tuple[SitePage, ...]
    seconds: float

    def lines(self) -> list[str]:
        rows = [f"  {p.name:<36} {p.html_bytes / 1e3:8.0f} kB  {p.title}" for p in self.pages]
        return [f"site: {self.out / 'index.html'} ({len(self.pages)} pages, built in {self.seconds:.1f} s)", *rows]


def executed_notebooks(executed: Path) -> list[Path]:
    """The executed course notebooks ``executed/NN_topic.ipynb``, in the course's order; a ``ValueError`` saying
    how to make them when there are none."""
    executed = Path(executed)
    found = sorted(p for p in executed.glob("[0-9][0-9]_*.ipynb") if p.is_file()) if executed.is_dir() else []
    if not found:
        raise ValueError(
            f"no executed notebooks in {executed}: run `make course` (or python -m advdist_lab.course --out "
            f"{executed}) first"
        )
    return found


def _write_if_changed(path: Path, data: bytes) -> None:
    """Write ``data`` unless ``path`` holds it already (Sphinx rebuilds only what changed)."""
    if not path.exists() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)


def _static_files(static: Path) -> None:
    """plotly.js and MathJax into ``static`` (once: kept when already there)."""
    import jupyter_server_mathjax
    import plotly

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    _write_if_changed(static / PLOTLY_JS, plotly_js.read_bytes())
    mathjax = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (static / "mathjax" / "MathJax.js").exists():
        shutil.copytree(mathjax, static / "mathjax", dirs_exist_ok=True)


def write_project(notebooks: Sequence[Path], source: Path) -> list[tuple[str, str]]:
    """The Sphinx project of the site in ``source``: ``conf.py``, ``index.md`` and a page per notebook;
    ``[(name, title)]`` of the pages in order."""
    source = Path(source)
    source.mkdir(parents=True, exist_ok=True)
    pages = []
    for path in notebooks:
        notebook = json.loads(Path(path).read_text())
        page = site_notebook(notebook, path.stem)
        pages.append((path.stem, page_title(page)))
        _write_if_changed(source / f"{path.stem}.ipynb", json.dumps(page, indent=1).encode())
    for stale in source.glob("[0-9][0-9]_*.ipynb"):
        if stale.stem not in {name for name, _ in pages}:
            stale.unlink()
    _write_if_changed(source / "conf.py", CONF.format(plotly=PLOTLY_JS, mathjax=MATHJAX_CONFIG).encode())
    toc = "\n".join(name for name, _ in pages)
    index = (
        "# Adversarial distillation, executable\n\n"
        "The course of advdist-lab: every theorem checked numerically, every figure computed by a tested library. "
        "These pages are the notebooks as `make course` executed them; open them in JupyterLab (`make lab`) to "
        "change the parameters and run them.\n\n"
        f"```{{toctree}}\n:maxdepth: 1\n:caption: The course\n\n{toc}\n```\n"
    )
    _write_if_changed(source / "index.md", index.encode())
    _static_files(source / "_static")
    return pages


def build_site(executed: Path, out: Path, source: Path | None = None, quiet: bool = True) -> SiteReport:
    """Build the site of the notebooks in ``executed`` into ``out`` (module docstring); its Sphinx project goes to
    ``source`` (default: ``out`` with ``-src`` appended). A ``RuntimeError`` with Sphinx's account when the build
    fails."""
    from sphinx.cmd.build import build_main

    started = time.perf_counter()
    out = Path(out)
    source = Path(source) if source is not None else out.with_name(out.name + "-src")
    if source.resolve() == out.resolve():
        raise ValueError("the site and its Sphinx project need two folders")
    pages = write_project(executed_notebooks(Path(executed)), source)
    status = build_main(["-b", "html", *(["-q"] if quiet else []), str(source), str(out)])
    if status != 0:
        raise RuntimeError(f"sphinx-build failed with status {status} (its messages are above)")
    built = tuple(SitePage(name, title, (out / f"{name}.html").stat().st_size) for name, title in pages)
    return SiteReport(out, built, time.perf_counter() - started)
