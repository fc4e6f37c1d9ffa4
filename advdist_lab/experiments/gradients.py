"""The probed training experiments of TPAMI Figs. 4, 5 and 7: gradient variance, alignment and training speed.

* **Fig. 5**: the variance across minibatches of the student's adversarial and distillation gradients during
  ADIM-NGS (score-function gradient) and ADIM (Gumbel-Softmax) training, by epoch (:func:`variance_curves`).
* **Fig. 7**: the cosine similarity of the two gradients averaged over the epochs of a run, against ``omega_s``
  (student) and against ``omega_t`` (teacher) (:func:`omega_configs`, :func:`cosine_vs_omega`).
* **Training speed** (Sec. 5.1, "the GS trick speeds up the training by around 50%"): the first epoch at which
  each method's student reaches a fixed test accuracy (:func:`speed_table`).
* **Eq. 9**: ``Var(grad V_ADIM) <= Var(grad V_NGAN)``, the whole gradient's variance of ADIM's student against
  NGAN's (:func:`total_variance_table`).

Every run is an ordinary :class:`~advdist_lab.methods.TrainConfig` with ``probe_gradients=True`` (see
:mod:`advdist_lab.probes`), trained and cached by :func:`advdist_lab.runs.executors.run_configs` under one folder, so a
rerun reads finished runs back. Our choices where the papers are silent or out of reach at our scale:

* The paper sweeps ``omega_s`` in Fig. 7 from ``2^-3`` to ``2^6`` on a log2 axis, that is partly off the simplex
  that Eq. 6 and our ADIM require (``omega_r + omega_s + omega_t = 1``). We sweep the weight inside the simplex,
  ``omega in (0, 1)``, splitting the rest equally between the two other weights.
* "Reaching convergence" becomes reaching a fixed test accuracy, so that epochs compare across methods.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from advdist_lab.experiments.ablation import omega_weights
from advdist_lab.experiments.tables import mean_std
from advdist_lab.hparams import check_choice, check_positive_int
from advdist_lab.methods.config import METHODS, TrainConfig, applicable
from advdist_lab.probes import epochs_to_accuracy, history_key, mean_over_epochs, series
from advdist_lab.runs.executors import run_configs

__all__ = [
    "cosine_vs_omega",
    "FIG5_METHODS",
    "folder",
    "method_configs",
    "omega_configs",
    "OMEGA_GRID",
    "omega_on_simplex",
    "run",
    "SPEED_METHODS",
    "speed_table",
    "speedup",
    "SWEPT",
    "total_variance_table",
    "variance_curves",
]

FIG5_METHODS = ("adim-ngs", "adim")
"""Fig. 5 (a) and (b): ADIM without and with the Gumbel-Softmax trick."""

SPEED_METHODS = ("ngan", "adib", "adim-ngs", "adim")
"""The methods whose training speed is compared (Fig. 4 shows NGAN converging slowest)."""

OMEGA_GRID = (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 3 / 4, 7 / 8)
"""The ``omega_s`` (or ``omega_t``) values of our Fig. 7: powers of two inside the simplex, and two towards 1."""

SWEPT = {"student": "omega_s", "teacher": "omega_t"}


def method_configs(methods: Sequence[str], seeds: int, **overrides) -> list[TrainConfig]:
    """Probed configs of ``methods`` for seeds ``0 .. seeds - 1``; ``overrides`` apply where a method takes them."""
    check_positive_int("seeds", seeds)
    for method in methods:
        check_choice("method", method, METHODS)
    return [
        TrainConfig(method=m, seed=s, **{**applicable(m, overrides), "probe_gradients": True})
        for m in methods
        for s in range(seeds)
    ]


def omega_on_simplex(player: str, omega: float) -> dict[str, float]:
    """ADIM's three weights with ``player``'s weight ``omega`` and the rest split equally (sums to 1, Eq. 6):
    :func:`advdist_lab.experiments.ablation.omega_weights` of the player's weight."""
    check_choice("player", player, tuple(SWEPT))
    return omega_weights(SWEPT[player], omega)


