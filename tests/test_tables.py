"""Tests of advdist_lab.experiments.tables (mean ± std, markdown) and advdist_lab.experiments.table1 (aggregation,
markdown, csv, the paper's Table 1, the runs)."""

from __future__ import annotations

import csv
import io
import math
import statistics
import time
from pathlib import Path

import pytest

from advdist_lab.experiments.table1 import (
    TABLE1_METHODS,
    TPAMI_TABLE1,
    aggregate,
    paper_table,
    plan,
    run_folder,
    run_table1,
    table_rows,
    to_csv,
    to_markdown,
    train_runs,
)
from advdist_lab.experiments.tables import format_cell, markdown_table, mean_std
from advdist_lab.runs import training
from advdist_lab.runs.folder import RESULT, load_result

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fake_result(method: str, n: int, seed: int, accuracy: float) -> dict:
    return {"config": {"method": method, "n_train": n, "seed": seed}, "test_accuracy": accuracy}


# ------------------------------------------------------------------------------------------------------
# tables.py
# ------------------------------------------------------------------------------------------------------


def test_mean_std_is_the_sample_standard_deviation() -> None:
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    values = [0.1, 0.4, 0.35, 0.9]
    mean, std = mean_std(values)
    assert mean == pytest.approx(statistics.mean(values))
    assert std == pytest.approx(statistics.stdev(values))
    mean, std = mean_std([0.5])
    assert mean == 0.5 and math.isnan(std)
    with pytest.raises(ValueError, match="at least one value"):
        mean_std([])


def test_aggregate_groups_by_method_and_n_in_percent() -> None:
    results = [
        fake_result("adim", 100, 1, 0.80),
        fake_result("adim", 100, 0, 0.70),
        fake_result("adim", 1000, 0, 0.95),
        fake_result("mimic", 100, 0, 0.60),
        fake_result("mimic", 100, 1, 0.64),
    ]
    table = aggregate(results)
    assert set(table) == {"adim", "mimic"}
    assert set(table["adim"]) == {100, 1000}
    cell = table["adim"][100]
    assert cell["seeds"] == [0, 1]  # sorted by seed
    assert cell["values"] == pytest.approx([70.0, 80.0])
    assert cell["mean"] == pytest.approx(75.0)
    assert cell["std"] == pytest.approx(statistics.stdev([70.0, 80.0]))
    assert math.isnan(table["adim"][1000]["std"])
    assert table["mimic"][100]["mean"] == pytest.approx(62.0)


def test_markdown_layout_follows_table1() -> None:
    table = aggregate(
        [
            fake_result("adim", 100, 0, 0.70),
            fake_result("adim", 100, 1, 0.80),
            fake_result("codis", 100, 0, 0.50),
            fake_result("codis", 100, 1, 0.52),
            fake_result("codis", 1000, 0, 0.90),
            fake_result("adim-ngs", 100, 0, 0.65),
        ]
    )
    text = to_markdown(table, title="Student accuracy")
    lines = text.splitlines()
    assert lines[0] == "**Student accuracy**"
    assert lines[2] == "| method | n = 100 | n = 1,000 |"
    assert lines[3] == "|---|---|---|"
    # the paper's order (CODIS before ADIM), then methods outside Table 1
    assert [line.split("|")[1].strip() for line in lines[4:]] == ["CODIS", "ADIM", "ADIM-NGS"]
    assert lines[5] == f"| ADIM | 75.00 ± {statistics.stdev([70.0, 80.0]):.2f} |  |"
    assert lines[4] == "| CODIS | 51.00 ± 1.41 | 90.00 |"  # one seed: the mean alone
    header, rows = table_rows(table, sizes=(1000,))
    assert header == ["method", "n = 1,000"]
    assert rows[0] == ["CODIS", "90.00"]
    assert rows[1] == ["ADIM", ""]
    assert text.endswith("\n")
    assert to_markdown(table).splitlines()[0].startswith("| method")  # no title line


def test_csv_has_one_line_per_method_and_n() -> None:
    table = aggregate([fake_result("mimic", 30, s, a) for s, a in ((0, 0.5), (1, 0.6))])
    rows = list(csv.reader(io.StringIO(to_csv(table))))
    assert rows[0] == ["method", "n_train", "mean", "std", "seeds", "values"]
    assert rows[1] == ["mimic", "30", "55.0000", f"{statistics.stdev([50.0, 60.0]):.4f}", "0 1", "50.0000 60.0000"]
    assert len(rows) == 2


