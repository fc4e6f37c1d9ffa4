"""The run of KNN tag voting (:mod:`advdist_lab.methods.knn`, the KVOTE baseline of TPAMI Table 4) in a
:class:`~advdist_lab.runs.folder.RunFolder`, with a ``result.json`` of the shape of
:func:`advdist_lab.runs.training.train`'s (a one-entry history), so that Table 4 treats KNN as one more method.
KNN has no epochs: it writes no checkpoint, and an interrupted run simply votes again."""

from __future__ import annotations

import os
import time

import torch

from ..environment import resolve_device
from ..methods.knn import KnnConfig, evaluate_knn, load_knn_data
from .folder import RunFolder, progress_bar


def run_knn(
    config: KnnConfig,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    data=None,
) -> dict:
    """Run KNN tag voting and return a result of :func:`advdist_lab.runs.training.train`'s shape; write it under
    ``out``.

    The result holds ``config`` (:meth:`KnnConfig.to_dict`), a one-entry ``history`` (``epoch`` 1 with
    ``student_test_accuracy`` = P@1 and ``student_map``, ``student_mrr``, ``student_p@3``, ``student_r@3``,
    ``student_f@3``, ``student_ndcg@3``), the same metrics at the top level without the prefix, ``test_accuracy``
    (P@1), ``wall_seconds``, ``device`` and ``status``. As for ``train``: ``out`` is checked and locked before any
    work, and a folder that already holds a ``result.json`` raises :class:`~advdist_lab.runs.folder.RunExistsError`
    unless ``resume`` (then the stored result is returned, after checking that its config is this one). ``data``
    (a TaskData) skips loading, for tests.
    """
    if not isinstance(config, KnnConfig):
        raise ValueError(f"config must be a KnnConfig (got {type(config).__name__})")
    if out is None:
        return _vote(config, progress, data)
    with RunFolder(out) as folder:
        finished = folder.finished(config.to_dict(), resume)
        if finished is not None:
            return finished
        result = _vote(config, progress, data)
        folder.write_result(result)
    return result


def _vote(config: KnnConfig, progress: bool, data) -> dict:
    device = resolve_device(config.device)
    bar = progress_bar(2, f"knn k={config.k} on {config.dataset}", progress)
    started = time.perf_counter()
    try:
        if data is None:
            data = load_knn_data(config, device)
        bar.update(1)
        if config.k > len(data.train):
            raise ValueError(f"k must be <= {len(data.train)}, the number of training images (got {config.k})")
        loaded = time.perf_counter()
        metrics = evaluate_knn(data, config.k, weighted=config.weighted)
        bar.update(1)
    finally:
        bar.close()
    voted = time.perf_counter()
    entry = {"epoch": 1, "student_test_accuracy": metrics["p@1"]}
    entry.update({f"student_{name}": value for name, value in metrics.items() if name != "p@1"})
    return {
        "config": config.to_dict(),
        "history": [entry],
        "test_accuracy": metrics["p@1"],
        **{name: value for name, value in metrics.items() if name != "p@1"},
        "wall_seconds": voted - started,
        "device": str(device),
        "status": "finished",
        "pretraining": {},
        "timing": {"pretrain_seconds": 0.0, "load_seconds": loaded - started, "epoch_seconds": [voted - loaded]},
        "torch": torch.__version__,
    }
