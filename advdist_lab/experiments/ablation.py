"""The ablation study of TPAMI Sec. 5.1: Fig. 3 (ADIM's student against its hyperparameters) and Fig. 6 (the
teacher against ``mu``).

* **Fig. 3** ("Effects of the hyper-parameters in ADIM"): the student's test accuracy against each of
  ``omega_r``, ``omega_s``, ``omega_t``, ``nu`` and ``mu``, one at a time with the others at their defaults, on a
  logarithmic x axis, for several training-set sizes. The paper finds the omegas matter little, a tiny ``nu``
  (0.001) costs over 2 points at n = 100, and a large ``mu`` makes the student deteriorate rapidly.
* **Fig. 6** ("Accuracy of the teacher with varying mu"): the teacher's test accuracy against ``mu`` (log x),
  against the teacher trained with ``mu = 0`` (a horizontal reference): a small ``mu`` helps the teacher, a
  large one hurts it, and through distillation the student too.

Every point is a :class:`~advdist_lab.runs.sweeps.SweepPoint` trained by :func:`advdist_lab.runs.sweeps.run_sweep` into
``out/<overrides>/seed=<k>/``; Fig. 6's ``mu > 0`` points have the same overrides as Fig. 3's ``mu`` panel, so
with the same ``out`` the two figures share those runs, and Fig. 6 only adds the ``mu = 0`` runs. Runs of
equal configs (the default ``nu = 1`` of the ``nu`` panel and the default ``mu = 0.01`` of the ``mu`` panel)
are trained once. What the sweeps show beside the paper's words is :mod:`advdist_lab.experiments.ablation_analysis`.

Our choices where the paper is silent or out of reach at our scale:

* Data: digits (offline, ``sklearn.datasets.load_digits``) with n = 100 and 500, for the paper's MNIST with
  n = 100, 1,000 and 10,000; 3 seeds (the paper averages 10 runs).
* The paper searches ``0 < omega < 1``, ``0.001 < nu < 1000`` and ``0.0001 < mu < 100`` but does not list the
  points of Fig. 3. We take five omegas doubling from 0.05 to 0.8, and six decades for ``nu``
  (0.001 .. 100) and ``mu`` (0.0001 .. 10): each ends one decade short of the paper's upper end, which keeps the
  whole Fig. 3 sweep (156 distinct runs of 50 epochs) near 13 minutes on 2 CPU cores: one ADIM run on digits
  took 9.8 s at n = 100 and 10.3 s at n = 500 on one core, and the sweep runs one per core.
* ADIM's omega must stay on the simplex of Eq. 6: when one weight varies, the other two share the rest equally
  (``omega_r = w`` gives ``omega_s = omega_t = (1 - w) / 2``). The weights are rounded to 12 significant digits
  so that ``w = 1/3`` gives the same point in all three omega panels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from advdist_lab.hparams import check_choice, check_positive, check_positive_int, check_real
from advdist_lab.methods.config import TrainConfig
from advdist_lab.runs.ensemble.plan import resolve_members
from advdist_lab.runs.sweeps import ACCURACIES, SweepPoint, check_seeds, overrides_key, points, run_sweep, summarize

__all__ = [
    "base_config",
    "check_grids",
    "check_sizes",
    "DEFAULT_GRIDS",
    "fig3_points",
    "fig3_rows",
    "FIG3_SEEDS",
    "FIG3_SIZES",
    "fig6_points",
    "fig6_rows",
    "HYPERPARAMETERS",
    "MU_GRID",
    "NU_GRID",
    "OMEGA_GRID",
    "omega_weights",
    "OMEGAS",
    "panel_overrides",
    "panels_of",
    "run_fig3",
    "sweep_members",
    "run_fig6",
]

HYPERPARAMETERS = ("omega_r", "omega_s", "omega_t", "nu", "mu")
"""The panels of TPAMI Fig. 3, in the paper's order."""

OMEGAS = ("omega_r", "omega_s", "omega_t")

FIG3_SIZES = (100, 500)
"""Our training-set sizes on digits (the paper's MNIST: 100, 1,000, 10,000)."""

FIG3_SEEDS = 3
"""Seeds per point (the paper: 10 runs)."""

