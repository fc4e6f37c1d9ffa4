"""Tests of advdist_lab.gumbel: Gumbel noise, the concrete distribution (TPAMI Eq. 10), and the gradient
estimators of the adversarial term (score function, Eq. 8/11; pathwise; straight-through; the concrete score, Eq. 11
literally) against exact gradients.

Every random draw uses a seeded ``torch.Generator``, so the Monte Carlo checks are deterministic; their
tolerances are still set from the standard errors, so they would hold for other seeds too.
"""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch

from advdist_lab.gumbel import (
    ESTIMATORS,
    EULER_GAMMA,
    KDGAN_SCHEDULE,
    PAPER_SCHEDULE,
    Surrogate,
    TemperatureSchedule,
    adversarial_surrogate,
    categorical_sample,
    concrete_log_density,
    concrete_log_density_from_log,
    concrete_sample,
    exact_gradient,
    expected_reward,
    log_concrete_sample,
    one_hot,
    sample_gumbel,
    straight_through_sample,
    temperature_schedule,
)

F64 = torch.float64
LOGITS = torch.tensor([1.0, 0.0, -0.5, 0.3], dtype=F64)
C = torch.tensor([-1.0, -0.2, -2.0, -0.6], dtype=F64)  # linear reward <y, c>, all negative like log(1 - D)
A = torch.tensor([2.0, -1.0, 0.5, -3.0], dtype=F64)  # nonlinear reward log(1 - sigmoid(<y, a>))
CHI2_DF3_999 = 16.27  # 99.9% quantile of chi-square with 3 degrees of freedom (K = 4)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def linear_reward(y: torch.Tensor) -> torch.Tensor:
    return y @ C


def nonlinear_reward(y: torch.Tensor) -> torch.Tensor:
    return torch.log1p(-torch.sigmoid(y @ A))


REWARDS = {
    "linear": (linear_reward, C),
    "nonlinear": (nonlinear_reward, nonlinear_reward(torch.eye(4, dtype=F64))),
}


def chi_square(labels: torch.Tensor, probs: torch.Tensor) -> float:
    counts = torch.bincount(labels, minlength=probs.numel()).to(F64)
    expected = probs.to(F64) * labels.numel()
    return float(((counts - expected) ** 2 / expected).sum())


def per_sample_gradients(estimator: str, reward_fn, *, tau: float = 1.0, baseline: str = "none", n: int = 20000):
    """(n, K) per-sample estimates of grad E[f] for the shared logits LOGITS (rows of one batch)."""
    theta = LOGITS.expand(n, 4).clone().requires_grad_(True)
    s = adversarial_surrogate(theta, reward_fn, estimator=estimator, tau=tau, generator=gen(1), baseline=baseline)
    (grad,) = torch.autograd.grad(s.loss, theta)
    return grad * n  # the loss is a batch mean: undo the 1/n


# ------------------------------------------------------------------------------------------------------
# Gumbel noise
# ------------------------------------------------------------------------------------------------------


def test_gumbel_moments_match_the_standard_gumbel():
    g = sample_gumbel((200_000,), generator=gen(), dtype=F64)
    assert torch.isfinite(g).all()
    n = g.numel()
    se_mean = math.sqrt(math.pi**2 / 6 / n)
    se_var = (math.pi**2 / 6) * math.sqrt((5.4 + 2) / n)  # excess kurtosis of the Gumbel is 5.4
    assert abs(g.mean().item() - EULER_GAMMA) < 4 * se_mean
    assert abs(g.var().item() - math.pi**2 / 6) < 4 * se_var


def test_gumbel_is_finite_in_every_dtype_and_reproducible():
    for dtype in (torch.float16, torch.bfloat16, torch.float32, F64):
        g = sample_gumbel((500_000,), generator=gen(3), dtype=dtype)
        assert g.dtype == dtype and g.shape == (500_000,)
        assert torch.isfinite(g).all()
    assert torch.equal(sample_gumbel(5, generator=gen(7)), sample_gumbel(5, generator=gen(7)))
    assert not torch.equal(sample_gumbel(5, generator=gen(7)), sample_gumbel(5, generator=gen(8)))


