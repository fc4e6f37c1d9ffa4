"""Hyperparameter sweeps: a grid of overrides of one base config, each trained for several seeds (TPAMI Figs. 3
and 6, :mod:`advdist_lab.experiments.ablation`).

:func:`grid` builds the cartesian product of some axes, :func:`points` turns override dicts and seeds into
validated :class:`SweepPoint` s, each with its own folder named after its overrides (``mu=0.01/n_train=100/seed=0``),
:func:`run_sweep` trains or reads them back under one folder with a shared teacher cache (through
:func:`advdist_lab.runs.executors.run_configs`: a rerun reads finished points back and resumes unfinished ones, an
interrupt keeps every finished point), and :func:`summarize` averages the final accuracies over the seeds of each
point.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from numbers import Real
from pathlib import Path

from ..hparams import check_nonnegative_int, check_positive_int
from ..methods.config import TrainConfig
from .executors import run_configs
from .folder import CHECKPOINT, RESULT, RunFolder

# --------------------------------------------------------------------------------------------------------
# Hyperparameter sweeps: a grid of overrides of one base config, times seeds (TPAMI Figs. 3 and 6)
# --------------------------------------------------------------------------------------------------------

TEACHERS = "teachers"
"""The folder under a sweep's ``out`` that holds the pretrained teachers its runs share."""

CONFIG_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.name != "extra")
"""The fields of :class:`TrainConfig` that an override may set (``seed`` is set by the sweep's seeds)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: ``overrides`` of the base config, one ``seed``, the validated ``config`` and its
    ``folder`` relative to the sweep's folder (``mu=0.01/n_train=100/seed=0``: one level per override, keys
    sorted, then the seed). Build points with :func:`points`; do not mutate ``overrides``."""

    overrides: dict = field(hash=False)
    seed: int
    config: TrainConfig
    folder: str

    @property
    def key(self) -> tuple:
        """What makes a point unique: its overrides (sorted) and its seed."""
        return (overrides_key(self.overrides), self.seed)


def overrides_key(overrides: Mapping[str, object]) -> tuple:
    """``overrides`` as a hashable, order-independent key (its items, sorted by field name)."""
    return tuple(sorted(overrides.items()))


def format_value(value: object) -> str:
    """An override value as text for a folder name: compact (``0.01``, ``1e-05``, ``100``, ``true``), stable,
    and faithful for numbers (a float that six significant digits do not give back is written in full)."""
    if value is None or isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Real):
        number = float(value)
        text = f"{number:.6g}"
        return text if float(text) == number else repr(number)
    return _UNSAFE.sub("_", str(value)) or "_"


def point_folder(overrides: Mapping[str, object], seed: int) -> str:
    """The relative folder of a point: ``key=value`` per override (keys sorted), then ``seed=<seed>``."""
    parts = [f"{name}={format_value(value)}" for name, value in sorted(overrides.items())]
    return "/".join([*parts, f"seed={seed}"])


def check_field(name: object, where: str) -> str:
    if name == "seed":
        raise ValueError(f"seed cannot be set in {where}: the sweep's seeds set it")
    if not isinstance(name, str) or name not in CONFIG_FIELDS:
        import difflib

        close = difflib.get_close_matches(str(name), CONFIG_FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else " (see advdist-lab train --help for the fields)"
        raise ValueError(f"unknown TrainConfig field {name!r} in {where}{hint}")
    return name


def _check_value(name: str, value: object) -> object:
    if value is not None and not isinstance(value, (str, bool, Real)):
        raise ValueError(f"{name} must be a number, a string, a boolean or None in a sweep (got {value!r})")
    return value


def _check_overrides(values: object) -> dict:
    if not isinstance(values, Mapping):
        raise ValueError(f"every override must be a mapping from TrainConfig fields to values (got {values!r})")
    checked = {check_field(name, "overrides"): _check_value(name, value) for name, value in values.items()}
    return dict(sorted(checked.items()))


def check_seeds(seeds: int | Iterable[int]) -> tuple[int, ...]:
    """``seeds`` as a tuple: an int ``k >= 1`` means seeds ``0 .. k - 1``; otherwise distinct seeds ``>= 0``."""
    if isinstance(seeds, bool) or isinstance(seeds, int):
        return tuple(range(check_positive_int("seeds", seeds)))
    try:
        values = tuple(seeds)
    except TypeError:
        raise ValueError(f"seeds must be a count >= 1 or a sequence of seeds (got {seeds!r})") from None
    if not values:
        raise ValueError("seeds must hold at least one seed")
    for seed in values:
        check_nonnegative_int("seed", seed)
    if len(set(values)) != len(values):
        twice = next(s for s in values if values.count(s) > 1)
        raise ValueError(f"seeds must be distinct (seed {twice} is listed twice)")
    return values


def grid(axes: Mapping[str, Sequence]) -> list[dict]:
    """The cartesian product of ``axes`` (``{"nu": [0.1, 1], "mu": [0, 0.01]}``) as override dicts, the first
    axis varying slowest. Every axis must name a TrainConfig field and hold distinct values."""
    if not isinstance(axes, Mapping) or not axes:
        raise ValueError("axes must be a non-empty mapping from TrainConfig fields to their values")
    names, columns = [], []
    for name, values in axes.items():
        check_field(name, "the grid's axes")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise ValueError(f"the axis {name} must be a sequence of values (got {values!r})")
        values = [_check_value(name, v) for v in values]
        if not values:
            raise ValueError(f"the axis {name} must hold at least one value")
        for i, value in enumerate(values):
            if value in values[:i]:
                raise ValueError(f"the axis {name} lists {value!r} twice")
        names.append(name)
        columns.append(values)
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*columns)]


