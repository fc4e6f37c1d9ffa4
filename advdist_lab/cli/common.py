"""What every ``advdist-lab`` command shares: the parser class, the worker options, lists and the run folder.

An error is one line on stderr, ``advdist-lab: error: ...`` (:func:`advdist_lab.cli.commands.main` prints it);
:class:`Parser` turns argparse's own errors (an unknown option, a value of the wrong type) into such a line too,
as :class:`UsageError`, a ``ValueError`` (exit status 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

THREADS_HELP = (
    "CPU threads for torch (default: 1 for digits and synthetic on the CPU, where the models are so small that a "
    "second thread costs more than it brings; torch's default otherwise)"
)
JOBS_HELP = "worker processes (default: one per CPU core for digits and synthetic on the CPU, else 1)"


class UsageError(ValueError):
    """A command line that argparse refuses (unknown option, a value of the wrong type, a missing argument)."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError` (one line) instead of printing the usage."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def add_threads(parser: argparse.ArgumentParser) -> None:
    """``--threads``: torch's CPU threads (:func:`set_threads` applies it)."""
    parser.add_argument("--threads", type=int, default=None, help=THREADS_HELP)


def set_threads(args: argparse.Namespace, dataset: str) -> None:
    """Check ``--threads`` (>= 1) and configure torch's threads for ``dataset`` on ``args.device``."""
    from ..environment import configure_threads

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1 (got {args.threads})")
    configure_threads(dataset, getattr(args, "device", "auto"), args.threads)


def add_workers(parser: argparse.ArgumentParser, jobs_help: str = JOBS_HELP) -> None:
    """``--no-progress``, ``--jobs``, ``--threads`` and the executor's options (:func:`add_executor_options`):
    the options of the commands that train many runs."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--jobs", type=int, default=None, help=jobs_help)
    add_threads(parser)
    add_executor_options(parser)


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """``--executor local|ray``, ``--address``, ``--cpus-per-run`` and ``--gpus-per-run``: where the runs of a
    multi-run command train (:func:`advdist_lab.runs.executors.make_executor`)."""
    group = parser.add_argument_group("executor", "where the runs train (README, 'Many runs on a Ray cluster')")
    group.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: worker processes on this machine (default; --jobs); ray: Ray tasks on a Ray cluster "
        "(pip install 'advdist-lab[cluster]')",
    )
    group.add_argument(
        "--address",
        default=None,
        help="the Ray cluster: auto (the one running on this machine), HOST:PORT of its head, or ray://HOST:PORT "
        "(Ray Client); default: the one on this machine if it runs, else a new one on this machine's cores",
    )
    group.add_argument(
        "--cpus-per-run", type=float, default=None, help="CPUs (and torch threads) per Ray task (default: 1)"
    )
    group.add_argument(
        "--gpus-per-run",
        type=float,
        default=None,
        help="GPUs per Ray task, a fraction below 1 lets several tasks share one GPU (default: 0)",
    )


def executor_from_args(args: argparse.Namespace):
    """The executor of ``args`` (:func:`~advdist_lab.runs.executors.make_executor`; ``None``: the local default
    and for a command without the executor's options)."""
    if not hasattr(args, "executor"):
        return None
    from ..runs.executors import make_executor

    return make_executor(
        args.executor,
        jobs=getattr(args, "jobs", None) if args.executor == "ray" else None,
        address=args.address,
        cpus_per_run=args.cpus_per_run,
        gpus_per_run=args.gpus_per_run,
    )


def add_run_options(parser: argparse.ArgumentParser, out_help: str) -> None:
    """``--out``, ``--resume``, ``--no-progress`` and ``--threads``: the options of a command that trains one run."""
    parser.add_argument("--out", default=None, help=out_help)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_threads(parser)


def out_folder(value: str | None, default: str | None = None) -> str | None:
    """``--out`` when given, else ``default`` (``None`` for none), checked before any work by
    :func:`advdist_lab.runs.folder.check_out`: an empty ``--out`` is refused, not read as "not given"."""
    from ..runs.folder import check_out

    out = default if value is None else value
    if out is not None:
        check_out(out)
    return out


def parse_list(text: str | None, option: str, noun: str, kind: Callable[[str], object] = str) -> tuple | None:
    """A comma-separated ``option`` as a tuple of ``kind`` (``None`` when not given).

    Refused with one line naming the option: an empty list (``''``, ``','``: "--sizes must list at least one
    size"), an empty item (``'30,,60'``) and an item that is not a ``kind``.
    """
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise ValueError(f"{option} must list at least one {noun} (got {text!r})")
    if "" in parts:
        raise ValueError(f"{option} must be a comma-separated list of {noun}s with no empty item (got {text!r})")
    try:
        return tuple(kind(part) for part in parts)
    except ValueError:
        name = getattr(kind, "__name__", noun)
        raise ValueError(f"{option}: expected a comma-separated list of {name} (got {text!r})") from None
