"""The numerical theorem checks: they pass on random distributions and fail when the claim is wrong."""

from __future__ import annotations

import math

import pytest
import torch

from advdist_lab.theory import distributions, theorems, variance_lemma


@pytest.fixture(scope="module")
def players():
    return (
        distributions.random_distributions(5, 4, seed=10),
        distributions.random_distributions(5, 4, seed=11),
        distributions.random_distributions(5, 4, seed=12),
    )


def test_check_verdict_and_text():
    good = theorems.Check("claim", 1e-9, 1e-6)
    bad = theorems.Check("claim", 1e-3, 1e-6)
    assert good.passed and not bad.passed
    assert not theorems.Check("claim", math.nan, 1e-6).passed
    assert str(good) == "claim: max error 1.00e-09 (tolerance 1e-06) OK"
    assert str(bad).endswith("FAILED")


def test_numerical_discriminators_match_their_lemmas(players):
    p_r, p_s, p_t = players
    ngan = theorems.numerical_discriminator(p_r, p_s, method="ngan")
    assert torch.allclose(ngan, distributions.optimal_discriminator_binary(p_r, p_s), atol=1e-6)
    adim = theorems.numerical_discriminator(p_r, p_s, p_t, method="adim", omega=(0.2, 0.3, 0.5))
    assert torch.allclose(adim.sum(0), torch.ones_like(p_r))
    assert torch.allclose(
        adim, distributions.optimal_discriminator_multiclass(p_r, p_s, p_t, (0.2, 0.3, 0.5)), atol=1e-6
    )


def test_lemma_and_theorem_checks_pass(players):
    p_r, p_s, p_t = players
    checks = [theorems.lemma_4_1(p_r, p_s, p_t, 0.3, 0.7), theorems.lemma_4_3(p_r, p_s, p_t, (0.5, 0.25, 0.25))]
    checks += theorems.theorem_4_2(p_r, p_s, p_t, 0.3, 0.7, nu=0.5, mu=2.0, upsilon=1.0)
    checks += theorems.theorem_4_4(p_r, p_s, p_t, (0.5, 0.25, 0.25))
    checks += theorems.theorem_4_4(p_r, p_s, p_t, (0.5, 0.25, 0.25), nu=1.0, mu=0.5, upsilon=0.2)
    d = torch.rand(p_r.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    checks += [theorems.kdgan_eq_4(p_s, p_t, d, 0.3)]
    checks += [theorems.kdgan_eq_5(p_r, p_s, p_t, 0.3, 1.0, 2.0, kind) for kind in ("kl", "l2")]
    failed = [str(c) for c in checks if not c.passed]
    assert not failed, failed


def test_theorem_4_2_without_distillation_does_not_reach_p_r(players):
    """With nu = mu = 0 only the mixture is pinned down (TPAMI Sec. 4.2): the third check must fail."""
    p_r, p_s, p_t = players
    reach = theorems.theorem_4_2(p_r, p_s, p_t, 0.5, 0.5, nu=0.0, mu=0.0)[2]
    assert not reach.passed and reach.error > 1e-3


def test_lemma_path_converges_linearly_and_the_literal_ratio_diverges(players):
    p_r, p_s, p_t = players
    for player in ("student", "teacher"):
        path = theorems.lemma_path(player, p_r, p_s, p_t, 0.5, [1e-3, 1e-4, 1e-5, 1e-6])
        errors = [p.error for p in path]
        assert all(b < a for a, b in zip(errors, errors[1:]))
        ratios = [errors[k] / errors[k + 1] for k in range(3)]
        assert all(8 < r < 12 for r in ratios), ratios  # error proportional to epsilon
        naive = [p.naive_ratio for p in path]
        assert all(b < a - 1 for a, b in zip(naive, naive[1:]))  # heads to -inf like (1 + upsilon) log(epsilon)
        assert theorems.lemma_4_6_4_7(player, p_r, p_s, p_t, 0.5).passed


def test_minimise_players_finds_the_kd_optimum():
    p_r = distributions.random_distributions(3, 4, seed=1)
    p_t = distributions.random_distributions(3, 4, seed=2)
    start = distributions.random_distributions(3, 4, seed=3)
    best_s, _ = theorems.minimise_players(
        lambda a, b: distributions.kd_loss(p_t, a, p_r, 0.7) + distributions.kl(b, p_t), start, start
    )
    assert torch.allclose(best_s, distributions.kd_optimal_student(p_r, p_t, 0.7), atol=1e-6)


@pytest.mark.parametrize(
    "call",
    [
        lambda: theorems.numerical_discriminator([0.5, 0.5], [0.5, 0.5], method="kd"),
        lambda: theorems.lemma_path("student", [0.5, 0.5], [0.5, 0.5], [0.5, 0.5], 0.0, [0.1]),
        lambda: theorems.lemma_path("critic", [0.5, 0.5], [0.5, 0.5], [0.5, 0.5], 1.0, [0.1]),
        lambda: theorems.lemma_4_1([0.5, 0.6], [0.5, 0.5], [0.5, 0.5], 0.5, 0.5),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


HALF = [0.5, 0.5]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: theorems.lemma_4_1(HALF, HALF, HALF, 0.5, 0.5, tolerance=0.0), "tolerance must be > 0"),
        (lambda: theorems.theorem_4_2(HALF, HALF, HALF, 0.5, 0.5, 1.0, 1.0, tolerance=-1.0), "tolerance must be > 0"),
        (lambda: theorems.lemma_4_3(HALF, HALF, HALF, (0.2, 0.3, 0.5), tolerance=math.nan), "tolerance must be a"),
        (lambda: theorems.theorem_4_4(HALF, HALF, HALF, (0.2, 0.3, 0.5), tolerance=0.0), "tolerance must be > 0"),
        (lambda: theorems.lemma_4_6_4_7("student", HALF, HALF, HALF, 1.0, tolerance=0.0), "tolerance must be > 0"),
        (lambda: theorems.kdgan_eq_4(HALF, HALF, HALF, 1.5), r"alpha must be in \(0, 1\)"),
        (lambda: theorems.kdgan_eq_4(HALF, HALF, HALF, 0.5, tolerance=0.0), "tolerance must be > 0"),
        (lambda: theorems.kdgan_eq_5(HALF, HALF, HALF, 0.0, 1.0, 1.0), r"alpha must be in \(0, 1\)"),
        (lambda: theorems.kdgan_eq_5(HALF, HALF, HALF, 0.5, -1.0, 1.0), "beta must be >= 0"),
        (lambda: theorems.kdgan_eq_5(HALF, HALF, HALF, 0.5, 1.0, 1.0, "l1"), "distillation must be one of kl, l2"),
        (lambda: theorems.maximise(lambda z: -(z**2).sum(), (2,), max_iter=0), "max_iter must be an integer >= 1"),
    ],
)
def test_hyperparameters_are_refused_before_work(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------------------------------------
# Lemma 4.5 by Monte Carlo
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(variance_lemma.LEMMA_4_5_PRESETS))
def test_lemma_4_5_holds_exactly_when_the_premise_does(name):
    var_x, var_y, rho = variance_lemma.LEMMA_4_5_PRESETS[name]
    check = variance_lemma.lemma_4_5(var_x, var_y, rho, samples=20_000, seed=1)
    premise = var_x <= var_y
    assert check.passed == premise, str(check)
    assert ("premise holds" if premise else "premise violated") in check.statement
    if not premise:
        assert check.error > 10 * check.tolerance  # fails by far more than the Monte Carlo noise (40 standard errors)


