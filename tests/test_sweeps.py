"""Tests of :mod:`advdist_lab.runs.sweeps` and :mod:`advdist_lab.runs.executors`: many runs, each cached in its own
folder; grids of overrides and seeds."""

from __future__ import annotations

import statistics
import threading
from pathlib import Path

import pytest

from advdist_lab.methods import TrainConfig
from advdist_lab.runs.executors import run_configs
from advdist_lab.runs.folder import RESULT
from advdist_lab.runs.sweeps import TEACHERS, format_value, grid, points, run_sweep, summarize, to_markdown
from advdist_lab.runs.training import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(**changes) -> TrainConfig:
    base = {"dataset": "digits", "n_train": 30, "epochs": 1, "teacher_pretrain_epochs": 1, "device": "cpu"}
    return TrainConfig(**{**base, **changes})


def test_runs_are_trained_once_and_then_read_back(tmp_path: Path):
    configs = [tiny(method="mimic", seed=s) for s in (0, 1)]
    folders = [tmp_path / f"seed{s}" for s in (0, 1)]
    seen = []
    first = run_configs(configs, folders, progress=False, jobs=1, on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == [0, 1] and all((f / RESULT).exists() for f in folders)
    stamps = [(f / RESULT).stat().st_mtime_ns for f in folders]
    again = run_configs(configs, folders, progress=False, jobs=1)
    assert again == first
    assert [(f / RESULT).stat().st_mtime_ns for f in folders] == stamps  # read back, not rewritten
    assert first[0]["config"]["seed"] == 0 and first[1]["config"]["seed"] == 1


def test_bad_arguments_fail_before_training(tmp_path: Path):
    with pytest.raises(ValueError, match="same length"):
        run_configs([tiny()], [], progress=False)
    with pytest.raises(ValueError, match="its own folder"):
        run_configs([tiny(), tiny(seed=1)], [tmp_path, tmp_path], progress=False)
    with pytest.raises(ValueError, match="TrainConfig"):
        run_configs([{"method": "adim"}], [tmp_path], progress=False)
    with pytest.raises(ValueError, match="jobs must be"):
        run_configs([tiny()], [tmp_path / "a"], progress=False, jobs=0)
    with pytest.raises(ValueError, match="k_t must be 0"):
        run_configs([tiny(), tiny(method="mimic", k_t=2)], [tmp_path / "a", tmp_path / "b"], progress=False)
    assert not (tmp_path / "a").exists()


# --------------------------------------------------------------------------------------------------------
# Hyperparameter sweeps: grid, points, run_sweep, summarize
# --------------------------------------------------------------------------------------------------------


def tiny_adim(**changes) -> TrainConfig:
    return tiny(method="adim", student_pretrain_epochs=1, **changes)


def results_of(out: Path) -> set[str]:
    return {str(p.parent.relative_to(out)) for p in out.rglob(RESULT)}


def test_grid_is_the_cartesian_product_first_axis_slowest():
    assert grid({"nu": [0.1, 1], "mu": [0, 0.01]}) == [
        {"nu": 0.1, "mu": 0},
        {"nu": 0.1, "mu": 0.01},
        {"nu": 1, "mu": 0},
        {"nu": 1, "mu": 0.01},
    ]
    assert grid({"method": ("adib", "adim")}) == [{"method": "adib"}, {"method": "adim"}]


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({}, "non-empty mapping"),
        ({"nu": []}, "at least one value"),
        ({"nu": [1, 1.0]}, "lists 1.0 twice"),
        ({"nuu": [1]}, "unknown TrainConfig field 'nuu'.*did you mean 'nu'"),
        ({"seed": [0, 1]}, "seed cannot be set"),
        ({"nu": "0.1"}, "must be a sequence"),
        ({"nu": [[0.1]]}, "nu must be a number"),
    ],
)
def test_grid_refuses_bad_axes(axes, message):
    with pytest.raises(ValueError, match=message):
        grid(axes)


def test_points_have_stable_safe_folders_and_validated_configs():
    base = tiny_adim()
    made = points(base, [{"omega_r": 0.25, "n_train": 40, "omega_s": 0.5, "omega_t": 0.25}, {}], seeds=2)
    assert [p.folder for p in made] == [
        "n_train=40/omega_r=0.25/omega_s=0.5/omega_t=0.25/seed=0",
        "n_train=40/omega_r=0.25/omega_s=0.5/omega_t=0.25/seed=1",
        "seed=0",
        "seed=1",
    ]
    assert [p.seed for p in made] == [0, 1, 0, 1] and [p.config.seed for p in made] == [0, 1, 0, 1]
    assert made[0].config.n_train == 40 and made[0].config.omega_s == 0.5 and made[2].config == base
    same = points(base, [{"omega_t": 0.25, "omega_s": 0.5, "n_train": 40, "omega_r": 0.25}], seeds=[1])
    assert same[0].folder == made[1].folder and same[0].key == made[1].key  # key order does not matter
    assert points(base, [{"nu": 1}], [3, 5])[1].folder == "nu=1/seed=5"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.01, "0.01"), (1e-4, "0.0001"), (1e-5, "1e-05"), (100.0, "100"), (1 / 3, repr(1 / 3)), (1234567.0, "1234567.0")],
)
def test_format_value_is_compact_and_faithful(value, text):
    assert format_value(value) == text
    assert float(format_value(value)) == value


