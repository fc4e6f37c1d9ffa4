"""Tests of ``advdist-lab report``: training runs drawn into one self-contained HTML file.

Two tiny digits runs (ADIM with the gradient probes, DISTN) are trained once for the module; a "tables folder" is
built from copies of their ``result.json`` (as ``table1`` lays them out), so no test trains a table.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import types
from pathlib import Path

import plotly.graph_objects as go
import pytest
import torch
from plotly.offline import get_plotlyjs
from tiny_configs import tiny

from advdist_lab import cli
from advdist_lab.cli.report import find_runs, run_names
from advdist_lab.runs import CHECKPOINT, RESULT, load_result, training
from advdist_lab.viz.history import accuracy_figure, points, report_figures, report_html, tau_figure

FIGURE = re.compile(r'<script type="application/json" id="figure-(\d+)-json">(.*?)</script>', re.S)
EXPECTED_FIGURES = 6
"""Accuracy, losses, tau (exponential from 10 to 0.1), the student's and the teacher's gradient variances (the
ADIM run is probed) and the gradients' cosine."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """Two finished runs, ``adim-run`` (probed) and ``distn-run``, in a module-wide temporary folder."""
    root = tmp_path_factory.mktemp("runs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        folders = {"adim": root / "adim-run", "distn": root / "distn-run"}
        training.train(tiny(method="adim", probe_gradients=True), folders["adim"], progress=False)
        training.train(tiny(method="distn"), folders["distn"], progress=False)
    finally:
        torch.set_num_threads(threads)
    return folders


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def figures_of(page: str) -> list[dict]:
    """The figures' JSON embedded in a report page, in order."""
    found = FIGURE.findall(page)
    assert [int(index) for index, _ in found] == list(range(1, len(found) + 1))
    return [json.loads(text) for _, text in found]


def trace(figure: dict, name: str) -> dict:
    matches = [t for t in figure["data"] if t.get("name") == name]
    assert len(matches) == 1, [t.get("name") for t in figure["data"]]
    return matches[0]


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("advdist-lab: error: ")
    return lines[0]


def copy_run(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    shutil.copyfile(source / RESULT, target / RESULT)
    return target


def test_report_overlays_two_runs(trained, tmp_path: Path, capsys) -> None:
    before = {name: snapshot(folder) for name, folder in trained.items()}
    out = tmp_path / "out" / "two.html"
    assert cli.main(["report", str(trained["adim"]), str(trained["distn"]), "--out", str(out)]) == 0
    assert f"report of 2 run(s), {EXPECTED_FIGURES} figure(s): {out}" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert page.count(get_plotlyjs()) == 1 and page.count("* plotly.js v") == 1
    assert page.count('class="plotly-graph-div"') == EXPECTED_FIGURES
    figures = figures_of(page)
    assert len(figures) == EXPECTED_FIGURES
    for method in ("adim", "distn"):
        assert f"<td>{method}-run</td>" in page  # the summary table names each run by its folder
        history = load_result(trained[method])["history"]
        for key, label in (("student_test_accuracy", "student"), ("teacher_test_accuracy", "teacher")):
            drawn = trace(figures[0], f"{method}-run: {label}")
            assert drawn["x"] == [entry["epoch"] for entry in history]
            assert drawn["y"] == [entry[key] for entry in history]
        assert trace(figures[1], f"{method}-run: student loss")["y"] == [e["student_loss"] for e in history]
    adim = load_result(trained["adim"])["history"]
    variance = figures[3]
    assert "student" in variance["layout"]["title"]["text"]
    assert [a["text"] for a in variance["layout"]["annotations"]] == ["adim-run"]  # only the probed run
    assert trace(variance, "Distillation Loss")["y"] == [e["grad_var_distillation"] for e in adim]
    assert [t["name"] for t in figures[5]["data"]] == ["adim-run: student cosine", "adim-run: teacher cosine"]
    assert {name: snapshot(folder) for name, folder in trained.items()} == before  # the runs are untouched


def test_default_out_is_in_the_first_folder(trained, tmp_path: Path, capsys) -> None:
    run = copy_run(trained["distn"], tmp_path / "only")
    assert cli.main(["report", str(run)]) == 0
    page = (run / "report.html").read_text(encoding="utf-8")
    assert len(figures_of(page)) == 3  # accuracy, losses, tau: no probes
    assert sorted(p.name for p in run.iterdir()) == ["report.html", RESULT]


def test_a_tables_folder_is_expanded_into_its_runs(trained, tmp_path: Path, capsys) -> None:
    tables = tmp_path / "t1"
    copy_run(trained["distn"], tables / "distn" / "n30" / "seed0")
    copy_run(trained["adim"], tables / "adim" / "n30" / "seed10")
    copy_run(trained["adim"], tables / "adim" / "n30" / "seed2")
    (tables / "teachers").mkdir()
    (tables / "table1.csv").write_text("method,n,seed,test_accuracy\n")
    out = tmp_path / "t1.html"
    assert cli.main(["report", str(tables), "--out", str(out)]) == 0
    assert "report of 3 run(s)" in capsys.readouterr().out
    accuracy = figures_of(out.read_text(encoding="utf-8"))[0]
    students = [t["name"] for t in accuracy["data"] if t["name"].endswith(": student")]
    assert students == ["adim/n30/seed2: student", "adim/n30/seed10: student", "distn/n30/seed0: student"]


def test_runs_are_named_by_the_shortest_unique_tail(tmp_path: Path) -> None:
    for folder in ("a/seed0", "b/seed0", "c/x"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / RESULT).write_text("{}")
    runs = find_runs(str(tmp_path / "a" / "seed0")) + find_runs(str(tmp_path / "b")) + find_runs(str(tmp_path / "c"))
    assert run_names(runs) == ["a/seed0", "b/seed0", "x"]


def bad(tmp_path: Path, case: str) -> tuple[list[str], str]:
    """The arguments of a report that must be refused, and a phrase of the refusal."""
    good = tmp_path / "good"
    if case == "missing":
        return [str(tmp_path / "nowhere")], "does not exist"
    if case == "empty":
        (tmp_path / "empty").mkdir()
        return [str(tmp_path / "empty")], "holds no result.json and no run folder below it"
    if case == "unfinished":
        (tmp_path / "half").mkdir()
        (tmp_path / "half" / CHECKPOINT).write_bytes(b"")
        return [str(tmp_path / "half")], "unfinished run"
    if case == "not json":
        (tmp_path / "broken").mkdir()
        (tmp_path / "broken" / RESULT).write_text('{"config": {}, "hist')
        return [str(good), str(tmp_path / "broken")], "is damaged (not valid JSON"
    if case == "a list":
        (tmp_path / "listed").mkdir()
        (tmp_path / "listed" / RESULT).write_text("[1, 2]")
        return [str(good), str(tmp_path / "listed")], "holds list instead of a run's result"
    if case == "no history":
        (tmp_path / "robust").mkdir()
        (tmp_path / "robust" / RESULT).write_text('{"config": {}, "history": [{"epoch": 1, "clean": 0.5}]}')
        return [str(good), str(tmp_path / "robust")], "is not a training run's result"
    if case == "txt out":
        return [str(good), "--out", str(tmp_path / "report.txt")], "--out must be an .html file"
    if case == "folder out":
        (tmp_path / "dir.html").mkdir()
        return [str(good), "--out", str(tmp_path / "dir.html")], "is a folder, not a file"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["missing", "empty", "unfinished", "not json", "a list", "no history", "txt out", "folder out"]
)
def test_bad_input_is_refused_in_one_line(trained, tmp_path: Path, capsys, case: str) -> None:
    copy_run(trained["distn"], tmp_path / "good")
    argv, phrase = bad(tmp_path, case)
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "report.html")]
    assert cli.main(["report", *argv]) == 2
    assert phrase in error_line(capsys)
    assert not list(tmp_path.rglob("*.html*")) or case == "folder out"  # nothing written
    assert not (tmp_path / "good" / "report.html").exists()


