"""The attack suite of DFARD (``001_...``, Section "Experimental Setup", "Attack Evaluation"; Table 1).

DFARD evaluates every student under five L_inf attacks at ``eps = 8/255``, the three iterative ones with 20
steps, and reports the clean accuracy beside them (Table 1: Clean, FGSM, PGD_S, PGD_T, CW_inf, AA):

* :func:`fgsm`: one signed-gradient step of size ``eps`` on the cross-entropy (Goodfellow et al. 2014).
* :func:`pgd_s`: PGD on the cross-entropy with a uniform random start in the ball (Madry et al. 2017).
* :func:`pgd_t`: the TRADES attack (Zhang et al. 2019): PGD maximising ``KL(f(x) || f(x_adv))`` from a small
  Gaussian start ``x + 0.001 * N(0, I)``; it needs no label.
* :func:`cw_inf`: PGD on the Carlini-Wagner margin ``max_{j != y} z_j - z_y`` of the logits ``z`` under the same
  L_inf budget (Carlini and Wagner 2017, in the L_inf form of the TRADES/MART/RSLAD evaluation code).
* :func:`autoattack`: AutoAttack, standard version (Croce and Hein 2020): APGD-CE, APGD-T, FAB-T and Square,
  built from the components of ``torchattacks`` (installed separately, see :data:`TORCHATTACKS_INSTALL`).

**Conventions.** Inputs lie in ``[0, 1]``; any normalisation belongs inside the model (:class:`Normalized`), so
``eps`` is measured in pixel units as in the paper. Every attack returns inputs inside the eps-ball of ``x``
(``|x_adv - x| <= eps`` elementwise, up to float rounding of one ulp) and inside ``[0, 1]``. During an attack the
model is in eval mode and its parameters do not require gradients (faster, and their ``.grad`` is never
touched); afterwards each module's train/eval flag and each parameter's ``requires_grad`` are restored.

**Where the paper is silent, and what we chose.**

* Step sizes of the iterative attacks: the paper gives 20 steps at ``eps = 8/255``; we use ``2/255``, the step
  of its PGD-10 training attack and of the RSLAD/ARD evaluation code it follows.
* Random starts: uniform in the ball for PGD_S and CW_inf (as the TRADES/MART evaluation scripts with
  ``--random``), ``0.001 * N(0, I)`` for PGD_T (as TRADES; DFARD's own training PGD also starts at 0.001).
* CW_inf: the plain margin, without the confidence clamp ``kappa = 50`` of the TRADES/MART scripts; the clamp
  only zeroes the gradient of points already misclassified by a margin of 50, so the accuracy is the same.
* AutoAttack's step counts: ``torchattacks.AutoAttack(version="standard")`` runs APGD, APGD-T and FAB-T with 10
  steps each and targets all ``n_classes - 1`` other classes. We configure its components as the original
  standard version (fra31/auto-attack) does instead: APGD-CE 100 steps, APGD-T 100 steps x 9 target classes,
  FAB-T 100 steps x 9 target classes, Square 5,000 queries, one restart each; with fewer classes the targets are
  ``n_classes - 1`` (APGD-T, whose targeted DLR loss reads the 4th largest logit, is left out below 4 classes).
  ``n_classes`` comes from the data (the width of the model's logits), never torchattacks' default of 10.
  ``AttackProtocol.autoattack_steps`` and ``autoattack_queries`` change the counts.
* The average: DFARD's Table 1 has no average column; its text ("our method improves the average adversarial
  robustness by 1.98%, 0.55%, 1.69%, and 1.03%") averages the **five attacks without Clean**: the means of
  FGSM, PGD_S, PGD_T, CW_inf and AA of Table 1 reproduce those four numbers (1.99, 0.54, 1.69, 1.03 after
  rounding), while means that include Clean do not (e.g. 1.43 instead of 1.69 for RN-18 on CIFAR-100).
  :func:`robust_accuracy` therefore returns ``average`` = the mean over the protocol's attacks, Clean excluded.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advdist_lab.hparams import check_nonnegative_int, check_positive, check_positive_int, check_real

__all__ = [
    "ATTACKS",
    "ATTACK_LABELS",
    "AUTOATTACK_TARGET_CLASSES",
    "TORCHATTACKS_INSTALL",
    "AttackProtocol",
    "Normalized",
    "attack_mode",
    "autoattack",
    "build_autoattack",
    "check_attack_names",
    "cw_inf",
    "fgsm",
    "format_table1",
    "pgd_s",
    "pgd_t",
    "robust_accuracy",
    "run_attack",
    "table1_row",
]

ATTACKS = ("fgsm", "pgd_s", "pgd_t", "cw_inf", "autoattack")
"""The attacks of DFARD Table 1, in its column order."""

ATTACK_LABELS = {
    "clean": "Clean",
    "fgsm": "FGSM",
    "pgd_s": "PGD_S",
    "pgd_t": "PGD_T",
    "cw_inf": "CW_inf",
    "autoattack": "AA",
    "average": "Avg",
}
"""Column headers of DFARD Table 1 (``Avg``, the mean over the attacks, is ours: see the module docstring)."""

AUTOATTACK_TARGET_CLASSES = 9
"""Target classes of APGD-T and FAB-T in the original standard AutoAttack (fewer when there are fewer classes)."""

TORCHATTACKS_INSTALL = "python -m pip install -c constraints.txt --no-deps torchattacks"
"""How the course installs torchattacks (``make setup`` does it): without its dependencies, because torchattacks
3.5.1 pins ``requests~=2.25.1``, which conflicts with JupyterLab's ``requests>=2.31``; it never imports requests."""