def test_format_value_of_other_types_is_filesystem_safe():
    assert [format_value(v) for v in (True, None, 7, "straight_through", "cuda:0", "a/b")] == [
        "true",
        "none",
        "7",
        "straight_through",
        "cuda_0",
        "a_b",
    ]


@pytest.mark.parametrize(
    ("overrides", "seeds", "message"),
    [
        ([{"nu": -1.0}], 1, r"sweep point nu=-1/seed=0: nu must be >= 0"),
        ([{"omega_r": 0.9, "omega_s": 0.9}], 1, "simplex"),
        ([{"method": "ngan", "k_t": 1}], 1, "k_t must be 0"),
        ([{"epochz": 3}], 1, "unknown TrainConfig field 'epochz'.*did you mean 'epochs'"),
        ([{"seed": 3}], 1, "seed cannot be set in overrides"),
        ([{"nu": 0.1, "mu": 0}, {"mu": 0, "nu": 0.1}], 1, "duplicate sweep point"),
        ([{"nu": 1}, {"nu": 1.0}], 1, "duplicate sweep point"),
        ([], 1, "at least one override dict"),
        ({"nu": 1}, 1, "sequence of override dicts"),
        ([{"nu": 1}], 0, "seeds must be an integer >= 1"),
        ([{"nu": 1}], [0, 1, 0], "seed 0 is listed twice"),
        ([{"nu": 1}], [-1], "seed must be an integer >= 0"),
    ],
)
def test_points_refuse_bad_sweeps_before_anything_runs(overrides, seeds, message):
    with pytest.raises(ValueError, match=message):
        points(tiny_adim(), overrides, seeds)


def test_points_refuse_a_base_that_is_not_a_config():
    with pytest.raises(ValueError, match="base must be a TrainConfig"):
        points({"method": "adim"}, [{}], 1)


def test_run_sweep_trains_each_point_once_then_reads_it_back(tmp_path: Path):
    sweep = points(tiny_adim(), grid({"nu": [0.1, 10.0]}), seeds=2)
    seen = []
    first = run_sweep(sweep, tmp_path, jobs=1, progress=False, on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == [0, 1, 2, 3]
    assert results_of(tmp_path) == {p.folder for p in sweep}
    assert [r["config"]["nu"] for r in first] == [0.1, 0.1, 10.0, 10.0]
    assert [r["config"]["seed"] for r in first] == [0, 1, 0, 1]
    assert len(list((tmp_path / TEACHERS).glob("teacher-*.pt"))) == 2  # one teacher per seed, shared by the nus
    stamps = {p: (tmp_path / p / RESULT).stat().st_mtime_ns for p in results_of(tmp_path)}
    assert run_sweep(sweep, tmp_path, jobs=1, progress=False) == first
    assert {p: (tmp_path / p / RESULT).stat().st_mtime_ns for p in results_of(tmp_path)} == stamps

    rows = summarize(sweep, first)
    assert [row["overrides"] for row in rows] == [{"nu": 0.1}, {"nu": 10.0}]
    assert [row["seeds"] for row in rows] == [[0, 1], [0, 1]] and [row["count"] for row in rows] == [2, 2]
    students = [r["test_accuracy"] for r in first[2:]]
    assert rows[1]["test_accuracy_mean"] == pytest.approx(statistics.fmean(students))
    assert rows[1]["test_accuracy_std"] == pytest.approx(statistics.stdev(students))
    teachers = [r["teacher_test_accuracy"] for r in first[:2]]
    assert rows[0]["teacher_test_accuracy_mean"] == pytest.approx(statistics.fmean(teachers))
    table = to_markdown(rows)
    assert table.splitlines()[0].split("|")[1].strip() == "nu" and "student (%)" in table
    assert f"{100 * rows[1]['test_accuracy_mean']:.2f} ± {100 * rows[1]['test_accuracy_std']:.2f}" in table


def test_points_with_equal_configs_share_one_run(tmp_path: Path):
    base = tiny_adim()
    sweep = points(base, [{"nu": base.nu}, {"mu": base.mu}, {"mu": 0.5}], seeds=1)
    results = run_sweep(sweep, tmp_path, jobs=1, progress=False)
    assert results_of(tmp_path) == {"mu=0.01/seed=0", "mu=0.5/seed=0"}  # nu=1 is the base: the first folder by name
    assert results[0] == results[1] and results[2]["config"]["mu"] == 0.5
    assert [row["count"] for row in summarize(sweep, results)] == [1, 1, 1]
    assert summarize(sweep, results)[0]["test_accuracy_std"] is None  # one seed: no spread


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path: Path):
    sweep = points(tiny_adim(), grid({"mu": [0.0, 1.0]}), seeds=2)

    class Interrupt(Exception):
        pass

    def stop_after_first(i: int, result: dict) -> None:
        raise Interrupt

    with pytest.raises(Interrupt):
        run_sweep(sweep, tmp_path / "a", jobs=1, progress=False, on_result=stop_after_first)
    done = results_of(tmp_path / "a")
    assert done == {sweep[0].folder}
    stamp = (tmp_path / "a" / sweep[0].folder / RESULT).stat().st_mtime_ns
    resumed = run_sweep(sweep, tmp_path / "a", jobs=1, progress=False)
    assert (tmp_path / "a" / sweep[0].folder / RESULT).stat().st_mtime_ns == stamp
    assert results_of(tmp_path / "a") == {p.folder for p in sweep}
    fresh = run_sweep(sweep, tmp_path / "b", jobs=1, progress=False)
    assert [r["history"] for r in resumed] == [r["history"] for r in fresh]


