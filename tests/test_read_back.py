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


def test_the_explorer_notebook_reads_its_sweeps_back_instead_of_training_them(tmp_path: Path) -> None:
    """Run All in JupyterLab (``TRAIN = False``, the default): the sweep cell says what is missing and how to
    train it, the notebook finishes, and no figure of Figs. 3 and 6 is drawn from nothing."""
    run = course.run_notebook(
        ROOT / "notebooks" / "06_explorer.py", tmp_path, {"SMOKE": True, "INTERACTIVE": False}, html=False
    )
    assert run.ok, run.error
    notebook = json.loads(run.ipynb.read_text())
    injected = next(c for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    assert "TRAIN" not in "".join(injected["source"])  # the notebook's own default
    text = "".join(
        "".join(o.get("text", "")) for c in notebook["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
    )
    assert "Figs. 3 and 6 are not drawn: 0 of " in text and "Set TRAIN = True" in text
    assert "(TPAMI Fig. 3)" not in json.dumps(notebook)