# ----------------------------------------------------------------------------------------------------------------
# The model side: normalisation inside the model, and the attack mode
# ----------------------------------------------------------------------------------------------------------------


class Normalized(nn.Module):
    """``model((x - mean) / std)``: puts a dataset's normalisation inside the model, so attacks work in ``[0, 1]``.

    ``mean`` and ``std`` are a number or one value per channel (dimension 1 of the input), e.g. CIFAR-10's
    ``Normalized(net, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))``. They are buffers, so they follow
    ``.to(device)`` and the state dict. ``std`` must be > 0.
    """

    def __init__(self, model: nn.Module, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module (got {type(model).__name__})")
        mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std_t = torch.as_tensor(std, dtype=torch.float32).flatten()
        if mean_t.numel() < 1 or std_t.numel() < 1:
            raise ValueError(f"mean and std must hold at least one value (got mean={mean!r}, std={std!r})")
        if not (torch.isfinite(mean_t).all() and torch.isfinite(std_t).all()):
            raise ValueError(f"mean and std must be finite (got mean={mean!r}, std={std!r})")
        if (std_t <= 0).any():
            raise ValueError(f"std must be > 0 in every channel (got {std!r})")
        if mean_t.numel() != std_t.numel() and 1 not in (mean_t.numel(), std_t.numel()):
            raise ValueError(
                f"mean and std must have one value or one per channel, the same number (got {mean_t.numel()} "
                f"and {std_t.numel()})"
            )
        self.model = model
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2) if x.dim() >= 2 else (-1,)
        channels = max(self.mean.numel(), self.std.numel())
        if channels > 1 and (x.dim() < 2 or x.shape[1] != channels):
            raise ValueError(f"Normalized has {channels} channels but the input has shape {tuple(x.shape)}")
        return self.model((x - self.mean.view(shape)) / self.std.view(shape))


