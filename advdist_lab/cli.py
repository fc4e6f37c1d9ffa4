"""The ``advdist-lab`` command.

::

    advdist-lab train --method adim --dataset digits --n-train 100 --epochs 50 --seed 0 --device auto --out runs/x
    advdist-lab train ... --out runs/x --resume        # continue an interrupted run (or print a finished one)
    advdist-lab table1 --dataset digits --seeds 5 --out runs/t1
    advdist-lab sweep --preset fig3 --seeds 3 --sizes 100,500    # TPAMI Fig. 3 (then --preset fig6: Fig. 6)
    advdist-lab sweep --method adim --grid nu=0.01,0.1,1 --grid mu=0,0.01 --seeds 2 --out runs/s
    advdist-lab tags --method adim --label-set popular --seed 0 --out runs/t   # TPAMI Sec. 5.2, one run
    advdist-lab table4 --seeds 3 --out runs/table4                               # TPAMI Table 4

Every field of :class:`advdist_lab.methods.TrainConfig` is an option (``--omega-r``, ``--nu``, ``--tau-start``,
``--k-d``...). Bad values fail before training with one line naming the constraint (exit status 2); a run that
fails while training (a non-finite loss, data that cannot be downloaded) exits with status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from . import __version__
from .methods.config import METHODS, TrainConfig

HELP = {
    "method": f"one of {', '.join(METHODS)}",
    "dataset": "digits (offline default), mnist, cifar10 (torchvision, needs a network once) or synthetic",
    "view": "the student's input: full (model compression) or lowres (privileged features)",
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
    "estimator": "gradient estimator of the adversarial term: score, pathwise or straight_through",
    "baseline": "score-function baseline: none or mean (leave-one-out batch mean)",
    "probe_gradients": "record the variance and cosine of the adversarial and distillation gradients per epoch "
    "(grad_var_adversarial, grad_var_distillation, grad_cosine and teacher_... in the history; one extra backward "
    "pass per step)",
    "data_file": "an .npz of your own tag features (arrays image, text, tags; see advdist_lab/data/tags.py), for the "
    "tags-popular / tags-random datasets instead of the generated data",
}


def _type_of(field: dataclasses.Field):
    annotation = str(field.type)
    if "int" in annotation:
        return int
    if "float" in annotation:
        return float
    return str


def _add_config_options(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        if field.name == "extra" or field.name in skip:
            continue
        default = getattr(defaults, field.name)
        text = HELP.get(field.name, field.name.replace("_", " "))
        if str(field.type) == "bool":
            parser.add_argument(
                "--" + field.name.replace("_", "-"),
                dest=field.name,
                action="store_true",
                default=argparse.SUPPRESS,
                help=text,
            )
            continue
        suffix = "method default" if default is None else repr(default)
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=_type_of(field),
            default=argparse.SUPPRESS,
            help=f"{text} (default: {suffix})",
        )


def _config_values(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> dict:
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"extra"} - set(skip)
    return {k: v for k, v in vars(args).items() if k in names}


def _add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: 1 for digits and synthetic on the CPU, where the models are so small "
        "that a second thread costs more than it brings; torch's default otherwise)",
    )


def _set_threads(args: argparse.Namespace, dataset: str) -> None:
    from .environment import configure_threads

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1 (got {args.threads})")
    configure_threads(dataset, getattr(args, "device", "auto"), args.threads)


def _add_workers(parser: argparse.ArgumentParser) -> None:
    """--no-progress, --jobs and --threads: the options of the commands that train many runs."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes (default: one per CPU core for digits and synthetic on the CPU, else 1)",
    )
    _add_threads(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="advdist-lab", description="Adversarial distillation: train and reproduce.")
    parser.add_argument("--version", action="version", version=f"advdist-lab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one method and write OUT/result.json")
    _add_config_options(train)
    train.add_argument("--out", default=None, help="run folder (default: runs/<method>-<dataset>-n<n>-seed<seed>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_threads(train)

    table = commands.add_parser("table1", help="TPAMI Table 1: every method at every n over several seeds")
    table.add_argument("--seeds", type=int, default=5, help="seeds per method and n (default: 5)")
    table.add_argument("--methods", default=None, help="comma-separated methods (default: the seven of Table 1)")
    table.add_argument("--sizes", default=None, help="comma-separated training-set sizes (default: the dataset's)")
    table.add_argument("--out", default=None, help="folder of the runs and tables (default: runs/table1-<dataset>)")
    _add_workers(table)
    _add_config_options(table, skip=("method", "n_train", "seed"))
    _add_sweep_parser(commands)
    _add_tag_parsers(commands)
    from .cli_dfard import add_dfard_parsers
    from .cli_robust import add_robust_parsers

    add_robust_parsers(commands)
    add_dfard_parsers(commands)
    return parser


def _add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="hyperparameter sweeps: TPAMI Figs. 3 and 6 (--preset), or a grid of any options (--grid)",
        description="Train every point of a grid for several seeds, each in OUT/<overrides>/seed=<k>/ (finished "
        "points are read back, interrupted ones resumed), print mean ± std per point and write OUT/sweep.json.",
    )
    sweep.add_argument(
        "--preset",
        choices=("fig3", "fig6"),
        default=None,
        help="fig3: ADIM's student against omega_r, omega_s, omega_t, nu and mu (TPAMI Fig. 3); fig6: the teacher "
        "against mu with mu = 0 as reference (Fig. 6). Both use OUT=runs/sweep-ablation-<dataset> by default, so "
        "fig6 reuses fig3's mu runs",
    )
    sweep.add_argument(
        "--grid",
        action="append",
        default=None,
        metavar="NAME=V1,V2,...",
        help="an axis of the grid: a TrainConfig field and its values (repeat for more axes: their cartesian "
        "product is swept)",
    )
    sweep.add_argument("--seeds", type=int, default=None, help="seeds per point (default: 3)")
    sweep.add_argument(
        "--sizes", default=None, help="comma-separated training-set sizes of a preset (default: 100,500)"
    )
    sweep.add_argument(
        "--out",
        default=None,
        help="folder of the runs (default: runs/sweep-ablation-<dataset> for the presets, "
        "runs/sweep-<method>-<dataset> otherwise)",
    )
    _add_workers(sweep)
    _add_config_options(sweep, skip=("seed",))


