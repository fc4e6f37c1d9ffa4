"""Tests of the computed verdicts of notebooks 04 and 05 (:mod:`advdist_lab.experiments.compression_analysis`,
:mod:`advdist_lab.experiments.gradient_analysis`) and of the curve readers (:mod:`advdist_lab.experiments.curves`),
on small hand-made inputs whose answers are worked out in the comments."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pytest

from advdist_lab.experiments import compression_analysis as ca
from advdist_lab.experiments import gradient_analysis as ga
from advdist_lab.experiments.curves import curves_by_method, mean_curve, settling_epoch, wobble
from advdist_lab.experiments.table1 import aggregate
from advdist_lab.methods.config import TrainConfig

# ------------------------------------------------------------------------------------------------------
# curves.py
# ------------------------------------------------------------------------------------------------------


def run(method: str, values, n: int = 100, key: str = "student_test_accuracy") -> dict:
    return {"config": {"method": method, "n_train": n}, "history": [{key: v} for v in values]}


def test_curves_by_method_groups_runs_and_filters_by_method_and_size() -> None:
    results = [run("adim", [0.5, 0.6]), run("ngan", [0.1, 0.2]), run("adim", [0.7, 0.8]), run("adim", [0.0], n=500)]
    assert curves_by_method(results) == {"ADIM": [[0.5, 0.6], [0.7, 0.8], [0.0]], "NGAN": [[0.1, 0.2]]}
    assert curves_by_method(results, methods=("ngan", "adim"), n_train=100) == {
        "NGAN": [[0.1, 0.2]],
        "ADIM": [[0.5, 0.6], [0.7, 0.8]],
    }
    with pytest.raises(ValueError, match="no run of adib with n = 100"):
        curves_by_method(results, methods=("adib",), n_train=100)
    with pytest.raises(ValueError, match="'teacher_test_accuracy' is missing"):
        curves_by_method(results, "teacher_test_accuracy")


def test_mean_curve_settling_epoch_and_wobble() -> None:
    assert mean_curve([[1.0, 2.0, 3.0], [3.0, 4.0]]) == [2.0, 3.0]  # the epochs every run has
    # final level (0.91 + 0.9 + 0.9) / 3 = 0.9033: from epoch 3 on every value is within 0.01 of it
    assert settling_epoch([0.5, 0.7, 0.9, 0.91, 0.9, 0.9]) == 3
    assert settling_epoch([0.5, 0.7, 0.9, 0.91, 0.9, 0.9], tolerance=0.5) == 1
    assert settling_epoch([0.5, 0.5, 0.9]) is None  # the last value is 0.27 from the mean 0.63 of the three
    assert wobble([1.0, 1.0, 3.0, 5.0]) == 1.0  # the second half 3, 5: mean 4, population std 1
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        settling_epoch([1.0], tolerance=-0.1)
    with pytest.raises(ValueError, match="at least one non-empty curve"):
        mean_curve([])


# ------------------------------------------------------------------------------------------------------
# compression_analysis.py (notebook 04)
# ------------------------------------------------------------------------------------------------------


def test_method_weights_and_settings_read_the_resolved_config() -> None:
    assert ca.method_weights(TrainConfig(method="distn", distn_temperature=4.0, distn_alpha=0.9)) == (
        "T = 4.0, alpha = 0.9"
    )
    assert ca.method_weights(TrainConfig(method="mimic")) == ""
    adim = TrainConfig(method="adim", omega_r=0.5, omega_s=0.25, omega_t=0.25, nu=2.0, mu=0.1, upsilon=0.5)
    assert ca.method_weights(adim) == "omega = (0.50, 0.25, 0.25), nu = 2.0, mu = 0.1, upsilon = 0.5"
    table = ca.settings_markdown(("mimic", "adim"), "digits", 100, k_d=3, batch_size=16).splitlines()
    assert table[0] == "| method | k_d, k_t, k_s | pretraining epochs (T, S) | batch | estimator | weights |"
    assert table[2].startswith("| MIMIC | ") and "| 16 |" in table[2]
    assert table[3].startswith("| ADIM | 3, ") and "straight_through" in table[3]
    with pytest.raises(ValueError, match="n_train must be an integer >= 1"):
        ca.settings_markdown(("adim",), "digits", 0)
    assert ca.temperature_summary(TrainConfig(method="adim", epochs=30, tau_start=10.0, tau_end=0.1)) == (
        "Gumbel-Softmax temperature by epoch: 10.00 at epoch 1 ... 0.10 at epoch 30"
    )


def cell(mean: float, std: float) -> dict:
    return {"mean": mean, "std": std, "seeds": [0, 1], "values": []}


TABLE = {  # our table at n = 500, in percent
    "codis": {500: cell(75.0, 1.0)},
    "mimic": {500: cell(79.0, 0.5)},
    "ngan": {500: cell(70.0, 2.0)},
    "adim": {500: cell(80.5, 1.0)},
}


def test_ranking_pairs_and_nearest_size() -> None:
    assert ca.ranking(TABLE, 500) == ["adim", "mimic", "codis", "ngan"]
    with pytest.raises(ValueError, match="no method of the table has a cell at n = 100"):
        ca.ranking(TABLE, 100)
    # the paper's MNIST order at n = 1,000 puts CODIS above MIMIC: one of the six pairs disagrees
    paper = ["adim", "adib", "codis", "distn", "mimic", "ngan", "noisy"]
    assert ca.pairs_in_order(["adim", "mimic", "codis", "ngan"], paper) == (5, 6)
    with pytest.raises(ValueError, match="lacks foo"):
        ca.pairs_in_order(["adim", "foo"], paper)
    assert ca.nearest_size((100, 1000, 10000, 50000), 500) == 1000  # |log 2| < |log 5|
    assert ca.nearest_size((100, 1000), 200) == 100
    assert ca.paper_dataset("digits") == "mnist" and ca.paper_dataset("cifar10") == "cifar10"


def test_ranking_commentary_says_who_leads_by_how_much_and_against_the_paper() -> None:
    assert ca.ranking_commentary(TABLE, (500,), "digits") == [
        "n = 500: first ADIM 80.50 ± 1.00, ahead of MIMIC 79.00 ± 0.50 by 1.50 points, larger than the larger std "
        "over seeds of the two (1.00)",
        "    our order:  ADIM > MIMIC > CODIS > NGAN",
        "    ADIM - best KD baseline (MIMIC): +1.50 points; ADIM - NGAN: +10.50 points",
        "    the paper's order on mnist at n = 1000: ADIM > ADIB > CODIS > DISTN > MIMIC > NGAN > NOISY",
        "    pairs ordered as in the paper: 5 of 6",
    ]
    one_seed = {m: {500: cell(c[500]["mean"], math.nan)} for m, c in TABLE.items()}
    first = ca.ranking_commentary(one_seed, (500,), "digits")[0]
    assert first == "n = 500: first ADIM 80.50, ahead of MIMIC 79.00 by 1.50 points, one seed: no spread measured"
    with pytest.raises(ValueError, match="at least two methods"):
        ca.ranking_commentary({"adim": {500: cell(80.0, 1.0)}}, (500,), "digits")


def test_teacher_results_and_gaps() -> None:
    results = [
        {"config": {"method": "mimic", "n_train": 500, "seed": 0}, "test_accuracy": 0.7,
         "pretraining": {"teacher": {"test_accuracy": 0.90}}},
        {"config": {"method": "mimic", "n_train": 500, "seed": 1}, "test_accuracy": 0.7,
         "pretraining": {"teacher": {"test_accuracy": 0.92}}},
        {"config": {"method": "adim", "n_train": 500, "seed": 0}, "test_accuracy": 0.8, "teacher_test_accuracy": 0.85},
        {"config": {"method": "ngan", "n_train": 500, "seed": 0}, "test_accuracy": 0.6},
    ]  # fmt: skip
    teachers = aggregate(ca.teacher_results(results))
    assert set(teachers) == {"pretrained", "adim"}
    assert teachers["pretrained"][500]["mean"] == pytest.approx(91.0)
    assert teachers["adim"][500]["values"] == [pytest.approx(85.0)]
    assert ca.teacher_gaps(teachers, TABLE, (500,)) == ["n = 500: pretrained teacher minus ADIM student: +10.50 points"]
    with pytest.raises(ValueError, match="pretrained has no cell at n = 100"):
        ca.teacher_gaps(teachers, TABLE, (100,))


def test_settling_summary_and_fig4_commentary() -> None:
    curves = {
        "ADIM": [[0.5, 0.7, 0.9, 0.91, 0.9, 0.9]],
        "ADIM-NGS": [[0.4, 0.5, 0.6, 0.7, 0.8, 0.85], [0.4, 0.5, 0.6, 0.7, 0.8, 0.85]],
        "NGAN": [[0.2, 0.6, 0.3, 0.7, 0.4, 0.8]],
    }
    summary = ca.settling_summary(curves)
    assert summary["ADIM"]["final"] == 0.9 and summary["ADIM"]["settles"] == 3 and summary["ADIM"]["epochs"] == 6
    assert summary["ADIM"]["wobble"] == pytest.approx(math.sqrt((0.02 / 3) ** 2 / 3 + 2 * (0.01 / 3) ** 2 / 3))
    assert summary["ADIM-NGS"]["settles"] is None  # still rising: 0.85 is 0.033 above the mean of the last three
    lines = ca.fig4_commentary(summary)
    assert lines[0] == "    ADIM: final  90.00 %, settles at epoch 3 of 6, wobble 0.47 points"
    assert lines[1].startswith("ADIM-NGS: final  85.00 %, does not settle within 6 epochs")
    assert lines[3] == (
        "Gumbel-Softmax (ADIM vs ADIM-NGS): final accuracy +5.00 points; ADIM settles at epoch 3 of 6, ADIM-NGS does "
        "not settle within 6 epochs (the paper on MNIST n = 100: +1.50 points and about 50% fewer epochs)"
    )
    assert lines[4] == "largest wobble after the first half: NGAN (the paper: NGAN is the least stable)"


# ------------------------------------------------------------------------------------------------------
# gradient_analysis.py (notebook 05)
# ------------------------------------------------------------------------------------------------------


def row(estimator, tau, samples=1, baseline="none", bias=0.0, bias_se=0.01, variance=1.0, mse=1.0):
    return SimpleNamespace(
        estimator=estimator, tau=tau, samples=samples, baseline=baseline, bias=bias, bias_se=bias_se,
        variance=variance, mse=mse,
    )  # fmt: skip


ROWS = [
    row("pathwise", 10.0, bias=0.3, variance=0.02, mse=0.11),
    row("pathwise", 1.0, bias=0.1, variance=0.2, mse=0.21),
    row("pathwise", 0.1, bias=0.05, bias_se=0.02, variance=3.0, mse=3.0),
    row("score", 1.0, bias=0.01, variance=2.0),
    row("score", 1.0, samples=16, variance=0.125),
    row("score", 1.0, samples=16, baseline="mean", variance=0.05),
    row("straight_through", 0.1, bias=0.2, bias_se=0.01),
    row("straight_through", 1.0, bias=0.1),
]


def test_estimator_rows_and_commentary() -> None:
    assert [r.tau for r in ga.estimator_rows(ROWS, "pathwise", 1)] == [0.1, 1.0, 10.0]
    with pytest.raises(ValueError, match="no row of score with 4 sample"):
        ga.estimator_rows(ROWS, "score", 4)
    text = ga.estimator_commentary(ROWS)
    assert (
        "Pathwise bias falls as $\\tau$ decreases: 0.300 at $\\tau$ = 10, 0.050\n  (± 0.020) at $\\tau$ = 0.1" in text
    )
    assert "its variance rises from 0.02 to\n  3." in text
    assert "smallest at $\\tau$ ≈ 10 (MSE 0.11)" in text
    assert "leave-one-out baseline takes it from 0.125 to 0.05." in text
    assert "bias 0.200 ± 0.010, more than three standard errors from zero" in text
    assert re.search(r"Pathwise bias (falls|does not fall) as .*: \d\.\d{3} at", text)


def test_lemma_4_5_report_prints_checks_and_counterexamples() -> None:
    presets = {"rho = 0": (0.5, 1.0, 0.0), "counterexample: Var X = 2 Var Y, rho = 0": (2.0, 1.0, 0.0)}
    results, lines = ga.lemma_4_5_report(2000, presets)
    assert list(results) == list(presets) and results["rho = 0"].premise
    assert re.search(r"max error (\S+) \(tolerance (\S+)\) OK$", lines[0])
    # Var Z = 3 lambda^2 - 2 lambda + 1 > 1 for lambda > 2/3, by up to 1 at lambda = 1
    assert lines[1].startswith(
        "counterexample: Var X = 2 Var Y, rho = 0: the premise fails (Var X = 2 > Var Y = 1) and so does the "
        "conclusion: Var Z > Var Y for lambda > 0.667, by up to "
    )
    assert lines[1].endswith("at lambda = 1")
    with pytest.raises(ValueError, match="samples must be an integer >= 1"):
        ga.lemma_4_5_report(0)


CURVES = {
    "adim": {"adversarial": [4.0, 1.0, 9.0], "distillation": [1.0, 2.0, 1.0], "tau": [10.0, 1.0, 0.1]},
    "adim-ngs": {"adversarial": [8.0, 6.0, 10.0], "distillation": [1.0, 1.0, 1.0], "tau": [10.0, 1.0, 0.1]},
}


def test_variance_dominance_and_fig5() -> None:
    count, total, ratio = ga.variance_dominance(CURVES, "adim")
    assert (count, total) == (2, 3) and ratio == pytest.approx(18 ** (1 / 3))  # (4 * 0.5 * 9) ** (1/3)
    with pytest.raises(ValueError, match="ngan is not among the curves"):
        ga.variance_dominance(CURVES, "ngan")
    text = ga.fig5_markdown(CURVES, "digits", 100, 2)
    assert "| ADIM | 2 of 3 | 2.6 | 4 → 9 | 1 → 1 |" in text
    assert "| ADIM-NGS | 3 of 3 | 7.8 | 8 → 10 | 1 → 1 |" in text
    assert "**Ours** (digits, n = 100, mean of\n2 seed(s)): the adversarial variance is above" in text
    assert "averages 4.7 against ADIM-NGS's 8 (lower, as the paper says)" in text


def test_eq9_and_speed_markdown() -> None:
    rows = [
        {"method": "ngan", "total": 2.0, "adversarial": 2.0, "distillation": None},
        {"method": "adim", "total": 0.5, "adversarial": 0.4, "distillation": 0.3},
    ]
    text = ga.eq9_markdown(rows)
    assert "| NGAN | 2 | 2 |  |" in text and "| ADIM | 0.5 | 0.4 | 0.3 |" in text
    assert "Eq. 9 holds here: ADIM 0.5 <= NGAN 2." in text
    with pytest.raises(ValueError, match="lack ngan's"):
        ga.eq9_markdown(rows[1:])
    speed = [
        {"method": "adim", "epochs": [2, 4], "reached": 2, "seeds": 2, "mean_epochs": 3.0, "final_accuracy": 0.9},
        {"method": "adim-ngs", "epochs": [6, None], "reached": 1, "seeds": 2, "mean_epochs": 6.0,
         "final_accuracy": 0.88},
    ]  # fmt: skip
    text = ga.speed_markdown(speed, 0.85, 2)
    assert "| ADIM-NGS | 6, never | 6.0 | 1 of 2 | 88.00% |" in text
    assert "**Ours:** ADIM reaches 85% 50% sooner than ADIM-NGS; final accuracy 90.00% (ADIM)" in text
    assert "difference of +2.0 points over 2 seed(s)." in text
    with pytest.raises(ValueError, match="target must be an accuracy in"):
        ga.speed_markdown(speed, 85, 2)


def cosine_rows(cosines, std=0.01):
    omegas = (0.125, 0.25, 0.5, 0.75)
    return [{"omega": w, "cosine": c, "cosine_std": std, "accuracy": 0.8 + w / 10} for w, c in zip(omegas, cosines)]


def test_cosine_commentary_reads_the_trend() -> None:
    text = ga.cosine_commentary(
        {"student": cosine_rows([0.1, 0.2, 0.3, 0.4]), "teacher": cosine_rows([0.1, 0.5, 0.2, 0.1])}
    ).splitlines()
    assert text[0] == (
        "* **student**: mean cosine 0.100 at omega_s = 0.125, highest 0.400 at omega_s = 0.75, 0.400 at omega_s = "
        "0.75 (largest std over seeds 0.010): rising as the weight goes to 1, as in the paper; final student "
        "accuracy 81.25% to 87.50% across the weights."
    )
    assert "rising up to omega_t = 0.25, then falling: the paper's trend holds on part of the range" in text[1]
    flat = ga.cosine_commentary({"student": cosine_rows([0.3, 0.32, 0.31, 0.2], std=0.05)})
    assert "no clear rise towards 1: the paper's trend does not reproduce" in flat
    with pytest.raises(ValueError, match="player must be one of student, teacher"):
        ga.cosine_commentary({"discriminator": cosine_rows([0.1])})
