"""Tests of advdist_lab.theory.estimators: the library's gradient estimators against the exact gradient.

Every draw is seeded, so the Monte Carlo checks are deterministic; their tolerances are still set from standard
errors (or are ratios far from the threshold), so they would hold for other seeds too.
"""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import pytest
import torch

from advdist_lab import cli
from advdist_lab.experiments import concrete_score as literal
from advdist_lab.gumbel import BASELINES, ESTIMATORS
from advdist_lab.theory.estimators import (
    DEFAULT_ESTIMATORS,
    DEFAULT_TAUS,
    REWARDS,
    BiasVariance,
    EstimatorCase,
    bias_variance,
    discriminator_case,
    estimates,
    estimator_label,
    estimator_sweep,
    underflow_fraction,
)

CASE = discriminator_case()  # K = 5, f = log D(x, y) with D = sigmoid(<y, h>)


def test_the_case_has_a_known_answer():
    for reward in REWARDS:
        case = discriminator_case(reward=reward)
        p = torch.softmax(case.logits, -1)
        logit = case.discriminator_logits
        f = {"log_d": torch.log(torch.sigmoid(logit)), "log_one_minus_d": torch.log(1 - torch.sigmoid(logit))}
        f = f.get(reward, logit)
        torch.testing.assert_close(case.rewards_per_label, f)
        torch.testing.assert_close(case.exact, p * (f - p @ f))  # grad_theta sum_k p_k f_k, by hand
        assert case.exact.norm() > 0.1 and case.num_labels == 5
    # the reward of a relaxed label is the discriminator applied to it: the one-hot rewards are the corners
    y = torch.softmax(torch.randn(7, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64), -1)
    torch.testing.assert_close(CASE.reward_fn(y), torch.nn.functional.logsigmoid(y @ CASE.discriminator_logits))
    other = discriminator_case(seed=1)
    assert not torch.equal(other.logits, CASE.logits)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_estimates_are_reproducible_and_sum_to_zero(estimator):
    g = estimates(CASE, estimator, tau=0.5, samples=3, replicates=50, baseline="mean", seed=4)
    assert g.shape == (50, 5) and g.dtype == torch.float64 and not g.requires_grad
    assert torch.equal(g, estimates(CASE, estimator, tau=0.5, samples=3, replicates=50, baseline="mean", seed=4))
    assert not torch.equal(g, estimates(CASE, estimator, tau=0.5, samples=3, replicates=50, baseline="mean", seed=5))
    # softmax logits are defined up to a constant, so every gradient w.r.t. them sums to zero
    torch.testing.assert_close(g.sum(-1), torch.zeros(50, dtype=torch.float64))


def test_an_m_sample_estimate_is_the_mean_of_its_single_sample_estimates():
    # without a baseline, m samples of one group are m independent single-sample estimates: the same draws as
    # m * R rows of m = 1 (same seed), averaged in groups of m
    single = estimates(CASE, "pathwise", tau=0.7, samples=1, replicates=40, seed=2)
    grouped = estimates(CASE, "pathwise", tau=0.7, samples=4, replicates=10, seed=2)
    torch.testing.assert_close(grouped, single.reshape(10, 4, 5).mean(1))


@pytest.mark.parametrize("reward", ["log_d", "log_one_minus_d"])
@pytest.mark.parametrize("baseline", BASELINES)
def test_score_function_is_unbiased_within_monte_carlo_error(reward, baseline):
    case = discriminator_case(reward=reward)
    g = estimates(case, "score", samples=4, replicates=20_000, baseline=baseline, seed=3)
    z = (g.mean(0) - case.exact) / (g.std(0) / math.sqrt(g.shape[0]))
    assert (z.abs() < 4).all(), z
    row = bias_variance(case, "score", samples=4, replicates=20_000, baseline=baseline, seed=3)
    assert row.bias < 4 * row.bias_se  # the norm of the error is of the order of its noise level
    assert row.relative_bias < 0.05


