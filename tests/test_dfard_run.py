"""DFARD's Algorithm 1 end to end (advdist_lab.robust.dfard, runner, distillation, experiments, cli_dfard)."""

from __future__ import annotations

import json
import re
import threading

import pytest
import torch
import torch.nn.functional as F

from advdist_lab.cli import main
from advdist_lab.robust import experiments
from advdist_lab.robust.attacks.gradient import attack_mode
from advdist_lab.robust.data import load_robust_data
from advdist_lab.robust.dfard import DFARD_METHODS, TABLE3_ROWS, DfardConfig, run_dfard
from advdist_lab.robust.distillation import adversarial_examples, kd_loss
from advdist_lab.robust.generation.generators import load_generator, sample_grid
from advdist_lab.robust.models import build_robust_model, load_robust_model, save_robust_model
from advdist_lab.robust.paper_tables import (
    DFARD_AVERAGE_GAINS,
    DFARD_COLUMNS,
    DFARD_TABLE1,
    DFARD_TABLE3,
    DFARD_TABLE4,
    DFARD_TABLE4_GAINS,
)
from advdist_lab.runs import RunExistsError

TINY = {
    "epochs": 2,
    "iterations": 1,
    "batch_size": 16,
    "ts": 2,
    "z_dim": 8,
    "generator_width": 8,
    "train_steps": 2,
    "eval_size": 24,
    "eval_attacks": ("pgd_t",),
    "final_size": 24,
    "final_attacks": ("fgsm", "pgd_t"),
    "device": "cpu",
}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    """A digits-cnn teacher trained for a few clean epochs (enough for the generator to have a signal)."""
    torch.manual_seed(0)
    data = load_robust_data("digits")
    model = build_robust_model("digits-cnn", 10, (1, 8, 8), data.mean, data.std)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(3):
        for index in torch.randperm(len(data.y_train)).split(128):
            loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    save_robust_model(path, model.eval(), arch="digits-cnn", num_classes=10, image_shape=(1, 8, 8))
    return str(path)


def tiny(teacher: str, **changes) -> DfardConfig:
    return DfardConfig(teacher=teacher, **{**TINY, **changes})


# -- the configuration ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "dafl+itaa"}, "method must be one of"),
        ({"ita": "stage"}, "ita must be one of"),
        ({"agb": 1}, "agb must be"),
        ({"method": "zskt", "agb": True}, "agb"),
        ({"tau": 0}, "tau"),
        ({"lam": 1.5}, "lam must lie in"),
        ({"epochs": 0}, "epochs"),
        ({"ts": -1}, "ts"),
        ({"train_eps": 2.0}, "train_eps must be <= 1"),
        ({"momentum": 1.0}, "momentum"),
        ({"eval_attacks": ("pgd_x",)}, "eval_attacks"),
        ({"select": "fgsm"}, "select must be"),
        ({"student_arch": "vgg"}, "arch must be one of"),
        ({"dataset": "mnist"}, "dataset must be one of"),
        ({"val_size": 1_298}, r"val_size must be <= 1,297, the training split of digits .*\(got 1,298\)"),
        ({"val_size": 0}, r"val_size must be"),
        ({"eval_size": 1_298}, r"eval_size stands for val_size .*: val_size must be <= 1,297, the training split"),
        ({"val_size": 100, "eval_size": 101}, r"eval_size must be <= val_size \(100\).*\(got 101\)"),
        ({"final_size": 501}, r"final_size must be <= 500, the test split of digits"),
        ({"dataset": "cifar10", "val_size": 50_001}, r"val_size must be <= 50,000, the training split of cifar10"),
        ({"dataset": "cifar10", "final_size": 10_001}, r"final_size must be <= 10,000, the test split of cifar10"),
        ({"epochs": 10**6}, r"epochs must be <= 10,000 \(got 1,000,000\): a sane bound on epochs"),
        ({"iterations": 10**9}, r"iterations must be <= 1,000,000 .*: a sane bound on iterations"),
        ({"tg": 10**9}, r"tg must be <= 1,000,000"),
    ],
)
def test_bad_config_raises_naming_the_constraint(changes, message):
    with pytest.raises(ValueError, match=message):
        DfardConfig(teacher="t.pt", **changes)


