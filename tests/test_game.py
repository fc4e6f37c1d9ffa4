"""Tests of advdist_lab.theory.solver, .dynamics and .trajectory: closed-form gradients against autograd,
convergence of the exact games (TPAMI Theorems 4.2 and 4.4, KD's inherited error, NGAN), trajectory records and
argument checks."""

from __future__ import annotations

import math

import pytest
import torch

from advdist_lab import theory as T
from advdist_lab.hparams import GameHParams
from advdist_lab.theory.dynamics import game_gradients
from advdist_lab.theory.solver import solve_game, sweep_game
from advdist_lab.theory.trajectory import GameTrajectory

F64 = torch.float64
LOG4 = math.log(4.0)

P_R = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]], dtype=F64)
# A teacher that is wrong about both contexts.
P_T_WRONG = torch.tensor([[0.2, 0.2, 0.6], [0.5, 0.25, 0.25]], dtype=F64)
# ADIB initialisation with the student and the teacher on different sides of p_r.
P_S0 = torch.tensor([[0.8, 0.1, 0.1], [0.6, 0.2, 0.2]], dtype=F64)
P_T0 = torch.tensor([[0.1, 0.6, 0.3], [0.1, 0.1, 0.8]], dtype=F64)
OMEGA_ADIM = (0.2, 0.3, 0.5)
OMEGA_ADIB = (0.4, 0.6)

LEARNED_MODES = [("learned", "alternating"), ("learned", "simultaneous"), ("optimal", "alternating")]


# ------------------------------------------------------------------------------------------------------
# game_gradients against autograd of the theory value functions
# ------------------------------------------------------------------------------------------------------


def _autograd_value(method, p_r, th_s, th_t, phi, omega, nu, mu, upsilon, p_teacher):
    p_s = torch.softmax(th_s, -1)
    if method == "kd":
        return T.kd_loss(p_teacher, p_s, p_r, upsilon, reduction="none").sum()
    if method == "ngan":
        return T.ngan_value(p_r, p_s, torch.sigmoid(phi), reduction="none").sum()
    p_t = torch.softmax(th_t, -1)
    if method == "adib":
        d = torch.sigmoid(phi)
        return T.adib_value(p_r, p_s, p_t, d, *omega, nu, mu, upsilon, reduction="none").sum()
    d = torch.softmax(phi, 0)
    return T.adim_value(p_r, p_s, p_t, d, omega, nu, mu, upsilon, reduction="none").sum()


