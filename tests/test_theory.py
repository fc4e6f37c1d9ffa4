"""Property-based tests of advdist_lab.theory against the lemmas and theorems of the TPAMI and KDGAN papers.

TPAMI = ``000_...`` (Eq. 2-6, Lemma 4.1, Theorem 4.2, Lemma 4.3, Theorem 4.4, Lemmas 4.6 / 4.7);
KDGAN = ``003_...`` (Eq. 3-5).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from advdist_lab import theory as T

SETTINGS = settings(max_examples=50, deadline=None)
LOG2 = math.log(2.0)
LOG4 = math.log(4.0)
TOL = 1e-10

# ------------------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------------------


@st.composite
def dists(draw, k: int = 1, min_value: float = 0.01):
    """``k`` strictly positive float64 distributions of one shape ``(contexts, labels)``, 1-4 x 2-6."""
    n_labels = draw(st.integers(2, 6))
    n_contexts = draw(st.integers(1, 4))
    row = st.lists(st.floats(min_value, 1.0), min_size=n_labels, max_size=n_labels)
    out = []
    for _ in range(k):
        rows = draw(st.lists(row, min_size=n_contexts, max_size=n_contexts))
        t = torch.tensor(rows, dtype=torch.float64)
        out.append(t / t.sum(-1, keepdim=True))
    return tuple(out)


@st.composite
def omegas(draw):
    """``(omega_r, omega_s, omega_t)`` on the open simplex, each entry >= 0.02."""
    raw = [draw(st.floats(0.0, 1.0)) for _ in range(3)]
    total = sum(raw)
    if total == 0:
        raw, total = [1.0, 1.0, 1.0], 3.0
    return tuple(0.02 + 0.94 * r / total for r in raw)


binary_weight = st.floats(0.02, 0.98)
weight = st.floats(0.0, 2.0)
seeds = st.integers(0, 2**31 - 1)


def random_d(shape, seed: int) -> torch.Tensor:
    """A binary discriminator with entries in (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    return 1e-3 + (1 - 2e-3) * torch.rand(shape, generator=g, dtype=torch.float64)


def random_d3(shape, seed: int) -> torch.Tensor:
    """A multi-class discriminator: softmax over the first dimension of size 3."""
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(2.0 * torch.randn((3, *shape), generator=g, dtype=torch.float64), 0)


def random_simplex(shape, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(2.0 * torch.randn(shape, generator=g, dtype=torch.float64), -1)


# ------------------------------------------------------------------------------------------------------
# Divergences
# ------------------------------------------------------------------------------------------------------


@SETTINGS
@given(dists(2))
def test_kl_nonnegative_and_zero_on_diagonal(pq):
    p, q = pq
    assert T.kl(p, q).item() >= -1e-15
    assert (T.kl(p, q, reduction="none") >= -1e-15).all()
    assert T.kl(p, p).item() == pytest.approx(0.0, abs=1e-15)
    assert T.kl(p, p, reduction="none").abs().max().item() <= 1e-15


@SETTINGS
@given(dists(2))
def test_kl_matches_definition(pq):
    p, q = pq
    expected = (p * (p / q).log()).sum(-1)
    assert torch.allclose(T.kl(p, q, reduction="none"), expected, atol=1e-12, rtol=0)


@SETTINGS
@given(dists(2))
def test_js_symmetric_and_bounded(pq):
    p, q = pq
    a, b = T.js(p, q, reduction="none"), T.js(q, p, reduction="none")
    assert torch.allclose(a, b, atol=1e-14, rtol=0)
    assert (a >= -1e-15).all()
    assert (a <= LOG2 + 1e-12).all()
    assert T.js(p, p).item() == pytest.approx(0.0, abs=1e-15)


def test_js_reaches_log2_on_disjoint_supports():
    assert T.js([1.0, 0.0], [0.0, 1.0]).item() == pytest.approx(LOG2, abs=1e-15)


@SETTINGS
@given(dists(3), omegas())
def test_generalized_js_nonnegative_and_zero_when_equal(ps, omega):
    p_r, p_s, p_t = ps
    value = T.generalized_js((p_r, p_s, p_t), omega, reduction="none")
    assert (value >= -1e-15).all()
    assert T.generalized_js((p_r, p_r, p_r), omega).item() == pytest.approx(0.0, abs=1e-14)


@SETTINGS
@given(dists(2))
def test_generalized_js_with_two_halves_is_js(pq):
    p, q = pq
    assert T.generalized_js((p, q), (0.5, 0.5)).item() == pytest.approx(T.js(p, q).item(), abs=1e-14)


@SETTINGS
@given(dists(3), omegas(), weight)
def test_reduction_none_shape_and_mean(ps, omega, upsilon):
    p_r, p_s, p_t = ps
    contexts = p_r.shape[:-1]
    d = T.optimal_discriminator_binary(p_r, p_s)
    d3 = T.optimal_discriminator_multiclass(p_r, p_s, p_t, omega)
    cases = [
        (T.kl, (p_r, p_s)),
        (T.js, (p_r, p_s)),
        (T.generalized_js, ((p_r, p_s, p_t), omega)),
        (T.expected_log, (p_r, d)),
        (T.kd_loss, (p_t, p_s, p_r, upsilon)),
        (T.ngan_value, (p_r, p_s, d)),
        (T.ngan_optimal_value, (p_r, p_s)),
        (T.adim_value, (p_r, p_s, p_t, d3, omega, 0.5, 0.5, upsilon)),
        (T.adim_optimal_value, (p_r, p_s, p_t, omega, 0.5, 0.5, upsilon)),
        (T.adim_divergence, (p_r, p_s, p_t, omega)),
    ]
    for fn, args in cases:
        none = fn(*args, reduction="none")
        mean = fn(*args, reduction="mean")
        assert tuple(none.shape) == tuple(contexts), fn.__name__
        assert mean.dim() == 0, fn.__name__
        assert mean.item() == pytest.approx(none.mean().item(), abs=1e-13), fn.__name__
        assert fn(*args).item() == mean.item(), fn.__name__  # mean is the default


# ------------------------------------------------------------------------------------------------------
# Lemma 4.1 and Theorem 4.2 (ADIB, binary discriminator)
# ------------------------------------------------------------------------------------------------------


@SETTINGS
@given(dists(3), binary_weight, weight, weight, weight, seeds)
def test_lemma_4_1_optimal_binary_discriminator_maximises(ps, omega_s, nu, mu, upsilon, seed):
    p_r, p_s, p_t = ps
    omega_t = 1 - omega_s
    p_omega = T.mixture(p_s, p_t, omega_s, omega_t)
    d_star = T.optimal_discriminator_binary(p_r, p_omega)
    assert torch.allclose(d_star, p_r / (p_r + p_omega), atol=1e-15, rtol=0)

    def value(d):
        return T.adib_value(p_r, p_s, p_t, d, omega_s, omega_t, nu, mu, upsilon, reduction="none")

    best = value(d_star)
    assert (best >= value(random_d(p_r.shape, seed)) - 1e-12).all()
    g = torch.Generator().manual_seed(seed + 1)
    for scale in (1e-2, 1e-4):
        delta = scale * (2 * torch.rand(p_r.shape, generator=g, dtype=torch.float64) - 1)
        perturbed = (d_star + delta).clamp(1e-9, 1 - 1e-9)
        assert (best >= value(perturbed) - 1e-13).all()
    # a uniform perturbation is a strict loss
    assert (best > value((d_star * 0.9).clamp(1e-9, 1 - 1e-9))).all()


@SETTINGS
@given(dists(3), binary_weight, weight, weight, weight)
def test_adib_value_at_optimum_equals_closed_form(ps, omega_s, nu, mu, upsilon):
    p_r, p_s, p_t = ps
    omega_t = 1 - omega_s
    d_star = T.optimal_discriminator_binary(p_r, T.mixture(p_s, p_t, omega_s, omega_t))
    at_opt = T.adib_value(p_r, p_s, p_t, d_star, omega_s, omega_t, nu, mu, upsilon, reduction="none")
    closed = T.adib_optimal_value(p_r, p_s, p_t, omega_s, omega_t, nu, mu, upsilon, reduction="none")
    assert torch.allclose(at_opt, closed, atol=TOL, rtol=0)
    # closed form = 2 JS(p_r || p_omega) - log 4 + nu L_KD(p_t || p_s) + mu L_KD(p_s || p_t)
    p_omega = omega_s * p_s + omega_t * p_t
    expected = (
        2 * T.js(p_r, p_omega, reduction="none")
        - LOG4
        + nu * T.kd_loss(p_t, p_s, p_r, upsilon, reduction="none")
        + mu * T.kd_loss(p_s, p_t, p_r, upsilon, reduction="none")
    )
    assert torch.allclose(closed, expected, atol=TOL, rtol=0)


@SETTINGS
@given(dists(2))
def test_ngan_value_at_optimum_equals_closed_form(pq):
    p_r, p_s = pq
    d_star = T.optimal_discriminator_binary(p_r, p_s)
    assert T.ngan_value(p_r, p_s, d_star).item() == pytest.approx(T.ngan_optimal_value(p_r, p_s).item(), abs=TOL)
    assert T.ngan_optimal_value(p_r, p_s).item() >= T.ngan_equilibrium_value() - 1e-12
    assert T.ngan_optimal_value(p_r, p_r).item() == pytest.approx(-LOG4, abs=1e-12)


@SETTINGS
@given(dists(3), binary_weight, weight, weight, weight)
def test_theorem_4_2_adib_equilibrium(ps, omega_s, nu, mu, upsilon):
    p_r, p_s, p_t = ps
    omega_t = 1 - omega_s
    assert T.adib_equilibrium_value() == pytest.approx(-LOG4, abs=1e-15)
    at_eq = T.adib_optimal_value(p_r, p_r, p_r, omega_s, omega_t, nu, mu, upsilon, reduction="none")
    assert torch.allclose(at_eq, torch.full_like(at_eq, T.adib_equilibrium_value()), atol=1e-12, rtol=0)
    value = T.adib_optimal_value(p_r, p_s, p_t, omega_s, omega_t, nu, mu, upsilon, reduction="none")
    assert (value >= T.adib_equilibrium_value() - 1e-12).all()


def test_theorem_4_2_only_mixture_matters_without_distillation():
    # With nu = mu = 0 any p_s, p_t whose mixture is p_r are at the equilibrium value (README note).
    p_r = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    p_s = torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64)
    p_t = 2 * p_r - p_s
    assert T.adib_optimal_value(p_r, p_s, p_t, 0.5, 0.5).item() == pytest.approx(-LOG4, abs=1e-14)
    assert T.adib_optimal_value(p_r, p_s, p_t, 0.5, 0.5, nu=1.0, mu=1.0).item() > -LOG4 + 1e-3


# ------------------------------------------------------------------------------------------------------
# Lemma 4.3 and Theorem 4.4 (ADIM, multi-class discriminator)
# ------------------------------------------------------------------------------------------------------


@SETTINGS
@given(dists(3), omegas(), weight, weight, weight, seeds)
def test_lemma_4_3_optimal_multiclass_discriminator(ps, omega, nu, mu, upsilon, seed):
    p_r, p_s, p_t = ps
    d_star = T.optimal_discriminator_multiclass(p_r, p_s, p_t, omega)
    assert tuple(d_star.shape) == (3, *p_r.shape)
    assert torch.allclose(d_star.sum(0), torch.ones_like(p_r), atol=1e-14, rtol=0)
    p_bar = omega[0] * p_r + omega[1] * p_s + omega[2] * p_t
    assert torch.allclose(d_star[1], omega[1] * p_s / p_bar, atol=1e-14, rtol=0)

    def value(d):
        return T.adim_value(p_r, p_s, p_t, d, omega, nu, mu, upsilon, reduction="none")

    best = value(d_star)
    assert (best >= value(random_d3(p_r.shape, seed)) - 1e-12).all()
    other = torch.softmax(d_star.log() + 0.1 * random_d3(p_r.shape, seed + 1), 0)
    assert (best >= value(other) - 1e-13).all()
    closed = T.adim_optimal_value(p_r, p_s, p_t, omega, nu, mu, upsilon, reduction="none")
    assert torch.allclose(best, closed, atol=TOL, rtol=0)


@SETTINGS
@given(dists(3), omegas(), weight, weight, weight)
def test_theorem_4_4_adim_equilibrium(ps, omega, nu, mu, upsilon):
    p_r, p_s, p_t = ps
    eq = T.adim_equilibrium_value(omega)
    assert eq == pytest.approx(sum(w * math.log(w) for w in omega), abs=1e-15)
    assert eq == pytest.approx(math.log(math.prod(w**w for w in omega)), abs=1e-12)
    assert -math.log(3) - 1e-12 <= eq < 0
    value = T.adim_optimal_value(p_r, p_s, p_t, omega, nu, mu, upsilon, reduction="none")
    assert (value >= eq - 1e-12).all()
    at_eq = T.adim_optimal_value(p_r, p_r, p_r, omega, nu, mu, upsilon, reduction="none")
    assert torch.allclose(at_eq, torch.full_like(at_eq, eq), atol=1e-12, rtol=0)


def test_theorem_4_4_uniform_omega_equilibrium_is_minus_log3():
    assert T.adim_equilibrium_value((1 / 3, 1 / 3, 1 / 3)) == pytest.approx(-math.log(3), abs=1e-15)


@SETTINGS
@given(dists(3), omegas())
def test_adim_divergence_is_optimal_value_minus_constant(ps, omega):
    p_r, p_s, p_t = ps
    constant = sum(w * math.log(w) for w in omega)
    div = T.adim_divergence(p_r, p_s, p_t, omega, reduction="none")
    opt = T.adim_optimal_value(p_r, p_s, p_t, omega, reduction="none")
    assert torch.allclose(div, opt - constant, atol=1e-12, rtol=0)
    gjs = T.generalized_js((p_r, p_s, p_t), omega, reduction="none")
    assert torch.allclose(div, gjs, atol=1e-14, rtol=0)


# ------------------------------------------------------------------------------------------------------
# Lemmas 4.6 and 4.7
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("player", ["student", "teacher"])
@settings(max_examples=40, deadline=None)
@given(ps=dists(3, min_value=0.1), upsilon=st.floats(0.1, 5.0))
def test_lemmas_4_6_4_7_scaled_divergence_converges(player, ps, upsilon):
    p_r, p_s, p_t = ps
    limit = T.lemma_limit(player, p_r, p_s, p_t, upsilon)
    expected = T.kd_loss(p_t, p_s, p_r, upsilon) if player == "student" else T.kd_loss(p_s, p_t, p_r, upsilon)
    assert limit.item() == pytest.approx(expected.item(), abs=1e-15)
    errors = []
    for eps in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        omega = T.lemma_omega(player, eps, upsilon)
        assert sum(omega) == pytest.approx(1.0, abs=1e-12)
        scaled = T.lemma_scaled_divergence(player, p_r, p_s, p_t, omega)
        errors.append(abs(scaled.item() - limit.item()))
    assert errors[-1] < 1e-4
    assert all(b <= a + 1e-9 for a, b in zip(errors[:-1], errors[1:], strict=True))


@pytest.mark.parametrize("player", ["student", "teacher"])
def test_lemma_omega_path(player):
    eps, upsilon = 0.01, 2.0
    r, s, t = T.lemma_omega(player, eps, upsilon)
    assert r + s + t == pytest.approx(1.0, abs=1e-15)
    if player == "student":
        assert s == pytest.approx(1 - eps)
        assert r / t == pytest.approx(upsilon)
    else:
        assert t == pytest.approx(1 - eps)
        assert r / s == pytest.approx(upsilon)


def test_lemma_literal_value_diverges_but_divergence_converges():
    # README note: V*_ADIM / omega_t itself diverges as omega_s -> 1 (the constant must be subtracted).
    p_r = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    p_s = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    p_t = torch.tensor([0.3, 0.3, 0.4], dtype=torch.float64)
    literal = []
    for eps in (1e-2, 1e-4, 1e-6):
        omega = T.lemma_omega("student", eps, 1.0)
        literal.append(abs(T.adim_optimal_value(p_r, p_s, p_t, omega).item()) / omega[2])
    assert literal[0] < literal[1] < literal[2]
    assert literal[2] > 10.0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("parent", 0.1, 1.0), r"player must be one of student, teacher"),
        (("student", 0.0, 1.0), r"epsilon must be in \(0, 1\)"),
        (("student", 1.0, 1.0), r"epsilon must be in \(0, 1\)"),
        (("teacher", 0.1, 0.0), r"upsilon must be > 0"),
        (("teacher", 0.1, -1.0), r"upsilon must be > 0"),
    ],
)
def test_lemma_omega_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        T.lemma_omega(*args)


