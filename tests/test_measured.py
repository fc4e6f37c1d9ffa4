"""A measured Table 1 shipped in the repository (:mod:`advdist_lab.experiments.measured`, ``measured_export``,
``measured_report``), the ranking sentences computed from a table (:mod:`advdist_lab.experiments.ranking_sentences`),
their figure and ``advdist-lab table1-report``. No real MNIST: the MNIST runs here are result.json files written by
the test (the config is the plan's, the accuracies are the fixture's), and one round trip trains tiny digits runs."""

from __future__ import annotations

import json
import math
import shlex
import statistics
from pathlib import Path

import pytest

from advdist_lab.cli.commands import main
from advdist_lab.experiments import measured as me
from advdist_lab.experiments import measured_export as mx
from advdist_lab.experiments import measured_report as mr
from advdist_lab.experiments import ranking_sentences as rs
from advdist_lab.experiments.table1 import TPAMI_TABLE1, aggregate, plan, run_folder, train_runs
from advdist_lab.viz.table1_measured import paper_vs_measured_figure

MACHINE = {"cpu": "test CPU", "cpu_cores": 2, "platform": "test", "python": "3", "torch": "2"}

# the fixture's student accuracies: (method, n) -> one value per finished seed; ADIM n = 100 has 3 of 5 seeds
ACCURACIES = {
    ("ngan", 100): [0.60, 0.64],
    ("ngan", 1000): [0.90, 0.92],
    ("adim", 100): [0.80, 0.82, 0.84],
    ("adim", 1000): [0.95, 0.97],
}


def write_run(root: Path, method: str, n: int, seed: int, accuracy: float, **changes) -> Path:
    """A finished run's result.json where ``table1`` puts it, with the plan's resolved config (``changes`` alter
    the config or the result: ``status``, ``epochs``...)."""
    (config,) = [c for c in plan("mnist", (method,), (n,), seed + 1) if c.seed == seed]
    cfg = {**config.resolved().to_dict(), "device": "cpu"}
    cfg.update({k: v for k, v in changes.items() if k in cfg})
    result = {
        "config": cfg,
        "history": [{"epoch": 1, "student_test_accuracy": accuracy}],
        "test_accuracy": accuracy,
        "teacher_test_accuracy": 0.9,
        "wall_seconds": 100.0 + seed,
        "device": "cpu",
        "status": "finished",
        "torch": "2",
    }
    result.update({k: v for k, v in changes.items() if k in result})
    if method == "ngan":
        del result["teacher_test_accuracy"]
    folder = run_folder(root, config)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(result))
    return folder / "result.json"


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for (method, n), values in ACCURACIES.items():
        for seed, value in enumerate(values):
            write_run(root, method, n, seed, value)
    # an unfinished run (a checkpoint, no result.json): left out, not refused
    unfinished = root / "adim" / "n100" / "seed3"
    unfinished.mkdir(parents=True)
    (unfinished / "checkpoint.pt").write_bytes(b"not read")
    return root


def export(root: Path, dest: Path, **options) -> me.MeasuredTable:
    settings = {"dataset": "mnist", "sizes": (100, 1000), "seeds": 5, "methods": ("ngan", "adim"), **options}
    return mx.export_runs(root, dest, machine=MACHINE, **settings)


def test_export_and_load_round_trip_and_partial_cells(runs: Path, tmp_path: Path) -> None:
    dest = tmp_path / "results" / "table1-mnist"
    exported = export(runs, dest, table_wall_seconds=3600.0)
    loaded = me.load_measured(dest)
    assert loaded == exported
    assert len(loaded.runs) == sum(map(len, ACCURACIES.values())) and loaded.planned_runs == 2 * 2 * 5
    assert not loaded.complete
    assert set(loaded.runs[0]) <= set(me.RUN_KEYS) and "history" not in loaded.runs[0]
    # the report's numbers are a hand computation from the fixture
    rows = {(r["method"], r["n"]): r for r in mr.comparison_rows(loaded)}
    for (method, n), values in ACCURACIES.items():
        row = rows[(method, n)]
        percent = [100 * v for v in values]
        assert row["ours"]["mean"] == pytest.approx(statistics.mean(percent))
        assert row["ours"]["std"] == pytest.approx(statistics.stdev(percent))
        assert row["paper"]["mean"] == TPAMI_TABLE1["mnist"][method][n][0]
        assert row["difference"] == pytest.approx(statistics.mean(percent) - TPAMI_TABLE1["mnist"][method][n][0])
        assert (row["seeds"], row["planned"]) == (len(values), 5)
    assert loaded.cpu_seconds == pytest.approx(sum(100.0 + s for vs in ACCURACIES.values() for s in range(len(vs))))
    text = (dest / "README.md").read_text()
    assert "| ADIM | 100 |" in text and "3 of 5 seeds" in text and "2 of 5 seeds" in text
    assert f"{len(loaded.runs)} of 20 runs finished (partial" in text
    assert mr.format_duration(loaded.cpu_seconds) in text and "Wall-clock time so far (unfinished): 1 h 00 min" in text
    assert "test CPU, 2 cores" in text
    command = mx.export_command(loaded, dest)
    assert command in text and "--dataset mnist --sizes 100,1000 --seeds 5 --methods ngan,adim" in command