@pytest.mark.parametrize("shape", [(3,), (2, 4), (2, 3, 5)])
@pytest.mark.parametrize("method", ["kd", "ngan", "adib", "adim"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_game_gradients_match_autograd(method, shape, seed):
    g = torch.Generator().manual_seed(seed)
    p_r = torch.softmax(torch.randn(shape, generator=g, dtype=F64), -1)
    p_teacher = torch.softmax(torch.randn(shape, generator=g, dtype=F64), -1)
    th_s = (1.5 * torch.randn(shape, generator=g, dtype=F64)).requires_grad_()
    th_t = (1.5 * torch.randn(shape, generator=g, dtype=F64)).requires_grad_()
    phi_shape = (3, *shape) if method == "adim" else shape
    phi = (1.5 * torch.randn(phi_shape, generator=g, dtype=F64)).requires_grad_()
    nu, mu, upsilon = 0.7, 1.3, 0.4
    omega = {"adim": OMEGA_ADIM, "adib": OMEGA_ADIB}.get(method)
    kwargs = {"upsilon": upsilon}
    if method in ("adib", "adim"):
        kwargs.update(omega=omega, nu=nu, mu=mu)

    value = _autograd_value(method, p_r, th_s, th_t, phi, omega, nu, mu, upsilon, p_teacher)
    leaves = {"student": th_s}
    if method in ("adib", "adim"):
        leaves["teacher"] = th_t
    if method != "kd":
        leaves["discriminator"] = phi
    auto = dict(zip(leaves, torch.autograd.grad(value, list(leaves.values())), strict=True))

    closed = game_gradients(
        p_r,
        method,
        th_s.detach(),
        th_t.detach() if method in ("adib", "adim") else None,
        phi.detach() if method != "kd" else None,
        p_teacher=p_teacher if method == "kd" else None,
        **kwargs,
    )
    assert set(closed) == set(auto)
    for name, grad in auto.items():
        assert closed[name].shape == grad.shape, name
        assert closed[name].dtype == F64
        assert torch.allclose(closed[name], grad, atol=1e-10, rtol=0), (name, (closed[name] - grad).abs().max())
        assert grad.abs().max() > 1e-4, name  # the comparison is not vacuous


@pytest.mark.parametrize("method", ["adib", "adim"])
def test_game_gradients_distillation_terms_matter(method):
    # Nonzero nu, mu, upsilon change the generators' gradients (so the autograd test above exercises them).
    g = torch.Generator().manual_seed(3)
    th_s, th_t = torch.randn(2, 3, generator=g, dtype=F64), torch.randn(2, 3, generator=g, dtype=F64)
    phi = torch.randn((3, 2, 3) if method == "adim" else (2, 3), generator=g, dtype=F64)
    plain = game_gradients(P_R, method, th_s, th_t, phi)
    weighted = game_gradients(P_R, method, th_s, th_t, phi, nu=1.0, mu=1.0, upsilon=1.0)
    for player in ("student", "teacher"):
        assert (plain[player] - weighted[player]).abs().max() > 1e-3
    assert torch.equal(plain["discriminator"], weighted["discriminator"])


def test_game_gradients_bad_method():
    with pytest.raises(ValueError, match=r"method must be one of"):
        game_gradients(P_R, "gan", torch.zeros(2, 3, dtype=F64))


# ------------------------------------------------------------------------------------------------------
# Convergence of the games
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("discriminator", "mode"), LEARNED_MODES)
def test_adim_without_distillation_drives_both_players_to_real(discriminator, mode):
    # Theorem 4.4: the unique equilibrium of ADIM is p_s = p_t = p_r, even with nu = mu = 0.
    traj = solve_game(P_R, "adim", omega=OMEGA_ADIM, steps=1000, lr=0.5, mode=mode, discriminator=discriminator)
    assert traj.kl_to_real("student")[0] > 1e-2  # started away from p_r
    assert traj.kl_to_real("student")[-1] < 1e-6
    assert traj.kl_to_real("teacher")[-1] < 1e-6
    assert traj.equilibrium_value == pytest.approx(T.adim_equilibrium_value(OMEGA_ADIM), abs=1e-15)
    assert abs(traj.value[-1].item() - traj.equilibrium_value) < 1e-6
    assert abs(traj.optimal_value[-1].item() - traj.equilibrium_value) < 1e-6
    assert torch.allclose(traj.p_s[-1], P_R, atol=1e-3, rtol=0)
    if discriminator == "learned":
        # the learned discriminator approaches D* = omega at the equilibrium
        expected = torch.tensor(OMEGA_ADIM, dtype=F64).view(3, 1, 1).expand(3, *P_R.shape)
        assert torch.allclose(traj.d[-1], expected, atol=1e-3, rtol=0)


@pytest.mark.parametrize(("discriminator", "mode"), LEARNED_MODES)
def test_adib_without_distillation_only_matches_the_mixture(discriminator, mode):
    # Theorem 4.2 needs the distillation terms: with nu = mu = 0 only omega_s p_s + omega_t p_t = p_r is forced.
    traj = solve_game(P_R, "adib", steps=600, lr=0.5, mode=mode, discriminator=discriminator, p_s0=P_S0, p_t0=P_T0)
    assert traj.kl_to_real("mixture")[0] > 1e-3
    assert traj.kl_to_real("mixture")[-1] < 1e-6
    tv_between = (0.5 * (traj.p_s[-1] - traj.p_t[-1]).abs().sum(-1)).min()
    assert tv_between > 0.05
    assert traj.kl_to_real("student")[-1] > 1e-2
    assert traj.kl_to_real("teacher")[-1] > 1e-2
    assert abs(traj.value[-1].item() - (-LOG4)) < 1e-6


@pytest.mark.parametrize(("discriminator", "mode"), LEARNED_MODES)
def test_adib_with_distillation_drives_both_players_to_real(discriminator, mode):
    traj = solve_game(
        P_R, "adib", nu=1.0, mu=1.0, steps=600, lr=0.5, mode=mode, discriminator=discriminator, p_s0=P_S0, p_t0=P_T0
    )
    assert traj.kl_to_real("student")[-1] < 1e-6
    assert traj.kl_to_real("teacher")[-1] < 1e-6
    assert traj.total_variation("student")[-1] < 1e-3
    assert traj.equilibrium_value == pytest.approx(-LOG4, abs=1e-15)
    assert abs(traj.value[-1].item() - traj.equilibrium_value) < 1e-6


@pytest.mark.parametrize("upsilon", [0.0, 1.0])
def test_kd_converges_to_optimal_student_not_to_real(upsilon):
    traj = solve_game(P_R, "kd", upsilon=upsilon, steps=300, lr=0.5, p_t0=P_T_WRONG)
    q_star = T.kd_optimal_student(P_R, P_T_WRONG, upsilon)
    assert torch.allclose(traj.p_s[-1], q_star, atol=1e-8, rtol=0)
    assert traj.kl_to_real("student")[-1] > 0.05  # a KD student inherits its teacher's error
    assert torch.equal(traj.p_t[0], traj.p_t[-1])  # the teacher is fixed
    assert torch.allclose(traj.p_t[-1], P_T_WRONG, atol=1e-15, rtol=0)
    assert traj.d is None
    expected_eq = T.kd_loss(P_T_WRONG, q_star, P_R, upsilon).item()
    assert traj.equilibrium_value == pytest.approx(expected_eq, abs=1e-12)
    assert abs(traj.value[-1].item() - traj.equilibrium_value) < 1e-10


@pytest.mark.parametrize(("discriminator", "mode"), LEARNED_MODES)
def test_ngan_reaches_real(discriminator, mode):
    traj = solve_game(P_R, "ngan", steps=500, lr=0.5, mode=mode, discriminator=discriminator)
    assert traj.kl_to_real("student")[0] > 1e-2
    assert traj.kl_to_real("student")[-1] < 1e-6
    assert traj.p_t is None
    assert abs(traj.value[-1].item() - T.ngan_equilibrium_value()) < 1e-6
    # D* = 1/2 at the equilibrium
    assert torch.allclose(traj.d[-1], torch.full_like(P_R, 0.5), atol=1e-3, rtol=0)


def test_alternating_with_several_discriminator_steps_converges():
    traj = solve_game(P_R, "adim", steps=600, lr=0.5, lr_d=0.5, d_steps=3, mode="alternating")
    assert traj.kl_to_real("student")[-1] < 1e-5
    assert traj.kl_to_real("teacher")[-1] < 1e-5


@pytest.mark.parametrize("method", ["ngan", "adib", "adim"])
def test_recorded_values_match_theory(method):
    omega = {"adim": OMEGA_ADIM, "adib": OMEGA_ADIB}.get(method)
    kwargs = {} if method == "ngan" else {"omega": omega, "nu": 0.5, "mu": 0.25, "upsilon": 0.5}
    traj = solve_game(P_R, method, steps=20, lr=0.3, record_every=5, **kwargs)
    for k in range(len(traj.steps)):
        p_s, d = traj.p_s[k], traj.d[k]
        if method == "ngan":
            value = T.ngan_value(P_R, p_s, d)
            optimal = T.ngan_optimal_value(P_R, p_s)
        elif method == "adib":
            value = T.adib_value(P_R, p_s, traj.p_t[k], d, *omega, 0.5, 0.25, 0.5)
            optimal = T.adib_optimal_value(P_R, p_s, traj.p_t[k], *omega, 0.5, 0.25, 0.5)
        else:
            value = T.adim_value(P_R, p_s, traj.p_t[k], d, omega, 0.5, 0.25, 0.5)
            optimal = T.adim_optimal_value(P_R, p_s, traj.p_t[k], omega, 0.5, 0.25, 0.5)
        assert traj.value[k].item() == pytest.approx(value.item(), abs=1e-12)
        assert traj.optimal_value[k].item() == pytest.approx(optimal.item(), abs=1e-12)
        assert traj.optimal_value[k].item() >= traj.value[k].item() - 1e-12  # D* maximises (Lemmas 4.1, 4.3)


@pytest.mark.parametrize("method", ["ngan", "adib", "adim"])
def test_optimal_discriminator_records_optimal_value(method):
    traj = solve_game(P_R, method, steps=30, lr=0.5, discriminator="optimal")
    assert torch.allclose(traj.value, traj.optimal_value, atol=1e-12, rtol=0)


# ------------------------------------------------------------------------------------------------------
# Trajectory records, determinism, steps_to_reach
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "record_every", "expected"),
    [(10, 3, [0, 3, 6, 9, 10]), (10, 5, [0, 5, 10]), (10, 1, list(range(11))), (4, 100, [0, 4]), (1, 1, [0, 1])],
)
def test_record_steps(steps, record_every, expected):
    traj = solve_game(P_R, "adim", steps=steps, lr=0.1, record_every=record_every)
    assert traj.steps.tolist() == expected


