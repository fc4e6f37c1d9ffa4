"""TPAMI Table 1 (deep model compression): the paper's numbers, our runs of every method, ``n`` and seed, and
the table assembled from them.

The table has one row per method and one column per training-set size ``n``; a cell is the student's test
accuracy in percent, ``mean ± std`` over seeds (the paper: 10 runs with random initialisations; the std is the
sample standard deviation, :func:`advdist_lab.experiments.tables.mean_std`).

:func:`run_table1` trains each (method, n, seed) into ``out/<method>/n<n>/seed<seed>/`` (a run folder of
:mod:`advdist_lab.runs`), reusing finished runs and resuming interrupted ones, so an interrupted table resumes
where it stopped. Pretrained teachers are shared between the methods of one (n, seed) through ``out/teachers/``.
It writes ``table1.csv`` and ``table1.md`` and returns the aggregated table. A table of another view than
``full`` (``view=`` override, ``table1 --view``: the privileged setting of :mod:`advdist_lab.data.views`) says so in
the title of ``table1.md`` and in the ``view`` column of ``table1.csv``. :func:`train_runs` trains runs into
the same folders without writing the table (notebook 04's ADIM-NGS runs for Fig. 4).

With ``jobs > 1`` the runs are spread over that many worker processes (:func:`advdist_lab.runs.executors.run_configs`);
every run is seeded by its own config, so the results do not depend on ``jobs``.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from advdist_lab.data import TABLE1_SIZES, max_train_size
from advdist_lab.data.views import VIEW_TEXTS, check_view
from advdist_lab.experiments.tables import format_cell, markdown_table, mean_std
from advdist_lab.files import atomic_write_bytes
from advdist_lab.hparams import check_positive_int
from advdist_lab.methods.config import METHODS, TrainConfig, applicable
from advdist_lab.runs.ensemble.plan import resolve_members
from advdist_lab.runs.executors import run_configs
from advdist_lab.runs.folder import RunFolder

__all__ = [
    "TABLE1_METHODS",
    "TPAMI_TABLE1",
    "aggregate",
    "paper_table",
    "plan",
    "run_folder",
    "run_table1",
    "table_rows",
    "to_csv",
    "to_markdown",
    "train_runs",
    "view_words",
]

TABLE1_METHODS = ("codis", "distn", "noisy", "mimic", "ngan", "adib", "adim")
"""The rows of TPAMI Table 1, in the paper's order."""

TPAMI_TABLE1: dict[str, dict[str, dict[int, tuple[float, float]]]] = {
    "mnist": {
        "codis": {100: (74.02, 0.13), 1000: (95.77, 0.10), 10000: (98.89, 0.08), 50000: (99.31, 0.06)},
        "distn": {100: (68.34, 0.06), 1000: (93.97, 0.08), 10000: (98.79, 0.07), 50000: (99.26, 0.05)},
        "noisy": {100: (66.53, 0.18), 1000: (93.45, 0.11), 10000: (98.58, 0.11), 50000: (99.05, 0.10)},
        "mimic": {100: (67.35, 0.15), 1000: (93.78, 0.13), 10000: (98.65, 0.05), 50000: (98.99, 0.04)},
        "ngan": {100: (64.90, 0.31), 1000: (93.60, 0.22), 10000: (98.95, 0.19), 50000: (99.36, 0.16)},
        "adib": {100: (77.95, 0.08), 1000: (96.42, 0.09), 10000: (99.25, 0.06), 50000: (99.54, 0.05)},
        "adim": {100: (78.70, 0.11), 1000: (97.20, 0.09), 10000: (99.38, 0.08), 50000: (99.61, 0.04)},
    },
    "cifar10": {
        "codis": {500: (54.17, 0.20), 5000: (77.82, 0.14), 10000: (81.60, 0.13), 50000: (85.12, 0.11)},
        "distn": {500: (50.92, 0.18), 5000: (76.59, 0.15), 10000: (80.03, 0.09), 50000: (83.32, 0.08)},
        "noisy": {500: (50.18, 0.28), 5000: (75.42, 0.19), 10000: (79.89, 0.17), 50000: (82.99, 0.12)},
        "mimic": {500: (51.74, 0.23), 5000: (75.66, 0.17), 10000: (80.32, 0.14), 50000: (84.33, 0.10)},
        "ngan": {500: (46.29, 0.32), 5000: (76.11, 0.24), 10000: (81.11, 0.22), 50000: (85.34, 0.27)},
        "adib": {500: (57.56, 0.18), 5000: (79.36, 0.16), 10000: (83.02, 0.11), 50000: (86.50, 0.10)},
        "adim": {500: (59.10, 0.20), 5000: (80.53, 0.17), 10000: (83.93, 0.10), 50000: (87.03, 0.09)},
    },
}
"""TPAMI Table 1 as printed: accuracy in percent, (mean, std) over 10 runs. The paper's, not ours."""


