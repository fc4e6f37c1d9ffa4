"""Discriminators of NGAN and ADIB (binary, TPAMI Eq. 3, 4, 16) and of ADIM (multi-class, Eq. 6, Sec. 5).

Both read a pair ``(x, y)``: an input (with its privileged provisions: the discriminator may use them, Eq. 16)
and a label. As in the original KDGAN code the backbone ``g`` returns one logit per label, ``g(x) in R^K``, and
the scoring function of Eq. 16 is ``g(x, y) = <y, g(x)>``:

* for an integer label ``y`` that is ``g(x)[y]``, so ``D(x, y) = sigmoid(logit_y(x))`` as in the original code;
* for a one-hot label it is the same number;
* for a relaxed (Gumbel-Softmax, Eq. 10) label it is the convex combination ``sum_k y_k g_k(x)``, which is what
  lets a gradient flow from the discriminator into the student and the teacher through a relaxed sample.

Everything is computed in log-space with ``logsigmoid``: no ``log(0)`` even for logits of 1e4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BinaryDiscriminator", "MulticlassDiscriminator", "label_score"]


def _check_logits(logits: torch.Tensor, x: torch.Tensor, who: str) -> None:
    if logits.dim() != 2 or logits.shape[0] != x.shape[0]:
        raise ValueError(
            f"the {who} backbone must return one logit per label, shape (B, K) with B = {x.shape[0]} "
            f"(got {tuple(logits.shape)})"
        )


def label_score(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The scoring function ``<y, g(x)>`` of Eq. 16 from the per-label logits ``g(x)`` of shape ``(B, K)``.

    ``y`` is either integer labels of shape ``(B,)`` (then the result is ``logits[b, y_b]``) or a floating
    tensor of shape ``(B, K)``: a one-hot or relaxed label (then ``sum_k y_k logits[b, k]``). Returns ``(B,)``.
    A shape or dtype that fits neither raises ``ValueError``; so do integer labels outside ``[0, K)`` when
    they are on the CPU (on an accelerator that check would cost a host-device synchronisation, so it is left
    to the indexing kernel).
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (B, K) (got {tuple(logits.shape)})")
    batch, k = logits.shape
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"y must be a tensor of labels (B,) or of label distributions (B, K) (got {type(y).__name__})")
    if y.dtype == torch.bool or y.is_complex():
        raise ValueError(f"y must hold integer labels or real label weights (got dtype {y.dtype})")
    if y.is_floating_point():
        if tuple(y.shape) != (batch, k):
            raise ValueError(
                f"a one-hot or relaxed label y must have shape (B, K) = ({batch}, {k}) (got {tuple(y.shape)})"
            )
        return (y * logits).sum(dim=-1)
    if tuple(y.shape) != (batch,):
        raise ValueError(f"integer labels y must have shape (B,) = ({batch},) (got {tuple(y.shape)})")
    if y.device.type == "cpu" and y.numel() and (int(y.min()) < 0 or int(y.max()) >= k):
        raise ValueError(f"integer labels y must lie in [0, K) = [0, {k}) (got min {int(y.min())}, max {int(y.max())})")
    return logits.gather(1, y.long().unsqueeze(1)).squeeze(1)


class BinaryDiscriminator(nn.Module):
    """``D(x, y) = sigmoid(<y, g(x)>)`` (Eq. 16): the probability that ``y`` is a real label of ``x``.

    NGAN (Eq. 3) and ADIB (Eq. 4) train it to tell true labels from the student's (and the teacher's).
    ``forward`` returns the logit ``<y, g(x)>``, shape ``(B,)``; ``log_prob_real`` and ``log_prob_fake`` return
    ``log D(x, y)`` and ``log(1 - D(x, y))``.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise ValueError(f"backbone must be a torch.nn.Module (got {type(backbone).__name__})")
        self.backbone = backbone

    def label_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``g(x)``: one discriminator logit per label, shape ``(B, K)``."""
        logits = self.backbone(x)
        _check_logits(logits, x, "discriminator")
        return logits

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The logit ``<y, g(x)>`` of ``D(x, y)``, shape ``(B,)``; see :func:`label_score` for ``y``."""
        return label_score(self.label_logits(x), y)

    def log_prob_real(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``log D(x, y) = logsigmoid(<y, g(x)>)``, shape ``(B,)``."""
        return F.logsigmoid(self(x, y))

    def log_prob_fake(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``log(1 - D(x, y)) = logsigmoid(-<y, g(x)>)``, shape ``(B,)``."""
        return F.logsigmoid(-self(x, y))


def three_way_log_probs(h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    """``(log D_r, log D_s, log D_t)`` stacked on a new last dimension from the two head logits."""
    log_fake = F.logsigmoid(-h1)
    return torch.stack((F.logsigmoid(h1), log_fake + F.logsigmoid(h2), log_fake + F.logsigmoid(-h2)), dim=-1)


class MulticlassDiscriminator(nn.Module):
    """ADIM's three-way discriminator (Eq. 6) as two binary heads (TPAMI Sec. 5).

    "We implement the multi-class discriminator with two binary-class discriminators: one decides whether a
    label is real or fake, and the other decides whether a fake label is generated by the student or the
    teacher." With head logits ``h1 = <y, g1(x)>`` (real vs fake) and ``h2 = <y, g2(x)>`` (student vs
    teacher)::

        D_r = sigmoid(h1),   D_s = (1 - D_r) sigmoid(h2),   D_t = (1 - D_r) sigmoid(-h2),

    which are positive and sum to 1, the constraint of Eq. 6. ``log D_r`` depends on the real-vs-fake head
    only, so its gradient never reaches the student-vs-teacher head.

    ``real_fake`` and ``student_teacher`` are the two backbones (each returns ``K`` logits); they are kept as
    the attributes of the same names, so each head can get its own optimiser if wanted.
    """

    ORDER = ("r", "s", "t")
    """Column order of :meth:`log_probs`: real, student, teacher."""

    def __init__(self, real_fake: nn.Module, student_teacher: nn.Module) -> None:
        super().__init__()
        for name, module in (("real_fake", real_fake), ("student_teacher", student_teacher)):
            if not isinstance(module, nn.Module):
                raise ValueError(f"{name} must be a torch.nn.Module (got {type(module).__name__})")
        if real_fake is student_teacher:
            raise ValueError("real_fake and student_teacher must be two different modules (two independent heads)")
        self.real_fake = real_fake
        self.student_teacher = student_teacher

    def head_label_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g1(x), g2(x))``: the per-label logits of both heads, each of shape ``(B, K)``."""
        g1, g2 = self.real_fake(x), self.student_teacher(x)
        _check_logits(g1, x, "real-vs-fake")
        _check_logits(g2, x, "student-vs-teacher")
        if g1.shape != g2.shape:
            raise ValueError(
                f"both heads must return (B, K) logits of one shape (got {tuple(g1.shape)}, {tuple(g2.shape)})"
            )
        return g1, g2

    def log_probs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(log D_r, log D_s, log D_t)`` of the pairs ``(x_b, y_b)``, shape ``(B, 3)`` in :attr:`ORDER`.

        ``y`` is integer labels ``(B,)`` or one-hot / relaxed labels ``(B, K)``, as in :func:`label_score`.
        """
        g1, g2 = self.head_label_logits(x)
        return three_way_log_probs(label_score(g1, y), label_score(g2, y))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`log_probs`."""
        return self.log_probs(x, y)

    def log_probs_all_labels(self, x: torch.Tensor) -> torch.Tensor:
        """``log D_i(x, y)`` for every label ``y`` at once, shape ``(B, K, 3)``: one forward pass per head.

        Entry ``[b, k]`` equals ``log_probs(x, y)[b]`` for the label ``y_b = k``; useful for exact expectations
        over a player's distribution, ``sum_y p(y | x) log D_i(x, y)``.
        """
        g1, g2 = self.head_label_logits(x)
        return three_way_log_probs(g1, g2)
