"""The run-folder lifecycle of the robust runs (robust-teacher, its import, robust-eval --out, and DFARD/DERD's
run_distillation) on :class:`advdist_lab.runs.folder.RunFolder`, and the hostile inputs they refuse before work.

Every refusal is one line naming the constraint (or the file), raised before any data is loaded or model trained,
and leaves nothing behind: a second process on the same ``--out``, a damaged ``result.json`` (with or without
``--resume``), a batch larger than the training data, an epoch count beyond the sane bound, a batch that cannot
fit in memory. A non-finite loss names the player and the epoch and says what is kept, never a checkpoint that
does not exist; a full disk says what was kept.
"""

from __future__ import annotations

import errno
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from advdist_lab import cli
from advdist_lab.files import DiskFullError
from advdist_lab.hparams import MAX_EPOCHS
from advdist_lab.methods.loop import NonFiniteLossError
from advdist_lab.robust import runner
from advdist_lab.robust.distill_config import DistillConfig
from advdist_lab.robust.models import build_robust_model, save_robust_model
from advdist_lab.robust.runner import run_distillation
from advdist_lab.robust.teacher import RobustTeacherConfig, evaluate_model, import_teacher, train_robust_teacher
from advdist_lab.robust.teacher import evaluation as teacher_evaluation
from advdist_lab.robust.teacher import run as teacher_run
from advdist_lab.robust.teacher import training as teacher_training
from advdist_lab.runs.folder import CHECKPOINT, LOCK, RESULT, DamagedResultError, FolderInUseError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {
    "dataset": "digits",
    "optimizer": "adam",
    "lr": 1e-3,
    "n_train": 100,
    "epochs": 2,
    "eval_size": 20,
    "test_size": 40,
    "eval_attacks": (),
    "final_attacks": ("fgsm",),
    "device": "cpu",
}
TINY_ARGS = ["--n-train", "100", "--epochs", "1", "--eval-size", "20", "--test-size", "40", "--eval-attacks", "none"]
TINY_ARGS += ["--final-attacks", "fgsm", "--device", "cpu", "--no-progress"]


def tiny(**changes) -> RobustTeacherConfig:
    return RobustTeacherConfig(**{**TINY, **changes})


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def no_work(monkeypatch):
    """Loading the data is the first piece of work of every robust run: it must not happen."""

    def refuse(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(teacher_run, "load_robust_data", refuse)
    monkeypatch.setattr(teacher_evaluation, "load_robust_data", refuse)
    monkeypatch.setattr(runner, "load_robust_data", refuse)


@pytest.fixture
def teacher_file(tmp_path: Path) -> Path:
    """A random digits model in our model format: a teacher for the toy distillations (never trained)."""
    torch.manual_seed(0)
    path = tmp_path / "teacher.pt"
    model = build_robust_model("digits-small", 10, (1, 8, 8), 0.5, 0.5)
    save_robust_model(path, model, arch="digits-small", num_classes=10, image_shape=(1, 8, 8))
    return path


# ----------------------------------------------------------------------------------------------------------------
# Hostile hyperparameters of robust-teacher, refused before work in one line
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_size": 101}, "batch_size must be <= n_train, the 100 training images (got 101)"),
        ({"n_train": None, "batch_size": 1298}, "batch_size must be <= 1297, the training images of digits (got 1298)"),
        ({"epochs": MAX_EPOCHS + 1}, "epochs must be <= 10,000 (got 10,001): a sane bound on epochs"),
    ],
)
def test_hostile_teacher_values_are_refused_naming_the_constraint(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(")", "\\)")):
        tiny(**changes)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch-size", "101"], "batch_size must be <= n_train, the 100 training images (got 101)"),
        (["--epochs", "100000"], "epochs must be <= 10,000 (got 100,000): a sane bound on epochs"),
    ],
)
def test_the_command_refuses_them_in_one_line(argv, message, tmp_path: Path, capsys, no_work) -> None:
    out = tmp_path / "run"
    assert cli.main(["robust-teacher", *TINY_ARGS, *argv, "--out", str(out)]) == 2
    assert message in error_line(capsys)
    assert not out.exists()