# ------------------------------------------------------------------------------------------------------
# Concrete distribution, Gumbel-max, straight-through
# ------------------------------------------------------------------------------------------------------


def test_concrete_samples_lie_on_the_simplex():
    logits = torch.randn(1000, 5, generator=gen(), dtype=F64) * 3
    for tau in (0.05, 0.5, 1.0, 10.0):
        y = concrete_sample(logits, tau, generator=gen(1))
        assert y.shape == logits.shape and y.dtype == F64
        assert (y >= 0).all()
        torch.testing.assert_close(y.sum(-1), torch.ones(1000, dtype=F64))


def test_concrete_samples_become_one_hot_as_tau_goes_to_zero():
    logits = LOGITS.expand(20000, 4)
    top_cold = concrete_sample(logits, 0.01, generator=gen()).max(-1).values
    top_warm = concrete_sample(logits, 1.0, generator=gen()).max(-1).values
    assert top_cold.median() > 0.999
    assert top_cold.mean() > 0.97
    assert top_warm.mean() < 0.9  # ... and are not one-hot at tau = 1


def test_concrete_sample_is_differentiable_in_logits():
    theta = LOGITS.clone().requires_grad_(True)
    (concrete_sample(theta, 0.7, generator=gen()) @ C).backward()
    assert theta.grad is not None and torch.isfinite(theta.grad).all() and theta.grad.abs().sum() > 0


def test_gumbel_max_frequencies_match_softmax():
    probs = torch.softmax(LOGITS, -1)
    labels = categorical_sample(LOGITS.expand(100_000, 4), generator=gen())
    assert labels.dtype == torch.int64 and labels.shape == (100_000,)
    assert chi_square(labels, probs) < CHI2_DF3_999
    # a wrong distribution is rejected by the same statistic
    assert chi_square(labels, torch.softmax(LOGITS * 1.1, -1)) > CHI2_DF3_999


@pytest.mark.parametrize("tau", [0.05, 1.0, 5.0, 50.0])
def test_argmax_of_concrete_sample_is_categorical_for_any_tau(tau):
    probs = torch.softmax(LOGITS, -1)
    y = concrete_sample(LOGITS.expand(100_000, 4), tau, generator=gen(2))
    assert chi_square(y.argmax(-1), probs) < CHI2_DF3_999


def test_straight_through_is_one_hot_forward_and_relaxed_backward():
    logits = torch.randn(500, 6, generator=gen(), dtype=F64)
    w = torch.randn(6, generator=gen(1), dtype=F64)

    theta_st = logits.clone().requires_grad_(True)
    y_st = straight_through_sample(theta_st, 0.5, generator=gen(5))
    theta_soft = logits.clone().requires_grad_(True)
    y_soft = concrete_sample(theta_soft, 0.5, generator=gen(5))  # the same noise

    assert ((y_st == 0) | (y_st == 1)).all()
    assert torch.equal(y_st.sum(-1), torch.ones(500, dtype=F64))  # exactly, not just close
    assert torch.equal(y_st.detach(), one_hot(y_soft.argmax(-1), 6, dtype=F64))
    (torch.tanh(y_st @ w).sum() + (y_st * w).sum()).backward()
    # the backward pass differentiates the relaxed sample, with the upstream gradient taken at the hard one
    upstream = y_st.detach().requires_grad_(True)
    (g_up,) = torch.autograd.grad(torch.tanh(upstream @ w).sum() + (upstream * w).sum(), upstream)
    (expected,) = torch.autograd.grad((y_soft * g_up).sum(), theta_soft)
    torch.testing.assert_close(theta_st.grad, expected)


