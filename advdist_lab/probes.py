"""Gradient probes: the variance and the alignment of the adversarial and the distillation gradients in training.

TPAMI Section 4.3 argues that the student of ADIM learns faster than that of NGAN because its gradient mixes a
high-variance part from the discriminator (the adversarial term) with a low-variance part from the teacher (the
distillation term), and a mixture with a lower-variance part has lower variance (Lemma 4.5, Eq. 9); and that the
Gumbel-Softmax trick lowers the variance of the adversarial part itself (Eq. 10-11). Fig. 5 plots the two
variances during ADIM-NGS and ADIM training, Fig. 7 the cosine similarity of the two gradients, Fig. 10 the
variances on YFCC. This module measures them during a real run.

For every minibatch step ``i`` of a generator (the student, and the teacher where it trains in the main loop), the
probe takes the gradients with respect to the player's parameters of its loss's parts separately, flattened into
vectors: ``a_i`` (adversarial), ``d_i`` (distillation) and ``g_i`` (the whole loss, what the optimiser uses). Over
the ``n`` minibatches of an epoch it reports, in the history entry of that epoch:

* ``grad_var_adversarial = (1/n) sum_i ||a_i - mean(a)||^2``: the mean squared deviation from the epoch's mean
  gradient (the trace of the gradients' covariance across minibatches, in its 1/n form);
* ``grad_var_distillation`` the same for ``d_i``, and ``grad_var_total`` for ``g_i``;
* ``grad_cosine = (1/n) sum_i cos(a_i, d_i)``: the minibatches' mean cosine similarity (0 on a minibatch where
  either gradient is zero), in ``[-1, 1]``;
* the same four with the prefix ``teacher_`` for the teacher.

Keys exist only for the parts a method has: NGAN's student has no distillation term (no ``grad_var_distillation``
and no cosine), the KD baselines have no adversarial term. The discriminator is not probed.

What is measured (our choices, where the papers are silent): the parts are taken **as they enter the loss**, that
is already multiplied by their weights (``omega_s`` times the adversarial term, ``nu`` times ``L_KD``; see
:class:`advdist_lab.methods.base.Terms`), so ``a_i + d_i = g_i`` for ADIB and ADIM. Cosines do not depend on the
weights; the variances scale with their squares. The adversarial gradient is the **estimator's** gradient (score
function for ADIM-NGS, straight-through or pathwise Gumbel-Softmax for ADIM), which is what the student follows.
The distillation term ``L_KD`` of Eq. 2 includes ``upsilon KL(p_r || p)``.

Cost: one extra backward pass per minibatch per probed player (``torch.autograd.grad`` of one part with the graph
retained, then the usual backward of the whole loss); the last part is the whole gradient minus the others, so
ADIB and ADIM need one extra pass and NGAN and MIMIC none. Probing changes no bit of training: the optimiser
receives exactly the gradient of the unprobed step, and no random numbers are drawn. The statistics are kept on
the training device (Welford's update in float64 where the device has it) and read once per epoch, so the step
loop gains no host-device synchronisation. With probes off (the default) the loop never enters this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor

from .hparams import check_choice, check_real

PROBED_PARTS = ("adversarial", "distillation")
"""The parts of a generator's loss (:class:`~advdist_lab.methods.base.Terms`) whose gradients are probed."""

PROBED_PLAYERS = ("student", "teacher")
STATISTICS = ("grad_var_adversarial", "grad_var_distillation", "grad_var_total", "grad_cosine")
"""The history keys of the student; the teacher's carry the prefix ``teacher_``."""


def history_key(player: str, statistic: str) -> str:
    """The history key of ``statistic`` (one of :data:`STATISTICS`) for ``player``: the teacher's are prefixed."""
    check_choice("player", player, PROBED_PLAYERS)
    check_choice("statistic", statistic, STATISTICS)
    return statistic if player == "student" else f"teacher_{statistic}"


def _flat(grads: Iterable[Tensor | None], parameters: Sequence[Tensor]) -> Tensor:
    return torch.cat(
        [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, parameters, strict=True)]
    )


def split_backward(terms, parameters: Sequence[Tensor]) -> dict[str, Tensor]:
    """Backpropagate ``terms.total`` into ``parameters`` and return the flattened gradient of each part.

    ``terms`` is a :class:`~advdist_lab.methods.base.Terms`. Afterwards every parameter's ``.grad`` holds exactly
    what ``terms.total.backward()`` alone leaves (the call is that backward plus at most one
    ``torch.autograd.grad`` per probed part but the last). Returns ``{"adversarial": a, "distillation": d,
    "total": g}`` for the parts ``terms`` has, each a 1-D tensor over the concatenated parameters. When the
    probed parts make up the whole loss (no supervised part), the last of them is ``g`` minus the others: one
    backward pass fewer, at the price of rounding in the last bits of that part.
    """
    parameters = [p for p in parameters if p.requires_grad]
    if not parameters:
        raise ValueError("split_backward needs at least one parameter that requires a gradient")
    parts = {name: getattr(terms, name) for name in PROBED_PARTS if getattr(terms, name) is not None}
    derived = next(reversed(parts)) if parts and terms.supervised is None else None
    grads: dict[str, Tensor] = {}
    for name, part in parts.items():
        if name == derived:
            continue
        if part.requires_grad:
            grads[name] = _flat(torch.autograd.grad(part, parameters, retain_graph=True, allow_unused=True), parameters)
        else:
            grads[name] = torch.zeros(sum(p.numel() for p in parameters), device=parameters[0].device)
    for p in parameters:
        p.grad = None
    terms.total.backward()
    total = _flat((p.grad for p in parameters), parameters)
    if derived is not None:
        others = list(grads.values())
        grads[derived] = total - torch.stack(others).sum(0) if others else total.clone()
    grads["total"] = total
    return grads


