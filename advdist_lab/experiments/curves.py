"""Training curves read off run results: per-method curves, their mean over seeds, when they settle and how much
they wobble (TPAMI Fig. 4 on MNIST, Fig. 9 on YFCC: "ADIM learns a more accurate student with a smaller number of
training epochs", "NGAN is unstable").

A curve is a list of per-epoch values of one run (``result["history"]``, one entry per epoch); a method's curves
are one list per seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from advdist_lab.hparams import check_positive_int, check_real
from advdist_lab.probes import series

__all__ = ["curves_by_method", "mean_curve", "settling_epoch", "wobble"]


def curves_by_method(
    results: Iterable[Mapping],
    key: str = "student_test_accuracy",
    *,
    methods: Sequence[str] | None = None,
    n_train: int | None = None,
) -> dict[str, list[list[float]]]:
    """``{METHOD: [the per-epoch values of key, one list per run]}`` of the runs in ``results``.

    Methods are keyed by their upper-case name; ``methods`` keeps those (in that order, each of which must have a
    run), ``n_train`` the runs of that training-set size. A run whose history lacks ``key`` raises, naming it.
    """
    if methods is not None and (isinstance(methods, str) or not methods):
        raise ValueError(f"methods must be a non-empty sequence of method names (got {methods!r})")
    if n_train is not None:
        check_positive_int("n_train", n_train)
    found: dict[str, list[list[float]]] = {}
    for result in results:
        config = result["config"]
        if methods is not None and config["method"] not in methods:
            continue
        if n_train is not None and config.get("n_train") != n_train:
            continue
        found.setdefault(config["method"], []).append(series(result["history"], key))
    if methods is None:
        return {method.upper(): runs for method, runs in found.items()}
    missing = [m for m in methods if m not in found]
    if missing:
        where = "" if n_train is None else f" with n = {n_train}"
        raise ValueError(f"no run of {', '.join(missing)}{where} among the results")
    return {method.upper(): found[method] for method in methods}


def mean_curve(runs: Sequence[Sequence[float]]) -> list[float]:
    """The mean over runs, epoch by epoch, over the epochs that every run has (the shortest run's length)."""
    if isinstance(runs, (str, bytes)) or not runs or any(len(run) == 0 for run in runs):
        raise ValueError("runs must hold at least one non-empty curve")
    length = min(len(run) for run in runs)
    return [sum(run[i] for run in runs) / len(runs) for i in range(length)]


def settling_epoch(values: Sequence[float], tolerance: float = 0.01, tail: int = 3) -> int | None:
    """The first epoch (1-based) from which every value stays within ``tolerance`` of the final level, the mean of
    the last ``tail`` values; ``None`` if none does (the last epoch itself is farther than ``tolerance`` from it).

    >>> settling_epoch([0.5, 0.7, 0.9, 0.91, 0.9, 0.9])
    3
    """
    tolerance = check_real("tolerance", tolerance)
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0 (got {tolerance!r})")
    check_positive_int("tail", tail)
    if not values:
        raise ValueError("values must hold at least one epoch")
    last = list(values[-tail:])
    final = sum(last) / len(last)
    inside = [abs(v - final) <= tolerance for v in values]
    return next((e + 1 for e in range(len(values)) if all(inside[e:])), None)


def wobble(values: Sequence[float]) -> float:
    """The (population) standard deviation of the values over the second half of the epochs: how much a curve
    still moves once it should have settled."""
    if not values:
        raise ValueError("values must hold at least one epoch")
    half = list(values[len(values) // 2 :])
    mean = sum(half) / len(half)
    return math.sqrt(sum((v - mean) ** 2 for v in half) / len(half))
