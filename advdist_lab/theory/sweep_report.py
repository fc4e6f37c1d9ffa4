"""What a one-hyperparameter sweep of the exact game shows: its tables and the sentences computed from them.

The rows are :func:`advdist_lab.theory.solver.sweep_game`'s, one per value of the swept hyperparameter ``name``
(``omega_s``, ``mu``, ``tau``, ...). Each table function returns ``(header, cells)``, the arguments of
:func:`advdist_lab.experiments.tables.markdown_table` (``markdown_table(*speed_table(rows, "omega_s"))``): this
room sits below the experiments' formatting, so it hands over the table and leaves the markdown to it. The
sentences are strings whose every number is read off the rows.

* :func:`speed_table`: how fast each player reaches ``p_r`` and the final ``V*`` beside the equilibrium value
  (TPAMI Theorem 4.4: ``omega`` changes the value ``sum_i omega_i log omega_i``, not the point ``p_s = p_t = p_r``);
  :func:`slowest_student_line` names the value that slows the student most.
* :func:`excursion_table`: how far the student drags the teacher from ``p_r`` on the way (the teacher learns from
  the student through ``mu KL(p_s || p_t)``, TPAMI Eq. 6); :func:`excursion_growth_line` says by what factor.
* :func:`temperature_table`: where the game settles under the Gumbel-Softmax estimator (TPAMI Eq. 10) at each
  temperature, ``None`` being the exact gradients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ..hparams import check_positive_int

__all__ = ["excursion_growth_line", "excursion_table", "slowest_student_line", "speed_table", "temperature_table"]

Rows = Sequence[Mapping[str, object]]
Table = tuple[list[str], list[list[object]]]


def _check_rows(rows: Rows, name: str, keys: Sequence[str]) -> list[Mapping[str, object]]:
    """The rows as a list, after checking that each is a mapping holding ``name`` and ``keys``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, the swept hyperparameter (got {name!r})")
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Sequence):
        raise ValueError(f"rows must be a sequence of sweep_game rows (got {type(rows).__name__})")
    if len(rows) == 0:
        raise ValueError("rows must hold at least one sweep_game row")
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"rows[{index}] must be a mapping, a sweep_game row (got {type(row).__name__})")
        missing = [key for key in (name, *keys) if key not in row]
        if missing:
            raise ValueError(f"rows[{index}] lacks {', '.join(missing)}: rows must come from sweep_game(..., {name!r})")
    return list(rows)


def _number(row: Mapping[str, object], key: str, index: int) -> float:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"rows[{index}][{key!r}] must be a finite number (got {value!r})")
    return float(value)


def speed_table(rows: Rows, name: str) -> Table:
    """One line per value of ``name``: the steps after which the student and the teacher stay near ``p_r`` (``None``
    when they never do, shown "-"), the student's final ``KL(p_r || p_s)``, the final ``V*`` and the equilibrium
    value of Theorems 4.2 / 4.4."""
    keys = ("student_steps", "teacher_steps", "student_kl", "optimal_value", "equilibrium_value")
    rows = _check_rows(rows, name, keys)
    header = [name, "student steps", "teacher steps", "final KL(p_r‖p_s)", "V*", "equilibrium value"]
    return header, [[row[name], *(row[key] for key in keys)] for row in rows]


def excursion_table(rows: Rows, name: str) -> Table:
    """One line per value of ``name``: the teacher's largest ``KL(p_r || p_t)`` along the game (how far the student
    drags it), and both players' final KL to ``p_r``."""
    keys = ("teacher_worst_kl", "teacher_kl", "student_kl")
    rows = _check_rows(rows, name, keys)
    header = [name, "teacher's worst KL(p_r‖p_t)", "final KL(p_r‖p_t)", "final KL(p_r‖p_s)"]
    return header, [[row[name], *(row[key] for key in keys)] for row in rows]


def temperature_table(rows: Rows, name: str = "tau") -> Table:
    """One line per temperature (``None``: exact gradients, shown "exact"): both players' final KL to ``p_r`` and
    how far the final ``V*`` stands from the equilibrium value (the relaxed samples' bias, TPAMI Eq. 10)."""
    keys = ("student_kl", "teacher_kl", "optimal_value", "equilibrium_value")
    rows = _check_rows(rows, name, keys)
    header = [name, "final KL(p_r‖p_s)", "final KL(p_r‖p_t)", "V* - equilibrium"]
    cells = []
    for index, row in enumerate(rows):
        gap = _number(row, "optimal_value", index) - _number(row, "equilibrium_value", index)
        cells.append(["exact" if row[name] is None else row[name], row["student_kl"], row["teacher_kl"], gap])
    return header, cells


def slowest_student_line(rows: Rows, name: str, steps: int, reference: float | None = None) -> str:
    """The value of ``name`` after which the student is farthest from ``p_r`` (largest final ``KL(p_r || p_s)``)
    after ``steps`` steps, and, with ``reference``, the student's final KL at that value (a row of ``rows``) for
    comparison."""
    steps = check_positive_int("steps", steps)
    rows = _check_rows(rows, name, ("student_kl",))
    kls = [_number(row, "student_kl", index) for index, row in enumerate(rows)]
    slowest = max(range(len(rows)), key=kls.__getitem__)
    value = _number(rows[slowest], name, slowest)
    line = f"slowest student at {name} = {value:.3g}: KL(p_r||p_s) = {kls[slowest]:.2e} after {steps} steps"
    if reference is not None:
        values = [_number(row, name, index) for index, row in enumerate(rows)]
        matches = [i for i, v in enumerate(values) if math.isclose(v, float(reference), rel_tol=1e-9, abs_tol=1e-12)]
        if not matches:
            raise ValueError(f"reference must be one of the swept values of {name} (got {reference!r})")
        line += f"; at {name} = {values[matches[0]]:.3g} it is {kls[matches[0]]:.2e}"
    return line


def excursion_growth_line(rows: Rows, name: str) -> str:
    """By what factor the teacher's largest ``KL(p_r || p_t)`` changes from the smallest value of ``name`` to the
    largest ("grows" or "shrinks", the factor always >= 1)."""
    rows = _check_rows(rows, name, ("teacher_worst_kl",))
    if len(rows) < 2:
        raise ValueError("rows must hold at least two values of the sweep to compare")
    values = [_number(row, name, index) for index, row in enumerate(rows)]
    low, high = min(range(len(rows)), key=values.__getitem__), max(range(len(rows)), key=values.__getitem__)
    if values[low] == values[high]:
        raise ValueError(f"rows must sweep at least two distinct values of {name}")
    first, last = _number(rows[low], "teacher_worst_kl", low), _number(rows[high], "teacher_worst_kl", high)
    if first <= 0 or last <= 0:
        raise ValueError(f"teacher_worst_kl must be > 0 to compare as a factor (got {first!r} and {last!r})")
    verb, factor = ("grows", last / first) if last >= first else ("shrinks", first / last)
    return (
        f"the teacher's excursion from p_r {verb} {factor:.1f}-fold from {name} = {values[low]:g} "
        f"to {name} = {values[high]:g}"
    )
