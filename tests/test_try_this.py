"""The game explorer's things to try (notebook 06), measured from the explorer's own starting settings: each of
the three shows (the changed student ends at least 10x farther from p_r), a change that changes nothing does not,
and the sentences carry the numbers."""

from __future__ import annotations

import re

import pytest

from advdist_lab.theory.try_this import SUGGESTIONS, Suggestion, measure_suggestions, suggestion_lines
from advdist_lab.widgets import GameExplorer

P_R = (0.6, 0.3, 0.1)


@pytest.fixture(scope="module")
def explorer_settings() -> dict:
    return GameExplorer(p_r=P_R).settings()


def test_every_suggestion_of_the_notebook_shows_in_the_explorer(explorer_settings) -> None:
    rows = measure_suggestions(P_R, explorer_settings)
    assert [row["name"] for row in rows] == ["omega_s", "nu", "tau"]
    for row in rows:
        assert row["shows"], row
        assert row["changed"]["final_kl"] >= 10 * row["reference"]["final_kl"]
        assert row["changed"]["steps"] is None  # not within 1e-4 of p_r in the explorer's steps
    nu = rows[1]
    assert nu["changed"]["rises"] > nu["reference"]["rises"]  # the overshoot: its KL goes up again and again


def test_the_default_distillation_hides_two_of_them(explorer_settings) -> None:
    """With nu = 1 (the explorer's default) moving omega_s or tau changes little: why the text says nu = mu = 0."""
    hidden = [
        Suggestion("omega_s", "omega_s at 0.05 with nu = 1", {"omega": (0.475, 0.05, 0.475)}, {}),
        Suggestion("tau", "tau = 10 with nu = 1", {"tau": 10.0}, {"tau": None}),
    ]
    rows = measure_suggestions(P_R, explorer_settings, hidden)
    assert not any(row["shows"] for row in rows)
    assert "it does NOT show" in suggestion_lines(rows, explorer_settings["steps"])[0]


def test_the_sentences_carry_the_measured_numbers(explorer_settings) -> None:
    rows = measure_suggestions(P_R, explorer_settings, SUGGESTIONS[2:])
    (line,) = suggestion_lines(rows, explorer_settings["steps"])
    assert line.startswith("with nu = mu = 0, switch to Gumbel-Softmax and raise tau to 10")
    assert f"KL {rows[0]['changed']['final_kl']:.3g}" in line and line.endswith(": it shows.")
    assert re.search(r"not within 1e-4 in \d+ steps", line)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="settings must be a mapping"):
        measure_suggestions(P_R, [("nu", 1.0)])
    with pytest.raises(ValueError, match="tolerance"):
        measure_suggestions(P_R, {}, tolerance=0)
