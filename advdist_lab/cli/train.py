"""``advdist-lab train``, ``table1`` and ``sweep``: training runs of :class:`~advdist_lab.methods.TrainConfig`.

::

    advdist-lab train --method adim --dataset digits --n-train 100 --epochs 50 --seed 0 --device auto --out runs/x
    advdist-lab train ... --out runs/x --resume        # continue an interrupted run (or print a finished one)
    advdist-lab table1 --dataset digits --seeds 5 --out runs/t1
    advdist-lab sweep --preset fig3 --seeds 3 --sizes 100,500    # TPAMI Fig. 3 (then --preset fig6: Fig. 6)
    advdist-lab sweep --method adim --grid nu=0.01,0.1,1 --grid mu=0,0.01 --seeds 2 --out runs/s

Every field of :class:`~advdist_lab.methods.TrainConfig` is an option (``--omega-r``, ``--nu``, ``--tau-start``,
``--k-d``...), made by :func:`advdist_lab.cli.options.add_config_options`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..experiments.presets import SWEEP_PRESETS
from ..methods.config import METHODS, TrainConfig
from .common import add_run_options, add_workers, out_folder, parse_list, set_threads
from .options import add_config_options, option_values

MEMBERS_HELP = (
    "at most K runs that differ only in their seeds (and, in a sweep, weights such as nu, mu, omega) train as one "
    "batched model, each in its own run folder with its own result.json (default: 32 on digits and synthetic data, "
    "8 on the tag data, 1 elsewhere; 1: one run at a time, as before; CIFAR-10 runs always train alone)"
)


def add_members(parser: argparse.ArgumentParser) -> None:
    """``--members K`` of the commands that train many runs (:func:`advdist_lab.runs.executors.run_configs`)."""
    parser.add_argument("--members", type=int, default=None, metavar="K", help=MEMBERS_HELP)


def checked_members(args: argparse.Namespace) -> int | None:
    """``--members`` as given (``None``: the default), refused in one line unless a positive integer."""
    if args.members is not None and args.members < 1:
        raise ValueError(f"--members must be a positive integer (got {args.members})")
    return args.members


TRAIN_HELP = {
    "method": f"one of {', '.join(METHODS)}",
    "dataset": "digits (offline default), mnist or fashion-mnist (real data: advdist-lab data fetch, no network "
    "needed), cifar10 (torchvision, needs a network once) or synthetic",
    "view": "the student's input: full (the image: model compression) or, the teacher and the discriminator still "
    "seeing the image (the privileged setting), lowres (2x2 average pooling), lowres4 (4x4) or crop (the top half); "
    "synthetic data: full or lowres",
    "n_train": "number of labelled training examples (a stratified subset)",
    "subset_seed": "seed of the stratified subset (fixed across the seeds of a table, as the paper)",
    "epochs": "epochs of the main loop",
    "seed": "seed of the players' initialisation and of all sampling",
    "device": "auto, cpu, cuda, cuda:N or mps",
    "precision": "auto (bf16 autocast on CUDA, fp32 elsewhere), fp32 or bf16",
    "batch_size": "minibatch size (default by n as the original code: 10, 50 or 100)",
    "k_d": "discriminator passes per epoch (Algorithm 1)",
    "k_t": "teacher passes per epoch",
    "k_s": "student passes per epoch",
    "teacher_pretrain_epochs": "supervised epochs of the teacher before the main loop",
    "student_pretrain_epochs": "supervised epochs of the student before the main loop (default 10 for NGAN/ADIB/ADIM)",
    "discriminator_pretrain_epochs": "epochs of the discriminator against the pretrained generators before the loop",
    "omega_r": "ADIM's weight of the real-data term (Eq. 6)",
    "omega_s": "weight of the student's adversarial term (Eq. 4, 6)",
    "omega_t": "weight of the teacher's adversarial term (Eq. 4, 6)",
    "nu": "weight of the student's distillation loss L_KD(p_t || p_s)",
    "mu": "weight of the teacher's distillation loss L_KD(p_s || p_t)",
    "upsilon": "weight of KL(p_r || p) inside L_KD (Eq. 2)",
    "tau_schedule": "Gumbel-Softmax temperature schedule: constant, exponential, linear or step",
    "estimator": "gradient estimator of the adversarial term: score, pathwise, straight_through or concrete_score",
    "baseline": "baseline of score and concrete_score: none or mean (leave-one-out batch mean)",
    "probe_gradients": "record the variance and cosine of the adversarial and distillation gradients per epoch "
    "(grad_var_adversarial, grad_var_distillation, grad_cosine and teacher_... in the history; one extra backward "
    "pass per step)",
    "eval_every": "evaluate on the test split after every N-th epoch and after the last (the final accuracy is the "
    "same; the history's other epochs hold the losses only)",
    "data_file": "an .npz of your own tag features (arrays image, text, tags; see advdist_lab/data/tags.py), for the "
    "tags-popular / tags-random datasets instead of the generated data",
}
"""The help of each :class:`TrainConfig` option (the others read as the field's name in words)."""


def add_train_options(parser: argparse.ArgumentParser, skip: tuple[str, ...] = (), **given) -> None:
    """The :class:`TrainConfig` options with :data:`TRAIN_HELP` (``given``: more of ``add_config_options``)."""
    texts = {**TRAIN_HELP, **given.pop("texts", {})}
    add_config_options(parser, TrainConfig, texts=texts, skip=skip, unset="method default", **given)


def add_train_parser(commands: argparse._SubParsersAction, name: str) -> None:
    train = commands.add_parser(name, help="train one method and write OUT/result.json")
    add_train_options(train)
    add_run_options(train, "run folder (default: runs/<method>-<dataset>-n<n>-seed<seed>)")


def add_table1_parser(commands: argparse._SubParsersAction, name: str) -> None:
    table = commands.add_parser(name, help="TPAMI Table 1: every method at every n over several seeds")
    table.add_argument("--seeds", type=int, default=5, help="seeds per method and n (default: 5)")
    table.add_argument("--methods", default=None, help="comma-separated methods (default: the seven of Table 1)")
    table.add_argument("--sizes", default=None, help="comma-separated training-set sizes (default: the dataset's)")
    table.add_argument(
        "--out",
        default=None,
        help="folder of the runs and tables (default: runs/table1-<dataset>, runs/table1-<dataset>-<view> for a view "
        "other than full)",
    )
    add_workers(table)
    add_members(table)
    add_train_options(table, skip=("method", "n_train", "seed"))


def add_sweep_parser(commands: argparse._SubParsersAction, name: str) -> None:
    sweep = commands.add_parser(
        name,
        help="hyperparameter sweeps: TPAMI Figs. 3, 6 and 8 (--preset), or a grid of any options (--grid)",
        description="Train every point of a grid for several seeds, each in OUT/<overrides>/seed=<k>/ (finished "
        "points are read back, interrupted ones resumed), print mean ± std per point and write OUT/sweep.json.",
    )
    sweep.add_argument(
        "--preset",
        choices=tuple(SWEEP_PRESETS),
        default=None,
        help="; ".join(f"{name}: {preset.help}" for name, preset in SWEEP_PRESETS.items())
        + ". All use OUT=runs/sweep-ablation-<dataset> by default, so fig6 reuses fig3's mu runs",
    )
    sweep.add_argument(
        "--grid",
        action="append",
        default=None,
        metavar="NAME=V1,V2,...",
        help="an axis of the grid: a TrainConfig field and its values (repeat for more axes: their cartesian "
        "product is swept)",
    )
    sweep.add_argument("--seeds", type=int, default=None, help="seeds per point (default: 3; a preset's own: fig8 2)")
    sweep.add_argument(
        "--sizes",
        default=None,
        help="comma-separated training-set sizes of a preset (default: 100,500; fig8: the whole tag pool)",
    )
    sweep.add_argument(
        "--out",
        default=None,
        help="folder of the runs (default: runs/sweep-ablation-<dataset> for the presets, "
        "runs/sweep-<method>-<dataset> otherwise)",
    )
    add_workers(sweep)
    add_members(sweep)
    add_train_options(sweep, skip=("seed",))


def run_train(args: argparse.Namespace) -> int:
    from ..runs.training import train

    config = TrainConfig.from_dict(option_values(args, TrainConfig))
    config.resolved()
    set_threads(args, config.dataset)
    out = out_folder(args.out, f"runs/{config.method}-{config.dataset}-n{config.n_train}-seed{config.seed}")
    result = train(config, out, resume=args.resume, progress=not args.no_progress)
    teacher = result.get("teacher_test_accuracy")
    teacher_text = f", teacher {teacher:.4f}" if teacher is not None else ""
    print(
        f"{config.method} on {config.dataset} (n = {config.n_train}, seed {config.seed}): student test accuracy "
        f"{result['test_accuracy']:.4f}{teacher_text} after {len(result['history'])} epochs, "
        f"{result['wall_seconds']:.1f} s on {result['device']}; {Path(out) / 'result.json'}"
    )
    return 0


def run_table1(args: argparse.Namespace) -> int:
    from ..experiments.table1 import TABLE1_METHODS, run_table1

    members = checked_members(args)
    overrides = option_values(args, TrainConfig, skip=("method", "n_train", "seed"))
    dataset = overrides.pop("dataset", "digits")
    methods = parse_list(args.methods, "--methods", "method") or TABLE1_METHODS
    sizes = parse_list(args.sizes, "--sizes", "size", int)
    set_threads(args, dataset)
    view = overrides.get("view", "full")
    out = out_folder(args.out, f"runs/table1-{dataset}" + ("" if view == "full" else f"-{view}"))
    outcome = run_table1(
        dataset,
        args.seeds,
        out,
        methods=methods,
        sizes=sizes,
        progress=not args.no_progress,
        jobs=args.jobs,
        members=members,
        **overrides,
    )
    print(outcome["markdown"])
    print(f"written: {Path(out) / 'table1.csv'}, {Path(out) / 'table1.md'}")
    return 0


def _parse_value(name: str, text: str, annotation: str) -> object:
    if "None" in annotation and text.lower() == "none":
        return None
    if annotation == "bool":
        if text.lower() not in ("true", "false"):
            raise ValueError(f"--grid {name}: {text!r} is not true or false")
        return text.lower() == "true"
    kind = int if "int" in annotation else float if "float" in annotation else str
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"--grid {name}: {text!r} is not {'an' if kind is int else 'a'} {kind.__name__}") from None


