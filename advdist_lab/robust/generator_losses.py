"""The generator losses of DFARD (``001_...``, Eq. 1, 3, 6) and of its baselines (Table 1, Table 4).

DFARD's generation stage trains a generator ``x_hat = g(z, y)`` against a frozen teacher ``f_t`` and the current
student ``f_s``; for its baselines it says only that "the difference only lies in the generator loss function of
these methods" and that all of them go through the same distillation stage (the ARD loss, PGD-10). This module
holds those loss functions, one per name in :data:`GENERATOR_LOSSES`, behind one call::

    bn = BatchNormStatistics(teacher)   # hooks on every nn.BatchNorm2d (and on the last nn.Linear) of the teacher
    x = generator(z, y)                 # (B, C, H, W) in [0, 1]
    terms = generator_loss(method, x=x, y=y, teacher_logits=teacher(x), student_logits=student(x),
                           tau=tau, lam=lam, bn=bn)
    terms["total"].backward()           # only the generator is stepped
    bn.close()                          # or ``with BatchNormStatistics(teacher) as bn: ...``

:func:`generator_loss` returns the **unweighted** terms under their names and the weighted sum under
``"total"``; :func:`loss_weights` returns the weights it used (plain floats, for logging). Every term is a loss
the generator **minimises**.

**The terms** (``p_t = softmax(teacher_logits)``, ``B`` the batch size):

``cls``
    ``CE(f_t(x_hat), y)``, mean over the batch: DFARD's ``L_cls`` (Eq. 1), DAFL's one-hot loss, DFQ's instance
    term, DeepInversion's main loss. With the conditional generator ``y`` is the label the image was generated
    for; DAFL (unconditional) used the teacher's own argmax as a pseudo-label (DFARD Eq. 1 allows both).
``adv``
    ``-KL_tau(f_t || f_s)`` for "dfard", "zskt" and "dfq" (DFARD Eq. 3), where
    ``KL_tau(t || s) = tau^2 * (1/B) sum_i KL(softmax(t_i/tau) || softmax(s_i/tau))`` with Hinton's ``tau^2``
    scaling (so that its gradients keep their size as ``tau`` changes, as in the ``L_KD`` of Eq. 5).
    For "deepinv" it is ``-JS_tau(f_t, f_s)``, the Jensen-Shannon divergence of the two softened distributions
    (mean over the batch, natural log, no ``tau^2``): Adaptive DeepInversion's competition term.
``activation``
    ``-(1/B) sum_i mean_k |f_i,k|`` over the teacher's penultimate features ``f`` (the input of its last
    ``nn.Linear``): DAFL's activation loss.
``entropy``
    ``-H(mean_i p_t,i) = sum_c pbar_c log pbar_c``: the information-entropy loss of DAFL and DFQ's batch
    categorical entropy term (minimising it spreads the batch over the classes).
``bn``
    The batch-norm statistics loss of :meth:`BatchNormStatistics.loss` over the teacher's ``BatchNorm2d`` layers.
``tv``, ``l2``
    DeepInversion's image priors: :func:`total_variation` and :func:`image_l2`.

**The methods and their weights** (:data:`DEFAULT_WEIGHTS`; ``weights=`` overrides any of them, except for
"dfard"):

``"dfard"``
    DFARD Eq. 6: ``lam * cls + (1 - lam) * adv``. The weights come from ``lam`` only: Eq. 7 (AGB) when the caller
    adapts it, ``0.3`` for Table 3's "Vanilla"; the temperature ``tau`` of ``adv`` is Eq. 4's (ITA) or the
    vanilla ``3``. The caller decides both.
``"dafl"``
    DAFL (Chen et al. 2019): ``cls + 0.1 * activation + 5 * entropy``, DAFL's weights (alpha = 0.1, beta = 5).
    No adversarial term, so ``tau`` is unused and ``student_logits`` may be ``None``. Two notes against DAFL's
    code: its activation loss is ``-features.abs().mean()`` (mean over the feature dimension, which we follow;
    the paper writes the L1 norm, which would multiply the term by the feature width), and its entropy uses
    ``log10``; we use the natural log, so our ``entropy`` term is ``ln 10 = 2.3`` times DAFL's at the same
    weight. ``features=`` takes the teacher's penultimate features; if ``None`` they come from ``bn`` (which
    captures the input of the teacher's last ``nn.Linear``, see :class:`PenultimateFeatures`).
``"zskt"``
    ZSKT (Micaelli and Storkey 2019): the generator maximises the teacher-student KL, ``adv`` alone (weight 1).
    ZSKT's attention-transfer term trains the student, not the generator, so it has no place here; its
    temperature is the caller's ``tau`` (ITA's for Table 4's "ZSKT+ITA").
``"dfq"``
    DFQ (Choi et al. 2020): ``bn + cls + 20 * entropy + adv``. Choi et al. constrain the adversarial generator
    with three auxiliary terms (batch-norm statistics, instance categorical entropy, batch categorical
    entropy); the instance term is our ``cls`` (the conditional generator's label instead of the pseudo-label).
    The weights are those of the DFQ recipe in the CMI toolbox of Fang et al. (``--adv 1 --bn 1 --oh 1
    --balance 20``), the code base whose list of data-free baselines DFARD's Table 1 and 2 follow; DFARD gives
    none. The BN statistic is the L2 distance of means and of **standard deviations**
    (``statistic="std"``). Choi et al. measure the mismatch by a KL divergence between per-channel Gaussians
    instead; that form is :meth:`BatchNormStatistics.loss` with ``statistic="gaussian-kl"``, not the default
    because its scale (a sum over all channels) would need a weight that no source gives.
``"deepinv"``
    DeepInversion (Yin et al. 2020), with its adaptive competition term (ADI):
    ``cls + 10 * bn + 2.5e-5 * tv + 3e-8 * l2 + 1 * adv``. ``bn`` is DeepInversion's ``||mu - mu_run||_2 +
    ||var - var_run||_2`` per layer (``statistic="variance"``); ``10`` and ``2.5e-5`` are the CIFAR-10 "paper
    parameters" of DeepInversion's code (``--r_feature_weight=10``, ``--di_var_scale=2.5e-5``), ``3e-8`` is the
    order of its image-L2 weight (the released CIFAR script sets it to 0; at this weight the term is negligible
    and kept for completeness), and the competition weight ``1`` with ``-JS`` at ``tau`` follows the CMI toolbox
    (``--adv 1``, JS at ``T = 3``, which is the vanilla ``tau``). DeepInversion's code computes ``1 - JS`` on
    probabilities clipped to ``[0.01, 0.99]``; we use ``-JS`` unclipped (the same gradient where the clip is
    inactive). Our images are in ``[0, 1]`` while DeepInversion's priors act on normalised images, so the same
    ``tv`` and ``l2`` weights are somewhat weaker here. DeepInversion's random jitter and flips of the input are
    an image-optimisation device and are not applied.

The BN-based methods ("dfq", "deepinv") need a teacher with ``BatchNorm2d`` layers (every
:func:`~advdist_lab.robust.models.build_robust_model` architecture has them) and raise ``ValueError`` otherwise.

**Numerics.** Every term is computed in float32 (or float64 when the inputs are float64), from log-softmax, so
half-precision logits under autocast are safe; KL and JS are computed in log space.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advdist_lab.hparams import check_choice, check_real

__all__ = [
    "BN_STATISTICS",
    "DEFAULT_WEIGHTS",
    "GENERATOR_LOSSES",
    "BatchNormStatistics",
    "PenultimateFeatures",
    "batch_entropy",
    "generator_loss",
    "image_l2",
    "js_divergence",
    "kl_divergence",
    "loss_weights",
    "total_variation",
]

GENERATOR_LOSSES = ("dfard", "dafl", "zskt", "dfq", "deepinv")
"""The generator losses: DFARD (Eq. 6; also "Vanilla" with fixed ``tau = 3``, ``lam = 0.3``) and the baselines
of DFARD's Table 1 that train a generator: DAFL, ZSKT, DFQ and DeepInversion (module docstring)."""

DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "dfard": {},  # lam * cls + (1 - lam) * adv: the weights come from lam (Eq. 6, 7)
    "dafl": {"cls": 1.0, "activation": 0.1, "entropy": 5.0},
    "zskt": {"adv": 1.0},
    "dfq": {"cls": 1.0, "bn": 1.0, "entropy": 20.0, "adv": 1.0},
    "deepinv": {"cls": 1.0, "bn": 10.0, "tv": 2.5e-5, "l2": 3e-8, "adv": 1.0},
}
"""The weights of each method's terms (module docstring says where each comes from). "dfard" has none: its
weights are ``lam`` and ``1 - lam``."""

BN_STATISTICS = ("variance", "std", "gaussian-kl")
"""The forms of :meth:`BatchNormStatistics.loss`."""

_METHOD_BN_STATISTIC = {"dfq": "std", "deepinv": "variance"}


def _float_dtype(t: Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32


# --------------------------------------------------------------------------------------------------- divergences


def kl_divergence(teacher_logits: Tensor, student_logits: Tensor, tau: float) -> Tensor:
    """``tau^2 * (1/B) sum_i KL(softmax(t_i / tau) || softmax(s_i / tau))`` (DFARD Eq. 3 and 5, Hinton scaling).

    Gradients flow to both arguments. ``tau > 0``; inputs are ``(B, C)`` logits.
    """
    tau = _check_tau(tau)
    dtype = _float_dtype(teacher_logits)
    log_t = F.log_softmax(teacher_logits.to(dtype) / tau, dim=1)
    log_s = F.log_softmax(student_logits.to(dtype) / tau, dim=1)
    kl = (log_t.exp() * (log_t - log_s)).sum(dim=1).mean()
    return kl * tau**2


def js_divergence(teacher_logits: Tensor, student_logits: Tensor, tau: float = 1.0) -> Tensor:
    """``(1/B) sum_i JS(softmax(t_i / tau), softmax(s_i / tau))``, natural log, in ``[0, ln 2]`` (no ``tau^2``).

    ``JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2`` with ``M = (P + Q) / 2``: Adaptive DeepInversion's competition
    measure, computed in log space.
    """
    tau = _check_tau(tau)
    dtype = _float_dtype(teacher_logits)
    log_p = F.log_softmax(teacher_logits.to(dtype) / tau, dim=1)
    log_q = F.log_softmax(student_logits.to(dtype) / tau, dim=1)
    log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
    kl_pm = (log_p.exp() * (log_p - log_m)).sum(dim=1)
    kl_qm = (log_q.exp() * (log_q - log_m)).sum(dim=1)
    return (0.5 * (kl_pm + kl_qm)).mean()


def batch_entropy(logits: Tensor) -> Tensor:
    """``H(mean_i softmax(logits_i))`` in nats: the entropy of the batch's mean prediction (DAFL, DFQ).

    The loss terms use its negative (``entropy`` = ``-H``), which is lowest for a batch spread evenly over the
    classes.
    """
    p = F.softmax(logits.to(_float_dtype(logits)), dim=1).mean(dim=0)
    return -(torch.special.xlogy(p, p)).sum()


def total_variation(x: Tensor) -> Tensor:
    """DeepInversion's total variation (its "TV L2"): ``sum_d ||x - shift_d(x)||_2`` over the whole batch.

    The four differences ``d`` are horizontal, vertical and the two diagonals between neighbouring pixels, each
    the Frobenius norm of the difference tensor over ``(B, C, H, W)`` (not squared, not averaged), as in
    DeepInversion's code.
    """
    x = x.to(_float_dtype(x))
    diffs = (
        x[:, :, :, :-1] - x[:, :, :, 1:],
        x[:, :, :-1, :] - x[:, :, 1:, :],
        x[:, :, 1:, :-1] - x[:, :, :-1, 1:],
        x[:, :, :-1, :-1] - x[:, :, 1:, 1:],
    )
    return sum((torch.linalg.vector_norm(d) for d in diffs), x.new_zeros(()))


def image_l2(x: Tensor) -> Tensor:
    """DeepInversion's image prior ``||x||_2``: the Frobenius norm of the whole batch (not squared)."""
    return torch.linalg.vector_norm(x.to(_float_dtype(x)))


# --------------------------------------------------------------------------------------------------------- hooks


class PenultimateFeatures:
    """Captures the input of the **last** ``nn.Linear`` of ``model`` (in ``model.modules()`` order) at each forward.

    For every network of :mod:`advdist_lab.robust.models` that is the classifier's input, the teacher's
    penultimate features of DAFL's activation loss (the 128 hidden units of ``digits-cnn``, the pooled 512
    channels of ResNet-18, the pooled channels of a WideResNet). :attr:`features` is the ``(B, ...)`` tensor of
    the latest forward of ``model``, with its autograd graph. Use as a context manager or call :meth:`close`.

    Raises:
        ValueError: if ``model`` is not an ``nn.Module`` or has no ``nn.Linear``.
    """

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module (got {type(model).__name__})")
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError(
                f"the model has no nn.Linear layer, so it has no penultimate features ({type(model).__name__})"
            )
        self.module: nn.Linear = linears[-1]
        self._features: Tensor | None = None
        self._handles = [
            model.register_forward_pre_hook(self._clear),
            self.module.register_forward_pre_hook(self._record),
        ]

    def _clear(self, module: nn.Module, args: Any) -> None:
        self._features = None

    def _record(self, module: nn.Module, args: Any) -> None:
        self._features = args[0]

    @property
    def features(self) -> Tensor:
        """The input of the last ``nn.Linear`` in the latest forward of the model."""
        if self._features is None:
            raise RuntimeError("no penultimate features recorded: run the model forward (after opening the hooks)")
        return self._features

    def reset(self) -> None:
        """Forget the recorded features (a new forward of the model does this too)."""
        self._features = None

    def close(self) -> None:
        """Remove the hooks and drop the recorded tensor. Safe to call twice."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._features = None

    def __enter__(self) -> PenultimateFeatures:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BatchNormStatistics:
    """Forward hooks on every ``nn.BatchNorm2d`` of ``model`` recording the statistics of each layer's input.

    At each call of a hooked layer the hook computes the per-channel mean and **unbiased** variance of the
    layer's input over ``(N, H, W)``, in float32 and with autograd (so :meth:`loss` back-propagates to the input
    image and from there to the generator). A forward pre-hook on ``model`` itself clears the records, so after
    ``model(x)`` the records are exactly those of that forward: call the model once, then :meth:`loss`. (Calling
    a submodule directly does not clear them; :meth:`reset` does.) A layer called twice in one forward is
    recorded twice and counted twice.

    The statistics are compared with the layer's ``running_mean`` and ``running_var``. DeepInversion's code uses
    the biased batch variance; we use the unbiased one, which is what ``BatchNorm2d`` averages into
    ``running_var``, so a batch whose own statistics became the running statistics has loss exactly 0 (the two
    differ by the factor ``n / (n - 1)``, ``n = N * H * W``).

    The object also holds a :class:`PenultimateFeatures` of the same model (:attr:`penultimate`, ``None`` when
    the model has no ``nn.Linear``), which DAFL's activation loss reads.

    Use as a context manager, or call :meth:`close` to remove every hook. Set :attr:`enabled` to ``False`` to
    skip the statistics (e.g. during the distillation stage's many teacher forwards).

    Attributes:
        layers: the number of hooked ``BatchNorm2d`` layers (0 for a model without batch norm).
        modules: the hooked layers, in ``model.modules()`` order.
    """

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module (got {type(model).__name__})")
        self.modules: tuple[nn.BatchNorm2d, ...] = tuple(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
        self.enabled = True
        self._records: list[tuple[nn.BatchNorm2d, Tensor, Tensor, bool]] = []
        self._closed = False
        self._handles = [model.register_forward_pre_hook(self._new_forward)]
        self._handles += [m.register_forward_hook(self._record) for m in self.modules]
        has_linear = any(isinstance(m, nn.Linear) for m in model.modules())
        self.penultimate: PenultimateFeatures | None = PenultimateFeatures(model) if has_linear else None

    @property
    def layers(self) -> int:
        return len(self.modules)

    def _new_forward(self, module: nn.Module, args: Any) -> None:
        self._records = []

    def _record(self, module: nn.Module, args: Any, output: Any) -> None:
        if not self.enabled:
            return
        x = args[0]
        x = x.to(_float_dtype(x))
        n = x.numel() // x.shape[1]
        var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=1 if n > 1 else 0)
        self._records.append((module, mean, var, module.training))

    def reset(self) -> None:
        """Forget the recorded statistics (a forward of the model does this too)."""
        self._records = []
        if self.penultimate is not None:
            self.penultimate.reset()

    @property
    def features(self) -> Tensor:
        """The model's penultimate features of the latest forward (see :class:`PenultimateFeatures`)."""
        if self.penultimate is None:
            raise ValueError("the model has no nn.Linear layer, so it has no penultimate features")
        return self.penultimate.features

    def loss(self, statistic: str = "variance") -> Tensor:
        """The batch-norm statistics loss of the latest forward, summed over the recorded layer calls.

        Per layer, with the batch's mean ``mu`` and variance ``var`` and the layer's running ``mu_r``, ``var_r``
        and ``eps``:

        * ``"variance"`` (DeepInversion): ``||mu - mu_r||_2 + ||var - var_r||_2``.
        * ``"std"``: ``||mu - mu_r||_2 + ||sigma - sigma_r||_2`` with ``sigma = sqrt(var + eps)``,
          ``sigma_r = sqrt(var_r + eps)`` (the standard deviations the layer divides by).
        * ``"gaussian-kl"`` (DFQ's paper): ``sum_c KL(N(mu_c, sigma_c^2) || N(mu_r,c, sigma_r,c^2))``.

        Raises:
            ValueError: for an unknown ``statistic``, a model without ``BatchNorm2d``, or records made with the
                layers in training mode (the running statistics would then include the batch itself: put the
                teacher in ``eval()`` mode).
            RuntimeError: if no forward of the model has been recorded since the hooks were opened or reset, or
                after :meth:`close`.
        """
        check_choice("statistic", statistic, BN_STATISTICS)
        if self.layers == 0:
            raise ValueError("the teacher has no batch norm (no nn.BatchNorm2d layer), so it has no BN statistics")
        if self._closed:
            raise RuntimeError("BatchNormStatistics is closed: its hooks were removed")
        if not self._records:
            raise RuntimeError(
                "no batch-norm statistics recorded: run the teacher forward once (with enabled=True) before loss()"
            )
        if any(training for *_, training in self._records):
            raise ValueError(
                "the teacher's batch norm layers were in training mode in the recorded forward: call teacher.eval() "
                "(in training mode the running statistics absorb the generated batch)"
            )
        total = self._records[0][1].new_zeros(())
        for module, mean, var, _ in self._records:
            run_mean = module.running_mean.to(mean.dtype)
            run_var = module.running_var.to(var.dtype)
            if statistic == "variance":
                term = torch.linalg.vector_norm(mean - run_mean) + torch.linalg.vector_norm(var - run_var)
            elif statistic == "std":
                sigma = torch.sqrt(var + module.eps)
                sigma_r = torch.sqrt(run_var + module.eps)
                term = torch.linalg.vector_norm(mean - run_mean) + torch.linalg.vector_norm(sigma - sigma_r)
            else:
                v = var + module.eps
                v_r = run_var + module.eps
                term = 0.5 * (torch.log(v_r / v) + (v + (mean - run_mean) ** 2) / v_r - 1.0).sum()
            total = total + term
        return total

    def close(self) -> None:
        """Remove every hook (and the penultimate-feature hooks) and drop the records. Safe to call twice."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._records = []
        self._closed = True
        if self.penultimate is not None:
            self.penultimate.close()

    def __enter__(self) -> BatchNormStatistics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------- validation


def _check_tau(tau: object) -> float:
    value = check_real("tau", tau)
    if value <= 0:
        raise ValueError(f"tau must be > 0, the temperature of the adversarial KL (got {value!r})")
    return value


def _check_lam(lam: object) -> float:
    value = check_real("lam", lam)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], the weight of L_cls in DFARD Eq. 6 (got {value!r})")
    return value


def _check_logits(name: str, logits: object, batch: int) -> Tensor:
    if not isinstance(logits, Tensor) or not logits.dtype.is_floating_point:
        raise ValueError(f"{name} must be a floating-point tensor of shape (batch, C) (got {type(logits).__name__})")
    if logits.dim() != 2 or logits.shape[1] < 2 or logits.shape[0] != batch:
        raise ValueError(
            f"{name} must have shape (batch, C) = ({batch}, C >= 2), one row per image of x (got {tuple(logits.shape)})"
        )
    return logits


def loss_weights(method: str, weights: Mapping[str, float] | None = None, *, lam: float | None = None) -> dict:
    """The weights :func:`generator_loss` applies for ``method``: :data:`DEFAULT_WEIGHTS` updated by ``weights``.

    For "dfard" the weights are ``{"cls": lam, "adv": 1 - lam}`` (``lam`` required, ``weights`` not accepted).

    Raises:
        ValueError: for an unknown method, a weight name the method does not have, a negative or non-finite
            weight, or a missing or out-of-range ``lam`` for "dfard".
    """
    check_choice("method", method, GENERATOR_LOSSES)
    if method == "dfard":
        if weights:
            raise ValueError(
                f"dfard's weights are lam and 1 - lam (DFARD Eq. 6, lam from Eq. 7 or fixed): pass lam, not "
                f"weights (got weights for {', '.join(map(str, weights))})"
            )
        if lam is None:
            raise ValueError("dfard needs lam in [0, 1], the weight of L_cls in DFARD Eq. 6")
        lam = _check_lam(lam)
        return {"cls": lam, "adv": 1.0 - lam}
    result = dict(DEFAULT_WEIGHTS[method])
    if weights is None:
        return result
    if not isinstance(weights, Mapping):
        raise ValueError(f"weights must be a mapping of term name to weight (got {type(weights).__name__})")
    unknown = sorted(str(k) for k in weights if k not in result)
    if unknown:
        raise ValueError(f"unknown weight names for {method}: {', '.join(unknown)} (its terms are {', '.join(result)})")
    bad = []
    for name, value in weights.items():
        try:
            value = check_real(f"weight {name}", value)
        except ValueError:
            bad.append(f"{name}={value!r}")
            continue
        if value < 0:
            bad.append(f"{name}={value!r}")
            continue
        result[name] = value
    if bad:
        raise ValueError(f"weights must be finite and >= 0: {', '.join(bad)}")
    return result


# ---------------------------------------------------------------------------------------------------------- loss


def generator_loss(
    method: str,
    *,
    x: Tensor,
    y: Tensor,
    teacher_logits: Tensor,
    student_logits: Tensor | None,
    tau: float,
    lam: float,
    bn: BatchNormStatistics | None = None,
    features: Tensor | None = None,
    weights: Mapping[str, float] | None = None,
) -> dict[str, Tensor]:
    """The generator loss of ``method`` (module docstring): ``{term: unweighted value, ..., "total": weighted sum}``.

    Args:
        method: one of :data:`GENERATOR_LOSSES`.
        x: the generated images ``(B, C, H, W)`` (used by DeepInversion's image priors).
        y: the ``(B,)`` integer labels the images were generated for, in ``[0, C)`` (checked for CPU tensors;
            on an accelerator the check would synchronise with the host each step, so it is skipped there).
        teacher_logits: ``f_t(x)``, ``(B, C)``; gradients flow through it to ``x``.
        student_logits: ``f_s(x)``, ``(B, C)``; may be ``None`` for "dafl" only (it has no adversarial term).
        tau: the temperature ``> 0`` of the adversarial KL (or JS for "deepinv"): 3 for vanilla, Eq. 4 under ITA.
            Unused by "dafl".
        lam: the weight ``lambda`` in ``[0, 1]`` of DFARD Eq. 6 (0.3 for vanilla, Eq. 7 under AGB). Only "dfard"
            uses it; it is validated for every method.
        bn: the :class:`BatchNormStatistics` of the teacher, already run on ``x`` (required by "dfq" and
            "deepinv"; "dafl" reads the penultimate features from it when ``features`` is ``None``).
        features: the teacher's penultimate features ``(B, ...)`` for "dafl".
        weights: overrides of :data:`DEFAULT_WEIGHTS` (not for "dfard", whose weights are ``lam`` and
            ``1 - lam``). :func:`loss_weights` gives the weights used.

    Returns:
        A dict of 0-dim tensors: the method's terms under their names (``cls``, ``adv``, ``activation``,
        ``entropy``, ``bn``, ``tv``, ``l2``) and ``total``.

    Raises:
        ValueError: for an unknown method, bad shapes or labels, ``tau <= 0``, ``lam`` outside ``[0, 1]``, bad
            weights, a BN-based method without a batch-norm teacher, or "dafl" without penultimate features.
    """
    check_choice("method", method, GENERATOR_LOSSES)
    tau = _check_tau(tau)
    lam = _check_lam(lam)
    w = loss_weights(method, weights, lam=lam)
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[0] < 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a 4-D tensor of images (batch >= 1, channels, H, W) (got {shape})")
    batch = x.shape[0]
    teacher_logits = _check_logits("teacher_logits", teacher_logits, batch)
    num_classes = teacher_logits.shape[1]
    if student_logits is None:
        if method != "dafl":
            raise ValueError(f"{method} needs student_logits (its generator loss has an adversarial term)")
    else:
        student_logits = _check_logits("student_logits", student_logits, batch)
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(
                "teacher_logits and student_logits must have the same shape "
                f"(got {tuple(teacher_logits.shape)} and {tuple(student_logits.shape)})"
            )
    if not isinstance(y, Tensor) or y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"y must be an integer tensor of labels of shape ({batch},) (got {type(y).__name__})")
    if tuple(y.shape) != (batch,):
        raise ValueError(f"y must have shape (batch,) = ({batch},) (got {tuple(y.shape)})")
    # Reading the labels' range synchronises an accelerator with the host, so it is checked on the CPU only (on a
    # GPU the labels come from ConditionalGenerator.sample, which draws them in range).
    if y.device.type == "cpu" and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"y must lie in [0, C) = [0, {num_classes}) for the logits' C classes (got min {int(y.min())}, "
            f"max {int(y.max())})"
        )
    if bn is not None and not isinstance(bn, BatchNormStatistics):
        raise ValueError(f"bn must be a BatchNormStatistics of the teacher or None (got {type(bn).__name__})")
    if method in _METHOD_BN_STATISTIC and (bn is None or bn.layers == 0):
        raise ValueError(
            f"{method} needs the teacher's batch norm statistics, but the teacher has no batch norm "
            "(pass bn=BatchNormStatistics(teacher) for a teacher with nn.BatchNorm2d layers)"
        )

    dtype = _float_dtype(teacher_logits)
    labels = y.to(teacher_logits.device)
    terms: dict[str, Tensor] = {}
    if "cls" in w:
        terms["cls"] = F.cross_entropy(teacher_logits.to(dtype), labels)
    if "adv" in w:
        assert student_logits is not None
        if method == "deepinv":
            terms["adv"] = -js_divergence(teacher_logits, student_logits, tau)
        else:
            terms["adv"] = -kl_divergence(teacher_logits, student_logits, tau)
    if "activation" in w:
        if features is None:
            if bn is None or bn.penultimate is None:
                raise ValueError(
                    "dafl needs the teacher's penultimate features: pass features= or bn=BatchNormStatistics(teacher) "
                    "for a teacher with an nn.Linear classifier"
                )
            features = bn.features
        if not isinstance(features, Tensor) or features.dim() < 2 or features.shape[0] != batch:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise ValueError(f"features must be a tensor of shape (batch, ...) = ({batch}, ...) (got {shape})")
        terms["activation"] = -features.to(dtype).abs().flatten(1).mean(dim=1).mean()
    if "entropy" in w:
        terms["entropy"] = -batch_entropy(teacher_logits)
    if "bn" in w:
        assert bn is not None
        terms["bn"] = bn.loss(_METHOD_BN_STATISTIC[method]).to(dtype)
    if "tv" in w:
        terms["tv"] = total_variation(x).to(dtype)
    if "l2" in w:
        terms["l2"] = image_l2(x).to(dtype)
    terms["total"] = sum((w[name] * value for name, value in terms.items()), teacher_logits.new_zeros((), dtype=dtype))
    return terms
