"""Where a run's time goes besides its players' passes: start-up, each step beside its passes, Adam, the teacher.

Run: .venv/bin/python bench/overhead.py [--device cpu] [--n 1000] [--repeats 5] [--startup-repeats 3]
     .venv/bin/python bench/overhead.py --skip-startup --methods adim,mimic   # the in-process parts only

Everything below is measured in this one run, the rows of each part taking turns (so that background load on a
shared machine hits them alike), and the median kept; the ratios are computed from those medians.

(c) Start-up. Wall-clock time of fresh processes: ``python -c "import torch"`` beside ``advdist-lab train --method
    adim --dataset digits --n-train 100 --epochs 1 --teacher-pretrain-epochs 1`` (the same command with the
    device given), and the same run with scikit-learn and ``torch._dynamo`` imported first, the two imports the
    run paid before the digits were shipped (:mod:`advdist_lab.data.digits`) and the loop's Adam stopped going
    through ``torch.optim`` (:mod:`advdist_lab.methods.adam`). The run's own ``wall_seconds`` (pretraining, the
    epoch, evaluation, checkpoints; from its ``result.json``) splits its time beyond ``import torch`` into work and
    start-up proper.

(d) Steps. One epoch of every method (``Trainer.train_epoch``) and of the plain passes that
    ``bench/training_speed.py`` times (supervised steps of the student and of a teacher-sized network, forward
    passes without gradient); a method's step is set beside the sum of its players' passes in
    ``training_speed.COST_MODEL``. Where the loop computes the frozen teacher's logits once per run instead of per
    minibatch (MIMIC, DISTN, NOISY on digits: :meth:`~advdist_lab.methods.loop.Trainer.frozen_teacher_logits`) its
    forward pass ``t`` is not in the sum, and the row ``<method>/per-batch`` times the same epoch with the teacher on
    every minibatch: the gain of hoisting it.

Adam. One optimiser step of each ADIM player (student, teacher, two-backbone discriminator) with
    ``torch.optim.Adam`` single-tensor (the loop's optimiser before), foreach and fused, and with
    :class:`~advdist_lab.methods.adam.FusedAdam` (the loop's now: the fused kernel without ``torch.optim``).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import training_speed  # bench/training_speed.py, beside this script

from advdist_lab.data import load_data
from advdist_lab.environment import configure_threads, resolve_device
from advdist_lab.methods.adam import FusedAdam
from advdist_lab.methods.config import METHODS, TrainConfig
from advdist_lab.methods.loop import Trainer

ROOT = Path(__file__).resolve().parents[1]
PER_BATCH = "/per-batch"
SINGLE_ADAM = "/single-Adam"
ADAMS = {
    "single-tensor": lambda params: torch.optim.Adam(params, lr=1e-3, foreach=False),
    "foreach": lambda params: torch.optim.Adam(params, lr=1e-3, foreach=True),
    "fused": lambda params: torch.optim.Adam(params, lr=1e-3, fused=True),
    "FusedAdam": lambda params: FusedAdam(params, lr=1e-3),
}


def median(values: list[float]) -> float:
    return statistics.median(values)


# -- (c) start-up --------------------------------------------------------------------------------------------------
def startup(repeats: int, device: str) -> None:
    train = ["train", "--method", "adim", "--dataset", "digits", "--n-train", "100", "--epochs", "1"]
    train += ["--teacher-pretrain-epochs", "1", "--device", device, "--no-progress"]
    before = "import sklearn.datasets, sklearn.model_selection, torch._dynamo\n"
    rows = {
        "import torch": lambda out: [sys.executable, "-c", "import torch"],
        "train": lambda out: [sys.executable, "-m", "advdist_lab.cli", *train, "--out", out],
        "train, sklearn + dynamo imported first": lambda out: [
            sys.executable,
            "-c",
            f"{before}from advdist_lab.cli import main\nraise SystemExit(main({[*train, '--out', out]!r}))",
        ],
    }
    times: dict[str, list[float]] = {name: [] for name in rows}
    work: dict[str, list[float]] = {name: [] for name in rows}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(repeats):
            for index, (name, command) in enumerate(rows.items()):
                out = str(Path(folder) / f"run-{repeat}-{index}")
                start = time.perf_counter()
                subprocess.run(command(out), check=True, cwd=ROOT, capture_output=True)
                times[name].append(time.perf_counter() - start)
                result = Path(out) / "result.json"
                if result.exists():
                    work[name].append(json.loads(result.read_text())["wall_seconds"])
    torch_s = median(times["import torch"])
    print(f"\n(c) start-up: wall-clock seconds of fresh processes, median of {repeats}")
    print(f"{'process':<40} {'seconds':>8} {'- import torch':>15} {'run work':>9} {'start-up':>9} {'/ torch':>8}")
    for name, values in times.items():
        total = median(values)
        line = f"{name:<40} {total:>8.2f} {total - torch_s:>15.2f}"
        if work[name]:
            done = median(work[name])
            line += f" {done:>9.2f} {total - torch_s - done:>9.2f}"
        else:
            line += f" {'':>9} {'':>9}"
        print(line + f" {total / torch_s:>8.2f}")
    print(
        "- import torch: the run's time beyond import torch; run work: its result.json wall_seconds (pretraining, one "
        "epoch, evaluation, checkpoints); start-up: the rest (imports, data, process)"
    )


# -- (d) steps beside passes ---------------------------------------------------------------------------------------
def steps(methods: list[str], single_adam: list[str], data, args, device: torch.device) -> None:
    names = [*training_speed.BASELINES, *methods]
    rows = {name: training_speed.prepare(name, data, args, device) for name in names}
    for method in methods:
        if rows[method]["trainer"].frozen_teacher_logits() is not None:
            twin = training_speed.prepare(method, data, args, device)
            twin["trainer"].hoist_teacher = False
            rows[method + PER_BATCH] = twin
    for method in (m for m in single_adam if m in methods):  # the loop's former optimiser: single-tensor Adam
        twin = training_speed.prepare(method, data, args, device)
        trainer = twin["trainer"]
        players = dict(trainer.players.items())
        trainer.optimizers = {
            name: torch.optim.Adam(players[name].parameters(), lr=opt.lr, foreach=False)
            for name, opt in trainer.optimizers.items()
        }
        rows[method + SINGLE_ADAM] = twin
    training_speed.time_round_robin(rows, device, args.warmup, args.repeats)
    unit = {
        key: rows[name]["seconds"] / rows[name]["steps"]
        for key, name in zip("STst", training_speed.BASELINES)  # one step (or forward) over a minibatch
    }
    batches = math.ceil(len(data.train) / rows[training_speed.SUPERVISED]["batch"])
    print(
        f"\n(d) steps: ms per minibatch step, median of {args.repeats} epochs after {args.warmup} warm-up; a pass is "
        f"{batches} steps of {rows[training_speed.SUPERVISED]['batch']}"
    )
    print(f"{'row':<20} {'ms/step':>8} {'passes':>19} {'sum ms':>7} {'step/sum':>9} {'variant/loop':>13}")
    for name, row in rows.items():
        per_step = 1000 * row["seconds"] / row["steps"]
        method = name.removesuffix(PER_BATCH).removesuffix(SINGLE_ADAM)
        line = f"{name:<20} {per_step:>8.3f}"
        if method in training_speed.COST_MODEL:
            model = training_speed.cost_model(method, row)  # without a teacher pass computed once per run
            passes = " + ".join(f"{count}{kind}" for kind, count in model.items() if count)
            total = 1000 * sum(count * unit[kind] for kind, count in model.items())
            # per step of the method: COST_MODEL counts the passes of one step of each of its k_d + k_t + k_s passes
            total /= row["passes"]
            line += f" {passes:>19} {total:>7.3f} {per_step / total:>9.2f}"
            if name != method:
                line += f" {row['seconds'] / rows[method]['seconds']:>13.2f}"
        print(line)
    print(
        "passes: S, T a supervised step of the student, of a teacher-sized network; s, t a forward pass without "
        "gradient (bench/training_speed.py); the sum of a method row is taken over the passes the loop makes now "
        "(its Adam, its hoisted teacher). step/sum near 1: a step costs about the sum of its passes. variant/loop: "
        f"the epoch of {PER_BATCH} (the frozen teacher run on every minibatch) or {SINGLE_ADAM} (single-tensor "
        "torch.optim.Adam, the loop's former optimiser) over the same method's epoch as the loop runs it"
    )


# -- Adam ----------------------------------------------------------------------------------------------------------
def adam(data, device: torch.device, repeats: int, count: int = 200) -> None:
    config = TrainConfig(method="adim", dataset="digits", n_train=len(data.train), device=str(device)).resolved()
    players = Trainer(config, data, device).players.items()
    optimisers = {}
    for player, module in players:
        for kind, build in ADAMS.items():
            params = [p.detach().clone().requires_grad_() for p in module.parameters()]
            for p in params:
                p.grad = torch.randn_like(p) * 1e-3
            optimisers[(player, kind)] = build(params)

    def steps_of(optimiser) -> dict:
        def run(_round: int) -> None:
            for _ in range(count):
                optimiser.step()

        return {"run_epoch": run}

    rows = {key: steps_of(optimiser) for key, optimiser in optimisers.items()}
    training_speed.time_round_robin(rows, device, 1, repeats)  # one warm-up round
    print(f"\nAdam: microseconds per step of each ADIM player, median of {repeats} rounds of {count} steps")
    print(f"{'player':<14} {'parameters':>10} " + " ".join(f"{kind:>13}" for kind in ADAMS) + "   single-tensor / each")
    for player, module in players:
        micro = {kind: 1e6 * rows[(player, kind)]["seconds"] / count for kind in ADAMS}
        size = sum(p.numel() for p in module.parameters())
        ratios = " ".join(f"{micro['single-tensor'] / value:.2f}" for value in micro.values())
        print(f"{player:<14} {size:>10} " + " ".join(f"{micro[kind]:>13.1f}" for kind in ADAMS) + f"   {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default: cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 1 for digits on a CPU)")
    parser.add_argument("--n", type=int, default=1000, help="digits training examples for (d) and Adam (default 1000)")
    parser.add_argument("--batch-size", type=int, default=None, help="minibatch size (default: by n, as training)")
    parser.add_argument("--precision", default="auto", help="auto (bf16 on CUDA), fp32 or bf16")
    parser.add_argument("--warmup", type=int, default=2, help="untimed epochs first (default: 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs and Adam rounds (default: 5)")
    parser.add_argument("--startup-repeats", type=int, default=3, help="processes per start-up row (default: 3)")
    parser.add_argument("--skip-startup", action="store_true", help="leave out (c), the start-up processes")
    parser.add_argument("--methods", default=",".join(m for m in METHODS if m in training_speed.COST_MODEL))
    parser.add_argument("--single-adam", default="adim,mimic", help="methods also timed with single-tensor Adam")
    args = parser.parse_args()
    args.mnist_shape = False  # what training_speed.prepare reads
    try:
        device = resolve_device(args.device)
        configure_threads("digits", device, args.threads)
    except ValueError as error:
        parser.error(str(error))
    if args.repeats < 1 or args.warmup < 0 or args.startup_repeats < 1:
        parser.error("--repeats and --startup-repeats must be >= 1 and --warmup >= 0")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    single_adam = [m.strip() for m in args.single_adam.split(",") if m.strip()]
    unknown = [m for m in {*methods, *single_adam} if m not in training_speed.COST_MODEL]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}: choose from {', '.join(training_speed.COST_MODEL)}")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    print(
        f"device {device} ({where}), torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"Python {platform.python_version()}"
    )
    if not args.skip_startup:
        startup(args.startup_repeats, str(device))
    data = load_data("digits", args.n, device=device)
    steps(methods, single_adam, data, args, device)
    adam(data, device, args.repeats)


if __name__ == "__main__":
    main()