def test_pathwise_bias_shrinks_as_tau_goes_to_zero():
    # common random numbers (one seed) across tau; measured bias: 0.42, 0.32, 0.12, 0.05, 0.02 (||exact|| = 0.45)
    taus = (10.0, 3.0, 1.0, 0.5, 0.2)
    rows = [bias_variance(CASE, "pathwise", tau=t, replicates=50_000, seed=1) for t in taus]
    biases = [r.bias for r in rows]
    assert all(a > b for a, b in pairwise(biases)), biases
    assert rows[0].bias > 100 * rows[0].bias_se  # at large tau the bias is real, not noise
    assert rows[0].relative_bias > 0.5  # ... and large: the gradient is shrunk towards zero
    assert biases[-1] < biases[0] / 10


def test_pathwise_variance_grows_as_tau_shrinks_the_trade_off():
    taus = (10.0, 3.0, 1.0, 0.3, 0.1)
    rows = [bias_variance(CASE, "pathwise", tau=t, replicates=20_000, seed=1) for t in taus]
    variances = [r.variance for r in rows]
    assert all(a < b for a, b in pairwise(variances)), variances
    assert variances[-1] > 10 * variances[2]  # measured: 2.5 at tau = 0.1 vs 0.07 at tau = 1
    score = bias_variance(CASE, "score", replicates=20_000, seed=1).variance  # measured: 1.6
    assert variances[2] < score < variances[-1]  # far below the score function at tau = 1, above it at tau = 0.1


def test_the_mse_optimal_temperature_is_interior_and_falls_with_more_samples():
    rows = estimator_sweep(CASE, DEFAULT_TAUS, (1, 16), estimators=("pathwise",), replicates=2000)
    best = {m: min((r for r in rows if r.samples == m), key=lambda r: r.mse).tau for m in (1, 16)}
    # measured: tau* = 1.37 for m = 1 and 0.71 for m = 16
    assert DEFAULT_TAUS[0] < best[16] <= best[1] < DEFAULT_TAUS[-1], best
    assert best[16] < best[1]


def test_straight_through_is_finite_equals_pathwise_for_a_linear_reward_and_stays_biased():
    g = estimates(CASE, "straight_through", tau=0.1, samples=2, replicates=1000, seed=0)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    linear = discriminator_case(reward="linear")
    torch.testing.assert_close(
        estimates(linear, "straight_through", tau=0.3, replicates=500, seed=6),
        estimates(linear, "pathwise", tau=0.3, replicates=500, seed=6),
    )
    # for a nonlinear reward the backward pass evaluates grad f at the hard sample: a bias that does not vanish
    # as tau -> 0, where the pathwise one does. With the same noise (same seed) the two estimators differ in mean
    # by ||E[st - pathwise]|| (measured: 0.022, standard error 0.0013), while the pathwise bias is 0.003 - 0.007
    case = discriminator_case(reward="log_one_minus_d")
    st = estimates(case, "straight_through", tau=0.05, replicates=200_000, seed=2)
    path = estimates(case, "pathwise", tau=0.05, replicates=200_000, seed=2)
    gap = (st - path).mean(0).norm()
    assert gap > 8 * math.sqrt((st - path).var(0).sum() / st.shape[0])
    assert (path.mean(0) - case.exact).norm() < gap / 2


@pytest.mark.parametrize(("estimator", "tau"), [("score", 1.0), ("pathwise", 1.0), ("straight_through", 0.3)])
def test_variance_of_an_m_sample_estimate_falls_as_one_over_m(estimator, tau):
    ms = (1, 4, 16)
    variances = [bias_variance(CASE, estimator, tau=tau, samples=m, replicates=4000, seed=m).variance for m in ms]
    slope = math.log(variances[-1] / variances[0]) / math.log(ms[-1] / ms[0])
    assert slope == pytest.approx(-1.0, abs=0.1), variances