def test_paper_table_values() -> None:
    mnist = paper_table("mnist")
    assert mnist["adim"][100]["mean"] == 78.70 and mnist["adim"][100]["std"] == 0.11
    assert mnist["codis"][50000]["mean"] == 99.31
    assert mnist["ngan"][100]["mean"] == 64.90 and mnist["ngan"][100]["std"] == 0.31
    cifar = paper_table("cifar10")
    assert cifar["ngan"][50000]["mean"] == 85.34 and cifar["ngan"][50000]["std"] == 0.27
    assert cifar["adim"][500]["mean"] == 59.10
    assert set(mnist) == set(cifar) == set(TABLE1_METHODS)
    assert all(set(by_n) == {100, 1000, 10000, 50000} for by_n in mnist.values())
    assert all(set(by_n) == {500, 5000, 10000, 50000} for by_n in cifar.values())
    # ADIM is the best row of every column in the paper
    for dataset, table in TPAMI_TABLE1.items():
        for n in table["adim"]:
            assert max(table, key=lambda m: table[m][n][0]) == "adim", (dataset, n)
    markdown = to_markdown(mnist)
    assert "| ADIM | 78.70 ± 0.11 | 97.20 ± 0.09 | 99.38 ± 0.08 | 99.61 ± 0.04 |" in markdown
    assert "n = 50,000" in markdown
    with pytest.raises(ValueError, match="mnist, cifar10"):
        paper_table("digits")


# ------------------------------------------------------------------------------------------------------
# table1.py
# ------------------------------------------------------------------------------------------------------

TABLE_ARGS = {
    "seeds": 2,
    "methods": ("mimic", "adim"),
    "sizes": (30,),
    "epochs": 1,
    "teacher_pretrain_epochs": 1,
    "student_pretrain_epochs": 1,
    "device": "cpu",
    "progress": False,
    "jobs": 1,  # no worker processes in a unit test
}


def _run_table(out: Path) -> dict:
    return run_table1("digits", out=out, **TABLE_ARGS)