@contextlib.contextmanager
def attack_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and parameters that do not require gradients, inside the block; both restored afterwards.

    Restores every submodule's own ``training`` flag (a model partly in eval mode stays so) and every
    parameter's ``requires_grad``. Gradients with respect to the input still flow; parameter ``.grad`` fields are
    never written, since no parameter requires a gradient inside the block.
    """
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for m, training in modes:
            m.training = training
        for p, requires_grad in flags:
            p.requires_grad_(requires_grad)


# ----------------------------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------------------------


def _check_inputs(x: object, y: object, *, need_labels: bool = True) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(
            f"x must be a floating-point tensor of shape (batch, ...) with batch >= 1 (got {getattr(x, 'shape', x)!r})"
        )
    if x.numel() and (x.min().item() < 0.0 or x.max().item() > 1.0):
        raise ValueError(
            f"x must lie in [0, 1] (got values in [{x.min().item():.4g}, {x.max().item():.4g}]); "
            "put the normalisation inside the model (Normalized)"
        )
    if not need_labels and y is None:
        return
    if not isinstance(y, Tensor) or y.dtype != torch.long or tuple(y.shape) != (x.shape[0],):
        raise ValueError(
            f"y must be an int64 tensor of shape ({x.shape[0]},) (got {getattr(y, 'dtype', type(y).__name__)} of "
            f"shape {tuple(getattr(y, 'shape', ()))})"
        )


def _check_budget(eps: object, steps: object = 1, step_size: object = 1.0) -> tuple[float, int, float]:
    eps = check_positive("eps", eps)
    if eps > 1.0:
        raise ValueError(f"eps must be > 0 and <= 1 for inputs in [0, 1] (got {eps!r})")
    return eps, check_positive_int("steps", steps), check_positive("step_size", step_size)


def _project(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """The nearest point of the eps-ball of ``x`` intersected with ``[0, 1]`` (both are boxes)."""
    return torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)


def _input_gradient(loss_fn: Callable[[Tensor], Tensor], x_adv: Tensor) -> Tensor:
    x_adv = x_adv.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(x_adv)
        (grad,) = torch.autograd.grad(loss, [x_adv])
    return grad.detach()


def _uniform_start(x: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return _project(x + (2.0 * noise - 1.0) * eps, x, eps)


def _signed_ascent(
    model: nn.Module,
    x: Tensor,
    x_start: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    eps: float,
    steps: int,
    step_size: float,
) -> Tensor:
    x_adv = x_start
    for _ in range(steps):
        grad = _input_gradient(loss_fn, x_adv)
        x_adv = _project(x_adv + step_size * grad.sign(), x, eps)
    return x_adv.detach()


# ----------------------------------------------------------------------------------------------------------------
# The attacks
# ----------------------------------------------------------------------------------------------------------------


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """FGSM (Goodfellow et al. 2014; DFARD Table 1 "FGSM"): ``clip_[0,1](x + eps * sign(grad_x CE(f(x), y)))``.

    The cross-entropy is summed over the batch, so each row's step is the sign of its own gradient (a mean would
    only rescale it). Coordinates with a zero gradient do not move (``sign(0) = 0``).
    """
    _check_inputs(x, y)
    eps, _, _ = _check_budget(eps)
    x = x.detach()
    with attack_mode(model):
        grad = _input_gradient(lambda z: F.cross_entropy(model(z), y, reduction="sum"), x)
        return _project(x + eps * grad.sign(), x, eps)


def _labelled_pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss: Callable[[Tensor], Tensor],
    eps: float,
    steps: int,
    step_size: float,
    random_start: bool,
    generator: torch.Generator | None,
) -> Tensor:
    """Signed ascent on ``loss(model(x_adv))`` from a uniform start in the eps-ball (or ``x``): PGD_S, CW_inf."""
    _check_inputs(x, y)
    eps, steps, step_size = _check_budget(eps, steps, step_size)
    x = x.detach()
    with attack_mode(model):
        start = _uniform_start(x, eps, generator) if random_start else x.clone()
        return _signed_ascent(model, x, start, lambda z: loss(model(z)), eps, steps, step_size)


def pgd_s(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int,
    step_size: float,
    *,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """PGD_S (Madry et al. 2017; DFARD "Attack Evaluation", 20 steps): signed ascent on the cross-entropy.

    ``x_0 = x + U(-eps, eps)`` (projected) when ``random_start``, else ``x``; then ``steps`` times
    ``x_{k+1} = Proj(x_k + step_size * sign(grad CE(f(x_k), y)))`` onto the eps-ball of ``x`` and ``[0, 1]``.
    The paper does not say whether its PGD_S starts at random; Madry et al.'s evaluation does, and so do we.
    """
    return _labelled_pgd(
        model,
        x,
        y,
        lambda logits: F.cross_entropy(logits, y, reduction="sum"),
        eps,
        steps,
        step_size,
        random_start,
        generator,
    )


def pgd_t(
    model: nn.Module,
    x: Tensor,
    y: Tensor | None,
    eps: float,
    steps: int,
    step_size: float,
    *,
    start_std: float = 0.001,
    generator: torch.Generator | None = None,
) -> Tensor:
    """PGD_T, the TRADES attack (Zhang et al. 2019; DFARD "Attack Evaluation", 20 steps).

    Maximises ``KL(softmax f(x) || softmax f(x_adv))`` (summed over the batch) by signed steps, starting from
    ``x + start_std * N(0, I)`` (TRADES' 0.001; projected): at ``x_adv = x`` the KL and its gradient vanish, so
    the start must be off ``x``. The attack ignores ``y`` (it may be None); accuracy is still judged against ``y``.
    """
    _check_inputs(x, y, need_labels=False)
    eps, steps, step_size = _check_budget(eps, steps, step_size)
    start_std = check_positive("start_std", start_std)
    x = x.detach()
    with attack_mode(model):
        with torch.no_grad():
            p_clean = F.softmax(model(x), dim=-1)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        start = _project(x + start_std * noise, x, eps)

        def kl(z: Tensor) -> Tensor:
            return F.kl_div(F.log_softmax(model(z), dim=-1), p_clean, reduction="sum")

        return _signed_ascent(model, x, start, kl, eps, steps, step_size)


def _cw_margin(logits: Tensor, y: Tensor) -> Tensor:
    """``max_{j != y} z_j - z_y`` per row (positive iff the row is misclassified)."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return others.amax(dim=1) - true


def cw_inf(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int,
    step_size: float,
    *,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """CW_inf (Carlini and Wagner 2017; DFARD "Attack Evaluation", 20 steps): PGD on the CW margin loss.

    Signed ascent on ``sum_i max_{j != y_i} z_j(x_i) - z_{y_i}(x_i)`` of the logits ``z`` under the L_inf budget,
    from a uniform random start (as PGD_S). Needs at least two classes.
    """
    return _labelled_pgd(
        model, x, y, lambda logits: _cw_margin(logits, y).sum(), eps, steps, step_size, random_start, generator
    )


def _import_torchattacks():
    try:
        import torchattacks
    except ImportError as error:  # pragma: no cover - exercised by monkeypatching sys.modules
        raise ImportError(
            "AutoAttack needs torchattacks, which the course installs without its dependencies (its pin "
            f"requests~=2.25.1 conflicts with JupyterLab): run `{TORCHATTACKS_INSTALL}` (make setup does it)"
        ) from error
    return torchattacks


class _AsImages(nn.Module):
    """Reads ``(batch, 1, 1, d)`` tensors as the ``(batch, *shape)`` inputs of ``model`` (torchattacks wants 4-D)."""

    def __init__(self, model: nn.Module, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.model = model
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x.reshape(x.shape[0], *self.shape))


def build_autoattack(
    model: nn.Module,
    eps: float,
    *,
    n_classes: int,
    steps: int = 100,
    n_queries: int = 5000,
    seed: int = 0,
):
    """The standard AutoAttack ensemble (Croce and Hein 2020) from torchattacks' components, as a ``MultiAttack``.

    APGD-CE (``steps``, 1 restart), APGD-T (``steps`` x ``min(9, n_classes - 1)`` target classes, 1 restart),
    FAB-T (``steps`` x the same targets, 1 restart) and Square (``n_queries``, 1 restart), L_inf at ``eps``; each
    attacks only the points that the previous ones left correctly classified. ``n_classes`` is required (no
    default of 10: with fewer classes torchattacks' targeted attacks index past the logits, with more they
    would target all ``n_classes - 1`` classes where the original targets 9). ``model`` must take 4-D inputs.

    With fewer than 4 classes APGD-T is left out: its targeted DLR loss divides by ``z_pi1 - (z_pi3 + z_pi4) / 2``
    (the 1st, 3rd and 4th largest logits), which does not exist; the original AutoAttack cannot run it either.
    """
    ta = _import_torchattacks()
    eps, steps, _ = _check_budget(eps, steps)
    n_classes = _check_n_classes(n_classes)
    n_queries = check_positive_int("n_queries", n_queries)
    seed = check_nonnegative_int("seed", seed)
    common = {"norm": "Linf", "eps": eps, "seed": seed, "verbose": False}
    targets = min(AUTOATTACK_TARGET_CLASSES, n_classes - 1)
    attacks = [ta.APGD(model, steps=steps, n_restarts=1, loss="ce", **common)]
    if n_classes >= 4:
        apgd_t = ta.APGDT(model, steps=steps, n_restarts=1, n_classes=n_classes, **common)
        apgd_t.n_target_classes = targets
        attacks.append(apgd_t)
    fab_t = ta.FAB(model, steps=steps, n_restarts=1, multi_targeted=True, n_classes=n_classes, **common)
    fab_t.n_target_classes = targets
    attacks += [fab_t, ta.Square(model, n_queries=n_queries, n_restarts=1, **common)]
    return ta.MultiAttack(attacks)


def _check_n_classes(n_classes: object) -> int:
    """``n_classes`` as an integer >= 2, or ``ValueError``."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, taken from the data (got {n_classes!r})")
    return n_classes


def autoattack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    *,
    n_classes: int,
    steps: int = 100,
    n_queries: int = 5000,
    seed: int = 0,
) -> Tensor:
    """AutoAttack, standard version (Croce and Hein 2020; DFARD Table 1 "AA"): see :func:`build_autoattack`.

    Step counts by default: APGD-CE 100, APGD-T 100 per target class (9 targets, or ``n_classes - 1``; left out
    below 4 classes), FAB-T 100 per target class, Square 5,000 queries; one restart each.

    Returns the first adversarial input found per row, or ``x`` where every attack failed, projected onto the
    eps-ball and ``[0, 1]`` (torchattacks' own projection can be off by float rounding). Non-image inputs
    ``(batch, ...)`` are reshaped to ``(batch, 1, 1, d)`` for torchattacks and back. Deterministic given
    ``seed``: torchattacks reseeds torch's global generator, whose state we save and restore, so the caller's
    random stream is unchanged.
    """
    _check_inputs(x, y)
    eps, steps, _ = _check_budget(eps, steps)
    n_classes = _check_n_classes(n_classes)
    if int(y.max()) >= n_classes or int(y.min()) < 0:
        raise ValueError(f"labels must lie in 0..n_classes-1 = 0..{n_classes - 1} (got {int(y.min())}..{int(y.max())})")
    x = x.detach()
    shape = tuple(x.shape[1:])
    target = model if x.dim() == 4 else _AsImages(model, shape).eval()  # torchattacks restores its mode
    images = x if x.dim() == 4 else x.reshape(x.shape[0], 1, 1, -1)
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with attack_mode(model), torch.random.fork_rng(devices=devices):
        attack = build_autoattack(target, eps, n_classes=n_classes, steps=steps, n_queries=n_queries, seed=seed)
        attack.set_device(x.device)
        x_adv = attack(images, y).detach().reshape(x.shape).to(x.dtype)
    return _project(x_adv, x, eps)


def check_attack_names(name: str, value: object, *, allow_empty: bool) -> tuple[str, ...]:
    """``value`` as a tuple of distinct names from :data:`ATTACKS` (empty only when ``allow_empty``); else a
    ``ValueError`` that starts with ``name``. Shared by the configs of the robust teacher and of distillation."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a sequence of names from {', '.join(ATTACKS)} (got {value!r})")
    unknown = [a for a in value if a not in ATTACKS]
    if unknown:
        raise ValueError(f"{name}: unknown attack(s) {unknown!r}; names must come from {', '.join(ATTACKS)}")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} must be distinct attack names (got {list(value)!r})")
    if not value and not allow_empty:
        raise ValueError(f"{name} must name at least one attack from {', '.join(ATTACKS)}")
    return tuple(value)


# ----------------------------------------------------------------------------------------------------------------
# The protocol
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttackProtocol:
    """The attack protocol of an evaluation: budget, steps and the attacks of DFARD Table 1.

    ``eps``: L_inf radius in pixel units of ``[0, 1]`` inputs (> 0, <= 1). ``steps``: iterations of PGD_S, PGD_T
    and CW_inf (>= 1). ``step_size``: their step (> 0). ``attacks``: a non-empty tuple of distinct names from
    :data:`ATTACKS` (evaluated in that order). ``pgd_t_start_std``: the Gaussian start of PGD_T (> 0).
    ``autoattack_steps`` and ``autoattack_queries``: APGD/FAB iterations and Square queries of AutoAttack.

    :meth:`cifar` is DFARD's protocol; :meth:`digits` our scaled one for the 8x8 digits.
    """

    eps: float = 8 / 255
    steps: int = 20
    step_size: float = 2 / 255
    attacks: tuple[str, ...] = ATTACKS
    pgd_t_start_std: float = 0.001
    autoattack_steps: int = 100
    autoattack_queries: int = 5000
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        eps, steps, step_size = _check_budget(self.eps, self.steps, self.step_size)
        attacks = self.attacks
        if isinstance(attacks, str) or not isinstance(attacks, Sequence) or len(attacks) == 0:
            raise ValueError(
                f"attacks must be a non-empty sequence of names from {', '.join(ATTACKS)} (got {attacks!r})"
            )
        unknown = [a for a in attacks if a not in ATTACKS]
        if unknown:
            raise ValueError(f"unknown attack(s) {unknown!r}: attacks must be names from {', '.join(ATTACKS)}")
        if len(set(attacks)) != len(attacks):
            raise ValueError(f"attacks must be distinct (got {attacks!r})")
        object.__setattr__(self, "eps", eps)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "step_size", step_size)
        object.__setattr__(self, "attacks", tuple(attacks))
        object.__setattr__(self, "pgd_t_start_std", check_positive("pgd_t_start_std", self.pgd_t_start_std))
        object.__setattr__(self, "autoattack_steps", check_positive_int("autoattack_steps", self.autoattack_steps))
        object.__setattr__(
            self, "autoattack_queries", check_positive_int("autoattack_queries", self.autoattack_queries)
        )
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string (got {self.name!r})")

    @classmethod
    def for_dataset(cls, dataset: str, attacks: Sequence[str] = ATTACKS) -> AttackProtocol:
        """:meth:`digits` for ``"digits"``, :meth:`cifar` for the CIFAR-10 datasets (``cifar10``,
        ``cifar10-random``): the protocol that the robust teacher, DFARD and DERD evaluate under."""
        return cls.digits(attacks) if dataset == "digits" else cls.cifar(attacks)

    @classmethod
    def cifar(cls, attacks: Sequence[str] = ATTACKS) -> AttackProtocol:
        """DFARD "Attack Evaluation": ``eps = 8/255``, 20 steps for PGD_S, PGD_T and CW_inf, step ``2/255``.

        The step size is not stated for evaluation; ``2/255`` is the paper's training-PGD step and RSLAD's
        evaluation step. AutoAttack at its standard counts (100 steps, 5,000 Square queries).
        """
        return cls(eps=8 / 255, steps=20, step_size=2 / 255, attacks=tuple(attacks), name="cifar")

    @classmethod
    def digits(cls, attacks: Sequence[str] = ATTACKS) -> AttackProtocol:
        """Our scaled protocol for scikit-learn's 8x8 digits in ``[0, 1]`` (not in the paper).

        ``eps = 0.15``, 20 steps of ``0.0375``: the step is ``eps / 4``, the paper's ratio 2/255 : 8/255, and the
        20 steps are its own, so a PGD walk can cross the ball five times as in DFARD. The budget is ours. Digits
        have 64 pixels on 17 grey levels (0..16)/16, against CIFAR's 3,072 values per image, so 8/255 barely
        moves a digits model; we chose the budget at which an undefended model falls as far as an undefended
        CIFAR model does (most of the way) while a PGD-trained one keeps well over half of its accuracy.
        Measured on the 500 test digits (LeNet ``(16, 32)``, hidden 128, and an MLP ``64-128-10``, Adam 1e-3,
        30 epochs on the 1,297 training digits; PGD-AT = PGD-10 at the same eps; seed 0), in %:

        ========================  =====  ====  =====  =====  ======  ====
        model                     Clean  FGSM  PGD_S  PGD_T  CW_inf  AA
        ========================  =====  ====  =====  =====  ======  ====
        MLP, undefended           96.2   21.8  15.0   41.4   19.0    13.2
        LeNet, undefended         98.0   24.4  13.2   41.8   15.6    9.8
        LeNet, PGD-AT eps 0.15    96.4   67.8  59.2   72.6   60.0    54.2
        ========================  =====  ====  =====  =====  ======  ====

        PGD_S at other budgets (undefended LeNet / PGD-AT LeNet at the same eps, 20 steps of eps/4): 0.1: 49.6 /
        78.2; 0.2: 1.6 / 41.4. The whole protocol on 500 digits took 35 s (undefended) and 67 s (robust) on
        one CPU thread, AutoAttack most of it.
        """
        return cls(eps=0.15, steps=20, step_size=0.0375, attacks=tuple(attacks), name="digits")

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description (for ``result.json``)."""
        data = asdict(self)
        data["attacks"] = list(self.attacks)
        return data

    def describe(self) -> str:
        """One line, e.g. ``eps 0.0314 (8.0/255), 20 steps of 0.00784 (2.0/255); attacks: FGSM, PGD_S, ...``."""
        labels = ", ".join(ATTACK_LABELS[a] for a in self.attacks)
        return (
            f"eps {self.eps:.4g} ({self.eps * 255:.1f}/255), {self.steps} steps of {self.step_size:.3g} "
            f"({self.step_size * 255:.1f}/255); AutoAttack {self.autoattack_steps} steps, "
            f"{self.autoattack_queries} Square queries; attacks: {labels}"
        )


def run_attack(
    name: str,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    protocol: AttackProtocol,
    *,
    n_classes: int | None = None,
    generator: torch.Generator | None = None,
    seed: int = 0,
) -> Tensor:
    """One attack of ``protocol`` by name. ``generator`` drives the random starts of PGD_S, PGD_T and CW_inf;
    ``seed`` seeds AutoAttack; ``n_classes`` defaults to the width of the model's logits on ``x``."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}: attacks must be names from {', '.join(ATTACKS)}")
    p = protocol
    if name == "fgsm":
        return fgsm(model, x, y, p.eps)
    if name == "pgd_s":
        return pgd_s(model, x, y, p.eps, p.steps, p.step_size, generator=generator)
    if name == "pgd_t":
        return pgd_t(model, x, y, p.eps, p.steps, p.step_size, start_std=p.pgd_t_start_std, generator=generator)
    if name == "cw_inf":
        return cw_inf(model, x, y, p.eps, p.steps, p.step_size, generator=generator)
    if n_classes is None:
        n_classes = _logit_width(model, x[:1])
    return autoattack(
        model, x, y, p.eps, n_classes=n_classes, steps=p.autoattack_steps, n_queries=p.autoattack_queries, seed=seed
    )


