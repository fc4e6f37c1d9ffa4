"""The privileged setting: the student's views, the student trained alone (method ``student``), ``table1 --view``,
the privileged table (rows, differences, verdicts) and the ``advdist-lab privileged`` command. Digits, 1-2 epochs."""

from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from advdist_lab import cli
from advdist_lab.data import load_data
from advdist_lab.data.views import VIEWS, check_view, image_student_view, view_shape
from advdist_lab.experiments import privileged, table1
from advdist_lab.losses import cross_entropy
from advdist_lab.methods import TrainConfig, get_method
from advdist_lab.methods.base import Batch, Players
from advdist_lab.runs import RESULT, load_result, training

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = ["--epochs", "1", "--teacher-pretrain-epochs", "1", "--device", "cpu", "--jobs", "1", "--no-progress"]


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip()


# --- views -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "digits", "mnist", "cifar"),
    [
        ("full", (1, 8, 8), (1, 28, 28), (3, 32, 32)),
        ("lowres", (1, 4, 4), (1, 14, 14), (3, 16, 16)),
        ("lowres4", (1, 2, 2), (1, 7, 7), (3, 8, 8)),
        ("crop", (1, 4, 8), (1, 14, 28), (3, 16, 32)),
    ],
)
def test_view_shapes(view: str, digits: tuple, mnist: tuple, cifar: tuple) -> None:
    task = load_data("digits", 100, view=view)
    assert task.student_shape == digits == view_shape((1, 8, 8), view)
    assert task.input_shape == (1, 8, 8) and task.train.x_student.shape == (100, *digits)
    for shape, expected in (((1, 28, 28), mnist), ((3, 32, 32), cifar)):
        assert image_student_view(torch.rand(3, *shape), view).shape == (3, *expected)
        assert view_shape(shape, view) == expected
    assert (task.train.x_student is task.train.x) == (view == "full")


def test_views_compute_what_they_say() -> None:
    x = torch.rand(5, 3, 32, 32)
    assert image_student_view(x, "full") is x
    torch.testing.assert_close(image_student_view(x, "lowres"), F.avg_pool2d(x, 2))  # unchanged: old runs valid
    blocks = x.reshape(5, 3, 8, 4, 8, 4).mean(dim=(3, 5))
    torch.testing.assert_close(image_student_view(x, "lowres4"), blocks)
    crop = image_student_view(x, "crop")
    assert torch.equal(crop, x[:, :, :16, :]) and crop.is_contiguous()
    crop[0, 0, 0, 0] = -1.0  # a copy: the teacher's image is untouched
    assert x[0, 0, 0, 0] >= 0


