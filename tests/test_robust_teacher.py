"""The robust teacher (the package advdist_lab.robust.teacher) and the robust-teacher / robust-eval commands.

Runs are tiny (digits, a few hundred training images, a few epochs, cheap final attacks). One test starts a real
process: ``python -m advdist_lab.cli robust-teacher`` killed after an epoch (``runs.KILL_AFTER_EPOCH_ENV``), then
resumed in this process and compared with an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_configs import ROBUST_TEACHER_TINY

from advdist_lab import cli
from advdist_lab.methods.loop import NonFiniteLossError
from advdist_lab.robust.attacks import auto as auto_attack
from advdist_lab.robust.attacks.gradient import pgd_s, pgd_t
from advdist_lab.robust.attacks.protocol import ATTACKS, AttackProtocol, robust_accuracy
from advdist_lab.robust.data import load_robust_data
from advdist_lab.robust.models import DEFAULT_TEACHERS, build_robust_model, load_robust_model
from advdist_lab.robust.teacher import (
    RobustTeacherConfig,
    defaults_for,
    evaluate_model,
    import_teacher,
    load_teacher,
    protocol_for,
    train_robust_teacher,
)
from advdist_lab.robust.teacher import training as T
from advdist_lab.runs.folder import (
    CHECKPOINT,
    KILL_AFTER_EPOCH_ENV,
    RESULT,
    CheckpointError,
    RunExistsError,
    load_result,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ROBUST_TEACHER_TINY
TINY_ARGS = [
    "--dataset",
    "digits",
    "--optimizer",
    "adam",
    "--lr",
    "1e-3",
    "--n-train",
    "200",
    "--eval-size",
    "40",
    "--test-size",
    "80",
    "--final-attacks",
    "fgsm,pgd_s",
    "--device",
    "cpu",
    "--no-progress",
]


def tiny(**changes) -> RobustTeacherConfig:
    return RobustTeacherConfig(**{**TINY, **changes})


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("advdist-lab: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """One tiny PGD-AT run folder shared by the read-only tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("teacher") / "run"
    try:
        train_robust_teacher(tiny(), out, progress=False)
    finally:
        torch.set_num_threads(threads)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------------


def test_defaults_per_dataset() -> None:
    digits = RobustTeacherConfig()
    assert digits.arch == DEFAULT_TEACHERS["digits"] == "digits-cnn"
    assert (digits.method, digits.optimizer, digits.lr, digits.epochs) == ("pgd-at", "sgd", 0.1, 20)
    assert (digits.batch_size, digits.augment) == (64, "none")
    assert (digits.eps, digits.steps, digits.step_size) == (0.15, 10, 0.0375)
    assert digits.eps == AttackProtocol.digits().eps and digits.step_size == digits.eps / 4
    assert digits.final_attacks == ATTACKS and digits.eval_attacks == ("pgd_s",)
    assert (digits.momentum, digits.weight_decay, digits.trades_beta) == (0.9, 5e-4, 6.0)
    cifar = RobustTeacherConfig(dataset="cifar10")
    assert (cifar.arch, cifar.method, cifar.optimizer, cifar.lr, cifar.augment) == (
        "wrn-34-10",
        "trades",
        "sgd",
        0.1,
        "crop-flip",
    )
    assert (cifar.eps, cifar.steps, cifar.step_size) == (8 / 255, 10, 2 / 255)
    assert "autoattack" not in cifar.final_attacks and len(cifar.final_attacks) == 4
    assert RobustTeacherConfig(dataset="cifar10-random").arch == "wrn-16-4"
    assert RobustTeacherConfig(method="trades", lr=0.01).lr == 0.01  # given values win
    defaults = defaults_for("digits")
    defaults["epochs"] = -1
    assert defaults_for("digits")["epochs"] > 0  # a copy