@pytest.mark.parametrize("name", list(variance_lemma.LEMMA_4_5_PRESETS))
def test_lemma_4_5_monte_carlo_matches_the_closed_form(name):
    var_x, var_y, rho = variance_lemma.LEMMA_4_5_PRESETS[name]
    res = variance_lemma.lemma_4_5_monte_carlo(var_x, var_y, rho, samples=20_000, seed=2)
    assert res.lambdas[0] == 0.0 and res.lambdas[-1] == 1.0 and len(res.monte_carlo) == len(res.lambdas)
    for lam, mc, se, closed in zip(res.lambdas, res.monte_carlo, res.standard_error, res.closed_form):
        assert abs(mc - closed) < 4 * se + 1e-12, (lam, mc, closed, se)
        assert closed == pytest.approx(res.closed_form_variance(lam))
    assert res.closed_form[0] == pytest.approx(var_y) and res.closed_form[-1] == pytest.approx(var_x)
    assert res.excess[0] == pytest.approx(0.0, abs=1e-12)  # lambda = 0: Z = Y, the same draws
    assert res.var_y_monte_carlo == pytest.approx(res.monte_carlo[0])
    assert res.covariance == pytest.approx(rho * math.sqrt(var_x * var_y))


def test_lemma_4_5_counterexamples_fail_where_the_closed_form_says():
    # Var X = 2, Var Y = 1, rho = 0: Var Z = 3 lambda^2 - 2 lambda + 1 exceeds 1 exactly for lambda > 2/3
    res = variance_lemma.lemma_4_5_monte_carlo(2.0, 1.0, 0.0, samples=20_000, seed=3)
    assert res.violated_above == pytest.approx(2 / 3)
    for lam, closed, excess, se in zip(res.lambdas, res.closed_form, res.excess, res.excess_se):
        assert (closed > res.var_y) == (lam > 2 / 3 + 1e-9)
        if abs(lam - 2 / 3) > 0.1:  # away from the crossing the Monte Carlo sign is unambiguous
            assert (excess > 4 * se) == (lam > 2 / 3)
    assert max(res.closed_form) - res.var_y == pytest.approx(1.0)  # at lambda = 1: Var X - Var Y
    # Cov(X, Y) = 1.5 > Var Y = 1: every lambda > 0 fails (the derivative at 0 is 2 (Cov - Var Y) > 0)
    strong = variance_lemma.lemma_4_5_monte_carlo(4.0, 1.0, 0.75, samples=20_000, seed=3)
    assert strong.violated_above == 0.0
    assert all(e > 4 * se for lam, e, se in zip(strong.lambdas, strong.excess, strong.excess_se) if lam > 0)
    # the premise cases have no violating lambda
    assert all(
        variance_lemma.lemma_4_5_monte_carlo(*v, samples=100).violated_above is None
        for v in variance_lemma.LEMMA_4_5_PRESETS.values()
        if v[0] <= v[1]
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"var_x": 0.0}, "var_x must be > 0"),
        ({"var_y": -1.0}, "var_y must be > 0"),
        ({"correlation": 1.5}, r"correlation must be in \[-1, 1\]"),
        ({"correlation": float("nan")}, "correlation must be a finite real number"),
        ({"lambdas": (0.0, 1.2)}, r"lambdas must lie in \[0, 1\]"),
        ({"lambdas": ()}, "lambdas must be a non-empty sequence"),
        ({"samples": 1}, "samples must be an integer >= 2"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_lemma_4_5_rejects_bad_inputs(kwargs, match):
    args = {"var_x": 0.5, "var_y": 1.0, "correlation": 0.0, "samples": 100} | kwargs
    with pytest.raises(ValueError, match=match):
        variance_lemma.lemma_4_5_monte_carlo(**args)
    with pytest.raises(ValueError, match="sigmas must be > 0"):
        variance_lemma.lemma_4_5(0.5, 1.0, 0.0, samples=100, sigmas=0.0)