def test_one_hot():
    y = one_hot(torch.tensor([[0, 2], [1, 1]]), 3)
    assert y.shape == (2, 2, 3) and y.dtype == torch.float32
    assert torch.equal(y[0, 1], torch.tensor([0.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="integer tensor"):
        one_hot(torch.tensor([0.0, 1.0]), 2)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
        one_hot(torch.tensor([0]), 0)


# ------------------------------------------------------------------------------------------------------
# Concrete density (Maddison et al. 2017)
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.3, 1.0, 2.5])
def test_concrete_density_for_two_labels_matches_the_logistic_closed_form(tau):
    # K = 2: y_1 = sigmoid(z), z = (log(a_1 / a_2) + L) / tau with L ~ Logistic(0, 1). So
    # p(y_1) = tau * logistic_pdf(tau * z - log(a_1 / a_2)) / (y_1 (1 - y_1)).
    logits = torch.tensor([0.7, -0.4], dtype=F64)
    log_ratio = logits[0] - logits[1]
    z = torch.linspace(-40 / tau, 40 / tau, 20001, dtype=F64)
    y1 = torch.sigmoid(z)
    y = torch.stack([y1, torch.sigmoid(-z)], -1)
    u = tau * z - log_ratio
    logistic_pdf = torch.exp(-u) / (1 + torch.exp(-u)) ** 2
    closed = torch.log(tau * logistic_pdf) - torch.log(y[:, 0] * y[:, 1])
    log_q = concrete_log_density(y, logits, tau)
    inner = slice(5000, 15001)  # away from the tails, where y rounds to 0 or 1
    torch.testing.assert_close(log_q[inner], closed[inner], rtol=1e-9, atol=1e-9)
    # it integrates to one over the 1-simplex: dy_1 = y_1 y_2 dz
    total = torch.trapezoid(torch.exp(log_q) * y[:, 0] * y[:, 1], z)
    assert total.item() == pytest.approx(1.0, abs=1e-6)


def test_concrete_density_for_three_labels_integrates_to_one():
    # y = softmax(0, z_2, z_3): the Jacobian of (y_2, y_3) w.r.t. (z_2, z_3) is y_1 y_2 y_3.
    logits = torch.tensor([0.5, -1.0, 0.2], dtype=F64)
    tau = 0.8
    grid = torch.linspace(-45, 45, 901, dtype=F64)
    z2, z3 = torch.meshgrid(grid, grid, indexing="ij")
    y = torch.softmax(torch.stack([torch.zeros_like(z2), z2, z3], -1), -1)
    density = torch.exp(concrete_log_density(y, logits, tau)) * y.prod(-1)
    total = torch.trapezoid(torch.trapezoid(density, grid, dim=-1), grid)
    assert total.item() == pytest.approx(1.0, abs=1e-4)


def test_concrete_density_gives_eq_11_literally():
    # Eq. 11 taken literally: E_{y ~ q}[grad log q(y) f(y)] is the gradient of E_q[f], the same quantity the
    # pathwise estimator is unbiased for; both differ from the exact gradient of E_p[f] for tau > 0.
    tau, n = 1.0, 40000
    theta = LOGITS.expand(n, 4).clone().requires_grad_(True)
    y = concrete_sample(theta, tau, generator=gen(4))
    f = linear_reward(y)
    (path,) = torch.autograd.grad(f.mean(), theta)
    log_q = concrete_log_density(y.detach(), theta, tau)
    (score,) = torch.autograd.grad((log_q * (f.detach() - f.detach().mean())).mean(), theta)
    path, score = path * n, score * n
    se = torch.sqrt(score.var(0) / n + path.var(0) / n)
    assert ((score.mean(0) - path.mean(0)).abs() < 4 * se).all()


# ------------------------------------------------------------------------------------------------------
# Estimators against the exact gradient
# ------------------------------------------------------------------------------------------------------


def test_expected_reward_and_exact_gradient():
    p = torch.softmax(LOGITS, -1)
    assert expected_reward(LOGITS[None], C[None]).item() == pytest.approx(float(p @ C), rel=1e-12)
    g = exact_gradient(LOGITS[None], C[None])
    assert g.shape == (1, 4) and not g.requires_grad
    torch.testing.assert_close(g[0], p * (C - p @ C))


