"""Tests of :class:`advdist_lab.runs.cluster.RayExecutor` against a real Ray cluster started here on 127.0.0.1
(``ray.init(num_cpus=2)``): a small digits grid gives the local executor's results, and every node reaches --out."""

from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray", reason="Ray is the [cluster] extra")

from advdist_lab.methods import TrainConfig  # noqa: E402
from advdist_lab.runs.cluster import RayExecutor  # noqa: E402
from advdist_lab.runs.executors import LocalExecutor, run_configs  # noqa: E402


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
