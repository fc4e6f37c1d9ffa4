"""Reading finished runs back without training (``train=False``: a notebook that is safe to Run All): the runs of
:func:`~advdist_lab.runs.executors.run_configs` and a sweep of :func:`~advdist_lab.runs.sweeps.run_sweep` are read
without writing anything, a missing run is counted in one line before anything is read, and notebook 06 run with
``TRAIN = False`` says so instead of starting its 5-minute sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advdist_lab import course
from advdist_lab.methods import TrainConfig
from advdist_lab.runs.executors import RunsNotTrainedError, run_configs
from advdist_lab.runs.folder import RESULT, RunExistsError
from advdist_lab.runs.sweeps import grid, points, run_sweep

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parent.parent


def tiny(**changes) -> TrainConfig:
    base = {"method": "mimic", "dataset": "digits", "n_train": 30, "epochs": 2, "teacher_pretrain_epochs": 1}
    return TrainConfig(**{**base, "student_pretrain_epochs": 0, "device": "cpu", **changes})


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_missing_runs_are_counted_before_anything_is_read(tmp_path: Path) -> None:
    configs = [tiny(seed=s) for s in range(3)]
    folders = [tmp_path / str(s) for s in range(3)]
    run_configs(configs[:1], folders[:1], jobs=1, progress=False)
    before = snapshot(tmp_path)
    with pytest.raises(RunsNotTrainedError, match=f"1 of 3 runs are finished in {tmp_path}, and train=False") as info:
        run_configs(configs, folders, progress=False, train=False)
    assert (info.value.finished, info.value.total) == (1, 3)
    assert snapshot(tmp_path) == before  # nothing created, nothing trained


def test_finished_runs_are_read_back_as_trained_and_nothing_is_written(tmp_path: Path) -> None:
    configs = [tiny(seed=s) for s in range(2)]
    folders = [tmp_path / str(s) for s in range(2)]
    trained = run_configs(configs, folders, jobs=1, progress=False)
    before = snapshot(tmp_path)
    read = run_configs(configs, folders, progress=False, train=False)
    assert read == [json.loads((f / RESULT).read_text()) for f in folders]
    assert [r["history"] for r in read] == [r["history"] for r in trained]
    assert snapshot(tmp_path) == before  # no lock file, no checkpoint, nothing rewritten
    with pytest.raises(RunExistsError, match="different config"):
        run_configs([tiny(seed=0, epochs=3)], folders[:1], progress=False, train=False)


def test_a_sweep_is_read_back_without_locking_its_folder(tmp_path: Path) -> None:
    sweep = points(tiny(), grid({"nu": [0.5, 1.0]}), seeds=1)
    with pytest.raises(RunsNotTrainedError, match="0 of 2 runs are finished"):
        run_sweep(sweep, tmp_path / "sweep", progress=False, train=False)
    assert not (tmp_path / "sweep").exists()
    trained = run_sweep(sweep, tmp_path / "sweep", jobs=1, progress=False)
    before = snapshot(tmp_path)
    read = run_sweep(sweep, tmp_path / "sweep", progress=False, train=False)
    assert [r["history"] for r in read] == [r["history"] for r in trained]
    assert snapshot(tmp_path) == before


def test_table4_without_training_is_refused_before_any_knn_run(tmp_path: Path) -> None:
    from advdist_lab.experiments import table4_runs

    with pytest.raises(RunsNotTrainedError, match="0 of 1 runs are finished"):
        table4_runs.run_table4(
            1, tmp_path / "t4", methods=("knn", "adim"), label_sets=("popular",), progress=False, train=False
        )
    assert not (tmp_path / "t4").exists()  # no KNN run, no lock, no table


@pytest.mark.parametrize(
    ("stem", "messages"),
    [
        ("06_explorer", ["Figs. 3 and 6 are not drawn: 0 of "]),
        (
            "07_tag_recommendation",
            [
                f"{what} not drawn: 0 of "
                for what in ("Table 4 and Fig. 9 are", "Fig. 11 is", "Fig. 8 is", "Fig. 10 is")
            ],
        ),
        # the notebook's own DFARD run is the "Ours" row of Tables 1 and 3 (Table 4's rows are other variants)
        (
            "08_data_free_robust_distillation",
            [
                "Table 1 is not drawn: 1 of 6 runs",
                "Table 3 is not drawn: 1 of 5 runs",
                "Table 4 is not drawn: 0 of 3 runs",
            ],
        ),
    ],
)
def test_a_notebook_run_all_reads_its_long_runs_back_instead_of_training_them(
    tmp_path: Path, stem: str, messages: list[str]
) -> None:
    """Run All in JupyterLab (``TRAIN = False``, the default): each long section says what is missing and how to
    train it, the notebook finishes, and no figure is drawn from nothing."""
    run = course.run_notebook(
        ROOT / "notebooks" / f"{stem}.py", tmp_path, {"SMOKE": True, "INTERACTIVE": False}, html=False
    )
    assert run.ok, run.error
    notebook = json.loads(run.ipynb.read_text())
    injected = next(c for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    assert "TRAIN" not in "".join(injected["source"])  # the notebook's own default
    text = "".join(
        "".join(o.get("text", "")) for c in notebook["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
    )
    for message in messages:
        assert message in text
    assert text.count("Set TRAIN = True") == len(messages)
    titles = [
        str(o["data"]["application/vnd.plotly.v1+json"].get("layout", {}).get("title", {}).get("text", ""))
        for c in notebook["cells"]
        for o in c.get("outputs", [])
        if "application/vnd.plotly.v1+json" in o.get("data", {})
    ]
    assert not [t for t in titles if "TPAMI Fig." in t], titles  # no figure of the untrained runs
