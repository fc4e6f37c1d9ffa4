"""The gradient attacks of DFARD Table 1 (``001_...``, "Attack Evaluation"), and the model side of every attack.

DFARD evaluates every student under five L_inf attacks at ``eps = 8/255``, the three iterative ones with 20
steps (:mod:`advdist_lab.robust.attacks.protocol` runs them; AutoAttack is :mod:`advdist_lab.robust.attacks.auto`). The
four built from the input gradient live here:

* :func:`fgsm`: one signed-gradient step of size ``eps`` on the cross-entropy (Goodfellow et al. 2014).
* :func:`pgd_s`: PGD on the cross-entropy with a uniform random start in the ball (Madry et al. 2017).
* :func:`pgd_t`: the TRADES attack (Zhang et al. 2019): PGD maximising ``KL(f(x) || f(x_adv))`` from a small
  Gaussian start ``x + 0.001 * N(0, I)``; it needs no label.
* :func:`cw_inf`: PGD on the Carlini-Wagner margin ``max_{j != y} z_j - z_y`` of the logits ``z`` under the same
  L_inf budget (Carlini and Wagner 2017, in the L_inf form of the TRADES/MART/RSLAD evaluation code).

**Conventions.** Inputs lie in ``[0, 1]``; any normalisation belongs inside the model (:class:`Normalized`), so
``eps`` is measured in pixel units as in the paper. Every attack returns inputs inside the eps-ball of ``x``
(``|x_adv - x| <= eps`` elementwise, up to float rounding of one ulp) and inside ``[0, 1]``. During an attack the
model is in eval mode and its parameters do not require gradients (faster, and their ``.grad`` is never
touched: :func:`attack_mode`); afterwards each module's train/eval flag and each parameter's ``requires_grad``
are restored.

**Where the paper is silent, and what we chose.**

* Step sizes of the iterative attacks: the paper gives 20 steps at ``eps = 8/255``; we use ``2/255``, the step
  of its PGD-10 training attack and of the RSLAD/ARD evaluation code it follows.
* Random starts: uniform in the ball for PGD_S and CW_inf (as the TRADES/MART evaluation scripts with
  ``--random``), ``0.001 * N(0, I)`` for PGD_T (as TRADES; DFARD's own training PGD also starts at 0.001).
* CW_inf: the plain margin, without the confidence clamp ``kappa = 50`` of the TRADES/MART scripts; the clamp
  only zeroes the gradient of points already misclassified by a margin of 50, so the accuracy is the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advdist_lab.hparams import check_positive, check_positive_int

__all__ = [
    "Normalized",
    "attack_mode",
    "check_budget",
    "check_inputs",
    "cw_inf",
    "fgsm",
    "pgd_s",
    "pgd_t",
    "project_linf",
    "signed_ascent",
    "uniform_start",
]


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
# Validation and the steps every attack shares (public: AutoAttack, the protocol and the robust teacher use them)
# ----------------------------------------------------------------------------------------------------------------


def check_inputs(x: object, y: object, *, need_labels: bool = True) -> None:
    """``ValueError`` unless ``x`` is a float ``(batch >= 1, ...)`` tensor in ``[0, 1]`` and ``y`` its int64 labels
    ``(batch,)`` (``y`` may be ``None`` when ``need_labels`` is false)."""
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


def check_budget(eps: object, steps: object = 1, step_size: object = 1.0) -> tuple[float, int, float]:
    """``(eps, steps, step_size)`` checked: ``0 < eps <= 1`` (pixel units of ``[0, 1]`` inputs), ``steps >= 1``,
    ``step_size > 0``; else ``ValueError`` naming the first bad one."""
    eps = check_positive("eps", eps)
    if eps > 1.0:
        raise ValueError(f"eps must be > 0 and <= 1 for inputs in [0, 1] (got {eps!r})")
    return eps, check_positive_int("steps", steps), check_positive("step_size", step_size)


def project_linf(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """The nearest point of the eps-ball of ``x`` intersected with ``[0, 1]`` (both are boxes)."""
    return torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)


def _input_gradient(loss_fn: Callable[[Tensor], Tensor], x_adv: Tensor) -> Tensor:
    x_adv = x_adv.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(x_adv)
        (grad,) = torch.autograd.grad(loss, [x_adv])
    return grad.detach()


def uniform_start(x: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
    """``x + U(-eps, eps)`` drawn from ``generator``, projected (:func:`project_linf`): the start of PGD_S and
    CW_inf."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return project_linf(x + (2.0 * noise - 1.0) * eps, x, eps)


def signed_ascent(
    model: nn.Module,
    x: Tensor,
    x_start: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    eps: float,
    steps: int,
    step_size: float,
) -> Tensor:
    """``steps`` times ``x_{k+1} = Proj(x_k + step_size * sign(grad loss_fn(x_k)))`` from ``x_start``, projected
    onto the eps-ball of ``x`` and ``[0, 1]``; the ascent of PGD_S, PGD_T and CW_inf. ``x_adv`` detached."""
    x_adv = x_start
    for _ in range(steps):
        grad = _input_gradient(loss_fn, x_adv)
        x_adv = project_linf(x_adv + step_size * grad.sign(), x, eps)
    return x_adv.detach()


# ----------------------------------------------------------------------------------------------------------------
# The attacks
# ----------------------------------------------------------------------------------------------------------------


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """FGSM (Goodfellow et al. 2014; DFARD Table 1 "FGSM"): ``clip_[0,1](x + eps * sign(grad_x CE(f(x), y)))``.

    The cross-entropy is summed over the batch, so each row's step is the sign of its own gradient (a mean would
    only rescale it). Coordinates with a zero gradient do not move (``sign(0) = 0``).
    """
    check_inputs(x, y)
    eps, _, _ = check_budget(eps)
    x = x.detach()
    with attack_mode(model):
        grad = _input_gradient(lambda z: F.cross_entropy(model(z), y, reduction="sum"), x)
        return project_linf(x + eps * grad.sign(), x, eps)


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
    check_inputs(x, y)
    eps, steps, step_size = check_budget(eps, steps, step_size)
    x = x.detach()
    with attack_mode(model):
        start = uniform_start(x, eps, generator) if random_start else x.clone()
        return signed_ascent(model, x, start, lambda z: loss(model(z)), eps, steps, step_size)


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
    check_inputs(x, y, need_labels=False)
    eps, steps, step_size = check_budget(eps, steps, step_size)
    start_std = check_positive("start_std", start_std)
    x = x.detach()
    with attack_mode(model):
        with torch.no_grad():
            p_clean = F.softmax(model(x), dim=-1)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        start = project_linf(x + start_std * noise, x, eps)

        def kl(z: Tensor) -> Tensor:
            return F.kl_div(F.log_softmax(model(z), dim=-1), p_clean, reduction="sum")

        return signed_ascent(model, x, start, kl, eps, steps, step_size)


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
