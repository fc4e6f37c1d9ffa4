"""``advdist-lab table1-report``: a measured TPAMI Table 1 shipped in a folder, beside the paper's.

::

    advdist-lab table1-report results/table1-mnist                 # print the shipped table and its sentences
    advdist-lab table1-report results/table1-mnist --runs runs/table1-mnist --dataset mnist --sizes 100,1000 \\
        --seeds 5 --table-wall-seconds 25200                        # export the finished runs first, then print

With ``--runs`` the finished runs of the table are exported into the folder
(:func:`advdist_lab.experiments.measured_export.export_runs`); pass the options the table was run with (``--dataset``,
``--sizes``, ``--seeds``, ``--methods`` and any :class:`~advdist_lab.methods.TrainConfig` option such as
``--epochs``), since a run trained with another config is refused. Unfinished runs are left out and the report
says how many seeds each cell holds.
"""

from __future__ import annotations

import argparse

from ..methods.config import TrainConfig
from .common import parse_list
from .options import option_values
from .train import add_train_options

SKIPPED = ("method", "n_train", "seed")


def add_table1_report_parser(commands: argparse._SubParsersAction, name: str) -> None:
    report = commands.add_parser(
        name,
        help="a measured TPAMI Table 1 beside the paper's: export finished table1 runs into a folder (--runs), "
        "or print a folder's table",
    )
    report.add_argument("folder", help="the exported folder (e.g. results/table1-mnist)")
    report.add_argument("--runs", default=None, help="a table1 run folder whose finished runs are exported first")
    report.add_argument("--seeds", type=int, default=5, help="seeds per method and n of the table (default: 5)")
    report.add_argument("--methods", default=None, help="comma-separated methods (default: the seven of Table 1)")
    report.add_argument("--sizes", default=None, help="comma-separated training-set sizes (default: the dataset's)")
    report.add_argument(
        "--table-wall-seconds",
        type=float,
        default=None,
        help="the wall-clock time of the table in seconds as measured by whoever ran it (so far, for an unfinished "
        "table; default: not recorded)",
    )
    add_train_options(report, skip=SKIPPED)


def run_table1_report(args: argparse.Namespace) -> int:
    from ..data import TABLE1_SIZES
    from ..experiments.measured import load_measured
    from ..experiments.measured_export import export_runs
    from ..experiments.measured_report import measured_sentences, report_markdown
    from ..experiments.table1 import TABLE1_METHODS

    overrides = option_values(args, TrainConfig, skip=SKIPPED)
    if args.runs is not None:
        dataset = overrides.pop("dataset", "digits")
        sizes = parse_list(args.sizes, "--sizes", "size", int) or tuple(TABLE1_SIZES.get(dataset, ()))
        methods = parse_list(args.methods, "--methods", "method") or TABLE1_METHODS
        measured = export_runs(
            args.runs,
            args.folder,
            dataset=dataset,
            sizes=sizes,
            seeds=args.seeds,
            methods=methods,
            table_wall_seconds=args.table_wall_seconds,
            **overrides,
        )
        print(f"exported {len(measured.runs)} finished run(s) of {measured.planned_runs} into {args.folder}")
    else:
        given = sorted(k for k in vars(args) if k in overrides) + [
            k for k in ("methods", "sizes", "table_wall_seconds") if getattr(args, k) is not None
        ]
        if given:
            raise ValueError(f"{', '.join(given)} only apply with --runs (an export); the folder's plan is its own")
        measured = load_measured(args.folder)
    print(report_markdown(measured))
    for line in measured_sentences(measured):
        print(line)
    return 0
