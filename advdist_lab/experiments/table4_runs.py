"""Image tag recommendation, TPAMI Table 4, trained: every method on both label sets over several seeds.

:func:`run_table4` trains (or reads back) every method x label set x seed on the YFCC-like data of
:mod:`advdist_lab.data.tags` (or a user's features, ``data_file``), each run in ``out/<label set>/<method>/seed<k>/``
(a run folder of :mod:`advdist_lab.runs`; KNN's of :func:`advdist_lab.runs.knn.run_knn`), finished runs read back and
interrupted ones resumed; the pretrained teachers are shared by the methods of one label set and seed through
``out/teachers/``. The seeds of one method and label set train as members of one batched model
(:mod:`advdist_lab.runs.ensemble`; ``members``, by default
:func:`~advdist_lab.runs.ensemble.plan.default_members` of the tag data), each still in its own run folder with the
result of its solo run. It writes ``table4.md``, ``table4.csv`` and ``table4.json`` (atomically) and returns the table,
assembled by :mod:`advdist_lab.experiments.table4` beside the paper's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from advdist_lab.experiments.table4 import (
    ALL_METHODS,
    TABLE4_METHODS,
    TABLE4_METRICS,
    TPAMI_TABLE4,
    aggregate,
    check_label_sets,
    check_methods,
    label_set_of,
    to_csv,
    to_markdown,
)
from advdist_lab.files import atomic_write_bytes, atomic_write_json
from advdist_lab.hparams import check_positive_int
from advdist_lab.methods.config import ADVERSARIAL, TAG_RUN_DEFAULTS, TrainConfig, applicable
from advdist_lab.methods.knn import DEFAULT_K, KNN_METHOD, LABEL_SETS, KnnConfig, pool_size
from advdist_lab.runs.ensemble.plan import resolve_members
from advdist_lab.runs.executors import require_finished, run_configs
from advdist_lab.runs.folder import RunFolder, holds_run
from advdist_lab.runs.knn import run_knn

__all__ = ["KNN_FIELDS", "plan", "run_folder", "run_table4", "tag_config"]

KNN_FIELDS = ("n_train", "subset_seed", "data_file", "device")
"""The :class:`TrainConfig` overrides that a KNN run takes (the others configure training, which KNN has none of)."""


def tag_config(
    method: str,
    dataset: str,
    seed: int,
    *,
    knn_k: int = DEFAULT_K,
    knn_weighted: bool = True,
    strict: bool = False,
    **overrides,
):
    """The config of one tag run: a :class:`KnnConfig` for ``knn``, else a resolved :class:`TrainConfig`.

    ``overrides`` are :class:`TrainConfig` fields; each applies where the method takes it
    (:func:`advdist_lab.methods.config.applicable`; KNN takes :data:`KNN_FIELDS` only), or, with ``strict``
    (one run, ``advdist-lab tags``), every one is passed on, so that one the method does not take raises. Unless
    overridden, a trained method gets :data:`advdist_lab.methods.config.TAG_RUN_DEFAULTS`
    (``student_pretrain_epochs`` only for the adversarial methods, whose student starts pretrained) and every run
    the whole training pool as ``n_train``.
    """
    if method not in ALL_METHODS:
        raise ValueError(f"method must be one of {', '.join(ALL_METHODS)} (got {method!r})")
    overrides = dict(overrides)
    if overrides.get("n_train") is None:
        overrides["n_train"] = pool_size(dataset, overrides.get("data_file"))
    if method == KNN_METHOD:
        values = {k: v for k, v in overrides.items() if k in KNN_FIELDS}
        return KnnConfig(dataset=dataset, seed=seed, k=knn_k, weighted=knn_weighted, **values)
    defaults = {k: v for k, v in TAG_RUN_DEFAULTS.items() if k != "student_pretrain_epochs" or method in ADVERSARIAL}
    values = {**defaults, **overrides} if strict else applicable(method, {**defaults, **overrides})
    config = TrainConfig(method=method, dataset=dataset, seed=seed, **values)
    return config.resolved()


def plan(
    methods: Sequence[str] = TABLE4_METHODS,
    label_sets: Sequence[str] = tuple(LABEL_SETS),
    seeds: int = 3,
    *,
    knn_k: int = DEFAULT_K,
    knn_weighted: bool = True,
    **overrides,
) -> list:
    """The configs of a Table 4 run (label set, then seed, then method), all validated before any training."""
    check_positive_int("seeds", seeds)
    methods, label_sets = check_methods(methods), check_label_sets(label_sets)
    for name in ("method", "dataset", "seed"):
        if name in overrides:
            raise ValueError(f"{name} cannot be overridden in Table 4: it is set by the table's {name}s")
    n_train = {
        label_set: overrides.get("n_train") or pool_size(LABEL_SETS[label_set], overrides.get("data_file"))
        for label_set in label_sets
    }
    return [
        tag_config(
            method,
            LABEL_SETS[label_set],
            seed,
            knn_k=knn_k,
            knn_weighted=knn_weighted,
            **{**overrides, "n_train": n_train[label_set]},
        )
        for label_set in label_sets
        for seed in range(seeds)
        for method in methods
    ]


def run_folder(out: str | os.PathLike, config) -> Path:
    """``out/<label set>/<method>/seed<k>``."""
    return Path(out) / label_set_of(config.dataset) / config.method / f"seed{config.seed}"


def run_table4(
    seeds: int = 3,
    out: str | os.PathLike = "runs/table4",
    *,
    methods: Sequence[str] = TABLE4_METHODS,
    label_sets: Sequence[str] = tuple(LABEL_SETS),
    progress: bool = True,
    jobs: int | None = None,
    knn_k: int = DEFAULT_K,
    knn_weighted: bool = True,
    members: int | None = None,
    train: bool = True,
    **overrides,
) -> dict:
    """Train (or reuse) every run of Table 4 and write ``table4.md``, ``table4.csv``, ``table4.json`` under ``out``.

    ``train=False`` trains nothing: when a trained method's run is missing,
    :class:`~advdist_lab.runs.executors.RunsNotTrainedError` counts them before any work (the KNN runs, seconds
    each, run either way).

    ``overrides`` are :class:`TrainConfig` fields applied to every run that takes them (``epochs``, ``device``,
    ``data_file``...); ``jobs`` worker processes train the runs (:func:`advdist_lab.runs.executors.run_configs`; default
    :func:`advdist_lab.runs.executors.default_jobs`: one single-threaded worker per core on the CPU); the KNN runs take
    seconds and run in this process. ``members``: the most runs (seeds of one method and label set) per batched
    model (:func:`~advdist_lab.runs.executors.run_configs`; default
    :func:`~advdist_lab.runs.ensemble.plan.default_members` of the tag data; ``1``: every run alone). Returns
    ``{"table", "markdown", "results", "label_sets", "methods", "seeds"}``.
    """
    members = None if members is None else check_positive_int("members", members)
    configs = plan(methods, label_sets, seeds, knn_k=knn_k, knn_weighted=knn_weighted, **overrides)
    methods, label_sets = check_methods(methods), check_label_sets(label_sets)
    members = resolve_members(configs[0].dataset, members)
    out = Path(out)
    folders = [run_folder(out, config) for config in configs]
    knn = [i for i, config in enumerate(configs) if isinstance(config, KnnConfig)]
    trained = [i for i, config in enumerate(configs) if not isinstance(config, KnnConfig)]
    if not train:  # refused before any KNN run or lock; the finished runs are read once, below
        require_finished([folders[i] for i in trained])
    with RunFolder(out, nested=True):  # a second table into the same folder is refused, not interleaved
        results: list[dict | None] = [None] * len(configs)
        for i in knn:
            folder = folders[i]
            results[i] = run_knn(configs[i], folder, resume=holds_run(folder), progress=False)
        if trained:
            done = run_configs(
                [configs[i] for i in trained],
                [folders[i] for i in trained],
                teachers=out / "teachers",
                jobs=jobs,
                progress=progress,
                description="table 4",
                members=members,
            )
            for i, result in zip(trained, done, strict=True):
                results[i] = result
        table = aggregate(results)
        seed_list = list(range(seeds))
        markdown = to_markdown(table, label_sets, methods, seeds=len(seed_list))
        atomic_write_bytes(out / "table4.md", markdown.encode())
        atomic_write_bytes(out / "table4.csv", to_csv(table, label_sets, methods).encode())
        atomic_write_json(
            out / "table4.json",
            {
                "label_sets": list(label_sets),
                "methods": list(methods),
                "seeds": seed_list,
                "metrics": list(TABLE4_METRICS),
                "ours": table,
                "paper": {label_set: TPAMI_TABLE4[label_set] for label_set in label_sets},
                "runs": [
                    {"folder": str(folder.relative_to(out)), "config": result["config"]}
                    for folder, result in zip(folders, results, strict=True)
                ],
            },
        )
    return {
        "table": table,
        "markdown": markdown,
        "results": results,
        "label_sets": label_sets,
        "methods": methods,
        "seeds": seed_list,
    }
