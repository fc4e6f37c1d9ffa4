"""Accuracy and the ranking metrics of image tag recommendation (KDGAN Sec. 4.2, TPAMI Sec. 5.2, Table 4).

A recommender scores every tag of an item; the tags are ranked by score, and the item's true tags are the
relevant ones. With ``scores`` and ``targets`` of shape ``(items, tags)`` (``targets`` 0/1), per item:

* ``P@k``: the fraction of the ``k`` top-ranked tags that are relevant;
* ``R@k``: the fraction of the item's relevant tags that are among the top ``k``. (The original KDGAN code's
  recall ignored ``k``; this is the standard definition.)
* ``NDCG@k``: ``DCG@k / IDCG@k`` with binary gains and ``log2(rank + 1)`` discounts;
* ``AP``: the mean, over the item's relevant tags, of the precision at each one's rank (``MAP`` averages it);
* ``RR``: one over the rank of the first relevant tag (``MRR`` averages it).

``P@k``, ``R@k``, ``NDCG@k``, ``MAP`` and ``MRR`` are means over items. ``F@k`` is the harmonic mean of the mean
``P@k`` and the mean ``R@k``, as the papers' tables report it. Ranks break ties by the lower tag index (a stable
sort), so tied scores give deterministic results; scikit-learn averages over ties instead, so the two agree on
scores without ties. Every item must have at least one relevant tag (otherwise recall, AP and RR are undefined).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .hparams import check_positive_int

RANKING_METRICS = ("p@k", "r@k", "f@k", "ndcg@k", "map", "mrr")
"""The keys of :func:`ranking_metrics`, with ``k`` replaced by its value (``p@3``...)."""

TAG_K = 3
"""The cut-off of the ranking metrics of the tag runs: P@3, R@3, F@3, NDCG@3 (TPAMI Table 4)."""

TAG_METRICS = tuple(key.replace("@k", f"@{TAG_K}") for key in RANKING_METRICS)
"""``p@3``, ``r@3``, ``f@3``, ``ndcg@3``, ``map``, ``mrr``: the ranking metrics a tag run reports."""


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """The fraction of rows whose largest logit is at the true label."""
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        raise ValueError(f"logits must be a tensor of shape (items, classes) (got {getattr(logits, 'shape', logits)})")
    if not isinstance(labels, Tensor) or tuple(labels.shape) != (logits.shape[0],):
        raise ValueError(
            f"labels must be a tensor of shape ({logits.shape[0]},) (got {getattr(labels, 'shape', labels)})"
        )
    return float((logits.argmax(-1) == labels).float().mean())


def _check_ranking_inputs(scores: object, targets: object) -> tuple[Tensor, Tensor]:
    for name, value in (("scores", scores), ("targets", targets)):
        if not isinstance(value, Tensor) or value.dim() != 2 or value.shape[0] < 1 or value.shape[1] < 1:
            raise ValueError(f"{name} must be a tensor of shape (items, tags) (got {getattr(value, 'shape', value)!r})")
    if scores.shape != targets.shape:
        raise ValueError(
            f"scores and targets must have the same shape (got {tuple(scores.shape)} and {tuple(targets.shape)})"
        )
    if not scores.is_floating_point():
        raise ValueError(f"scores must be floating-point (got {scores.dtype})")
    if not torch.isfinite(scores).all():
        raise ValueError("scores must be finite")
    relevant = targets.to(torch.float64)
    if not ((relevant == 0) | (relevant == 1)).all():
        raise ValueError("targets must hold only 0 and 1 (1: the tag is relevant to the item)")
    empty = (relevant.sum(-1) == 0).nonzero().flatten()
    if len(empty):
        raise ValueError(
            f"every item needs at least one relevant tag: {len(empty)} item(s) have none (the first is row "
            f"{int(empty[0])})"
        )
    return scores, relevant


def ranking_metrics(scores: Tensor, targets: Tensor, k: int = 3) -> dict[str, float]:
    """``p@k``, ``r@k``, ``f@k``, ``ndcg@k``, ``map`` and ``mrr`` of ``scores`` against 0/1 ``targets`` (module doc).

    Shapes ``(items, tags)``; ``k`` is capped at the number of tags. Keys carry the value of ``k``
    (``{"p@3": ..., "r@3": ..., "f@3": ..., "ndcg@3": ..., "map": ..., "mrr": ...}``). Raises ``ValueError`` for
    mismatched shapes, non-finite scores, targets that are not 0/1, items without a relevant tag, or ``k < 1``.
    """
    k = check_positive_int("k", k)
    scores, relevant = _check_ranking_inputs(scores, targets)
    tags = scores.shape[1]
    order = torch.sort(scores.detach(), dim=-1, descending=True, stable=True).indices
    ranked = relevant.gather(-1, order.to(relevant.device))  # ranked[i, j] = 1 if the tag at rank j + 1 is relevant
    positions = torch.arange(1, tags + 1, dtype=torch.float64, device=ranked.device)
    n_relevant = relevant.sum(-1)
    top = min(k, tags)
    hits = ranked[:, :top].sum(-1)
    precision = hits / k
    recall = hits / n_relevant
    discounts = 1.0 / torch.log2(positions + 1.0)
    dcg = (ranked[:, :top] * discounts[:top]).sum(-1)
    ideal = torch.stack([discounts[: int(min(n, top))].sum() for n in n_relevant.tolist()])
    ndcg = dcg / ideal
    precision_at_each = ranked.cumsum(-1) / positions
    average_precision = (precision_at_each * ranked).sum(-1) / n_relevant
    first = ranked.argmax(-1).to(torch.float64) + 1.0  # the first relevant rank (every item has one)
    p, r = float(precision.mean()), float(recall.mean())
    return {
        f"p@{k}": p,
        f"r@{k}": r,
        f"f@{k}": 2 * p * r / (p + r) if p + r > 0 else 0.0,
        f"ndcg@{k}": float(ndcg.mean()),
        "map": float(average_precision.mean()),
        "mrr": float((1.0 / first).mean()),
    }


def player_ranking_metrics(player: str, scores: Tensor, targets: Tensor) -> dict[str, float]:
    """One player's test metrics on multi-label data (TPAMI Table 4), keyed ``{player}_{metric}``: the
    :data:`TAG_METRICS` of :func:`ranking_metrics` at ``k =`` :data:`TAG_K` and ``{player}_test_accuracy``, P@1 (the
    fraction of items whose top-ranked tag is one of theirs). ``scores`` ``(items, tags)``, ``targets`` 0/1 or bool.
    The evaluation of the solo loop and of a batch's every member (``advdist_lab.methods.loop``,
    ``advdist_lab.runs.ensemble``)."""
    out = {f"{player}_test_accuracy": float(targets.gather(1, scores.argmax(-1, keepdim=True)).float().mean())}
    for key, value in ranking_metrics(scores, targets, k=TAG_K).items():
        out[f"{player}_{key}"] = value
    return out


def tag_result_fields(last: dict) -> dict[str, float]:
    """The ranking metrics that a tag run's ``result.json`` holds at the top level, from its last evaluated history
    entry ``last``: the student's as ``p@3``, ``r@3``... and the teacher's as ``teacher_p@3``... (those present)."""
    fields = {}
    for player, prefix in (("student", ""), ("teacher", "teacher_")):
        for name in TAG_METRICS:
            if f"{player}_{name}" in last:
                fields[prefix + name] = last[f"{player}_{name}"]
    return fields