def test_the_leave_one_out_baseline_reduces_the_score_variance():
    none = bias_variance(CASE, "score", samples=16, replicates=4000, baseline="none", seed=1)
    mean = bias_variance(CASE, "score", samples=16, replicates=4000, baseline="mean", seed=1)
    assert mean.variance < 0.5 * none.variance  # measured: 0.033 vs 0.099 (log D < 0: the rewards share a sign)
    # with one sample there is no other sample to take the baseline from: the two coincide draw for draw
    torch.testing.assert_close(
        estimates(CASE, "score", replicates=300, baseline="mean", seed=2),
        estimates(CASE, "score", replicates=300, baseline="none", seed=2),
    )


def test_sweep_rows():
    taus, ms = (0.1, 1.0, 5.0), (1, 4)
    rows = estimator_sweep(CASE, taus, ms, replicates=100, seed=3)
    assert all(isinstance(r, BiasVariance) for r in rows)
    assert len(rows) == len(taus) * len(ms) * 4  # score twice (two baselines), pathwise, straight-through
    labels = {r.label for r in rows}
    assert labels == {"score", "score + baseline", "pathwise", "straight-through"}
    for label in labels:
        for m in ms:
            cell = [r for r in rows if r.label == label and r.samples == m]
            assert sorted(r.tau for r in cell) == sorted(taus)
            numbers = {(r.bias, r.variance, r.mse) for r in cell}
            # the score function does not use tau: one measurement repeated; the others differ with tau
            assert len(numbers) == (1 if label.startswith("score") else len(taus))
    for r in rows:
        assert r.replicates == 100 and r.reward == "log_d" and r.exact_norm == pytest.approx(float(CASE.exact.norm()))
        assert r.bias_se == pytest.approx(math.sqrt(r.variance / 100))
        assert r.mse == pytest.approx(r.bias**2 + r.variance * 99 / 100)  # E||g - exact||^2 = bias^2 + variance
    assert estimator_sweep(CASE, taus, ms, replicates=100, seed=3) == rows  # reproducible
    only = estimator_sweep(CASE, taus, ms, estimators=("score",), baselines=("mean",), replicates=100)
    assert {r.label for r in only} == {"score + baseline"}


