"""Model selection of data-free robust distillation (advdist_lab.robust.validation and runner): the best epoch is
chosen on a validation split held out from the training split, and the test split is read once, at the end.

The evaluation is replaced by one whose validation and test accuracies disagree about the best epoch, so that
every test here fails if the runner picked the epoch on the test split or read the test split more than once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from advdist_lab.data.base import stratified_subset
from advdist_lab.data.digits import digits_raw
from advdist_lab.robust import runner
from advdist_lab.robust.data import ROBUST_DATASETS, TRAIN_SPLIT_SIZES, load_robust_data
from advdist_lab.robust.distill_config import DistillConfig
from advdist_lab.robust.models import build_robust_model, load_robust_model, save_robust_model
from advdist_lab.robust.runner import run_distillation
from advdist_lab.robust.validation import VAL_SIZES, check_val_size, validation_indices, validation_split
from advdist_lab.runs import RunExistsError
from advdist_lab.runs.folder import CHECKPOINT, RESULT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VALIDATION = {1: 0.9, 2: 0.2, 3: 0.5}
"""The fake validation accuracy of each epoch's student: epoch 1 is the best on validation ..."""
TEST = {1: 0.1, 2: 0.2, 3: 0.9}
"""... and epoch 3 on test."""


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    model = build_robust_model("digits-small", 10, (1, 8, 8), 0.5, 0.5)
    save_robust_model(path, model.eval(), arch="digits-small", num_classes=10, image_shape=(1, 8, 8))
    return str(path)


def config(teacher: str, **changes) -> DistillConfig:
    values = {"teacher": teacher, "epochs": 3, "val_size": 40, "eval_size": 30, "final_size": 20}
    return DistillConfig(**{**values, "eval_attacks": (), "select": "clean", "final_attacks": ("fgsm",), **changes})


class EpochDistiller:
    """A student that is not trained: its first parameter holds the number of epochs run."""

    def __init__(self, config, data, device) -> None:
        torch.manual_seed(config.seed)
        self.student = build_robust_model(config.student_arch, 10, (1, 8, 8), 0.5, 0.5).to(device)

    def train_epoch(self, epoch: int) -> dict:
        with torch.no_grad():
            next(self.student.parameters()).fill_(float(epoch + 1))
        return {"student_loss": 1.0 / (epoch + 1)}

    def state_dict(self) -> dict:
        return {"student": self.student.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])

    def artifacts(self) -> dict:
        return {}


def epoch_of(student) -> int:
    return int(next(student.parameters()).flatten()[0])


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, int, int, int | None]]:
    """Every evaluation as ``(split, epoch of the student, images given, size)``; validation prefers epoch 1, test
    epoch 3. The split is told by the images: the test split's are the digits' fixed 500 test images."""
    test_images = load_robust_data("digits").x_test
    seen: list[tuple[str, int, int, int | None]] = []

    def fake(student, images, labels, dataset, attacks, size, seed, progress):
        is_test = images.shape == test_images.shape and torch.equal(images.cpu(), test_images)
        split = "test" if is_test else "validation"
        seen.append((split, epoch_of(student), len(labels), size))
        return {"clean": (TEST if is_test else VALIDATION)[epoch_of(student)]}

    monkeypatch.setattr(runner, "evaluate_student", fake)
    return seen


# -- the split ----------------------------------------------------------------------------------------------------


def test_the_validation_split_is_held_out_from_the_training_split_and_drawn_from_the_seed() -> None:
    _, _, pool, test = digits_raw()
    data = load_robust_data("digits")
    first = validation_indices(data.y_train, 300, 0)
    assert torch.equal(first, validation_indices(data.y_train, 300, 0))  # deterministic
    assert not torch.equal(first, validation_indices(data.y_train, 300, 1))  # another seed, another split
    assert len(set(first.tolist())) == 300
    digits = torch.as_tensor(pool)[first]  # the validation digits' indices among all 1,797
    assert not set(digits.tolist()) & set(torch.as_tensor(test).tolist())  # never a test digit
    x, y = validation_split(data, 300, 0)
    assert torch.equal(x, data.x_train[first]) and torch.equal(y, data.y_train[first])
    share = 300 * torch.bincount(data.y_train, minlength=10) / len(data.y_train)
    assert (torch.bincount(y, minlength=10) - share).abs().max() < 1.01  # stratified
    assert not torch.equal(first, stratified_subset(data.y_train, 300, 0))  # not a teacher's n_train subset


def test_val_size_is_checked_against_the_training_split() -> None:
    assert set(VAL_SIZES) == set(ROBUST_DATASETS)  # a new robust dataset needs its default validation size
    assert VAL_SIZES["digits"] <= TRAIN_SPLIT_SIZES["digits"] and check_val_size("digits", 1_297) == 1_297
    with pytest.raises(ValueError, match=r"val_size must be <= 1,297, the training split of digits .*\(got 1,298\)"):
        check_val_size("digits", 1_298)
    with pytest.raises(ValueError, match="val_size must be"):
        check_val_size("digits", 0)
    with pytest.raises(ValueError, match=r"val_size must be <= 50,000, the training split of cifar10"):
        DistillConfig(dataset="cifar10", val_size=50_001)
    with pytest.raises(ValueError, match=r"eval_size must be <= val_size \(40\)"):
        DistillConfig(val_size=40, eval_size=41)
    assert DistillConfig(teacher="t.pt").resolved().val_size == VAL_SIZES["digits"]
    assert DistillConfig(teacher="t.pt", eval_size=77).resolved().val_size == 77  # eval_size stands for it