def points(
    base: TrainConfig, overrides: Iterable[Mapping[str, object]], seeds: int | Iterable[int]
) -> list[SweepPoint]:
    """One :class:`SweepPoint` per override dict per seed (override-major), every config validated first.

    ``base`` gives every field that an override leaves alone. A bad value raises ``ValueError`` naming the
    point and the constraint; an unknown field, ``seed`` in an override, or the same overrides twice raise too.
    """
    if not isinstance(base, TrainConfig):
        raise ValueError(f"base must be a TrainConfig (got {type(base).__name__})")
    seeds = check_seeds(seeds)
    if isinstance(overrides, Mapping):
        raise ValueError("overrides must be a sequence of override dicts (wrap a single dict in a list)")
    checked = [_check_overrides(values) for values in overrides]
    if not checked:
        raise ValueError("overrides must hold at least one override dict ({} is the base config itself)")
    made: list[SweepPoint] = []
    seen: set[tuple] = set()
    for values in checked:
        if overrides_key(values) in seen:
            raise ValueError(f"duplicate sweep point: the overrides {values} are listed twice")
        seen.add(overrides_key(values))
        for seed in seeds:
            folder = point_folder(values, seed)
            try:
                config = base.replace(**values, seed=seed)
                config.resolved()
            except ValueError as error:
                raise ValueError(f"sweep point {folder}: {error}") from None
            made.append(SweepPoint(values, seed, config, folder))
    check_unique(made)
    return made


def check_unique(sweep: Sequence[SweepPoint]) -> None:
    """Refuse two points with the same overrides and seed, or two different points sharing one folder."""
    by_folder: dict[str, SweepPoint] = {}
    keys: set[tuple] = set()
    for point in sweep:
        if not isinstance(point, SweepPoint):
            raise ValueError(f"points must be SweepPoint objects (got {type(point).__name__})")
        other = by_folder.setdefault(point.folder, point)
        if other is not point and other.config != point.config:
            raise ValueError(
                f"two different sweep points share the folder {point.folder} (their base configs differ: sweep "
                "them into different folders)"
            )
        if point.key in keys:
            raise ValueError(f"duplicate sweep point: {point.folder} (the same overrides and seed twice)")
        keys.add(point.key)


def _shared_runs(sweep: Sequence[SweepPoint], out: Path) -> list[tuple[SweepPoint, list[int]]]:
    """Points whose resolved configs are equal (the base's nu = 1 in a nu grid and its mu = 0.01 in a mu grid)
    share one run: in a folder of theirs that already holds a result, else a checkpoint, else the first by name."""
    groups: dict[TrainConfig, list[int]] = {}
    for i, point in enumerate(sweep):
        groups.setdefault(point.config.resolved(), []).append(i)

    def rank(i: int) -> tuple:
        folder = out / sweep[i].folder
        return (not (folder / RESULT).exists(), not (folder / CHECKPOINT).exists(), sweep[i].folder)

    return [(sweep[min(members, key=rank)], members) for members in groups.values()]