def parse_grid(specs: list[str]) -> dict[str, list]:
    """``--grid NAME=V1,V2,...`` options as the axes of :func:`advdist_lab.runs.sweeps.grid`, typed by the field."""
    from ..runs.sweeps import check_field

    annotations = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}
    axes: dict[str, list] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip().replace("-", "_")
        parts = [part.strip() for part in values.split(",")]
        if not sep or not name or not values.strip() or "" in parts:
            raise ValueError(f"--grid must look like NAME=V1,V2,... with no empty value (got {spec!r})")
        check_field(name, "--grid")
        if name in axes:
            raise ValueError(f"--grid {name} is given twice; list all its values in one --grid")
        axes[name] = [_parse_value(name, part, annotations[name]) for part in parts]
    return axes


def _run_preset(
    args: argparse.Namespace, values: dict, seeds: int | None
) -> tuple[Path, list, list, dict, TrainConfig]:
    """``sweep --preset NAME`` (:data:`~advdist_lab.experiments.presets.SWEEP_PRESETS`): the output folder, points,
    summary, figure and base config."""
    from ..experiments import ablation, presets, tag_figures

    if args.grid:
        raise ValueError("--grid cannot be combined with --preset (the preset sets the grid)")
    if values.get("method", "adim") != "adim":
        raise ValueError(f"--preset {args.preset} sweeps ADIM: --method must be adim (or left out)")
    values.pop("method", None)
    if "n_train" in values:
        raise ValueError("--preset takes its training-set sizes from --sizes, not --n-train")
    sizes = parse_list(args.sizes, "--sizes", "size", int) or None
    dataset = presets.preset_dataset(args.preset, values)
    out = Path(out_folder(args.out, presets.default_out(args.preset, values)))
    set_threads(args, dataset)
    outcome = presets.run_preset(
        args.preset, out, sizes, seeds, jobs=args.jobs, progress=not args.no_progress, **values
    )
    figure = {k: outcome[k] for k in ("rows", "baseline") if k in outcome}
    shared = tag_figures.fig8_overrides(**values) if args.preset == "fig8" else {**values, "dataset": dataset}
    return out, outcome["points"], outcome["summary"], figure, ablation.base_config(**shared)