# ------------------------------------------------------------------------------------------------------
# KD (Eq. 2)
# ------------------------------------------------------------------------------------------------------


@SETTINGS
@given(dists(2), weight, seeds)
def test_kd_optimal_student_minimises_kd_loss(ps, upsilon, seed):
    p_r, p_t = ps
    q_star = T.kd_optimal_student(p_r, p_t, upsilon)
    assert torch.allclose(q_star.sum(-1), torch.ones(p_r.shape[:-1], dtype=torch.float64), atol=1e-14, rtol=0)
    assert torch.allclose(q_star, (p_t + upsilon * p_r) / (1 + upsilon), atol=1e-15, rtol=0)
    best = T.kd_loss(p_t, q_star, p_r, upsilon, reduction="none")
    other = random_simplex(p_r.shape, seed)
    assert (best <= T.kd_loss(p_t, other, p_r, upsilon, reduction="none") + 1e-12).all()
    near = torch.softmax(q_star.log() + 1e-3 * random_simplex(p_r.shape, seed + 1), -1)
    assert (best <= T.kd_loss(p_t, near, p_r, upsilon, reduction="none") + 1e-14).all()


@SETTINGS
@given(dists(2))
def test_kd_optimal_student_is_teacher_without_upsilon(ps):
    p_r, p_t = ps
    assert torch.equal(T.kd_optimal_student(p_r, p_t, 0.0), p_t)
    assert T.kd_loss(p_t, p_t, p_r, 0.0).item() == pytest.approx(0.0, abs=1e-15)