# -- the selection ------------------------------------------------------------------------------------------------


def test_the_best_epoch_is_chosen_on_validation_and_the_test_split_is_read_once(tmp_path: Path, teacher_file, calls):
    out = tmp_path / "run"
    result = run_distillation(config(teacher_file), EpochDistiller, out, progress=False)
    assert calls == [
        ("validation", 1, 40, 30),
        ("validation", 2, 40, 30),
        ("validation", 3, 40, 30),
        ("test", 1, 500, 20),
    ]
    assert result["best_epoch"] == 1  # test accuracies would have picked epoch 3
    assert result["clean"] == result["test_accuracy"] == TEST[1]  # the chosen student's test accuracy
    assert [e["val_clean"] for e in result["history"]] == [VALIDATION[e] for e in (1, 2, 3)]
    assert result["last"] == {"val_clean": VALIDATION[3]}
    assert result["selection"]["split"] == "validation" and result["selection"]["best"] == VALIDATION[1]
    assert result["selection"]["test_evaluations"] == 1
    assert json.loads((out / RESULT).read_text())["best_epoch"] == 1
    assert epoch_of(load_robust_model(out / "student.pt")[0]) == 1  # student.pt is the chosen epoch's student
    again = run_distillation(config(teacher_file), EpochDistiller, out, resume=True, progress=False)
    assert again["best_epoch"] == 1 and len(calls) == 4  # a finished run is read back, not evaluated


def test_a_killed_run_resumes_to_the_same_selection_and_a_stopped_one_reads_no_test_image(
    tmp_path: Path, teacher_file, calls
):
    whole = run_distillation(config(teacher_file), EpochDistiller, tmp_path / "whole", progress=False)
    calls.clear()

    def kill_after_two(entry):
        if entry["epoch"] == 2:
            raise KeyboardInterrupt  # after the checkpoint of epoch 2, as a SIGKILL would leave it

    with pytest.raises(KeyboardInterrupt):
        run_distillation(
            config(teacher_file), EpochDistiller, tmp_path / "cut", progress=False, callback=kill_after_two
        )
    assert [c[0] for c in calls] == ["validation", "validation"]
    assert not (tmp_path / "cut" / RESULT).exists()
    resumed = run_distillation(config(teacher_file), EpochDistiller, tmp_path / "cut", resume=True, progress=False)
    assert calls[2:] == [("validation", 3, 40, 30), ("test", 1, 500, 20)]
    assert resumed["best_epoch"] == whole["best_epoch"] == 1 and resumed["history"] == whole["history"]
    assert resumed["clean"] == whole["clean"] == TEST[1]

    import threading

    calls.clear()
    stop = threading.Event()
    stopped = run_distillation(
        config(teacher_file),
        EpochDistiller,
        tmp_path / "stop",
        progress=False,
        stop=stop,
        callback=lambda e: stop.set(),
    )
    assert stopped["status"] == "stopped" and [c[0] for c in calls] == ["validation"]
    assert stopped["test_accuracy"] is None and "clean" not in stopped
    assert stopped["selection"]["test_evaluations"] == 0 and stopped["evaluated_on"] == 0


# -- folders written before the validation split --------------------------------------------------------------


def test_a_folder_written_before_the_validation_split_is_refused_as_a_different_config(
    tmp_path: Path, teacher_file, calls
):
    """Such a folder picked its epoch on the test split: no default of val_size reproduces that, so its stored
    config (without val_size) never compares equal and the folder is refused in one line, finished or not."""
    finished = tmp_path / "finished"
    run_distillation(config(teacher_file), EpochDistiller, finished, progress=False)
    stored = json.loads((finished / RESULT).read_text())
    del stored["config"]["val_size"]
    (finished / RESULT).write_text(json.dumps(stored))
    message = r"holds a run with a different config \(val_size: None there, 40 here\); choose another output folder"
    with pytest.raises(RunExistsError, match=message):
        run_distillation(config(teacher_file), EpochDistiller, finished, resume=True, progress=False)

    partial = tmp_path / "partial"
    with pytest.raises(KeyboardInterrupt):
        run_distillation(
            config(teacher_file), EpochDistiller, partial, progress=False, callback=lambda e: _raise(KeyboardInterrupt)
        )
    state = torch.load(partial / CHECKPOINT, weights_only=True)
    del state["config"]["val_size"]
    torch.save(state, partial / CHECKPOINT)
    with pytest.raises(RunExistsError, match=message):
        run_distillation(config(teacher_file), EpochDistiller, partial, resume=True, progress=False)
    assert DistillConfig.from_dict(state["config"]).val_size is None  # an old config still loads, as unresolved


def _raise(error: type[BaseException]) -> None:
    raise error