@pytest.mark.parametrize("method", ["kd", "ngan", "adib", "adim"])
def test_trajectory_shapes(method):
    p_r = T.random_distributions(4, 5, seed=1)
    kwargs = {"p_t0": T.random_distributions(4, 5, seed=2)} if method == "kd" else {}
    traj = solve_game(p_r, method, steps=10, lr=0.1, record_every=3, **kwargs)
    n = 5
    assert isinstance(traj, GameTrajectory)
    assert traj.method == method
    assert isinstance(traj.hparams, GameHParams) and traj.hparams.method == method
    assert traj.mode == "alternating"
    assert torch.equal(traj.p_r, p_r)
    assert tuple(traj.steps.shape) == (n,)
    assert tuple(traj.p_s.shape) == (n, 4, 5)
    assert tuple(traj.value.shape) == (n,)
    assert tuple(traj.optimal_value.shape) == (n,)
    assert tuple(traj.kl_to_real().shape) == (n,)
    assert tuple(traj.total_variation().shape) == (n,)
    assert torch.allclose(traj.p_s.sum(-1), torch.ones(n, 4, dtype=F64), atol=1e-12, rtol=0)
    if method == "ngan":
        assert traj.p_t is None
    else:
        assert tuple(traj.p_t.shape) == (n, 4, 5)
    if method == "kd":
        assert traj.d is None
    elif method == "adim":
        assert tuple(traj.d.shape) == (n, 3, 4, 5)
        assert torch.allclose(traj.d.sum(1), torch.ones(n, 4, 5, dtype=F64), atol=1e-12, rtol=0)
    else:
        assert tuple(traj.d.shape) == (n, 4, 5)
        assert ((traj.d > 0) & (traj.d < 1)).all()


