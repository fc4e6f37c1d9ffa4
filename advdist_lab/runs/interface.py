"""The interface of every executor of many runs (:mod:`advdist_lab.runs.executors` has the local one and the
entry points, :mod:`advdist_lab.runs.cluster` the Ray one)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path


class Executor:
    """Calls one module-level function on many argument tuples, reporting each call's start and result.

    ``prepare(out)`` runs once before any work (connect, check resources, check that the workers reach ``out``);
    ``run(function, arguments, on_done, on_start)`` calls ``function(*arguments[i])`` for every ``i`` and
    ``on_start(i)`` / ``on_done(i, value)`` in this process, in the order things happen. A failure of a call is
    raised as the call's own exception; an interrupt cancels what is queued and stops what runs before it
    propagates.
    """

    name = "executor"

    def prepare(self, out: Path | None) -> None:
        """Check, before any work, that the runs can go to ``out`` (their common folder)."""

    def run(
        self,
        function: Callable,
        arguments: Sequence[tuple],
        on_done: Callable[[int, object], None],
        on_start: Callable[[int], None],
    ) -> None:
        raise NotImplementedError
