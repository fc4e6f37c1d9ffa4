"""How fast each method trains: minibatch steps per second and epoch time, against a plain supervised student.

Run: .venv/bin/python bench/training_speed.py [--device cpu] [--threads 1] [--n 1000] [--repeats 7]
     .venv/bin/python bench/training_speed.py --mnist-shape --device cuda [--n 10000] [--repeats 7]
     .venv/bin/python bench/training_speed.py --methods adim,adim-ngs,ngan --probe   # the cost of gradient probes

Every method's epoch (TPAMI Algorithm 1) is ``k_d`` discriminator passes, then ``k_t`` teacher passes, then
``k_s`` student passes over the ``n`` training examples in minibatches, so it makes
``(k_d + k_t + k_s) * ceil(n / batch)`` minibatch steps. The baseline is one epoch of plain supervised training
of the same student (cross-entropy, Eq. 1; ``Trainer.pretrain("student", 1)``), measured in the same run; the row
``supervised-T`` is the same for the teacher, whose network the discriminators share (Eq. 16), and the rows
``forward-S`` and ``forward-T`` time forward passes without gradient.

For each row the script times one epoch (``Trainer.train_epoch`` for a method) after a warm-up, repeats it with
the rows taking turns (so that background load on a shared machine hits them alike) and keeps the median. It
prints steps per second, images per second (each pass feeds the ``n`` images once), the epoch time, the cost of
one step relative to a supervised step and of one epoch relative to a supervised epoch, and the epoch predicted
by adding up the passes its players make (:data:`COST_MODEL`), with the ratio of measured to predicted: DESIGN.md
expects an ADIM step to "cost about the sum of their forward/backward passes". Evaluation is not timed.

``--probe`` adds a row ``<method>+probe`` for every method, the same epoch with ``probe_gradients=True``
(:mod:`advdist_lab.probes`), and prints the probed epoch's cost against the unprobed one: the probe adds one
backward pass per student and teacher step, so the ratio should stay below the one of a step with a second
backward pass of those players.

``--mnist-shape`` trains the MNIST presets (student MLP 784-800-800-10, teacher and discriminators LeNet, see
``advdist_lab.models.presets``) on random tensors of MNIST's shape, 1x28x28 with 10 classes, so it needs no
download. Without it the data are the bundled 8x8 digits. On CUDA the default precision is bf16 autocast, as in
training.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import torch

from advdist_lab.data import Split, TaskData, load_data
from advdist_lab.environment import configure_threads, resolve_device
from advdist_lab.methods.config import METHODS, TrainConfig
from advdist_lab.methods.loop import Trainer

SUPERVISED = "supervised"
SUPERVISED_TEACHER = "supervised-T"
FORWARD_STUDENT = "forward-S"
FORWARD_TEACHER = "forward-T"
BASELINES = (SUPERVISED, SUPERVISED_TEACHER, FORWARD_STUDENT, FORWARD_TEACHER)
PROBED = "+probe"

COST_MODEL = {
    "mimic": {"S": 1, "t": 1},
    "distn": {"S": 1, "t": 1},
    "noisy": {"S": 1, "t": 1},
    "codis": {"T": 1, "s": 1, "S": 1, "t": 1},
    "ngan": {"T": 1, "s": 1, "S": 1, "t": 1},
    "adib": {"T": 2, "S": 1, "s": 2, "t": 4},
    "adim": {"T": 3, "S": 1, "s": 2, "t": 6},
    "adim-ngs": {"T": 3, "S": 1, "s": 2, "t": 6},
}
"""The passes one minibatch of each pass of an epoch makes (k_d = k_t = k_s = 1), by kind: ``S`` a training step
of the student, ``T`` a training step of a teacher-sized network (the teacher, or a discriminator backbone, which
has the teacher's architecture, Eq. 16), ``s`` and ``t`` forward passes without gradient of the student and of a
teacher-sized network. ADIM: the discriminator step trains two backbones (T T) and samples labels from S and T
(s t); the teacher step trains T and reads both backbones and S (t t s); the student step trains S and reads both
backbones and T (t t t). ADIB is the same with one backbone; NGAN has no teacher; CODIS reads the other player.
Where the loop computes the frozen teacher's logits once per run (MIMIC, DISTN, NOISY on digits), :func:`cost_model`
leaves out their ``t``."""


def cost_model(method: str, row: dict) -> dict[str, int]:
    """:data:`COST_MODEL` of ``method`` as the row's trainer runs it: without the teacher's forward pass ``t`` where the
    loop hands the losses the frozen teacher's logits computed once (``Trainer.frozen_teacher_logits``)."""
    model = dict(COST_MODEL[method])
    trainer = row.get("trainer")
    if trainer is not None and trainer.frozen_teacher_logits() is not None:
        model["t"] -= 1
    return model


def mnist_shaped_data(n: int, device: torch.device, test_size: int = 256, seed: int = 0) -> TaskData:
    """A TaskData of uniform random 1x28x28 images with random labels (10 classes): MNIST's shapes, no download."""
    generator = torch.Generator().manual_seed(seed)

    def split(size: int) -> Split:
        x = torch.rand(size, 1, 28, 28, generator=generator).to(device)
        y = torch.randint(0, 10, (size,), generator=generator).to(device)
        return Split(x=x, x_student=x, y=y)

    return TaskData(
        name="mnist",
        view="full",
        num_classes=10,
        train=split(n),
        test=split(test_size),
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def prepare(method: str, data: TaskData, args, device: torch.device) -> dict:
    """A fresh Trainer for ``method`` (or for supervised training of the student or the teacher) and its counts."""
    dataset = "mnist" if args.mnist_shape else "digits"
    probe = method.endswith(PROBED)
    method = method.removesuffix(PROBED)
    config = TrainConfig(
        method="ngan" if method == SUPERVISED else "mimic" if method in BASELINES else method,
        probe_gradients=probe,
        dataset=dataset,
        n_train=len(data.train),
        epochs=args.warmup + args.repeats,
        device=str(device),
        precision=args.precision,
        batch_size=args.batch_size,
    ).resolved()
    trainer = Trainer(config, data, device)
    batches = math.ceil(len(data.train) / config.batch_size)
    if method in (FORWARD_STUDENT, FORWARD_TEACHER):
        module = trainer.players.student if method == FORWARD_STUDENT else trainer.players.teacher
        x = data.train.x_student if method == FORWARD_STUDENT else data.train.x
        passes = 1

        @torch.no_grad()
        def run_epoch(_epoch: int, trainer=trainer, module=module, x=x) -> None:
            module.train()  # as the losses call it: dropout on
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=trainer.autocast):
                for part in x.split(trainer.config.batch_size):
                    module(part)

    elif method in (SUPERVISED, SUPERVISED_TEACHER):
        player = "student" if method == SUPERVISED else "teacher"
        passes = 1

        def run_epoch(_epoch: int, trainer=trainer, player=player) -> None:
            trainer.pretrain(player, 1)

    else:
        passes = config.k_d + config.k_t + config.k_s
        run_epoch = trainer.train_epoch
    return {
        "run_epoch": run_epoch,
        "passes": passes,
        "steps": passes * batches,
        "batch": config.batch_size,
        "trainer": trainer if method in COST_MODEL else None,
    }


def time_round_robin(rows: dict, device: torch.device, warmup: int, repeats: int) -> None:
    """Time one epoch of every row in turn, ``repeats`` rounds after ``warmup`` untimed ones; keep the median.

    Taking turns spreads any background load on a shared machine over all rows alike, so the ratios between
    rows stay meaningful even when the absolute times drift.
    """
    times: dict[str, list[float]] = {name: [] for name in rows}
    for epoch in range(warmup + repeats):
        for name, row in rows.items():
            _sync(device)
            start = time.perf_counter()
            row["run_epoch"](epoch)
            _sync(device)
            if epoch >= warmup:
                times[name].append(time.perf_counter() - start)
    for name, row in rows.items():
        row["seconds"] = statistics.median(times[name])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default: cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 1 for digits on a CPU)")
    parser.add_argument("--mnist-shape", action="store_true", help="MNIST presets on random 1x28x28 tensors")
    parser.add_argument("--n", type=int, default=None, help="training examples (default: 1000 digits, 2000 MNIST)")
    parser.add_argument("--batch-size", type=int, default=None, help="minibatch size (default: by n, as training)")
    parser.add_argument("--precision", default="auto", help="auto (bf16 on CUDA), fp32 or bf16")
    parser.add_argument("--warmup", type=int, default=2, help="untimed epochs first (default: 2)")
    parser.add_argument("--repeats", type=int, default=7, help="timed epochs; the median is reported (default: 7)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods (default: all)")
    parser.add_argument("--probe", action="store_true", help="also time every method with gradient probes on")
    args = parser.parse_args()

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    try:  # as advdist-lab train: one CPU thread for the tiny digits models unless --threads says otherwise
        configure_threads("mnist" if args.mnist_shape else "digits", device, args.threads)
    except ValueError as error:
        parser.error(str(error))
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}: choose from {', '.join(METHODS)}")

    if args.mnist_shape:
        n = args.n or 2000
        data = mnist_shaped_data(n, device)
        what = f"MNIST-shaped random data (1x28x28, 10 classes), n = {n}"
    else:
        n = args.n or 1000
        data = load_data("digits", n, device=device)
        what = f"digits (1x8x8), n = {n}"
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    print(
        f"{what}; device {device} ({where}), torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"precision {args.precision}, median of {args.repeats} epochs after {args.warmup} warm-up"
    )

    probed = [m + PROBED for m in methods] if args.probe else []
    rows = {name: prepare(name, data, args, device) for name in (*BASELINES, *methods, *probed)}
    time_round_robin(rows, device, args.warmup, args.repeats)
    base = rows[SUPERVISED]
    unit = {
        key: rows[name]["seconds"]
        for key, name in (("S", SUPERVISED), ("T", SUPERVISED_TEACHER), ("s", FORWARD_STUDENT), ("t", FORWARD_TEACHER))
    }  # one pass over the n examples of each kind
    header = (
        f"{'method':<15} {'passes':>6} {'steps':>6} {'steps/s':>9} {'images/s':>10} {'ms/epoch':>10} "
        f"{'step/sup.step':>13} {'epoch/sup.epoch':>15} {'sum of passes':>13} {'measured/sum':>12}"
    )
    print(f"batch size {base['batch']}; a pass is {math.ceil(n / base['batch'])} steps")
    print(header)
    print("-" * len(header))
    for method, row in rows.items():
        steps_per_second = row["steps"] / row["seconds"]
        images_per_second = row["passes"] * n / row["seconds"]
        step_ratio = (row["seconds"] / row["steps"]) / (base["seconds"] / base["steps"])
        epoch_ratio = row["seconds"] / base["seconds"]
        predicted = expected = ""
        if method in COST_MODEL:
            total = sum(count * unit[kind] for kind, count in cost_model(method, row).items())
            predicted = f"{total / base['seconds']:.2f}"
            expected = f"{row['seconds'] / total:.2f}"
        print(
            f"{method:<15} {row['passes']:>6} {row['steps']:>6} {steps_per_second:>9.1f} {images_per_second:>10.0f} "
            f"{1000 * row['seconds']:>10.1f} {step_ratio:>13.2f} {epoch_ratio:>15.2f} {predicted:>13} {expected:>12}"
        )
    print(
        "sum of passes: the epoch predicted from the supervised and forward-only rows (COST_MODEL), in supervised "
        "epochs; measured/sum near 1 means an epoch costs about the sum of its players' passes"
    )
    if probed:
        print("\ngradient probes: a probed epoch against the same epoch unprobed (same run, same machine)")
        for method in methods:
            ratio = rows[method + PROBED]["seconds"] / rows[method]["seconds"]
            print(f"{method:<15} probed/unprobed {ratio:.2f}")


if __name__ == "__main__":
    main()