def test_png_without_kaleido_says_so_and_writes_the_html(trained, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "kaleido", None)  # `import kaleido` raises ImportError
    out = tmp_path / "r.html"
    assert cli.main(["report", str(trained["distn"]), "--out", str(out), "--png"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "PNG" in line]
    assert lines == ["--png: PNG export needs kaleido (pip install kaleido); only the HTML was written"]
    assert out.exists() and not list(tmp_path.glob("*.png"))


def test_png_with_kaleido_writes_one_file_per_figure(trained, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "kaleido", types.ModuleType("kaleido"))
    monkeypatch.setattr(go.Figure, "to_image", lambda self, **kwargs: b"\x89PNG " + kwargs["format"].encode())
    out = tmp_path / "r.html"
    assert cli.main(["report", str(trained["distn"]), "--out", str(out), "--png"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["r-1.png", "r-2.png", "r-3.png"]
    assert (tmp_path / "r-1.png").read_bytes() == b"\x89PNG png"


def test_sparse_accuracies_sit_at_their_epochs_and_constant_tau_is_left_out() -> None:
    history = [
        {"epoch": 1, "tau": 1.0, "student_loss": 2.0},
        {"epoch": 2, "tau": 1.0, "student_loss": 1.5, "student_test_accuracy": 0.5},
        {"epoch": 3, "tau": 1.0, "student_loss": 1.2, "student_test_accuracy": 0.6, "teacher_test_accuracy": 0.9},
    ]
    assert points(history, "student_test_accuracy") == ([2, 3], [0.5, 0.6])
    fig = accuracy_figure({"run": history})
    assert [(t.name, list(t.x), list(t.y)) for t in fig.data] == [
        ("run: student", [2, 3], [0.5, 0.6]),
        ("run: teacher", [3], [0.9]),
    ]
    assert tau_figure({"run": history}) is None
    assert len(report_figures({"run": history})) == 2  # accuracy and losses


def test_the_page_escapes_what_a_name_could_smuggle() -> None:
    fig = go.Figure(go.Scatter(x=[1], y=[1], name="</script><script>alert(1)</script>"))
    page = report_html([fig], "<b>title</b>", [{"run": "<i>x</i>"}])
    assert "<script>alert(1)" not in page and "<b>title</b>" not in page and "<i>x</i>" not in page
    assert json.loads(FIGURE.findall(page)[0][1])["data"][0]["name"] == "</script><script>alert(1)</script>"