def run_sweep(
    sweep: Sequence[SweepPoint],
    out: str | os.PathLike,
    *,
    jobs: int | None = None,
    progress: bool = True,
    description: str = "sweep",
    on_result: Callable[[int, dict], None] | None = None,
    members: int = 1,
    train: bool = True,
) -> list[dict]:
    """Train (or read back) every point under ``out/<point.folder>``; the results in the order of ``sweep``.

    ``train=False`` reads the finished points back without locking or writing ``out`` (a shipped or cached sweep)
    and raises :class:`~advdist_lab.runs.executors.RunsNotTrainedError` when any is missing (:func:`run_configs`).

    Pretrained teachers are shared through ``out/teachers`` (the hyperparameters of Fig. 3 leave the teacher's
    pretraining alone, so the points of one ``n`` and seed pretrain it once). A rerun reads finished points back
    and resumes unfinished ones (:func:`run_configs`). Points with equal resolved configs are trained once and
    share the result (see :func:`_shared_runs`). ``on_result(i, result)`` is called for every point as its run
    finishes. ``out`` is locked for the whole sweep (:class:`~advdist_lab.runs.folder.RunFolder`): a second sweep
    into it is refused in one line. An interrupt keeps every finished point and raises
    :class:`~advdist_lab.runs.executors.RunsInterrupted`. ``members``: the most runs per batched model (points
    that differ only in seeds and weights such as nu, mu, omega; :func:`run_configs`; ``sweep`` passes its
    ``--members``, by default :func:`~advdist_lab.runs.ensemble.plan.default_members`).
    """
    sweep = list(sweep)
    if not sweep:
        raise ValueError("a sweep needs at least one point")
    check_unique(sweep)
    results: list[dict | None] = [None] * len(sweep)

    def finished(j: int, result: dict) -> None:
        for i in shared[j][1]:
            results[i] = result
            if on_result is not None:
                on_result(i, result)

    if not train:
        out = Path(os.path.abspath(out))
        shared = _shared_runs(sweep, out)
        values = run_configs([p.config for p, _ in shared], [out / p.folder for p, _ in shared], train=False)
        for j, value in enumerate(values):
            finished(j, value)
        return results  # type: ignore[return-value]
    folder = RunFolder(out)
    out = folder.path
    with folder:
        shared = _shared_runs(sweep, out)
        run_configs(
            [point.config for point, _ in shared],
            [out / point.folder for point, _ in shared],
            teachers=out / TEACHERS,
            jobs=jobs,
            progress=progress,
            description=description,
            on_result=finished,
            members=members,
        )
    return results  # type: ignore[return-value]


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation; ``None`` for the mean of no value and for the spread of one."""
    values = [float(v) for v in values]
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


ACCURACIES = ("test_accuracy", "teacher_test_accuracy")
"""The final accuracies of a ``result.json`` that :func:`summarize` averages: the student's and the teacher's."""


def summarize(
    sweep: Sequence[SweepPoint], results: Sequence[Mapping], metrics: Sequence[str] = ACCURACIES
) -> list[dict]:
    """One row per distinct overrides (in the order of first appearance), averaged over its seeds::

        {"overrides": {...}, "seeds": [0, 1, 2], "count": 3,
         "test_accuracy_mean": ..., "test_accuracy_std": ...,
         "teacher_test_accuracy_mean": ..., "teacher_test_accuracy_std": ...}

    Accuracies are fractions as in ``result.json`` (``test_accuracy`` is the student's final one). The std is the
    sample standard deviation over seeds, ``None`` for one seed; the teacher's are ``None`` for a method without
    a teacher. ``metrics`` names other top-level numbers of ``result.json`` to average the same way (the ranking
    metrics of a tag run: ``map``, ``teacher_map``, ``p@3``...); a result without one counts as missing.
    """
    sweep, results = list(sweep), list(results)
    if len(sweep) != len(results):
        raise ValueError(f"points and results must have the same length (got {len(sweep)} and {len(results)})")
    groups: dict[tuple, list[tuple[SweepPoint, Mapping]]] = {}
    for point, result in zip(sweep, results, strict=True):
        if not isinstance(result, Mapping) or "test_accuracy" not in result:
            raise ValueError(f"the result of {point.folder} is not a finished run's result")
        if result.get("config", {}).get("seed", point.seed) != point.seed:
            raise ValueError(f"the result given for {point.folder} is of seed {result['config']['seed']}")
        groups.setdefault(overrides_key(point.overrides), []).append((point, result))
    rows = []
    for members in groups.values():
        row: dict = {"overrides": dict(members[0][0].overrides), "seeds": [p.seed for p, _ in members]}
        row["count"] = len(members)
        for name in dict.fromkeys([*ACCURACIES, *metrics]):
            values = [r[name] for _, r in members if r.get(name) is not None]
            row[f"{name}_mean"], row[f"{name}_std"] = mean_std(values)
        rows.append(row)
    return rows


def _cell(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    if std is None:  # one seed: no spread to show
        return f"{100 * mean:.2f}"
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def to_markdown(rows: Sequence[Mapping]) -> str:
    """:func:`summarize`'s rows as an aligned markdown table: one column per overridden field (blank where a
    point keeps the base's value), the student's and the teacher's final test accuracy in % as mean ± std over
    seeds, and the number of seeds."""
    columns: list[str] = []
    for row in rows:
        columns += [name for name in row["overrides"] if name not in columns]
    columns.sort(key=lambda name: (name != "n_train", name))
    header = [*columns, "student (%)", "teacher (%)", "seeds"]
    body = [
        [format_value(row["overrides"][name]) if name in row["overrides"] else "" for name in columns]
        + [
            _cell(row["test_accuracy_mean"], row["test_accuracy_std"]),
            _cell(row["teacher_test_accuracy_mean"], row["teacher_test_accuracy_std"]),
            str(row["count"]),
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])
