"""A small solver for the exact-distribution games of the TPAMI paper: gradient descent-ascent on logits.

The players are parameterised by logits (see :mod:`.dynamics`, which holds the values and closed-form gradients);
the record of a game is a :class:`~advdist_lab.theory.trajectory.GameTrajectory`.

The student and teacher descend the value function, the discriminator ascends it. Gradients are exact
(enumeration over labels, no sampling), so a 2,000-step game on 3 labels takes a fraction of a second. Each
context's logits follow the gradient of that context's own value (``reduction="none"``), so the step size does not
depend on how many contexts there are.

Modes:

* ``"simultaneous"``: every player steps on the gradient at the same point.
* ``"alternating"``: ``d_steps`` discriminator steps, then the student and teacher step against the updated
  discriminator (TPAMI Algorithm 1 with exact gradients).

``discriminator="optimal"`` replaces the learned discriminator by its closed form (Lemma 4.1 / 4.3) before
every generator step: the generators then descend the "virtual training criterion" ``V*``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..hparams import check_choice, check_iterations, check_nonnegative_int, check_positive, check_positive_int
from .distributions import LOG4, as_distribution, kd_loss_per_context, kd_optimal_student
from .dynamics import ExactGame, game_hparams
from .small_ops import flush_denormals, softmax
from .trajectory import GameTrajectory
from .value_functions import adim_equilibrium_value

MODES = ("simultaneous", "alternating")
DISCRIMINATORS = ("learned", "optimal")


def _logits(p: object, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    t = as_distribution(p, name).to(dtype)
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have the shape of p_r {shape} (got {tuple(t.shape)})")
    if (t <= 0).any():
        raise ValueError(
            f"{name} must be strictly positive: a player's logits are log-probabilities (got a zero entry)"
        )
    return torch.log(t)


def solve_game(
    p_r: object,
    method: str = "adim",
    *,
    omega: object = None,
    nu: float = 0.0,
    mu: float = 0.0,
    upsilon: float = 0.0,
    steps: int = 2000,
    lr: float = 0.1,
    lr_d: float | None = None,
    d_steps: int = 1,
    mode: str = "alternating",
    discriminator: str = "learned",
    p_s0: object = None,
    p_t0: object = None,
    seed: int = 0,
    init_scale: float = 1.0,
    record_every: int = 1,
    tau: float | None = None,
    samples: int = 1,
) -> GameTrajectory:
    """Play one of the exact games by gradient descent-ascent on logits and return the trajectory.

    Args:
        p_r: the real distribution ``p_r(y|x)``, shape ``(*contexts, labels)``.
        method: ``kd`` (Eq. 2: the student descends ``L_KD(p_t || p_s)`` against the fixed teacher ``p_t0``),
            ``ngan`` (Eq. 3), ``adib`` (Eq. 4) or ``adim`` (Eq. 6).
        omega: ADIM ``(omega_r, omega_s, omega_t)``; ADIB ``(omega_s, omega_t)``; default equal weights.
        nu, mu, upsilon: the distillation weights of Eq. 2, 4, 6 (>= 0).
        steps: number of updates; lr, lr_d: step sizes of the generators and of the discriminator
            (``lr_d`` defaults to ``lr``).
        d_steps: discriminator steps per generator step in ``alternating`` mode (Algorithm 1's inner loop).
        mode: ``alternating`` or ``simultaneous``; discriminator: ``learned`` or ``optimal``.
        p_s0, p_t0: initial student and teacher (strictly positive); drawn from ``N(0, init_scale^2)`` logits
            with ``seed`` when omitted. For KD, ``p_t0`` is the fixed teacher and is required.
        record_every: keep every k-th step (the first and the last step are always kept).
        tau: ``None`` (exact gradients) or the Gumbel-Softmax temperature: the student's and the teacher's
            adversarial gradients are then the pathwise estimates of Eq. 10 from ``samples`` relaxed samples per
            step (Algorithm 1's GS trick), drawn with ``seed``; the discriminator keeps its exact gradient.

    Raises:
        ValueError: bad distributions, omega off the simplex, negative weights, non-positive step sizes.
    """
    p_r = as_distribution(p_r, "p_r")
    dtype, shape = p_r.dtype, tuple(p_r.shape)
    hp = game_hparams(method, omega, nu, mu, upsilon)
    steps = check_iterations("steps", steps)
    lr = check_positive("lr", lr)
    lr_d = lr if lr_d is None else check_positive("lr_d", lr_d)
    d_steps = check_positive_int("d_steps", d_steps)
    record_every = check_positive_int("record_every", record_every)
    check_choice("mode", mode, MODES)
    check_choice("discriminator", discriminator, DISCRIMINATORS)
    init_scale = check_positive("init_scale", init_scale)
    if method == "kd" and p_t0 is None:
        raise ValueError("method='kd' distils from a fixed teacher: pass p_t0 (the teacher's distribution)")
    if method == "ngan" and p_t0 is not None:
        raise ValueError("NGAN has no teacher: p_t0 must be None for method='ngan'")
    if method == "kd" and discriminator != "learned":
        raise ValueError(f"KD has no discriminator: discriminator must stay 'learned' (got {discriminator!r})")
    if tau is not None:
        tau = check_positive("tau", tau)
        if method == "kd":
            raise ValueError("KD has no adversarial term to estimate: tau must be None for method='kd'")
    samples = check_positive_int("samples", samples)
    seed = check_nonnegative_int("seed", seed)
    if mode == "simultaneous" and d_steps != 1:
        raise ValueError(f"d_steps > 1 needs mode='alternating' (got d_steps={d_steps} with mode='simultaneous')")

    g = torch.Generator().manual_seed(seed)

    def init(p0: object, name: str) -> Tensor:
        if p0 is not None:
            return _logits(p0, name, shape, dtype)
        return (init_scale * torch.randn(shape, generator=g, dtype=torch.float64)).to(dtype)

    th_s = init(p_s0, "p_s0")
    p_teacher = None
    th_t = None
    if method == "kd":
        p_teacher = softmax(_logits(p_t0, "p_t0", shape, dtype), -1)
    elif method in ("adib", "adim"):
        th_t = init(p_t0, "p_t0")
    game = ExactGame(hp, p_r, p_teacher, tau, samples, g)
    phi = None
    if method != "kd":
        phi = torch.zeros((3, *shape) if method == "adim" else shape, dtype=dtype)
        if discriminator == "optimal":
            phi = game.optimal_phi(th_s, th_t)

    recorded: dict[str, list[Tensor]] = {k: [] for k in ("steps", "p_s", "p_t", "d", "value", "optimal_value")}

    def record(step: int) -> None:
        recorded["steps"].append(torch.tensor(step))
        recorded["p_s"].append(softmax(th_s, -1))
        if th_t is not None or p_teacher is not None:
            recorded["p_t"].append(p_teacher if th_t is None else softmax(th_t, -1))
        if phi is not None:
            recorded["d"].append(game.discriminator(phi))
        recorded["value"].append(game.value(th_s, th_t, phi).mean())
        recorded["optimal_value"].append(game.optimal_value(th_s, th_t).mean())

    generators = ("student",) if th_t is None else ("student", "teacher")

    def descend(grads: dict[str, Tensor]) -> None:
        nonlocal th_s, th_t
        th_s = th_s - lr * grads["student"]
        if th_t is not None:
            th_t = th_t - lr * grads["teacher"]

    record(0)
    with flush_denormals():
        for step in range(1, steps + 1):
            if method == "kd":
                descend(game.gradients(th_s, None, None, generators))
            elif discriminator == "optimal":
                descend(game.gradients(th_s, th_t, game.optimal_phi(th_s, th_t), generators))
                phi = game.optimal_phi(th_s, th_t)
            elif mode == "alternating":
                for _ in range(d_steps):
                    phi = phi + lr_d * game.gradients(th_s, th_t, phi, ("discriminator",))["discriminator"]
                descend(game.gradients(th_s, th_t, phi, generators))
            else:
                grads = game.gradients(th_s, th_t, phi, (*generators, "discriminator"))
                descend(grads)
                phi = phi + lr_d * grads["discriminator"]
            if step % record_every == 0 or step == steps:
                record(step)

    if method == "kd":
        q = kd_optimal_student(p_r, p_teacher, hp.upsilon)
        equilibrium = float(kd_loss_per_context(p_teacher, q, p_r, hp.upsilon).mean())
    elif method == "adim":
        equilibrium = adim_equilibrium_value(hp.omega)
    else:
        equilibrium = -LOG4
    return GameTrajectory(
        method=method,
        hparams=hp,
        mode=mode,
        p_r=p_r,
        steps=torch.stack(recorded["steps"]),
        p_s=torch.stack(recorded["p_s"]),
        p_t=torch.stack(recorded["p_t"]) if recorded["p_t"] else None,
        d=torch.stack(recorded["d"]) if recorded["d"] else None,
        value=torch.stack(recorded["value"]),
        optimal_value=torch.stack(recorded["optimal_value"]),
        equilibrium_value=equilibrium,
        tau=tau,
        samples=samples,
    )


def sweep_game(
    p_r: object,
    name: str,
    values: Sequence[float],
    *,
    tolerance: float = 1e-4,
    **settings: object,
) -> list[dict[str, float | int | None]]:
    """Solve the game once per value of one hyperparameter and summarise each trajectory (a row per value).

    ``name`` is a keyword of :func:`solve_game` (``nu``, ``mu``, ``upsilon``, ``lr``, ``tau``, ...) or one of ADIM's
    weights ``omega_r``, ``omega_s``, ``omega_t``, varied along the simplex with the other two equal (``omega_s =
    0.2`` plays ``omega = (0.4, 0.2, 0.4)``). ``settings`` go to :func:`solve_game` unchanged. Each row holds the
    value, the steps after which the student and the teacher stay within ``tolerance`` of ``p_r`` in KL (``None``:
    never), their final KL, the teacher's largest KL along the way (how far the student drags it), and the final
    ``V*`` beside the equilibrium value.
    """
    check_positive("tolerance", tolerance)
    omegas = ("omega_r", "omega_s", "omega_t")
    if name in omegas and settings.get("method", "adim") != "adim":
        raise ValueError(f"{name} is swept along ADIM's simplex: method must be 'adim' (got {settings['method']!r})")
    if name in omegas and "omega" in settings:
        raise ValueError(f"sweeping {name} sets omega: do not pass omega as well")
    if name not in omegas and name not in _SWEEPABLE:
        raise ValueError(f"name must be one of {', '.join(omegas + _SWEEPABLE)} (got {name!r})")
    if len(values) == 0:
        raise ValueError("values must hold at least one value")
    rows = []
    for value in values:
        kwargs = dict(settings)
        if name in omegas:
            weight = check_positive(name, value)
            if weight >= 1:
                raise ValueError(f"{name} must be < 1 to stay on the open simplex (got {weight!r})")
            rest = (1.0 - weight) / 2
            kwargs["method"] = "adim"
            kwargs["omega"] = tuple(weight if n == name else rest for n in omegas)
        else:
            kwargs[name] = value
        trajectory = solve_game(p_r, **kwargs)
        has_teacher = trajectory.p_t is not None and trajectory.method != "kd"
        teacher_kl = trajectory.kl_to_real("teacher") if has_teacher else None
        rows.append(
            {
                name: value,
                "student_steps": trajectory.steps_to_reach(tolerance, "student"),
                "teacher_steps": trajectory.steps_to_reach(tolerance, "teacher") if has_teacher else None,
                "student_kl": float(trajectory.kl_to_real("student")[-1]),
                "teacher_kl": float(teacher_kl[-1]) if has_teacher else None,
                "teacher_worst_kl": float(teacher_kl.max()) if has_teacher else None,
                "optimal_value": float(trajectory.optimal_value[-1]),
                "equilibrium_value": trajectory.equilibrium_value,
            }
        )
    return rows


_SWEEPABLE = ("nu", "mu", "upsilon", "lr", "lr_d", "d_steps", "steps", "tau", "samples", "seed", "init_scale")