def _add_tag_parsers(commands: argparse._SubParsersAction) -> None:
    from .knn import DEFAULT_K, LABEL_SETS
    from .table4 import ALL_METHODS, TABLE4_METHODS

    features = (
        "an .npz of your own features (arrays image, text, tags and optionally split, tag_names; see "
        "advdist_lab.data.tags) instead of the generated YFCC-like data"
    )
    knn_k = f"neighbours that vote in KNN tag voting (default: {DEFAULT_K})"
    unweighted = "KNN: one vote per neighbour instead of votes weighted by cosine similarity"
    tags = commands.add_parser(
        "tags",
        help="image tag recommendation (TPAMI Sec. 5.2): train one method and write OUT/result.json",
        description="Train one method on the tag data (the student sees image features, the teacher and the "
        "discriminator image and text) and print the student's MAP, MRR, P@3, R@3, F@3 and NDCG@3. Epochs default "
        "to advdist_lab.methods.config.TAG_RUN_DEFAULTS and --n-train to the whole training pool.",
    )
    tags.add_argument(
        "--method",
        default="adim",
        help=f"knn (KNN tag voting, the paper's KVOTE) or one of {', '.join(ALL_METHODS[1:])} (default: adim)",
    )
    tags.add_argument(
        "--label-set", default="popular", help=f"{' or '.join(LABEL_SETS)}: the 200 most popular or 200 random tags"
    )
    tags.add_argument("--features", default=None, metavar="FILE.npz", help=features)
    tags.add_argument("--knn-k", type=int, default=None, help=knn_k)
    tags.add_argument("--knn-unweighted", action="store_true", help=unweighted)
    tags.add_argument("--out", default=None, help="run folder (default: runs/tags-<label set>-<method>-seed<seed>)")
    tags.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    tags.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_threads(tags)
    _add_config_options(tags, skip=("method", "dataset", "data_file", "view"))
    _tag_defaults_in_help(tags)

    table = commands.add_parser(
        "table4",
        help="TPAMI Table 4: image tag recommendation, every method on both label sets over several seeds",
        description="Train (or read back) every method x label set x seed, each in OUT/<label set>/<method>/"
        "seed<k>/ (pretrained teachers shared in OUT/teachers/), print the layout of TPAMI Table 4 with the "
        "paper's numbers beside ours and write OUT/table4.md, table4.csv and table4.json.",
    )
    table.add_argument("--seeds", type=int, default=3, help="seeds per method and label set (default: 3)")
    table.add_argument(
        "--methods",
        default=None,
        help=f"comma-separated methods among {', '.join(ALL_METHODS)} (default: {','.join(TABLE4_METHODS)})",
    )
    table.add_argument(
        "--label-sets",
        default=None,
        help=f"comma-separated label sets (default: {','.join(LABEL_SETS)}; with --features, popular only: a file "
        "holds one set of tags)",
    )
    table.add_argument("--features", default=None, metavar="FILE.npz", help=features)
    table.add_argument("--knn-k", type=int, default=None, help=knn_k)
    table.add_argument("--knn-unweighted", action="store_true", help=unweighted)
    table.add_argument("--out", default=None, help="folder of the runs and tables (default: runs/table4)")
    _add_workers(table)
    for action in table._actions:
        if action.dest == "jobs":
            action.help = "worker processes, each on one torch thread (default: one per CPU core on the CPU, else 1)"
    _add_config_options(table, skip=("method", "dataset", "seed", "data_file", "view"))
    _tag_defaults_in_help(table)


