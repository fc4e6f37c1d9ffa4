"""The overhead of ``--executor ray`` against ``--executor local`` for one Table 1 command, measured in one run.

Runs ``advdist-lab table1`` twice into fresh folders, as a user would from a terminal (each a new process: Ray's
start is part of the cost), first with the local executor (worker processes, ``--jobs`` default), then with
``--executor ray`` (by default a Ray instance the command starts on this machine's cores; ``--address auto`` joins
one started with ``ray start --head``), and prints both wall times, their ratio and whether the two tables are the
same numbers. The default is the digits Table 1 of the CLI's defaults (7 methods, the digits sizes, 5 seeds)::

    .venv/bin/python bench/executor_overhead.py
    .venv/bin/python bench/executor_overhead.py --seeds 2 --epochs 5      # a quicker look

Needs the [cluster] extra (``pip install 'advdist-lab[cluster]'``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per method and n (table1's default: 5)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (table1's default)")
    parser.add_argument("--sizes", default=None, help="comma-separated n (table1's default for the dataset)")
    parser.add_argument("--address", default=None, help="--address of the Ray run (default: a Ray of this machine)")
    parser.add_argument("--keep", default=None, help="keep the two output folders here (default: a temporary one)")
    args = parser.parse_args(argv)
    for name in ("seeds", "epochs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be a positive integer (got {value})")
    return args


def table1(out: Path, args: argparse.Namespace, executor: list[str]) -> float:
    """Seconds of one ``advdist-lab table1`` into ``out``; its stderr is shown when it fails."""
    argv = [sys.executable, "-m", "advdist_lab.cli", "table1", "--dataset", args.dataset, "--no-progress"]
    for option, value in (("--seeds", args.seeds), ("--epochs", args.epochs), ("--sizes", args.sizes)):
        if value is not None:
            argv += [option, str(value)]
    started = time.perf_counter()
    done = subprocess.run([*argv, "--out", str(out), *executor], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv[2:])} {' '.join(executor)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.keep) if args.keep else Path(scratch)
        ray = ["--executor", "ray"] + (["--address", args.address] if args.address else [])
        local_s = table1(root / "local", args, [])
        ray_s = table1(root / "ray", args, ray)
        same = (root / "local" / "table1.csv").read_text() == (root / "ray" / "table1.csv").read_text()
        runs = len(list((root / "local").rglob("result.json")))
    print(f"{args.dataset} Table 1, {runs} runs, {os.cpu_count()} CPU cores")
    print(f"  --executor local: {local_s:8.1f} s")
    print(f"  --executor ray:   {ray_s:8.1f} s   ({' '.join(ray)})")
    print(f"  ray / local:      {ray_s / local_s:8.2f}x   ({ray_s - local_s:+.1f} s)")
    print(f"  same table:       {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
