"""What TPAMI Figs. 3 and 6 show, computed from our sweeps beside what the paper says (Sec. 5.1, "Ablation Study").

* :func:`effects`: per Fig. 3 panel and size, the student's accuracy at the ends of the grid, the best and the worst
  value and the spread; :func:`effects_markdown` as a table.
* :func:`paper_comparison`: one line per claim of :data:`TPAMI_ABLATION_CLAIMS`, our measured difference beside the
  paper's words.
* :func:`teacher_mu_lines`: the ``mu`` at which the teacher is best, against ``mu = 0`` (Figs. 6 and 11).

The rows come from :func:`advdist_lab.experiments.ablation.fig3_rows` and
:func:`~advdist_lab.experiments.ablation.fig6_rows` (or ``run_fig3`` / ``run_fig6``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from advdist_lab.experiments.ablation import HYPERPARAMETERS, OMEGAS
from advdist_lab.experiments.tables import markdown_table
from advdist_lab.methods.config import TrainConfig

__all__ = ["DEFAULTS", "TPAMI_ABLATION_CLAIMS", "effects", "effects_markdown", "paper_comparison", "teacher_mu_lines"]

TPAMI_ABLATION_CLAIMS = {
    "omega": "the omegas have a relatively small effect on the accuracy",
    "nu": "nu = 0.001 costs more than 2 points at n = 100 (78.70% -> 76.46%, MNIST)",
    "mu": "a large mu makes the student's accuracy deteriorate rapidly",
    "fig6": "the teacher is more accurate at mu = 0.001 than at mu = 0, and less at a large mu",
}
"""TPAMI Sec. 5.1 ("Ablation Study") on Figs. 3 and 6, as the paper states it (MNIST). The paper's, not ours."""

DEFAULTS = {"nu": TrainConfig().nu, "mu": TrainConfig().mu, "omega": 1 / 3}
"""The value of each panel that the other panels keep (TrainConfig's defaults; 1/3 for the omegas)."""


def effects(rows: Sequence[Mapping], metric: str = "test_accuracy") -> list[dict]:
    """Per Fig. 3 panel and size (from :func:`fig3_rows`): the student's mean accuracy at the ends of the grid, the
    best and the worst value, and the spread (best minus worst mean), in the order of the rows. ``metric`` names
    the averaged number that is read (``"p@3"`` for TPAMI Fig. 8, with ``metrics=("p@3",)`` in ``fig3_rows``); the
    keys stay ``lowest_accuracy``, ``highest_accuracy``."""
    key = f"{metric}_mean"
    if rows and any(row.get(key) is None for row in rows):
        raise ValueError(f"every row must hold {key}: pass metrics=({metric!r},) to fig3_rows / run_fig3")
    groups: dict[tuple[str, int], list[Mapping]] = {}
    for row in rows:
        groups.setdefault((row["hyperparameter"], row["n_train"]), []).append(row)
    out = []
    for (name, n), group in groups.items():
        group = sorted(group, key=lambda r: r["value"])
        best = max(group, key=lambda r: r[key])
        worst = min(group, key=lambda r: r[key])
        out.append(
            {
                "hyperparameter": name,
                "n_train": n,
                "lowest": group[0]["value"],
                "lowest_accuracy": group[0][key],
                "highest": group[-1]["value"],
                "highest_accuracy": group[-1][key],
                "best": best["value"],
                "worst": worst["value"],
                "spread": best[key] - worst[key],
            }
        )
    return out


def effects_markdown(rows: Sequence[Mapping], label: str = "acc.") -> str:
    """:func:`effects` as a markdown table, accuracies in % (``label`` names the number: ``"P@3"`` for Fig. 8)."""
    value = f"{label} (%)"
    header = ["panel", "n", "lowest value", value, "highest value", value, "best", "worst", "spread (points)"]
    body = [
        [
            e["hyperparameter"],
            e["n_train"],
            e["lowest"],
            100 * e["lowest_accuracy"],
            e["highest"],
            100 * e["highest_accuracy"],
            e["best"],
            e["worst"],
            100 * e["spread"],
        ]
        for e in rows
    ]
    return markdown_table(header, body)


def _at(rows: Sequence[Mapping], key: str, value: float, metric: str) -> float | None:
    for row in rows:
        if math.isclose(float(row[key]), value, rel_tol=1e-9):
            return row[metric]
    return None