def test_measured_sentences_say_the_row_is_partial_and_rank_it(runs: Path, tmp_path: Path) -> None:
    lines = mr.measured_sentences(export(runs, tmp_path / "dest"))
    # ADIM n = 100 holds 3 seeds, the other cells 2: none is complete
    assert lines[0] == "The row is partial: its cells hold 2 to 3 of 5 seeds."
    assert "At n = 100 our order is ADIM > NGAN; the paper's (mnist, n = 100) is ADIM > ADIB" in lines[1]
    assert lines[1].endswith(": 1 of 1 pairs ordered alike.")
    assert "ADIM beats NGAN at every n (n = 100 and 1,000)." in lines
    ours = 100 * (statistics.mean(ACCURACIES[("adim", 100)]) - statistics.mean(ACCURACIES[("ngan", 100)]))
    assert any(
        line.startswith("ADIM - NGAN at n = 100: the paper") and f"ours {ours:+.2f} points" in line for line in lines
    )
    # hand computation: ADIM n = 100 is 82.00 against the paper's 78.70; NGAN n = 100 is 62.00 against 64.90
    gaps = {(m, n): 100 * statistics.mean(v) - TPAMI_TABLE1["mnist"][m][n][0] for (m, n), v in ACCURACIES.items()}
    low, high = min(gaps, key=gaps.get), max(gaps, key=gaps.get)
    assert lines[-1] == (
        f"Ours minus the paper's mean ranges from {gaps[low]:+.2f} ({low[0].upper()}, n = {low[1]:,}) to "
        f"{gaps[high]:+.2f} ({high[0].upper()}, n = {high[1]:,}) over 4 cell(s)."
    )


