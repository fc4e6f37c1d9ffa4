"""Secure loading: a crafted ``.pt`` whose unpickling would create a file runs nothing through any entry point.

Every ``torch.load`` of the package goes through :func:`advdist_lab.files.load_tensors` (``weights_only=True``).
The planted file pickles an object whose ``__reduce__`` calls ``Path.touch``: with the full unpickler, loading it
creates ``MARKER``. Each entry point that reads a user's or a cache's file is driven with it; none may create the
marker, each command exits 2 with one line that says why the file is refused, and ``table1`` retrains a poisoned
cached teacher instead of using it.
"""

from __future__ import annotations

import pathlib
from pathlib import Path

import pytest
import torch

from advdist_lab import cli
from advdist_lab.files import UnsafeFileError, load_tensors
from advdist_lab.runs import CHECKPOINT, teacher_cache_key

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Payload:
    """Unpickles into ``Path(marker).touch()``: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def plant(path: Path, marker: Path, **extra) -> Path:
    """A checkpoint-shaped dict (so that only the payload can make it fail) with the payload inside."""
    torch.save({"payload": _Payload(marker), **extra}, path)
    return path


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_the_payload_is_real(tmp_path: Path) -> None:
    """The planted file does run code under the full unpickler: the test below would catch a regression."""
    marker = tmp_path / "pwned"
    bad = plant(tmp_path / "bad.pt", marker)
    torch.load(bad, weights_only=False)
    assert marker.exists()


def test_load_tensors_refuses_with_one_line_saying_how_to_convert(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bad = plant(tmp_path / "bad.pt", marker)
    with pytest.raises(UnsafeFileError, match="can run arbitrary code") as caught:
        load_tensors(bad, what="checkpoint")
    assert "\n" not in str(caught.value) and "convert" in str(caught.value) and str(bad) in str(caught.value)
    assert not marker.exists()
    good = tmp_path / "good.pt"
    torch.save({"state": {"w": torch.ones(2)}, "history": [{"epoch": 1, "loss": 0.5}]}, good)
    assert torch.equal(load_tensors(good)["state"]["w"], torch.ones(2))


@pytest.mark.parametrize(
    "argv",
    [
        ["robust-eval", "--model", "{bad}", "--arch", "digits-small", "--dataset", "digits", "--test-size", "10"],
        ["robust-eval", "--model", "{bad}"],
        ["robust-teacher", "--checkpoint", "{bad}", "--arch", "digits-small", "--out", "{out}"],
        ["dfard", "--teacher", "{bad}", "--epochs", "1", "--out", "{out}"],
    ],
    ids=["robust-eval-arch", "robust-eval", "robust-teacher-checkpoint", "dfard-teacher"],
)
def test_model_entry_points_refuse_the_planted_file(argv: list[str], tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pwned"
    bad = plant(tmp_path / "bad.pt", marker)
    out = tmp_path / "out"
    args = [a.format(bad=bad, out=out) for a in argv]
    assert cli.main([*args, "--no-progress"]) == 2
    assert "can run arbitrary code" in error_line(capsys)
    assert not marker.exists()


def test_train_resume_refuses_a_planted_checkpoint(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pwned"
    out = tmp_path / "run"
    out.mkdir()
    plant(out / CHECKPOINT, marker, config={}, trainer={}, history=[], timing={}, pretraining={}, wall_seconds=0.0)
    argv = ["train", "--method", "mimic", "--n-train", "30", "--epochs", "1", "--out", str(out), "--resume"]
    assert cli.main([*argv, "--no-progress"]) == 2
    assert "can run arbitrary code" in error_line(capsys)
    assert not marker.exists()
    assert (out / CHECKPOINT).exists()  # refused, never deleted


def test_dfard_resume_refuses_a_planted_checkpoint(tmp_path: Path, capsys) -> None:
    from advdist_lab.robust.models import build_robust_model, save_robust_model

    teacher = tmp_path / "teacher.pt"
    model = build_robust_model("digits-small", 10, (1, 8, 8), 0.5, 0.5)
    save_robust_model(teacher, model, arch="digits-small", num_classes=10, image_shape=(1, 8, 8))
    marker = tmp_path / "pwned"
    out = tmp_path / "run"
    out.mkdir()
    plant(out / CHECKPOINT, marker, config={}, history=[])
    argv = ["dfard", "--teacher", str(teacher), "--epochs", "1", "--out", str(out), "--resume", "--no-progress"]
    assert cli.main(argv) == 2
    assert "can run arbitrary code" in error_line(capsys)
    assert not marker.exists()


def test_a_poisoned_teacher_cache_is_retrained_not_used(tmp_path: Path) -> None:
    from advdist_lab.methods import TrainConfig
    from advdist_lab.runs import train

    config = TrainConfig(method="mimic", n_train=30, epochs=1, teacher_pretrain_epochs=1, device="cpu").resolved()
    cache = tmp_path / "teachers"
    cache.mkdir()
    marker = tmp_path / "pwned"
    cached = cache / f"teacher-{teacher_cache_key(config)}.pt"
    plant(cached, marker, state={}, summary={"test_accuracy": 1.0, "epochs": 1, "final_loss": 0.0})
    with pytest.warns(UserWarning, match="ignoring the damaged teacher cache"):
        result = train(config, tmp_path / "run", progress=False, teacher_cache=cache)
    assert not marker.exists()
    assert result["pretraining"]["teacher"]["test_accuracy"] < 1.0 or result["pretraining"]["teacher"]["epochs"] == 1
    assert load_tensors(cached)["summary"] == result["pretraining"]["teacher"]  # replaced by the retrained one