def _logit_width(model: nn.Module, x: Tensor) -> int:
    with attack_mode(model), torch.no_grad():
        logits = model(x)
    if logits.dim() != 2:
        raise ValueError(f"the model must return logits of shape (batch, classes) (got {tuple(logits.shape)})")
    return int(logits.shape[1])


def _model_device(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _attack_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


# ----------------------------------------------------------------------------------------------------------------
# Robust accuracy and DFARD Table 1
# ----------------------------------------------------------------------------------------------------------------


def robust_accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    protocol: AttackProtocol | None = None,
    *,
    n_classes: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, float]:
    """Clean and robust accuracies under every attack of ``protocol`` (DFARD Table 1), as fractions in [0, 1].

    Returns ``{"clean": ..., <attack>: ... for each of protocol.attacks, "average": ...}`` where ``average`` is
    the mean of the attacks' accuracies **without Clean**, as DFARD's text averages Table 1 (module docstring).
    Each attack is run on every example (also those misclassified clean, which then count as errors), in
    batches of ``batch_size``.

    ``n_classes`` defaults to the width of the model's logits (read on the data), and must agree with it when
    given; labels must lie below it. ``device``: None evaluates where the model is; otherwise the model is moved
    there for the evaluation and back afterwards. Deterministic given ``seed`` (and ``batch_size``): each attack
    draws its random starts from its own generator seeded from ``(seed, attack index)``; the global random state
    is untouched. ``progress`` shows a tqdm bar over batches x (1 + attacks). The model's train/eval flags and
    parameter gradients are as before.
    """
    protocol = AttackProtocol.cifar() if protocol is None else protocol
    if not isinstance(protocol, AttackProtocol):
        raise ValueError(f"protocol must be an AttackProtocol (got {type(protocol).__name__})")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module (got {type(model).__name__})")
    _check_inputs(x, y)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_nonnegative_int("seed", seed)
    original_device = _model_device(model)
    if device is None:
        target_device = original_device
    else:
        from advdist_lab.environment import resolve_device

        target_device = resolve_device(device)
    model.to(target_device)
    try:
        return _robust_accuracy(model, x, y, protocol, n_classes, batch_size, target_device, seed, progress)
    finally:
        if target_device != original_device:
            model.to(original_device)