@pytest.mark.parametrize("view", VIEWS)
def test_views_are_deterministic_per_image_and_commute_with_the_mirror(view: str) -> None:
    x = torch.rand(6, 1, 28, 28)
    whole = image_student_view(x, view)
    for i in range(len(x)):  # an image's view does not depend on the batch it comes in
        assert torch.equal(image_student_view(x[i : i + 1], view)[0], whole[i])
    assert torch.equal(image_student_view(x, view), whole)
    # CIFAR-10's mirror augmentation flips both views: the view of a mirrored image is the mirrored view
    torch.testing.assert_close(image_student_view(x.flip(-1), view), whole.flip(-1))
    first, again = load_data("digits", 100, view=view), load_data("digits", 100, view=view)
    assert torch.equal(first.test.x_student, again.test.x_student)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: image_student_view(torch.rand(2, 1, 8, 8), "thumbnail"), "view must be one of full, lowres"),
        (lambda: image_student_view(torch.rand(2, 8, 8), "lowres"), r"shape \(N, C, H, W\)"),
        (lambda: image_student_view(torch.rand(2, 1, 30, 30), "lowres4"), "multiples of 4"),
        (lambda: image_student_view(torch.rand(2, 1, 1, 8), "crop"), "height must be >= 2"),
        (lambda: view_shape((1, 8), "crop"), r"shape \(C, H, W\)"),
        (lambda: check_view("synthetic", "crop"), "view must be one of full, lowres for dataset 'synthetic'"),
        (lambda: check_view("tags-popular", "lowres"), "view must be one of full for dataset 'tags-popular'"),
        (lambda: check_view("digits", 3), "view must be one of"),
    ],
)
def test_bad_views_are_refused(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
    assert check_view("digits", "crop") == "crop" and check_view("synthetic", "lowres") == "lowres"


@pytest.mark.parametrize(
    ("dataset", "view"), [("synthetic", "crop"), ("synthetic", "lowres4"), ("tags-popular", "crop")]
)
def test_a_view_the_dataset_lacks_is_refused_before_any_work(dataset: str, view: str, tmp_path: Path, capsys) -> None:
    """The synthetic task has no crop: ``train --dataset synthetic --view crop`` used to train on ``lowres``."""
    with pytest.raises(ValueError, match=f"view must be .*{dataset}"):
        TrainConfig(method="mimic", dataset=dataset, view=view, n_train=100)
    with pytest.raises(ValueError, match=f"view must be .*{dataset}"):
        load_data(dataset, 100, view=view)
    out = tmp_path / "run"
    assert (
        cli.main(["train", "--method", "mimic", "--dataset", dataset, "--view", view, "--out", str(out), *FAST[:-3]])
        == 2
    )
    assert "view must be" in error_line(capsys)
    assert not out.exists()


# --- the student alone -----------------------------------------------------------------------------------------


def test_student_method_is_cross_entropy_on_its_view() -> None:
    config = TrainConfig(method="student", view="crop", device="cpu").resolved()
    assert (config.k_d, config.k_t, config.k_s, config.student_pretrain_epochs) == (0, 0, 1, 0)
    assert not config.has_teacher and not config.has_discriminator and config.estimator is None
    student = torch.nn.Linear(32, 10)
    batch = Batch(x=torch.rand(4, 1, 8, 8), xs=torch.rand(4, 32), y=torch.tensor([0, 1, 2, 3]))
    terms = get_method("student").student_loss(Players(student), batch, None)
    assert terms.adversarial is None and terms.distillation is None
    torch.testing.assert_close(terms.total, cross_entropy(student(batch.xs), batch.y))
    with pytest.raises(ValueError, match="student has no discriminator"):
        TrainConfig(method="student", k_d=1).resolved()


def test_student_trains_into_a_run_folder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "student"
    argv = ["train", "--method", "student", "--view", "crop", "--n-train", "30", "--epochs", "2", "--device", "cpu"]
    assert cli.main([*argv, "--no-progress", "--out", str(out)]) == 0
    result = load_result(out)
    assert (result["config"]["method"], result["config"]["view"]) == ("student", "crop")
    assert len(result["history"]) == 2 and result["pretraining"] == {}
    assert "teacher_test_accuracy" not in result and "student_supervised" in result["history"][-1]
    assert f"{result['test_accuracy']:.4f}" in capsys.readouterr().out
    assert 0.0 < result["test_accuracy"] <= 1.0


# --- table1 --view ---------------------------------------------------------------------------------------------


def test_table1_writes_its_view(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["table1", "--view", "crop", "--methods", "student", "--sizes", "30", "--seeds", "1", *FAST]
    assert cli.main(argv) == 0
    out = tmp_path / "runs" / "table1-digits-crop"  # the default folder of a view other than full
    markdown = (out / "table1.md").read_text()
    assert markdown.splitlines()[0].startswith("**Student test accuracy (%) on digits")
    assert "the student sees the crop view (the top half of the image)" in markdown.splitlines()[0]
    lines = list(csv.DictReader(io.StringIO((out / "table1.csv").read_text())))
    assert [(line["method"], line["view"]) for line in lines] == [("student", "crop")]
    assert load_result(out / "student" / "n30" / "seed0")["config"]["view"] == "crop"
    assert markdown in capsys.readouterr().out


def test_table1_default_folder_per_view(tmp_path: Path, monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(table1, "run_table1", lambda dataset, seeds, out, **kw: seen.append(out) or {"markdown": ""})
    monkeypatch.chdir(tmp_path)
    for view in ("full", "lowres4"):
        assert cli.main(["table1", "--view", view, "--methods", "mimic", "--sizes", "30", *FAST]) == 0
    assert seen == ["runs/table1-digits", "runs/table1-digits-lowres4"]  # full keeps its folder


def test_table1_refuses_a_view_the_dataset_lacks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="for dataset 'synthetic'"):
        table1.run_table1("synthetic", 1, tmp_path / "t", methods=("mimic",), sizes=(30,), view="crop")
    assert not (tmp_path / "t").exists()
    assert table1.to_csv({}, view="crop").splitlines()[0].endswith(",view")
    assert table1.to_csv({}).splitlines()[0] == "method,n_train,mean,std,seeds,values"  # unchanged without a view


# --- the privileged table --------------------------------------------------------------------------------------


def fake(method: str, n: int, seed: int, accuracy: float, teacher: float | None = None) -> dict:
    result = {"config": {"method": method, "n_train": n, "seed": seed}, "test_accuracy": accuracy, "pretraining": {}}
    if teacher is not None:
        result["pretraining"]["teacher"] = {"epochs": 30, "test_accuracy": teacher}
    return result


def synthetic_results(mimic: tuple[float, float]) -> list[dict]:
    return [
        fake("student", 100, 0, 0.80),
        fake("student", 100, 1, 0.82),
        fake("mimic", 100, 0, mimic[0], teacher=0.90),
        fake("mimic", 100, 1, mimic[1], teacher=0.94),
        fake("codis", 100, 0, 0.72),
        fake("codis", 100, 1, 0.91),
    ]


def test_privileged_table_rows_differences_and_verdicts() -> None:
    table = privileged.privileged_table(synthetic_results((0.85, 0.87)))
    assert list(table) == ["teacher", "student", "mimic", "codis"]
    assert table["teacher"][100]["values"] == pytest.approx([90.0, 94.0])
    student, mimic, codis = table["student"][100], table["mimic"][100], table["codis"][100]
    assert mimic["delta"] == pytest.approx(statistics.mean([85, 87]) - statistics.mean([80, 82]))
    pooled = math.sqrt((statistics.stdev([85, 87]) ** 2 + statistics.stdev([80, 82]) ** 2) / 2)
    assert mimic["pooled"] == pytest.approx(pooled)
    assert mimic["verdict"] == "helps" and mimic["delta"] > mimic["pooled"]
    # CODIS: a higher mean (+0.5 points) but seeds 19 points apart: no help by the rule
    assert codis["delta"] == pytest.approx(0.5) and codis["verdict"] == "does not help"
    assert "delta" not in student
    # the same method, one point above the student alone with the same spread: the verdict flips
    flipped = privileged.privileged_table(synthetic_results((0.81, 0.83)))["mimic"][100]
    assert flipped["delta"] == pytest.approx(1.0) and flipped["pooled"] == pytest.approx(pooled)
    assert flipped["verdict"] == "does not help"
    markdown = privileged.to_markdown(table, (100,), "crop", "T")
    assert "| TEACHER (full image) | 92.00 ± 2.83 | +11.00 |" in markdown
    assert "| STUDENT alone (crop) | 81.00 ± 1.41 |" in markdown
    assert "| MIMIC | 86.00 ± 1.41 | +5.00 | helps |" in markdown
    rows = list(csv.DictReader(io.StringIO(privileged.to_csv(table, "crop"))))
    assert [(r["method"], r["view"], r["verdict"]) for r in rows] == [
        ("teacher", "full", ""),
        ("student", "crop", ""),
        ("codis", "crop", "does not help"),  # the methods in the order of TPAMI Table 1
        ("mimic", "crop", "helps"),
    ]
    (sentence,) = privileged.verdict_sentences(table, (100,), "crop")
    assert "MIMIC (+5.00) helps" in sentence and "CODIS (+0.50) does not help" in sentence and "(+11.00)" in sentence


def test_privileged_table_edge_cases() -> None:
    one_seed = privileged.privileged_table([fake("student", 30, 0, 0.5), fake("adim", 30, 0, 0.9)])
    assert one_seed["adim"][30]["verdict"] == "one seed" and "teacher" not in one_seed
    with pytest.raises(ValueError, match="no run at n = 30"):
        privileged.privileged_table([fake("student", 100, 0, 0.5), fake("adim", 30, 0, 0.9)])
    assert privileged.verdict(1.0, 0.5) == "helps" and privileged.verdict(-3.0, 0.5) == "does not help"
    assert privileged.verdict(0.0, 0.0) == "does not help"


# --- the command -----------------------------------------------------------------------------------------------


def test_privileged_command_writes_its_table_and_reads_it_back(tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "p"
    argv = ["privileged", "--view", "lowres4", "--methods", "mimic", "--sizes", "30", "--seeds", "2", *FAST]
    assert cli.main([*argv, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    markdown = (out / "privileged.md").read_text()
    assert markdown in stdout and str(out / "privileged.csv") in stdout
    results = {(m, s): load_result(out / m / "n30" / f"seed{s}") for m in ("mimic", "student") for s in (0, 1)}
    assert {r["config"]["view"] for r in results.values()} == {"lowres4"}
    rows = {r["method"]: r for r in csv.DictReader(io.StringIO((out / "privileged.csv").read_text()))}
    assert list(rows) == ["teacher", "student", "mimic"]
    for method in ("mimic", "student"):
        mean = statistics.mean(100 * results[(method, s)]["test_accuracy"] for s in (0, 1))
        assert float(rows[method]["mean"]) == pytest.approx(mean, abs=1e-4)
    teacher = statistics.mean(100 * results[("mimic", s)]["pretraining"]["teacher"]["test_accuracy"] for s in (0, 1))
    assert float(rows["teacher"]["mean"]) == pytest.approx(teacher, abs=1e-4) and rows["teacher"]["view"] == "full"
    delta = float(rows["mimic"]["mean"]) - float(rows["student"]["mean"])
    assert float(rows["mimic"]["delta"]) == pytest.approx(delta, abs=2e-4)
    expected = "helps" if float(rows["mimic"]["delta"]) > float(rows["mimic"]["pooled_std"]) else "does not help"
    assert rows["mimic"]["verdict"] == expected and f"| {expected} |" in markdown
    assert "the student sees the lowres4 view (4x4 average pooling)" in markdown.splitlines()[0]

    stamps = {key: (out / key[0] / "n30" / f"seed{key[1]}" / RESULT).stat().st_mtime_ns for key in results}

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(training, "Trainer", no_training)
    assert cli.main([*argv, "--out", str(out)]) == 0  # a rerun reads every run back
    assert (out / "privileged.md").read_text() == markdown
    assert stamps == {k: (out / k[0] / "n30" / f"seed{k[1]}" / RESULT).stat().st_mtime_ns for k in results}


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--view", "full"], "view must not be 'full' in the privileged setting"),
        (["--view", "thumbnail"], "view must be one of"),
        (["--dataset", "synthetic", "--view", "crop"], "for dataset 'synthetic'"),
        (["--seeds", "0"], "seeds must be an integer >= 1"),
        (["--methods", "student"], "at least one method besides 'student'"),
        (["--methods", "mimic,mimic"], "methods must be distinct"),
        (["--methods", "mimic,foo"], "method must be one of"),
        (["--sizes", "5000"], "n_train must be <= 1297"),
        (["--dataset", "imagenet"], "dataset must be one of"),
    ],
)
def test_privileged_bad_values_exit_2_before_work(tmp_path: Path, capsys, flags: list, match: str) -> None:
    out = tmp_path / "p"
    argv = ["privileged", "--methods", "mimic", "--sizes", "30", "--seeds", "1", *FAST, "--out", str(out)]
    assert cli.main([*argv, *flags]) == 2
    assert match in error_line(capsys)
    assert not out.exists()


def test_adversarial_summary_is_computed_from_the_verdicts() -> None:
    results = synthetic_results((0.85, 0.87))
    results += [fake("adim", 100, 0, 0.86), fake("adim", 100, 1, 0.88), fake("ngan", 100, 0, 0.7)]
    results += [fake("ngan", 100, 1, 0.72)]
    table = privileged.privileged_table(results)
    sentence = privileged.adversarial_summary(table, (100,))
    assert sentence.startswith("The adversarial methods (NGAN, ADIM) help in 1 of their 2 judged cells")
    assert "ADIM at n = 100 (+6.00)" in sentence and "NGAN at" not in sentence
    table["adim"][100]["verdict"] = "does not help"
    assert "do not help in any of their 2 judged cells" in privileged.adversarial_summary(table, (100,))
    assert privileged.adversarial_summary(privileged.privileged_table(synthetic_results((0.8, 0.8))), (100,)) == (
        "No adversarial method was run."
    )


def test_student_by_view_trains_the_student_alone_per_view(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="for dataset 'synthetic'"):
        privileged.student_by_view("synthetic", ("lowres", "crop"), (30,), 1, tmp_path / "v")
    with pytest.raises(ValueError, match="non-empty sequence"):
        privileged.student_by_view("digits", "crop", (30,), 1, tmp_path / "v")
    assert not (tmp_path / "v").exists()
    by_view = privileged.student_by_view(
        "digits", ("lowres4", "crop"), (30,), 1, tmp_path / "v", progress=False, jobs=1, epochs=1, device="cpu"
    )
    for view in ("lowres4", "crop"):
        result = load_result(tmp_path / "v" / view / "student" / "n30" / "seed0")
        assert result["config"]["view"] == view
        assert by_view[view][30]["values"] == [pytest.approx(100 * result["test_accuracy"])]


def test_privileged_figures() -> None:
    from advdist_lab.viz import privileged as privileged_viz

    x = torch.rand(3, 1, 8, 8)
    pooled = privileged_viz.view_as_image(image_student_view(x, "lowres4"), (1, 8, 8), "lowres4")
    assert pooled.shape == x.shape and torch.equal(
        pooled[:, :, :4, :4], image_student_view(x, "lowres4")[:, :, :1, :1].expand(3, 1, 4, 4)
    )
    crop = privileged_viz.view_as_image(image_student_view(x, "crop"), (1, 8, 8), "crop")
    assert torch.equal(crop[:, :, :4], x[:, :, :4]) and crop[:, :, 4:].isnan().all()
    with pytest.raises(ValueError, match="the crop view of images of shape"):
        privileged_viz.view_as_image(x, (1, 8, 8), "crop")
    figure = privileged_viz.views_figure(x, {"crop": image_student_view(x, "crop")}, labels=[1, 2, 3])
    assert len(figure.data) == 6
    table = privileged.privileged_table(synthetic_results((0.85, 0.87)))
    bars = privileged_viz.delta_figure(table, (100,))
    assert [trace.name for trace in bars.data] == ["MIMIC", "CODIS", "teacher (full image)"]
    assert list(bars.data[0].y) == [pytest.approx(5.0)] and list(bars.data[2].y) == [pytest.approx(11.0)]
    assert list(bars.data[0].marker.opacity) == [1.0] and list(bars.data[1].marker.opacity) == [0.35]
