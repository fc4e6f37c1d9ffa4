"""Tests of the executor interface (:mod:`advdist_lab.runs.executors`): the options' checks and the progress bar's
counts; no Ray needed."""

from __future__ import annotations

import pytest

from advdist_lab.runs.cluster import RayExecutor
from advdist_lab.runs.executors import LocalExecutor, current_executor, executor_scope, make_executor
from advdist_lab.runs.progress import RunsProgress


def test_local_is_the_default_and_takes_no_ray_option():
    assert make_executor("local", jobs=2) is None
    with pytest.raises(ValueError, match="--address apply to --executor ray"):
        make_executor("local", address="auto")
    with pytest.raises(ValueError, match="--executor must be one of local, ray"):
        make_executor("slurm")


def test_ray_options_are_checked_before_any_work():
    with pytest.raises(ValueError, match="--jobs applies to --executor local"):
        make_executor("ray", jobs=2)
    with pytest.raises(ValueError, match="--cpus-per-run must be > 0"):
        RayExecutor(cpus_per_run=0)
    with pytest.raises(ValueError, match="--gpus-per-run must be >= 0"):
        RayExecutor(gpus_per_run=-0.5)
    with pytest.raises(ValueError, match="whole number"):
        RayExecutor(gpus_per_run=1.5)
    with pytest.raises(ValueError, match="--address must be auto"):
        RayExecutor(address="http://x")
    executor = make_executor("ray", address="ray://127.0.0.1:10001", cpus_per_run=2, gpus_per_run=0.25)
    assert (executor.address, executor.cpus_per_run, executor.gpus_per_run) == ("ray://127.0.0.1:10001", 2, 0.25)


def test_scope_sets_and_restores_the_executor():
    local = LocalExecutor(jobs=2)
    assert current_executor() is None
    with executor_scope(local):
        assert current_executor() is local
    assert current_executor() is None
    with pytest.raises(ValueError, match="executor must be an Executor"):
        with executor_scope("ray"):
            pass


def test_local_executor_in_process_reports_starts_and_results():
    events = []
    LocalExecutor(jobs=1).run(
        pow, [(2, 3), (3, 2)], lambda i, v: events.append(("done", i, v)), lambda i: events.append(("start", i))
    )
    assert events == [("start", 0), ("done", 0, 8), ("start", 1), ("done", 1, 9)]


def test_progress_counts_runs_of_batched_tasks():
    bar = RunsProgress([3, 1, 2], "runs", enabled=False)
    assert bar.counts == (0, 0, 6)
    bar.started(0)
    bar.started(0)  # a retry counts once
    assert bar.counts == (0, 3, 3)
    bar.finished(0)
    bar.started(2)
    assert bar.counts == (3, 2, 1)
    with pytest.raises(ValueError, match="at least one run"):
        RunsProgress([0], "runs", enabled=False)


def test_executor_ray_without_ray_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    import sys

    from advdist_lab.cli import main
    from advdist_lab.runs.cluster import INSTALL_HINT

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as where it is not installed
    argv = ["table1", "--sizes", "30", "--methods", "distn", "--seeds", "1", "--epochs", "1", "--no-progress"]
    status = main([*argv, "--executor", "ray", "--out", str(tmp_path / "t")])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err == f"advdist-lab: error: {INSTALL_HINT}"
    assert "pip install 'advdist-lab[cluster]'" in err
    assert not list(tmp_path.rglob("result.json"))  # refused before any run
