"""The robust-distillation commands of ``advdist-lab`` (DFARD ``001_...``, DERD ``002_...``)::

    advdist-lab robust-teacher --dataset digits --method pgd-at --out runs/robust-teacher   # adversarial training
    advdist-lab robust-teacher --dataset cifar10 --checkpoint model.pt --arch wrn-34-10       # import your own
    advdist-lab robust-eval --model runs/robust-teacher/teacher.pt --out runs/eval           # DFARD Table 1 row
    advdist-lab dfard --method dfard --teacher runs/robust-teacher/teacher.pt --out runs/dfard

Parsers are added to the main parser by :func:`add_robust_parsers`; :func:`run_robust` runs one of these commands
(``None`` for any other). Errors follow :mod:`advdist_lab.cli`: a bad value is a ``ValueError`` (exit status 2).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

ROBUST_COMMANDS: dict[str, object] = {}

_TEACHER_HELP = {
    "dataset": "digits (offline default), cifar10 (torchvision, needs a network once) or cifar10-random (noise)",
    "method": "pgd-at (Madry et al.), trades (Zhang et al. 2019) or natural (plain cross-entropy: DERD's natural "
    "teacher)",
    "arch": "digits-cnn, digits-small, resnet18 or wrn-<depth>-<widen>",
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
_IMPORT_OPTIONS = ("dataset", "arch", "final_attacks", "test_size", "seed", "device")


def _number(text: str) -> float:
    """A float, also written as a fraction such as ``8/255``."""
    numerator, slash, denominator = text.partition("/")
    try:
        return float(numerator) / float(denominator) if slash else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (or a fraction such as 8/255)") from None


def _attack_list(text: str) -> tuple[str, ...]:
    if text.strip().lower() in ("", "none"):
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (got {text!r})")


def option_type(field: dataclasses.Field):
    """The argparse ``type`` of a config field: attack lists, booleans, ints, numbers (``8/255`` too), strings.
    Shared by the robust commands here and in :mod:`advdist_lab.cli_dfard`."""
    annotation = str(field.type)
    if field.name in ("eval_attacks", "final_attacks") or "tuple" in annotation:
        return _attack_list
    if "bool" in annotation:
        return _parse_bool
    if "int" in annotation:
        return int
    if "float" in annotation:
        return _number
    return str


def _add_teacher_parser(commands: argparse._SubParsersAction) -> None:
    from .robust.teacher import DATASET_DEFAULTS, RobustTeacherConfig

    parser = commands.add_parser(
        "robust-teacher",
        help="train a robust (PGD-AT, TRADES) or natural teacher for DFARD/DERD, or import your own checkpoint",
        description="Adversarially train a teacher (checkpoint every epoch, --resume continues), evaluate it under "
        "DFARD's attacks and write OUT/teacher.pt and OUT/result.json. With --checkpoint FILE --arch ARCH, import a "
        "teacher you trained elsewhere (e.g. RSLAD's WRN-34-10) instead: it is evaluated and written the same way.",
    )
    digits = DATASET_DEFAULTS["digits"]
    for field in dataclasses.fields(RobustTeacherConfig):
        default = digits.get(field.name, field.default)
        if field.name == "arch":
            default = "the dataset's (digits-cnn on digits, wrn-34-10 on cifar10)"
        elif isinstance(default, tuple):
            default = ",".join(default) or "none"
        text = _TEACHER_HELP.get(field.name, field.name.replace("_", " "))
        suffix = "" if "(default:" in text else f" (default: {default}{' on digits' if field.name in digits else ''})"
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=option_type(field),
            default=argparse.SUPPRESS,
            help=text + suffix,
        )
    parser.add_argument(
        "--checkpoint",
        default=None,
        metavar="FILE",
        help="import this checkpoint (ours, or a plain state dict with --arch) instead of training",
    )
    parser.add_argument(
        "--out", default=None, help="run folder (default: runs/robust-teacher-<dataset>-<method>-seed<seed>)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_threads(parser)


def _add_eval_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "robust-eval",
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
        type=_attack_list,
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
    _add_threads(parser)


def _add_threads(parser: argparse.ArgumentParser) -> None:
    from .cli import _add_threads as add

    add(parser)


def add_robust_parsers(commands: argparse._SubParsersAction) -> None:
    """Add the robust commands' subparsers to ``commands``."""
    _add_teacher_parser(commands)
    _add_eval_parser(commands)


