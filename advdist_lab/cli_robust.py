"""The robust-distillation commands of ``advdist-lab`` (DFARD ``001_...``, DERD ``002_...``)::

    advdist-lab robust-teacher --dataset digits --method pgd-at --out runs/robust-teacher   # adversarial training
    advdist-lab robust-eval --model runs/robust-teacher/teacher.pt --out runs/eval           # DFARD Table 1 row
    advdist-lab dfard --method dfard --teacher runs/robust-teacher/teacher.pt --out runs/dfard

Parsers are added to the main parser by :func:`add_robust_parsers`; :func:`run_robust` runs one of these commands
(``None`` for any other). Errors follow :mod:`advdist_lab.cli`: a bad value is a ``ValueError`` (exit status 2).
"""

from __future__ import annotations

import argparse

ROBUST_COMMANDS: dict[str, object] = {}


def add_robust_parsers(commands: argparse._SubParsersAction) -> None:
    """Add the robust commands' subparsers to ``commands``."""


def run_robust(args: argparse.Namespace) -> int | None:
    """Run ``args.command`` when it is a robust command and return its exit status; ``None`` otherwise."""
    runner = ROBUST_COMMANDS.get(args.command)
    if runner is None:
        return None
    return runner(args)  # type: ignore[operator]