def test_a_cell_without_seeds_and_a_complete_table_say_so(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for seed, value in enumerate((0.5, 0.7)):
        write_run(root, "adim", 100, seed, value)
    partial = export(root, tmp_path / "a", methods=("adim",), sizes=(100, 1000), seeds=2)
    rows = mr.comparison_rows(partial)
    assert [(r["n"], r["seeds"], r["ours"] is None) for r in rows] == [(100, 2, False), (1000, 0, True)]
    assert "0 of 2 seeds" in mr.report_markdown(partial)
    complete = export(root, tmp_path / "b", methods=("adim",), sizes=(100,), seeds=2)
    assert complete.complete and "| 2 seeds |" in mr.report_markdown(complete)
    assert "Wall-clock time of the whole table: not recorded" in mr.report_markdown(complete)
    assert mr.seeds_phrase(1, 1) == "1 seed" and mr.seeds_phrase(3, 5) == "3 of 5 seeds"


def _one_line_error(call, match: str) -> str:
    with pytest.raises(ValueError, match=match) as caught:
        call()
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_export_refuses_unfinished_foreign_and_damaged_results(runs: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    good = export(runs, dest)
    before = (dest / me.MEASURED_FILE).read_bytes()
    stopped = write_run(runs, "ngan", 100, 2, 0.5, status="stopped")
    _one_line_error(lambda: export(runs, dest), r"ngan/n100/seed2/result.json is not a finished run")
    stopped.unlink()
    foreign = write_run(runs, "ngan", 100, 2, 0.5, epochs=7)
    message = _one_line_error(lambda: export(runs, dest), "another config than the plan")
    assert "epochs: 7 there, 50 planned" in message
    foreign.write_text("{not json")
    _one_line_error(lambda: export(runs, dest), "is damaged")
    foreign.unlink()
    assert me.load_measured(dest) == good  # the refusals wrote nothing
    _one_line_error(lambda: export(tmp_path / "nowhere", dest), "is not a folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(lambda: export(empty, dest), "no finished run of the plan")
    _one_line_error(lambda: export(runs, dest, table_wall_seconds=-1), "table_wall_seconds must be a positive")
    _one_line_error(lambda: export(runs, dest, seeds=0), "seeds")
    assert (dest / me.MEASURED_FILE).read_bytes() == before


def test_export_refuses_a_dest_that_holds_another_dataset_or_a_foreign_file(runs: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    export(runs, dest)
    payload = json.loads((dest / me.MEASURED_FILE).read_text())
    payload["dataset"] = "cifar10"
    for run in payload["runs"]:
        run["config"]["dataset"] = "cifar10"
    (dest / me.MEASURED_FILE).write_text(json.dumps(payload))
    _one_line_error(lambda: export(runs, dest), "holds the export of another dataset")
    (dest / me.MEASURED_FILE).write_text('{"something": "else"}')
    _one_line_error(lambda: export(runs, dest), "is not a valid table1 export")
    afile = tmp_path / "afile"
    afile.write_text("x")
    _one_line_error(lambda: export(runs, afile), "is an existing file")


@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        (lambda p: p.update(format="other"), "its format is not"),
        (lambda p: p["runs"][0].update(test_accuracy=1.5), r"test_accuracy is not in \[0, 1\]"),
        (lambda p: p["runs"][0].update(wall_seconds="long"), "wall_seconds is not a duration"),
        (lambda p: p["runs"][0].update(status="stopped"), "is not finished"),
        (lambda p: p["runs"].append(dict(p["runs"][0])), "repeats"),
        (lambda p: p["runs"][0]["config"].update(seed=9), "seed 9, not one of the plan"),
        (lambda p: p["runs"][0]["config"].update(method="codis"), "is not planned"),
        (lambda p: p["runs"][0].update(history=[]), "is not a stripped result"),
        (lambda p: p["plan"].update(seeds=True), "plan seeds"),
        (lambda p: p.update(table_wall_seconds=float("nan")), "table_wall_seconds"),
        (lambda p: p.update(runs=[]), "runs is not a non-empty list"),
    ],
)
def test_load_validates_every_field(runs: Path, tmp_path: Path, tamper, match: str) -> None:
    dest = tmp_path / "dest"
    export(runs, dest)
    payload = json.loads((dest / me.MEASURED_FILE).read_text())
    tamper(payload)
    (dest / me.MEASURED_FILE).write_text(json.dumps(payload))
    _one_line_error(lambda: me.load_measured(dest), match)


def test_load_refuses_missing_and_damaged_files(tmp_path: Path) -> None:
    _one_line_error(lambda: me.load_measured(tmp_path), "does not exist: export the runs first")
    (tmp_path / me.MEASURED_FILE).write_bytes(b"\xff\xfe")
    _one_line_error(lambda: me.load_measured(tmp_path), "is damaged")


def test_round_trip_of_real_digits_runs(tmp_path: Path) -> None:
    tiny = {"epochs": 1, "teacher_pretrain_epochs": 1, "student_pretrain_epochs": 1, "device": "cpu"}
    results = train_runs("digits", ("distn", "adim"), (30,), 2, tmp_path / "runs", progress=False, jobs=1, **tiny)
    measured = mx.export_runs(
        tmp_path / "runs", tmp_path / "dest", dataset="digits", sizes=(30,), seeds=2, methods=("distn", "adim"), **tiny
    )
    assert measured.complete and measured.table == aggregate(results)
    assert me.load_measured(tmp_path / "dest").table == aggregate(results)
    assert measured.cpu_seconds == pytest.approx(sum(r["wall_seconds"] for r in results))
    # digits is compared with the paper's MNIST at the nearest n
    assert all(r["paper_n"] == 100 for r in mr.comparison_rows(measured))
    assert "(paper: 100)" in mr.report_markdown(measured)
    command = mx.export_command(measured, tmp_path / "dest")
    assert "--epochs 1 --teacher-pretrain-epochs 1 --student-pretrain-epochs 1 --device cpu" in command
    assert main(shlex.split(command)[1:]) == 0


def test_format_duration() -> None:
    assert mr.format_duration(42) == "42 s"
    assert mr.format_duration(245) == "4 min 05 s"
    assert mr.format_duration(6 * 3600 + 12 * 60 + 5) == "6 h 12 min"
    with pytest.raises(ValueError, match="finite duration"):
        mr.format_duration(-1)


# --------------------------------------------------------------------------------------------------------
# Ranking sentences
# --------------------------------------------------------------------------------------------------------


def cell(mean: float, std: float) -> dict:
    return {"mean": mean, "std": std, "seeds": [], "values": []}


def table_of(**rows) -> dict:
    """``adim=[(mean, std) at n = 100, at n = 1,000]``."""
    return {m: {n: cell(*v) for n, v in zip((100, 1000), values)} for m, values in rows.items()}


def test_beats_sentence_names_where_it_holds_and_flips() -> None:
    table = table_of(adim=[(80, 1), (95, 1)], ngan=[(70, 1), (96, 1)])
    assert rs.beats_sentence(table, "adim", "ngan") == (
        "ADIM beats NGAN at n = 100 (+10.00 points) but not at n = 1,000 (-1.00 points)"
    )
    table["ngan"][1000]["mean"] = 94.0  # the sentence flips with the number
    assert rs.beats_sentence(table, "adim", "ngan").startswith("ADIM beats NGAN at every n (n = 100 and 1,000")
    assert rs.beats_sentence(table, "ngan", "adim").startswith("NGAN does not beat ADIM at any n")
    with pytest.raises(ValueError, match="no row 'adib'"):
        rs.beats_sentence(table, "adib", "ngan")


def test_within_sentence_uses_the_larger_std_and_one_seed() -> None:
    # gap 0.5 <= larger std 0.6 at n = 100; gap 2.0 > 0.6 at n = 1,000
    table = table_of(adim=[(80.0, 0.6), (95.0, 0.2)], codis=[(79.5, 0.1), (93.0, 0.6)])
    assert rs.within_one_std(table, "adim", "codis", 100) is True
    assert rs.within_one_std(table, "adim", "codis", 1000) is False
    assert rs.within_sentence(table, "adim", "codis") == (
        "ADIM and CODIS are within one std of each other at n = 100 but not at n = 1,000 "
        "(2.00 points apart at n = 1,000, larger std 0.60)"
    )
    table["codis"][1000]["std"] = 2.5  # now within at both sizes
    assert "within one std of each other at every n" in rs.within_sentence(table, "adim", "codis")
    table["adim"][100]["std"] = table["codis"][100]["std"] = math.nan  # one seed
    assert rs.within_one_std(table, "adim", "codis", 100) is None
    assert "at n = 100 one seed gives no std to compare with" in rs.within_sentence(table, "adim", "codis")
    assert rs.within_sentence(table, "adim", "codis", [100]) == (
        "ADIM and CODIS: at n = 100 one seed gives no std to compare with"
    )


def test_sentences_about_a_single_size_name_it() -> None:
    # a partial row: one size, one seed
    table = table_of(codis=[(77.6, math.nan)], ngan=[(9.8, math.nan)], adim=[(77.1, math.nan)])
    table = {m: {100: by_n[100]} for m, by_n in table.items()}
    assert rs.beats_sentence(table, "adim", "ngan") == "ADIM beats NGAN at n = 100 (+67.30 points)"
    assert rs.beats_sentence(table, "adim", "codis") == "ADIM does not beat CODIS at n = 100 (-0.50 points)"
    assert rs.ranking_sentences(table) == [
        "ADIM does not beat all of CODIS and NGAN; at n = 100 it trails CODIS by 0.50 points.",
        "Every one of CODIS and ADIM beats NGAN at n = 100.",
        "ADIM and CODIS: at n = 100 one seed gives no std to compare with.",
    ]


def test_ranking_sentences_correct_the_readme_claims() -> None:
    # NGAN ahead of MIMIC at n = 1,000 only; ADIB 2 points behind ADIM with std 1.5 at n = 1,000
    table = table_of(
        codis=[(89.0, 0.4), (97.3, 0.2)],
        mimic=[(82.0, 3.0), (94.0, 1.0)],
        ngan=[(78.0, 4.0), (94.4, 0.7)],
        adib=[(88.8, 0.6), (95.4, 1.5)],
        adim=[(88.6, 0.8), (97.4, 0.1)],
    )
    sentences = rs.ranking_sentences(table)
    # ADIM: 88.6 < CODIS 89.0 at n = 100; 97.4 above all three at n = 1,000
    assert sentences[0] == "ADIM beats CODIS, MIMIC and NGAN at n = 1,000; at n = 100 it trails CODIS by 0.40 points."
    assert sentences[1] == (
        "ADIB does not beat all of CODIS, MIMIC and NGAN at any n; at n = 100 it trails CODIS by 0.20 points; "
        "at n = 1,000 it trails CODIS by 1.90 points."
    )
    assert sentences[2] == (
        "Every one of CODIS, MIMIC, ADIB and ADIM beats NGAN at n = 100; at n = 1,000 NGAN (94.40) is ahead of or "
        "level with MIMIC (94.00)."
    )
    assert "ADIM and ADIB are within one std of each other at n = 100 but not at n = 1,000" in sentences[3]
    table["mimic"][1000]["mean"] = 95.0  # MIMIC now beats NGAN at n = 1,000: the sentence flips
    assert rs.ranking_sentences(table)[2] == (
        "Every one of CODIS, MIMIC, ADIB and ADIM beats NGAN at every n (n = 100 and 1,000)."
    )


def test_paper_sentences_compare_signs_with_the_papers_table() -> None:
    table = table_of(codis=[(80.0, 1.0), (96.0, 0.1)], ngan=[(70.0, 1.0), (94.0, 0.1)], adim=[(79.0, 1), (97, 0.1)])
    lines = rs.paper_sentences(table, "mnist")
    paper = TPAMI_TABLE1["mnist"]
    gap = paper["adim"][100][0] - paper["codis"][100][0]
    # ours: ADIM - CODIS = -1.00 at n = 100 with stds 1.0 and 1.0: within one std
    assert (
        f"ADIM - CODIS at n = 100: the paper {gap:+.2f}, ours -1.00 points: the sign does not reproduce "
        "(ours within one std: not separated by our seeds)." in lines
    )
    # ADIM - NGAN = +9.00 at n = 100, larger std 1.0: separated, no remark
    assert any(line.startswith("ADIM - NGAN at n = 100: the paper") for line in lines)
    assert [line for line in lines if line.startswith("ADIM - NGAN at n = 100")][0].endswith(
        "ours +9.00 points: the sign reproduces."
    )
    assert any(line.startswith("ADIM - CODIS at n = 1,000") and line.endswith("reproduces.") for line in lines)
    assert rs.paper_sentences(table_of(codis=[(1, 1), (1, 1)], adim=[(2, 1), (2, 1)]), "digits")[0].startswith(
        "ADIM - CODIS at n = 100: the paper"
    )
    assert rs.sizes_phrase([100, 300, 1000]) == "n = 100, 300 and 1,000"


def test_figure_draws_paper_and_ours_with_error_bars(runs: Path, tmp_path: Path) -> None:
    rows = mr.comparison_rows(export(runs, tmp_path / "dest"))
    fig = paper_vs_measured_figure(rows, "paper vs ours")
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 4 and {t.name for t in bars} == {"paper", "ours"}
    ours = [t for t in bars if t.name == "ours"][0]
    assert list(ours.x) == ["NGAN", "ADIM"] and list(ours.text) == ["2/5", "3/5"]
    assert ours.error_y.array[1] == pytest.approx(statistics.stdev([80, 82, 84]))
    with pytest.raises(ValueError, match="at least one"):
        paper_vs_measured_figure([], "empty")


def test_cli_exports_and_prints(runs: Path, tmp_path: Path, capsys) -> None:
    dest = tmp_path / "dest"
    args = ["table1-report", str(dest), "--runs", str(runs), "--dataset", "mnist", "--sizes", "100,1000"]
    assert main([*args, "--methods", "ngan,adim", "--table-wall-seconds", "60"]) == 0
    out = capsys.readouterr().out
    assert "exported 9 finished run(s) of 20" in out and "3 of 5 seeds" in out
    assert "ADIM beats NGAN at every n" in out
    assert main(["table1-report", str(dest)]) == 0
    assert "Wall-clock time so far (unfinished): 1 min 00 s" in capsys.readouterr().out
    assert main(["table1-report", str(dest), "--epochs", "3"]) == 2
    assert "only apply with --runs" in capsys.readouterr().err
    assert main([*args, "--methods", "ngan,adim", "--epochs", "3"]) == 2
    assert "another config than the plan" in capsys.readouterr().err
    # the command the export writes into its README runs as it is
    command = mx.export_command(me.load_measured(dest), dest)
    assert main(shlex.split(command)[1:]) == 0 and "exported 9 finished run(s) of 20" in capsys.readouterr().out