def _robust_accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    protocol: AttackProtocol,
    n_classes: int | None,
    batch_size: int,
    device: torch.device,
    seed: int,
    progress: bool,
) -> dict[str, float]:
    width = _logit_width(model, x[:1].to(device))
    if n_classes is None:
        n_classes = width
    elif _check_n_classes(n_classes) != width:
        raise ValueError(f"n_classes = {n_classes} does not match the model's {width} logits")
    if width < 2:
        raise ValueError(f"the model must have at least 2 logits (got {width})")
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1} (got {int(y.min())}..{int(y.max())})")
    generators = {}
    for index, name in enumerate(protocol.attacks):
        generators[name] = torch.Generator(device=device).manual_seed(_attack_seed(seed, index))
    correct = dict.fromkeys(("clean", *protocol.attacks), 0)
    n = x.shape[0]
    starts = range(0, n, batch_size)

    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(starts) * (1 + len(protocol.attacks)),
        desc="robust accuracy",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )
    with attack_mode(model), bar:
        for start in starts:
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            with torch.no_grad():
                correct["clean"] += int((model(xb).argmax(1) == yb).sum())
            bar.update(1)
            for index, name in enumerate(protocol.attacks):
                bar.set_postfix_str(ATTACK_LABELS[name])
                x_adv = run_attack(
                    name,
                    model,
                    xb,
                    yb,
                    protocol,
                    n_classes=n_classes,
                    generator=generators[name],
                    seed=_attack_seed(seed, index),
                )
                with torch.no_grad():
                    correct[name] += int((model(x_adv).argmax(1) == yb).sum())
                bar.update(1)
    result = {key: value / n for key, value in correct.items()}
    result["average"] = float(np.mean([result[a] for a in protocol.attacks]))
    return result


