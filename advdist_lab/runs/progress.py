"""One progress bar over many runs: finished of total, how many run now and how many wait, and an ETA.

The bar is tqdm's (``tqdm.auto``: a text bar in a terminal, a widget in a notebook); its ETA is tqdm's, from the
rate at which runs have finished so far. It counts runs, not tasks: a batched model's members (a task of
:func:`~advdist_lab.runs.executors.run_configs`) start and finish together and count one each.
"""

from __future__ import annotations

from collections.abc import Sequence


class RunsProgress:
    """The bar of many tasks of ``weights[i]`` runs each: ``started(i)`` when task ``i`` begins, ``finished(i)``
    when it ends; the postfix reads ``"2 running, 14 queued"``."""

    def __init__(self, weights: Sequence[int], description: str, enabled: bool = True):
        from tqdm.auto import tqdm

        self.weights = [int(w) for w in weights]
        if any(w < 1 for w in self.weights):
            raise ValueError(f"every task holds at least one run (got weights {self.weights})")
        self.total = sum(self.weights)
        self.running: set[int] = set()
        self.done = 0
        self.bar = tqdm(total=self.total, desc=description, disable=not enabled, dynamic_ncols=True)
        self._show()

    @property
    def counts(self) -> tuple[int, int, int]:
        """``(finished, running, queued)`` runs."""
        running = sum(self.weights[i] for i in self.running)
        return self.done, running, self.total - self.done - running

    def _show(self) -> None:
        _, running, queued = self.counts
        self.bar.set_postfix_str(f"{running} running, {queued} queued", refresh=True)

    def started(self, task: int) -> None:
        """Task ``task`` began (a second call for the same task, a retry, counts once)."""
        if task not in self.running:
            self.running.add(task)
            self._show()

    def finished(self, task: int) -> None:
        """Task ``task`` ended with its result: its runs count as finished."""
        self.running.discard(task)
        self.done += self.weights[task]
        self.bar.update(self.weights[task])
        self._show()

    def close(self) -> None:
        self.bar.close()