def run_robust(args: argparse.Namespace) -> int | None:
    """Run ``args.command`` when it is a robust command and return its exit status; ``None`` otherwise."""
    runner = ROBUST_COMMANDS.get(args.command)
    if runner is None:
        return None
    return runner(args)  # type: ignore[operator]


def _table(name: str, result: dict, first_column: str) -> str:
    from .robust.attacks import format_table1

    return format_table1({name: result}, first_column=first_column)


def _robust_teacher(args: argparse.Namespace) -> int:
    from .cli import _set_threads
    from .robust.teacher import RobustTeacherConfig, import_teacher, train_robust_teacher

    names = {f.name for f in dataclasses.fields(RobustTeacherConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    progress = not args.no_progress
    if args.checkpoint is not None:
        extra = sorted(set(values) - set(_IMPORT_OPTIONS))
        if extra:
            flags = ", ".join("--" + name.replace("_", "-") for name in extra)
            raise ValueError(
                f"{flags}: --checkpoint imports a trained teacher, so it takes only --dataset, --arch, "
                "--final-attacks, --test-size, --seed and --device"
            )
        dataset = values.get("dataset", "digits")
        _set_threads(args, dataset)
        arch = values.get("arch")
        out = args.out or f"runs/robust-teacher-{dataset}-imported-{arch or Path(args.checkpoint).stem}"
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
            progress=progress,
        )
        print(
            f"imported {result['arch']} teacher on {dataset} from {args.checkpoint}: clean {result['clean']:.4f}, "
            f"average robust {result['average']:.4f} on {result['n_test']} test images, "
            f"{result['wall_seconds']:.1f} s on {result['device']}; {Path(out) / 'result.json'}"
        )
        print(_table(f"{result['arch']} imported", result, "teacher"))
        return 0
    config = RobustTeacherConfig(**values)
    _set_threads(args, config.dataset)
    out = args.out or f"runs/robust-teacher-{config.dataset}-{config.method}-seed{config.seed}"
    result = train_robust_teacher(config, out, resume=args.resume, progress=progress)
    print(
        f"{config.method} teacher ({config.arch}) on {config.dataset}, seed {config.seed}: clean "
        f"{result['clean']:.4f}, average robust {result['average']:.4f} on {result['n_test']} test images after "
        f"{len(result['history'])} epochs, {result['wall_seconds']:.1f} s on {result['device']}; "
        f"{Path(out) / 'result.json'}"
    )
    print(_table(f"{config.arch} {config.method}", result, "teacher"))
    return 0


def _robust_eval(args: argparse.Namespace) -> int:
    from .cli import _set_threads
    from .environment import resolve_device
    from .robust.teacher import _infer_dataset, evaluate_model, load_teacher

    dataset = args.dataset
    if dataset is None:  # the thread count depends on the dataset: read it from the model
        _, info = load_teacher(args.model, arch=args.arch, device="cpu")
        dataset = _infer_dataset(info)
    resolve_device(args.device)
    _set_threads(args, dataset)
    result = evaluate_model(
        args.model,
        args.out,
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
    written = f"; {Path(args.out) / 'result.json'}" if args.out else ""
    print(
        f"{config['model']} ({config['arch']}) on {config['dataset']}: {result['n_test']} test images, "
        f"{result['wall_seconds']:.1f} s on {result['device']}{written}"
    )
    print(_table(Path(args.model).name or str(args.model), result, "model"))
    return 0


ROBUST_COMMANDS["robust-teacher"] = _robust_teacher
ROBUST_COMMANDS["robust-eval"] = _robust_eval