class _Welford:
    """The running mean vector and summed squared deviation of a stream of vectors (Welford 1962), on device."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None

    def add(self, x: Tensor) -> None:
        self.count += 1
        if self.mean is None:
            self.mean = x.clone()
            self.m2 = torch.zeros((), dtype=x.dtype, device=x.device)
            return
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta @ (x - self.mean)  # = (1 - 1/n) ||delta||^2 >= 0

    def variance(self) -> Tensor:
        return self.m2 / self.count


def _work_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


class GradientProbe:
    """Per-epoch statistics of the probed gradients of each player (see the module docstring).

    The trainer calls :meth:`reset` at the start of an epoch, :meth:`observe` after each probed step with the
    gradients of :func:`split_backward`, and :meth:`summary` at the end of the epoch.
    """

    def __init__(self) -> None:
        self._streams: dict[tuple[str, str], _Welford] = {}
        self._cosines: dict[str, list[Tensor]] = {}

    def reset(self) -> None:
        self._streams.clear()
        self._cosines.clear()

    def observe(self, player: str, grads: Mapping[str, Tensor]) -> None:
        check_choice("player", player, PROBED_PLAYERS)
        work = {name: g.detach().to(_work_dtype(g.device)) for name, g in grads.items()}
        for name, g in work.items():
            self._streams.setdefault((player, name), _Welford()).add(g)
        if all(name in work for name in PROBED_PARTS):
            a, d = (work[name] for name in PROBED_PARTS)
            cosine = torch.nn.functional.cosine_similarity(a, d, dim=0, eps=1e-30).clamp(-1.0, 1.0)
            self._cosines.setdefault(player, []).append(cosine)

    def summary(self) -> dict[str, float]:
        """The epoch's statistics keyed as the history (:func:`history_key`); reads the device once per value."""
        out: dict[str, float] = {}
        for (player, name), stream in self._streams.items():
            out[history_key(player, f"grad_var_{name}")] = float(stream.variance().clamp_min(0.0))
        for player, cosines in self._cosines.items():
            out[history_key(player, "grad_cosine")] = float(torch.stack(cosines).mean())
        return out


# --------------------------------------------------------------------------------------------------------
# Reading probed histories (for notebooks and figures)
# --------------------------------------------------------------------------------------------------------


def series(history: Sequence[Mapping], key: str) -> list[float]:
    """The values of ``key`` over the epochs of a run's history; a ``ValueError`` names a key the run lacks."""
    if not history:
        raise ValueError("the history is empty: the run has no epochs")
    missing = [entry.get("epoch", i + 1) for i, entry in enumerate(history) if key not in entry]
    if missing:
        known = sorted(k for k in history[0] if k.startswith(("grad_", "teacher_grad_")))
        hint = (
            f"; the probed keys of this run are {', '.join(known)}"
            if known
            else ("; this run was not probed (train it with probe_gradients=True, or --probe-gradients)")
        )
        raise ValueError(f"{key!r} is missing from epoch {missing[0]} of the history{hint}")
    return [float(entry[key]) for entry in history]


def mean_over_epochs(history: Sequence[Mapping], key: str, skip: int = 0) -> float:
    """The mean of ``key`` over the epochs after the first ``skip`` (Fig. 7 averages the cosine over epochs)."""
    values = series(history, key)
    if not isinstance(skip, int) or isinstance(skip, bool) or not 0 <= skip < len(values):
        raise ValueError(f"skip must be an integer in [0, {len(values)}) for {len(values)} epochs (got {skip!r})")
    kept = values[skip:]
    return sum(kept) / len(kept)


def epochs_to_accuracy(history: Sequence[Mapping], threshold: float, key: str = "student_test_accuracy") -> int | None:
    """The first epoch (1-based) whose ``key`` reaches ``threshold``; ``None`` if the run never does.

    The papers' training speed is "the number of training epochs required for convergence" (TPAMI Sec. 5.1);
    a fixed accuracy to reach makes it a number that can be compared between methods.
    """
    threshold = check_real("threshold", threshold)
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be an accuracy in [0, 1] (got {threshold!r})")
    for epoch, value in enumerate(series(history, key), start=1):
        if math.isfinite(value) and value >= threshold:
            return epoch
    return None