def _tag_defaults_in_help(parser: argparse.ArgumentParser) -> None:
    """The tag runs' own defaults (TAG_RUN_DEFAULTS, the whole pool) in the help of the options they change."""
    import re

    from .methods.config import TAG_RUN_DEFAULTS

    defaults = {**{k: repr(v) for k, v in TAG_RUN_DEFAULTS.items()}, "n_train": "the whole training pool"}
    for action in parser._actions:
        if action.dest == "student_pretrain_epochs" and action.dest in defaults:
            action.help = (
                f"supervised epochs of the student before the main loop (default: {defaults[action.dest]} for "
                "NGAN/ADIB/ADIM, else 0)"
            )
        elif action.dest in defaults and action.help:
            action.help = re.sub(r"\(default: [^)]*\)$", f"(default: {defaults[action.dest]})", action.help)


def _fail(message: str, status: int) -> int:
    print(f"advdist-lab: error: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .data import DatasetUnavailableError
    from .methods.loop import NonFiniteLossError

    try:
        from .cli_dfard import DFARD_COMMANDS
        from .cli_robust import run_robust

        if args.command in DFARD_COMMANDS:
            return DFARD_COMMANDS[args.command](args)
        status = run_robust(args)
        if status is not None:
            return status
        if args.command == "train":
            return _train(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "tags":
            return _tags(args)
        if args.command == "table4":
            return _table4(args)
        return _table1(args)
    except (DatasetUnavailableError, NonFiniteLossError) as error:
        return _fail(str(error), 1)
    except ValueError as error:
        return _fail(str(error), 2)
    except KeyboardInterrupt:
        return _fail("interrupted; the last checkpoint is kept (rerun with --resume)", 130)


def _train(args: argparse.Namespace) -> int:
    from .runs import train

    config = TrainConfig.from_dict(_config_values(args))
    config.resolved()
    _set_threads(args, config.dataset)
    out = args.out or f"runs/{config.method}-{config.dataset}-n{config.n_train}-seed{config.seed}"
    result = train(config, out, resume=args.resume, progress=not args.no_progress)
    teacher = result.get("teacher_test_accuracy")
    teacher_text = f", teacher {teacher:.4f}" if teacher is not None else ""
    print(
        f"{config.method} on {config.dataset} (n = {config.n_train}, seed {config.seed}): student test accuracy "
        f"{result['test_accuracy']:.4f}{teacher_text} after {len(result['history'])} epochs, "
        f"{result['wall_seconds']:.1f} s on {result['device']}; {Path(out) / 'result.json'}"
    )
    return 0


def _split(text: str | None, kind=str) -> tuple | None:
    if text is None:
        return None
    try:
        return tuple(kind(part.strip()) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"expected a comma-separated list of {kind.__name__} (got {text!r})") from None


def _table1(args: argparse.Namespace) -> int:
    from .table1 import run_table1
    from .tables import TABLE1_METHODS

    overrides = _config_values(args, skip=("method", "n_train", "seed"))
    dataset = overrides.pop("dataset", "digits")
    _set_threads(args, dataset)
    out = args.out or f"runs/table1-{dataset}"
    methods = _split(args.methods) or TABLE1_METHODS
    outcome = run_table1(
        dataset,
        args.seeds,
        out,
        methods=methods,
        sizes=_split(args.sizes, int),
        progress=not args.no_progress,
        jobs=args.jobs,
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
    """``--grid NAME=V1,V2,...`` options as the axes of :func:`advdist_lab.sweeps.grid`, typed by the field."""
    from .sweeps import check_field

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


def _sweep(args: argparse.Namespace) -> int:
    from .files import atomic_write_json
    from .sweeps import grid, points, run_sweep, summarize, to_markdown

    values = _config_values(args, skip=("seed",))
    seeds = 3 if args.seeds is None else args.seeds
    document: dict = {"preset": args.preset}
    if args.preset is not None:
        from . import ablation

        if args.grid:
            raise ValueError("--grid cannot be combined with --preset (the preset sets the grid)")
        if values.pop("method", "adim") != "adim":
            raise ValueError("--preset fig3 and fig6 sweep ADIM: --method must be adim (or left out)")
        if "n_train" in values:
            raise ValueError("--preset takes its training-set sizes from --sizes, not --n-train")
        sizes = _split(args.sizes, int) or ablation.FIG3_SIZES
        dataset = values.get("dataset", "digits")
        out = Path(args.out or f"runs/sweep-ablation-{dataset}")
        run = ablation.run_fig3 if args.preset == "fig3" else ablation.run_fig6
        _set_threads(args, dataset)
        outcome = run(out, sizes, seeds, jobs=args.jobs, progress=not args.no_progress, **values)
        sweep_points, summary = outcome["points"], outcome["summary"]
        document["figure"] = {k: outcome[k] for k in ("rows", "baseline") if k in outcome}
        base = ablation.base_config(**values)
    else:
        if args.sizes is not None:
            raise ValueError("--sizes applies to --preset; sweep sizes with --grid n_train=100,500")
        if not args.grid:
            raise ValueError("give --preset fig3|fig6 or at least one --grid NAME=V1,V2,...")
        base = TrainConfig.from_dict(values)
        sweep_points = points(base, grid(parse_grid(args.grid)), seeds)
        _set_threads(args, base.dataset)
        out = Path(args.out or f"runs/sweep-{base.method}-{base.dataset}")
        results = run_sweep(
            sweep_points, out, jobs=args.jobs, progress=not args.no_progress, description=f"sweep {base.method}"
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


def _check_features(path: str | None) -> str | None:
    if path is not None and not Path(path).is_file():
        raise ValueError(f"--features must be an existing .npz file ({path!r} does not exist)")
    return path


def _knn_options(args: argparse.Namespace, method_is_knn: bool | None) -> dict:
    """``knn_k`` and ``knn_weighted`` from the options; refused when no KNN run will use them."""
    given = [flag for flag, value in (("--knn-k", args.knn_k), ("--knn-unweighted", args.knn_unweighted)) if value]
    if given and method_is_knn is False:
        raise ValueError(f"{' and '.join(given)} apply to --method knn only")
    options: dict = {"knn_weighted": not args.knn_unweighted}
    if args.knn_k is not None:
        options["knn_k"] = args.knn_k
    return options


def _tags(args: argparse.Namespace) -> int:
    from .knn import KNN_METHOD, LABEL_SETS, KnnConfig, run_knn
    from .runs import train
    from .table4 import ALL_METHODS, KNN_FIELDS, tag_config

    if args.method not in ALL_METHODS:
        raise ValueError(f"method must be one of {', '.join(ALL_METHODS)} (got {args.method!r})")
    if args.label_set not in LABEL_SETS:
        raise ValueError(f"--label-set must be one of {', '.join(LABEL_SETS)} (got {args.label_set!r})")
    dataset = LABEL_SETS[args.label_set]
    values = _config_values(args, skip=("method", "dataset", "data_file"))
    seed = values.pop("seed", 0)
    is_knn = args.method == KNN_METHOD
    knn = _knn_options(args, is_knn)
    if is_knn:
        ignored = sorted(set(values) - set(KNN_FIELDS))
        if ignored:
            flags = ", ".join("--" + name.replace("_", "-") for name in ignored)
            raise ValueError(
                f"{flags}: knn trains nothing, so it takes only --n-train, --subset-seed, --seed, --device, "
                "--features, --knn-k and --knn-unweighted"
            )
    features = _check_features(args.features)
    if features is not None:
        values["data_file"] = features
    config = tag_config(args.method, dataset, seed, strict=True, **knn, **values)
    _set_threads(args, dataset)
    out = args.out or f"runs/tags-{args.label_set}-{args.method}-seed{seed}"
    progress = not args.no_progress
    if isinstance(config, KnnConfig):
        result = run_knn(config, out, resume=args.resume, progress=progress)
    else:
        result = train(config, out, resume=args.resume, progress=progress)
    print(_tag_summary(result, config, out))
    return 0


def _tag_summary(result: dict, config, out: str | Path) -> str:
    from .table4 import METRIC_NAMES, TABLE4_METRICS

    last = result["history"][-1] if result.get("history") else {}
    metrics = []
    for name in TABLE4_METRICS:
        value = result.get(name, last.get(f"student_{name}"))
        metrics.append(f"{METRIC_NAMES[name]} {value:.4f}" if value is not None else f"{METRIC_NAMES[name]} -")
    teacher = result.get("teacher_map")
    teacher_text = f" (teacher MAP {teacher:.4f})" if teacher is not None else ""
    n = len(result.get("history", []))
    what = f"k = {config.k}" if config.method == "knn" else f"after {n} epochs"
    return (
        f"{config.method} on {config.dataset} (n = {config.n_train:,}, seed {config.seed}): student "
        f"{', '.join(metrics)}{teacher_text}, {what}, {result['wall_seconds']:.1f} s on {result['device']}; "
        f"{Path(out) / 'result.json'}"
    )


def _table4(args: argparse.Namespace) -> int:
    from .table4 import TABLE4_METHODS, check_label_sets, check_methods, run_table4

    methods = check_methods(_split(args.methods) or TABLE4_METHODS)
    # a user's features file holds one set of tags: one block unless --label-sets asks for more
    label_sets = check_label_sets(_split(args.label_sets) or (("popular",) if args.features else ("popular", "random")))
    overrides = _config_values(args, skip=("method", "dataset", "seed", "data_file"))
    knn = _knn_options(args, "knn" in methods)
    features = _check_features(args.features)
    if features is not None:
        overrides["data_file"] = features
    _set_threads(args, "tags-popular")
    out = args.out or "runs/table4"
    outcome = run_table4(
        args.seeds,
        out,
        methods=methods,
        label_sets=label_sets,
        progress=not args.no_progress,
        jobs=args.jobs,
        **knn,
        **overrides,
    )
    print(outcome["markdown"])
    print(f"written: {', '.join(str(Path(out) / name) for name in ('table4.md', 'table4.csv', 'table4.json'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
