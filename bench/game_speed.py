"""How long the exact games take: a 2,000-step game on 3 labels for every method and mode.

Run: .venv/bin/python bench/game_speed.py [--steps 2000] [--repeats 3]

Prints the best wall time of each configuration and its ratio to the fastest one, all measured in this run.
The issue's target is under 2 s for 2,000 steps on 3 labels on a CPU.
"""

from __future__ import annotations

import argparse
import time

import torch

from advdist_lab.theory.distributions import random_distributions
from advdist_lab.theory.solver import solve_game


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    p_r = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    p_t = torch.tensor([0.35, 0.5, 0.15], dtype=torch.float64)
    configurations = {
        "kd": dict(method="kd", p_t0=p_t, upsilon=0.5),
        "ngan alternating": dict(method="ngan"),
        "ngan simultaneous": dict(method="ngan", mode="simultaneous"),
        "adib alternating": dict(method="adib", nu=1.0, mu=1.0, upsilon=0.5),
        "adib optimal D": dict(method="adib", nu=1.0, mu=1.0, upsilon=0.5, discriminator="optimal"),
        "adim alternating": dict(method="adim", omega=(0.2, 0.5, 0.3)),
        "adim simultaneous": dict(method="adim", omega=(0.2, 0.5, 0.3), mode="simultaneous"),
        "adim 64 contexts": dict(method="adim", omega=(0.2, 0.5, 0.3), p_r=random_distributions(64, 3)),
        "adim record every 100": dict(method="adim", omega=(0.2, 0.5, 0.3), record_every=100),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.steps} steps, best of {args.repeats}")
    times = {}
    for name, config in configurations.items():
        config = dict(config)
        target = config.pop("p_r", p_r)
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            solve_game(target, steps=args.steps, lr=0.5, **config)
            best = min(best, time.perf_counter() - start)
        times[name] = best
    fastest = min(times.values())
    for name, seconds in times.items():
        print(f"{name:<24} {seconds:7.3f} s   x{seconds / fastest:5.2f} of the fastest")
    slowest = max(times, key=times.get)
    print(f"slowest: {slowest} at {times[slowest]:.3f} s (target: under 2 s)")


if __name__ == "__main__":
    main()