def test_to_dict_round_trips_through_json() -> None:
    config = tiny(eval_attacks=())
    data = json.loads(json.dumps(config.to_dict()))
    assert RobustTeacherConfig.from_dict(data) == config
    with pytest.raises(ValueError, match="unknown RobustTeacherConfig field.*colour"):
        RobustTeacherConfig.from_dict({**data, "colour": "red"})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dataset", "mnist", "dataset must be one of"),
        ("method", "fgsm-at", "method must be one of"),
        ("arch", "resnet50", "arch must be one of"),
        ("arch", "wrn-33-10", "depth"),
        ("epochs", 0, "epochs must be an integer >= 1"),
        ("epochs", 2.5, "epochs"),
        ("batch_size", 0, "batch_size"),
        ("lr", 0.0, "lr must be > 0"),
        ("lr", float("nan"), "lr must be a finite"),
        ("optimizer", "rmsprop", "optimizer must be one of"),
        ("momentum", 1.0, "momentum must be >= 0 and < 1"),
        ("momentum", -0.1, "momentum"),
        ("weight_decay", -1e-4, "weight_decay must be >= 0"),
        ("eps", 0.0, "eps must be > 0"),
        ("eps", 1.5, "eps must be > 0 and <= 1"),
        ("steps", 0, "steps must be an integer >= 1"),
        ("step_size", -0.1, "step_size must be > 0"),
        ("trades_beta", -1.0, "trades_beta must be >= 0"),
        ("augment", "mixup", "augment must be one of"),
        ("n_train", 0, "n_train"),
        ("n_train", 1298, "n_train must be <= 1297"),
        ("subset_seed", -1, "subset_seed"),
        ("test_size", 501, "test_size must be <= 500"),
        ("test_size", 0, "test_size"),
        ("eval_size", 0, "eval_size"),
        ("eval_size", 81, "eval_size must be <= the 80 test images"),
        ("eval_attacks", ("pgd_s", "pgd_x"), "eval_attacks: unknown attack"),
        ("eval_attacks", "pgd_s", "eval_attacks must be a sequence"),
        ("eval_attacks", ("pgd_s", "pgd_s"), "eval_attacks must be distinct"),
        ("final_attacks", (), "final_attacks must name at least one attack"),
        ("final_attacks", ("aa",), "final_attacks: unknown attack"),
        ("seed", -1, "seed"),
        ("device", "gpu", "device must be"),
        ("precision", "fp16", "precision must be one of"),
    ],
)
def test_every_bad_field_raises_naming_it(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny(**{field: value})


# ----------------------------------------------------------------------------------------------------------------
# Training pieces
# ----------------------------------------------------------------------------------------------------------------


def test_the_training_attacks_are_pgd_s_and_pgd_t() -> None:
    torch.manual_seed(0)
    model = build_robust_model("digits-small", 10, (1, 8, 8), 0.5, 0.5).train()
    data = load_robust_data("digits", test_size=16)
    x, y = data.x_test, data.y_test
    config = tiny(steps=3)
    for method, attack in (("pgd-at", pgd_s), ("trades", pgd_t)):
        ours = T.training_attack(model, x, y, config.replace(method=method), torch.Generator().manual_seed(5))
        reference = attack(model, x, y, 0.15, 3, 0.0375, generator=torch.Generator().manual_seed(5))
        assert torch.equal(ours, reference), method
        assert model.training  # the attack runs in eval mode and restores the mode
        assert (ours - x).abs().max() <= 0.15 + 1e-6 and not torch.equal(ours, x)
    assert T.training_attack(model, x, y, config.replace(method="natural"), None) is x


def test_crop_flip_crops_the_padded_image_and_flips() -> None:
    x = torch.rand(64, 3, 6, 6)
    out = T.crop_flip(x, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == x.shape
    again = T.crop_flip(x, torch.Generator().manual_seed(0), pad=2)
    assert torch.equal(out, again)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    flips = 0
    for i in range(x.shape[0]):
        crops = [padded[i, :, dy : dy + 6, dx : dx + 6] for dy in range(5) for dx in range(5)]
        plain = any(torch.equal(out[i], c) for c in crops)
        flipped = any(torch.equal(out[i], c.flip(2)) for c in crops)
        assert plain or flipped, i
        flips += flipped and not plain
    assert 10 < flips < 54


def test_pgd_at_is_more_robust_than_natural_training_with_the_same_budget() -> None:
    """The same small network, data and steps; only the inputs differ (PGD-10 examples or clean images).

    Measured with these settings (PGD_S on 200 test digits, seeds 0-3): natural 0.15, 0.10, 0.18, 0.07 against
    PGD-AT 0.425, 0.455, 0.52, 0.465, a gap of 0.27 to 0.40; the test runs seed 0 and asks for 0.15.
    """
    budget = {"arch": "digits-small", "n_train": 400, "epochs": 8, "lr": 1e-2, "test_size": 200}
    budget.update(eval_size=20, final_attacks=("pgd_s",))
    natural = train_robust_teacher(tiny(method="natural", **budget), progress=False)
    robust = train_robust_teacher(tiny(method="pgd-at", **budget), progress=False)
    assert natural["clean"] > 0.85 and robust["clean"] > 0.8  # both learn the digits
    assert robust["pgd_s"] > natural["pgd_s"] + 0.15, (robust["pgd_s"], natural["pgd_s"])
    assert natural["pgd_s"] < 0.3


def test_trades_trains_and_its_history_has_the_eval_attacks() -> None:
    entries = []
    config = tiny(method="trades", lr=3e-3, eval_attacks=("pgd_s", "pgd_t"))
    result = train_robust_teacher(config, progress=False, callback=entries.append)
    assert result["history"] == entries
    assert [e["epoch"] for e in entries] == [1, 2]
    for entry in entries:
        assert set(entry) == {"epoch", "lr", "train_loss", "train_accuracy", "clean", "pgd_s", "pgd_t"}
    assert entries[1]["train_loss"] < entries[0]["train_loss"]
    assert entries[1]["lr"] == pytest.approx(3e-3 / 2)  # cosine, read at the start of the epoch
    assert result["status"] == "finished" and result["clean"] > 0.5  # measured 0.70 (chance is 0.10)


def test_no_eval_attacks_gives_clean_accuracy_only() -> None:
    result = train_robust_teacher(tiny(method="natural", epochs=1, eval_attacks=()), progress=False)
    assert set(result["history"][0]) == {"epoch", "lr", "train_loss", "train_accuracy", "clean"}


def test_cifar_shaped_training_with_crop_flip_sgd_and_bf16_autocast() -> None:
    """The CIFAR code path (SGD, crop-flip, TRADES) on noise, with bf16 autocast on the CPU, as on a GPU."""
    config = RobustTeacherConfig(
        dataset="cifar10-random",
        arch="digits-small",
        n_train=64,
        epochs=1,
        batch_size=32,
        eval_size=8,
        test_size=16,
        final_attacks=("fgsm",),
        device="cpu",
        precision="bf16",
    )
    assert (config.method, config.optimizer, config.augment) == ("trades", "sgd", "crop-flip")
    result = train_robust_teacher(config, progress=False)
    assert math.isfinite(result["history"][0]["train_loss"]) and result["protocol"]["name"] == "cifar"
    assert result["n_test"] == 16


# ----------------------------------------------------------------------------------------------------------------
# Run folders
# ----------------------------------------------------------------------------------------------------------------


def test_the_run_folder(trained_run: Path) -> None:
    result = load_result(trained_run)
    assert {"config", "history", "protocol", "eval_protocol", "wall_seconds", "device", "status", "model"} <= set(
        result
    )
    assert {"clean", "fgsm", "pgd_s", "average"} <= set(result) and "pgd_t" not in result
    assert result["average"] == pytest.approx((result["fgsm"] + result["pgd_s"]) / 2)
    assert result["status"] == "finished" and result["model"] == "teacher.pt" and result["device"] == "cpu"
    assert result["config"] == tiny().to_dict()
    assert result["protocol"]["name"] == "digits" and result["protocol"]["attacks"] == ["fgsm", "pgd_s"]
    assert result["n_test"] == 80
    assert [e["epoch"] for e in result["history"]] == [1, 2]
    for entry in result["history"]:
        assert set(entry) == {"epoch", "lr", "train_loss", "train_accuracy", "clean", "pgd_s"}
    assert len(result["timing"]["epoch_seconds"]) == 2
    assert sorted(p.name for p in trained_run.iterdir()) == [CHECKPOINT, RESULT, "teacher.pt"]


def test_teacher_pt_loads_back_with_identical_logits_and_accuracies(trained_run: Path) -> None:
    result = load_result(trained_run)
    from_folder, info = load_teacher(trained_run)
    from_file, _ = load_teacher(trained_run / "teacher.pt", dataset="digits", arch="digits-cnn")
    state = torch.load(trained_run / CHECKPOINT, weights_only=True)
    reference = build_robust_model("digits-cnn", 10, (1, 8, 8), 0.5, 0.5)
    reference.load_state_dict(state["model"])
    reference.eval()
    x = load_robust_data("digits", test_size=80).x_test
    with torch.no_grad():
        assert torch.equal(from_folder(x), reference(x)) and torch.equal(from_file(x), reference(x))
    assert info["dataset"] == "digits" and info["arch"] == "digits-cnn" and info["foreign"] is False
    summary = info["summary"]
    assert summary["method"] == "pgd-at" and summary["epochs"] == 2
    assert summary["accuracies"]["pgd_s"] == result["pgd_s"]
    data = load_robust_data("digits", test_size=80)
    again = robust_accuracy(from_folder, data.x_test, data.y_test, protocol_for("digits", ("fgsm", "pgd_s")))
    assert {k: again[k] for k in ("clean", "fgsm", "pgd_s")} == {k: result[k] for k in ("clean", "fgsm", "pgd_s")}


def test_load_teacher_checks_what_it_is_given(trained_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not fit cifar10"):
        load_teacher(trained_run, dataset="cifar10")
    with pytest.raises(ValueError, match="holds a digits-cnn model, not digits-small"):
        load_teacher(trained_run, arch="digits-small")
    foreign = tmp_path / "foreign.pt"
    model, _ = load_teacher(trained_run)
    torch.save(model.model.state_dict(), foreign)
    with pytest.raises(ValueError, match="give its dataset and arch"):
        load_teacher(foreign, arch="digits-cnn")
    loaded, info = load_teacher(foreign, dataset="digits", arch="digits-cnn")
    assert info["foreign"] is True and info["dataset"] == "digits"
    with pytest.raises(ValueError, match="no model at"):
        load_teacher(tmp_path / "nothing.pt")
    with pytest.raises(ValueError, match="without a model file"):
        load_teacher(tmp_path)


def test_a_finished_run_is_never_overwritten(trained_run: Path) -> None:
    before = (trained_run / RESULT).read_bytes()
    with pytest.raises(RunExistsError, match="already holds a finished run"):
        train_robust_teacher(tiny(), trained_run, progress=False)
    assert train_robust_teacher(tiny(), trained_run, resume=True, progress=False) == json.loads(before)
    with pytest.raises(RunExistsError, match="epochs: 2 there, 3 here"):
        train_robust_teacher(tiny(epochs=3), trained_run, resume=True, progress=False)
    assert train_robust_teacher(tiny(device="auto"), trained_run, resume=True, progress=False)["status"] == "finished"
    assert (trained_run / RESULT).read_bytes() == before


def test_an_unfinished_run_resumes_only_when_asked(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = tiny(epochs=1, method="natural")
    finished = train_robust_teacher(config, out, progress=False)
    (out / RESULT).unlink()  # as if killed after the last checkpoint, before result.json
    with pytest.raises(RunExistsError, match="unfinished run; pass --resume"):
        train_robust_teacher(config, out, progress=False)
    with pytest.raises(RunExistsError, match="seed: 0 there, 1 here"):
        train_robust_teacher(config.replace(seed=1), out, resume=True, progress=False)
    resumed = train_robust_teacher(config, out, resume=True, progress=False)
    assert resumed["history"] == finished["history"]
    assert {k: resumed[k] for k in ("clean", "fgsm", "pgd_s")} == {k: finished[k] for k in ("clean", "fgsm", "pgd_s")}
    (out / RESULT).unlink()
    (out / CHECKPOINT).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot be read"):
        train_robust_teacher(config, out, resume=True, progress=False)
    assert (out / CHECKPOINT).read_bytes() == b"garbage"


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch) -> None:
    real = T.step_loss
    calls = {"n": 0}
    batches = 2  # n_train 100, batch 64

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss, logits = real(*args, **kwargs)
        return (loss * float("nan"), logits) if calls["n"] > batches else (loss, logits)

    monkeypatch.setattr(T, "step_loss", poisoned)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="teacher's loss is not finite in training epoch 2") as caught:
        train_robust_teacher(tiny(n_train=100, epochs=3), out, progress=False)
    assert (caught.value.player, caught.value.epoch) == ("teacher", 2)
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert [e["epoch"] for e in state["history"]] == [1]
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert not (out / RESULT).exists()


def test_autoattack_without_torchattacks_fails_before_training(tmp_path: Path, monkeypatch) -> None:
    def missing():
        raise ImportError("AutoAttack needs torchattacks: run `pip install ...`")

    monkeypatch.setattr(auto_attack, "import_torchattacks", missing)
    with pytest.raises(ValueError, match="needs torchattacks.*leave autoattack out of final_attacks"):
        train_robust_teacher(tiny(final_attacks=ATTACKS), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------------------------------------------
# Kill and resume through the command (one real process)
# ----------------------------------------------------------------------------------------------------------------


def test_a_teacher_killed_after_an_epoch_resumes_to_the_uninterrupted_result(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["robust-teacher", *TINY_ARGS, "--epochs", "3", "--method", "trades", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != KILL_AFTER_EPOCH_ENV}
    killed = subprocess.run(
        [sys.executable, "-m", "advdist_lab.cli", *argv],
        env={**env, KILL_AFTER_EPOCH_ENV: "2"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (out / RESULT).exists()
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert [e["epoch"] for e in state["history"]] == [1, 2]

    assert cli.main([*argv, "--resume"]) == 0
    assert "after 3 epochs" in capsys.readouterr().out
    resumed = load_result(out)
    assert resumed["history"][:2] == state["history"]

    uninterrupted = train_robust_teacher(tiny(epochs=3, method="trades"), progress=False)
    assert resumed["history"] == uninterrupted["history"]
    for key in ("clean", "fgsm", "pgd_s", "average"):
        assert resumed[key] == uninterrupted[key], key
    assert resumed["config"] == uninterrupted["config"]


# ----------------------------------------------------------------------------------------------------------------
# The commands
# ----------------------------------------------------------------------------------------------------------------


def test_robust_teacher_and_robust_eval_end_to_end(tmp_path: Path, capsys) -> None:
    out = tmp_path / "teacher"
    assert cli.main(["robust-teacher", *TINY_ARGS, "--epochs", "1", "--eps", "6/40", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("pgd-at teacher (digits-cnn) on digits, seed 0: clean ")
    assert "after 1 epochs" in lines[0] and str(out / RESULT) in lines[0]
    assert lines[1] == "| teacher | Clean | FGSM | PGD_S | PGD_T | CW_inf | AA | Avg |"
    assert lines[3].startswith("| digits-cnn pgd-at | ") and "| - | - | - |" in lines[3]
    trained = load_result(out)
    assert trained["config"]["eps"] == 0.15 and trained["config"]["epochs"] == 1

    # robust-eval of the run folder under the same attacks reproduces the teacher's final accuracies
    evaluation = tmp_path / "eval"
    argv = ["robust-eval", "--model", str(out), "--attacks", "fgsm,pgd_s", "--test-size", "80", "--no-progress"]
    assert cli.main([*argv, "--device", "cpu", "--out", str(evaluation)]) == 0
    printed = capsys.readouterr().out
    assert "| model | Clean | FGSM | PGD_S | PGD_T | CW_inf | AA | Avg |" in printed
    result = load_result(evaluation)
    for key in ("clean", "fgsm", "pgd_s", "average"):
        assert result[key] == trained[key], key
    assert result["history"] == [{"epoch": 0, **{k: result[k] for k in ("clean", "fgsm", "pgd_s", "average")}}]
    assert result["status"] == "finished" and result["config"]["dataset"] == "digits"
    assert result["protocol"]["attacks"] == ["fgsm", "pgd_s"]

    # a finished evaluation is printed again with --resume and refused without
    assert cli.main([*argv, "--device", "cpu", "--out", str(evaluation), "--resume"]) == 0
    assert "| model | Clean |" in capsys.readouterr().out
    assert load_result(evaluation) == result
    assert cli.main([*argv, "--device", "cpu", "--out", str(evaluation)]) == 2
    assert "already holds a finished run" in error_line(capsys)

    # without --out nothing is written; the model file itself works too
    assert cli.main(["robust-eval", "--model", str(out / "teacher.pt"), "--attacks", "fgsm", "--test-size", "20"]) == 0
    assert "| teacher.pt |" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval", "teacher"]


def test_evaluate_model_takes_a_model_object() -> None:
    torch.manual_seed(0)
    model = build_robust_model("digits-small", 10, (1, 8, 8), 0.5, 0.5).eval()
    result = evaluate_model(model, dataset="digits", attacks=("fgsm",), test_size=30, device="cpu", progress=False)
    assert result["n_test"] == 30 and set(result["config"]["attacks"]) == {"fgsm"}
    with pytest.raises(ValueError, match="dataset is required"):
        evaluate_model(model, attacks=("fgsm",), device="cpu")


def test_import_a_foreign_checkpoint(trained_run: Path, tmp_path: Path, capsys) -> None:
    model, _ = load_teacher(trained_run)
    foreign = tmp_path / "mine.pth"
    state = {f"module.{k}": v for k, v in model.model.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 99}, foreign)
    out = tmp_path / "imported"
    argv = ["robust-teacher", "--checkpoint", str(foreign), "--arch", "digits-cnn", "--final-attacks", "fgsm,pgd_s"]
    argv += ["--test-size", "80", "--device", "cpu", "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"imported digits-cnn teacher on digits from {foreign}: clean ")
    assert lines[3].startswith("| digits-cnn imported | ")
    result = load_result(out)
    trained = load_result(trained_run)
    assert result["status"] == "imported" and result["history"] == [] and result["model"] == "teacher.pt"
    assert result["config"]["checkpoint"] == str(foreign) and result["arch"] == "digits-cnn"
    for key in ("clean", "fgsm", "pgd_s"):  # the same network, the same attacks and seed
        assert result[key] == trained[key], key
    loaded, info = load_teacher(out)
    x = torch.rand(9, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert info["summary"]["method"] == "imported" and info["summary"]["imported_from"] == str(foreign)
    # a second import into the same folder is refused; --resume prints it
    assert cli.main(argv) == 2
    assert "already holds a finished run" in error_line(capsys)
    assert cli.main([*argv, "--resume"]) == 0
    # our own teacher.pt imports without --arch (the library call, as the command makes it)
    again = import_teacher(
        trained_run, tmp_path / "ours", dataset="digits", final_attacks=("fgsm",), test_size=20, progress=False
    )
    assert again["arch"] == "digits-cnn"
    _, own = load_robust_model(tmp_path / "ours" / "teacher.pt")
    assert own["summary"]["accuracies"]["fgsm"] == again["fgsm"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["robust-teacher", "--method", "fgsm-at"], "method must be one of"),
        (["robust-teacher", "--eps", "2"], "eps must be > 0 and <= 1"),
        (["robust-teacher", "--final-attacks", "pgd_s,aa"], "final_attacks: unknown attack"),
        (["robust-teacher", "--final-attacks", "none"], "final_attacks must name at least one attack"),
        (["robust-teacher", "--eval-size", "501"], "eval_size must be <="),
        (["robust-teacher", "--dataset", "mnist"], "dataset must be one of"),
        (["robust-teacher", "--threads", "0"], "--threads must be >= 1"),
        (["robust-teacher", "--checkpoint", "x.pt", "--epochs", "3"], "--epochs: --checkpoint imports"),
        (["robust-teacher", "--checkpoint", "missing.pt", "--arch", "digits-cnn"], "no model at missing.pt"),
        (["robust-eval", "--model", "missing.pt"], "no model at missing.pt"),
        (["robust-eval", "--model", "x.pt", "--dataset", "digits", "--attacks", "pgd"], "unknown attack"),
        (["robust-eval", "--model", "x.pt", "--dataset", "digits", "--device", "tpu"], "device must be"),
    ],
)
def test_bad_command_values_exit_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default --out is relative: nothing may be written
    assert cli.main([*argv, "--no-progress"]) == 2
    assert message in error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_foreign_checkpoint_without_arch_exits_2(tmp_path: Path, capsys) -> None:
    foreign = tmp_path / "mine.pt"
    torch.save(build_robust_model("digits-small", 10, (1, 8, 8), 0.5, 0.5).model.state_dict(), foreign)
    out = tmp_path / "imported"
    assert cli.main(["robust-teacher", "--checkpoint", str(foreign), "--no-progress", "--out", str(out)]) == 2
    assert "give its dataset and arch (--dataset, --arch)" in error_line(capsys)
    assert cli.main(["robust-eval", "--model", str(foreign), "--no-progress"]) == 2
    assert "give its dataset and arch" in error_line(capsys)
    assert not out.exists()
    argv = ["robust-eval", "--model", str(foreign), "--arch", "digits-small", "--dataset", "digits"]
    assert cli.main([*argv, "--attacks", "fgsm", "--test-size", "10", "--no-progress"]) == 0
    assert "| mine.pt | " in capsys.readouterr().out
