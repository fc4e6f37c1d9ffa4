"""How long a DFARD epoch takes: Algorithm 1's blocks on CIFAR-10-shaped data, against DFARD Table 2.

Run: .venv/bin/python bench/dfard_speed.py --device cuda                   # WRN-34-10 teacher, ResNet-18 student
     .venv/bin/python bench/dfard_speed.py --device cpu --teacher wrn-16-4 --batch 32 --blocks 2   # a CPU smoke
     .venv/bin/python bench/dfard_speed.py --dataset digits --device cpu   # the digits defaults

The teacher is a randomly initialised network of the named architecture (the time of a step does not depend on
its weights) saved to a temporary file; the data are ``cifar10-random`` (uniform noise of CIFAR-10's shape, see
:mod:`advdist_lab.robust.data`), since only the test split is read and only for evaluation, which is not timed.
The script times ``--blocks`` blocks of Algorithm 1 (one block: ``tg`` generator steps and ``ts`` student steps
on PGD-10 adversarial examples, at batch ``--batch``) after one warm-up block, separately for the generation and
the distillation stage, and prints

* seconds per block and per stage, images per second through the distillation stage;
* seconds per epoch at ``--iterations`` blocks per epoch (our CIFAR default 50) and for the paper's 200 epochs;
* the ratio of the whole 200-epoch run (generation and distillation: DFARD's Table 2 times "the entire generation
  process" of a method, which trains the student too) to Table 2's 3.28 h on one RTX 3090.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from advdist_lab.environment import resolve_device
from advdist_lab.robust.data import load_robust_data
from advdist_lab.robust.dfard import DfardConfig, DfardDistiller
from advdist_lab.robust.models import build_robust_model, save_robust_model
from advdist_lab.robust.paper_tables import DFARD_TABLE2_HOURS
from advdist_lab.robust.runner import epoch_generator


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dataset", default="cifar10-random", choices=("cifar10-random", "digits"))
    parser.add_argument("--teacher", default=None, help="teacher architecture (default: wrn-34-10 / digits-cnn)")
    parser.add_argument("--student", default=None, help="student architecture (default: resnet18 / digits-small)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: the dataset's, 256 / 128)")
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks (default: 5)")
    parser.add_argument("--iterations", type=int, default=None, help="blocks per epoch (default: the dataset's)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cifar = args.dataset != "digits"
    teacher_arch = args.teacher or ("wrn-34-10" if cifar else "digits-cnn")
    data = load_robust_data(args.dataset, n_train=10, test_size=10)
    folder = Path(tempfile.mkdtemp())
    teacher = build_robust_model(teacher_arch, 10, data.image_shape, data.mean, data.std)
    save_robust_model(folder / "teacher.pt", teacher, arch=teacher_arch, num_classes=10, image_shape=data.image_shape)
    changes = {"device": str(device), "teacher": str(folder / "teacher.pt"), "dataset": args.dataset}
    if args.student:
        changes["student_arch"] = args.student
    if args.batch:
        changes["batch_size"] = args.batch
    config = DfardConfig(**changes).resolved()
    iterations = args.iterations or config.iterations
    distiller = DfardDistiller(config, data, device)
    rng = epoch_generator(0, 1, 0, device)
    generation, distillation = [], []
    for block in range(args.blocks + 1):
        _sync(device)
        started = time.perf_counter()
        for _ in range(config.tg):
            distiller.generation_step(rng)
        _sync(device)
        middle = time.perf_counter()
        for _ in range(config.ts):
            distiller.distillation_step(rng)
        _sync(device)
        if block:  # the first block warms up
            generation.append(middle - started)
            distillation.append(time.perf_counter() - middle)
    gen, dis = statistics.median(generation), statistics.median(distillation)
    block_seconds = gen + dis
    epoch_seconds = block_seconds * iterations
    whole_hours = epoch_seconds * 200 / 3600
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(
        f"teacher {teacher_arch}, student {config.student_arch}, batch {config.batch_size}, tg {config.tg}, "
        f"ts {config.ts}, PGD-{config.train_steps}; median of {args.blocks} blocks"
    )
    print(f"generation stage:   {gen:8.3f} s per block ({config.tg} generator step(s))")
    print(
        f"distillation stage: {dis:8.3f} s per block ({config.ts} student steps, "
        f"{config.ts * config.batch_size / dis:.0f} images/s)"
    )
    print(f"one epoch of {iterations} blocks: {epoch_seconds:.1f} s")
    paper = DFARD_TABLE2_HOURS["CIFAR-10"]["Ours"]
    print(
        f"200 epochs: {whole_hours:.2f} h; DFARD Table 2 (RTX 3090, whole generation process on CIFAR-10): "
        f"{paper} h; ratio ours / paper = {whole_hours / paper:.2f}"
    )


if __name__ == "__main__":
    main()
