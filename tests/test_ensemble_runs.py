"""Batched members in run folders (issue 16): :func:`advdist_lab.runs.ensemble.train_batch` and ``--members``.

A member's folder is a solo run's: the same ``result.json`` keys, a checkpoint that ``train --resume`` continues,
read back by a rerun. A batch's numbers equal the solo runs' to float rounding (``tests/test_ensemble.py``), so the
tables of ``--members 2`` and ``--members 1`` agree within 1e-6; a resumed batch equals an uninterrupted one exactly
(every epoch reseeds itself and the members step together as before).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from tiny_configs import tiny  # tests/ is on sys.path

from advdist_lab.cli import main
from advdist_lab.experiments.table1 import plan, run_table1
from advdist_lab.methods import TrainConfig
from advdist_lab.runs.ensemble import MemberNonFiniteError, train_batch
from advdist_lab.runs.ensemble import members as ensemble_members
from advdist_lab.runs.ensemble.plan import batch_tasks, default_members
from advdist_lab.runs.executors import run_configs
from advdist_lab.runs.folder import CHECKPOINT, KILL_AFTER_EPOCH_ENV, RESULT, FolderInUseError, RunFolder, load_result
from advdist_lab.runs.lock import RunExistsError
from advdist_lab.runs.training import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TESTS = Path(__file__).resolve().parent
SEEDS = (0, 1)
TABLE = {
    "methods": ("mimic", "adim"),
    "sizes": (30,),
    "seeds": 2,
    "epochs": 2,
    "teacher_pretrain_epochs": 1,
    "student_pretrain_epochs": 1,
    "device": "cpu",
    "progress": False,
    "jobs": 1,
}


def _shape(result: dict) -> tuple:
    """The structure of a result: its keys, its history's keys, its pretraining's and its timing's."""
    return (
        sorted(result),
        [sorted(entry) for entry in result["history"]],
        {player: sorted(summary) for player, summary in result["pretraining"].items()},
        sorted(k for k in result["timing"] if k != "batch_members"),
    )


def _histories_close(a: dict, b: dict, tolerance: float) -> float:
    assert len(a["history"]) == len(b["history"])
    worst = 0.0
    for x, y in zip(a["history"], b["history"]):
        assert x.keys() == y.keys()
        worst = max([worst] + [abs(x[k] - y[k]) for k in x])
    assert worst <= tolerance
    return worst


# ------------------------------------------------------------------------------------------------------
# table1 with --members 2 and --members 1
# ------------------------------------------------------------------------------------------------------


def test_table1_with_members_equals_the_solo_table(tmp_path: Path, monkeypatch) -> None:
    batched = run_table1("digits", out=tmp_path / "batched", members=2, **TABLE)
    solo = run_table1("digits", out=tmp_path / "solo", members=1, **TABLE)
    for method in TABLE["methods"]:
        for key in ("mean", "std"):
            assert abs(batched["table"][method][30][key] - solo["table"][method][30][key]) <= 1e-6 * 100
        assert batched["table"][method][30]["seeds"] == [0, 1]
    assert batched["markdown"] == solo["markdown"]
    for method in TABLE["methods"]:
        for seed in SEEDS:
            folder = Path("n30") / f"seed{seed}"
            one = load_result(tmp_path / "batched" / method / folder)
            other = load_result(tmp_path / "solo" / method / folder)
            assert _shape(one) == _shape(other)
            assert one["config"] == other["config"]
            assert one["timing"]["batch_members"] == 2 and "batch_members" not in other["timing"]
            _histories_close(one, other, 1e-4)
            assert abs(one["test_accuracy"] - other["test_accuracy"]) <= 1e-6
    # the teachers are cached per seed under the solo keys and shared by both methods
    assert len(list((tmp_path / "batched" / "teachers").iterdir())) == 2
    adim = load_result(tmp_path / "batched" / "adim" / "n30" / "seed1")["pretraining"]["teacher"]
    assert adim == load_result(tmp_path / "batched" / "mimic" / "n30" / "seed1")["pretraining"]["teacher"]

    # a rerun reads every member back: nothing is trained, no result rewritten
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "batched").rglob(RESULT)}
    assert len(stamps) == 4

    def no_training(*args, **kwargs):
        raise AssertionError("a finished member was trained again")

    monkeypatch.setattr(ensemble_members, "BatchedTrainer", no_training)
    again = run_table1("digits", out=tmp_path / "batched", members=2, **TABLE)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "batched").rglob(RESULT)} == stamps
    assert again["table"] == batched["table"]


