"""Batched members against sequential solo runs: the gain of the ensemble dimension (issue 16, item 5b).

Run: .venv/bin/python bench/ensemble_speed.py [--methods mimic,adim] [--members 1,8,32] [--n 100] [--epochs 5]
     [--pretrain 5] [--device cpu] [--threads 1]

For each method and each ``M``, in one process and on the same data: ``M`` solo runs one after the other
(:func:`advdist_lab.runs.training.train` without a run folder, seeds ``0 .. M-1``), then the same ``M`` configs as
one batch (:func:`advdist_lab.runs.ensemble.train_members`). Both include everything a run does after ``import
torch`` and a warm-up run (data, players, pretraining, every epoch's training and evaluation). On the CPU the
digits models train on one thread (``--threads``), as ``advdist-lab`` trains them. Printed: each side's seconds, the
ratio sequential / batched, and the largest difference of a member's final test accuracy from its solo run's (0
when they agree). The solo runs of one ``M`` are timed once: the ratios are a measurement on a shared machine,
not a test.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from advdist_lab.environment import configure_threads, resolve_device
from advdist_lab.methods import TrainConfig
from advdist_lab.runs.ensemble import train_members
from advdist_lab.runs.training import train


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def _config(method: str, seed: int, args: argparse.Namespace, device: torch.device) -> TrainConfig:
    return TrainConfig(
        method=method,
        dataset="digits",
        n_train=args.n,
        epochs=args.epochs,
        teacher_pretrain_epochs=args.pretrain,
        student_pretrain_epochs=args.pretrain,
        seed=seed,
        device=str(device),
    )


def _warm_up(args: argparse.Namespace, device: torch.device) -> None:
    """One untimed solo run and one batch of two per method: the first optimizer's imports, the data's first
    load and the kernels' first calls are paid before any row is timed."""
    for method in args.methods.split(","):
        config = _config(method, 0, argparse.Namespace(**{**vars(args), "epochs": 1, "pretrain": 1}), device)
        train(config, progress=False)
        train_members([config, config])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default="mimic,adim")
    parser.add_argument("--members", type=_ints, default=[1, 8, 32])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--pretrain", type=int, default=5, help="teacher and student pretraining epochs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    device = resolve_device(args.device)
    configure_threads("digits", device, threads=args.threads)
    print(f"# {platform.node()} torch {torch.__version__} {device} threads={torch.get_num_threads()}")
    print(f"# digits n={args.n}, {args.epochs} epochs, {args.pretrain} pretraining epochs per player")
    _warm_up(args, device)
    print(f"{'method':<9} {'M':>3} {'sequential s':>13} {'batched s':>10} {'ratio':>7} {'max |acc diff|':>15}")
    for method in args.methods.split(","):
        for members in args.members:
            configs = [_config(method, seed, args, device) for seed in range(members)]
            started = time.perf_counter()
            solos = [train(config, progress=False) for config in configs]
            sequential = time.perf_counter() - started
            started = time.perf_counter()
            batch = train_members(configs)
            batched = time.perf_counter() - started
            diff = max(abs(s["test_accuracy"] - b["test_accuracy"]) for s, b in zip(solos, batch))
            print(
                f"{method:<9} {members:>3} {sequential:>13.2f} {batched:>10.2f} {sequential / batched:>6.1f}x "
                f"{diff:>15.2g}",
                flush=True,
            )


if __name__ == "__main__":
    main()
