"""Many training runs, each cached in its own run folder: rerunning reuses finished runs, resumes unfinished ones.

:func:`run_configs` trains a list of :class:`~advdist_lab.methods.TrainConfig` into their folders (a
:class:`~advdist_lab.runs.folder.RunFolder` each), in this process or spread over worker processes
(:func:`run_in_processes`). Tables (TPAMI Tables 1 and 4) and the experiments of the notebooks are lists of configs
handed to it, so an interrupted experiment continues where it stopped and a finished one is read back instead of
trained again.

With ``jobs > 1`` every worker runs one torch thread: on the CPU the digits models are so small that two
single-threaded runs side by side finish sooner than one run on two threads. Every run is seeded by its own config,
so the results do not depend on ``jobs``.

Stopping: an interrupt (Ctrl-C in a terminal, Kernel > Interrupt in a notebook: a ``KeyboardInterrupt`` in the main
thread) cancels the queued runs, terminates the running workers (they ignore SIGINT themselves: the parent decides)
and raises :class:`RunsInterrupted` within about a second, with one line saying how many runs finished and are kept
and how to finish the others. A stopped run keeps its last checkpoint (written atomically), and the next call
resumes it.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import threading
import traceback
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from pathlib import Path

from ..environment import SMALL_MODEL_DATASETS
from ..files import DiskFullError
from ..hparams import check_positive_int
from ..methods.config import TrainConfig
from .ensemble.folders import train_batch
from .ensemble.plan import batch_tasks
from .folder import RESULT, check_out, holds_run
from .training import train

POLL_SECONDS = 0.2
"""How often the parent looks at its workers while it waits for a result (an interrupt is seen at once)."""


class RunsInterrupted(KeyboardInterrupt):
    """An interrupt stopped many runs; the message says what was kept and how to finish the others."""


class WorkerDiedError(RuntimeError):
    """A worker process died during a run (killed by the system, out of memory...)."""


def default_jobs(dataset: str, device: str = "auto") -> int:
    """Worker processes for many runs: one per CPU core for the datasets whose models train on one thread
    (:data:`advdist_lab.environment.SMALL_MODEL_DATASETS`: digits, synthetic, tags) on the CPU, otherwise 1."""
    import torch

    on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    if dataset not in SMALL_MODEL_DATASETS or not on_cpu:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores)


def train_cached(config: TrainConfig, folder: str | os.PathLike, teachers: str | os.PathLike | None = None) -> dict:
    """The result of ``config`` in ``folder``: read back if finished, resumed if interrupted, else trained."""
    return train(config, folder, resume=holds_run(folder), progress=False, teacher_cache=teachers)


def train_task(
    configs: Sequence[TrainConfig], folders: Sequence[str | os.PathLike], teachers: str | os.PathLike | None = None
) -> list[dict]:
    """The results of one task of :func:`run_configs`: one run (:func:`train_cached`) or the members of one batch
    (:func:`~advdist_lab.runs.ensemble.folders.train_batch`: finished members read back, unfinished ones resumed)."""
    if len(configs) == 1:
        return [train_cached(configs[0], folders[0], teachers)]
    return train_batch(configs, folders, resume=True, teacher_cache=teachers, progress=False)


# --------------------------------------------------------------------------------------------------------
# The local executor: a pool of spawned worker processes that an interrupt stops at once
# --------------------------------------------------------------------------------------------------------


class _RemoteTraceback(Exception):
    def __str__(self) -> str:
        return "\n" + self.args[0]


def _portable(error: BaseException) -> tuple[BaseException, str]:
    """``error`` as it can travel back to the parent (its class when it pickles, else a RuntimeError)."""
    text = "".join(traceback.format_exception(error))
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        error = RuntimeError(f"{type(error).__name__}: {error}")
    return error, text


def _leave(signum: int, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second terminate() kills at once
    raise SystemExit(128 + signum)


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
        try:
            results.put((index, True, function(*arguments)))
        except Exception as error:  # every failure goes back to the parent
            results.put((index, False, _portable(error)))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # no more work: nothing to unwind while the process exits


def run_in_processes(
    function: Callable,
    arguments: Sequence[tuple],
    jobs: int,
    on_done: Callable[[int, object], None],
    *,
    threads: int = 1,
) -> None:
    """Call ``function(*arguments[i])`` for every ``i`` in ``jobs`` spawned worker processes (``threads`` torch
    threads each) and ``on_done(i, value)`` in this process as each one returns, in the order they finish.

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
            pending -= 1
            feed(1)
            if not ok:
                error, text = value
                raise error from _RemoteTraceback(text)
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


