"""Quick baselines that measure how informative each view of tag data is (TPAMI Sec. 5.2); not methods of the papers.

Popularity ranking (every item gets the training set's most frequent tags) and ridge-regression probes that read the
tags off the image features (what the student sees), the text features (privileged) or both. They say how much a
view knows before any distillation: :func:`probe_report` gives their ranking metrics
(:func:`advdist_lab.metrics.ranking_metrics`), :func:`item_preview` shows their guesses for a few test items.
:func:`item_preview_table` and :func:`probe_table` lay both out as tables, and :func:`probe_ordering_line` says
in one line whether each view knows more than the one before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from advdist_lab.data.tags_features import TagFeatures
from advdist_lab.hparams import check_nonnegative, check_positive_int
from advdist_lab.metrics import ranking_metrics


def popularity_scores(train_tags: np.ndarray, n_items: int) -> np.ndarray:
    """Scores that rank every item's tags by training popularity (the same ranking for all): ``(n_items, L)``."""
    frequency = np.asarray(train_tags, dtype=np.float64).sum(0)
    return np.broadcast_to(frequency, (check_positive_int("n_items", n_items), len(frequency))).copy()


def ridge_probe_scores(
    train_x: np.ndarray, train_targets: np.ndarray, test_x: np.ndarray, l2: float = 1.0
) -> np.ndarray:
    """A linear least-squares probe: ridge regression (with a bias, ``l2`` on the weights) of ``train_targets``
    on ``train_x``, evaluated on ``test_x``; returns ``(len(test_x), L)`` scores."""
    l2 = check_nonnegative("l2", l2)
    x = np.asarray(train_x, dtype=np.float64)
    mean = x.mean(0)
    x = x - mean
    targets = np.asarray(train_targets, dtype=np.float64)
    bias = targets.mean(0)
    gram = x.T @ x + l2 * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, x.T @ (targets - bias))
    return (np.asarray(test_x, dtype=np.float64) - mean) @ weights + bias


def item_preview(features: TagFeatures, items: int = 5, k: int = 3, l2: float = 1.0) -> list[dict[str, object]]:
    """A look at the first ``items`` test items: their tags, and the top ``k`` tags that ridge probes
    (:func:`ridge_probe_scores`) read off the image alone (what the student sees) and off the text (the privileged
    view), with how many of those are right."""
    items = check_positive_int("items", items)
    k = check_positive_int("k", k)
    train, test = features.train_index, features.test_index[:items]
    names = features.tag_names or tuple(f"tag{j}" for j in range(features.num_labels))
    rows = []
    guesses = {
        view: ridge_probe_scores(x[train], features.tags[train], x[test], l2)
        for view, x in (("image", features.image), ("text", features.text))
    }
    for row, item in enumerate(test):
        truth = set(np.flatnonzero(features.tags[item]).tolist())
        entry: dict[str, object] = {"item": int(item), "tags": [names[j] for j in sorted(truth)]}
        for view, scores in guesses.items():
            top = np.argsort(-scores[row], kind="stable")[:k].tolist()
            entry[f"{view}_top{k}"] = [names[j] for j in top]
            entry[f"{view}_hits"] = len(truth.intersection(top))
        rows.append(entry)
    return rows


def probe_report(features: TagFeatures, k: int = 3, l2: float = 1.0) -> dict[str, dict[str, float]]:
    """Ranking metrics (:func:`advdist_lab.metrics.ranking_metrics`) on the test rows of four quick baselines:
    ``popularity`` ranking, and ridge probes (:func:`ridge_probe_scores`) on ``image``, ``text`` and
    ``image+text``. A measure of how informative each view is, not a method of the papers."""
    train, test = features.train_index, features.test_index
    targets = torch.from_numpy(features.tags[test].astype(np.float64))
    views = {
        "image": features.image,
        "text": features.text,
        "image+text": np.concatenate([features.image, features.text], 1),
    }
    scores = {"popularity": popularity_scores(features.tags[train], len(test))}
    for name, x in views.items():
        scores[name] = ridge_probe_scores(x[train], features.tags[train], x[test], l2)
    return {name: ranking_metrics(torch.from_numpy(s), targets, k=k) for name, s in scores.items()}


Table = tuple[list[str], list[list[object]]]
"""``(header, cells)``, the arguments of :func:`advdist_lab.experiments.tables.markdown_table`: the data room sits
below the experiments' formatting, so it hands over the table and leaves the markdown to it."""

PROBES = ("popularity", "image", "text", "image+text")
"""The baselines of :func:`probe_report`, from the least informed to the most."""


def item_preview_table(rows: Sequence[Mapping[str, object]], k: int = 3) -> Table:
    """:func:`item_preview`'s rows as a table: the item, its tags, the top ``k`` tags read off the image and off the
    text, each with its hits."""
    k = check_positive_int("k", k)
    keys = ("item", "tags", f"image_top{k}", "image_hits", f"text_top{k}", "text_hits")
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Sequence) or len(rows) == 0:
        raise ValueError("rows must be a non-empty sequence of item_preview rows")
    for index, row in enumerate(rows):
        missing = [key for key in keys if not isinstance(row, Mapping) or key not in row]
        if missing:
            raise ValueError(f"rows[{index}] lacks {', '.join(missing)}: rows must come from item_preview(..., k={k})")
    header = ["item", "tags", "from the image", "hits", "from the text", "hits"]
    cells = [
        [row["item"], ", ".join(row["tags"]), ", ".join(row[f"image_top{k}"]), row["image_hits"]]
        + [", ".join(row[f"text_top{k}"]), row["text_hits"]]
        for row in rows
    ]
    return header, cells


def _check_report(report: Mapping[str, Mapping[str, float]], metrics: Sequence[str]) -> None:
    if not isinstance(report, Mapping):
        raise ValueError(f"report must be probe_report's mapping (got {type(report).__name__})")
    for probe in PROBES:
        values = report.get(probe)
        missing = [m for m in metrics if not isinstance(values, Mapping) or m not in values]
        if missing:
            raise ValueError(f"report[{probe!r}] lacks {', '.join(missing)}: report must come from probe_report")


def probe_table(report: Mapping[str, Mapping[str, float]], k: int = 3) -> Table:
    """:func:`probe_report`'s metrics as a table: one line per baseline, P@k, MAP and MRR."""
    k = check_positive_int("k", k)
    _check_report(report, (f"p@{k}", "map", "mrr"))
    header = ["probe", f"P@{k}", "MAP", "MRR"]
    return header, [[name, m[f"p@{k}"], m["map"], m["mrr"]] for name, m in report.items()]


def probe_ordering_line(report: Mapping[str, Mapping[str, float]], label_set: str, k: int = 3) -> str:
    """The baselines' P@k in :data:`PROBES` order, joined by the relation the numbers show: a view should know more
    than popularity, the text more than the image, and both views together no less than the text, so each sign is
    the expected one (``<``, ``<``, ``<=``) when it holds and its negation (``>=``, ``>=``, ``>``) when it does
    not."""
    k = check_positive_int("k", k)
    metric = f"p@{k}"
    _check_report(report, (metric,))
    values = [float(report[probe][metric]) for probe in PROBES]
    line = f"{label_set}: P@{k} {PROBES[0]} {values[0]:.3f}"
    for index, probe in enumerate(PROBES[1:], start=1):
        before, value = values[index - 1], values[index]
        if probe == "image+text":
            sign = "<=" if before <= value else ">"
        else:
            sign = "<" if before < value else ">="
        line += f" {sign} {probe} {value:.3f}"
    return line