@pytest.mark.parametrize("reward", sorted(REWARDS))
@pytest.mark.parametrize("baseline", ["none", "mean"])
def test_score_function_is_unbiased(reward, baseline):
    reward_fn, per_label = REWARDS[reward]
    exact = exact_gradient(LOGITS[None], per_label[None])[0]
    g = per_sample_gradients("score", reward_fn, baseline=baseline)
    se = g.std(0) / math.sqrt(g.shape[0])
    assert ((g.mean(0) - exact).abs() < 4 * se).all(), (g.mean(0), exact, se)


@pytest.mark.parametrize("baseline", ["none", "mean"])
def test_score_function_gradient_formula_and_leave_one_out_baseline(baseline):
    # d loss / d logits_b = (1 / B) (one_hot(y_b) - p_b) (r_b - b_b), b_b = mean of the *other* rows' rewards
    logits = torch.randn(3, 4, generator=gen(), dtype=F64).requires_grad_(True)
    rewards = torch.tensor([1.0, -2.0, 4.0], dtype=F64)
    s = adversarial_surrogate(
        logits, lambda y: rewards + 0 * y.sum(-1), estimator="score", generator=gen(1), baseline=baseline
    )
    s.loss.backward()
    baselines = (rewards.sum() - rewards) / 2 if baseline == "mean" else torch.zeros(3, dtype=F64)
    expected = (s.sample - torch.softmax(logits.detach(), -1)) * (rewards - baselines)[:, None] / 3
    torch.testing.assert_close(logits.grad, expected)
    assert s.value.item() == pytest.approx(1.0)


@pytest.mark.parametrize("reward", sorted(REWARDS))
def test_leave_one_out_baseline_reduces_variance(reward):
    reward_fn, _ = REWARDS[reward]
    var_none = per_sample_gradients("score", reward_fn, baseline="none").var(0).sum()
    var_mean = per_sample_gradients("score", reward_fn, baseline="mean").var(0).sum()
    assert var_mean < 0.5 * var_none  # measured: 0.70 -> 0.21 (linear), 0.63 -> 0.26 (nonlinear)


def test_pathwise_bias_shrinks_as_tau_goes_to_zero():
    exact = exact_gradient(LOGITS[None], C[None])[0]
    n = 200_000
    biases, ses = [], []
    for tau in (2.0, 1.0, 0.5, 0.1):
        g = per_sample_gradients("pathwise", linear_reward, tau=tau, n=n)
        biases.append((g.mean(0) - exact).norm().item())
        ses.append((g.std(0) / math.sqrt(n)).norm().item())
    # measured: 0.080, 0.038, 0.014, 0.003 (standard error at tau = 0.1: 0.002)
    assert all(a > b for a, b in pairwise(biases)), biases
    assert biases[0] > 20 * ses[0]  # the bias at tau = 2 is real, not noise
    assert biases[-1] < biases[0] / 10


def test_pathwise_at_high_tau_has_lower_variance_than_score():
    var_score = per_sample_gradients("score", linear_reward, baseline="mean").var(0).sum()
    var_path = per_sample_gradients("pathwise", linear_reward, tau=1.0).var(0).sum()
    assert var_path < var_score