# --------------------------------------------------------------------------------------------------------
# Many training runs
# --------------------------------------------------------------------------------------------------------


def run_configs(
    configs: Sequence[TrainConfig],
    folders: Sequence[str | os.PathLike],
    *,
    teachers: str | os.PathLike | None = None,
    jobs: int | None = None,
    progress: bool = True,
    description: str = "runs",
    on_result: Callable[[int, dict], None] | None = None,
    members: int = 1,
) -> list[dict]:
    """Train (or reuse) ``configs[i]`` in ``folders[i]``; the results in the order of ``configs``.

    Every config and every folder (:func:`~advdist_lab.runs.folder.check_out`) is checked before any training
    starts. ``teachers`` is a folder of pretrained teachers shared by the runs
    (:func:`~advdist_lab.runs.training.train`'s ``teacher_cache``). ``jobs`` worker processes (default:
    :func:`default_jobs` for the first config's dataset and device). ``on_result(i, result)`` is called as each
    run finishes, in the order they finish. An interrupt raises :class:`RunsInterrupted` (module docstring); a
    full disk or a dead worker raise their error with the same account of what was kept.

    ``members``: runs that can share a batch (:func:`~advdist_lab.runs.ensemble.plan.batch_key`: equal configs but
    for seeds and a grid's weights, on a dataset the batch supports) train as members of one batched model, at most
    ``members`` per batch, each batch one task of the pool; ``1`` (the default here: runs finish, and are reported
    to ``on_result``, one at a time): one run per task. The commands pass
    :func:`~advdist_lab.runs.ensemble.plan.default_members` (batches on digits and synthetic data). A member's folder
    and result are a solo run's; its numbers equal its solo run's to float rounding (``tests/test_ensemble.py``).
    ``on_result`` and the progress bar count runs: a batch's members arrive together.
    """
    configs = list(configs)
    folders = [Path(f) for f in folders]
    if len(configs) != len(folders):
        raise ValueError(f"configs and folders must have the same length (got {len(configs)} and {len(folders)})")
    if len(set(folders)) != len(folders):
        raise ValueError("every config needs its own folder (two configs share one)")
    for config in configs:
        if not isinstance(config, TrainConfig):
            raise ValueError(f"configs must be TrainConfig objects (got {type(config).__name__})")
        config.resolved()
    for folder in folders:
        check_out(folder)
    if jobs is None:
        jobs = default_jobs(configs[0].dataset, configs[0].device) if configs else 1
    check_positive_int("jobs", jobs)
    check_positive_int("members", members)
    tasks = batch_tasks(configs, members)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(configs), desc=description, disable=not progress, dynamic_ncols=True)
    results: list[dict | None] = [None] * len(configs)

    def finished(i: int, result: dict) -> None:
        results[i] = result
        bar.update(1)
        if on_result is not None:
            on_result(i, result)

    def done(task: int, values: list[dict]) -> None:
        for i, result in zip(tasks[task], values, strict=True):
            finished(i, result)

    arguments = [([configs[i] for i in task], [folders[i] for i in task], teachers) for task in tasks]
    try:
        if jobs == 1 or len(tasks) <= 1:
            for task, args in enumerate(arguments):
                done(task, train_task(*args))
        else:
            run_in_processes(train_task, arguments, jobs, done)
    except KeyboardInterrupt:
        raise RunsInterrupted(f"interrupted: {kept_runs(folders)}") from None
    except DiskFullError as error:
        raise DiskFullError(error.errno, f"{error.strerror}; {kept_runs(folders)}") from None
    except WorkerDiedError as error:
        raise WorkerDiedError(f"{error}; {kept_runs(folders)}") from None
    finally:
        bar.close()
    return results  # type: ignore[return-value]


def kept_runs(folders: Sequence[Path]) -> str:
    """What a stopped batch of runs keeps, in words: how many finished (their ``result.json`` exists), where, and
    how to finish the others (``"3 of 8 runs finished and are kept in OUT; run the same command again to finish
    the other 5"``)."""
    done = sum((folder / RESULT).exists() for folder in folders)
    total = len(folders)
    where = os.path.commonpath([os.path.abspath(f) for f in folders]) if folders else "their folders"
    if done == total:
        return f"all {total} runs finished and are kept in {where}; the same command again reads them back"
    return (
        f"{done} of {total} runs finished and are kept in {where}; run the same command (or cell) again to finish "
        f"the other {total - done} (a stopped run resumes from its last checkpoint)"
    )