def test_estimator_label():
    assert [estimator_label(e) for e in ESTIMATORS] == ["score", "pathwise", "straight-through", "concrete-score"]
    assert estimator_label("score", "mean") == "score + baseline"
    assert estimator_label("concrete_score", "mean") == "concrete-score + baseline"
    assert estimator_label("pathwise", "mean") == "pathwise"  # a baseline belongs to the score functions only


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: discriminator_case(1), "num_labels must be an integer >= 2"),
        (lambda: discriminator_case(reward="log"), "reward must be one of log_d, log_one_minus_d, linear"),
        (lambda: discriminator_case(seed=-1), "seed must be an integer >= 0"),
        (lambda: estimates(CASE, "reinforce"), "estimator must be one of score, pathwise, straight_through"),
        (lambda: estimates(CASE, "score", baseline="batch"), "baseline must be one of none, mean"),
        (lambda: estimates(CASE, "pathwise", tau=0.0), "tau must be > 0"),
        (lambda: estimates(CASE, "pathwise", samples=0), "samples must be an integer >= 1"),
        (lambda: estimates(CASE, "pathwise", replicates=2.5), "replicates must be an integer >= 1"),
        (lambda: estimates("case", "pathwise"), "case must be an EstimatorCase"),
        (lambda: bias_variance(CASE, "score", replicates=1), "replicates must be an integer >= 2"),
        (lambda: estimator_sweep(CASE, []), "taus must be a non-empty sequence"),
        (lambda: estimator_sweep(CASE, (1.0, -0.5)), r"taus\[1\] must be > 0"),
        (lambda: estimator_sweep(CASE, (1.0,), (1, 0)), r"sample_counts\[1\] must be an integer >= 1"),
        (lambda: estimator_sweep(CASE, (1.0,), estimators=("gumbel",)), r"estimators\[0\] must be one of"),
        (lambda: estimator_sweep(CASE, (1.0,), baselines="mean"), "baselines must be a non-empty sequence"),
        (lambda: estimator_sweep(CASE, (1.0,), replicates=1), "replicates must be an integer >= 2"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_constraint(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------------------------
# The concrete score (TPAMI Eq. 11 taken literally) in the study, in training and in the commentary
# ------------------------------------------------------------------------------------------------------


def test_the_sweep_measures_the_concrete_score_on_request_with_both_baselines():
    taus, ms = (0.1, 1.0), (1, 4)
    rows = estimator_sweep(CASE, taus, ms, estimators=ESTIMATORS, replicates=100, seed=3)
    assert len(rows) == len(taus) * len(ms) * 6  # score and concrete score twice (two baselines)
    assert {r.label for r in rows} >= {"concrete-score", "concrete-score + baseline"}
    # the concrete score uses tau: a measurement per temperature, not a repeated row
    cell = [r for r in rows if r.label == "concrete-score" and r.samples == 4]
    assert len({r.variance for r in cell}) == len(taus)
    # the default sweep and the seeds of the other estimators are unchanged by it (new streams come last)
    default = estimator_sweep(CASE, taus, ms, replicates=100, seed=3)
    assert [r for r in rows if not r.estimator.startswith("concrete")] == default
    assert DEFAULT_ESTIMATORS == tuple(e for e in ESTIMATORS if e != "concrete_score")


def test_the_concrete_score_has_the_pathwise_mean_in_the_study_case():
    # both are unbiased for the gradient of the relaxed objective E_{y ~ q_tau}[log D(y)]: with the same seed the
    # two draw the same Gumbel noise, so their per-replicate difference has a small variance and its mean must be
    # within 4 standard errors of zero per coordinate (probability of failure below 3e-4 for K = 5 if they agree)
    for tau in (0.3, 3.0):
        cs = estimates(CASE, "concrete_score", tau=tau, replicates=100_000, seed=5)
        path = estimates(CASE, "pathwise", tau=tau, replicates=100_000, seed=5)
        diff = cs - path
        se = diff.std(0) / math.sqrt(diff.shape[0])
        assert ((diff.mean(0)).abs() < 4 * se).all(), (diff.mean(0), se)
        # ... which is not the categorical gradient: the pathwise bias is many standard errors away at these tau
        assert (path.mean(0) - CASE.exact).norm() > 10 * (path.std(0) / math.sqrt(path.shape[0])).norm()


def test_underflow_fraction_grows_as_tau_falls_and_is_a_float32_problem():
    fractions = [underflow_fraction(CASE, t, replicates=4000) for t in (1.0, 0.1, 0.05, 0.01)]
    assert fractions[0] == 0.0  # measured: 0, 0.003, 0.30, 0.998
    assert all(a <= b for a, b in pairwise(fractions)) and fractions[-1] > 0.5
    assert underflow_fraction(CASE, 0.05, dtype=torch.float64, replicates=4000) < fractions[2] / 10
    # the estimator itself stays finite where the samples underflow: it draws log y in log space
    float32 = EstimatorCase(CASE.logits.float(), CASE.discriminator_logits.float(), "log_d")
    g = estimates(float32, "concrete_score", tau=0.01, replicates=2000)
    assert torch.isfinite(g).all()


def test_concrete_score_commentary_is_computed_from_the_numbers():
    rows = estimator_sweep(CASE, (0.1, 1.0, 10.0), (1, 16), estimators=ESTIMATORS, replicates=400, seed=1)
    small = literal.small_tau_sweep(CASE, replicates=2000, taus=(1.0, 0.01, 0.001))
    text = literal.concrete_score_commentary(rows, small, {0.1: 0.0, 0.01: 0.9})
    # the lowest-variance estimator named at tau = 10 is the one with the least variance there
    at_ten = [r for r in rows if r.tau == 10.0 and r.samples == 1 and r.baseline == "none"]
    assert f"**{min(at_ten, key=lambda r: r.variance).label}** " in text
    small_cs = sorted((r for r in small if r.estimator == "concrete_score"), key=lambda r: r.tau)
    growth = small_cs[0].variance / small_cs[-1].variance
    assert f"{growth:.3g}" in text
    assert ("does not blow up" in text) == (growth <= 2)
    assert "90.0% at $\\tau$ = 0.01" in text and "**Verdict:**" in text
    with pytest.raises(ValueError, match="must not be empty"):
        literal.concrete_score_commentary([], small, {0.1: 0.0})


def fake_result(estimator: str, seed: int, accuracy: float, variance: float) -> dict:
    history = [{"epoch": e, "student_test_accuracy": accuracy, "grad_var_adversarial": variance} for e in (1, 2)]
    return {"config": {"estimator": estimator, "seed": seed}, "test_accuracy": accuracy, "history": history}


def test_estimator_training_table_and_markdown():
    results = [
        fake_result("pathwise", 0, 0.80, 1e-3),
        fake_result("pathwise", 1, 0.70, 3e-3),
        fake_result("concrete_score", 0, 0.60, 8e-3),
        fake_result("concrete_score", 1, 0.64, 1.2e-2),
    ]
    rows = {r["estimator"]: r for r in literal.estimator_training_table(results)}
    assert rows["pathwise"]["accuracy"] == pytest.approx(0.75) and rows["pathwise"]["seeds"] == 2
    assert rows["concrete_score"]["variance"] == pytest.approx(1e-2)
    assert rows["concrete_score"]["label"] == "concrete-score"
    text = literal.estimator_training_markdown(list(rows.values()), "digits", 100, 2)
    assert "| concrete-score | 0.620 ± 0.028 |" in text
    assert "pathwise (0.750) > concrete-score (0.620)" in text
    tied = [{**rows["pathwise"], "estimator": "score", "label": "score"}, *rows.values()]
    assert "score (0.750) = pathwise (0.750) > concrete-score" in literal.estimator_training_markdown(tied, "d", 1, 1)
    assert "is 5 times that of the quietest other estimator (pathwise); its student ended at 0.600, 0.640" in text
    assert rows["pathwise"]["accuracies"] == [0.80, 0.70]
    curves = literal.estimator_curves(results)
    assert curves["pathwise"] == [[0.80, 0.80], [0.70, 0.70]]


def test_estimator_configs_validate_and_fill_in_the_estimator():
    configs = literal.estimator_configs(("score", "concrete_score"), 2, dataset="digits", n_train=30, epochs=1)
    assert [(c.method, c.estimator, c.seed) for c in configs] == [
        ("adim", "score", 0),
        ("adim", "score", 1),
        ("adim", "concrete_score", 0),
        ("adim", "concrete_score", 1),
    ]
    assert all(c.probe_gradients for c in configs)
    assert literal.estimator_folder("out", configs[3]) == Path("out/estimators/concrete_score/n30/seed1")
    with pytest.raises(ValueError, match="estimator must be one of"):
        literal.estimator_configs(("gumbel",), 1)
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        literal.estimator_configs(("score",), 0)
    with pytest.raises(ValueError, match="estimator is set by the comparison"):
        literal.estimator_configs(("score",), 1, estimator="pathwise")
    with pytest.raises(ValueError, match="estimators must be a non-empty sequence"):
        literal.estimator_configs("score", 1)


def test_train_runs_one_epoch_on_digits_with_the_concrete_score(tmp_path: Path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--method", "adim", "--estimator", "concrete_score", "--epochs", "1", "--device", "cpu"]
    small = ["--n-train", "30", "--teacher-pretrain-epochs", "1", "--student-pretrain-epochs", "1", "--no-progress"]
    assert cli.main([*argv, *small, "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["estimator"] == "concrete_score" and result["config"]["dataset"] == "digits"
    assert len(result["history"]) == 1 and math.isfinite(result["test_accuracy"])
    # an unknown estimator is refused before any work, naming the choices
    assert cli.main([*argv[:4], "concrete-score", *argv[5:], *small, "--out", str(tmp_path / "bad")]) == 2
    assert "concrete_score" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