@pytest.mark.parametrize("reward", sorted(REWARDS))
def test_straight_through_gives_finite_gradients(reward):
    reward_fn, _ = REWARDS[reward]
    g = per_sample_gradients("straight_through", reward_fn, tau=0.5, n=2000)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_surrogate_fields(estimator):
    logits = torch.randn(8, 5, generator=gen())
    s = adversarial_surrogate(logits.requires_grad_(True), lambda y: y[:, 0] - 1.0, estimator=estimator, tau=0.5)
    assert isinstance(s, Surrogate)
    assert s.loss.shape == () and s.loss.requires_grad
    assert s.value.shape == () and not s.value.requires_grad
    assert s.sample.shape == (8, 5) and not s.sample.requires_grad and s.sample.dtype == torch.float32
    torch.testing.assert_close(s.sample.sum(-1), torch.ones(8))
    if estimator in ("score", "straight_through"):  # one-hot; pathwise and concrete_score are relaxed
        assert ((s.sample == 0) | (s.sample == 1)).all()
    else:
        assert (s.sample > 0).all() and (s.sample < 1).all()
    assert s.value.item() == pytest.approx((s.sample[:, 0] - 1.0).mean().item(), abs=1e-6)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_surrogate_accepts_one_dimensional_logits(estimator):
    theta = LOGITS.clone().requires_grad_(True)
    s = adversarial_surrogate(theta, linear_reward, estimator=estimator, generator=gen(), baseline="mean")
    assert s.sample.shape == (4,)
    s.loss.backward()
    assert theta.grad.shape == (4,) and torch.isfinite(theta.grad).all()
    # a scalar reward is accepted for one-dimensional logits
    s = adversarial_surrogate(LOGITS, lambda y: (y @ C).sum(), estimator=estimator, generator=gen())
    assert s.value.shape == ()


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_surrogate_accepts_groups_of_rows(estimator):
    # (G, B, K) logits are G * B rows (same draws as the 2-D call with the same generator); the reward sees 2-D rows
    logits = torch.randn(2, 3, 4, generator=gen(), dtype=F64)
    seen = []

    def reward(y):
        seen.append(tuple(y.shape))
        return nonlinear_reward(y)

    grouped = logits.clone().requires_grad_(True)
    s = adversarial_surrogate(grouped, reward, estimator=estimator, tau=0.7, generator=gen(3))
    s.loss.backward()
    flat = logits.reshape(6, 4).clone().requires_grad_(True)
    t = adversarial_surrogate(flat, nonlinear_reward, estimator=estimator, tau=0.7, generator=gen(3))
    t.loss.backward()
    assert seen == [(6, 4)]
    assert s.sample.shape == (2, 3, 4) and torch.equal(s.sample.reshape(6, 4), t.sample)
    assert s.value.shape == () and s.value.item() == pytest.approx(t.value.item())
    torch.testing.assert_close(grouped.grad.reshape(6, 4), flat.grad)


def test_grouped_leave_one_out_baseline_stays_within_each_group():
    logits = torch.randn(2, 3, 4, generator=gen(), dtype=F64).requires_grad_(True)
    rewards = torch.tensor([1.0, -2.0, 4.0, 10.0, 20.0, 30.0], dtype=F64)
    s = adversarial_surrogate(
        logits, lambda y: rewards + 0 * y.sum(-1), estimator="score", generator=gen(1), baseline="mean"
    )
    s.loss.backward()
    groups = rewards.reshape(2, 3)
    baselines = (groups.sum(-1, keepdim=True) - groups) / 2  # the mean of the other two rows of the same group
    expected = (s.sample - torch.softmax(logits.detach(), -1)) * (groups - baselines)[..., None] / 6
    torch.testing.assert_close(logits.grad, expected)
    # groups of one row have no other row: no baseline, as for a batch of one
    single = torch.randn(4, 1, 4, generator=gen(2), dtype=F64).requires_grad_(True)
    loss = adversarial_surrogate(single, nonlinear_reward, estimator="score", generator=gen(5), baseline="mean").loss
    loss.backward()
    plain = single.detach().clone().requires_grad_(True)
    adversarial_surrogate(plain, nonlinear_reward, estimator="score", generator=gen(5)).loss.backward()
    torch.testing.assert_close(single.grad, plain.grad)


def test_grouped_surrogate_rejects_a_reward_per_group():
    with pytest.raises(ValueError, match=r"shape \(G \* B,\) = \(6,\)"):
        adversarial_surrogate(LOGITS.expand(2, 3, 4), lambda y: (y @ C)[:2], estimator="score")


def test_surrogate_is_reproducible_with_a_generator():
    a = adversarial_surrogate(LOGITS.expand(16, 4), linear_reward, estimator="pathwise", generator=gen(9))
    b = adversarial_surrogate(LOGITS.expand(16, 4), linear_reward, estimator="pathwise", generator=gen(9))
    assert torch.equal(a.sample, b.sample)