OMEGA_GRID = (0.05, 0.1, 0.2, 0.4, 0.8)
"""The varied omega weight, doubling inside the simplex (0, 1)."""

NU_GRID = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
"""``nu`` over six decades (the paper searches 0.001 .. 1000); 1 is the default."""

MU_GRID = (0.0001, 0.001, 0.01, 0.1, 1.0, 10.0)
"""``mu`` over six decades (the paper searches 0.0001 .. 100); 0.01 is the default."""

DEFAULT_GRIDS: dict[str, tuple[float, ...]] = {
    "omega_r": OMEGA_GRID,
    "omega_s": OMEGA_GRID,
    "omega_t": OMEGA_GRID,
    "nu": NU_GRID,
    "mu": MU_GRID,
}

_SET_BY_THE_SWEEP = {
    "method": "Figs. 3 and 6 are ADIM's",
    "n_train": "n_trains sets it",
    "seed": "seeds sets it",
}


def _round(value: float) -> float:
    return float(f"{value:.12g}")


def omega_weights(name: str, value: float) -> dict[str, float]:
    """ADIM's three weights with ``name``'s weight ``value`` and the other two sharing the rest equally (Eq. 6)."""
    check_choice("name", name, OMEGAS)
    value = check_real(name, value)
    if not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1), inside the simplex of Eq. 6 (got {value!r})")
    rest = _round((1.0 - value) / 2)
    weights = {other: rest for other in OMEGAS}
    weights[name] = _round(value)
    return weights


def panel_overrides(name: str, value: float) -> dict[str, float]:
    """The overrides of one point of Fig. 3's panel ``name``: the omegas on the simplex, or ``nu`` or ``mu``."""
    check_choice("hyperparameter", name, HYPERPARAMETERS)
    if name in OMEGAS:
        return omega_weights(name, value)
    value = check_positive(name, value)  # a logarithmic axis: mu = 0 is Fig. 6's reference, not a point here
    return {name: value}


def check_grids(grids: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, ...]]:
    """The grids of Fig. 3 (``None``: :data:`DEFAULT_GRIDS`); only the named panels are swept."""
    if grids is None:
        return dict(DEFAULT_GRIDS)
    if not isinstance(grids, Mapping) or not grids:
        raise ValueError(f"grids must map some of {', '.join(HYPERPARAMETERS)} to their values (got {grids!r})")
    checked = {}
    for name, values in grids.items():
        check_choice("grids' hyperparameter", name, HYPERPARAMETERS)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"the grid of {name} must be a non-empty sequence of numbers (got {values!r})")
        for value in values:
            panel_overrides(name, value)
        if len(set(values)) != len(values):
            raise ValueError(f"the grid of {name} must hold distinct values (got {list(values)})")
        checked[name] = tuple(float(v) for v in values)
    return {name: checked[name] for name in HYPERPARAMETERS if name in checked}


def check_sizes(n_trains: Sequence[int]) -> tuple[int, ...]:
    """Distinct training-set sizes, at least one (each then checked against the dataset by ``TrainConfig``)."""
    if isinstance(n_trains, int) or not isinstance(n_trains, Sequence) or not n_trains:
        raise ValueError(f"n_trains must be a non-empty sequence of training-set sizes (got {n_trains!r})")
    for n in n_trains:
        check_positive_int("n_train", n)
    if len(set(n_trains)) != len(n_trains):
        raise ValueError(f"n_trains must be distinct (got {list(n_trains)})")
    return tuple(n_trains)


def base_config(**overrides) -> TrainConfig:
    """ADIM's config that every point of Figs. 3 and 6 starts from; ``overrides`` are other TrainConfig fields."""
    for name, reason in _SET_BY_THE_SWEEP.items():
        if name in overrides:
            raise ValueError(f"{name} cannot be overridden in Figs. 3 and 6: {reason}")
    return TrainConfig.from_dict({"method": "adim", **overrides})


def _unique(dicts: list[dict]) -> list[dict]:
    seen: set[tuple] = set()
    kept = []
    for values in dicts:
        if overrides_key(values) not in seen:
            seen.add(overrides_key(values))
            kept.append(values)
    return kept


