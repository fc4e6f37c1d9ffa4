"""Tests of ``advdist-lab sweep``: a tiny grid end to end, the Fig. 6 preset, reuse on rerun, error exits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import error_line  # tests/ is on sys.path (pytest rootdir conftest)

from advdist_lab import cli, runs
from advdist_lab.cli.train import parse_grid

TINY = [
    "--n-train",
    "30",
    "--epochs",
    "1",
    "--teacher-pretrain-epochs",
    "1",
    "--student-pretrain-epochs",
    "1",
    "--device",
    "cpu",
    "--jobs",
    "1",
    "--no-progress",
]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def stamps(out: Path) -> dict[str, int]:
    return {str(p.parent.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob(runs.RESULT)}


def test_a_grid_runs_end_to_end_writes_sweep_json_and_a_rerun_reuses_it(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["sweep", "--grid", "nu=0.1,10", "--grid", "mu=0", "--seeds", "2", *TINY]
    assert cli.main(argv) == 0
    out = tmp_path / "runs" / "sweep-adim-digits"  # the default folder
    printed = capsys.readouterr().out
    document = json.loads((out / "sweep.json").read_text())
    assert document["preset"] is None and document["seeds"] == [0, 1]
    assert document["base"]["method"] == "adim" and document["base"]["epochs"] == 1
    assert [row["overrides"] for row in document["rows"]] == [{"mu": 0, "nu": 0.1}, {"mu": 0, "nu": 10.0}]
    assert [row["count"] for row in document["rows"]] == [2, 2]
    assert [p["folder"] for p in document["points"]][:2] == ["mu=0/nu=0.1/seed=0", "mu=0/nu=0.1/seed=1"]
    assert set(stamps(out)) == {p["folder"] for p in document["points"]}
    row = document["rows"][1]
    mean, std = 100 * row["test_accuracy_mean"], 100 * row["test_accuracy_std"]
    assert f"{mean:.2f} ± {std:.2f}" in printed
    assert "| mu | nu " in printed.replace("  ", " ") and "student (%)" in printed

    before = stamps(out)
    assert cli.main(argv) == 0
    assert stamps(out) == before  # every point read back, none trained again
    assert json.loads((out / "sweep.json").read_text())["rows"] == document["rows"]


def test_the_fig6_preset_adds_the_mu_zero_baseline(tmp_path: Path):
    out = tmp_path / "fig6"
    argv = ["sweep", "--preset", "fig6", "--sizes", "30", "--seeds", "1", "--out", str(out), *TINY[2:]]
    assert cli.main(argv) == 0
    document = json.loads((out / "sweep.json").read_text())
    assert document == json.loads((out / "sweep-fig6.json").read_text())
    figure = document["figure"]
    assert [r["mu"] for r in figure["rows"]] == [0.0001, 0.001, 0.01, 0.1, 1.0, 10.0]
    assert [(r["n_train"], r["mu"]) for r in figure["baseline"]] == [(30, 0.0)]
    assert len(stamps(out)) == 7 and "mu=0/n_train=30/seed=0" in stamps(out)


def test_parse_grid_types_values_by_the_field():
    axes = parse_grid(["n-train=30,60", "probe_gradients=true,False", "batch_size=none,10", "estimator=score"])
    assert axes == {
        "n_train": [30, 60],
        "probe_gradients": [True, False],
        "batch_size": [None, 10],
        "estimator": ["score"],
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "nu"], "--grid must look like NAME=V1,V2,..."),
        (["--grid", "nu="], "--grid must look like NAME=V1,V2,..."),
        (["--grid", "nu=1,,2"], "no empty value"),
        (["--grid", "=1"], "--grid must look like"),
        (["--grid", "nuu=1"], "unknown TrainConfig field 'nuu' in --grid.*did you mean 'nu'"),
        (["--grid", "seed=0,1"], "seed cannot be set in --grid"),
        (["--grid", "nu=abc"], "--grid nu: 'abc' is not a float"),
        (["--grid", "n_train=1.5"], "--grid n_train: '1.5' is not an int"),
        (["--grid", "probe_gradients=yes"], "is not true or false"),
        (["--grid", "nu=1", "--grid", "nu=2"], "--grid nu is given twice"),
        (["--grid", "nu=0.1,0.1"], "lists 0.1 twice"),
        (["--grid", "nu=-1"], "sweep point nu=-1/seed=0: nu must be >= 0"),
        (["--grid", "nu=1", "--seeds", "0"], "seeds must be an integer >= 1"),
        (["--grid", "nu=1", "--sizes", "100"], "--sizes applies to --preset"),
        ([], "give --preset fig3|fig6|fig8 or at least one --grid"),
        (["--preset", "fig3", "--grid", "nu=1"], "--grid cannot be combined with --preset"),
        (["--preset", "fig3", "--method", "adib"], "--method must be adim"),
        (["--preset", "fig6", "--n-train", "100"], "--sizes, not --n-train"),
        (["--preset", "fig3", "--sizes", "100,x"], "comma-separated list of int"),
        (["--preset", "fig3", "--sizes", "100,100"], "n_trains must be distinct"),
        (["--preset", "fig8", "--dataset", "digits"], "--preset fig8 needs a dataset among tags-popular, tags-random"),
        (["--preset", "fig8", "--sizes", "100,200"], "--preset fig8 sweeps one training-set size"),
        (["--preset", "fig8", "--method", "ngan"], "--preset fig8 sweeps ADIM: --method must be adim"),
        (["--preset", "fig8", "--sizes", "100", "--nu", "-1"], "nu must be >= 0"),
    ],
)
def test_bad_sweeps_exit_2_with_one_line_before_training(tmp_path: Path, capsys, args, message):
    out = tmp_path / "never"
    assert cli.main(["sweep", *args, "--out", str(out), "--no-progress", "--device", "cpu"]) == 2
    line = error_line(capsys)
    assert all(piece in line for piece in message.split(".*")), line
    assert not out.exists()


def test_error_messages_name_the_constraint(tmp_path: Path, capsys):
    assert cli.main(["sweep", "--grid", "nuu=1", "--out", str(tmp_path / "x")]) == 2
    line = error_line(capsys)
    assert "'nuu'" in line and "did you mean 'nu'" in line