# ------------------------------------------------------------------------------------------------------
# The concrete score: Eq. 11 taken literally
# ------------------------------------------------------------------------------------------------------


def concrete_expectation_gradient(reward_fn, tau: float, n: int = 200_000, seed: int = 7) -> torch.Tensor:
    """(n, K) pathwise per-sample gradients of E_{y ~ q_tau}[f(y)]: unbiased for it (f is differentiable in y)."""
    theta = LOGITS.expand(n, 4).clone().requires_grad_(True)
    y = concrete_sample(theta, tau, generator=gen(seed))
    (grad,) = torch.autograd.grad(reward_fn(y).mean(), theta)
    return grad * n


@pytest.mark.parametrize("reward", sorted(REWARDS))
@pytest.mark.parametrize("baseline", ["none", "mean"])
def test_concrete_score_is_unbiased_for_the_concrete_expectation_not_the_categorical_one(reward, baseline):
    # E_{y ~ q_tau}[f(y) grad log q_tau(y)] = grad E_{y ~ q_tau}[f(y)]: compared with an independent pathwise
    # average of the same gradient. Both means are averages of 200,000 independent draws, so by the central limit
    # theorem their difference is normal with the summed squared standard errors: 4 standard errors per
    # coordinate fail with probability below 3e-4 (K = 4 coordinates) if the estimator is unbiased.
    reward_fn, per_label = REWARDS[reward]
    tau, n = 1.0, 200_000
    g = per_sample_gradients("concrete_score", reward_fn, tau=tau, baseline=baseline, n=n)
    path = concrete_expectation_gradient(reward_fn, tau, n=n)
    se = torch.sqrt(g.var(0) / n + path.var(0) / n)
    assert ((g.mean(0) - path.mean(0)).abs() < 4 * se).all(), (g.mean(0), path.mean(0), se)
    # ... and at tau = 1 the concrete expectation's gradient is not the categorical one: the mean is many
    # standard errors away from exact_gradient (the bias the estimator shares with pathwise; measured: 12 and
    # 58 standard errors for the linear and nonlinear rewards without a baseline, 38 and 105 with it)
    exact = exact_gradient(LOGITS[None], per_label[None])[0]
    assert (g.mean(0) - exact).norm() > 6 * (g.std(0) / math.sqrt(n)).norm()


@pytest.mark.parametrize("tau", [0.05, 5.0])
def test_concrete_score_is_one_minus_k_times_a_flat_dirichlet_vector(tau):
    # with a constant reward 1 and no baseline the per-row gradient is the score d log q / d logits at the sample,
    # which is 1 - K softmax(-g) for the sample's Gumbel noise g (the estimator's first draw from the generator):
    # the same whatever tau and the logits
    n = 40_000
    g = per_sample_gradients("concrete_score", lambda y: torch.ones(y.shape[0], dtype=y.dtype), tau=tau, n=n)
    noise = sample_gumbel((n, 4), generator=gen(1), dtype=F64)
    torch.testing.assert_close(g, 1 - 4 * torch.softmax(-noise, -1), rtol=1e-9, atol=1e-9)
    # softmax(-g) is flat-Dirichlet (exp(-g) is Exp(1)): each coordinate of the score has variance
    # K^2 Var(Dir_k) = (K - 1) / (K + 1); the sample variance of n draws is within 5 standard errors of it
    k = 4
    expected = (k - 1) / (k + 1)
    fourth = ((g - g.mean(0)) ** 4).mean(0)
    se = torch.sqrt((fourth - g.var(0) ** 2) / n)
    assert ((g.var(0) - expected).abs() < 5 * se).all(), (g.var(0), expected, se)


