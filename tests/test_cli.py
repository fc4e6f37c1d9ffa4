"""Tests of the ``advdist-lab`` command: train, resume, table1 and its error exits.

Most tests call :func:`advdist_lab.cli.main` in-process; two start a real process (each pays seconds of torch
imports): ``python -m advdist_lab.cli train`` killed between epochs (SIGKILL by fault injection,
``runs.KILL_AFTER_EPOCH_ENV``), then resumed in-process, and one error exit through the console script.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from advdist_lab import cli, runs
from advdist_lab.cli.options import option_values
from advdist_lab.data import DatasetUnavailableError
from advdist_lab.environment import resolve_device
from advdist_lab.methods import TrainConfig
from advdist_lab.methods.base import Terms
from advdist_lab.methods.kd import Mimic
from advdist_lab.runs import CHECKPOINT, KILL_AFTER_EPOCH_ENV, RESULT, load_result, training

SMALL = ["--n-train", "30", "--teacher-pretrain-epochs", "1", "--student-pretrain-epochs", "1", "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def error_line(capsys) -> str:
    """The one line that an error exit writes to stderr."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("advdist-lab: error: ")
    return lines[0]


def console_script() -> list[str]:
    script = Path(sys.executable).with_name("advdist-lab")
    if script.exists():
        return [str(script)]
    found = shutil.which("advdist-lab")
    return [found] if found else [sys.executable, "-m", "advdist_lab.cli"]


def subprocess_env(**changes) -> dict:
    env = {k: v for k, v in os.environ.items() if k != KILL_AFTER_EPOCH_ENV}
    env.update(changes)
    return env


# ------------------------------------------------------------------------------------------------------
# train
# ------------------------------------------------------------------------------------------------------