def test_a_batch_that_cannot_fit_in_memory_is_refused_before_work(tmp_path: Path, capsys, no_work) -> None:
    """WRN-34-10 under TRADES keeps about 23 MiB of activations per image and pass: 50,000 images at once need
    about 2 TiB. The estimate (:func:`training_bytes`) needs no data, so CIFAR-10 need not be on the disk."""
    config = RobustTeacherConfig(dataset="cifar10", batch_size=50_000, device="cpu")
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"batch_size needs about [\d.]+ GiB but only [\d.]+ GiB is available on cpu"):
        train_robust_teacher(config, out, progress=False)
    assert not out.exists()
    argv = ["robust-teacher", "--dataset", "cifar10", "--batch-size", "50000", "--device", "cpu", "--no-progress"]
    assert cli.main([*argv, "--out", str(out)]) == 2
    assert "choose a smaller batch_size" in error_line(capsys)
    assert not out.exists()


def test_the_memory_estimate_counts_the_batch_the_passes_and_the_model(monkeypatch, no_work) -> None:
    config = tiny()
    model = teacher_training.build_model(config)
    cpu = torch.device("cpu")
    pgd = teacher_training.training_bytes(config, model, cpu)
    trades = teacher_training.training_bytes(config.replace(method="trades"), model, cpu)
    bigger = teacher_training.training_bytes(config.replace(batch_size=100), model, cpu)
    bf16 = teacher_training.training_bytes(config.replace(precision="bf16"), model, cpu)
    parameters = sum(p.numel() for p in model.parameters())
    assert pgd > 16 * parameters
    per_pass = trades - pgd  # the activations of one pass of a batch of 64
    assert per_pass > 0 and bigger - pgd == pytest.approx(per_pass * (100 - 64) / 64)
    assert pgd - bf16 == pytest.approx(per_pass / 2)
    monkeypatch.setattr("advdist_lab.environment.available_memory", lambda device="cpu": pgd - 1)
    with pytest.raises(ValueError, match=r"batch_size needs about [\d.]+ MiB but only [\d.]+ MiB is available on cpu"):
        train_robust_teacher(config, progress=False)


# ----------------------------------------------------------------------------------------------------------------
# A damaged result.json is named and left alone, with or without --resume
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resume", [True, False])
def test_a_damaged_teacher_result_is_refused_naming_the_file(
    tmp_path: Path, resume: bool, teacher_file, no_work
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / RESULT).write_text('{"config": {"epochs"')
    with pytest.raises(DamagedResultError, match=f"{out / RESULT} is damaged \\(not valid JSON") as info:
        train_robust_teacher(tiny(), out, resume=resume, progress=False)
    assert "\n" not in str(info.value)
    with pytest.raises(DamagedResultError, match=f"{out / RESULT} is damaged"):
        import_teacher(teacher_file, out, dataset="digits", resume=resume, progress=False)
    with pytest.raises(DamagedResultError, match=f"{out / RESULT} is damaged"):
        evaluate_model(teacher_file, out, attacks=("fgsm",), device="cpu", resume=resume, progress=False)
    assert (out / RESULT).read_text() == '{"config": {"epochs"' and sorted(p.name for p in out.iterdir()) == [RESULT]


def test_the_commands_refuse_resume_on_a_damaged_result(tmp_path: Path, capsys, teacher_file, no_work) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / RESULT).write_text("[1, 2]")
    assert cli.main(["robust-teacher", *TINY_ARGS, "--out", str(out), "--resume"]) == 2
    assert f"{out / RESULT} is damaged (it holds list instead of a run's result)" in error_line(capsys)
    argv = ["robust-eval", "--model", str(teacher_file), "--attacks", "fgsm", "--device", "cpu", "--no-progress"]
    assert cli.main([*argv, "--out", str(out), "--resume"]) == 2
    assert f"{out / RESULT} is damaged" in error_line(capsys)
    assert (out / RESULT).read_text() == "[1, 2]"