def test_batch_tasks_group_what_can_share_a_batch() -> None:
    configs = plan("digits", ("mimic", "adim"), (30, 60), 3, epochs=1)  # order: n, seed, method
    tasks = batch_tasks(configs, 2)
    assert sorted(i for task in tasks for i in task) == list(range(len(configs)))
    for task in tasks:
        assert 1 <= len(task) <= 2
        assert len({(configs[i].method, configs[i].n_train) for i in task}) == 1
    assert sorted(len(task) for task in tasks) == [1, 1, 1, 1, 2, 2, 2, 2]
    assert batch_tasks(configs, 1) == [[i] for i in range(len(configs))]
    # grid weights share a batch, other fields do not; probes and unsupported datasets train alone
    grid = [tiny(method="adim", seed=s, nu=nu) for nu in (0.1, 1.0) for s in SEEDS]
    assert batch_tasks(grid, 8) == [[0, 1, 2, 3]]
    assert batch_tasks([tiny(seed=0), tiny(seed=1, lr_student=0.5)], 8) == [[0], [1]]
    assert batch_tasks([tiny(seed=s, probe_gradients=True) for s in SEEDS], 8) == [[0], [1]]
    cifar = [TrainConfig(method="mimic", dataset="cifar10", n_train=500, seed=s) for s in SEEDS]
    assert batch_tasks(cifar, 8) == [[0], [1]]
    assert default_members("digits") > 1 and default_members("synthetic") > 1
    assert default_members("mnist") == default_members("cifar10") == 1
    with pytest.raises(ValueError, match="members must be an integer >= 1"):
        run_configs([tiny()], ["unused"], members=0, progress=False)


