"""Tests of :class:`advdist_lab.runs.cluster.RayExecutor` against a real Ray cluster started here on 127.0.0.1
(``ray.init(num_cpus=2)``): a small digits grid gives the local executor's results, every node reaches --out, a
worker killed mid-run is retried and resumes from its checkpoint (or, with no retry left, is reported with what was
kept), and an interrupt cancels the tasks and keeps the finished runs for the rerun. ``tests/test_ray_cli.py`` stops
the command line's runs with Ctrl-C and ``ray stop``."""

from __future__ import annotations

import json
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is the [cluster] extra")

from advdist_lab.methods import TrainConfig  # noqa: E402
from advdist_lab.runs.cluster import CANCEL_GRACE_SECONDS, RayExecutor  # noqa: E402
from advdist_lab.runs.executors import LocalExecutor, RunsInterrupted, WorkerDiedError, run_configs  # noqa: E402
from advdist_lab.runs.folder import CHECKPOINT, KILL_AFTER_EPOCH_ENV, RESULT  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING")
    yield
    ray.shutdown()


def _grid():
    return [
        TrainConfig(method=method, dataset="digits", n_train=30, epochs=2, seed=seed, device="cpu")
        for method in ("distn", "adim")
        for seed in (0, 1)
    ]


def _numbers(result: dict) -> dict:
    return {key: result[key] for key in ("test_accuracy", "teacher_test_accuracy", "history") if key in result}


def test_ray_results_equal_local_results(cluster, tmp_path):
    configs = _grid()
    local = run_configs(
        configs, [tmp_path / "local" / str(i) for i in range(4)], executor=LocalExecutor(2), progress=False
    )
    remote = run_configs(configs, [tmp_path / "ray" / str(i) for i in range(4)], executor=RayExecutor(), progress=False)
    assert [_numbers(r) for r in remote] == [_numbers(r) for r in local]
    stored = json.loads((tmp_path / "ray" / "3" / "result.json").read_text())
    assert stored["test_accuracy"] == remote[3]["test_accuracy"]


def test_every_node_reaches_out_and_a_wrong_token_is_named(cluster, tmp_path):
    executor = RayExecutor()
    assert executor.unreachable(tmp_path) == []
    failures = executor.unreachable(tmp_path, token="not-what-was-written")
    assert len(failures) == 1 and "another folder" in failures[0][1]
    assert not list(tmp_path.glob(".reach-*"))  # the probes' files are removed


def test_a_killed_worker_is_retried_and_resumes_to_the_uninterrupted_result(cluster, tmp_path):
    configs = _grid()[:2]
    # every task's worker is SIGKILLed right after its first epoch's checkpoint; Ray retries the task on a new
    # worker, which resumes the run from that checkpoint
    killing = RayExecutor(runtime_env={"env_vars": {KILL_AFTER_EPOCH_ENV: "1"}})
    killed = run_configs(configs, [tmp_path / "killed" / str(i) for i in range(2)], executor=killing, progress=False)
    fresh = run_configs(
        configs, [tmp_path / "fresh" / str(i) for i in range(2)], executor=RayExecutor(), progress=False
    )
    assert [_numbers(r) for r in killed] == [_numbers(r) for r in fresh]


def test_a_worker_killed_with_no_retry_left_is_reported_and_the_rerun_finishes(cluster, tmp_path):
    configs = _grid()[:2]
    folders = [tmp_path / str(i) for i in range(2)]
    killing = RayExecutor(retries=0, runtime_env={"env_vars": {KILL_AFTER_EPOCH_ENV: "1"}})
    with pytest.raises(
        WorkerDiedError, match=r"a Ray worker died during a run and 0 retries did not finish it"
    ) as info:
        run_configs(configs, folders, executor=killing, progress=False)
    assert f"0 of 2 runs finished and are kept in {tmp_path}; run the same command" in str(info.value)
    assert any((folder / CHECKPOINT).exists() for folder in folders)  # the killed one stopped after an epoch
    resumed = run_configs(configs, folders, executor=RayExecutor(), progress=False)
    fresh = run_configs(
        configs, [tmp_path / "fresh" / str(i) for i in range(2)], executor=RayExecutor(), progress=False
    )
    assert [_numbers(r) for r in resumed] == [_numbers(r) for r in fresh]


def test_an_interrupt_cancels_the_ray_tasks_and_the_rerun_finishes_only_the_missing_runs(cluster, tmp_path):
    configs = [c.replace(epochs=30, n_train=200) for c in _grid()]
    folders = [tmp_path / str(i) for i in range(4)]

    def interrupt(i: int, result: dict) -> None:  # as Ctrl-C or Kernel > Interrupt while the driver waits
        raise KeyboardInterrupt

    started = time.perf_counter()
    with pytest.raises(RunsInterrupted) as info:
        run_configs(configs, folders, executor=RayExecutor(), progress=False, on_result=interrupt)
    assert time.perf_counter() - started < 60
    kept = {f: (f / RESULT).stat().st_mtime_ns for f in folders if (f / RESULT).exists()}
    assert 1 <= len(kept) < 4
    assert str(info.value).startswith(f"interrupted: {len(kept)} of 4 runs finished and are kept in {tmp_path}; ")
    assert not list(tmp_path.glob(".stop-*"))  # the stop file that reached the tasks is removed
    time.sleep(CANCEL_GRACE_SECONDS)  # a stopped task unwinds (its folder's lock released) within the grace
    results = run_configs(configs, folders, executor=RayExecutor(), progress=False)
    assert {f: (f / RESULT).stat().st_mtime_ns for f in kept} == kept  # read back, not trained again
    assert [r["config"]["seed"] for r in results] == [0, 1, 0, 1]
    assert not [f for f in folders if (f / ".lock").exists()]
