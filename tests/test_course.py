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


@pytest.fixture
def torch_state():
    """Restore torch's threads and plotly's renderer after a test that sets them."""
    import plotly.io as pio
    import torch

    threads, renderer = torch.get_num_threads(), pio.renderers.default
    yield
    torch.set_num_threads(threads)
    pio.renderers.default = renderer


def test_setup_notebook_resolves_device_threads_jobs_and_a_smoke_folder(torch_state):
    import plotly.io as pio
    import torch

    from advdist_lab.runs.executors import default_jobs

    nb = course.setup_notebook("04_model_compression", smoke=True, device="cpu", label="digits-e3", dataset="digits")
    assert nb.device == torch.device("cpu") and nb.smoke
    assert nb.threads == 1 == torch.get_num_threads()  # the tiny digits models train on one CPU thread
    assert nb.jobs == default_jobs("digits", "cpu") >= 1
    assert pio.renderers.default == "plotly_mimetype+notebook"
    folder = Path(nb.out)
    assert folder.is_dir() and "advdist-04-smoke-" in folder.name  # a fresh temporary folder: a smoke run trains
    nb.cleanup()
    assert not folder.exists()
    nb.cleanup()  # twice is harmless


def test_setup_notebook_folders_of_a_full_run_and_a_given_out(tmp_path: Path, torch_state):
    import torch

    nb = course.setup_notebook("05_gradient_variance", device="cpu", label="digits-n100-e50", renderer=False)
    assert nb.out == str(Path("..") / "runs" / "05_gradient_variance" / "digits-n100-e50") and nb.scratch is None
    assert not Path(nb.out).exists()  # the runs create it
    assert nb.jobs is None and nb.threads == torch.get_num_threads()  # no dataset: threads untouched
    given = course.setup_notebook("08_x", smoke=True, out=tmp_path / "mine", jobs=3, dataset="digits", renderer=False)
    assert given.out == str(tmp_path / "mine") and given.scratch is None and given.jobs == 3
    # a notebook without runs has no folder; its seed is set
    plain = course.setup_notebook("01_kd_vs_ngan", smoke=True, seed=7, renderer=False)
    assert plain.out is None and plain.scratch is None
    first = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(first, torch.rand(3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "model_compression"}, "name must be a notebook's stem"),
        ({"device": "tpu"}, "device must be"),
        ({"jobs": 0}, "jobs must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"label": "../elsewhere"}, "label must be a folder name"),
        ({"out": ""}, "out must be a folder path"),
        ({"smoke": "yes"}, "smoke must be True or False"),
    ],
)
def test_setup_notebook_refuses_bad_arguments_before_creating_anything(kwargs, message, torch_state):
    import tempfile

    arguments = {"name": "04_model_compression", "smoke": True, "label": "digits", "renderer": False, **kwargs}
    before = set(Path(tempfile.gettempdir()).glob("advdist-04-smoke-*"))
    with pytest.raises(ValueError, match=message):
        course.setup_notebook(**arguments)
    assert set(Path(tempfile.gettempdir()).glob("advdist-04-smoke-*")) == before
