"""Exercises (issue "The course as a website...", item 2): every notebook from 01 to 09 ends with 3-5 exercises, each
a Markdown cell ``**Exercise k.** ...`` that asks the learner to predict an outcome, followed by its solution, a
code cell tagged ``solution`` and ``hide-cell`` (the site shows it folded) that measures the outcome and prints it.

The solutions run in the smoke copies (``make test`` executes every notebook, so a solution that no longer runs
fails the smoke run and ``tests/test_notebooks.py``); here each solution cell must have run and printed something.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import pytest
from smoke_copies import SmokeCopies

ROOT = Path(__file__).resolve().parent.parent
SMOKE_DIR = ROOT / "build" / "smoke"
WITH_EXERCISES = sorted(p for p in (ROOT / "notebooks").glob("0[1-9]_*.py"))
EXERCISE = re.compile(r"^\*\*Exercise (\d+)\.\*\*")
SOLUTION_TAGS = {"solution", "hide-cell"}


def exercises(cells) -> list[tuple[int, object, object]]:
    """``(k, exercise cell, solution cell)`` of a notebook's cells, in order."""
    found = []
    for i, cell in enumerate(cells):
        text = "".join(cell.source) if isinstance(cell.source, list) else cell.source
        match = EXERCISE.match(text.strip()) if cell.cell_type == "markdown" else None
        if match:
            solution = cells[i + 1] if i + 1 < len(cells) else None
            found.append((int(match.group(1)), cell, solution))
    return found


def test_notebooks_01_to_09_have_exercises() -> None:
    assert [p.stem[:2] for p in WITH_EXERCISES] == [f"0{k}" for k in range(1, 10)]


@pytest.mark.parametrize("source", WITH_EXERCISES, ids=lambda p: p.stem)
def test_each_notebook_ends_with_three_to_five_exercises_and_their_folded_solutions(source: Path) -> None:
    cells = jupytext.read(source).cells
    found = exercises(cells)
    assert 3 <= len(found) <= 5, f"{source.stem} has {len(found)} exercises"
    assert [k for k, _, _ in found] == list(range(1, len(found) + 1))
    heading = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
    first = cells.index(found[0][1])
    assert heading < first, "the exercises come under an '## Exercises' heading"
    for k, exercise, solution in found:
        assert "predict" in exercise.source.lower(), f"{source.stem} exercise {k} asks for no prediction"
        assert solution is not None and solution.cell_type == "code", f"{source.stem} exercise {k} has no solution"
        assert SOLUTION_TAGS <= set(solution.metadata.get("tags", [])), f"{source.stem} solution {k} is not folded"
        assert solution.source.startswith(f"# Solution to exercise {k}")
        assert "print(" in solution.source or "display(" in solution.source
    after = cells[cells.index(found[-1][2]) + 1 :]
    assert all(c.cell_type == "markdown" or "cleanup" in c.source for c in after), "exercises end the notebook"


@pytest.fixture(scope="module")
def smoke_dir() -> SmokeCopies:
    return SmokeCopies(SMOKE_DIR)


@pytest.mark.parametrize("source", WITH_EXERCISES, ids=lambda p: p.stem)
def test_every_solution_ran_in_the_smoke_copy_and_printed_its_measurement(source: Path, smoke_dir) -> None:
    notebook = json.loads((smoke_dir / f"{source.stem}.ipynb").read_text())
    solutions = [c for c in notebook["cells"] if SOLUTION_TAGS <= set(c["metadata"].get("tags", []))]
    assert len(solutions) >= 3
    for cell in solutions:
        outputs = cell.get("outputs", [])
        assert not [o for o in outputs if o.get("output_type") == "error"]
        printed = "".join("".join(o.get("text", "")) for o in outputs) + "".join(
            "".join(o.get("data", {}).get("text/markdown", "")) for o in outputs
        )
        assert printed.strip(), f"{source.stem}: {''.join(cell['source']).splitlines()[0]} printed nothing"