# ----------------------------------------------------------------------------------------------------------------
# Two processes on one --out: the second is refused with one line naming the first
# ----------------------------------------------------------------------------------------------------------------

HOLD = """
import sys
from advdist_lab.runs.folder import RunFolder
with RunFolder(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_teacher_folder_in_use_by_another_process_is_refused(tmp_path: Path, capsys, teacher_file) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = f"{out} is in use by another advdist-lab process \\(pid {holder.pid}\\); wait for it or choose"
        with pytest.raises(FolderInUseError, match=message):
            train_robust_teacher(tiny(), out, progress=False)
        with pytest.raises(FolderInUseError, match=message):
            import_teacher(teacher_file, out, dataset="digits", final_attacks=("fgsm",), progress=False)
        with pytest.raises(FolderInUseError, match=message):
            evaluate_model(teacher_file, out, attacks=("fgsm",), test_size=10, device="cpu", progress=False)
        with pytest.raises(FolderInUseError, match=message):
            run_distillation(distill_config(teacher_file), ToyDistiller, out, progress=False)
        assert cli.main(["robust-teacher", *TINY_ARGS, "--out", str(out)]) == 2
        line = error_line(capsys)
        assert f"pid {holder.pid}" in line and "in use by another advdist-lab process" in line
        assert sorted(p.name for p in out.iterdir()) == [LOCK]  # nothing written by the refused runs
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0 and not out.exists()
    result = train_robust_teacher(tiny(epochs=1), out, progress=False)
    assert result["status"] == "finished"
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT, RESULT, "teacher.pt"]  # the lock file is gone


# ----------------------------------------------------------------------------------------------------------------
# A non-finite loss and a full disk say what is kept
# ----------------------------------------------------------------------------------------------------------------


def poison_after(monkeypatch, batches: int) -> None:
    """The teacher's loss becomes NaN after ``batches`` minibatches."""
    real = teacher_training.step_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss, logits = real(*args, **kwargs)
        return (loss * float("nan"), logits) if calls["n"] > batches else (loss, logits)

    monkeypatch.setattr(teacher_training, "step_loss", poisoned)


def test_a_non_finite_loss_in_the_first_epoch_claims_no_checkpoint(tmp_path: Path, monkeypatch) -> None:
    poison_after(monkeypatch, 0)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as caught:
        train_robust_teacher(tiny(), out, progress=False)
    message = str(caught.value)
    assert "the teacher's loss is not finite in training epoch 1" in message
    assert "no checkpoint was written yet" in message and "kept in" not in message
    assert not out.exists()  # nothing was written: the folder made for the run is removed
    with pytest.raises(NonFiniteLossError, match="epoch 1: the run stopped and nothing was saved"):
        train_robust_teacher(tiny(), progress=False)


def test_a_non_finite_loss_later_names_the_checkpoint_that_is_kept(tmp_path: Path, monkeypatch) -> None:
    poison_after(monkeypatch, 2)  # 100 images in batches of 64: epoch 1 is two batches
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as caught:
        train_robust_teacher(tiny(epochs=3), out, progress=False)
    assert (caught.value.player, caught.value.epoch) == ("teacher", 2)
    assert f"the checkpoint of epoch 1 is kept in {out / CHECKPOINT}" in str(caught.value)
    assert [e["epoch"] for e in torch.load(out / CHECKPOINT, weights_only=True)["history"]] == [1]


def test_a_full_disk_while_checkpointing_a_teacher_says_what_was_kept(tmp_path: Path, monkeypatch) -> None:
    real_save = torch.save
    calls = {"n": 0}

    def save(obj, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 1:  # the checkpoint of epoch 1 is written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    out = tmp_path / "run"
    with pytest.raises(DiskFullError) as info:
        train_robust_teacher(tiny(epochs=3), out, progress=False)
    message = str(info.value)
    assert f"while writing {out / CHECKPOINT}: the checkpoint of epoch 1 is kept in {out / CHECKPOINT}" in message
    assert "\n" not in message and "resume the run (--resume)" in message
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT]  # no temporary file, no lock left


