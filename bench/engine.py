"""The engine's figures in one run (issue 16, item 5): (a) ``table1`` with 1 and with 5 seeds, (b) batched members
against sequential solo runs, (c) a run's start-up beside ``import torch`` and (d) each method's step beside the sum
of its players' passes.

Run: .venv/bin/python bench/engine.py [--quick] [--device cpu]

(a) is timed here: ``advdist-lab table1 --dataset digits --methods adim,distn --sizes 100 --epochs 30 --jobs 1``
with ``--seeds 1`` and ``--seeds 5``, each in a fresh folder and a fresh process (start-up included, as a user
meets it), once with the command's default grouping of seeds into batched members and once with ``--members 1``
(one run per task, the engine before batching) when the command has that option. (b) is
``bench/ensemble_speed.py`` and (c), (d) are ``bench/overhead.py``, run one after the other in this run; their
outputs are printed as they come. ``--quick`` shrinks every part (a check that the script works, not a
measurement). Ratios are computed from the times measured here, on whatever machine runs it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TABLE1 = ["table1", "--dataset", "digits", "--methods", "adim,distn", "--sizes", "100", "--jobs", "1", "--no-progress"]


def _cli(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "advdist_lab.cli", *arguments]


def has_members_option() -> bool:
    """Whether ``table1`` has ``--members`` (the batched engine's grouping of seeds)."""
    done = subprocess.run(_cli("table1", "--help"), capture_output=True, text=True, check=True)
    return "--members" in done.stdout


def time_table1(seeds: int, epochs: int, device: str, extra: list[str]) -> float:
    """Seconds of one ``table1`` process with ``seeds`` seeds into a fresh folder."""
    with tempfile.TemporaryDirectory() as folder:
        command = _cli(*TABLE1, "--seeds", str(seeds), "--epochs", str(epochs), "--device", device, *extra)
        command += ["--out", str(Path(folder) / "t")]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - started


def part_a(epochs: int, device: str) -> None:
    print(f"(a) table1 --dataset digits --methods adim,distn --sizes 100 --epochs {epochs} --jobs 1", flush=True)
    variants = [("default", [])]
    if has_members_option():
        variants.append(("--members 1", ["--members", "1"]))
    for name, extra in variants:
        one = time_table1(1, epochs, device, extra)
        five = time_table1(5, epochs, device, extra)
        print(f"    {name:<12} 1 seed {one:7.1f} s   5 seeds {five:7.1f} s   5 / 1 = {five / one:.2f}", flush=True)


def run_script(name: str, arguments: list[str]) -> None:
    print(f"\n$ python bench/{name} {' '.join(arguments)}", flush=True)
    subprocess.run([sys.executable, str(BENCH / name), *arguments], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that every part runs")
    args = parser.parse_args()
    if args.device not in ("cpu", "cuda"):
        parser.error(f"--device must be cpu or cuda (got {args.device!r})")
    started = time.perf_counter()
    part_a(2 if args.quick else 30, args.device)
    members = "1,2" if args.quick else "1,8,32"
    sizes = ["--epochs", "1", "--pretrain", "1"] if args.quick else []
    run_script("ensemble_speed.py", ["--device", args.device, "--members", members, *sizes])
    quick = ["--repeats", "1", "--warmup", "0", "--startup-repeats", "1", "--n", "100"] if args.quick else []
    run_script("overhead.py", ["--device", args.device, *quick])
    print(f"\nbench/engine.py took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
