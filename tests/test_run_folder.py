"""Tests of advdist_lab.runs.folder: RunFolder refuses an unusable --out before any work, locks the folder against a
second process, refuses a damaged result.json, and turns a full disk into one line that says what was kept."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import tiny_configs  # tests/ is on sys.path
import torch

from advdist_lab import cli
from advdist_lab.files import DiskFullError
from advdist_lab.runs import training
from advdist_lab.runs.folder import (
    CHECKPOINT,
    LOCK,
    RESULT,
    DamagedResultError,
    FolderInUseError,
    RunFolder,
    UnusableFolderError,
    load_result,
)
from advdist_lab.runs.training import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = ["--dataset", "digits", "--n-train", "30", "--teacher-pretrain-epochs", "1", "--student-pretrain-epochs", "1"]


def tiny(**changes):
    return tiny_configs.tiny(**{"method": "mimic", **changes})


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(training, "load_data", refuse)


# ------------------------------------------------------------------------------------------------------
# An unusable --out is refused before any work, in one line naming the constraint
# ------------------------------------------------------------------------------------------------------


def test_an_empty_out_is_refused(no_training) -> None:
    for empty in ("", "   "):
        with pytest.raises(UnusableFolderError, match="--out must not be empty"):
            train(tiny(), empty, progress=False)


def test_an_existing_file_or_a_path_under_a_file_is_refused(tmp_path: Path, no_training) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("mine")
    with pytest.raises(UnusableFolderError, match=f"--out {file} is an existing file, not a folder") as info:
        train(tiny(), file, progress=False)
    assert "\n" not in str(info.value)
    with pytest.raises(UnusableFolderError, match=f"cannot be created: {file} is a file"):
        train(tiny(), file / "deeper" / "run", progress=False)
    assert file.read_text() == "mine"


def test_an_unwritable_place_is_refused_and_nothing_is_left(tmp_path: Path, monkeypatch, no_training) -> None:
    out = tmp_path / "a" / "b" / "run"
    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).endswith(LOCK):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(UnusableFolderError, match=f"cannot write in the run folder {out} \\(Permission denied\\)"):
        train(tiny(), out, progress=False)
    assert not (tmp_path / "a").exists()  # the folders made for the probe are removed again


def test_a_read_only_folder_is_refused(tmp_path: Path, monkeypatch, no_training) -> None:
    """chmod 0o500, and os.access answering as it does for a user (root passes the permission bits)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != locked and real_access(p, mode, **kw))
    try:
        with pytest.raises(UnusableFolderError, match=f"--out {locked / 'run'} is not writable"):
            train(tiny(), locked / "run", progress=False)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_the_cli_refuses_a_file_as_out_with_exit_2(tmp_path: Path, capsys, no_training) -> None:
    file = tmp_path / "taken"
    file.write_text("")
    assert cli.main(["train", "--epochs", "1", "--device", "cpu", *SMALL, "--out", str(file)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "is an existing file, not a folder" in lines[0]


# ------------------------------------------------------------------------------------------------------
# The lock: a second process on the same folder is refused
# ------------------------------------------------------------------------------------------------------

HOLD = """
import sys
from advdist_lab.runs.folder import RunFolder
with RunFolder(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_folder_in_use_by_another_process_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = f"{out} is in use by another advdist-lab process \\(pid {holder.pid}\\); wait for it or choose"
        with pytest.raises(FolderInUseError, match=message):
            train(tiny(seed=1), out, progress=False)
        assert (
            cli.main(["train", "--method", "mimic", "--epochs", "1", "--device", "cpu", *SMALL, "--out", str(out)]) == 2
        )
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and f"pid {holder.pid}" in lines[0]
        assert sorted(p.name for p in out.iterdir()) == [LOCK]  # nothing written by the refused runs
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    assert not out.exists()  # the holder created the folder, wrote nothing, and removed it
    result = train(tiny(seed=1), out, progress=False)
    assert load_result(out) == json.loads(json.dumps(result))
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT, RESULT]  # the lock file is gone


def test_a_folder_locked_in_this_process_is_refused_too(tmp_path: Path) -> None:
    with RunFolder(tmp_path / "run") as first:
        assert first.locked and (tmp_path / "run" / LOCK).read_text().strip() == str(os.getpid())
        with pytest.raises(FolderInUseError, match=f"in use by another run in this process \\(pid {os.getpid()}\\)"):
            train(tiny(), tmp_path / "run", progress=False)
    with RunFolder(tmp_path / "run") as again:  # released: free again
        assert again.locked


def test_a_nested_holder_lets_its_thread_lock_again_and_keeps_the_lock_until_it_releases(tmp_path: Path) -> None:
    """A sweep command holds its folder while run_sweep inside it locks the same folder, then writes sweep.json."""
    import threading

    out = tmp_path / "sweep"
    refused: list[BaseException] = []

    def other_thread() -> None:
        try:
            RunFolder(out).acquire()
        except FolderInUseError as error:
            refused.append(error)

    with RunFolder(out, nested=True) as outer:
        with RunFolder(out) as inner:
            assert inner.locked
        assert (out / LOCK).exists()  # the inner release leaves the outer lock in place
        holder = subprocess.run(
            [sys.executable, "-c", HOLD, str(out)], input="", capture_output=True, text=True, timeout=120
        )
        assert holder.returncode != 0 and "in use by another advdist-lab process" in holder.stderr
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(timeout=60)
        assert len(refused) == 1  # only the holder's own thread nests
        assert outer.locked
    assert not (out / LOCK).exists()


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / ".checkpoint.pt.ab12_xyz.tmp").write_bytes(b"half")
    (out / "notes.tmp").write_text("not ours")
    with RunFolder(out):
        pass
    assert sorted(p.name for p in out.iterdir()) == ["notes.tmp"]


# ------------------------------------------------------------------------------------------------------
# A damaged result.json is refused, named and never overwritten
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b'{"config": {"method": "mi', "not valid JSON"), (b"[1, 2]", "it holds list instead of a run's result")],
)
@pytest.mark.parametrize("resume", [True, False])
def test_a_damaged_result_is_refused_and_left_alone(tmp_path: Path, content, reason, resume, no_training) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / RESULT).write_bytes(content)
    with pytest.raises(DamagedResultError, match=f"{out / RESULT} is damaged \\({reason}") as info:
        train(tiny(), out, resume=resume, progress=False)
    assert "\n" not in str(info.value) and "move it away" in str(info.value)
    assert (out / RESULT).read_bytes() == content
    assert sorted(p.name for p in out.iterdir()) == [RESULT]


def test_the_cli_refuses_resume_on_a_damaged_result(tmp_path: Path, capsys, no_training) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / RESULT).write_text("garbage")
    argv = ["train", "--method", "mimic", "--epochs", "1", "--device", "cpu", *SMALL, "--out", str(out), "--resume"]
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"{out / RESULT} is damaged" in lines[0]
    assert (out / RESULT).read_text() == "garbage"


# ------------------------------------------------------------------------------------------------------
# A full disk: one line that says what was kept
# ------------------------------------------------------------------------------------------------------


def full_disk_after(monkeypatch, saves: int) -> None:
    """torch.save succeeds ``saves`` times, then the disk is full."""
    real_save = torch.save
    calls = {"n": 0}

    def save(obj, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > saves:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


@pytest.mark.parametrize(("saves", "kept"), [(0, "no checkpoint was written yet"), (2, "the checkpoint of epoch 1")])
def test_a_full_disk_while_checkpointing_says_what_was_kept(tmp_path: Path, monkeypatch, saves, kept) -> None:
    out = tmp_path / "run"
    full_disk_after(monkeypatch, saves)  # after pretraining, after epoch 1
    with pytest.raises(DiskFullError) as info:
        train(tiny(epochs=3), out, progress=False)
    message = str(info.value)
    assert f"no space left on the device while writing {out / CHECKPOINT}: {kept}" in message
    assert "\n" not in message and "free space and resume the run (--resume)" in message
    if saves:
        assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT]  # no temporary file, no lock left
        assert len(torch.load(out / CHECKPOINT, weights_only=True)["history"]) == 1
    else:
        assert not out.exists()  # nothing was written: the folder made for the run is removed


def test_a_full_disk_while_writing_the_result_keeps_the_last_checkpoint(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    from advdist_lab import files

    real = files.atomic_write_bytes

    def full(path, data):
        raise DiskFullError(errno.ENOSPC, f"no space left on the device while writing {path}")

    monkeypatch.setattr("advdist_lab.files.atomic_write_bytes", full)
    with pytest.raises(
        DiskFullError, match=f"the checkpoint of epoch 2 is kept in {out / CHECKPOINT}.*write its result"
    ):
        train(tiny(), out, progress=False)
    monkeypatch.setattr("advdist_lab.files.atomic_write_bytes", real)
    resumed = train(tiny(), out, resume=True, progress=False)
    assert resumed["history"] == train(tiny(), progress=False)["history"] and (out / RESULT).exists()


def test_a_stopped_run_keeps_its_checkpoint_and_releases_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    stop = threading.Event()
    train(tiny(), out, progress=False, stop=stop, callback=lambda entry: stop.set())
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT]
    with RunFolder(out) as folder:
        assert folder.checkpoint(tiny().resolved().to_dict(), True, torch.device("cpu"), set()) is not None
        assert folder.kept() == f"the checkpoint of epoch 1 is kept in {out / CHECKPOINT}"


def test_the_command_turns_a_full_disk_into_one_line_exit_1(tmp_path: Path, monkeypatch, capsys) -> None:
    from advdist_lab import cli

    out = tmp_path / "run"
    full_disk_after(monkeypatch, 2)
    argv = ["train", "--method", "mimic", "--n-train", "30", "--epochs", "3", "--teacher-pretrain-epochs", "1"]
    assert cli.main([*argv, "--student-pretrain-epochs", "1", "--no-progress", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and "[Errno" not in err
    assert err.startswith("advdist-lab: error: no space left on the device while writing")
    assert "the checkpoint of epoch 1 is kept" in err


def test_a_sweep_into_a_folder_in_use_is_refused_before_it_trains_or_writes_sweep_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        argv = ["sweep", "--method", "mimic", "--grid", "nu=0.5,1", "--seeds", "1", "--epochs", "1", *SMALL]
        assert cli.main([*argv, "--device", "cpu", "--out", str(out)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and f"in use by another advdist-lab process (pid {holder.pid})" in lines[0]
        assert sorted(p.name for p in out.iterdir()) == [LOCK]
    finally:
        holder.communicate("", timeout=60)


@pytest.mark.parametrize(
    "argv",
    [
        ["table1", "--methods", "mimic", "--sizes", "30", "--seeds", "1", "--epochs", "1"],
        ["table4", "--methods", "knn", "--seeds", "1"],
    ],
    ids=["table1", "table4"],
)
def test_a_table_into_a_folder_in_use_is_refused_before_work(argv: list[str], tmp_path: Path, capsys) -> None:
    out = tmp_path / "table"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert cli.main([*argv, "--device", "cpu", "--no-progress", "--out", str(out)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and f"in use by another advdist-lab process (pid {holder.pid})" in lines[0]
        assert sorted(p.name for p in out.iterdir()) == [LOCK]
    finally:
        holder.communicate("", timeout=60)


def test_a_signal_at_any_instant_of_an_atomic_write_leaves_no_temporary(tmp_path: Path, monkeypatch) -> None:
    """The temporary's name is chosen before the file exists: an interrupt right after its creation removes it."""
    import advdist_lab.files as files

    real_open = os.open

    def open_then_interrupt(*args, **kwargs):
        os.close(real_open(*args, **kwargs))
        raise KeyboardInterrupt  # as a SIGTERM handler would raise SystemExit at this instant

    monkeypatch.setattr(files.os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        files.atomic_write_bytes(tmp_path / "result.json", b"{}")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    files.atomic_write_bytes(tmp_path / "result.json", b"{}")
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