def test_a_full_disk_while_writing_teacher_pt_says_the_last_checkpoint_is_kept(tmp_path: Path, monkeypatch) -> None:
    real_save = torch.save

    def save(obj, path, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("format") == "advdist-lab-robust-model":  # teacher.pt
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    out = tmp_path / "run"
    with pytest.raises(DiskFullError) as info:
        train_robust_teacher(tiny(epochs=2), out, progress=False)
    message = str(info.value)
    assert f"while writing {out / 'teacher.pt'}: the checkpoint of epoch 2 is kept in {out / CHECKPOINT}" in message
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT]
    monkeypatch.setattr(torch, "save", real_save)  # space freed: --resume writes the files of the finished run
    result = train_robust_teacher(tiny(epochs=2), out, resume=True, progress=False)
    assert (out / "teacher.pt").exists() and result["status"] == "finished"


# ----------------------------------------------------------------------------------------------------------------
# run_distillation (DFARD, DERD) on the same folder: a toy distiller
# ----------------------------------------------------------------------------------------------------------------


def distill_config(teacher: Path, **changes) -> DistillConfig:
    values = {"teacher": str(teacher), "epochs": 2, "eval_size": 10, "final_size": 10, "eval_attacks": ()}
    return DistillConfig(**{**values, "select": "clean", "final_attacks": ("fgsm",), "device": "cpu", **changes})


class ToyDistiller:
    """A student that is never trained, with losses that turn NaN at ``nan_epoch`` (1-based)."""

    nan_epoch = 0

    def __init__(self, config, data, device) -> None:
        torch.manual_seed(config.seed)
        self.student = build_robust_model(config.student_arch, 10, (1, 8, 8), 0.5, 0.5).to(device)
        self.steps = 0

    def train_epoch(self, epoch: int) -> dict:
        self.steps += 1
        return {"generator_loss": math.nan if epoch + 1 == self.nan_epoch else 1.0 / (epoch + 1)}

    def state_dict(self) -> dict:
        return {"student": self.student.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])
        self.steps = state["steps"]

    def artifacts(self) -> dict:
        return {"generator.pt": {"steps": torch.tensor(self.steps)}}


def test_a_distillation_folder_holds_the_files_and_refuses_a_damaged_result(tmp_path: Path, teacher_file) -> None:
    out = tmp_path / "run"
    result = run_distillation(distill_config(teacher_file), ToyDistiller, out, progress=False)
    assert result["status"] == "finished" and result["model"] == "student.pt"
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT, "generator.pt", RESULT, "student.pt"]
    (out / RESULT).write_text("{")
    for resume in (True, False):
        with pytest.raises(DamagedResultError, match=f"{out / RESULT} is damaged"):
            run_distillation(distill_config(teacher_file), ToyDistiller, out, resume=resume, progress=False)
    assert (out / RESULT).read_text() == "{"


def test_a_non_finite_distillation_loss_names_the_player_the_epoch_and_what_is_kept(
    tmp_path: Path, teacher_file, monkeypatch
) -> None:
    monkeypatch.setattr(ToyDistiller, "nan_epoch", 2)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as caught:
        run_distillation(distill_config(teacher_file, epochs=3), ToyDistiller, out, progress=False)
    assert (caught.value.player, caught.value.epoch) == ("generator", 2)
    assert f"the checkpoint of epoch 1 is kept in {out / CHECKPOINT}" in str(caught.value)
    monkeypatch.setattr(ToyDistiller, "nan_epoch", 1)
    with pytest.raises(NonFiniteLossError, match="epoch 1: the run stopped and no checkpoint was written yet"):
        run_distillation(distill_config(teacher_file), ToyDistiller, tmp_path / "other", progress=False)
    assert not (tmp_path / "other").exists()