def fig3_points(
    n_trains: Sequence[int] = FIG3_SIZES,
    seeds: int | Sequence[int] = FIG3_SEEDS,
    grids: Mapping[str, Sequence[float]] | None = None,
    **overrides,
) -> list[SweepPoint]:
    """The points of TPAMI Fig. 3: for every size, every panel's grid, every seed; all validated first.

    ``grids`` maps some of :data:`HYPERPARAMETERS` to their values (default :data:`DEFAULT_GRIDS`, all five
    panels); ``overrides`` are TrainConfig fields of every run (``epochs``, ``dataset``, ``device``...). A point
    that two panels share (``omega = 1/3`` in all three omega panels) is one point.
    """
    sizes = check_sizes(n_trains)
    seeds = check_seeds(seeds)
    grids = check_grids(grids)
    base = base_config(**overrides)
    dicts = [
        {"n_train": n, **panel_overrides(name, value)} for n in sizes for name, grid in grids.items() for value in grid
    ]
    return points(base, _unique(dicts), seeds)


def fig6_points(
    n_trains: Sequence[int] = FIG3_SIZES,
    seeds: int | Sequence[int] = FIG3_SEEDS,
    mus: Sequence[float] = MU_GRID,
    **overrides,
) -> list[SweepPoint]:
    """The points of TPAMI Fig. 6: Fig. 3's ``mu`` panel (same overrides, same folders) plus ``mu = 0``."""
    grid = check_grids({"mu": mus})["mu"]
    sizes = check_sizes(n_trains)
    seeds = check_seeds(seeds)
    base = base_config(**overrides)
    dicts = [{"n_train": n, "mu": mu} for n in sizes for mu in (*grid, 0.0)]
    return points(base, dicts, seeds)


def panels_of(overrides: Mapping[str, object]) -> list[tuple[str, float]]:
    """The Fig. 3 panels a point belongs to, with its x value there: ``[("nu", 0.1)]``; every omega panel for
    ``omega = (1/3, 1/3, 1/3)``; none for a point that is not Fig. 3's (``mu = 0``)."""
    found = [(name, float(overrides[name])) for name in ("nu", "mu") if name in overrides]
    if all(name in overrides for name in OMEGAS):
        values = {name: float(overrides[name]) for name in OMEGAS}
        for name in OMEGAS:
            others = [values[o] for o in OMEGAS if o != name]
            if others[0] == others[1]:
                found.append((name, values[name]))
    return [(name, value) for name, value in found if value > 0]


def _sizes_by_key(sweep: Sequence[SweepPoint]) -> dict[tuple, int]:
    return {overrides_key(p.overrides): p.config.n_train for p in sweep}


def fig3_rows(sweep: Sequence[SweepPoint], results: Sequence[Mapping], metrics: Sequence[str] = ()) -> list[dict]:
    """TPAMI Fig. 3 as rows, sorted by panel, size and value::

        {"hyperparameter": "nu", "value": 0.1, "n_train": 100, "overrides": {...}, "seeds": [...], "count": 3,
         "test_accuracy_mean": ..., "test_accuracy_std": ..., "teacher_test_accuracy_mean": ..., ...}

    Accuracies are fractions; the std is over seeds (``None`` for one seed). A point in several panels gives
    one row in each. ``metrics``: more top-level numbers to average (TPAMI Fig. 8 plots the student's ``p@3`` on
    YFCC, :mod:`advdist_lab.experiments.tag_figures`).
    """
    sizes = _sizes_by_key(sweep)
    rows = []
    for row in summarize(sweep, results, (*ACCURACIES, *metrics)):
        for name, value in panels_of(row["overrides"]):
            rows.append(
                {"hyperparameter": name, "value": value, "n_train": sizes[overrides_key(row["overrides"])], **row}
            )
    rows.sort(key=lambda r: (HYPERPARAMETERS.index(r["hyperparameter"]), r["n_train"], r["value"]))
    return rows


