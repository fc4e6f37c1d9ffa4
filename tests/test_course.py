"""The headless notebook runner: conversion, execution, HTML, one line per notebook, and failures kept apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advdist_lab import course

GOOD = """# %% tags=["parameters"]
SMOKE = False
VALUE = 1

# %%
print("value is", VALUE * 2, "smoke" if SMOKE else "full")
"""

BAD = """# %% tags=["parameters"]
SMOKE = False

# %%
raise RuntimeError("this notebook is broken on purpose")
"""


def test_discover_orders_and_filters(tmp_path: Path):
    for name in ("10_b.py", "02_a.py", "notes.py", "03_c.txt"):
        (tmp_path / name).write_text(GOOD)
    assert [p.name for p in course.discover(tmp_path)] == ["02_a.py", "10_b.py"]
    assert [p.name for p in course.discover(tmp_path, ["10"])] == ["10_b.py"]
    with pytest.raises(ValueError, match="matches"):
        course.discover(tmp_path, ["99"])
    with pytest.raises(ValueError, match="does not exist"):
        course.discover(tmp_path / "missing")


def test_to_ipynb_adds_the_kernelspec_papermill_needs(tmp_path: Path):
    source = tmp_path / "01_x.py"
    source.write_text(GOOD)
    target = course.to_ipynb(source, tmp_path / "out" / "01_x.ipynb")
    notebook = json.loads(target.read_text())
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert notebook["cells"][0]["metadata"]["tags"] == ["parameters"]
    # no Jupytext pairing metadata (the course's notebooks declare formats: py:percent): JupyterLab would refuse
    # the .ipynb as the paired copy of a missing .py
    welcome = Path(__file__).resolve().parent.parent / "notebooks" / "00_welcome.py"
    assert "formats: py:percent" in welcome.read_text()
    converted = json.loads(course.to_ipynb(welcome, tmp_path / "out" / "00_welcome.ipynb").read_text())
    assert "jupytext" not in converted["metadata"] and converted["metadata"]["kernelspec"]["name"] == "python3"


def test_run_course_executes_with_parameters_and_keeps_failures_apart(tmp_path: Path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "01_good.py").write_text(GOOD)
    (notebooks / "02_bad.py").write_text(BAD)
    out = tmp_path / "out"
    out.mkdir()
    (out / "02_bad.ipynb").write_text("previous good copy")

    code = course.main(["--smoke", "--out", str(out), "--notebooks-dir", str(notebooks)])

    assert code == 1
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("01_good") and line.endswith(" ok") for line in printed)
    assert any(line.startswith("02_bad") and "RuntimeError" in line for line in printed)
    executed = json.loads((out / "01_good.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "value is 2 smoke" in text
    assert "plotly" not in text and (out / "01_good.html").read_text().count("value is 2 smoke") >= 1
    # a failed run never replaces the previous copy; the failed execution is kept beside it
    assert (out / "02_bad.ipynb").read_text() == "previous good copy"
    assert (out / "02_bad.failed.ipynb").exists()
    assert not (out / "02_bad.html").exists()

    # once the notebook is mended, its run replaces the copy and clears the failed one
    (notebooks / "02_bad.py").write_text(GOOD)
    assert course.main(["--out", str(out), "--notebooks-dir", str(notebooks), "--only", "02", "--no-html"]) == 0
    assert "value is 2 full" in (out / "02_bad.ipynb").read_text()
    assert not (out / "02_bad.failed.ipynb").exists()