# --------------------------------------------------------------------------------------------------------
# Running the table
# --------------------------------------------------------------------------------------------------------


def plan(dataset: str, methods: Sequence[str], sizes: Sequence[int], seeds: int, **overrides) -> list[TrainConfig]:
    """The configs of a Table 1 run, all validated before any training starts.

    Each override applies to the methods that take it (:func:`advdist_lab.methods.config.applicable`), so the
    original code's budget is ``k_d=20, k_t=10, k_s=10`` for the whole table.
    """
    check_positive_int("seeds", seeds)
    check_view(dataset, overrides.get("view", "full"))
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
    """``out/<method>/n<n>/seed<seed>``: the folder of one run of the table."""
    return Path(out) / config.method / f"n{config.n_train}" / f"seed{config.seed}"


def train_runs(
    dataset: str,
    methods: Sequence[str],
    sizes: Sequence[int],
    seeds: int,
    out: str | os.PathLike,
    *,
    progress: bool = True,
    jobs: int | None = None,
    description: str | None = None,
    members: int | None = None,
    **overrides,
) -> list[dict]:
    """Train (or read back) every (method, n, seed) of :func:`plan` into its :func:`run_folder` under ``out``,
    sharing pretrained teachers through ``out/teachers/``; the results in the order of :func:`plan`. ``members``:
    the seeds of one method and ``n`` train as one batched model, at most that many per batch
    (:func:`advdist_lab.runs.executors.run_configs`; default:
    :func:`~advdist_lab.runs.ensemble.plan.default_members`, batched on digits and synthetic data)."""
    configs = plan(dataset, methods, sizes, seeds, **overrides)
    members = resolve_members(dataset, members)
    out = Path(out)
    return run_configs(
        configs,
        [run_folder(out, config) for config in configs],
        teachers=out / "teachers",
        jobs=jobs,
        progress=progress,
        description=description or f"table 1 on {dataset}",
        members=members,
    )


def run_table1(
    dataset: str = "digits",
    seeds: int = 5,
    out: str | os.PathLike = "runs/table1",
    *,
    methods: Sequence[str] = TABLE1_METHODS,
    sizes: Sequence[int] | None = None,
    progress: bool = True,
    jobs: int | None = None,
    members: int | None = None,
    **overrides,
) -> dict:
    """Train (or reuse) every run of the table and write ``table1.csv`` and ``table1.md`` under ``out``.

    ``overrides`` are :class:`TrainConfig` fields applied to every run (``epochs``, ``device``...). ``jobs`` is
    the number of worker processes (default: :func:`advdist_lab.runs.executors.default_jobs`); ``members`` the
    most runs per batched model (:func:`train_runs`).
    """
    max_train_size(dataset)  # an unknown dataset fails here, with the list of known ones
    view = check_view(dataset, overrides.get("view", "full"))
    sizes = tuple(TABLE1_SIZES[dataset]) if sizes is None else tuple(sizes)
    with RunFolder(out, nested=True) as folder:  # a second table into the same folder is refused, not interleaved
        results = train_runs(
            dataset, methods, sizes, seeds, out, progress=progress, jobs=jobs, members=members, **overrides
        )
        table = aggregate(results)
        title = f"Student test accuracy (%) on {dataset}, mean ± std over {seeds} seed(s){view_words(view)}"
        atomic_write_bytes(folder.path / "table1.csv", to_csv(table, view=view).encode())
        atomic_write_bytes(folder.path / "table1.md", to_markdown(table, sizes, title).encode())
    return {"table": table, "sizes": sizes, "results": results, "markdown": to_markdown(table, sizes, title)}