# ------------------------------------------------------------------------------------------------------
# KDGAN (Eq. 3-5)
# ------------------------------------------------------------------------------------------------------


@SETTINGS
@given(dists(2), binary_weight, seeds)
def test_kdgan_eq4_mixture_identity(ps, alpha, seed):
    p_c, p_t = ps
    one_minus_d = 1 - random_d(p_c.shape, seed)
    lhs = alpha * T.expected_log(p_c, one_minus_d, reduction="none") + (1 - alpha) * T.expected_log(
        p_t, one_minus_d, reduction="none"
    )
    rhs = T.expected_log(T.mixture(p_c, p_t, alpha, 1 - alpha), one_minus_d, reduction="none")
    assert torch.allclose(lhs, rhs, atol=1e-12, rtol=0)


@pytest.mark.parametrize("distillation", ["kl", "l2"])
@SETTINGS
@given(ps=dists(3), alpha=binary_weight, beta=weight, gamma=weight)
def test_kdgan_value_at_optimum_equals_closed_form(distillation, ps, alpha, beta, gamma):
    p_u, p_c, p_t = ps
    d_star = T.optimal_discriminator_binary(p_u, T.mixture(p_c, p_t, alpha, 1 - alpha))
    at_opt = T.kdgan_value(p_u, p_c, p_t, d_star, alpha, beta, gamma, distillation, reduction="none")
    closed = T.kdgan_optimal_value(p_u, p_c, p_t, alpha, beta, gamma, distillation, reduction="none")
    assert torch.allclose(at_opt, closed, atol=TOL, rtol=0)
    assert (closed >= -LOG4 - 1e-12).all()
    assert T.kdgan_optimal_value(p_u, p_u, p_u, alpha, beta, gamma, distillation).item() == pytest.approx(
        -LOG4, abs=1e-12
    )