def test_trajectory_keeps_float32():
    traj = solve_game(P_R.float(), "adim", steps=5, lr=0.1)
    assert traj.p_s.dtype == torch.float32
    assert traj.d.dtype == torch.float32


def test_initial_players_are_used():
    traj = solve_game(P_R, "adib", steps=3, lr=0.1, p_s0=P_S0, p_t0=P_T0)
    assert torch.allclose(traj.p_s[0], P_S0, atol=1e-15, rtol=0)
    assert torch.allclose(traj.p_t[0], P_T0, atol=1e-15, rtol=0)
    assert not torch.allclose(traj.p_s[1], P_S0, atol=1e-6, rtol=0)  # and then they move


def test_learned_discriminator_starts_uninformed():
    traj = solve_game(P_R, "adim", steps=2, lr=0.1)
    assert torch.allclose(traj.d[0], torch.full((3, *P_R.shape), 1 / 3, dtype=F64), atol=1e-15, rtol=0)
    traj = solve_game(P_R, "ngan", steps=2, lr=0.1)
    assert torch.allclose(traj.d[0], torch.full(P_R.shape, 0.5, dtype=F64), atol=1e-15, rtol=0)


@pytest.mark.parametrize("mode", ["alternating", "simultaneous"])
@pytest.mark.parametrize("method", ["ngan", "adib", "adim"])
def test_deterministic_in_seed(method, mode):
    a = solve_game(P_R, method, steps=50, lr=0.3, mode=mode, seed=5)
    b = solve_game(P_R, method, steps=50, lr=0.3, mode=mode, seed=5)
    c = solve_game(P_R, method, steps=50, lr=0.3, mode=mode, seed=6)
    assert torch.allclose(a.p_s, b.p_s, atol=1e-6)  # the float32 tensor carries 0.2 to 7 digits
    assert torch.equal(a.d, b.d)
    assert torch.equal(a.value, b.value)
    if method != "ngan":
        assert torch.equal(a.p_t, b.p_t)
        assert not torch.allclose(a.p_t[0], c.p_t[0])
    assert not torch.allclose(a.p_s[0], c.p_s[0])


