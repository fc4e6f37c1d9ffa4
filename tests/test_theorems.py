"""The numerical theorem checks: they pass on random distributions and fail when the claim is wrong."""

from __future__ import annotations

import math

import pytest
import torch

from advdist_lab import theorems, theory


@pytest.fixture(scope="module")
def players():
    return (
        theory.random_distributions(5, 4, seed=10),
        theory.random_distributions(5, 4, seed=11),
        theory.random_distributions(5, 4, seed=12),
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
    assert torch.allclose(ngan, theory.optimal_discriminator_binary(p_r, p_s), atol=1e-6)
    adim = theorems.numerical_discriminator(p_r, p_s, p_t, method="adim", omega=(0.2, 0.3, 0.5))
    assert torch.allclose(adim.sum(0), torch.ones_like(p_r))
    assert torch.allclose(adim, theory.optimal_discriminator_multiclass(p_r, p_s, p_t, (0.2, 0.3, 0.5)), atol=1e-6)


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
    p_r = theory.random_distributions(3, 4, seed=1)
    p_t = theory.random_distributions(3, 4, seed=2)
    start = theory.random_distributions(3, 4, seed=3)
    best_s, _ = theorems.minimise_players(
        lambda a, b: theory.kd_loss(p_t, a, p_r, 0.7) + theory.kl(b, p_t), start, start
    )
    assert torch.allclose(best_s, theory.kd_optimal_student(p_r, p_t, 0.7), atol=1e-6)


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