def test_a_point_with_an_unfinished_checkpoint_is_resumed(tmp_path: Path):
    sweep = points(tiny_adim(epochs=2), [{"nu": 0.5}], seeds=1)
    stop = threading.Event()
    partial = train(
        sweep[0].config,
        tmp_path / "a" / sweep[0].folder,
        progress=False,
        callback=lambda entry: stop.set(),
        stop=stop,
        teacher_cache=tmp_path / "a" / TEACHERS,
    )
    assert partial["status"] == "stopped" and len(partial["history"]) == 1
    assert not (tmp_path / "a" / sweep[0].folder / RESULT).exists()
    (resumed,) = run_sweep(sweep, tmp_path / "a", jobs=1, progress=False)
    (fresh,) = run_sweep(sweep, tmp_path / "b", jobs=1, progress=False)
    assert resumed["history"][0] == partial["history"][0]
    assert resumed["history"] == fresh["history"] and resumed["test_accuracy"] == fresh["test_accuracy"]


def test_run_sweep_and_summarize_refuse_bad_input(tmp_path: Path):
    sweep = points(tiny_adim(), [{"nu": 0.5}], seeds=2)
    with pytest.raises(ValueError, match="duplicate sweep point"):
        run_sweep([sweep[0], sweep[0]], tmp_path, progress=False)
    other = points(tiny_adim(epochs=2), [{"nu": 0.5}], seeds=1)
    with pytest.raises(ValueError, match="share the folder nu=0.5/seed=0"):
        run_sweep([sweep[0], other[0]], tmp_path, progress=False)
    with pytest.raises(ValueError, match="at least one point"):
        run_sweep([], tmp_path, progress=False)
    assert not any(tmp_path.iterdir())
    fake = [{"config": {"seed": 0}, "test_accuracy": 0.5}, {"config": {"seed": 1}, "test_accuracy": 0.7}]
    with pytest.raises(ValueError, match="same length"):
        summarize(sweep, fake[:1])
    with pytest.raises(ValueError, match="is of seed 1"):
        summarize(sweep, fake[::-1])
    (row,) = summarize(sweep, fake)
    assert row["test_accuracy_mean"] == pytest.approx(0.6)
    assert row["teacher_test_accuracy_mean"] is None and row["teacher_test_accuracy_std"] is None


def test_summarize_averages_other_top_level_metrics():
    sweep = points(tiny(method="mimic"), [{"nu": 1.0}], seeds=(0, 1))
    results = [
        {"config": {"seed": 0}, "test_accuracy": 0.5, "map": 0.2},
        {"config": {"seed": 1}, "test_accuracy": 0.7, "map": 0.4},
    ]
    (row,) = summarize(sweep, results, metrics=("map", "teacher_map"))
    assert row["map_mean"] == pytest.approx(0.3) and row["map_std"] == pytest.approx(0.1414213, rel=1e-5)
    assert row["teacher_map_mean"] is None and row["test_accuracy_mean"] == pytest.approx(0.6)
