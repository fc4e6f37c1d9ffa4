"""Many training runs, each cached in its own run folder, on one executor: worker processes here, or a Ray cluster.

:func:`run_configs` trains a list of :class:`~advdist_lab.methods.TrainConfig` into their folders (a
:class:`~advdist_lab.runs.folder.RunFolder` each). Tables (TPAMI Tables 1 and 4), sweeps (Figs. 3, 6, 8) and the
experiments of the notebooks are lists of configs handed to it, so an interrupted experiment continues where it
stopped and a finished one is read back instead of trained again: the run folder is the unit of idempotency, on
every executor.

Executors (:class:`Executor`): one interface, two engines.

* :class:`LocalExecutor` (``--executor local``, the default): ``jobs`` spawned worker processes of one torch thread
  each (:mod:`advdist_lab.runs.pool`); on the CPU the digits models are so small that two single-threaded runs
  side by side finish sooner than one run on two threads. ``jobs = 1`` runs in this process.
* :class:`~advdist_lab.runs.cluster.RayExecutor` (``--executor ray``): every task a Ray task with its own CPUs and
  (fractional) GPUs, on the machines of a Ray cluster; Ray is an optional extra, imported only here.

A task is one run, or the members of one batched model (:mod:`advdist_lab.runs.ensemble`). Every run is seeded by
its own config, so the results do not depend on the executor nor on ``jobs``. The commands choose the executor for
a whole command with :func:`executor_scope` (as joblib's ``parallel_config``); a call's ``executor=`` wins over it.

Stopping: an interrupt (Ctrl-C in a terminal, Kernel > Interrupt in a notebook: a ``KeyboardInterrupt`` in the main
thread) cancels the queued runs, stops the running ones and raises :class:`RunsInterrupted` within seconds, with
one line saying how many runs finished and are kept and how to finish the others. A stopped run keeps its last
checkpoint (written atomically), and the next call resumes it. A full disk, a dead worker and a stopped cluster
(``ray stop``) raise their error with the same account.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..environment import SMALL_MODEL_DATASETS
from ..files import DiskFullError
from ..hparams import check_positive_int
from ..methods.config import TrainConfig
from .ensemble.folders import train_batch
from .ensemble.plan import batch_tasks
from .folder import RESULT, check_out, holds_run
from .interface import Executor
from .pool import POLL_SECONDS, WorkerDiedError, run_in_processes
from .progress import RunsProgress
from .training import read_back, train

__all__ = [
    "EXECUTORS",
    "POLL_SECONDS",
    "Executor",
    "LocalExecutor",
    "RunsInterrupted",
    "RunsNotTrainedError",
    "WorkerDiedError",
    "current_executor",
    "default_jobs",
    "execute",
    "executor_scope",
    "kept_runs",
    "make_executor",
    "require_finished",
    "run_configs",
    "run_in_processes",
    "train_cached",
    "train_task",
]

EXECUTORS = ("local", "ray")
"""The values of ``--executor``."""


class RunsInterrupted(KeyboardInterrupt):
    """An interrupt stopped many runs; the message says what was kept and how to finish the others."""


class RunsNotTrainedError(ValueError):
    """``train=False`` asked for runs that are not all finished; ``.finished`` and ``.total`` count them."""

    def __init__(self, message: str, finished: int, total: int) -> None:
        super().__init__(message)
        self.finished, self.total = finished, total


@dataclass(frozen=True)
class LocalExecutor(Executor):
    """``jobs`` spawned worker processes of ``threads`` torch threads each (:func:`run_in_processes`); with
    ``jobs = 1`` (or a single call) the calls run one after the other in this process, on its threads."""

    jobs: int = 1
    threads: int = 1
    name = "local"

    def __post_init__(self) -> None:
        check_positive_int("jobs", self.jobs)
        check_positive_int("threads", self.threads)

    def run(self, function, arguments, on_done, on_start) -> None:
        if self.jobs == 1 or len(arguments) <= 1:
            for i, args in enumerate(arguments):
                on_start(i)
                on_done(i, function(*args))
        else:
            run_in_processes(function, arguments, self.jobs, on_done, threads=self.threads, on_start=on_start)


_CURRENT: contextvars.ContextVar[Executor | None] = contextvars.ContextVar("advdist_lab_executor", default=None)


@contextlib.contextmanager
def executor_scope(executor: Executor | None) -> Iterator[Executor | None]:
    """Within the ``with`` block, the multi-run functions that are given no ``executor=`` use ``executor``
    (``None``: the local default, their ``jobs``). A command wraps its whole work in it; so can a notebook cell::

        with executor_scope(RayExecutor(address="auto")):
            run_table1("digits", 3, "runs/table1-digits")
    """
    if executor is not None and not isinstance(executor, Executor):
        raise ValueError(f"executor must be an Executor or None (got {type(executor).__name__})")
    token = _CURRENT.set(executor)
    try:
        yield executor
    finally:
        _CURRENT.reset(token)


def current_executor() -> Executor | None:
    """The executor of the innermost :func:`executor_scope`, or ``None`` outside any."""
    return _CURRENT.get()


def make_executor(
    name: str = "local",
    *,
    jobs: int | None = None,
    address: str | None = None,
    cpus_per_run: float | None = None,
    gpus_per_run: float | None = None,
) -> Executor | None:
    """The executor that ``--executor NAME`` and its options ask for, checked before any work: ``None`` for
    ``local`` (the multi-run functions then use their ``jobs``), a :class:`~advdist_lab.runs.cluster.RayExecutor`
    for ``ray``. ``--jobs`` belongs to ``local``; ``--address``, ``--cpus-per-run`` and ``--gpus-per-run`` to
    ``ray``."""
    if name not in EXECUTORS:
        raise ValueError(f"--executor must be one of {', '.join(EXECUTORS)} (got {name!r})")
    if name == "local":
        given = [
            option
            for option, value in (
                ("--address", address),
                ("--cpus-per-run", cpus_per_run),
                ("--gpus-per-run", gpus_per_run),
            )
            if value is not None
        ]
        if given:
            raise ValueError(f"{', '.join(given)} apply to --executor ray (the local executor takes --jobs)")
        return None
    if jobs is not None:
        raise ValueError(
            "--jobs applies to --executor local; on Ray the cluster's CPUs and --cpus-per-run decide how many runs "
            "train at once"
        )
    from .cluster import RayExecutor

    return RayExecutor(
        address=address,
        cpus_per_run=1.0 if cpus_per_run is None else cpus_per_run,
        gpus_per_run=0.0 if gpus_per_run is None else gpus_per_run,
    )


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


def execute(
    function: Callable,
    arguments: Sequence[tuple],
    on_done: Callable[[int, object], None],
    *,
    executor: Executor,
    folders: Sequence[Path],
    weights: Sequence[int] | None = None,
    description: str = "runs",
    progress: bool = True,
) -> None:
    """Run the tasks ``function(*arguments[i])`` on ``executor`` under one :class:`RunsProgress` bar
    (``weights[i]`` runs in task ``i``, default 1), ``on_done(i, value)`` as each finishes. ``folders`` are the
    run folders of all the tasks: their common folder is what :meth:`Executor.prepare` checks, and what a stop
    reports as kept (:func:`kept_runs`). Every stop raises with that account: an interrupt as
    :class:`RunsInterrupted`, a full disk as :class:`~advdist_lab.files.DiskFullError`, a dead worker or a stopped
    cluster as :class:`WorkerDiedError`.
    """
    if not isinstance(executor, Executor):
        raise ValueError(f"executor must be an Executor (got {type(executor).__name__})")
    weights = [1] * len(arguments) if weights is None else list(weights)
    if len(weights) != len(arguments):
        raise ValueError(f"weights and arguments must have the same length (got {len(weights)}, {len(arguments)})")
    folders = [Path(f) for f in folders]
    executor.prepare(common_folder(folders))
    bar = RunsProgress(weights, description, progress)

    def done(i: int, value: object) -> None:
        bar.finished(i)
        on_done(i, value)

    try:
        executor.run(function, arguments, done, bar.started)
    except KeyboardInterrupt:
        raise RunsInterrupted(f"interrupted: {kept_runs(folders)}") from None
    except DiskFullError as error:
        raise DiskFullError(error.errno, f"{error.strerror}; {kept_runs(folders)}") from None
    except WorkerDiedError as error:
        raise type(error)(f"{error}; {kept_runs(folders)}") from None
    finally:
        bar.close()


def common_folder(folders: Sequence[Path]) -> Path | None:
    """The deepest folder holding all of ``folders`` (absolute), ``None`` for none."""
    return Path(os.path.commonpath([os.path.abspath(f) for f in folders])) if folders else None


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
    executor: Executor | None = None,
    train: bool = True,
) -> list[dict]:
    """Train (or reuse) ``configs[i]`` in ``folders[i]``; the results in the order of ``configs``.

    ``train=False`` trains nothing: the finished runs are read back (:func:`~advdist_lab.runs.training.read_back`,
    which writes nothing, so the folders may be read-only), and when any is missing
    :class:`RunsNotTrainedError` says how many are finished, before anything is read (a notebook that is safe to
    Run All reads a long experiment back instead of starting it).

    Every config and every folder (:func:`~advdist_lab.runs.folder.check_out`) is checked before any training
    starts. ``teachers`` is a folder of pretrained teachers shared by the runs
    (:func:`~advdist_lab.runs.training.train`'s ``teacher_cache``). ``executor``: where the runs train (default:
    the one of the enclosing :func:`executor_scope`, else a :class:`LocalExecutor` of ``jobs`` worker processes,
    ``jobs`` defaulting to :func:`default_jobs` for the first config's dataset and device). ``on_result(i,
    result)`` is called as each run finishes, in the order they finish. A stop raises with an account of what was
    kept (:func:`execute`).

    ``members``: runs that can share a batch (:func:`~advdist_lab.runs.ensemble.plan.batch_key`: equal configs but
    for seeds and a grid's weights, on a dataset the batch supports) train as members of one batched model, at most
    ``members`` per batch, each batch one task of the executor; ``1`` (the default here: runs finish, and are
    reported to ``on_result``, one at a time): one run per task. The commands pass
    :func:`~advdist_lab.runs.ensemble.plan.default_members` (batches on digits and synthetic data). A member's folder
    and result are a solo run's; its numbers equal its solo run's to float rounding (``tests/test_ensemble.py``).
    ``on_result`` and the progress bar count runs: a batch's members arrive together.
    """
    configs = list(configs)
    folders = [Path(os.path.abspath(f)) for f in folders]  # absolute: a worker's working folder may differ
    if len(configs) != len(folders):
        raise ValueError(f"configs and folders must have the same length (got {len(configs)} and {len(folders)})")
    if len(set(folders)) != len(folders):
        raise ValueError("every config needs its own folder (two configs share one)")
    for config in configs:
        if not isinstance(config, TrainConfig):
            raise ValueError(f"configs must be TrainConfig objects (got {type(config).__name__})")
        config.resolved()
    for folder in folders if train else ():  # reading back needs no writable place
        check_out(folder)
    if jobs is not None:
        check_positive_int("jobs", jobs)
    check_positive_int("members", members)
    if not train:
        return _read_back(configs, folders)
    executor = executor or current_executor()
    if executor is None:
        executor = LocalExecutor(jobs or (default_jobs(configs[0].dataset, configs[0].device) if configs else 1))
    tasks = batch_tasks(configs, members)
    results: list[dict | None] = [None] * len(configs)

    def done(task: int, values: list[dict]) -> None:
        for i, result in zip(tasks[task], values, strict=True):
            results[i] = result
            if on_result is not None:
                on_result(i, result)

    teachers = None if teachers is None else os.path.abspath(teachers)
    arguments = [([configs[i] for i in task], [folders[i] for i in task], teachers) for task in tasks]
    execute(
        train_task,
        arguments,
        done,
        executor=executor,
        folders=folders,
        weights=[len(task) for task in tasks],
        description=description,
        progress=progress,
    )
    return results  # type: ignore[return-value]


def require_finished(folders: Sequence[str | os.PathLike]) -> None:
    """:class:`RunsNotTrainedError`, counting them, unless every one of ``folders`` holds a finished run (its
    ``result.json``): the check of every ``train=False``."""
    folders = [Path(f) for f in folders]
    finished = sum((folder / RESULT).exists() for folder in folders)
    if finished < len(folders):
        where = common_folder(folders) or "their folders"
        raise RunsNotTrainedError(
            f"{finished} of {len(folders)} runs are finished in {where}, and train=False trains none",
            finished,
            len(folders),
        )


def _read_back(configs: Sequence[TrainConfig], folders: Sequence[Path]) -> list[dict]:
    """The finished runs of ``configs`` in ``folders``, or :class:`RunsNotTrainedError` when any is missing."""
    require_finished(folders)
    return [read_back(config, folder) for config, folder in zip(configs, folders)]


def kept_runs(folders: Sequence[Path]) -> str:
    """What a stopped batch of runs keeps, in words: how many finished (their ``result.json`` exists), where, and
    how to finish the others (``"3 of 8 runs finished and are kept in OUT; run the same command again to finish
    the other 5"``)."""
    done = sum((Path(folder) / RESULT).exists() for folder in folders)
    total = len(folders)
    where = common_folder(folders) or "their folders"
    if done == total:
        return f"all {total} runs finished and are kept in {where}; the same command again reads them back"
    return (
        f"{done} of {total} runs finished and are kept in {where}; run the same command (or cell) again to finish "
        f"the other {total - done} (a stopped run resumes from its last checkpoint)"
    )