def _cell(value: float | None, percent: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = check_real("accuracy", value)
    return f"{100 * value:.2f}" if percent else f"{value:.4f}"


def _columns(attacks: Sequence[str], average: bool) -> list[str]:
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown!r}: attacks must be names from {', '.join(ATTACKS)}")
    return ["clean", *attacks] + (["average"] if average else [])


def table1_row(
    name: str,
    accuracies: Mapping[str, float],
    *,
    attacks: Sequence[str] = ATTACKS,
    average: bool = True,
    percent: bool = True,
) -> str:
    """One markdown row in the layout of DFARD Table 1: ``| name | Clean | FGSM | PGD_S | PGD_T | CW_inf | AA | Avg |``.

    ``accuracies`` is a :func:`robust_accuracy` result (fractions); cells are percentages with two decimals as
    in the paper (``percent=False``: fractions with four), ``-`` for an attack that was not run.
    """
    return "| " + " | ".join([name] + [_cell(accuracies.get(c), percent) for c in _columns(attacks, average)]) + " |"


def format_table1(
    rows: Mapping[str, Mapping[str, float]],
    *,
    attacks: Sequence[str] = ATTACKS,
    average: bool = True,
    percent: bool = True,
    first_column: str = "method",
) -> str:
    """A markdown table of :func:`table1_row` rows under DFARD Table 1's header (plus our ``Avg``, see above)."""
    columns = _columns(attacks, average)
    header = "| " + " | ".join([first_column] + [ATTACK_LABELS[c] for c in columns]) + " |"
    rule = "|" + "---|" * (len(columns) + 1)
    body = [table1_row(name, acc, attacks=attacks, average=average, percent=percent) for name, acc in rows.items()]
    return "\n".join([header, rule, *body])
