"""``advdist-lab robust-teacher`` and ``robust-eval``: the robust teachers of DFARD (``001_...``) and DERD
(``002_...``) and DFARD Table 1's row of any model::

    advdist-lab robust-teacher --dataset digits --method pgd-at --out runs/robust-teacher   # adversarial training
    advdist-lab robust-teacher --dataset cifar10 --checkpoint model.pt --arch wrn-34-10       # import your own
    advdist-lab robust-eval --model runs/robust-teacher/teacher.pt --out runs/eval           # DFARD Table 1 row

Every field of :class:`~advdist_lab.robust.teacher.RobustTeacherConfig` is an option of ``robust-teacher``, its
help showing the digits default (:data:`~advdist_lab.robust.teacher.DATASET_DEFAULTS`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..robust.teacher import DATASET_DEFAULTS, RobustTeacherConfig
from .common import add_run_options, add_threads, out_folder, set_threads
from .options import add_config_options, name_list, option_values

TEACHER_HELP = {
    "dataset": "digits (offline default), cifar10 (torchvision, needs a network once) or cifar10-random (noise)",
    "method": "pgd-at (Madry et al.), trades (Zhang et al. 2019) or natural (plain cross-entropy: DERD's natural "
    "teacher)",
    "arch": "digits-cnn, digits-small, resnet18 or wrn-<depth>-<widen> (default: the dataset's (digits-cnn on "
    "digits, wrn-34-10 on cifar10))",
    "epochs": "training epochs",
    "batch_size": "minibatch size",
    "lr": "initial learning rate (cosine schedule to 0 over all steps)",
    "optimizer": "sgd or adam",
    "momentum": "SGD momentum",
    "weight_decay": "weight decay (L2)",
    "eps": "L_inf radius of the training attack in pixel units of [0, 1] images (a number or a fraction: 8/255)",
    "steps": "steps of the training attack",
    "step_size": "step of the training attack (a number or a fraction: 2/255)",
    "trades_beta": "TRADES' weight of KL(p(x) || p(x_adv))",
    "augment": "none or crop-flip (random 4-pixel crop and horizontal flip)",
    "n_train": "a stratified subset of the training pool (default: all of it)",
    "subset_seed": "seed of that subset",
    "test_size": "test images of the final evaluation (default: the whole test split)",
    "eval_size": "test images evaluated after every epoch",
    "eval_attacks": "comma-separated attacks evaluated after every epoch (none: clean accuracy only)",
    "final_attacks": "comma-separated attacks of the final evaluation among fgsm,pgd_s,pgd_t,cw_inf,autoattack",
    "seed": "seed of the initialisation, shuffling, attack starts and evaluation",
    "device": "auto, cpu, cuda, cuda:N or mps",
    "precision": "auto (bf16 autocast on CUDA, fp32 elsewhere), fp32 or bf16",
}
"""The help of each :class:`RobustTeacherConfig` option."""

IMPORT_OPTIONS = ("dataset", "arch", "final_attacks", "test_size", "seed", "device")
"""The config options that ``robust-teacher --checkpoint`` (an import, no training) takes."""


def add_teacher_parser(commands: argparse._SubParsersAction, name: str) -> None:
    parser = commands.add_parser(
        name,
        help="train a robust (PGD-AT, TRADES) or natural teacher for DFARD/DERD, or import your own checkpoint",
        description="Adversarially train a teacher (checkpoint every epoch, --resume continues), evaluate it under "
        "DFARD's attacks and write OUT/teacher.pt and OUT/result.json. With --checkpoint FILE --arch ARCH, import a "
        "teacher you trained elsewhere (e.g. RSLAD's WRN-34-10) instead: it is evaluated and written the same way.",
    )
    add_config_options(
        parser,
        RobustTeacherConfig,
        texts=TEACHER_HELP,
        defaults=DATASET_DEFAULTS["digits"],
        where=" on digits",
        quote=False,
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        metavar="FILE",
        help="import this checkpoint (ours, or a plain state dict with --arch) instead of training",
    )
    add_run_options(parser, "run folder (default: runs/robust-teacher-<dataset>-<method>-seed<seed>)")


def add_eval_parser(commands: argparse._SubParsersAction, name: str) -> None:
    parser = commands.add_parser(
        name,
        help="DFARD Table 1 accuracies (Clean, FGSM, PGD_S, PGD_T, CW_inf, AA) of a model",
        description="Evaluate a model on the test split of its dataset under the attacks of DFARD Table 1 and "
        "print the row; with --out write OUT/result.json.",
    )
    parser.add_argument(
        "--model",
        required=True,
        help="a run folder (robust-teacher, dfard), a model file of ours (teacher.pt, student.pt) or a plain state "
        "dict (then --arch and --dataset)",
    )
    parser.add_argument("--dataset", default=None, help="digits, cifar10 or cifar10-random (default: the model's own)")
    parser.add_argument("--arch", default=None, help="the architecture of a plain state dict")
    parser.add_argument(
        "--attacks",
        type=name_list,
        default=None,
        help="comma-separated attacks among fgsm,pgd_s,pgd_t,cw_inf,autoattack (default: all on digits, all but "
        "autoattack on CIFAR)",
    )
    parser.add_argument("--test-size", type=int, default=None, help="first N test images (default: all)")
    parser.add_argument("--batch-size", type=int, default=256, help="evaluation batch size (default: 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the attacks' random starts (default: 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--out", default=None, help="write OUT/result.json")
    parser.add_argument("--resume", action="store_true", help="print the finished evaluation in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_threads(parser)


def _table(name: str, result: dict, first_column: str) -> str:
    from ..robust.attacks import format_table1

    return format_table1({name: result}, first_column=first_column)


def _import_teacher(args: argparse.Namespace, values: dict) -> int:
    """``robust-teacher --checkpoint FILE``: evaluate and write a teacher trained elsewhere."""
    from ..robust.teacher import import_teacher

    extra = sorted(set(values) - set(IMPORT_OPTIONS))
    if extra:
        flags = ", ".join("--" + name.replace("_", "-") for name in extra)
        raise ValueError(
            f"{flags}: --checkpoint imports a trained teacher, so it takes only --dataset, --arch, "
            "--final-attacks, --test-size, --seed and --device"
        )
    dataset = values.get("dataset", "digits")
    set_threads(args, dataset)
    arch = values.get("arch")
    out = out_folder(args.out, f"runs/robust-teacher-{dataset}-imported-{arch or Path(args.checkpoint).stem}")
    result = import_teacher(
        args.checkpoint,
        out,
        dataset=dataset,
        arch=arch,
        final_attacks=values.get("final_attacks"),
        test_size=values.get("test_size"),
        seed=values.get("seed", 0),
        device=values.get("device", "auto"),
        resume=args.resume,
        progress=not args.no_progress,
    )
    print(
        f"imported {result['arch']} teacher on {dataset} from {args.checkpoint}: clean {result['clean']:.4f}, "
        f"average robust {result['average']:.4f} on {result['n_test']} test images, "
        f"{result['wall_seconds']:.1f} s on {result['device']}; {Path(out) / 'result.json'}"
    )
    print(_table(f"{result['arch']} imported", result, "teacher"))
    return 0


def run_teacher(args: argparse.Namespace) -> int:
    from ..robust.teacher import train_robust_teacher

    values = option_values(args, RobustTeacherConfig)
    if args.checkpoint is not None:
        return _import_teacher(args, values)
    config = RobustTeacherConfig(**values)
    set_threads(args, config.dataset)
    out = out_folder(args.out, f"runs/robust-teacher-{config.dataset}-{config.method}-seed{config.seed}")
    result = train_robust_teacher(config, out, resume=args.resume, progress=not args.no_progress)
    print(
        f"{config.method} teacher ({config.arch}) on {config.dataset}, seed {config.seed}: clean "
        f"{result['clean']:.4f}, average robust {result['average']:.4f} on {result['n_test']} test images after "
        f"{len(result['history'])} epochs, {result['wall_seconds']:.1f} s on {result['device']}; "
        f"{Path(out) / 'result.json'}"
    )
    print(_table(f"{config.arch} {config.method}", result, "teacher"))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from ..environment import resolve_device
    from ..robust.teacher import evaluate_model, infer_dataset, load_teacher

    out = out_folder(args.out)
    dataset = args.dataset
    if dataset is None:  # the thread count depends on the dataset: read it from the model
        _, info = load_teacher(args.model, arch=args.arch, device="cpu")
        dataset = infer_dataset(info)
    resolve_device(args.device)
    set_threads(args, dataset)
    result = evaluate_model(
        args.model,
        out,
        dataset=dataset,
        arch=args.arch,
        attacks=args.attacks,
        test_size=args.test_size,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        progress=not args.no_progress,
    )
    config = result["config"]
    written = f"; {Path(out) / 'result.json'}" if out else ""
    print(
        f"{config['model']} ({config['arch']}) on {config['dataset']}: {result['n_test']} test images, "
        f"{result['wall_seconds']:.1f} s on {result['device']}{written}"
    )
    print(_table(Path(args.model).name or str(args.model), result, "model"))
    return 0