def omega_configs(player: str, omegas: Sequence[float], seeds: int, **overrides) -> list[TrainConfig]:
    """Probed ADIM configs sweeping ``omega_s`` (``player="student"``) or ``omega_t`` (``"teacher"``), Fig. 7."""
    check_positive_int("seeds", seeds)
    if not omegas:
        raise ValueError("omegas must hold at least one weight")
    for key in ("omega_r", "omega_s", "omega_t", "method"):
        if key in overrides:
            raise ValueError(f"{key} is set by the sweep and cannot be overridden")
    return [
        TrainConfig(method="adim", seed=s, **overrides, **omega_on_simplex(player, w), probe_gradients=True)
        for w in omegas
        for s in range(seeds)
    ]


def folder(out: str | os.PathLike, config: TrainConfig) -> Path:
    """The run folder of ``config`` under ``out``: ``method/n<n>/[omega_r.._s.._t../]seed<k>``."""
    path = Path(out) / config.method / f"n{config.n_train}"
    resolved = config.resolved()
    default = TrainConfig(method=config.method, dataset=config.dataset).resolved()
    if config.method in ("adim", "adim-ngs") and (resolved.omega_s, resolved.omega_t) != (
        default.omega_s,
        default.omega_t,
    ):
        path = path / f"omega_r{resolved.omega_r:.4g}_s{resolved.omega_s:.4g}_t{resolved.omega_t:.4g}"
    return path / f"seed{config.seed}"


def run(
    configs: Sequence[TrainConfig],
    out: str | os.PathLike,
    *,
    jobs: int | None = None,
    progress: bool = True,
    description: str = "probed runs",
    train: bool = True,
) -> list[dict]:
    """Train (or read back) ``configs`` under ``out`` with one shared teacher cache; their results in order.
    ``train=False`` only reads finished runs back (:func:`~advdist_lab.runs.executors.run_configs`)."""
    folders = [folder(out, c) for c in configs]
    return run_configs(
        configs,
        folders,
        teachers=Path(out) / "teachers",
        jobs=jobs,
        progress=progress,
        description=description,
        train=train,
    )


# --------------------------------------------------------------------------------------------------------
# Reading the results
# --------------------------------------------------------------------------------------------------------


def _by_method(results: Sequence[Mapping]) -> dict[str, list[Mapping]]:
    groups: dict[str, list[Mapping]] = {}
    for result in results:
        groups.setdefault(result["config"]["method"], []).append(result)
    return groups


def _mean_spread(values: Sequence[float]) -> tuple[float, float]:
    mean, std = mean_std(values)
    return mean, 0.0 if math.isnan(std) else std


def variance_curves(results: Sequence[Mapping], player: str = "student") -> dict[str, dict[str, list[float]]]:
    """Fig. 5: per method, the epoch-by-epoch variance of each gradient, the mean over the method's seeds.

    Returns ``{method: {"adversarial": [...], "distillation": [...], "total": [...], "tau": [...]}}`` with the
    parts the method has. Seeds of one method must have the same number of epochs.
    """
    check_choice("player", player, ("student", "teacher"))
    curves: dict[str, dict[str, list[float]]] = {}
    for method, group in _by_method(results).items():
        lengths = {len(r["history"]) for r in group}
        if len(lengths) != 1:
            raise ValueError(f"the seeds of {method} have different numbers of epochs: {sorted(lengths)}")
        entry: dict[str, list[float]] = {}
        first = group[0]["history"][0]
        for part in ("adversarial", "distillation", "total"):
            key = history_key(player, f"grad_var_{part}")
            if key in first:
                per_seed = [series(r["history"], key) for r in group]
                entry[part] = [statistics.fmean(values) for values in zip(*per_seed, strict=True)]
        if not entry:
            continue
        entry["tau"] = series(group[0]["history"], "tau")
        curves[method] = entry
    if not curves:
        raise ValueError(f"no result holds probed gradients of the {player}: train with probe_gradients=True")
    return curves