def test_modes_differ():
    a = solve_game(P_R, "adim", steps=50, lr=0.3, mode="alternating", seed=1)
    b = solve_game(P_R, "adim", steps=50, lr=0.3, mode="simultaneous", seed=1)
    assert torch.equal(a.p_s[0], b.p_s[0])
    assert not torch.allclose(a.p_s[-1], b.p_s[-1], atol=1e-12, rtol=0)


def test_init_scale_controls_spread():
    narrow = solve_game(P_R, "adim", steps=1, init_scale=0.01, seed=0)
    wide = solve_game(P_R, "adim", steps=1, init_scale=3.0, seed=0)
    uniform = torch.full_like(P_R, 1 / 3)
    assert (narrow.p_s[0] - uniform).abs().max() < 0.02
    assert (wide.p_s[0] - uniform).abs().max() > 0.1


def test_steps_to_reach_semantics():
    traj = solve_game(P_R, "adim", steps=800, lr=0.5, record_every=10)
    kl = traj.kl_to_real("student")
    for tol in (1e-2, 1e-4, 1e-5, 1e-6):
        step = traj.steps_to_reach(tol)
        assert step is not None and 0 < step < 800
        idx = traj.steps.tolist().index(step)
        assert (kl[idx:] < tol).all()
        assert kl[idx - 1] >= tol
        first_below = int(traj.steps[(kl < tol).nonzero()[0]])
        assert first_below <= step
    assert traj.steps_to_reach(1e-2) <= traj.steps_to_reach(1e-4) <= traj.steps_to_reach(1e-6)
    assert traj.steps_to_reach(1e3) == 0  # below from the very start
    teacher_step = traj.steps_to_reach(1e-4, player="teacher")
    idx = traj.steps.tolist().index(teacher_step)
    assert (traj.kl_to_real("teacher")[idx:] < 1e-4).all()


def test_steps_to_reach_none_when_final_record_is_above():
    traj = solve_game(P_R, "adim", steps=5, lr=0.01, record_every=1)
    assert traj.kl_to_real()[-1] > 1e-4
    assert traj.steps_to_reach(1e-4) is None


def test_steps_to_reach_counts_from_last_excursion():
    # A hand-made trajectory that dips below the tolerance, leaves, and comes back: the answer is the return.
    p_r = torch.tensor([[0.5, 0.5]], dtype=F64)
    far = torch.tensor([[0.9, 0.1]], dtype=F64)
    records = torch.stack([far, p_r, far, p_r, p_r])
    traj = GameTrajectory(
        method="ngan",
        hparams=GameHParams("ngan"),
        mode="alternating",
        p_r=p_r,
        steps=torch.tensor([0, 10, 20, 30, 40]),
        p_s=records,
        p_t=None,
        d=None,
        value=torch.zeros(5, dtype=F64),
        optimal_value=torch.zeros(5, dtype=F64),
        equilibrium_value=-LOG4,
    )
    assert traj.steps_to_reach(1e-6) == 30
    assert traj.steps_to_reach(10.0) == 0


@pytest.mark.parametrize(
    ("method", "call", "match"),
    [
        ("adim", lambda t: t.steps_to_reach(0.0), r"tolerance must be > 0"),
        ("adim", lambda t: t.steps_to_reach(-1.0), r"tolerance must be > 0"),
        ("adim", lambda t: t.kl_to_real("mixture"), r"player='mixture' needs method='adib'"),
        ("adim", lambda t: t.kl_to_real("parent"), r"player must be one of student, teacher, mixture"),
        ("ngan", lambda t: t.kl_to_real("teacher"), r"has no teacher"),
        ("ngan", lambda t: t.total_variation("teacher"), r"has no teacher"),
        ("adib", lambda t: t.total_variation("mixture"), r"player must be one of student, teacher"),
    ],
)
def test_trajectory_methods_reject_bad_arguments(method, call, match):
    traj = solve_game(P_R, method, steps=2, lr=0.1)
    with pytest.raises(ValueError, match=match):
        call(traj)


