"""Tests of advdist_lab.experiments.table4 and table4_runs: the paper's Table 4, aggregation and layout, the
plan, and a tiny table end to end."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from advdist_lab.experiments import table4
from advdist_lab.experiments.table4 import (
    TABLE4_METRICS,
    TPAMI_TABLE4,
    TPAMI_TABLE4_METHODS,
    aggregate,
    block_rows,
    to_csv,
    to_markdown,
)
from advdist_lab.experiments.table4_runs import plan, run_folder, run_table4, tag_config
from advdist_lab.methods import TrainConfig
from advdist_lab.methods.config import TAG_RUN_DEFAULTS
from advdist_lab.methods.knn import KnnConfig
from advdist_lab.runs.folder import RESULT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PAPERS = Path(__file__).resolve().parents[2] / "shared" / "papers"
TPAMI = PAPERS / "000_b29940e6e5a588ee.txt"
KDGAN = PAPERS / "003_f64d9f95f100c642.txt"
TINY = {"n_train": 200, "epochs": 1, "teacher_pretrain_epochs": 1, "student_pretrain_epochs": 1, "device": "cpu"}


# ------------------------------------------------------------------------------------------------------
# the paper's numbers
# ------------------------------------------------------------------------------------------------------


def test_a_few_cells_of_the_papers_table4():
    assert TPAMI_TABLE4["popular"]["kvote"]["map"] == 0.5755
    assert TPAMI_TABLE4["popular"]["adim"]["ndcg@3"] == 0.7914
    assert TPAMI_TABLE4["popular"]["rexmp"]["r@3"] == 0.6285
    assert TPAMI_TABLE4["random"]["ngan"]["f@3"] == 0.2693
    assert TPAMI_TABLE4["random"]["adib"]["mrr"] == 0.6452
    assert TPAMI_TABLE4["random"]["adim"]["p@3"] == 0.2620
    for label_set in ("popular", "random"):
        assert tuple(TPAMI_TABLE4[label_set]) == TPAMI_TABLE4_METHODS
        for row in TPAMI_TABLE4[label_set].values():
            assert tuple(row) == TABLE4_METRICS
            assert row["mrr"] > row["map"] and row["r@3"] > row["p@3"]  # as in every row of the paper
        # the proposed methods are best in every column, ADIM above ADIB (the paper's claim)
        for metric in TABLE4_METRICS:
            column = [TPAMI_TABLE4[label_set][m][metric] for m in TPAMI_TABLE4_METHODS]
            assert column.index(max(column)) == TPAMI_TABLE4_METHODS.index("adim")
            assert TPAMI_TABLE4[label_set]["adib"][metric] > TPAMI_TABLE4[label_set]["ngan"][metric]


@pytest.mark.skipif(not TPAMI.exists(), reason="the paper's text is not next to this checkout")
def test_the_transcription_matches_the_text_extraction_of_the_tpami_paper():
    """The extraction lists Table 4 column by column: twelve columns of five numbers (KVOTE .. NGAN), then twelve
    of two (ADIB, ADIM); the columns are MAP, MRR, P@3, R@3, F@3, NDCG@3 of the popular, then the random tags."""
    text = TPAMI.read_text()
    start = text.index("TABLE 4: Accuracy in image tag recommendation")
    body = text[start : text.index("Fig. 7:", start)]
    numbers = [float(x) for x in re.findall(r"^(0\.\d{4})$", body, flags=re.M)]
    assert len(numbers) == 12 * 5 + 12 * 2
    first, second = numbers[:60], numbers[60:]
    columns = [(label_set, metric) for label_set in ("popular", "random") for metric in TABLE4_METRICS]
    for c, (label_set, metric) in enumerate(columns):
        for r, method in enumerate(TPAMI_TABLE4_METHODS[:5]):
            assert TPAMI_TABLE4[label_set][method][metric] == first[5 * c + r], (label_set, method, metric)
        for r, method in enumerate(TPAMI_TABLE4_METHODS[5:]):
            assert TPAMI_TABLE4[label_set][method][metric] == second[2 * c + r], (label_set, method, metric)


@pytest.mark.skipif(not KDGAN.exists(), reason="the paper's text is not next to this checkout")
def test_the_transcription_agrees_with_kdgan_table2():
    """KDGAN Table 2 prints P@3, P@5, F@3, F@5, MAP, MRR of the same runs: KNN = KVOTE, NaGAN = NGAN, KDGAN = ADIB."""
    text = KDGAN.read_text()
    names = {"KNN": "kvote", "TPROP": "tprop", "TFEAT": "tfeat", "REXMP": "rexmp", "NaGAN": "ngan", "KDGAN": "adib"}
    found = 0
    for line in text.splitlines():
        cells = line.split("\t")
        if cells[0] not in names or len(cells) != 13:
            continue
        values = [float(re.sub(r"<[^>]+>", "", cell)) for cell in cells[1:]]
        for label_set, block in (("popular", values[:6]), ("random", values[6:])):
            row = TPAMI_TABLE4[label_set][names[cells[0]]]
            assert (row["p@3"], row["f@3"], row["map"], row["mrr"]) == (block[0], block[2], block[4], block[5])
        found += 1
    assert found == 6


# ------------------------------------------------------------------------------------------------------
# aggregation and layout
# ------------------------------------------------------------------------------------------------------


def fake(method: str, label_set: str, seed: int, value: float) -> dict:
    metrics = {metric: value + i / 100 for i, metric in enumerate(TABLE4_METRICS)}
    return {"config": {"method": method, "dataset": f"tags-{label_set}", "seed": seed}, **metrics}


def test_aggregate_averages_over_seeds_per_label_set_and_method():
    results = [fake("adim", "popular", 1, 0.4), fake("adim", "popular", 0, 0.2), fake("knn", "random", 0, 0.1)]
    table = aggregate(results)
    cell = table["popular"]["adim"]["map"]
    assert cell["seeds"] == [0, 1] and cell["values"] == [0.2, 0.4]
    assert cell["mean"] == pytest.approx(0.3) and cell["std"] == pytest.approx(0.1414213, rel=1e-5)
    assert table["random"]["knn"]["ndcg@3"]["std"] is None  # one seed: no spread
    assert table["random"]["knn"]["ndcg@3"]["mean"] == pytest.approx(0.15)
    with pytest.raises(ValueError, match="has no mrr"):
        aggregate([{"config": {"method": "adim", "dataset": "tags-popular", "seed": 0}, "map": 0.1}])
    with pytest.raises(ValueError, match="dataset must be one of tags-popular, tags-random"):
        aggregate([fake("adim", "popular", 0, 0.1) | {"config": {"method": "adim", "dataset": "digits", "seed": 0}}])


def test_the_layout_puts_the_papers_numbers_beside_ours():
    table = aggregate([fake("knn", "popular", s, 0.2 + s / 10) for s in range(3)] + [fake("mimic", "popular", 0, 0.3)])
    header, rows = block_rows(table, "popular")
    assert header[:5] == ["method", "MAP", "MAP (paper)", "MRR", "MRR (paper)"] and header[-1] == "NDCG@3 (paper)"
    names = [row[0] for row in rows]
    assert names == ["KVOTE (knn)", "TPROP", "TFEAT", "REXMP", "MIMIC", "NGAN", "ADIB", "ADIM"]
    knn, tprop, mimic, adim = rows[0], rows[1], rows[4], rows[7]
    assert knn[1] == "0.3000 ± 0.1000" and knn[2] == "0.5755"
    assert tprop[1] == "-" and tprop[2] == "0.6177"  # not implemented: the paper's numbers only
    assert mimic[1] == "0.3000" and mimic[2] == "-"  # one seed; not in the paper's table
    assert adim[1] == "-" and adim[-1] == "0.7914"

    markdown = to_markdown(table, ("popular", "random"), seeds=3)
    assert "**Most Popular Tags**" in markdown and "**Randomly Selected Tags**" in markdown
    assert "over 3 seed(s)" in markdown and "| KVOTE (knn) | 0.3000 ± 0.1000 | 0.5755 |" in markdown
    assert "0.6416" in markdown  # ADIM's NDCG@3 on the random tags, paper
    only_adim = to_markdown(table, ("popular",), methods=("adim",))
    assert "0.3000 ± 0.1000" not in only_adim  # our knn is not a requested method: its numbers stay out

    rows_csv = list(csv.DictReader(io.StringIO(to_csv(table, ("popular",)))))
    assert len(rows_csv) == 8 * 6
    knn_map = next(r for r in rows_csv if r["method"] == "knn" and r["metric"] == "map")
    assert knn_map["mean"] == "0.300000" and knn_map["std"] == "0.100000" and knn_map["paper"] == "0.5755"
    assert knn_map["seeds"] == "0 1 2" and knn_map["values"] == "0.200000 0.300000 0.400000"
    tfeat = next(r for r in rows_csv if r["method"] == "tfeat" and r["metric"] == "r@3")
    assert tfeat["mean"] == "" and tfeat["paper"] == "0.5420"


# ------------------------------------------------------------------------------------------------------
# plan and run
# ------------------------------------------------------------------------------------------------------


def test_tag_config_applies_the_tag_defaults_and_the_overrides_each_method_takes():
    adim = tag_config("adim", "tags-popular", 2, nu=0.5, k_d=3)
    assert isinstance(adim, TrainConfig) and adim.seed == 2 and adim.nu == 0.5 and adim.k_d == 3
    assert adim.n_train == 20000 and adim.epochs == TAG_RUN_DEFAULTS["epochs"]
    assert adim.student_pretrain_epochs == TAG_RUN_DEFAULTS["student_pretrain_epochs"]
    mimic = tag_config("mimic", "tags-random", 0, k_d=3, omega_r=0.2)  # options it does not take are left out
    assert mimic.k_d == 0 and mimic.student_pretrain_epochs == 0 and mimic.dataset == "tags-random"
    knn = tag_config("knn", "tags-random", 1, knn_k=9, nu=0.5, n_train=300, device="cpu")
    assert knn == KnnConfig(dataset="tags-random", n_train=300, seed=1, k=9, device="cpu")


def test_plan_validates_everything_first():
    configs = plan(("knn", "ngan"), ("random", "popular"), 2, **TINY)
    assert [(c.dataset, c.seed, c.method) for c in configs[:3]] == [
        ("tags-random", 0, "knn"),
        ("tags-random", 0, "ngan"),
        ("tags-random", 1, "knn"),
    ]
    assert len(configs) == 8 and all(c.n_train == 200 for c in configs)
    assert run_folder("out", configs[1]) == Path("out/random/ngan/seed0")
    for kwargs, message in [
        ({"methods": ("adim", "kvote")}, "method must be one of knn, mimic"),
        ({"methods": ("adim", "adim")}, "methods must be distinct"),
        ({"methods": ()}, "methods must name at least one"),
        ({"label_sets": ("popular", "nope")}, "label set must be one of popular, random"),
        ({"seeds": 0}, "seeds must be an integer >= 1"),
        ({"seed": 3}, "seed cannot be overridden"),
        ({"nu": -1.0}, "nu must be >= 0"),
        ({"n_train": 20001}, "n_train must be <= 20000"),
    ]:
        arguments = {"methods": ("knn", "adim"), "label_sets": ("popular",), "seeds": 1, **kwargs}
        with pytest.raises(ValueError, match=message):
            plan(**arguments)


def test_a_tiny_table_runs_end_to_end_and_a_rerun_reads_it_back(tmp_path: Path):
    outcome = run_table4(1, tmp_path, methods=("knn", "adim"), label_sets=("popular",), progress=False, jobs=1, **TINY)
    written = {p.name for p in tmp_path.iterdir()}
    assert {"table4.md", "table4.csv", "table4.json", "popular", "teachers"} <= written
    assert (tmp_path / "popular" / "knn" / "seed0" / RESULT).exists()
    assert (tmp_path / "popular" / "adim" / "seed0" / RESULT).exists()
    document = json.loads((tmp_path / "table4.json").read_text())
    assert document["label_sets"] == ["popular"] and document["methods"] == ["knn", "adim"]
    assert document["seeds"] == [0] and document["paper"] == {"popular": TPAMI_TABLE4["popular"]}
    assert set(document["ours"]["popular"]) == {"knn", "adim"}
    assert [run["folder"] for run in document["runs"]] == ["popular/knn/seed0", "popular/adim/seed0"]
    adim = outcome["results"][1]
    assert document["ours"]["popular"]["adim"]["map"]["values"] == [adim["map"]]
    markdown = (tmp_path / "table4.md").read_text()
    assert markdown == outcome["markdown"] and "**Most Popular Tags**" in markdown
    assert "Randomly Selected Tags" not in markdown
    assert f"| ADIM | {adim['map']:.4f} | 0.7862 |" in markdown

    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob(RESULT)}
    again = run_table4(1, tmp_path, methods=("knn", "adim"), label_sets=("popular",), progress=False, jobs=1, **TINY)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob(RESULT)} == stamps  # nothing trained again
    assert again["table"] == outcome["table"]


def _cells(value: float) -> dict:
    return {m: {"mean": value, "std": None, "seeds": [0], "values": [value]} for m in table4.TABLE4_METRICS}


def test_paper_comparison_ranks_ours_beside_the_papers():
    table = {"popular": {"adim": _cells(0.36), "knn": _cells(0.30), "ngan": _cells(0.10)}}
    lines = table4.paper_comparison(table, "map")
    assert lines[0] == (
        "Most Popular Tags, MAP: ours ADIM 0.3600 > KVOTE (knn) 0.3000 > NGAN 0.1000; "
        "paper ADIM 0.7862 > NGAN 0.7432 > KVOTE (knn) 0.5755."
    )
    assert lines[1] == "Most Popular Tags: ADIM's MAP is +20.0% against KNN voting (paper: +36.6% against KVOTE)."
    with pytest.raises(ValueError, match="metric"):
        table4.paper_comparison(table, "accuracy")


def test_curves_and_their_summary_for_fig_9():
    def run(method, dataset, seed, values):
        return {
            "config": {"method": method, "dataset": dataset, "seed": seed},
            "history": [{"student_p@3": v} for v in values],
        }

    results = [
        run("adim", "tags-popular", 0, [0.2, 0.3, 0.28]),
        run("adim", "tags-popular", 1, [0.2, 0.3, 0.30]),
        run("ngan", "tags-popular", 0, [0.25, 0.05, 0.04]),
        run("adim", "tags-random", 0, [0.1, 0.1, 0.1]),
        {"config": {"method": "knn", "dataset": "tags-popular", "seed": 0}, "history": [{"student_p@3": 0.2}]},
    ]
    curves = table4.curves(results, "popular")
    assert curves == {"ADIM": [[0.2, 0.3, 0.28], [0.2, 0.3, 0.30]], "NGAN": [[0.25, 0.05, 0.04]]}
    adim, ngan = table4.curve_summary(curves)
    assert adim["best_epoch"] == 2 and adim["best"] == pytest.approx(0.3) and adim["fall"] == pytest.approx(0.01)
    assert ngan["best_epoch"] == 1 and ngan["fall"] == pytest.approx(0.21)
    # the mean ADIM curve is 0.2, 0.3, 0.29: best 0.3 at epoch 2; NGAN falls 0.21 from its best at epoch 1
    assert table4.curve_verdict([adim, ngan]) == (
        "ours: the best student is ADIM (P@3 0.3000 at epoch 2); the largest fall from its best is NGAN's (0.2100)"
    )
    table = table4.curve_summary_markdown([adim, ngan]).splitlines()
    assert table[0] == "| method | best P@3 | at epoch | last P@3 | fall from the best |"
    assert table[2] == "| ADIM | 0.3 | 2 | 0.29 | 0.01 |" and table[3] == "| NGAN | 0.25 | 1 | 0.04 | 0.21 |"
    with pytest.raises(ValueError, match="at least one method"):
        table4.curve_verdict([])
