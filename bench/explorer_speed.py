"""How fast the game explorer redraws after a slider move: solve the game, build the figure, update the widget.

Run: .venv/bin/python bench/explorer_speed.py [--repeats 5] [--steps 600]

Moves each slider of ``advdist_lab.widgets.game.GameExplorer`` in turn (``repeats`` times, alternating between two
values so that every move changes the game) and prints, per control, the median and the worst redraw time
(``last_redraw_seconds``: re-solve plus redraw) and their ratio to the issue's budget of 0.5 s, all measured in
this run. A ratio below 1 meets the budget. Run it on an otherwise idle machine: other jobs inflate the times.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from advdist_lab.widgets.game import GameExplorer

BUDGET_SECONDS = 0.5
MOVES = {
    "omega_r": (0.2, 0.3),
    "omega_s": (0.25, 0.35),
    "nu": (0.1, 1.0),
    "mu": (0.001, 0.1),
    "upsilon": (0.5, 1.0),
    "lr": (0.2, 0.3),
    "method": ("adib", "adim"),
    "estimator": ("gumbel-softmax", "exact"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    torch.set_num_threads(1)
    explorer = GameExplorer(steps=args.steps)
    print(f"torch {torch.__version__}, 1 thread, {args.steps} steps per game, {args.repeats} moves per control")
    print(f"{'control':<12}{'median (ms)':>12}{'worst (ms)':>12}{'worst / budget':>16}")
    worst_all = 0.0
    for name, values in MOVES.items():
        times = []
        for i in range(args.repeats):
            explorer.controls[name].value = values[i % 2]
            if "refused" in explorer.message.value:
                raise SystemExit(f"{name} = {values[i % 2]!r} was refused: {explorer.message.value}")
            times.append(explorer.last_redraw_seconds)
        explorer.controls[name].value = values[1]
        worst = max(times)
        worst_all = max(worst_all, worst)
        print(f"{name:<12}{1000 * statistics.median(times):>12.0f}{1000 * worst:>12.0f}{worst / BUDGET_SECONDS:>16.2f}")
    print(f"worst redraw {1000 * worst_all:.0f} ms = {worst_all / BUDGET_SECONDS:.2f} x the 0.5 s budget")


if __name__ == "__main__":
    main()