def run_sweep(args: argparse.Namespace) -> int:
    from ..experiments import presets
    from ..files import atomic_write_json
    from ..runs.ensemble.plan import resolve_members
    from ..runs.folder import RunFolder
    from ..runs.sweeps import grid, points, run_sweep, summarize, to_markdown

    members = checked_members(args)
    values = option_values(args, TrainConfig, skip=("seed",))
    seeds = args.seeds
    document: dict = {"preset": args.preset}
    if args.preset is not None and members is not None:
        raise ValueError("--members applies to --grid sweeps; a --preset trains with the default (32 on digits)")
    if args.preset is None:
        if args.sizes is not None:
            raise ValueError("--sizes applies to --preset; sweep sizes with --grid n_train=100,500")
        if not args.grid:
            raise ValueError(f"give --preset {'|'.join(SWEEP_PRESETS)} or at least one --grid NAME=V1,V2,...")
        base = TrainConfig.from_dict(values)
        sweep_points = points(base, grid(parse_grid(args.grid)), 3 if seeds is None else seeds)
        set_threads(args, base.dataset)
        out = Path(out_folder(args.out, f"runs/sweep-{base.method}-{base.dataset}"))
    else:
        out = Path(out_folder(args.out, presets.default_out(args.preset, values)))
    # the folder stays locked until sweep.json is written: a second sweep into it is refused, not interleaved
    with RunFolder(out, nested=True):
        if args.preset is not None:
            out, sweep_points, summary, document["figure"], base = _run_preset(args, values, seeds)
        else:
            results = run_sweep(
                sweep_points,
                out,
                jobs=args.jobs,
                progress=not args.no_progress,
                description=f"sweep {base.method}",
                members=resolve_members(base.dataset, members),
            )
            summary = summarize(sweep_points, results)
        document.update(
            base={k: v for k, v in base.to_dict().items() if k != "seed"},
            seeds=sorted({p.seed for p in sweep_points}),
            points=[{"folder": p.folder, "overrides": p.overrides, "seed": p.seed} for p in sweep_points],
            rows=summary,
        )
        print(to_markdown(summary))
        atomic_write_json(out / "sweep.json", document)
        written = [out / "sweep.json"]
        if args.preset is not None:
            atomic_write_json(out / f"sweep-{args.preset}.json", document)
            written.append(out / f"sweep-{args.preset}.json")
    print(f"written: {', '.join(map(str, written))}")
    return 0
