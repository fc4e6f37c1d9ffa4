"""``advdist-lab privileged``: every method of TPAMI Table 1 against the student trained alone on a degraded view,
the teacher and the discriminator seeing the full image (:mod:`advdist_lab.experiments.privileged`).

::

    advdist-lab privileged --dataset digits --view crop --seeds 5 --sizes 100,300 --out runs/privileged-digits-crop

Writes ``privileged.md`` and ``privileged.csv`` under ``--out`` (default ``runs/privileged-<dataset>-<view>``),
each run in ``OUT/<method>/n<n>/seed<s>/``: a rerun reads the finished runs back and resumes interrupted ones.
Every :class:`~advdist_lab.methods.TrainConfig` option (``--epochs``, ``--device``...) applies to every run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..methods.config import TrainConfig
from .common import add_workers, out_folder, parse_list, set_threads
from .options import option_values
from .train import add_train_options

SKIPPED = ("method", "n_train", "seed", "data_file")  # data_file: tag data, which have the full view only


def add_privileged_parser(commands: argparse._SubParsersAction, name: str) -> None:
    from ..experiments.privileged import DEFAULT_VIEW

    parser = commands.add_parser(
        name,
        help="the privileged setting: every Table 1 method against the student trained alone on a degraded view",
        description="Train every method of TPAMI Table 1 and the student alone (method student) with the student "
        "seeing --view while the teacher and the discriminator see the full image, over seeds and sizes; print "
        "and write OUT/privileged.md and OUT/privileged.csv: mean ± std, the difference to the student alone and a "
        "verdict (helps: the difference exceeds the pooled std of the two rows).",
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds per method and n (default: 5)")
    parser.add_argument("--methods", default=None, help="comma-separated methods (default: the seven of Table 1)")
    parser.add_argument("--sizes", default=None, help="comma-separated training-set sizes (default: the dataset's)")
    parser.add_argument(
        "--out", default=None, help="folder of the runs and tables (default: runs/privileged-<dataset>-<view>)"
    )
    add_workers(parser)
    add_train_options(
        parser,
        skip=SKIPPED,
        texts={"view": f"the student's view: lowres, lowres4 or crop (default: {DEFAULT_VIEW}; see data/views.py)"},
    )


def run_privileged(args: argparse.Namespace) -> int:
    from ..experiments.privileged import DEFAULT_VIEW, run_privileged
    from ..experiments.table1 import TABLE1_METHODS

    overrides = option_values(args, TrainConfig, skip=SKIPPED)
    dataset = overrides.pop("dataset", "digits")
    view = overrides.pop("view", None) or DEFAULT_VIEW
    methods = parse_list(args.methods, "--methods", "method") or TABLE1_METHODS
    sizes = parse_list(args.sizes, "--sizes", "size", int)
    set_threads(args, dataset)
    out = out_folder(args.out, f"runs/privileged-{dataset}-{view}")
    outcome = run_privileged(
        dataset,
        view,
        args.seeds,
        out,
        methods=methods,
        sizes=sizes,
        progress=not args.no_progress,
        jobs=args.jobs,
        **overrides,
    )
    print(outcome["markdown"])
    for sentence in outcome["sentences"]:
        print(sentence)
    print(f"written: {Path(out) / 'privileged.csv'}, {Path(out) / 'privileged.md'}")
    return 0