def cosine_vs_omega(results: Sequence[Mapping], player: str, skip: int = 0) -> list[dict]:
    """Fig. 7: per swept weight, the cosine of the ``player``'s two gradients averaged over epochs (and seeds).

    Rows ``{"omega", "cosine", "cosine_std", "seeds", "accuracy"}`` sorted by ``omega``; ``accuracy`` is the
    player's final test accuracy (mean over seeds). ``skip`` leaves out the first epochs of every run.
    """
    check_choice("player", player, tuple(SWEPT))
    name = SWEPT[player]
    key = history_key(player, "grad_cosine")
    accuracy_key = f"{player}_test_accuracy"
    groups: dict[float, list[Mapping]] = {}
    for result in results:
        groups.setdefault(float(result["config"][name]), []).append(result)
    rows = []
    for omega in sorted(groups):
        group = groups[omega]
        cosine, spread = _mean_spread(mean_over_epochs(r["history"], key, skip) for r in group)
        accuracy = statistics.fmean(r["history"][-1][accuracy_key] for r in group)
        rows.append({"omega": omega, "cosine": cosine, "cosine_std": spread, "seeds": len(group), "accuracy": accuracy})
    return rows


def speed_table(results: Sequence[Mapping], threshold: float) -> list[dict]:
    """Training speed: per method, the first epoch at which the student reaches ``threshold`` test accuracy.

    Rows ``{"method", "epochs", "reached", "seeds", "mean_epochs", "final_accuracy"}``: ``epochs`` per seed
    (``None`` where a seed never reaches it), ``mean_epochs`` over the seeds that do (``nan`` if none).
    """
    rows = []
    for method, group in _by_method(results).items():
        epochs = [epochs_to_accuracy(r["history"], threshold) for r in group]
        reached = [e for e in epochs if e is not None]
        rows.append(
            {
                "method": method,
                "epochs": epochs,
                "reached": len(reached),
                "seeds": len(group),
                "mean_epochs": statistics.fmean(reached) if reached else math.nan,
                "final_accuracy": statistics.fmean(r["test_accuracy"] for r in group),
            }
        )
    return rows


def speedup(rows: Sequence[Mapping], fast: str = "adim", slow: str = "adim-ngs") -> float:
    """How much sooner ``fast`` reaches the accuracy than ``slow``: ``1 - epochs(fast) / epochs(slow)``.

    0.5 is the paper's "speeds up the training by around 50%"; negative means ``fast`` is slower. ``nan`` when
    either never reaches it.
    """
    by_method = {row["method"]: row for row in rows}
    for method in (fast, slow):
        if method not in by_method:
            raise ValueError(f"{method} is not in the speed table (it holds {', '.join(by_method)})")
    a, b = by_method[fast]["mean_epochs"], by_method[slow]["mean_epochs"]
    return 1.0 - a / b if math.isfinite(a) and math.isfinite(b) else math.nan


def total_variance_table(results: Sequence[Mapping], skip: int = 0) -> list[dict]:
    """Eq. 9: per method, the variance of the student's whole gradient and of its adversarial part, over epochs.

    Rows ``{"method", "total", "adversarial", "distillation"}`` (means over epochs after ``skip`` and seeds;
    ``None`` for a part the method lacks).
    """
    rows = []
    for method, group in _by_method(results).items():
        row: dict = {"method": method}
        for part in ("total", "adversarial", "distillation"):
            key = history_key("student", f"grad_var_{part}")
            present = all(key in r["history"][0] for r in group)
            row[part] = statistics.fmean(mean_over_epochs(r["history"], key, skip) for r in group) if present else None
        rows.append(row)
    return rows
