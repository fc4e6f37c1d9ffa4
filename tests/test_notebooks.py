"""The executed smoke copies of the notebooks: no errors, theorem checks within tolerance, figures in the HTML.

`make test` runs the notebooks with smoke parameters into build/smoke/ before pytest (which also checks them
with nbval). Run alone, this module executes any notebook whose smoke copy is missing or older than its source.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from advdist_lab import course

ROOT = Path(__file__).resolve().parent.parent
SMOKE_DIR = ROOT / "build" / "smoke"
SOURCES = course.discover(ROOT / "notebooks")
CHECK_LINE = re.compile(r"max error (\S+) \(tolerance (\S+)\) (OK|FAILED)")
# Minimum number of printed theorem checks per notebook (each lemma / theorem / equation of the issue).
EXPECTED_CHECKS = {"01_kd_vs_ngan": 1, "02_adib_equilibrium": 7, "03_adim_equilibrium": 9}


@pytest.fixture(scope="session")
def smoke_dir() -> Path:
    stale = [
        s.stem[:2]
        for s in SOURCES
        if not (SMOKE_DIR / f"{s.stem}.html").exists()
        or (SMOKE_DIR / f"{s.stem}.ipynb").stat().st_mtime < s.stat().st_mtime
    ]
    if stale:
        runs = course.run_course(SMOKE_DIR, smoke=True, only=stale)
        assert all(run.ok for run in runs), [run.line() for run in runs]
    return SMOKE_DIR


def _outputs(notebook: dict) -> list[str]:
    texts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append("".join(output["text"]))
    return texts


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_the_course_has_the_four_foundation_notebooks():
    names = [s.stem for s in SOURCES]
    assert names[:4] == ["00_welcome", "01_kd_vs_ngan", "02_adib_equilibrium", "03_adim_equilibrium"]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_source_starts_with_a_parameters_cell(source: Path):
    import jupytext

    notebook = jupytext.read(source)
    first = notebook.cells[0]
    assert first.cell_type == "code" and "parameters" in first.metadata.get("tags", [])
    for name in ("SMOKE", "DEVICE", "INTERACTIVE", "SEED"):
        assert re.search(rf"^{name} = ", first.source, re.M), f"{source.name}: parameters cell lacks {name}"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_smoke_run_has_no_errors_and_used_smoke_parameters(smoke_dir: Path, source: Path):
    notebook = _load(smoke_dir / f"{source.stem}.ipynb")
    injected = [c for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "SMOKE = True" in "".join(injected[0]["source"])
    errors = [o for c in notebook["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""
    assert notebook["metadata"]["papermill"]["exception"] in (None, False)


@pytest.mark.parametrize("name", sorted(EXPECTED_CHECKS))
def test_theorem_checks_print_errors_below_tolerance(smoke_dir: Path, name: str):
    lines = [m for text in _outputs(_load(smoke_dir / f"{name}.ipynb")) for m in CHECK_LINE.finditer(text)]
    assert len(lines) >= EXPECTED_CHECKS[name], f"{name}: only {len(lines)} checks printed"
    for match in lines:
        error, tolerance, verdict = float(match[1]), float(match[2]), match[3]
        assert verdict == "OK" and error <= tolerance, match[0]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_html_copy_shows_the_figures_offline(smoke_dir: Path, source: Path):
    notebook = _load(smoke_dir / f"{source.stem}.ipynb")
    figures = sum(
        1
        for c in notebook["cells"]
        for o in c.get("outputs", [])
        if "application/vnd.plotly.v1+json" in o.get("data", {})
    )
    assert figures >= 1, f"{source.stem} shows no figure"
    html = (smoke_dir / f"{source.stem}.html").read_text()
    assert html.count('class="plotly-graph-div"') == figures
    # plotly.js itself is embedded, so the figures render without a network connection
    assert "plotly.js v" in html or "Plotly=" in html or "window.Plotly" in html
    assert not re.search(r"<script[^>]+src=\"https?://[^\"]*plotly", html)


def test_no_notebook_is_committed_as_ipynb():
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True).stdout
    assert tracked.strip() == ""