def test_train_writes_result_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs" / "x"
    argv = ["train", "--method", "adim", "--dataset", "digits", "--epochs", "2", "--seed", "0", "--device", "auto"]
    assert cli.main([*argv, *SMALL, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "adim on digits (n = 30, seed 0): student test accuracy" in stdout
    assert str(out / RESULT) in stdout
    result = load_result(out)
    config = result["config"]
    assert config["method"] == "adim" and config["n_train"] == 30 and config["epochs"] == 2
    assert config["device"] == "auto"
    for name in ("lr_student", "lr_teacher", "batch_size", "k_d", "k_t", "k_s", "estimator"):
        assert config[name] is not None, name
    assert config["omega_r"] + config["omega_s"] + config["omega_t"] == pytest.approx(1.0)
    assert (
        TrainConfig.from_dict(config)
        == TrainConfig(
            method="adim", n_train=30, epochs=2, teacher_pretrain_epochs=1, student_pretrain_epochs=1
        ).resolved()
    )
    history = result["history"]
    assert [entry["epoch"] for entry in history] == [1, 2]
    for entry in history:
        for key in ("student_test_accuracy", "teacher_test_accuracy", "student_loss", "teacher_loss"):
            assert math.isfinite(entry[key])
        assert "discriminator_loss" in entry
    assert result["test_accuracy"] == history[-1]["student_test_accuracy"]
    assert f"{result['test_accuracy']:.4f}" in stdout
    assert result["wall_seconds"] > 0
    assert result["device"] == str(resolve_device("auto"))
    assert (out / CHECKPOINT).exists()


def test_train_into_a_finished_run(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["train", "--method", "mimic", "--epochs", "1", "--device", "cpu", *SMALL, "--out", str(out)]
    assert cli.main(argv) == 0
    stored = (out / RESULT).read_bytes()
    capsys.readouterr()
    # not overwritten
    assert cli.main(argv) == 2
    assert "already holds a finished run" in error_line(capsys)
    assert (out / RESULT).read_bytes() == stored
    # --resume prints it
    assert cli.main([*argv, "--resume"]) == 0
    assert f"{json.loads(stored)['test_accuracy']:.4f}" in capsys.readouterr().out
    assert (out / RESULT).read_bytes() == stored
    # --resume with another config names what differs
    assert cli.main([*argv, "--resume", "--nu", "0.5", "--epochs", "2"]) == 2
    line = error_line(capsys)
    assert "different config" in line and "epochs: 1 there, 2 here" in line and "nu: 1.0 there, 0.5 here" in line
    assert (out / RESULT).read_bytes() == stored


BAD_FLAGS = [
    (["--method", "foo"], "method must be one of"),
    (["--dataset", "imagenet"], "dataset must be one of"),
    (["--n-train", "5000"], "n_train must be <= 1297"),
    (["--method", "adim", "--omega-r", "0.5", "--omega-s", "0.5", "--omega-t", "0.5"], "simplex"),
    (["--method", "adib", "--omega-r", "0.2"], "omega_r must not be set"),
    (["--method", "mimic", "--omega-s", "0.5"], "mimic takes no omega weights"),
    (["--nu", "-1"], "nu must be >= 0"),
    (["--tau-start", "0"], "tau start must be > 0"),
    (["--estimator", "foo"], "estimator must be one of"),
    (["--method", "adim-ngs", "--estimator", "pathwise"], "estimator must be 'score'"),
    (["--batch-size", "31"], "batch_size must be <= n_train = 30"),
    (["--method", "ngan", "--k-d", "0"], "k_d must be >= 1"),
    (["--method", "mimic", "--k-t", "1"], "k_t must be 0"),
    (["--epochs", "0"], "epochs must be an integer >= 1"),
    (["--device", "tpu"], "device must be"),
    (["--threads", "0"], "threads must be >= 1"),
]


@pytest.mark.parametrize(("flags", "match"), BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_values_exit_2_with_one_line(tmp_path: Path, capsys, monkeypatch, flags, match) -> None:
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(training, "Trainer", no_training)
    out = tmp_path / "run"
    assert cli.main(["train", "--epochs", "1", "--device", "cpu", *SMALL, "--out", str(out), *flags]) == 2
    assert match in error_line(capsys)
    assert not out.exists()


def test_a_non_finite_loss_exits_1(tmp_path: Path, capsys, monkeypatch) -> None:
    original = Mimic.student_loss

    def poisoned(self, players, batch, ctx):
        return Terms(distillation=original(self, players, batch, ctx).total * math.nan)

    monkeypatch.setattr(Mimic, "student_loss", poisoned)
    out = tmp_path / "run"
    assert cli.main(["train", "--method", "mimic", "--epochs", "2", "--device", "cpu", *SMALL, "--out", str(out)]) == 1
    line = error_line(capsys)
    assert "the student's loss is not finite in training epoch 1" in line
    assert not (out / RESULT).exists()
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert state["history"] == []  # the checkpoint after pretraining, the last good one


def test_unavailable_data_exits_1_and_interrupt_exits_130(tmp_path: Path, capsys, monkeypatch) -> None:
    def unavailable(*args, **kwargs):
        raise DatasetUnavailableError("MNIST is not available offline; use --dataset digits")

    monkeypatch.setattr(training, "load_data", unavailable)
    argv = ["train", "--method", "mimic", "--epochs", "1", "--device", "cpu", *SMALL]
    assert cli.main([*argv, "--out", str(tmp_path / "a")]) == 1
    assert "use --dataset digits" in error_line(capsys)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "load_data", interrupted)
    assert cli.main([*argv, "--out", str(tmp_path / "b")]) == 130
    assert "--resume" in error_line(capsys)


def test_every_config_field_is_an_option() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["train", "--omega-r", "0.2", "--k-d", "3", "--tau-schedule", "step", "--lr-student", "1"])
    values = option_values(args, TrainConfig)
    assert values == {"omega_r": 0.2, "k_d": 3, "tau_schedule": "step", "lr_student": 1.0}
    assert isinstance(values["k_d"], int) and isinstance(values["omega_r"], float)
    help_text = parser._subparsers._group_actions[0].choices["train"].format_help()
    for name in TrainConfig().to_dict():
        assert "--" + name.replace("_", "-") in help_text, name


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("advdist-lab ")


# ------------------------------------------------------------------------------------------------------
# table1
# ------------------------------------------------------------------------------------------------------


def test_table1_prints_a_markdown_table(tmp_path: Path, capsys) -> None:
    out = tmp_path / "t1"
    argv = ["table1", "--dataset", "digits", "--seeds", "1", "--methods", "mimic", "--sizes", "30", "--epochs", "1"]
    argv += ["--teacher-pretrain-epochs", "1", "--device", "cpu", "--jobs", "1", "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0
    stdout = capsys.readouterr().out
    assert "| method | n = 30 |" in stdout
    assert "|---|---|" in stdout
    accuracy = 100 * load_result(out / "mimic" / "n30" / "seed0")["test_accuracy"]
    assert f"| MIMIC | {accuracy:.2f}" in stdout
    assert (out / "table1.md").read_text() in stdout
    assert str(out / "table1.csv") in stdout


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--methods", "mimic,foo"], "method must be one of"),
        (["--sizes", "30,abc"], "comma-separated list of int"),
        (["--sizes", "5000"], "n_train must be <= 1297"),
        (["--seeds", "0"], "seeds must be an integer >= 1"),
        (["--jobs", "0"], "jobs must be an integer >= 1"),
        (["--omega-r", "0.9", "--omega-s", "0.9", "--methods", "adim"], "simplex"),
        (["--dataset", "imagenet", "--sizes", "30"], "dataset must be one of"),
    ],
)
def test_table1_bad_values_exit_2(tmp_path: Path, capsys, flags, match) -> None:
    out = tmp_path / "t1"
    argv = ["table1", "--seeds", "1", "--methods", "mimic", "--sizes", "30", "--device", "cpu", "--jobs", "1"]
    assert cli.main([*argv, "--no-progress", "--out", str(out), *flags]) == 2
    assert match in error_line(capsys)
    assert not out.exists()


def test_table1_unknown_dataset_without_sizes_exits_2(tmp_path: Path, capsys) -> None:
    """Without --sizes the dataset's default sizes are looked up: an unknown name must still be one clear line."""
    out = tmp_path / "t1"
    argv = ["table1", "--dataset", "imagenet", "--seeds", "1", "--methods", "mimic", "--device", "cpu", "--jobs", "1"]
    assert cli.main([*argv, "--no-progress", "--out", str(out)]) == 2
    assert "dataset must be one of" in error_line(capsys)
    assert not out.exists()


# ------------------------------------------------------------------------------------------------------
# Real processes
# ------------------------------------------------------------------------------------------------------

KILL_ARGS = ["train", "--method", "adim", "--dataset", "digits", "--epochs", "4", "--seed", "0", "--device", "cpu"]


def test_a_run_killed_between_epochs_resumes_to_the_same_result(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    argv = [*KILL_ARGS, *SMALL, "--out", str(out)]
    killed = subprocess.run(
        [sys.executable, "-m", "advdist_lab.cli", *argv],
        env=subprocess_env(**{KILL_AFTER_EPOCH_ENV: "2"}),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (out / CHECKPOINT).exists()
    assert not (out / RESULT).exists()
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert [entry["epoch"] for entry in state["history"]] == [1, 2]

    # resume in this process (a third process would cost seconds of imports for nothing new)
    assert cli.main([*argv, "--resume"]) == 0
    assert "after 4 epochs" in capsys.readouterr().out
    result = load_result(out)
    assert result["history"][:2] == state["history"]

    # the uninterrupted run with the same seed, in this process (one thread, as the command uses on the CPU)
    config = TrainConfig(
        method="adim",
        dataset="digits",
        n_train=30,
        epochs=4,
        seed=0,
        device="cpu",
        teacher_pretrain_epochs=1,
        student_pretrain_epochs=1,
    )
    expected = runs.train(config, progress=False)
    assert result["history"] == expected["history"]
    assert result["test_accuracy"] == expected["test_accuracy"]
    assert result["config"] == expected["config"]


def test_an_error_exit_from_the_console_script(tmp_path: Path) -> None:
    done = subprocess.run(
        [*console_script(), "train", "--method", "foo", "--out", str(tmp_path / "run")],
        env=subprocess_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "advdist-lab: error: method must be one of mimic, distn, noisy, codis, ngan, adib, adim, adim-ngs, student "
        "(got 'foo')"
    ]
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "runs").exists()
