"""Tests of ``advdist-lab tags`` and ``advdist-lab table4`` (TPAMI Sec. 5.2, Table 4): tiny runs end to end, a
user's features file, resume, and the error exits (status 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_cli import error_line  # tests/ is on sys.path (pytest rootdir conftest)

from advdist_lab import cli
from advdist_lab.runs import RESULT

TINY = [
    "--n-train",
    "200",
    "--epochs",
    "2",
    "--teacher-pretrain-epochs",
    "1",
    "--student-pretrain-epochs",
    "1",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--no-progress",
]
METRICS = ("MAP", "MRR", "P@3", "R@3", "F@3", "NDCG@3")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_tags_trains_adim_writes_result_json_and_prints_the_metrics_in_one_line(tmp_path: Path, capsys):
    out = tmp_path / "t"
    argv = ["tags", "--method", "adim", "--label-set", "popular", "--seed", "0", "--out", str(out), *TINY]
    assert cli.main(argv) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    result = json.loads((out / RESULT).read_text())
    assert result["config"]["method"] == "adim" and result["config"]["dataset"] == "tags-popular"
    assert result["config"]["n_train"] == 200 and result["config"]["data_file"] is None
    assert len(result["history"]) == 2 and "student_map" in result["history"][-1]
    assert line.startswith("adim on tags-popular (n = 200, seed 0): student MAP ")
    for name, key in zip(METRICS, ("map", "mrr", "p@3", "r@3", "f@3", "ndcg@3"), strict=True):
        assert f"{name} {result[key]:.4f}" in line
    assert "teacher MAP" in line and "after 2 epochs" in line and str(out / RESULT) in line

    assert cli.main([*argv, "--resume"]) == 0  # a finished run is read back and printed again
    assert capsys.readouterr().out.strip() == line
    assert cli.main(argv) == 2  # without --resume a finished run is never overwritten
    assert "already holds a finished run" in error_line(capsys)


def test_tags_knn_on_the_random_tags_with_the_default_folder(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["tags", "--method", "knn", "--label-set", "random", "--n-train", "500", "--knn-k", "7", "--seed", "1"]
    assert cli.main([*argv, "--no-progress"]) == 0
    line = capsys.readouterr().out.strip()
    result = json.loads((tmp_path / "runs" / "tags-random-knn-seed1" / RESULT).read_text())
    assert result["config"] == {
        "method": "knn",
        "dataset": "tags-random",
        "n_train": 500,
        "subset_seed": 0,
        "seed": 1,
        "k": 7,
        "weighted": True,
        "data_file": None,
        "device": "auto",
    }
    assert line.startswith("knn on tags-random (n = 500, seed 1): student MAP ") and "k = 7" in line
    assert f"P@3 {result['p@3']:.4f}" in line


def test_tags_on_a_users_features_file(tmp_path: Path, capsys):
    from advdist_lab.data.tags_features import save_tag_features

    rng = np.random.default_rng(0)
    n, labels = 120, 6
    tags = (rng.random((n, labels)) < 0.3).astype(np.uint8)
    tags[np.arange(n), rng.integers(labels, size=n)] = 1
    image = tags @ rng.standard_normal((labels, 5)) + 0.1 * rng.standard_normal((n, 5))
    split = np.repeat(np.array([0, 1], dtype=np.int8), [100, 20])
    path = save_tag_features(
        tmp_path / "mine.npz", image=image, text=rng.standard_normal((n, 3)), tags=tags, split=split
    )
    out = tmp_path / "knn"
    assert cli.main(["tags", "--method", "knn", "--features", str(path), "--knn-k", "5", "--out", str(out)]) == 0
    result = json.loads((out / RESULT).read_text())
    assert result["config"]["data_file"] == str(path) and result["config"]["n_train"] == 100  # all training rows
    assert result["test_accuracy"] > 0.5  # P@1: the image features give the tags away here
    assert "knn on tags-popular (n = 100, seed 0)" in capsys.readouterr().out

    out = tmp_path / "mimic"
    argv = ["tags", "--method", "mimic", "--features", str(path), "--out", str(out), *TINY]
    argv[argv.index("--n-train") + 1] = "50"
    assert cli.main(argv) == 0
    result = json.loads((out / RESULT).read_text())
    assert result["config"]["data_file"] == str(path) and len(result["history"]) == 2
    assert "mimic on tags-popular (n = 50, seed 0)" in capsys.readouterr().out

    out = tmp_path / "t4"  # a file holds one set of tags: one block by default
    assert cli.main(["table4", "--features", str(path), "--methods", "knn", "--seeds", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "**Most Popular Tags**" in printed and "Randomly Selected Tags" not in printed
    assert json.loads((out / "table4.json").read_text())["runs"][0]["config"]["data_file"] == str(path)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tags", "--method", "kvote"], "method must be one of knn, mimic, distn"),
        (["tags", "--label-set", "rare"], "--label-set must be one of popular, random (got 'rare')"),
        (["tags", "--features", "missing.npz"], "--features must be an existing .npz file ('missing.npz'"),
        (["tags", "--method", "adim", "--knn-k", "5"], "--knn-k apply to --method knn only"),
        (["tags", "--method", "knn", "--knn-k", "0"], "k must be an integer >= 1 (got 0)"),
        (["tags", "--method", "knn", "--epochs", "3", "--nu", "2"], "--epochs, --nu: knn trains nothing"),
        (["tags", "--method", "adib", "--omega-r", "0.2"], "ADIB has no real-data weight"),
        (["tags", "--n-train", "20001"], "n_train must be <= 20000"),
        (["tags", "--nu", "-1"], "nu must be >= 0"),
        (["table4", "--methods", "knn,tprop"], "method must be one of knn, mimic"),
        (["table4", "--label-sets", "popular,popular"], "label_sets must be distinct"),
        (["table4", "--label-sets", "all"], "label set must be one of popular, random (got 'all')"),
        (["table4", "--seeds", "0"], "seeds must be an integer >= 1 (got 0)"),
        (["table4", "--methods", "adim", "--knn-unweighted"], "--knn-unweighted apply to --method knn only"),
        (["table4", "--jobs", "0", "--methods", "adim", "--n-train", "200"], "jobs must be an integer >= 1"),
        (["table4", "--features", "nope.npz"], "--features must be an existing .npz file"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv: list[str], message: str, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main([*argv, "--no-progress"]) == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "runs").exists()  # nothing was trained or written


def test_table4_prints_both_blocks_beside_the_papers_numbers_and_writes_its_files(tmp_path: Path, capsys):
    out = tmp_path / "t4"
    argv = ["table4", "--seeds", "1", "--methods", "knn,mimic", "--out", str(out), "--jobs", "1", *TINY]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "**Most Popular Tags**" in printed and "**Randomly Selected Tags**" in printed
    for text in ("KVOTE (knn)", "TPROP", "MIMIC", "ADIM", "0.5755", "0.7914", "0.3970", "0.6416", "MAP (paper)"):
        assert text in printed
    assert f"written: {out / 'table4.md'}, {out / 'table4.csv'}, {out / 'table4.json'}" in printed
    document = json.loads((out / "table4.json").read_text())
    assert document["methods"] == ["knn", "mimic"] and document["label_sets"] == ["popular", "random"]
    for label_set in ("popular", "random"):
        assert set(document["ours"][label_set]) == {"knn", "mimic"}
        mimic = json.loads((out / label_set / "mimic" / "seed0" / RESULT).read_text())
        assert mimic["config"]["epochs"] == 2 and mimic["config"]["n_train"] == 200
        assert f"| MIMIC | {mimic['map']:.4f} | - |" in printed
    assert (out / "table4.md").read_text() in printed
