"""Stopping many runs (issue "House", item 5): an interrupt cancels the queued runs, terminates the workers, keeps
every finished run and says so in one line within seconds; the same call again finishes only the missing runs.

Also the worker processes of :func:`advdist_lab.runs.executors.run_configs`: the same results as in one process, a
worker's error raised in the parent with its type, a killed worker reported with what was kept.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advdist_lab.methods import TrainConfig
from advdist_lab.runs.executors import RunsInterrupted, WorkerDiedError, run_configs
from advdist_lab.runs.folder import KILL_AFTER_EPOCH_ENV, RESULT, DamagedResultError, load_result
from advdist_lab.runs.sweeps import grid, points, run_sweep

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TESTS = Path(__file__).resolve().parent


def tiny(**changes) -> TrainConfig:
    base = {"method": "mimic", "dataset": "digits", "n_train": 30, "epochs": 2, "teacher_pretrain_epochs": 1}
    return TrainConfig(**{**base, "student_pretrain_epochs": 0, "device": "cpu", **changes})


def slow_sweep():
    """Five points of a couple of seconds each: a signal sent after the first one finished finds the others queued
    or running."""
    return points(tiny(n_train=200, epochs=60), grid({"nu": [0.5, 1.0, 2.0, 4.0, 8.0]}), seeds=1)


def finished_runs(out: Path) -> dict[str, int]:
    return {str(p.parent.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob(RESULT)}


# ------------------------------------------------------------------------------------------------------
# In this process: a KeyboardInterrupt from a callback
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_interrupt_from_a_callback_keeps_the_finished_runs(tmp_path: Path, jobs: int) -> None:
    configs = [tiny(seed=s) for s in range(4)]
    folders = [tmp_path / f"seed{s}" for s in range(4)]

    def interrupt(i: int, result: dict) -> None:
        raise KeyboardInterrupt

    started = time.perf_counter()
    with pytest.raises(RunsInterrupted) as info:
        run_configs(configs, folders, jobs=jobs, progress=False, on_result=interrupt)
    assert isinstance(info.value, KeyboardInterrupt)
    kept = finished_runs(tmp_path)
    assert len(kept) >= 1
    message = str(info.value)
    assert message.startswith(f"interrupted: {len(kept)} of 4 runs finished and are kept in {tmp_path}; ")
    assert f"run the same command (or cell) again to finish the other {4 - len(kept)}" in message
    assert "\n" not in message
    assert multiprocessing.active_children() == []  # every worker is gone
    assert time.perf_counter() - started < 60
    results = run_configs(configs, folders, jobs=1, progress=False)
    assert [r["config"]["seed"] for r in results] == [0, 1, 2, 3]
    again = finished_runs(tmp_path)
    assert {k: again[k] for k in kept} == kept  # finished runs are read back, not trained again
    assert len(again) == 4


# ------------------------------------------------------------------------------------------------------
# In another process: SIGINT as Ctrl-C in a terminal (the whole process group) or Kernel > Interrupt (the kernel)
# ------------------------------------------------------------------------------------------------------

SCRIPT = """
import signal
import sys
# as in a terminal or a kernel: a runner started in the background (nohup, '&' without job control) passes SIGINT
# on ignored, and Python then installs no KeyboardInterrupt handler of its own
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, sys.argv[3])
import torch
torch.set_num_threads(1)
from test_interrupt import slow_sweep
from advdist_lab.runs.executors import RunsInterrupted
from advdist_lab.runs.sweeps import run_sweep
try:
    run_sweep(slow_sweep(), sys.argv[1], jobs=int(sys.argv[2]), progress=False)
except RunsInterrupted as error:
    print(error, file=sys.stderr)
    sys.exit(130)
print("all finished")
"""


@pytest.mark.parametrize(("jobs", "group"), [(2, True), (1, False)], ids=["terminal-2-workers", "kernel-1-process"])
def test_sigint_stops_a_sweep_within_seconds_and_a_rerun_finishes_it(tmp_path: Path, jobs: int, group: bool) -> None:
    out = tmp_path / "sweep"
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(out), str(jobs), str(TESTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 240
        while not finished_runs(out) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()
        if group:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        _, stderr = process.communicate(timeout=30)
        seconds = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert seconds < 8, f"took {seconds:.1f} s to stop"
    print(f"stopped {seconds:.2f} s after SIGINT")
    kept = finished_runs(out)
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"interrupted: {len(kept)} of 5 runs finished and are kept in {out}; "), stderr
    assert 1 <= len(kept) < 5
    for folder in kept:
        assert load_result(out / folder)["status"] == "finished"
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".lock"))  # the stopped runs unwound cleanly
    # the same sweep again trains only the missing points and reads the kept ones back untouched
    trained = []
    results = run_sweep(slow_sweep(), out, jobs=1, progress=False, on_result=lambda i, r: trained.append(i))
    assert sorted(trained) == [0, 1, 2, 3, 4]
    again = finished_runs(out)
    assert len(again) == 5 and {k: again[k] for k in kept} == kept
    assert [r["config"]["nu"] for r in results] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert not (out / ".lock").exists()


# ------------------------------------------------------------------------------------------------------
# The worker processes
# ------------------------------------------------------------------------------------------------------


def test_workers_give_the_results_of_one_process(tmp_path: Path) -> None:
    configs = [tiny(seed=s, method=m) for s in (0, 1) for m in ("mimic", "ngan")]
    parallel = run_configs(configs, [tmp_path / "a" / str(i) for i in range(4)], jobs=2, progress=False)
    serial = run_configs(configs, [tmp_path / "b" / str(i) for i in range(4)], jobs=1, progress=False)
    assert [r["history"] for r in parallel] == [r["history"] for r in serial]
    assert [r["config"] for r in parallel] == [c.resolved().to_dict() for c in configs]


def test_a_workers_error_is_raised_here_with_its_type(tmp_path: Path) -> None:
    folders = [tmp_path / str(i) for i in range(3)]
    folders[1].mkdir()
    (folders[1] / RESULT).write_text("[]")
    with pytest.raises(DamagedResultError, match=f"{folders[1] / RESULT} is damaged"):
        run_configs([tiny(seed=s) for s in range(3)], folders, jobs=2, progress=False)
    assert json.loads((folders[1] / RESULT).read_text()) == []
    assert multiprocessing.active_children() == []


def test_a_killed_worker_is_reported_with_what_was_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(KILL_AFTER_EPOCH_ENV, "1")  # the workers inherit it: each dies after its first epoch
    configs = [tiny(seed=s) for s in range(2)]
    folders = [tmp_path / str(s) for s in range(2)]
    with pytest.raises(WorkerDiedError, match=r"died during a run \(signal SIGKILL\); 0 of 2 runs finished"):
        run_configs(configs, folders, jobs=2, progress=False)
    monkeypatch.delenv(KILL_AFTER_EPOCH_ENV)
    resumed = run_configs(configs, folders, jobs=1, progress=False)
    fresh = run_configs(configs, [tmp_path / "fresh" / str(s) for s in range(2)], jobs=1, progress=False)
    assert [r["history"] for r in resumed] == [r["history"] for r in fresh]


def test_a_second_sweep_into_the_same_folder_is_refused(tmp_path: Path) -> None:
    from advdist_lab.runs.folder import FolderInUseError, RunFolder

    sweep = points(tiny(), [{"nu": 0.5}], seeds=1)
    with (
        RunFolder(tmp_path),
        pytest.raises(FolderInUseError, match=f"{tmp_path} is in use by another run in this process"),
    ):
        run_sweep(sweep, tmp_path, jobs=1, progress=False)
    assert not finished_runs(tmp_path)