def view_words(view: str) -> str:
    """What a table's title says of the student's ``view``: nothing for ``full`` (model compression, the title
    as it always was), else ``"; the student sees the <view> view (...)"`` (:data:`VIEW_TEXTS`)."""
    if view == "full":
        return ""
    return f"; the student sees the {view} view ({VIEW_TEXTS[view]}), the teacher the full image"


# --------------------------------------------------------------------------------------------------------
# Assembling the table
# --------------------------------------------------------------------------------------------------------


def aggregate(results: Iterable[dict]) -> dict[str, dict[int, dict]]:
    """Group run results by method and ``n``: ``{method: {n: {"mean", "std", "seeds", "values"}}}`` in percent."""
    groups: dict[str, dict[int, list[tuple[int, float]]]] = {}
    for result in results:
        cfg = result["config"]
        groups.setdefault(cfg["method"], {}).setdefault(cfg["n_train"], []).append(
            (cfg["seed"], 100.0 * result["test_accuracy"])
        )
    table: dict[str, dict[int, dict]] = {}
    for method, by_n in groups.items():
        for n, pairs in by_n.items():
            pairs.sort()
            values = [v for _, v in pairs]
            mean, std = mean_std(values)
            table.setdefault(method, {})[n] = {
                "mean": mean,
                "std": std,
                "seeds": [s for s, _ in pairs],
                "values": values,
            }
    return table


def _ordered_methods(table: dict) -> list[str]:
    known = [m for m in TABLE1_METHODS if m in table]
    return known + sorted(m for m in table if m not in TABLE1_METHODS)


def table_rows(
    table: dict[str, dict[int, dict]], sizes: Sequence[int] | None = None
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the table in the layout of TPAMI Table 1 (methods down, ``n`` across)."""
    if sizes is None:
        sizes = sorted({n for by_n in table.values() for n in by_n})
    header = ["method", *[f"n = {n:,}" for n in sizes]]
    rows = []
    for method in _ordered_methods(table):
        cells = [method.upper()]
        for n in sizes:
            cell = table[method].get(n)
            cells.append(format_cell(cell["mean"], cell["std"]) if cell else "")
        rows.append(cells)
    return header, rows


def to_markdown(table: dict[str, dict[int, dict]], sizes: Sequence[int] | None = None, title: str = "") -> str:
    """The table in markdown, in the layout of :func:`table_rows`, under an optional bold title."""
    header, rows = table_rows(table, sizes)
    return markdown_table(header, rows, title)


def to_csv(table: dict[str, dict[int, dict]], view: str | None = None) -> str:
    """One line per method and ``n``: mean, std and the per-seed values, in percent; with ``view``, a last column
    ``view`` naming the student's view of every line (:func:`run_table1` always writes it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "n_train", "mean", "std", "seeds", "values", *(["view"] if view is not None else [])])
    for method in _ordered_methods(table):
        for n in sorted(table[method]):
            cell = table[method][n]
            writer.writerow(
                [
                    method,
                    n,
                    f"{cell['mean']:.4f}",
                    f"{cell['std']:.4f}",
                    " ".join(map(str, cell["seeds"])),
                    " ".join(f"{v:.4f}" for v in cell["values"]),
                    *([view] if view is not None else []),
                ]
            )
    return buffer.getvalue()


def paper_table(dataset: str) -> dict[str, dict[int, dict]]:
    """TPAMI Table 1 for ``mnist`` or ``cifar10`` in the shape of :func:`aggregate`'s output."""
    if dataset not in TPAMI_TABLE1:
        raise ValueError(f"the paper's Table 1 covers {', '.join(TPAMI_TABLE1)} (got {dataset!r})")
    return {
        m: {n: {"mean": v[0], "std": v[1], "seeds": [], "values": []} for n, v in by_n.items()}
        for m, by_n in TPAMI_TABLE1[dataset].items()
    }