@SETTINGS
@given(dists(2))
def test_kdgan_distillation_losses_vanish_only_at_equality(ps):
    p, q = ps
    for kind in ("kl", "l2"):
        assert T.kdgan_distillation_loss(p, p, kind).item() == pytest.approx(0.0, abs=1e-14)
        assert T.kdgan_distillation_loss(p, q, kind).item() >= -1e-15
    # learner first, target second: KL(target || learner)
    assert T.kdgan_distillation_loss(p, q, "kl").item() == pytest.approx(T.kl(q, p).item(), abs=1e-14)
    # L2 between logits defined up to a constant: half the squared distance of the centred log-probabilities
    a, b = p.log(), q.log()
    diff = (a - a.mean(-1, keepdim=True)) - (b - b.mean(-1, keepdim=True))
    l2 = T.kdgan_distillation_loss(p, q, "l2", reduction="none")
    assert torch.allclose(l2, 0.5 * (diff**2).sum(-1), atol=1e-12, rtol=0)
    assert torch.allclose(l2, T.kdgan_distillation_loss(q, p, "l2", reduction="none"), atol=1e-14, rtol=0)


# ------------------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------------------

GOOD = [[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]
GOOD_Q = [[0.2, 0.4, 0.4], [0.3, 0.3, 0.4]]
D = [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
D3 = [[[1 / 3] * 3] * 2] * 3
OMEGA = (0.2, 0.3, 0.5)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([[1.1, -0.1, 0.0], [0.1, 0.6, 0.3]], r"entries >= 0"),
        ([[0.5, 0.3, 0.201], [0.1, 0.6, 0.3]], r"each row sums to 1"),
        ([[0.5, 0.3, 0.199], [0.1, 0.6, 0.3]], r"each row sums to 1"),
        ([[math.nan, 0.5, 0.5], [0.1, 0.6, 0.3]], r"must be finite"),
        ([[math.inf, 0.5, 0.5], [0.1, 0.6, 0.3]], r"must be finite"),
        ([[0.5, 0.5], [0.4, 0.6]], r"same shape"),
        ([0.5, 0.3, 0.2], r"same shape"),
        (torch.tensor(1.0, dtype=torch.float64), r"last dimension of labels"),
        (1.0, r"last dimension of labels"),
        ([], r"last dimension of labels"),
        ("abc", r"array of numbers"),
    ],
)
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda bad: T.kl(bad, GOOD), id="kl"),
        pytest.param(lambda bad: T.js(GOOD, bad), id="js"),
        pytest.param(lambda bad: T.generalized_js((GOOD, bad, GOOD), OMEGA), id="generalized_js"),
        pytest.param(lambda bad: T.kd_loss(GOOD, GOOD_Q, bad), id="kd_loss"),
        pytest.param(lambda bad: T.kd_optimal_student(GOOD, bad), id="kd_optimal_student"),
        pytest.param(lambda bad: T.optimal_discriminator_binary(bad, GOOD), id="optimal_discriminator_binary"),
        pytest.param(lambda bad: T.optimal_discriminator_multiclass(GOOD, bad, GOOD, OMEGA), id="multiclass"),
        pytest.param(lambda bad: T.adib_optimal_value(GOOD, GOOD_Q, bad, 0.5, 0.5), id="adib_optimal_value"),
        pytest.param(lambda bad: T.adim_optimal_value(bad, GOOD, GOOD_Q, OMEGA), id="adim_optimal_value"),
        pytest.param(lambda bad: T.kdgan_optimal_value(GOOD, bad, GOOD_Q, 0.5, 1.0, 1.0), id="kdgan_optimal_value"),
    ],
)
def test_bad_distributions_raise(call, bad, match):
    with pytest.raises(ValueError, match=match):
        call(bad)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: T.ngan_value(GOOD, GOOD_Q, [[1.5, 0.5, 0.5], [0.5, 0.5, 0.5]]), r"entries in \[0, 1\]"),
        (lambda: T.adib_value(GOOD, GOOD, GOOD_Q, [[-0.1, 0.5, 0.5], [0.5, 0.5, 0.5]], 0.5, 0.5), r"in \[0, 1\]"),
        (lambda: T.expected_log(GOOD, [[0.5, 0.5, 1.0001], [0.5, 0.5, 0.5]]), r"entries in \[0, 1\]"),
        (lambda: T.kdgan_value(GOOD, GOOD, GOOD_Q, [[2.0] * 3] * 2, 0.5, 0.0, 0.0), r"entries in \[0, 1\]"),
        (lambda: T.ngan_value(GOOD, GOOD_Q, [0.5, 0.5, 0.5]), r"d must have shape \(2, 3\)"),
        (lambda: T.ngan_value(GOOD, GOOD_Q, [[0.5, math.nan, 0.5], [0.5] * 3]), r"must be finite"),
        (lambda: T.adim_value(GOOD, GOOD, GOOD_Q, [[[0.4] * 3] * 2] * 3, OMEGA), r"sum_i D_i\(x, y\) = 1"),
        (lambda: T.adim_value(GOOD, GOOD, GOOD_Q, D, OMEGA), r"d must have shape \(3, 2, 3\)"),
        (lambda: T.adim_value(GOOD, GOOD, GOOD_Q, D3, (0.5, 0.5, 0.2)), r"open simplex"),
        (lambda: T.adim_optimal_value(GOOD, GOOD, GOOD_Q, (0.0, 0.5, 0.5)), r"open simplex: omega_r > 0"),
        (lambda: T.adim_optimal_value(GOOD, GOOD, GOOD_Q, (0.5, 0.5)), r"three entries"),
        (lambda: T.optimal_discriminator_multiclass(GOOD, GOOD, GOOD_Q, (0.4, 0.4, 0.4)), r"open simplex"),
        (lambda: T.adim_equilibrium_value((0.4, 0.4, 0.4)), r"open simplex"),
        (lambda: T.adim_divergence(GOOD, GOOD, GOOD_Q, (0.4, 0.4, 0.4)), r"open simplex"),
        (lambda: T.mixture(GOOD, GOOD_Q, 0.5, 0.6), r"omega_s \+ omega_t = 1"),
        (lambda: T.adib_optimal_value(GOOD, GOOD, GOOD_Q, 0.0, 1.0), r"omega_s > 0"),
        (lambda: T.adib_value(GOOD, GOOD, GOOD_Q, D, 0.5, 0.5, nu=-1.0), r"nu must be >= 0"),
        (lambda: T.adib_optimal_value(GOOD, GOOD, GOOD_Q, 0.5, 0.5, mu=-0.1), r"mu must be >= 0"),
        (lambda: T.adim_optimal_value(GOOD, GOOD, GOOD_Q, OMEGA, upsilon=-1.0), r"upsilon must be >= 0"),
        (lambda: T.adim_value(GOOD, GOOD, GOOD_Q, D3, OMEGA, nu=-2.0), r"nu must be >= 0"),
        (lambda: T.kd_loss(GOOD, GOOD_Q, GOOD, upsilon=-1.0), r"upsilon must be >= 0"),
        (lambda: T.kd_optimal_student(GOOD, GOOD_Q, upsilon=-1.0), r"upsilon must be >= 0"),
        (lambda: T.adim_value(GOOD, GOOD, GOOD_Q, D3, OMEGA, nu=math.nan), r"nu must be a finite real number"),
        (lambda: T.kdgan_value(GOOD, GOOD, GOOD_Q, D, 0.0, 0.0, 0.0), r"alpha must be in \(0, 1\)"),
        (lambda: T.kdgan_value(GOOD, GOOD, GOOD_Q, D, 1.0, 0.0, 0.0), r"alpha must be in \(0, 1\)"),
        (lambda: T.kdgan_optimal_value(GOOD, GOOD, GOOD_Q, 1.5, 0.0, 0.0), r"alpha must be in \(0, 1\)"),
        (lambda: T.kdgan_optimal_value(GOOD, GOOD, GOOD_Q, -0.5, 0.0, 0.0), r"alpha must be in \(0, 1\)"),
        (lambda: T.kdgan_optimal_value(GOOD, GOOD, GOOD_Q, 0.5, -1.0, 0.0), r"beta must be >= 0"),
        (lambda: T.kdgan_optimal_value(GOOD, GOOD, GOOD_Q, 0.5, 0.0, -1.0), r"gamma must be >= 0"),
        (lambda: T.kdgan_optimal_value(GOOD, GOOD, GOOD_Q, 0.5, 0.0, 0.0, "l1"), r"distillation must be one of kl"),
        (lambda: T.kdgan_distillation_loss([0.5, 0.5, 0.0], [0.2, 0.3, 0.5], "l2"), r"strictly positive"),
        (lambda: T.kl(GOOD, GOOD_Q, reduction="sum"), r"reduction must be one of mean, none"),
        (lambda: T.js(GOOD, GOOD_Q, reduction="Mean"), r"reduction must be one of mean, none"),
        (lambda: T.adim_optimal_value(GOOD, GOOD, GOOD_Q, OMEGA, reduction=None), r"reduction must be one of"),
        (lambda: T.generalized_js((GOOD, GOOD_Q), (0.5, 0.3, 0.2)), r"one entry per distribution"),
        (lambda: T.generalized_js((GOOD, GOOD_Q), (0.6, 0.6)), r"open simplex"),
        (lambda: T.generalized_js((), ()), r"at least one distribution"),
        (lambda: T.random_distributions(0, 3), r"n_contexts must be an integer >= 1"),
        (lambda: T.random_distributions(2, 3, concentration=0.0), r"concentration must be > 0"),
        (lambda: T.random_distributions(2, 3, seed=-1), r"seed must be an integer >= 0"),
        (lambda: T.empirical_distribution(GOOD, 10, seed=0.5), r"seed must be an integer >= 0"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_tolerance_boundary_of_row_sums():
    # rows within DIST_ATOL = 1e-6 of 1 are accepted, rows off by 1e-5 are not
    T.kl([0.5, 0.5 + 5e-7], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"each row sums to 1"):
        T.kl([0.5, 0.5 + 1e-5], [0.5, 0.5])


# ------------------------------------------------------------------------------------------------------
# Dtypes
# ------------------------------------------------------------------------------------------------------


def test_list_inputs_become_float64():
    assert T.kl(GOOD, GOOD_Q).dtype == torch.float64
    assert T.optimal_discriminator_binary(GOOD, GOOD_Q).dtype == torch.float64
    assert T.optimal_discriminator_multiclass(GOOD, GOOD, GOOD_Q, OMEGA).dtype == torch.float64
    assert T.kd_optimal_student(GOOD, GOOD_Q).dtype == torch.float64
    assert T.as_distribution(GOOD).dtype == torch.float64
    assert T.as_distribution(torch.tensor([[1, 0]])).dtype == torch.float64
    assert T.random_distributions(2, 3).dtype == torch.float64


def test_float32_tensors_keep_float32():
    p = torch.tensor(GOOD, dtype=torch.float32)
    q = torch.tensor(GOOD_Q, dtype=torch.float32)
    d = torch.full_like(p, 0.5)
    assert T.kl(p, q).dtype == torch.float32
    assert T.js(p, q, reduction="none").dtype == torch.float32
    assert T.generalized_js((p, q, p), OMEGA).dtype == torch.float32
    assert T.optimal_discriminator_binary(p, q).dtype == torch.float32
    assert T.optimal_discriminator_multiclass(p, q, p, OMEGA).dtype == torch.float32
    assert T.mixture(p, q, 0.5, 0.5).dtype == torch.float32
    assert T.kd_optimal_student(p, q, 1.0).dtype == torch.float32
    assert T.kd_loss(q, p, p, 1.0).dtype == torch.float32
    assert T.ngan_value(p, q, d).dtype == torch.float32
    assert T.adib_value(p, q, p, d, 0.5, 0.5, 1.0, 1.0, 1.0).dtype == torch.float32
    assert T.adib_optimal_value(p, q, p, 0.5, 0.5, 1.0, 1.0, 1.0).dtype == torch.float32
    d3 = T.optimal_discriminator_multiclass(p, q, p, OMEGA)
    assert T.adim_value(p, q, p, d3, OMEGA, 1.0, 1.0, 1.0).dtype == torch.float32
    assert T.adim_optimal_value(p, q, p, OMEGA, 1.0, 1.0, 1.0).dtype == torch.float32
    assert T.kdgan_optimal_value(p, q, p, 0.5, 1.0, 1.0, "l2").dtype == torch.float32
    assert T.random_distributions(2, 3, dtype=torch.float32).dtype == torch.float32


def test_mixed_dtypes_promote_to_float64():
    p = torch.tensor(GOOD, dtype=torch.float32)
    assert T.kl(p, GOOD_Q).dtype == torch.float64
    assert T.kl(p, torch.tensor(GOOD_Q, dtype=torch.float16)).dtype == torch.float64


def test_random_distributions_deterministic_and_valid():
    a = T.random_distributions(3, 5, seed=7)
    b = T.random_distributions(3, 5, seed=7)
    c = T.random_distributions(3, 5, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert tuple(a.shape) == (3, 5)
    assert torch.allclose(a.sum(-1), torch.ones(3, dtype=torch.float64), atol=1e-12, rtol=0)


def test_empirical_distribution_is_the_sample_frequency_and_converges():
    p_r = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64).expand(500, 3)
    small = T.empirical_distribution(p_r, 10, seed=1)
    assert small.shape == p_r.shape
    assert torch.allclose(small.sum(-1), torch.ones(500, dtype=torch.float64))
    assert torch.allclose(small * 10, (small * 10).round())  # frequencies of 10 draws
    assert torch.equal(small, T.empirical_distribution(p_r, 10, seed=1))
    assert not torch.equal(small, T.empirical_distribution(p_r, 10, seed=2))
    smoothed = [T.kl(p_r, T.empirical_distribution(p_r, n, seed=0, pseudocount=0.5)).item() for n in (10, 100, 1000)]
    assert smoothed[0] > smoothed[1] > smoothed[2] > 0
    assert smoothed[2] == pytest.approx(2 / 2000, rel=0.3)  # (K - 1) / (2n)
    assert (T.empirical_distribution(p_r, 3, pseudocount=0.5) > 0).all()


@pytest.mark.parametrize(("n", "pseudocount"), [(0, 0.0), (2.5, 0.0), (True, 0.0), (5, -1.0)])
def test_empirical_distribution_rejects_bad_arguments(n, pseudocount):
    with pytest.raises(ValueError):
        T.empirical_distribution([0.5, 0.5], n, pseudocount=pseudocount)


# ------------------------------------------------------------------------------------------------------
# The package's API
# ------------------------------------------------------------------------------------------------------


def test_the_package_reexports_every_name_of_its_api():
    import advdist_lab.theory as package

    assert not hasattr(package, "__getattr__"), "the package lists its names; no lazy module __getattr__"
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    assert {"solve_game", "game_gradients", "GameTrajectory", "kl", "adim_optimal_value"} <= set(package.__all__)