def test_resolved_switches_follow_the_method():
    def switches(**changes):
        config = DfardConfig(teacher="t.pt", **changes).resolved()
        return config.ita, config.agb, config.generator_loss

    assert switches(method="dfard") == ("both", True, "dfard")
    assert switches(method="vanilla") == ("none", False, "dfard")
    assert switches(method="zskt") == ("none", False, "zskt")
    assert switches(method="dfq+ita") == ("both", False, "dfq")
    assert switches(method="dfard", ita="generation") == ("generation", True, "dfard")
    assert {"dafl+ita", "zskt+ita", "dfq+ita", "deepinv+ita"} <= set(DFARD_METHODS)
    with pytest.raises(ValueError, match="teacher must be given"):
        DfardConfig().resolved()
    resolved = DfardConfig(teacher="t.pt").resolved()
    assert resolved.train_eps == pytest.approx(0.15) and resolved.train_step_size == pytest.approx(0.0375)
    assert DfardConfig.from_dict(resolved.to_dict()) == resolved


# -- the distillation stage ------------------------------------------------------------------------------------


def test_kd_loss_is_tau_squared_kl():
    t, s = torch.randn(5, 4), torch.randn(5, 4)
    for tau in (1.0, 3.0):
        p = F.softmax(t / tau, 1)
        expected = (p * (p.log() - F.log_softmax(s / tau, 1))).sum(1).mean() * tau**2
        assert float(kd_loss(t, s, tau)) == pytest.approx(float(expected), rel=1e-6)
    assert float(kd_loss(t, t, 2.0)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        kd_loss(t, s[:, :3], 1.0)
    with pytest.raises(ValueError, match="tau"):
        kd_loss(t, s, 0.0)


def test_adversarial_examples_stay_in_the_ball_and_raise_the_divergence():
    torch.manual_seed(1)
    student = build_robust_model("digits-small", 10, (1, 8, 8), 0.5, 0.5)
    teacher = build_robust_model("digits-cnn", 10, (1, 8, 8), 0.5, 0.5).eval()
    x = torch.rand(32, 1, 8, 8)
    with torch.no_grad():
        t_logits = teacher(x)
    student.train()
    x_adv = adversarial_examples(student, t_logits, x, eps=0.1, steps=5, step_size=0.03)
    assert student.training and all(p.requires_grad for p in student.parameters())
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    with attack_mode(student), torch.no_grad():
        target = F.softmax(t_logits, 1)

        def divergence(images):
            return float(F.kl_div(F.log_softmax(student(images), 1), target, reduction="sum"))

        assert divergence(x_adv) > divergence(x)


# -- Algorithm 1 in a run folder -------------------------------------------------------------------------------


def test_dfard_run_writes_the_table1_result(teacher_file, tmp_path):
    out = tmp_path / "run"
    result = run_dfard(tiny(teacher_file), out, progress=False)
    stored = json.loads((out / "result.json").read_text())
    assert stored["history"] == result["history"]
    assert len(result["history"]) == 2 and result["status"] == "finished"
    for key in ("clean", "fgsm", "pgd_t", "average", "test_accuracy", "best_epoch", "protocol", "teacher"):
        assert key in result
    assert result["average"] == pytest.approx((result["fgsm"] + result["pgd_t"]) / 2)
    entry = result["history"][0]
    for key in ("tau", "lambda", "tau_distill", "generator_loss", "student_loss", "val_clean", "val_pgd_t"):
        assert key in entry
    assert not {"clean", "pgd_t", "fgsm"} & set(entry)  # per epoch only the validation split is read
    assert 1.0 <= entry["tau"] <= 10.0 and 0.1 <= entry["lambda"] <= 1.0
    assert entry["tau_distill"] == pytest.approx(entry["tau"])  # dfard: ITA in both stages
    assert result["teacher"]["parameters"] == 62_378 and result["student_parameters"] == 6_138
    assert result["best_epoch"] == 1 + max(range(2), key=lambda i: (result["history"][i]["val_pgd_t"], -i))
    assert result["selection"] == {
        "split": "validation",
        "held_out_from": "training split",
        "val_size": 24,  # eval_size 24 stands for it
        "evaluated_each_epoch": 24,
        "accuracy": "val_pgd_t",
        "best": max(e["val_pgd_t"] for e in result["history"]),
        "test_evaluations": 1,
    }
    assert result["last"] == {k: v for k, v in result["history"][-1].items() if k.startswith("val_")}
    assert result["evaluated_on"] == 24 and result["config"]["val_size"] == 24
    student, info = load_robust_model(out / "student.pt")
    assert info["arch"] == "digits-small"
    generator = load_generator(str(out))
    images, labels = sample_grid(generator, per_class=2)
    assert images.shape == (20, 1, 8, 8) and labels.tolist()[:4] == [0, 0, 1, 1]
    with pytest.raises(RunExistsError, match="already holds a finished run"):
        run_dfard(tiny(teacher_file), out, progress=False)
    assert run_dfard(tiny(teacher_file), out, resume=True, progress=False)["history"] == result["history"]


def test_fixed_switches_record_the_fixed_tau_and_lambda(teacher_file, tmp_path):
    result = run_dfard(tiny(teacher_file, method="vanilla", epochs=1), tmp_path / "v", progress=False)
    entry = result["history"][0]
    assert entry["tau"] == 3.0 and entry["lambda"] == 0.3 and entry["tau_distill"] == 3.0
    result = run_dfard(tiny(teacher_file, method="vanilla", ita="generation", epochs=1), tmp_path / "g", progress=False)
    entry = result["history"][0]
    assert entry["tau_distill"] == 3.0 and entry["lambda"] == 0.3 and entry["tau"] != 3.0


@pytest.mark.parametrize("method", ["dafl", "zskt", "dfq+ita", "deepinv"])
def test_every_baseline_trains_through_the_same_distillation_stage(teacher_file, tmp_path, method):
    result = run_dfard(tiny(teacher_file, method=method, epochs=1), tmp_path / method, progress=False)
    entry = result["history"][0]
    assert entry["lambda"] == 0.3 and torch.isfinite(torch.tensor(entry["student_loss"]))
    assert (entry["tau_distill"] == 3.0) == (not method.endswith("+ita"))


def test_an_interrupted_run_resumes_to_the_same_result(teacher_file, tmp_path):
    config = tiny(teacher_file, epochs=3)
    whole = run_dfard(config, tmp_path / "whole", progress=False)
    stop = threading.Event()
    partial = run_dfard(config, tmp_path / "part", progress=False, stop=stop, callback=lambda entry: stop.set())
    assert partial["status"] == "stopped" and len(partial["history"]) == 1
    assert not (tmp_path / "part" / "result.json").exists()
    with pytest.raises(RunExistsError, match="--resume"):
        run_dfard(config, tmp_path / "part", progress=False)
    with pytest.raises(RunExistsError, match="different config"):
        run_dfard(tiny(teacher_file, epochs=3, tau=2.0), tmp_path / "part", resume=True, progress=False)
    resumed = run_dfard(config, tmp_path / "part", resume=True, progress=False)
    assert resumed["history"] == whole["history"]
    assert {k: resumed[k] for k in DFARD_COLUMNS if k in resumed} == {k: whole[k] for k in DFARD_COLUMNS if k in whole}


def test_a_teacher_for_other_images_is_refused(tmp_path):
    model = build_robust_model("resnet18", 10, (3, 32, 32), 0.5, 0.5)
    path = tmp_path / "cifar.pt"
    save_robust_model(path, model, arch="resnet18", num_classes=10, image_shape=(3, 32, 32))
    with pytest.raises(ValueError, match="was built for 10 classes of"):
        run_dfard(tiny(str(path)), tmp_path / "run", progress=False)


# -- tables -----------------------------------------------------------------------------------------------------


def test_paper_tables_are_consistent():
    assert DFARD_TABLE3["Ours"] == DFARD_TABLE1[("RN-18", "CIFAR-10")]["Ours"]
    for row, values in DFARD_TABLE4.items():
        base = dict(zip(DFARD_COLUMNS, DFARD_TABLE1[("RN-18", "CIFAR-10")][row.split("+")[0]], strict=True))
        for column, value in values.items():
            assert value - base[column] == pytest.approx(DFARD_TABLE4_GAINS[row][column], abs=0.006)
    for setting, gain in DFARD_AVERAGE_GAINS.items():
        rows = DFARD_TABLE1[setting]
        averages = {
            m: experiments.average_over_attacks(dict(zip(DFARD_COLUMNS, r, strict=True))) for m, r in rows.items()
        }
        best_other = max(v for m, v in averages.items() if m not in ("Ours", "Ours*"))
        assert averages["Ours*"] - best_other == pytest.approx(gain, abs=0.01)


def test_rows_run_summarize_and_compare(teacher_file, tmp_path):
    rows = {"Vanilla": TABLE3_ROWS["Vanilla"], "Ours": TABLE3_ROWS["Ours"]}
    base = tiny(teacher_file, epochs=1)
    results = experiments.run_rows(rows, base, tmp_path, seeds=(0, 1), progress=False)
    assert set(results) == {"Vanilla", "Ours"} and all(len(v) == 2 for v in results.values())
    assert results["Vanilla"][0]["config"]["method"] == "vanilla"
    assert (tmp_path / "Vanilla" / "seed=1" / "result.json").exists()
    again = experiments.run_rows(rows, base, tmp_path, seeds=(0, 1), progress=False)
    assert again["Ours"][1]["history"] == results["Ours"][1]["history"]
    summary = experiments.summarize(results)
    values = [100 * r["pgd_t"] for r in results["Ours"]]
    assert summary["Ours"]["pgd_t"][0] == pytest.approx(sum(values) / 2)
    text = experiments.comparison_markdown(summary, DFARD_TABLE3, ("clean", "fgsm", "pgd_t"))
    assert "(58.35)" in text and "| Ours |" in text.replace("| Ours | ", "| Ours |")
    assert experiments.row_folder("w/ ITA (G)") == "w-ITA-G"
    assert experiments.row_folder("Ours*") != experiments.row_folder("Ours")


def test_rows_are_read_back_without_training_or_refused_with_a_count(teacher_file, tmp_path):
    from advdist_lab.runs.executors import RunsNotTrainedError

    rows = {"Vanilla": TABLE3_ROWS["Vanilla"]}
    base = tiny(teacher_file, epochs=1)
    with pytest.raises(RunsNotTrainedError, match="0 of 2 runs are finished"):
        experiments.run_rows(rows, base, tmp_path / "rows", seeds=(0, 1), progress=False, train=False)
    assert not (tmp_path / "rows").exists()
    trained = experiments.run_rows(rows, base, tmp_path / "rows", seeds=(0, 1), progress=False)
    read = experiments.run_rows(rows, base, tmp_path / "rows", seeds=(0, 1), progress=False, train=False)
    assert [r["history"] for r in read["Vanilla"]] == [r["history"] for r in trained["Vanilla"]]


# -- the command line --------------------------------------------------------------------------------------------


def _options(teacher: str) -> list[str]:
    options = ["--teacher", teacher]
    for key, value in TINY.items():
        if key == "epochs":
            continue
        text = ",".join(value) if isinstance(value, tuple) else str(value)
        options += ["--" + key.replace("_", "-"), text]
    return options


def test_cli_dfard_and_table(teacher_file, tmp_path, capsys):
    out = tmp_path / "cli"
    assert (
        main(
            ["dfard", "--method", "zskt+ita", "--epochs", "1", "--no-progress", "--out", str(out)]
            + _options(teacher_file)
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "zskt+ita on digits" in printed and "| PGD_T |" in printed.replace("| PGD_T | ", "| PGD_T |")
    stored = json.loads((out / "result.json").read_text())
    assert stored["config"]["method"] == "zskt+ita" and stored["config"]["ita"] == "both"
    table_out = tmp_path / "table"
    args = ["dfard-table", "--table", "4", "--no-progress", "--out", str(table_out), "--epochs", "1"]
    assert main(args + _options(teacher_file)) == 0
    text = (table_out / "table4.md").read_text()
    assert "DAFL+ITA" in text and "(56.26)" in text


def test_cli_refuses_bad_values_with_one_line(teacher_file, capsys):
    assert main(["dfard", "--teacher", teacher_file, "--tau", "-1"]) == 2
    assert capsys.readouterr().err.strip().startswith("advdist-lab: error: tau")
    assert main(["dfard", "--teacher", teacher_file, "--ita", "always"]) == 2
    assert "ita must be one of" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--val-size", "1298"], "val_size must be <= 1,297, the training split of digits"),
        (["--final-size", "501"], "final_size must be <= 500, the test split of digits (got 501)"),
        (["--method", "derd", "--variant", "no-natural", "--val-size", "1298"], "val_size must be <= 1,297"),
        (["--val-size", "10", "--eval-size", "11"], "eval_size must be <= val_size (10)"),
        (["--epochs", "100000"], "epochs must be <= 10,000 (got 100,000): a sane bound on epochs"),
        (["--iterations", "10000000"], "iterations must be <= 1,000,000 (got 10,000,000): a sane bound"),
        (["--batch-size", "100000000"], "batch_size needs about"),
        (["--method", "derd", "--variant", "no-natural", "--batch-size", "100000000"], "batch_size needs about"),
    ],
)
def test_cli_refuses_hostile_sizes_before_any_work(teacher_file, tmp_path, capsys, options, message):
    out = tmp_path / "never"
    assert main(["dfard", "--teacher", teacher_file, "--out", str(out), "--no-progress", *options]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_batch_that_cannot_fit_is_refused_naming_batch_size(teacher_file, tmp_path, monkeypatch):
    from advdist_lab import environment
    from advdist_lab.robust.distill_limits import batch_bytes

    config = DfardConfig(teacher=teacher_file, **TINY)
    needed = batch_bytes(config.resolved())
    assert needed == 16 * 64 * 4 * (250 + 260 + 80)  # batch x image x float32 x (generator + teacher + student)
    monkeypatch.setattr(environment, "available_memory", lambda device: needed - 1)
    refused = r"batch_size needs about .* but only .* is available on cpu: choose a smaller batch_size"
    with pytest.raises(ValueError, match=refused):
        run_dfard(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("player", ["generator", "student"])
def test_a_nan_stops_dfard_naming_the_player_and_the_epoch(teacher_file, tmp_path, monkeypatch, player):
    from advdist_lab.methods.loop import NonFiniteLossError
    from advdist_lab.robust import dfard

    if player == "generator":
        original = dfard.generator_loss

        def poisoned(*args, **kwargs):
            terms = original(*args, **kwargs)
            return {**terms, "total": terms["total"] * float("nan")}

        monkeypatch.setattr(dfard, "generator_loss", poisoned)
    else:
        monkeypatch.setattr(dfard, "kd_loss", lambda *args: torch.tensor(float("inf"), requires_grad=True))
    with pytest.raises(NonFiniteLossError, match=f"the {player}'s loss is not finite in training epoch 1") as caught:
        run_dfard(DfardConfig(teacher=teacher_file, **TINY), tmp_path / "run", progress=False)
    assert (caught.value.player, caught.value.epoch) == (player, 1)


def test_a_broken_generator_or_student_is_named_in_the_epoch_it_breaks(teacher_file):
    from advdist_lab.methods.loop import NonFiniteLossError
    from advdist_lab.robust.dfard import DfardDistiller

    config = DfardConfig(teacher=teacher_file, **TINY).resolved()
    for player in ("generator", "student"):
        distiller = DfardDistiller(config, load_robust_data("digits"), torch.device("cpu"))
        distiller.train_epoch(0)
        with torch.no_grad():
            for p in getattr(distiller, player).parameters():
                p.fill_(float("nan"))
        with pytest.raises(NonFiniteLossError, match=f"the {player}'s loss is not finite in training epoch 2"):
            distiller.train_epoch(1)


def test_cli_runs_derd_and_robust_eval_reads_the_student(teacher_file, tmp_path, capsys):
    out = tmp_path / "derd"
    args = ["dfard", "--method", "derd", "--variant", "no-natural", "--no-progress", "--out", str(out)]
    assert main(args + ["--epochs", "2"] + _options(teacher_file)) == 0
    assert "derd-no-natural on digits" in capsys.readouterr().out
    stored = json.loads((out / "result.json").read_text())
    assert [e["stage"] for e in stored["history"]] == [1, 2] and stored["model"] == "student.pt"
    assert main(["robust-eval", "--model", str(out), "--test-size", "24", "--attacks", "fgsm", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"{out / 'student.pt'} (digits-small)" in printed
    clean = re.search(r"\| \S+ \| (\d+\.\d\d) \|", printed)
    assert clean and float(clean.group(1)) == pytest.approx(100 * stored["clean"], abs=0.01)
    assert main(["dfard", "--method", "derd", "--ita", "both", "--teacher", teacher_file]) == 2
    assert "--ita does not apply to --method derd" in capsys.readouterr().err


def test_the_teacher_is_compared_by_its_file_not_its_path(teacher_file, tmp_path):
    import shutil

    out = tmp_path / "run"
    result = run_dfard(tiny(teacher_file, epochs=1), out, progress=False)
    assert len(result["teachers_sha1"]["teacher"]) == 40
    copy = tmp_path / "elsewhere" / "teacher.pt"
    copy.parent.mkdir()
    shutil.copy(teacher_file, copy)
    again = run_dfard(tiny(str(copy.parent), epochs=1), out, resume=True, progress=False)  # a folder, same file
    assert again["history"] == result["history"]
    model, _ = load_robust_model(copy)
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    save_robust_model(copy, model, arch="digits-cnn", num_classes=10, image_shape=(1, 8, 8))
    with pytest.raises(RunExistsError, match="another teacher file"):
        run_dfard(tiny(str(copy), epochs=1), out, resume=True, progress=False)