def _points(delta: float | None) -> str:
    return "not in the grid" if delta is None else f"{100 * delta:+.2f} points"


def paper_comparison(
    fig3: Sequence[Mapping], fig6: Sequence[Mapping] = (), baseline: Sequence[Mapping] = ()
) -> list[str]:
    """One line per claim of :data:`TPAMI_ABLATION_CLAIMS`, per size: our measured differences beside the paper's words.

    ``fig3`` from :func:`fig3_rows`, ``fig6`` and ``baseline`` from :func:`fig6_rows`. Differences are of mean
    accuracies over seeds, in points; a comparison whose value is not in the grid says so.
    """
    lines = []
    by_panel = {(e["hyperparameter"], e["n_train"]): e for e in effects(fig3)}
    for n in sorted({row["n_train"] for row in fig3}):
        spreads = {name: by_panel[(name, n)]["spread"] for name in HYPERPARAMETERS if (name, n) in by_panel}
        omega = max((spreads[name] for name in OMEGAS if name in spreads), default=None)
        others = {name: spreads[name] for name in ("nu", "mu") if name in spreads}
        if omega is not None:
            versus = ", ".join(f"{name} {100 * s:.2f}" for name, s in others.items())
            lines.append(
                f"n = {n}: omega panels spread at most {100 * omega:.2f} points across their grids"
                + (f" (against {versus})" if versus else "")
                + f". Paper: {TPAMI_ABLATION_CLAIMS['omega']}."
            )
        for name in ("nu", "mu"):
            panel = [row for row in fig3 if row["hyperparameter"] == name and row["n_train"] == n]
            if not panel:
                continue
            default = _at(panel, "value", DEFAULTS[name], "test_accuracy_mean")
            end = panel[0] if name == "nu" else max(panel, key=lambda r: r["value"])
            delta = None if default is None else end["test_accuracy_mean"] - default
            lines.append(
                f"n = {n}: {name} = {end['value']:g} against {name} = {DEFAULTS[name]:g}: student "
                f"{_points(delta)}. Paper: {TPAMI_ABLATION_CLAIMS[name]}."
            )
    for n in sorted({row["n_train"] for row in fig6}):
        panel = [row for row in fig6 if row["n_train"] == n]
        zero = [row["teacher_test_accuracy_mean"] for row in baseline if row["n_train"] == n]
        if not zero:
            continue
        small = _at(panel, "mu", 0.001, "teacher_test_accuracy_mean")
        largest = max(panel, key=lambda r: r["mu"])
        lines.append(
            f"n = {n}: teacher at mu = 0.001 against mu = 0: "
            f"{_points(None if small is None else small - zero[0])}; at mu = {largest['mu']:g}: "
            f"{_points(largest['teacher_test_accuracy_mean'] - zero[0])}. "
            f"Paper (Fig. 6): {TPAMI_ABLATION_CLAIMS['fig6']}."
        )
    return lines


def teacher_mu_lines(
    rows: Sequence[Mapping], baseline: Sequence[Mapping], metric: str = "teacher_test_accuracy", name: str = "accuracy"
) -> list[str]:
    """Per size (from :func:`~advdist_lab.experiments.ablation.fig6_rows` with ``metric`` among its metrics): the
    ``mu`` at which the teacher's mean ``metric`` is highest, and its value at ``mu = 0``, beside the paper (TPAMI
    Figs. 6 and 11: best at ``mu = 0.001``, above ``mu = 0``). With one size the line has no ``n = `` prefix."""
    key = f"{metric}_mean"
    sizes = sorted({row["n_train"] for row in baseline})
    if not sizes:
        raise ValueError("baseline must hold the mu = 0 runs of at least one size")
    lines = []
    for n in sizes:
        panel = [row for row in rows if row["n_train"] == n]
        if not panel:
            raise ValueError(f"rows hold no mu > 0 point at n = {n}")
        if key not in panel[0]:
            raise ValueError(f"the rows have no {key}: pass metrics=({metric!r},) to run_fig6")
        best = max(panel, key=lambda r: r[key])
        zero = next(row[key] for row in baseline if row["n_train"] == n)
        prefix = f"n = {n}: " if len(sizes) > 1 else ""
        lines.append(
            f"{prefix}teacher {name}: best at mu = {best['mu']:g} ({best[key]:.4f}), mu = 0 gives {zero:.4f}; "
            "paper: best at mu = 0.001, above mu = 0"
        )
    return lines
