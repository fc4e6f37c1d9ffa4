"""The "things to try" of the game explorer (notebook 06), measured: each suggestion is solved beside its reference
at the explorer's own settings, so the notebook says what a learner will see instead of what should happen.

A :class:`Suggestion` changes some settings of :func:`~advdist_lab.theory.solver.solve_game` (``changes``) and
compares the student with the same game without the change (``reference``), after the same number of steps. It
"shows" when the student ends outside the tolerance around ``p_r`` (KL above 1e-4) and at least
:data:`SHOWS_FACTOR` times farther than the reference's student: a slower, overshooting or biased game is then
visible in the explorer's plot, not a difference between two games that both reached ``p_r``.

:data:`SUGGESTIONS` are notebook 06's three. The first and the third hold only in the adversarial game alone
(``nu = mu = 0``): with the explorer's default ``nu = 1`` the distillation term pulls the student to the teacher,
which reaches ``p_r`` anyway, and neither ``omega_s`` nor ``tau`` changes much (measured: the student within 1e-4
of ``p_r`` after 96 steps with ``omega_s = 0.05`` against 102 with 1/3, KL 5.9e-10 with ``tau = 10`` against 5.9e-10
with exact gradients).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..hparams import check_positive
from .solver import solve_game

__all__ = ["SHOWS_FACTOR", "SUGGESTIONS", "Suggestion", "measure_suggestions", "suggestion_lines"]

SHOWS_FACTOR = 10.0
"""How many times farther from ``p_r`` (final KL) the changed game's student must end for a suggestion to show."""
_ADVERSARIAL_ONLY = {"nu": 0.0, "mu": 0.0}


@dataclass(frozen=True)
class Suggestion:
    """A thing to try: ``text`` as the notebook says it, the settings it changes and those of its reference."""

    name: str
    text: str
    changes: Mapping[str, object] = field(default_factory=dict)
    reference: Mapping[str, object] = field(default_factory=dict)


SUGGESTIONS = (
    Suggestion(
        "omega_s",
        "with nu = mu = 0, move omega_s towards 0 (0.05): the student slows down, its adversarial gradient is weighted "
        "by omega_s",
        {**_ADVERSARIAL_ONLY, "omega": (0.475, 0.05, 0.475)},
        {**_ADVERSARIAL_ONLY, "omega": (1 / 3, 1 / 3, 1 / 3)},
    ),
    Suggestion(
        "nu",
        "set nu = 10 with lr = 0.3: the game overshoots, the effective step of the distillation term is nu * lr",
        {"nu": 10.0, "lr": 0.3},
        {"nu": 1.0, "lr": 0.3},
    ),
    Suggestion(
        "tau",
        "with nu = mu = 0, switch to Gumbel-Softmax and raise tau to 10: the relaxed samples are nearly uniform, their "
        "gradient is biased and small, and the players stop short of p_r",
        {**_ADVERSARIAL_ONLY, "tau": 10.0},
        {**_ADVERSARIAL_ONLY, "tau": None},
    ),
)
"""Notebook 06's three things to try."""


def measure_suggestions(
    p_r: object,
    settings: Mapping[str, object],
    suggestions: Sequence[Suggestion] = SUGGESTIONS,
    tolerance: float = 1e-4,
) -> list[dict]:
    """For each suggestion, the student's final KL to ``p_r``, the steps after which it stays within ``tolerance``
    (``None``: not within the steps) and how often its KL rose along the record, in the changed game and in its
    reference, both from ``settings`` (the explorer's, :meth:`advdist_lab.widgets.GameExplorer.settings`); and
    ``shows``: the changed student ends outside ``tolerance`` and :data:`SHOWS_FACTOR` times farther from ``p_r``
    or more."""
    check_positive("tolerance", tolerance)
    if not isinstance(settings, Mapping):
        raise ValueError(f"settings must be a mapping of solve_game's keywords (got {type(settings).__name__})")
    rows = []
    for suggestion in suggestions:
        measured = {}
        for side, changes in (("changed", suggestion.changes), ("reference", suggestion.reference)):
            trajectory = solve_game(p_r, **{**settings, **changes})
            kl = trajectory.kl_to_real("student")
            measured[side] = {
                "final_kl": float(kl[-1]),
                "steps": trajectory.steps_to_reach(tolerance, "student"),
                "rises": int(((kl[1:] - kl[:-1]) > 0).sum()),
            }
        changed, reference = measured["changed"], measured["reference"]
        farther = changed["final_kl"] >= SHOWS_FACTOR * max(reference["final_kl"], 1e-300)
        shows = farther and changed["final_kl"] >= tolerance
        rows.append({"name": suggestion.name, "text": suggestion.text, **measured, "shows": shows})
    return rows


def _steps(value: int | None, total: int) -> str:
    return f"within 1e-4 of p_r after {value} steps" if value is not None else f"not within 1e-4 in {total} steps"


def suggestion_lines(rows: Sequence[Mapping], steps: int) -> list[str]:
    """One sentence per measured suggestion (:func:`measure_suggestions`), its numbers and whether it shows."""
    lines = []
    for row in rows:
        changed, reference = row["changed"], row["reference"]
        verdict = "it shows" if row["shows"] else "it does NOT show (not outside 1e-4 and 10x farther)"
        lines.append(
            f"{row['text']}. Measured after {steps} steps: the student ends at KL {changed['final_kl']:.3g} "
            f"({_steps(changed['steps'], steps)}, its KL rose {changed['rises']} times) against "
            f"{reference['final_kl']:.3g} without the change ({_steps(reference['steps'], steps)}): {verdict}."
        )
    return lines