# ------------------------------------------------------------------------------------------------------
# Bad arguments
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "gan"}, r"method must be one of kd, ngan, adib, adim"),
        ({"method": "adim", "mode": "sequential"}, r"mode must be one of simultaneous, alternating"),
        ({"method": "adim", "discriminator": "perfect"}, r"discriminator must be one of learned, optimal"),
        ({"method": "adim", "lr": 0.0}, r"lr must be > 0"),
        ({"method": "adim", "lr": -0.1}, r"lr must be > 0"),
        ({"method": "adim", "lr": math.nan}, r"lr must be a finite real number"),
        ({"method": "adim", "lr_d": 0.0}, r"lr_d must be > 0"),
        ({"method": "adim", "steps": 0}, r"steps must be an integer >= 1"),
        ({"method": "adim", "steps": -5}, r"steps must be an integer >= 1"),
        ({"method": "adim", "steps": 10.0}, r"steps must be an integer >= 1"),
        ({"method": "adim", "steps": 2_000_000}, r"steps must be <= 1,000,000 \(got 2,000,000\): a sane bound"),
        ({"method": "adim", "seed": -1}, r"seed must be an integer >= 0"),
        ({"method": "adim", "seed": 1.5}, r"seed must be an integer >= 0"),
        ({"method": "adim", "d_steps": 0}, r"d_steps must be an integer >= 1"),
        ({"method": "adim", "record_every": 0}, r"record_every must be an integer >= 1"),
        ({"method": "adim", "init_scale": 0.0}, r"init_scale must be > 0"),
        ({"method": "kd"}, r"method='kd' distils from a fixed teacher: pass p_t0"),
        ({"method": "adim", "p_s0": [[0.5, 0.5, 0.0], [0.1, 0.6, 0.3]]}, r"p_s0 must be strictly positive"),
        ({"method": "adib", "p_t0": [[1.0, 0.0, 0.0], [0.1, 0.6, 0.3]]}, r"p_t0 must be strictly positive"),
        ({"method": "kd", "p_t0": [[1.0, 0.0, 0.0], [0.1, 0.6, 0.3]]}, r"p_t0 must be strictly positive"),
        ({"method": "adim", "p_s0": [0.5, 0.3, 0.2]}, r"p_s0 must have the shape of p_r \(2, 3\)"),
        ({"method": "adim", "p_s0": [[0.5, 0.3, 0.3], [0.1, 0.6, 0.3]]}, r"p_s0 must be a distribution"),
        ({"method": "adim", "omega": (0.5, 0.5)}, r"ADIM's omega must be \(omega_r, omega_s, omega_t\)"),
        ({"method": "adim", "omega": (0.25, 0.25, 0.25, 0.25)}, r"ADIM's omega must be"),
        ({"method": "adim", "omega": 0.5}, r"ADIM's omega must be"),
        ({"method": "adim", "omega": (0.5, 0.5, 0.2)}, r"open simplex"),
        ({"method": "adim", "omega": (0.0, 0.5, 0.5)}, r"open simplex: omega_r > 0"),
        ({"method": "adib", "omega": (0.2, 0.3, 0.5)}, r"ADIB's omega must be \(omega_s, omega_t\)"),
        ({"method": "adib", "omega": (0.3, 0.3)}, r"omega_s \+ omega_t = 1"),
        ({"method": "ngan", "omega": (0.5, 0.5)}, r"NGAN takes no omega"),
        ({"method": "ngan", "omega": (0.2, 0.3, 0.5)}, r"NGAN takes no omega"),
        ({"method": "kd", "omega": (0.5, 0.5), "p_t0": P_T_WRONG}, r"KD takes no omega"),
        ({"method": "adim", "nu": -1.0}, r"nu must be >= 0"),
        ({"method": "adib", "mu": -1.0}, r"mu must be >= 0"),
        ({"method": "kd", "upsilon": -1.0, "p_t0": P_T_WRONG}, r"upsilon must be >= 0"),
    ],
)
def test_solve_game_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve_game(P_R, steps=kwargs.pop("steps", 3), **kwargs)


