"""DFARD's tables at our scale: named rows of config overrides, run over seeds, summarised beside the paper's.

* :func:`run_rows` runs every row (a label and a dict of :class:`~advdist_lab.robust.dfard.DfardConfig`
  overrides) for every seed into ``out/<row>/seed=<k>/``; finished runs are read back and interrupted ones
  resumed, so a table can be stopped and continued. ``jobs`` worker processes run in parallel on one CPU thread
  each. :func:`run_variants` does the same for complete configs of different methods (DERD's variants beside
  DFARD), each run by :func:`~advdist_lab.robust.derd.run_derd` or :func:`~advdist_lab.robust.dfard.run_dfard`.
* :data:`TABLE1_ROWS` (the generator losses of Table 1 that we implement, and DFARD), :data:`TABLE4_ROWS` (the
  baselines with ITA) and :data:`advdist_lab.robust.dfard.TABLE3_ROWS` (the ablation) are the rows.
* :func:`summarize` gives mean and std per row and column; :func:`comparison_markdown` a table of ours beside
  the paper's (percentages), and :func:`average_over_attacks` the mean over the five attacks (Clean excluded),
  DFARD's "average adversarial robustness".
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from advdist_lab.hparams import check_positive_int
from advdist_lab.robust.derd.config import DerdConfig
from advdist_lab.robust.derd.run import run_derd
from advdist_lab.robust.dfard import TABLE3_ROWS, DfardConfig, run_dfard
from advdist_lab.robust.distill_config import DistillConfig
from advdist_lab.robust.paper_tables import DFARD_COLUMNS
from advdist_lab.runs.executors import Executor, LocalExecutor, current_executor, execute, require_finished
from advdist_lab.runs.folder import holds_run

__all__ = [
    "TABLE1_ROWS",
    "TABLE3_ROWS",
    "TABLE4_ROWS",
    "average_over_attacks",
    "comparison_markdown",
    "row_folder",
    "run_rows",
    "run_variants",
    "summarize",
]

TABLE1_ROWS = {
    "DAFL": {"method": "dafl"},
    "ZSKT": {"method": "zskt"},
    "DFQ": {"method": "dfq"},
    "DeepInv": {"method": "deepinv"},
    "Ours*": {"method": "dfard", "ita": "generation"},
    "Ours": {"method": "dfard"},
}
"""DFARD Table 1's rows that we implement (Dream, CMI and Fast are not); "Ours*" is DFARD in the generation
stage only."""

TABLE4_ROWS = {
    "DAFL+ITA": {"method": "dafl+ita"},
    "DFQ+ITA": {"method": "dfq+ita"},
    "ZSKT+ITA": {"method": "zskt+ita"},
}

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def row_folder(label: str) -> str:
    """A folder name for a row label (``"w/ ITA (G)"`` -> ``"w-ITA-G"``, ``"Ours*"`` -> ``"Ours-star"``)."""
    name = _UNSAFE.sub("-", label.replace("*", "-star")).strip("-")
    if not name:
        raise ValueError(f"row label {label!r} has no usable characters for a folder name")
    return name


def _run_in_folder(config: DistillConfig, folder: str, progress: bool = False) -> dict:
    """Run ``config`` (DERD's :func:`run_derd` for a :class:`DerdConfig`, else :func:`run_dfard`) into ``folder``,
    resuming it when it holds a result or a checkpoint."""
    run = run_derd if isinstance(config, DerdConfig) else run_dfard
    return run(config, folder, resume=holds_run(folder), progress=progress)


def _run_one(config: DistillConfig, folder: str) -> dict:
    import torch

    torch.set_num_threads(1)
    return _run_in_folder(config, folder)


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise ValueError(f"seeds must be a sequence of integers (got {seeds!r})")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seeds must be integers >= 0 (got {seed!r})")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct (got {seeds})")
    return [int(s) for s in seeds]


def _tasks(
    configs: Mapping[str, DistillConfig], seeds: Sequence[int], out: str | os.PathLike
) -> list[tuple[str, int, DistillConfig, str]]:
    """``(label, seed, config, folder)`` for every label and seed, each config seeded and validated, the folders
    ``out/<row_folder(label)>/seed=<k>`` distinct."""
    tasks = []
    folders = set()
    for label, config in configs.items():
        folder = row_folder(label)
        if folder in folders:
            raise ValueError(f"two rows map to the folder {folder!r}; give them distinct labels")
        folders.add(folder)
        for seed in seeds:
            seeded = type(config).from_dict({**config.to_dict(), "seed": seed})
            seeded.resolved()
            tasks.append((label, seed, seeded, os.path.abspath(Path(out) / folder / f"seed={seed}")))
    return tasks


def _execute(
    tasks: Sequence[tuple[str, int, DistillConfig, str]],
    labels: Sequence[str],
    seeds: Sequence[int],
    *,
    jobs: int,
    progress: bool,
    on_result: Callable[[str, int, dict], None] | None,
    desc: str,
    function: Callable[[DistillConfig, str], dict] | None = None,
    executor: Executor | None = None,
    train: bool = True,
) -> dict[str, list[dict]]:
    """Run ``tasks`` on ``executor`` (default: the enclosing :func:`~advdist_lab.runs.executors.executor_scope`'s,
    else ``jobs`` local worker processes of one CPU thread each, or this process for ``jobs = 1``);
    ``{label: [result per seed]}``. ``function(config, folder)`` runs one (default :func:`_run_one`). A stop
    says which runs are kept (:func:`~advdist_lab.runs.executors.execute`). ``train=False`` trains nothing: the
    finished runs are read back in this process, and when any is missing
    :class:`~advdist_lab.runs.executors.RunsNotTrainedError` counts them before any is read."""
    results: dict[str, list] = {label: [None] * len(seeds) for label in labels}
    if not train:
        require_finished([folder for *_, folder in tasks])
        executor = LocalExecutor(1)  # reading back: in this process
    executor = executor or current_executor() or LocalExecutor(jobs)

    def finished(index: int, result: dict) -> None:
        label, seed = tasks[index][:2]
        results[label][seeds.index(seed)] = result
        if on_result is not None:
            on_result(label, seed, result)

    execute(
        function or _run_one,
        [(config, folder) for _, _, config, folder in tasks],
        finished,
        executor=executor,
        folders=[Path(folder) for *_, folder in tasks],
        description=desc,
        progress=progress,
    )
    return results


def run_rows(
    rows: Mapping[str, Mapping[str, object]],
    base: DfardConfig,
    out: str | os.PathLike,
    *,
    seeds: Sequence[int] = (0,),
    jobs: int = 1,
    progress: bool = True,
    on_result: Callable[[str, int, dict], None] | None = None,
    executor: Executor | None = None,
    train: bool = True,
) -> dict[str, list[dict]]:
    """Run every row of ``rows`` (label -> overrides of ``base``) for every seed; ``{label: [result per seed]}``.

    Every config is built and validated before anything runs. Each run uses one CPU thread, in a worker or in
    this process alike. ``executor``: where the runs train (:func:`_execute`; ``jobs`` applies to the local one);
    ``train=False`` only reads finished runs back.
    """
    if not isinstance(base, DfardConfig):
        raise ValueError(f"base must be a DfardConfig (got {type(base).__name__})")
    jobs = check_positive_int("jobs", jobs)
    seeds = _check_seeds(seeds)
    configs = {label: DfardConfig.from_dict({**base.to_dict(), **dict(overrides)}) for label, overrides in rows.items()}
    tasks = _tasks(configs, seeds, out)
    return _execute(
        tasks,
        list(rows),
        seeds,
        jobs=jobs,
        progress=progress,
        on_result=on_result,
        desc="DFARD rows",
        executor=executor,
        train=train,
    )


def run_variants(
    variants: Mapping[str, DistillConfig],
    out: str | os.PathLike,
    *,
    seeds: Sequence[int] = (0,),
    jobs: int = 1,
    progress: bool = False,
    on_result: Callable[[str, int, dict], None] | None = None,
    executor: Executor | None = None,
    train: bool = True,
) -> dict[str, list[dict]]:
    """Run every variant (label -> a complete :class:`DerdConfig` or :class:`DfardConfig`, methods may differ) for
    every seed into ``out/<row_folder(label)>/seed=<k>/``; ``{label: [result per seed]}`` in the order of
    ``seeds``.

    Each config is run with its ``seed`` replaced by the seed, by :func:`run_derd` or :func:`run_dfard` after its
    type; a folder holding a result is read back and one holding a checkpoint resumed, so a comparison can be
    stopped and continued. Every config and folder is validated before anything runs. With ``jobs = 1`` the runs
    use this process's torch threads and, with ``progress``, show their epochs' progress bars beside the variants'
    one; ``jobs > 1`` worker processes run on one CPU thread each, silently; ``executor`` and ``train``: as
    :func:`run_rows`.
    """
    if not isinstance(variants, Mapping) or not variants:
        raise ValueError("variants must be a non-empty mapping of label -> DerdConfig or DfardConfig")
    for label, config in variants.items():
        if not isinstance(label, str):
            raise ValueError(f"variant labels must be strings (got {label!r})")
        if not isinstance(config, (DerdConfig, DfardConfig)):
            raise ValueError(f"variant {label!r} must be a DerdConfig or a DfardConfig (got {type(config).__name__})")
    jobs = check_positive_int("jobs", jobs)
    seeds = _check_seeds(seeds)
    if out is None or str(out) == "":
        raise ValueError("out must name a folder for the variants' runs")
    tasks = _tasks(variants, seeds, out)
    return _execute(
        tasks,
        list(variants),
        seeds,
        jobs=jobs,
        progress=progress,
        on_result=on_result,
        desc="variants",
        function=functools.partial(_run_in_folder, progress=progress and jobs == 1),
        executor=executor,
        train=train,
    )


def average_over_attacks(values: Mapping[str, float], attacks: Sequence[str] = DFARD_COLUMNS[1:]) -> float:
    """The mean over the attacks (Clean excluded) present in ``values``: DFARD's "average robustness"."""
    present = [values[a] for a in attacks if a in values]
    if not present:
        raise ValueError(f"values hold none of the attacks {', '.join(attacks)}")
    return float(np.mean(present))


def summarize(results: Mapping[str, Sequence[dict]]) -> dict[str, dict[str, tuple[float, float]]]:
    """``{row: {column: (mean, std)}}`` in percent over seeds, for the columns present in every result, plus
    ``average`` (the mean over the attacks, Clean excluded) and ``best_epoch``."""
    summary = {}
    for label, runs in results.items():
        runs = [r for r in runs if r is not None]
        if not runs:
            continue
        row = {}
        for column in (*DFARD_COLUMNS, "average"):
            if all(column in r for r in runs):
                values = np.array([100.0 * r[column] for r in runs])
                row[column] = (float(values.mean()), float(values.std()))
        row["best_epoch"] = (float(np.mean([r["best_epoch"] for r in runs])), 0.0)
        summary[label] = row
    return summary


def comparison_markdown(
    summary: Mapping[str, Mapping[str, tuple[float, float]]],
    paper: Mapping[str, Sequence[float] | Mapping[str, float]] | None = None,
    columns: Sequence[str] = DFARD_COLUMNS,
    average_of: Sequence[str] | None = None,
) -> str:
    """A markdown table: one line per row with ours (mean ± std, %) and, where the paper has the row, its
    numbers in parentheses. ``paper`` rows are tuples in :data:`DFARD_COLUMNS` order or dicts by column.

    The last column averages the five attacks (DFARD's "average robustness"); ``average_of`` names other columns
    to average instead, on both sides (DERD's supplement averages all six, Clean included), and then shows our
    mean without a std."""
    from advdist_lab.experiments.tables import markdown_table
    from advdist_lab.robust.attacks.protocol import ATTACK_LABELS

    header = ["row", *(ATTACK_LABELS[c] for c in columns), ATTACK_LABELS["average"]]
    lines = []
    for label, row in summary.items():
        reference = None if paper is None else paper.get(label)
        if reference is not None and not isinstance(reference, Mapping):
            reference = dict(zip(DFARD_COLUMNS, reference[: len(DFARD_COLUMNS)], strict=True))
        cells = [label]
        averaged = DFARD_COLUMNS[1:] if average_of is None else tuple(average_of)
        for column in (*columns, "average"):
            ours = row.get(column)
            text = "-" if ours is None else f"{ours[0]:.1f} ± {ours[1]:.1f}"
            if column == "average" and average_of is not None:
                present = [row[c][0] for c in averaged if c in row]
                text = f"{np.mean(present):.1f}" if len(present) == len(averaged) else "-"
            if reference is not None:
                ref = reference.get(column)
                if column == "average" and all(c in reference for c in averaged):
                    ref = float(np.mean([reference[c] for c in averaged]))
                if ref is not None:
                    text += f" ({ref:.2f})"
            cells.append(text)
        lines.append(cells)
    return markdown_table(header, lines)