def test_worker_processes_run_batches(tmp_path: Path) -> None:
    configs = [tiny(method="ngan", seed=s) for s in (0, 1, 2)] + [tiny(method="mimic", seed=0)]
    folders = [tmp_path / "a" / str(i) for i in range(4)]
    seen = []
    parallel = run_configs(configs, folders, jobs=2, members=2, progress=False, on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == [0, 1, 2, 3]
    serial = run_configs(configs, [tmp_path / "b" / str(i) for i in range(4)], jobs=1, members=2, progress=False)
    assert [r["history"] for r in parallel] == [r["history"] for r in serial]
    assert [r["timing"]["batch_members"] for r in serial[:2]] == [2, 2]
    assert not any("batch_members" in r["timing"] for r in serial[2:])  # alone in their tasks: trained by train()


# ------------------------------------------------------------------------------------------------------
# Resume: a killed batch, a stopped batch resumed solo
# ------------------------------------------------------------------------------------------------------

CHILD = """
import sys, torch
sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
from tiny_configs import tiny
from advdist_lab.runs.ensemble import train_batch
configs = [tiny(method="adim", seed=s, epochs=3) for s in (0, 1)]
train_batch(configs, [{out!r} + f"/seed{{s}}" for s in (0, 1)], resume=True, teacher_cache={out!r} + "/teachers")
"""


def test_a_killed_batch_resumes_to_the_uninterrupted_histories(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    code = CHILD.format(tests=str(TESTS), out=str(out))
    child = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, KILL_AFTER_EPOCH_ENV: "2"}, capture_output=True, timeout=300
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    for seed in SEEDS:
        folder = out / f"seed{seed}"
        assert (folder / CHECKPOINT).exists() and not (folder / RESULT).exists()
    configs = [tiny(method="adim", seed=s, epochs=3) for s in SEEDS]
    resumed = train_batch(configs, [out / f"seed{s}" for s in SEEDS], resume=True, teacher_cache=out / "teachers")
    fresh = train_batch(configs, [tmp_path / "fresh" / f"seed{s}" for s in SEEDS], teacher_cache=tmp_path / "t")
    assert [r["history"] for r in resumed] == [r["history"] for r in fresh]
    assert [r["test_accuracy"] for r in resumed] == [r["test_accuracy"] for r in fresh]
    assert [load_result(out / f"seed{s}")["history"] for s in SEEDS] == [r["history"] for r in fresh]


def test_a_member_folder_resumes_solo(tmp_path: Path) -> None:
    configs = [tiny(method="adim", seed=s, epochs=3) for s in SEEDS]
    stop = threading.Event()

    def stop_after_first_epoch(trainer) -> None:
        epoch = trainer.train_epoch

        def once(e: int):
            stop.set()
            return epoch(e)

        trainer.train_epoch = once

    outs = [tmp_path / "stopped" / f"seed{s}" for s in SEEDS]
    stopped = train_batch(configs, outs, stop=stop, trainer_hook=stop_after_first_epoch)
    assert [r["status"] for r in stopped] == ["stopped", "stopped"]
    assert [len(r["history"]) for r in stopped] == [1, 1]
    assert not any((o / RESULT).exists() for o in outs)
    fresh = train_batch(configs, [tmp_path / "fresh" / f"seed{s}" for s in SEEDS])
    for seed in SEEDS:  # advdist-lab train --resume on a member's folder: the solo loop continues it
        solo = train(configs[seed], outs[seed], resume=True, progress=False)
        assert solo["status"] == "finished" and solo["history"][0] == stopped[seed]["history"][0]
        _histories_close(solo, fresh[seed], 1e-4)
        assert _shape(solo) == _shape(fresh[seed])


# ------------------------------------------------------------------------------------------------------
# Refusals before any work; a non-finite member
# ------------------------------------------------------------------------------------------------------


def test_a_locked_member_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    configs = [tiny(seed=s) for s in SEEDS]
    outs = [tmp_path / f"seed{s}" for s in SEEDS]
    with RunFolder(outs[1]):
        with pytest.raises(FolderInUseError) as info:
            train_batch(configs, outs, teacher_cache=tmp_path / "teachers")
    message = str(info.value)
    assert str(outs[1]) in message and "\n" not in message
    assert not outs[0].exists() and not (tmp_path / "teachers").exists()  # nothing trained, nothing left
    train_batch(configs, outs)
    with pytest.raises(RunExistsError, match=f"{outs[0]} already holds a finished run"):
        train_batch(configs, outs)
    fresh = tmp_path / "fresh"
    with pytest.raises(RunExistsError, match=f"{outs[1]} holds a run with a different config"):
        train_batch([tiny(seed=s, epochs=3) for s in SEEDS], [fresh, outs[1]], resume=True)
    assert not fresh.exists()  # member 0 was not trained: every folder is read before any work
    with pytest.raises(ValueError, match="member 1 differs from member 0 in lr_student"):
        train_batch([tiny(seed=0), tiny(seed=1, lr_student=0.5)], [tmp_path / "x", tmp_path / "y"])
    with pytest.raises(ValueError, match="its own run folder"):
        train_batch(configs, [tmp_path / "z", tmp_path / "z"])


def test_a_non_finite_member_keeps_its_checkpoint_and_the_others_finish(tmp_path: Path) -> None:
    configs = [tiny(method="mimic", seed=s, epochs=3) for s in (0, 1, 5)]
    outs = [tmp_path / f"m{i}" for i in range(3)]

    def poison_in_epoch_two(trainer) -> None:
        epoch = trainer.train_epoch

        def poisoned(e: int):
            if e == 1:
                with torch.no_grad():
                    for param in trainer.players.student.parameters():
                        param[1] = math.inf
            return epoch(e)

        trainer.train_epoch = poisoned

    with pytest.raises(MemberNonFiniteError) as info:
        train_batch(configs, outs, trainer_hook=poison_in_epoch_two)
    message = str(info.value)
    assert message.startswith("member 1 (seed 1): the student's loss is not finite in training epoch 2")
    assert f"the checkpoint of epoch 1 is kept in {outs[1] / CHECKPOINT}" in message and "\n" not in message
    assert not (outs[1] / RESULT).exists() and (outs[1] / CHECKPOINT).exists()
    for i in (0, 2):
        result = load_result(outs[i])
        assert result["status"] == "finished" and len(result["history"]) == 3
        _histories_close(result, train(configs[i], progress=False), 1e-4)
    kept = torch.load(outs[1] / CHECKPOINT, weights_only=True)
    assert len(kept["history"]) == 1
    assert all(torch.isfinite(v).all() for v in kept["trainer"]["players"]["student"].values())


# ------------------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------------------


def test_members_option_of_table1_and_sweep(tmp_path: Path, capsys) -> None:
    tiny_options = ["--epochs", "1", "--teacher-pretrain-epochs", "1", "--student-pretrain-epochs", "1"]
    common = ["--no-progress", "--device", "cpu", "--jobs", "1", *tiny_options]
    for command in (["table1", "--seeds", "2", "--sizes", "30", "--methods", "mimic"], ["sweep", "--grid", "nu=1,2"]):
        for bad in ("0", "-3"):
            assert main([*command, "--members", bad, "--out", str(tmp_path / "bad"), *common]) == 2
            error = capsys.readouterr().err.strip()
            assert f"--members must be a positive integer (got {bad})" in error and "\n" not in error
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "t1"
    args = ["table1", "--seeds", "2", "--sizes", "30", "--methods", "mimic", "--members", "2", "--out", str(out)]
    assert main([*args, *common]) == 0
    assert "| MIMIC |" in capsys.readouterr().out
    assert [load_result(out / "mimic" / "n30" / f"seed{s}")["timing"]["batch_members"] for s in SEEDS] == [2, 2]
    sweep = tmp_path / "sweep"
    argv = ["sweep", "--method", "adim", "--grid", "nu=0.5,1", "--seeds", "2", "--out", str(sweep), *common]
    assert main(argv) == 0
    document = json.loads((sweep / "sweep.json").read_text())
    members = [load_result(sweep / p["folder"])["timing"]["batch_members"] for p in document["points"]]
    assert members == [4, 4, 4, 4]  # default on digits: the grid's two nu values and two seeds in one batch


def test_batch_tasks_cut_a_group_into_even_chunks() -> None:
    grid = [tiny(method="adim", seed=s, nu=nu) for nu in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0) for s in range(13)]
    tasks = batch_tasks(grid, 32)
    assert [len(t) for t in tasks] == [26, 26, 26]  # 78 runs: not 32, 32, 14
    assert [i for t in tasks for i in t] == list(range(78))
    assert [len(t) for t in batch_tasks(grid[:7], 3)] == [3, 2, 2]
    assert [len(t) for t in batch_tasks(grid[:64], 32)] == [32, 32]
