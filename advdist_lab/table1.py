"""The deep-model-compression experiment of TPAMI Table 1: every method, every ``n``, several seeds.

``run_table1`` trains each (method, n, seed) into ``out/<method>/n<n>/seed<seed>/`` (a run folder of
:mod:`advdist_lab.runs`), reusing finished runs and resuming interrupted ones, so an interrupted table resumes
where it stopped. Pretrained teachers are shared between the methods of one (n, seed) through ``out/teachers/``.
It writes ``table1.csv`` and ``table1.md`` and returns the aggregated table.

With ``jobs > 1`` the runs are spread over that many worker processes (:func:`advdist_lab.sweeps.run_configs`);
every run is seeded by its own config, so the results do not depend on ``jobs``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .data import TABLE1_SIZES, max_train_size
from .files import atomic_write_bytes
from .hparams import check_positive_int
from .methods.config import METHODS, TrainConfig, applicable
from .sweeps import run_configs
from .tables import TABLE1_METHODS, aggregate, to_csv, to_markdown


def plan(dataset: str, methods: Sequence[str], sizes: Sequence[int], seeds: int, **overrides) -> list[TrainConfig]:
    """The configs of a Table 1 run, all validated before any training starts.

    Each override applies to the methods that take it (:func:`advdist_lab.methods.config.applicable`), so the
    original code's budget is ``k_d=20, k_t=10, k_s=10`` for the whole table.
    """
    check_positive_int("seeds", seeds)
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    limit = max_train_size(dataset) if dataset in TABLE1_SIZES else None
    for n in sizes:
        check_positive_int("n_train", n)
        if limit is not None and n > limit:
            raise ValueError(f"n_train must be <= {limit}, the size of the {dataset} training pool (got {n})")
    configs = [
        TrainConfig(method=m, dataset=dataset, n_train=n, seed=s, **applicable(m, overrides))
        for n in sizes
        for s in range(seeds)
        for m in methods
    ]
    for config in configs:
        config.resolved()
    return configs


def run_folder(out: str | os.PathLike, config: TrainConfig) -> Path:
    return Path(out) / config.method / f"n{config.n_train}" / f"seed{config.seed}"


def run_table1(
    dataset: str = "digits",
    seeds: int = 5,
    out: str | os.PathLike = "runs/table1",
    *,
    methods: Sequence[str] = TABLE1_METHODS,
    sizes: Sequence[int] | None = None,
    progress: bool = True,
    jobs: int | None = None,
    **overrides,
) -> dict:
    """Train (or reuse) every run of the table and write ``table1.csv`` and ``table1.md`` under ``out``.

    ``overrides`` are :class:`TrainConfig` fields applied to every run (``epochs``, ``device``...). ``jobs`` is
    the number of worker processes (default: :func:`advdist_lab.sweeps.default_jobs`).
    """
    max_train_size(dataset)  # an unknown dataset fails here, with the list of known ones
    sizes = tuple(TABLE1_SIZES[dataset]) if sizes is None else tuple(sizes)
    configs = plan(dataset, methods, sizes, seeds, **overrides)
    out = Path(out)
    results = run_configs(
        configs,
        [run_folder(out, config) for config in configs],
        teachers=out / "teachers",
        jobs=jobs,
        progress=progress,
        description=f"table 1 on {dataset}",
    )
    table = aggregate(results)
    title = f"Student test accuracy (%) on {dataset}, mean ± std over {seeds} seed(s)"
    atomic_write_bytes(out / "table1.csv", to_csv(table).encode())
    atomic_write_bytes(out / "table1.md", to_markdown(table, sizes, title).encode())
    return {"table": table, "sizes": sizes, "results": results, "markdown": to_markdown(table, sizes, title)}