@pytest.mark.parametrize(
    ("p_r", "match"),
    [
        ([[0.5, 0.3, 0.3]], r"p_r must be a distribution: each row sums to 1"),
        ([[0.5, 0.6, -0.1]], r"p_r must be a distribution: entries >= 0"),
        ([[0.5, math.nan, 0.5]], r"p_r must be finite"),
        (1.0, r"p_r must have a last dimension of labels"),
    ],
)
def test_solve_game_rejects_bad_real_distribution(p_r, match):
    with pytest.raises(ValueError, match=match):
        solve_game(p_r, "adim", steps=3)


def test_theory_reexports_the_solver():
    assert T.solve_game is solve_game
    assert T.game_gradients is game_gradients
    assert T.GameTrajectory is GameTrajectory
    with pytest.raises(AttributeError):
        _ = T.no_such_name


def test_solve_game_accepts_the_library_omega_and_tensor_weights():
    from advdist_lab.hparams import Omega

    p_r = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    a = solve_game(p_r, "adim", omega=Omega(0.2, 0.3, 0.5), steps=20)
    b = solve_game(p_r, "adim", omega=torch.tensor([0.2, 0.3, 0.5]), steps=20)
    assert a.hparams.omega == pytest.approx((0.2, 0.3, 0.5))
    assert torch.allclose(a.p_s, b.p_s, atol=1e-6)  # the float32 tensor carries 0.2 to 7 digits


def test_game_gradients_for_kd_needs_the_teacher():
    with pytest.raises(ValueError, match="p_teacher"):
        game_gradients(torch.tensor([0.5, 0.5]), "kd", torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "ngan", "p_t0": [0.5, 0.3, 0.2]}, "NGAN has no teacher"),
        ({"method": "kd", "p_t0": [0.5, 0.3, 0.2], "discriminator": "optimal"}, "KD has no discriminator"),
        ({"method": "adim", "mode": "simultaneous", "d_steps": 3}, "needs mode='alternating'"),
    ],
)
def test_arguments_that_a_method_would_ignore_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve_game(torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), steps=5, **kwargs)


def test_sweep_game_rows_and_simplex_weights():
    rows = sweep_game((0.6, 0.3, 0.1), "omega_s", (0.2, 0.5), steps=1000, lr=0.3, tolerance=1e-3)
    assert [r["omega_s"] for r in rows] == [0.2, 0.5]
    # omega_s = 0.2 plays omega = (0.4, 0.2, 0.4): Theorem 4.4's equilibrium value is sum w log w
    assert rows[0]["equilibrium_value"] == pytest.approx(0.4 * math.log(0.4) * 2 + 0.2 * math.log(0.2))
    assert all(r["student_steps"] is not None and r["student_kl"] < 1e-3 for r in rows)
    ngan = sweep_game((0.6, 0.3, 0.1), "lr", (0.1,), method="ngan", steps=50)
    assert ngan[0]["teacher_steps"] is None and ngan[0]["teacher_kl"] is None


def test_sweep_game_a_large_mu_drags_a_pretrained_teacher_towards_the_student():
    """The exact-game face of TPAMI Fig. 6: mu weighs KL(p_s || p_t) in the teacher's loss (Eq. 6), so a teacher
    that starts near p_r is pulled away from it by an untrained student, the more the larger mu."""
    rows = sweep_game(
        (0.6, 0.3, 0.1), "mu", (0.01, 10.0), steps=300, lr=0.1, p_t0=(0.55, 0.33, 0.12), p_s0=(0.1, 0.2, 0.7)
    )
    assert rows[1]["teacher_worst_kl"] > 2 * rows[0]["teacher_worst_kl"]


def test_sweep_game_refuses_bad_arguments():
    p_r = (0.6, 0.3, 0.1)
    with pytest.raises(ValueError, match="name must be one of"):
        sweep_game(p_r, "alpha", (1.0,))
    with pytest.raises(ValueError, match="at least one value"):
        sweep_game(p_r, "nu", ())
    with pytest.raises(ValueError, match="< 1 to stay on the open simplex"):
        sweep_game(p_r, "omega_r", (1.0,))
    with pytest.raises(ValueError, match="method must be 'adim'"):
        sweep_game(p_r, "omega_s", (0.5,), method="adib")
    with pytest.raises(ValueError, match="tolerance"):
        sweep_game(p_r, "nu", (1.0,), tolerance=0)