def test_run_table1_writes_the_table_and_reuses_its_runs(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "t1"
    outcome = _run_table(out)
    folders = {(method, seed): out / method / "n30" / f"seed{seed}" for method in ("mimic", "adim") for seed in (0, 1)}
    results = {key: load_result(folder) for key, folder in folders.items()}
    for (method, seed), result in results.items():
        assert (result["config"]["method"], result["config"]["seed"], result["config"]["n_train"]) == (
            method,
            seed,
            30,
        )
        assert len(result["history"]) == 1
    # the teacher is pretrained once per seed and shared by the methods
    assert len(list((out / "teachers").iterdir())) == 2
    for seed in (0, 1):
        assert results[("mimic", seed)]["pretraining"]["teacher"] == results[("adim", seed)]["pretraining"]["teacher"]
    assert results[("mimic", 0)]["pretraining"]["teacher"] != results[("mimic", 1)]["pretraining"]["teacher"]
    # mean and std of the per-seed results, in percent
    table = outcome["table"]
    for method in ("mimic", "adim"):
        values = [100 * results[(method, seed)]["test_accuracy"] for seed in (0, 1)]
        assert table[method][30]["mean"] == pytest.approx(statistics.mean(values))
        assert table[method][30]["std"] == pytest.approx(statistics.stdev(values))
    markdown = (out / "table1.md").read_text()
    assert markdown == outcome["markdown"]
    assert "| method | n = 30 |" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| method")]
    assert [row.split("|")[1].strip() for row in rows] == ["MIMIC", "ADIM"]
    mean, std = table["adim"][30]["mean"], table["adim"][30]["std"]
    assert f"| ADIM | {mean:.2f} ± {std:.2f} |" in markdown
    lines = list(csv.DictReader(io.StringIO((out / "table1.csv").read_text())))
    assert [(line["method"], line["n_train"], line["seeds"]) for line in lines] == [
        ("mimic", "30", "0 1"),
        ("adim", "30", "0 1"),
    ]
    assert float(lines[1]["mean"]) == pytest.approx(mean, abs=1e-4)

    # a rerun reuses every finished run: nothing is trained, no result is rewritten
    stamps = {key: (folder / RESULT).stat().st_mtime_ns for key, folder in folders.items()}

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(training, "Trainer", no_training)
    started = time.perf_counter()
    again = _run_table(out)
    assert time.perf_counter() - started < 2.0
    assert {key: (folder / RESULT).stat().st_mtime_ns for key, folder in folders.items()} == stamps
    assert again["table"] == table
    assert again["markdown"] == outcome["markdown"]


def test_run_table1_resumes_an_interrupted_table(tmp_path: Path) -> None:
    out = tmp_path / "t1"
    kwargs = {**TABLE_ARGS, "seeds": 1, "methods": ("mimic",)}
    first = run_table1("digits", out=out, **kwargs)
    folder = out / "mimic" / "n30" / "seed0"
    (folder / RESULT).unlink()  # interrupted after its last checkpoint
    second = run_table1("digits", out=out, **kwargs)
    assert second["results"][0]["history"] == first["results"][0]["history"]
    assert (folder / RESULT).exists()


def test_plan_validates_every_config_before_training() -> None:
    configs = plan("digits", ("mimic", "adim"), (30, 100), 2, epochs=1)
    assert len(configs) == 8
    assert {(c.method, c.n_train, c.seed) for c in configs} == {
        (m, n, s) for m in ("mimic", "adim") for n in (30, 100) for s in (0, 1)
    }
    assert run_folder("out", configs[0]) == Path("out") / configs[0].method / "n30" / "seed0"
    with pytest.raises(ValueError, match="method must be one of"):
        plan("digits", ("mimic", "foo"), (30,), 1)
    with pytest.raises(ValueError, match="n_train must be <= 1297"):
        plan("digits", ("mimic",), (30, 5000), 1)
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        plan("digits", ("mimic",), (30,), 0)
    with pytest.raises(ValueError, match="simplex"):
        plan("digits", ("adim",), (30,), 1, omega_r=0.9, omega_s=0.9)
    # a table applies each option to the methods that take it: omega reaches ADIM, not MIMIC
    adim, mimic = plan("digits", ("adim", "mimic"), (30,), 1, omega_r=0.5, k_d=3)
    assert (adim.omega_r, adim.k_d) == (0.5, 3)
    assert (mimic.omega_r, mimic.k_d) == (None, None)


def test_worker_processes_give_the_same_table_as_one_process(tmp_path: Path) -> None:
    """``jobs=2`` spreads the runs over spawned single-threaded workers; every run is seeded by its own config,
    so the table equals the one computed in this process with one thread."""
    kwargs = {**TABLE_ARGS, "seeds": 1, "methods": ("distn", "ngan")}
    serial = run_table1("digits", out=tmp_path / "serial", **kwargs)  # one thread: one_torch_thread
    parallel = run_table1("digits", out=tmp_path / "parallel", **{**kwargs, "jobs": 2})
    assert parallel["markdown"] == serial["markdown"]
    for one, other in zip(serial["results"], parallel["results"]):
        assert (one["config"], one["history"]) == (other["config"], other["history"])


def test_markdown_table_formats_cells():
    text = markdown_table(["name", "value", "steps"], [["nu", 0.123456, None], ["mu", 10.0, 7]], title="t")
    assert text.splitlines() == [
        "**t**",
        "",
        "| name | value | steps |",
        "|---|---|---|",
        "| nu | 0.1235 | - |",
        "| mu | 10 | 7 |",
    ]


def test_format_cell_shows_the_spread_unless_there_is_none():
    assert format_cell(78.7, 0.114) == "78.70 ± 0.11"
    assert format_cell(78.7, math.nan) == "78.70"
    assert format_cell(0.78623, None, digits=4) == "0.7862"
    assert format_cell(0.5, 0.01234, digits=4) == "0.5000 ± 0.0123"
    with pytest.raises(ValueError, match="digits must be an integer >= 0"):
        format_cell(1.0, 0.1, digits=-1)


def test_train_runs_fills_the_tables_folders_without_writing_the_table(tmp_path: Path) -> None:
    out = tmp_path / "t1"
    kwargs = {k: v for k, v in TABLE_ARGS.items() if k not in ("seeds", "methods", "sizes")}
    results = train_runs("digits", ("mimic",), (30,), 1, out, **kwargs)
    assert [r["config"]["method"] for r in results] == ["mimic"]
    assert load_result(out / "mimic" / "n30" / "seed0")["history"] == results[0]["history"]
    assert not (out / "table1.md").exists() and not (out / "table1.csv").exists()
    # the table then reads that run back instead of training it again
    table = run_table1("digits", out=out, **{**TABLE_ARGS, "seeds": 1, "methods": ("mimic",)})
    assert table["results"][0]["history"] == results[0]["history"]
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        train_runs("digits", ("mimic",), (30,), 0, out)
