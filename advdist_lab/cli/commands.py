"""The ``advdist-lab`` command: the ``{command: handler}`` table, the parser built from it and :func:`main`.

Bad values fail before any work with one line ``advdist-lab: error: ...`` naming the constraint (exit status 2);
a run that fails while training (a non-finite loss, data that cannot be downloaded) exits with status 1, an
interrupted one with 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .. import __version__
from . import data, dfard, privileged, report, robust, table1_report, tags, train
from .common import Parser, executor_from_args


@dataclass(frozen=True)
class Command:
    """A subcommand: ``add_parser(subparsers, name)`` adds its parser, ``run(args)`` runs it (exit status)."""

    add_parser: Callable[[argparse._SubParsersAction, str], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "train": Command(train.add_train_parser, train.run_train),
    "table1": Command(train.add_table1_parser, train.run_table1),
    "table1-report": Command(table1_report.add_table1_report_parser, table1_report.run_table1_report),
    "privileged": Command(privileged.add_privileged_parser, privileged.run_privileged),
    "sweep": Command(train.add_sweep_parser, train.run_sweep),
    "tags": Command(tags.add_tags_parser, tags.run_tags),
    "table4": Command(tags.add_table4_parser, tags.run_table4),
    "robust-teacher": Command(robust.add_teacher_parser, robust.run_teacher),
    "robust-eval": Command(robust.add_eval_parser, robust.run_eval),
    "dfard": Command(dfard.add_dfard_parser, dfard.run_dfard),
    "dfard-table": Command(dfard.add_dfard_table_parser, dfard.run_dfard_table),
    "data": Command(data.add_data_parser, data.run_data),
    "report": Command(report.add_report_parser, report.run_report),
}
"""Every ``advdist-lab`` subcommand, in the order of ``advdist-lab --help``."""


def build_parser() -> argparse.ArgumentParser:
    """The ``advdist-lab`` parser with a subparser per entry of :data:`COMMANDS`."""
    parser = Parser(prog="advdist-lab", description="Adversarial distillation: train and reproduce.")
    parser.add_argument("--version", action="version", version=f"advdist-lab {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.add_parser(subparsers, name)
    return parser


def fail(message: str, status: int) -> int:
    """Print ``advdist-lab: error: <message>`` on stderr and return ``status``."""
    print(f"advdist-lab: error: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Run ``advdist-lab`` with ``argv`` (default ``sys.argv[1:]``) and return its exit status."""
    from ..data import DatasetUnavailableError
    from ..files import DiskFullError
    from ..methods.loop import NonFiniteLossError
    from ..runs.executors import RunsInterrupted, WorkerDiedError, executor_scope

    try:
        args = build_parser().parse_args(argv)
        with executor_scope(executor_from_args(args)):  # --executor: every multi-run call of the command uses it
            return COMMANDS[args.command].run(args)
    except (DatasetUnavailableError, NonFiniteLossError, DiskFullError, WorkerDiedError) as error:
        return fail(getattr(error, "strerror", None) or str(error), 1)  # an OSError's own words, no "[Errno 28]"
    except ValueError as error:
        return fail(str(error), 2)
    except RunsInterrupted as error:  # it says how many runs finished and how to finish the others
        return fail(str(error), 130)
    except KeyboardInterrupt:
        return fail(
            "interrupted: what was written before the interrupt is kept (finished runs, the last checkpoint if one "
            "was written); run the same command with --resume to continue",
            130,
        )
