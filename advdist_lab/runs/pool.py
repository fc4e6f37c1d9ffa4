"""The local executor's engine: spawned worker processes that an interrupt stops at once.

:func:`run_in_processes` calls a module-level function on many argument tuples in ``jobs`` spawned processes of
``threads`` torch threads each. The workers ignore SIGINT (the parent decides when to stop): an interrupt in the
parent (Ctrl-C in a terminal, Kernel > Interrupt in a notebook) cancels the queued calls and terminates the running
workers, which unwind (run folders unlocked, temporaries removed) before they exit, within about a second.
"""

from __future__ import annotations

import pickle
import queue
import signal
import threading
import traceback
from collections.abc import Callable, Sequence
from multiprocessing import get_context

from ..hparams import check_positive_int

POLL_SECONDS = 0.2
"""How often the parent looks at its workers while it waits for a result (an interrupt is seen at once)."""


class WorkerDiedError(RuntimeError):
    """A worker process died during a run (killed by the system, out of memory...)."""


class _RemoteTraceback(Exception):
    def __str__(self) -> str:
        return "\n" + self.args[0]


def portable(error: BaseException) -> tuple[BaseException, str]:
    """``error`` as it can travel back to the parent (its class when it pickles, else a RuntimeError) and its
    traceback as text."""
    text = "".join(traceback.format_exception(error))
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        error = RuntimeError(f"{type(error).__name__}: {error}")
    return error, text


def raise_remote(error: BaseException, text: str) -> None:
    """Raise ``error`` (from another process) here, with the other process's traceback ``text`` as its cause."""
    raise error from _RemoteTraceback(text)


def _leave(signum: int, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second terminate() kills at once
    raise SystemExit(128 + signum)


_STARTED = "started"


def _worker(function: Callable, tasks, results, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop (module docstring)
    signal.signal(signal.SIGTERM, _leave)  # terminate(): unwind (run folders unlocked, temporaries removed), exit
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    import torch
    from tqdm.std import tqdm

    torch.set_num_threads(threads)
    tqdm.set_lock(threading.RLock())  # not tqdm's multiprocessing lock: a semaphore a killed worker would leak
    while (item := tasks.get()) is not None:
        index, arguments = item
        results.put((index, _STARTED, None))
        try:
            results.put((index, True, function(*arguments)))
        except Exception as error:  # every failure goes back to the parent
            results.put((index, False, portable(error)))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # no more work: nothing to unwind while the process exits


def run_in_processes(
    function: Callable,
    arguments: Sequence[tuple],
    jobs: int,
    on_done: Callable[[int, object], None],
    *,
    threads: int = 1,
    on_start: Callable[[int], None] | None = None,
) -> None:
    """Call ``function(*arguments[i])`` for every ``i`` in ``jobs`` spawned worker processes (``threads`` torch
    threads each), ``on_start(i)`` in this process when a worker takes call ``i`` and ``on_done(i, value)`` as
    each one returns, in the order they finish.

    ``function`` must be importable by name (a module-level function). The first failure is raised here, with the
    worker's traceback as its cause; an exception raised by ``on_done`` or an interrupt in this process propagate
    too. Either way, the queued calls are cancelled and the running workers terminated before this returns.
    """
    check_positive_int("jobs", jobs)
    context = get_context("spawn")
    # tasks go out as workers take them (at most two waiting per worker): the parent never blocks on a full pipe
    # and needs no feeder thread, so nothing of the queues outlives this call
    tasks, results = context.SimpleQueue(), context.Queue()
    workers = [
        context.Process(target=_worker, args=(function, tasks, results, threads), daemon=True)
        for _ in range(min(jobs, len(arguments)))
    ]
    queued = iter(enumerate(arguments))
    sends = len(arguments) + len(workers)  # every call, then one ``None`` per worker: "no more work"

    def feed(count: int) -> None:
        nonlocal sends
        for _ in range(min(count, sends)):
            tasks.put(next(queued, None))
            sends -= 1

    blocked = hasattr(signal, "pthread_sigmask")
    try:
        feed(2 * len(workers))
        if blocked:  # a worker inherits the mask: Ctrl-C cannot hit it before it ignores SIGINT
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for worker in workers:
                worker.start()
        finally:
            if blocked:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        pending = len(arguments)
        while pending:
            try:
                index, ok, value = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                _check_workers(workers, results)
                continue
            if ok == _STARTED:
                if on_start is not None:
                    on_start(index)
                continue
            pending -= 1
            feed(1)
            if not ok:
                raise_remote(*value)
            on_done(index, value)
    finally:
        _stop(workers)
        tasks.close()
        results.cancel_join_thread()
        results.close()
        for worker in workers:
            worker.close()
        # an exception keeps this frame alive: free the queues' semaphores now, not at exit (a resource warning)
        workers = tasks = results = None


def _check_workers(workers, results) -> None:
    for worker in workers:
        code = worker.exitcode
        if code is not None and code != 0 and results.empty():
            cause = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            raise WorkerDiedError(f"a worker process died during a run ({cause})")
    if all(worker.exitcode == 0 for worker in workers) and results.empty():
        raise WorkerDiedError("the worker processes ended before every run was done")


def _stop(workers) -> None:
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join(timeout=5)
        if worker.is_alive():
            worker.kill()
            worker.join(timeout=5)