@pytest.mark.parametrize("reward", sorted(REWARDS))
def test_concrete_score_variance_stays_finite_as_tau_falls_where_the_pathwise_one_grows(reward):
    reward_fn, _ = REWARDS[reward]
    taus = (1.0, 0.1, 0.01, 0.001)
    score = {t: per_sample_gradients("concrete_score", reward_fn, tau=t, n=50_000) for t in taus}
    path = {t: per_sample_gradients("pathwise", reward_fn, tau=t, n=50_000) for t in taus}
    var = {t: float(g.var(0).sum()) for t, g in score.items()}
    var_path = {t: float(g.var(0).sum()) for t, g in path.items()}
    assert all(torch.isfinite(g).all() for g in score.values())
    # measured (linear / nonlinear reward): 2.36 / 4.39 at tau = 0.1, 2.41 / 4.69 at tau = 0.001 (a limit);
    # pathwise: 0.74 / 3.04 at tau = 0.1, 77 / 388 at tau = 0.001 (growing like 1 / tau)
    assert var[0.001] < 1.25 * var[0.1]
    assert var_path[0.001] > 50 * var_path[0.1]
    # at the end of the paper's schedule (tau = 0.1) the literal Eq. 11 estimator is the noisier one; the
    # pathwise variance passes it only at smaller temperatures
    assert var[0.1] > var_path[0.1]
    assert var_path[0.001] > var[0.001]
    # and it is noisier than the categorical score function (REINFORCE) at every temperature
    categorical = float(per_sample_gradients("score", reward_fn, n=50_000).var(0).sum())
    assert min(var.values()) > 2 * categorical


def test_concrete_score_stays_finite_in_float32_where_relaxed_samples_underflow():
    # at tau = 0.01 most float32 relaxed samples have coordinates that are exactly 0, where the density computed
    # from y itself is not finite; the estimator draws log y in log space and stays finite
    tau, n = 0.01, 4000
    logits = (4 * torch.randn(n, 5, generator=gen(2))).requires_grad_(True)
    y = concrete_sample(logits.detach(), tau, generator=gen(3))
    assert (y == 0).any(-1).float().mean() > 0.5
    naive = torch.autograd.grad(concrete_log_density(y, logits, tau).sum(), logits)[0]
    assert not torch.isfinite(naive).all()
    s = adversarial_surrogate(logits, lambda y: y[:, 0] - 1.0, estimator="concrete_score", tau=tau, generator=gen(3))
    s.loss.backward()
    assert torch.isfinite(logits.grad).all() and torch.isfinite(s.loss)
    # the same Gumbel noise: the estimator's relaxed sample is the concrete sample drawn from the same generator
    torch.testing.assert_close(s.sample, y, rtol=1e-4, atol=1e-30)


def test_log_concrete_sample_and_density_from_log():
    tau = 0.7
    log_y = log_concrete_sample(LOGITS.expand(5, 4), tau, generator=gen(4))
    torch.testing.assert_close(log_y.exp(), concrete_sample(LOGITS.expand(5, 4), tau, generator=gen(4)))
    torch.testing.assert_close(
        concrete_log_density_from_log(log_y, LOGITS, tau), concrete_log_density(log_y.exp(), LOGITS, tau)
    )
    with pytest.raises(ValueError, match="tau must be > 0"):
        log_concrete_sample(LOGITS, -1.0)
    with pytest.raises(ValueError, match="same number of labels"):
        concrete_log_density_from_log(torch.zeros(3), LOGITS, tau)
    with pytest.raises(ValueError, match="y must be a floating-point tensor"):
        concrete_log_density_from_log(torch.zeros(4, dtype=torch.long), LOGITS, tau)


# ------------------------------------------------------------------------------------------------------
# Schedules
# ------------------------------------------------------------------------------------------------------


def test_paper_schedule_goes_from_ten_to_one_tenth_geometrically():
    values = PAPER_SCHEDULE.values(50)
    assert values[0] == 10.0
    assert values[-1] == pytest.approx(0.1, rel=1e-12)
    ratios = [b / a for a, b in pairwise(values)]
    assert ratios == pytest.approx([ratios[0]] * len(ratios), rel=1e-9)


