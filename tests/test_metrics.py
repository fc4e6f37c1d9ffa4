"""Tests of :mod:`advdist_lab.metrics` against scikit-learn and against brute-force definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, ndcg_score, top_k_accuracy_score

from advdist_lab.metrics import accuracy, ranking_metrics


def random_case(seed: int, items: int = 40, tags: int = 12):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(items, tags, generator=gen, dtype=torch.float64)
    targets = (torch.rand(items, tags, generator=gen) < 0.25).to(torch.int64)
    targets[torch.arange(items), torch.randint(0, tags, (items,), generator=gen)] = 1  # at least one per item
    return scores, targets


def brute_force(scores: np.ndarray, targets: np.ndarray, k: int) -> dict[str, float]:
    ps, rs, rrs = [], [], []
    for s, t in zip(scores, targets, strict=True):
        order = sorted(range(len(s)), key=lambda j: (-s[j], j))
        top = order[:k]
        hits = sum(t[j] for j in top)
        ps.append(hits / k)
        rs.append(hits / t.sum())
        rrs.append(1.0 / next(rank for rank, j in enumerate(order, start=1) if t[j]))
    p, r = float(np.mean(ps)), float(np.mean(rs))
    return {"p": p, "r": r, "f": 2 * p * r / (p + r), "mrr": float(np.mean(rrs))}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 3, 5])
def test_ranking_metrics_agree_with_scikit_learn_and_the_definitions(seed, k):
    scores, targets = random_case(seed)
    out = ranking_metrics(scores, targets, k=k)
    s, t = scores.numpy(), targets.numpy()
    assert out[f"ndcg@{k}"] == pytest.approx(ndcg_score(t, s, k=k), abs=1e-6)
    mean_ap = np.mean([average_precision_score(t[i], s[i]) for i in range(len(s))])
    assert out["map"] == pytest.approx(mean_ap, abs=1e-6)
    reference = brute_force(s, t, k)
    for key, name in ((f"p@{k}", "p"), (f"r@{k}", "r"), (f"f@{k}", "f"), ("mrr", "mrr")):
        assert out[key] == pytest.approx(reference[name], abs=1e-12), key
    if k == 1:  # with one relevant tag per item, P@1 is top-1 accuracy
        single = torch.zeros_like(targets)
        labels = targets.argmax(-1)
        single[torch.arange(len(labels)), labels] = 1
        top1 = top_k_accuracy_score(labels.numpy(), s, k=1, labels=range(s.shape[1]))
        assert ranking_metrics(scores, single, k=1)["p@1"] == pytest.approx(top1, abs=1e-12)


def test_a_perfect_ranking_scores_one_and_recall_respects_k():
    targets = torch.tensor([[1, 1, 0, 0, 0], [0, 0, 1, 1, 1]])
    scores = targets.double() + 0.01 * torch.arange(5)
    out = ranking_metrics(scores, targets, k=3)
    assert out["ndcg@3"] == pytest.approx(1.0) and out["map"] == pytest.approx(1.0) and out["mrr"] == 1.0
    assert out["r@3"] == pytest.approx(1.0)
    assert out["p@3"] == pytest.approx((2 / 3 + 1) / 2)
    assert ranking_metrics(scores, targets, k=1)["r@1"] == pytest.approx((1 / 2 + 1 / 3) / 2)  # not 1: k counts


def test_ties_break_by_the_lower_tag_index():
    out = ranking_metrics(torch.zeros(1, 4), torch.tensor([[0, 0, 0, 1]]), k=1)
    assert out["p@1"] == 0.0 and out["mrr"] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("scores", "targets", "k", "match"),
    [
        (torch.zeros(2, 3), torch.ones(2, 4), 3, "same shape"),
        (torch.zeros(3), torch.ones(3), 3, r"shape \(items, tags\)"),
        (torch.zeros(2, 3, dtype=torch.int64), torch.ones(2, 3), 3, "floating-point"),
        (torch.tensor([[0.0, math.nan]]), torch.ones(1, 2), 1, "finite"),
        (torch.zeros(2, 3), torch.full((2, 3), 2), 1, "only 0 and 1"),
        (torch.zeros(2, 3), torch.tensor([[1, 0, 0], [0, 0, 0]]), 1, "at least one relevant tag.*row 1"),
        (torch.zeros(2, 3), torch.ones(2, 3), 0, "k must be"),
    ],
)
def test_bad_inputs_raise_one_clear_error(scores, targets, k, match):
    with pytest.raises(ValueError, match=match):
        ranking_metrics(scores, targets, k=k)


def test_accuracy():
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy(logits, torch.tensor([1, 0, 0])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="labels must be"):
        accuracy(logits, torch.tensor([1, 0]))
