"""KNN tag voting: the KVOTE baseline of image tag recommendation (TPAMI Sec. 5.2, Table 4; KNN in KDGAN Table 2).

The neighbour-voting recommender of Li, Snoek and Worring (reference [30] of the TPAMI paper, "KNN" in its text and
KDGAN's Table 2, "KVOTE" in TPAMI Table 4): a test image's tags are voted for by its ``k`` visually nearest
training images. With unit-normalised image features ``u`` and the training items' 0/1 tag vectors ``t_j``, the
score of tag ``l`` for a test image ``i`` is

    s_il = sum_{j in N_k(i)} w_ij t_jl,    w_ij = max(cos(u_i, u_j), 0) (``weighted``) or 1 (plain votes),

where ``N_k(i)`` are the ``k`` training images of largest cosine similarity to ``i``. It sees the image features
only, as the student of the adversarial methods does: the text, the privileged provision, is never used. Plain
votes tie often (the metrics then rank tied tags by index, see :mod:`advdist_lab.metrics`); similarity weights
break most ties, so they are the default.

:func:`knn_scores` computes the scores in chunks of test items (2,000 x 20,000 similarities of 128 features:
about 0.2 s on two CPU cores); :func:`evaluate_knn` scores a :class:`~advdist_lab.data.TaskData` and returns the ranking
metrics; :class:`KnnConfig` is one run of it. The run itself (:func:`advdist_lab.runs.knn.run_knn`) writes a
``result.json`` of the same shape as :func:`advdist_lab.runs.training.train`'s (a one-entry history), so that Table 4
treats KNN as one more method.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..hparams import check_choice, check_nonnegative_int, check_positive_int
from ..metrics import TAG_K, ranking_metrics

KNN_METHOD = "knn"
"""The method name of KNN tag voting in run configs, ``advdist-lab tags --method`` and Table 4."""

DEFAULT_K = 50
"""Neighbours that vote, by default: fixed beforehand, not tuned on the test items. Measured on the generated data
(20,000 training items), test P@3 grows slowly with k: popular tags 0.210, 0.232, 0.244, 0.254, 0.260 and random tags
0.168, 0.192, 0.203, 0.208, 0.208 for k = 10, 25, 50, 100, 200; plain votes at k = 50 give 0.246 and 0.205."""

LABEL_SETS = {"popular": "tags-popular", "random": "tags-random"}
"""``--label-set`` values and their datasets (TPAMI Table 4: "Most Popular Tags", "Randomly Selected Tags"; the
200 most popular tags and 200 randomly sampled tags, :mod:`advdist_lab.data.tags`)."""

_SIMILARITY_BUDGET = 1 << 24
"""Floats of the similarity block (and of the gathered neighbour tags) held at once: 64 MiB in float32."""


def _check_matrix(name: str, value: object, rows: int | None = None, floating: bool = True) -> Tensor:
    if not isinstance(value, Tensor) or value.dim() != 2 or value.shape[0] < 1 or value.shape[1] < 1:
        shape = getattr(value, "shape", value)
        raise ValueError(f"{name} must be a non-empty tensor of shape (items, columns) (got {shape!r})")
    if rows is not None and value.shape[0] != rows:
        raise ValueError(f"{name} must have one row per training image: {value.shape[0]} rows for {rows} images")
    if value.is_complex() or (floating and not value.is_floating_point()):
        raise ValueError(f"{name} must hold {'floating-point' if floating else 'real'} numbers (got {value.dtype})")
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise ValueError(f"{name} must be finite")
    return value


def knn_scores(
    train_image: Tensor,
    train_tags: Tensor,
    test_image: Tensor,
    k: int = DEFAULT_K,
    *,
    weighted: bool = True,
    chunk_size: int | None = None,
) -> Tensor:
    """Tag scores ``(test items, tags)`` by the votes of each test image's ``k`` nearest training images.

    ``train_image`` ``(N, d)`` and ``test_image`` ``(M, d)`` are image features, compared by cosine similarity (a
    zero row is similar to nothing: similarity 0); ``train_tags`` ``(N, L)`` are the training items' tag vectors
    (0/1, or any non-negative weights: their weighted sum is returned). ``weighted`` multiplies each neighbour's
    vote by its similarity clipped at 0 (module doc), otherwise every neighbour casts one vote per tag. The test
    items are processed ``chunk_size`` at a time (default: as many as keep the similarity block under 64 MiB); the
    result, float32 on ``test_image``'s device, does not depend on it.

    Raises ``ValueError`` for tensors of the wrong shape, non-finite values, negative tag weights, or ``k`` not in
    ``1 .. N``.
    """
    train_image = _check_matrix("train_image", train_image)
    n, d = train_image.shape
    train_tags = _check_matrix("train_tags", train_tags, rows=n, floating=False)
    test_image = _check_matrix("test_image", test_image)
    if test_image.shape[1] != d:
        raise ValueError(
            f"test_image must have the features of train_image: {test_image.shape[1]} columns for {d} (shapes "
            f"{tuple(test_image.shape)} and {tuple(train_image.shape)})"
        )
    k = check_positive_int("k", k)
    if k > n:
        raise ValueError(f"k must be <= {n}, the number of training images (got {k})")
    if not isinstance(weighted, bool):
        raise ValueError(f"weighted must be True or False (got {weighted!r})")
    device = test_image.device
    tags = train_tags.to(device=device, dtype=torch.float32)
    if (tags < 0).any():
        raise ValueError("train_tags must be non-negative (0/1 tag indicators or tag weights)")
    m, labels = test_image.shape[0], tags.shape[1]
    if chunk_size is None:
        chunk_size = max(1, min(m, _SIMILARITY_BUDGET // max(n, k * labels)))
    chunk_size = check_positive_int("chunk_size", chunk_size)
    train_unit = F.normalize(train_image.to(device=device, dtype=torch.float32), dim=1)
    scores = torch.empty(m, labels, dtype=torch.float32, device=device)
    for start in range(0, m, chunk_size):
        block = F.normalize(test_image[start : start + chunk_size].to(torch.float32), dim=1)
        similarity, neighbours = (block @ train_unit.T).topk(k, dim=1)  # (chunk, k), most similar first
        votes = similarity.clamp_min(0.0) if weighted else torch.ones_like(similarity)
        scores[start : start + chunk_size] = torch.einsum("ck,ckl->cl", votes, tags[neighbours])
    return scores


def evaluate_knn(data, k: int = DEFAULT_K, *, weighted: bool = True, chunk_size: int | None = None) -> dict:
    """The ranking metrics (TPAMI Table 4: ``map``, ``mrr``, ``p@3``, ``r@3``, ``f@3``, ``ndcg@3``) and ``p@1`` of
    KNN tag voting on a :class:`~advdist_lab.data.TaskData`: the student's view ``x_student`` (the image features)
    of the training items votes for the test items; targets are the test items' tags: ``p_r > 0``
    for multi-label data (``p_r`` is uniform over an item's tags), the one-hot labels otherwise."""
    train_tags = _targets_of(data, "train")
    test_tags = _targets_of(data, "test")
    scores = knn_scores(
        data.train.x_student, train_tags, data.test.x_student, k, weighted=weighted, chunk_size=chunk_size
    )
    metrics = ranking_metrics(scores, test_tags.to(scores.device), k=TAG_K)
    metrics["p@1"] = ranking_metrics(scores, test_tags.to(scores.device), k=1)["p@1"]
    return metrics


def _targets_of(data, split_name: str) -> Tensor:
    split = getattr(data, split_name)
    if getattr(data, "multilabel", False):
        if split.p_r is None:
            raise ValueError(f"multi-label data needs p_r on its {split_name} split (uniform over each item's tags)")
        return (split.p_r > 0).to(torch.float32)
    classes = int(getattr(data, "num_classes", 0) or int(split.y.max()) + 1)
    return F.one_hot(split.y, classes).to(torch.float32)


@dataclass(frozen=True)
class KnnConfig:
    """One run of KNN tag voting: the data (as :class:`~advdist_lab.methods.TrainConfig` names it), ``k`` and the
    vote weights. ``n_train=None`` takes the whole training pool (20,000 items of the YFCC-like data, as TPAMI
    Sec. 5.2). ``seed`` is recorded for Table 4's bookkeeping only: KNN has no randomness, so every seed gives the
    same result (a standard deviation of 0 over seeds)."""

    dataset: str = "tags-popular"
    n_train: int | None = None
    subset_seed: int = 0
    seed: int = 0
    k: int = DEFAULT_K
    weighted: bool = True
    data_file: str | None = None
    device: str = "auto"

    method = KNN_METHOD

    def __post_init__(self) -> None:
        from ..data import DATASETS

        check_choice("dataset", self.dataset, DATASETS)
        if self.n_train is not None:
            check_positive_int("n_train", self.n_train)
        check_nonnegative_int("subset_seed", self.subset_seed)
        check_nonnegative_int("seed", self.seed)
        check_positive_int("k", self.k)
        if self.n_train is not None and self.k > self.n_train:
            raise ValueError(f"k must be <= n_train = {self.n_train}, the number of voting images (got {self.k})")
        if not isinstance(self.weighted, bool):
            raise ValueError(f"weighted must be True or False (got {self.weighted!r})")
        if self.data_file is not None and not isinstance(self.data_file, (str, os.PathLike)):
            raise ValueError(f"data_file must be a path or None (got {self.data_file!r})")
        if self.data_file is not None:
            object.__setattr__(self, "data_file", os.fspath(self.data_file))
        from ..environment import DEVICE_PATTERN

        if not isinstance(self.device, str) or not DEVICE_PATTERN.match(self.device):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' (got {self.device!r})")

    def to_dict(self) -> dict:
        """The config as recorded in ``result.json``, with ``"method": "knn"`` first."""
        return {"method": KNN_METHOD, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}

    @classmethod
    def from_dict(cls, values: dict) -> KnnConfig:
        """From a dict such as :meth:`to_dict`'s (``method``, if present, must be ``"knn"``); unknown keys raise."""
        values = dict(values)
        method = values.pop("method", KNN_METHOD)
        if method != KNN_METHOD:
            raise ValueError(f"a KnnConfig's method must be {KNN_METHOD!r} (got {method!r})")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown KNN options: {', '.join(unknown)} (KNN takes {', '.join(sorted(names))})")
        return cls(**values)

    def replace(self, **changes) -> KnnConfig:
        return dataclasses.replace(self, **changes)


def pool_size(dataset: str, data_file: str | os.PathLike | None = None) -> int:
    """The whole training pool, the default ``n_train`` of the tag runs: the generated data's 20,000 items (TPAMI
    Sec. 5.2), or the training rows of a user's ``data_file``."""
    if data_file is not None:
        from ..data.tags_features import load_tag_features

        return len(load_tag_features(data_file).train_index)
    from ..data import max_train_size

    return max_train_size(dataset)


def load_knn_data(config: KnnConfig, device: torch.device | str):
    """The :class:`~advdist_lab.data.TaskData` that ``config`` votes on (``n_train=None``: the whole pool)."""
    from ..data import load_data

    extra = {"data_file": config.data_file} if config.data_file is not None else {}
    n_train = pool_size(config.dataset, config.data_file) if config.n_train is None else config.n_train
    return load_data(config.dataset, n_train, device=device, subset_seed=config.subset_seed, **extra)