def test_kdgan_schedule_multiplies_by_0_88_per_step():
    values = KDGAN_SCHEDULE.values(60)
    assert values[0] == 10.0
    assert values[1:5] == pytest.approx([10.0 * 0.88**k for k in range(1, 5)], rel=1e-12)
    assert min(values) == 0.1 and values[-1] == 0.1  # floored at the end temperature


def test_temperature_schedule_constructor():
    assert temperature_schedule() == PAPER_SCHEDULE
    assert temperature_schedule("step") == KDGAN_SCHEDULE
    assert temperature_schedule("constant", start=0.5).values(3) == [0.5, 0.5, 0.5]
    assert isinstance(temperature_schedule("linear", 2.0, 1.0), TemperatureSchedule)
    with pytest.raises(ValueError, match="kind must be one of"):
        temperature_schedule("cosine")
    with pytest.raises(ValueError, match="tau end must be > 0"):
        temperature_schedule(end=0.0)


# ------------------------------------------------------------------------------------------------------
# Bad arguments
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"estimator": "reinforce"}, "estimator must be one of score, pathwise, straight_through"),
        ({"estimator": "score", "baseline": "exact"}, "baseline must be one of none, mean"),
        ({"estimator": "pathwise", "tau": 0.0}, r"tau must be > 0"),
        ({"estimator": "pathwise", "tau": -1.0}, r"tau must be > 0"),
        ({"estimator": "pathwise", "tau": float("nan")}, "tau must be a finite real number"),
        ({"estimator": "pathwise", "tau": float("inf")}, "tau must be a finite real number"),
        ({"estimator": "score", "tau": "1"}, "tau must be a finite real number"),
        ({"estimator": "concrete_score", "tau": 0.0}, r"tau must be > 0"),
        ({"estimator": "concrete_score", "baseline": "batch"}, "baseline must be one of none, mean"),
        ({"estimator": "concrete score"}, "estimator must be one of score, pathwise, straight_through, concrete_score"),
    ],
)
def test_surrogate_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        adversarial_surrogate(LOGITS.expand(3, 4), linear_reward, **kwargs)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_surrogate_rejects_bad_reward_shapes(estimator):
    logits = LOGITS.expand(3, 4)
    for bad in (lambda y: y, lambda y: y.sum(), lambda y: (y @ C)[:2], lambda y: (y @ C)[:, None]):
        with pytest.raises(ValueError, match=r"shape \(B,\) = \(3,\)"):
            adversarial_surrogate(logits, bad, estimator=estimator)
    with pytest.raises(ValueError, match="floating-point tensor of shape"):
        adversarial_surrogate(logits, lambda y: [0.0, 0.0, 0.0], estimator=estimator)


@pytest.mark.parametrize(
    ("logits", "match"),
    [
        (torch.zeros(3, 1), "label\\) dimension of size >= 2"),
        (torch.zeros(1), "label\\) dimension of size >= 2"),
        (torch.zeros(3, 4, dtype=torch.long), "floating-point tensor"),
        (torch.zeros(2, 2, 3, 4), r"shape \(G, B, K\), \(B, K\) or \(K,\)"),
        ([0.0, 1.0], "must be a torch.Tensor"),
    ],
)
def test_surrogate_rejects_bad_logits(logits, match):
    with pytest.raises(ValueError, match=match):
        adversarial_surrogate(logits, lambda y: y[:, 0], estimator="score")


def test_samplers_reject_bad_arguments():
    with pytest.raises(ValueError, match="tau must be > 0"):
        concrete_sample(LOGITS, 0.0)
    with pytest.raises(ValueError, match="tau must be a finite real number"):
        straight_through_sample(LOGITS, float("nan"))
    with pytest.raises(ValueError, match="size >= 2"):
        categorical_sample(torch.zeros(5, 1))
    with pytest.raises(ValueError, match="same number of labels"):
        concrete_log_density(torch.full((3,), 1 / 3), torch.zeros(4), 1.0)
    with pytest.raises(ValueError, match="shape of logits"):
        expected_reward(torch.zeros(2, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="floating-point torch.dtype"):
        sample_gumbel(3, dtype=torch.int64)