def fig6_rows(
    sweep: Sequence[SweepPoint], results: Sequence[Mapping], metrics: Sequence[str] = ()
) -> tuple[list[dict], list[dict]]:
    """TPAMI Fig. 6 as ``(rows, baseline)``: the points that set only ``n_train`` and ``mu`` (Fig. 3's points of
    the other panels are skipped), sorted by size and ``mu``; ``mu > 0`` in ``rows``
    (``{"n_train", "mu", "teacher_test_accuracy_mean", ...}``), ``mu = 0`` in ``baseline``. ``metrics``: more
    top-level numbers to average (TPAMI Fig. 11 plots the teacher's ``teacher_map`` and ``teacher_p@3`` on YFCC)."""
    sizes = _sizes_by_key(sweep)
    rows, baseline = [], []
    for row in summarize(sweep, results, (*ACCURACIES, *metrics)):
        if set(row["overrides"]) - {"n_train"} != {"mu"}:
            continue
        mu = float(row["overrides"]["mu"])
        entry = {"n_train": sizes[overrides_key(row["overrides"])], "mu": mu, **row}
        (rows if mu > 0 else baseline).append(entry)
    rows.sort(key=lambda r: (r["n_train"], r["mu"]))
    baseline.sort(key=lambda r: r["n_train"])
    return rows, baseline


def sweep_members(sweep: Sequence[SweepPoint], members: int | None) -> int:
    """``members`` as given (validated), or by default
    :func:`~advdist_lab.runs.ensemble.plan.default_members` of the sweep's dataset: the points of one ``n`` differ
    only in seeds and the weights omega, nu, mu, so on digits they train as members of batched models (32 runs per
    model) instead of one by one."""
    if not sweep:
        return 1 if members is None else check_positive_int("members", members)
    return resolve_members(sweep[0].config.dataset, members)


def run_fig3(
    out: str | os.PathLike,
    n_trains: Sequence[int] = FIG3_SIZES,
    seeds: int | Sequence[int] = FIG3_SEEDS,
    grids: Mapping[str, Sequence[float]] | None = None,
    *,
    jobs: int | None = None,
    progress: bool = True,
    metrics: Sequence[str] = (),
    description: str = "Fig. 3",
    members: int | None = None,
    train: bool = True,
    **overrides,
) -> dict:
    """Train (or read back) every point of Fig. 3 under ``out``: ``{"points", "results", "summary", "rows"}``.
    ``metrics``: more top-level numbers of ``result.json`` to average (Fig. 8's ``p@3``); ``description`` labels the
    progress bar; ``members``: the most points per batched model (:func:`sweep_members`); ``train=False`` reads a
    finished sweep back and trains nothing (:func:`~advdist_lab.runs.sweeps.run_sweep`)."""
    sweep = fig3_points(n_trains, seeds, grids, **overrides)
    results = run_sweep(
        sweep,
        out,
        jobs=jobs,
        progress=progress,
        description=description,
        members=sweep_members(sweep, members),
        train=train,
    )
    return {
        "points": sweep,
        "results": results,
        "summary": summarize(sweep, results, (*ACCURACIES, *metrics)),
        "rows": fig3_rows(sweep, results, metrics),
    }


def run_fig6(
    out: str | os.PathLike,
    n_trains: Sequence[int] = FIG3_SIZES,
    seeds: int | Sequence[int] = FIG3_SEEDS,
    mus: Sequence[float] = MU_GRID,
    *,
    jobs: int | None = None,
    progress: bool = True,
    metrics: Sequence[str] = (),
    members: int | None = None,
    train: bool = True,
    **overrides,
) -> dict:
    """Train (or read back) every point of Fig. 6 under ``out`` (the same ``out`` as Fig. 3 reuses its ``mu``
    runs): ``{"points", "results", "summary", "rows", "baseline"}``; ``members`` and ``train`` as in
    :func:`run_fig3`."""
    sweep = fig6_points(n_trains, seeds, mus, **overrides)
    results = run_sweep(
        sweep,
        out,
        jobs=jobs,
        progress=progress,
        description="Fig. 6",
        members=sweep_members(sweep, members),
        train=train,
    )
    rows, baseline = fig6_rows(sweep, results, metrics)
    return {
        "points": sweep,
        "results": results,
        "summary": summarize(sweep, results, (*ACCURACIES, *metrics)),
        "rows": rows,
        "baseline": baseline,
    }
