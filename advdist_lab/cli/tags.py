"""``advdist-lab tags`` and ``table4``: image tag recommendation (TPAMI Sec. 5.2, Table 4), KNN voting included.

::

    advdist-lab tags --method adim --label-set popular --seed 0 --out runs/t   # TPAMI Sec. 5.2, one run
    advdist-lab tags --method knn --knn-k 50 --out runs/k                     # KNN tag voting (the paper's KVOTE)
    advdist-lab table4 --seeds 3 --out runs/table4                           # TPAMI Table 4
    advdist-lab table4 --seeds 3 --members 1                                 # every run alone, not batched

The :class:`~advdist_lab.methods.TrainConfig` options are those of ``train`` (but the method, dataset, view and
data file), their help showing the tag runs' own defaults (:data:`~advdist_lab.methods.config.TAG_RUN_DEFAULTS`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..experiments.table4 import ALL_METHODS, TABLE4_METHODS
from ..methods.config import TAG_RUN_DEFAULTS, TrainConfig
from ..methods.knn import DEFAULT_K, LABEL_SETS
from .common import add_run_options, add_workers, out_folder, parse_list, set_threads
from .options import option_values
from .train import TRAIN_HELP, add_members, add_train_options, checked_members

FEATURES_HELP = (
    "an .npz of your own features (arrays image, text, tags and optionally split, tag_names; see "
    "advdist_lab.data.tags) instead of the generated YFCC-like data"
)
TAG_TEXTS = {
    "n_train": f"{TRAIN_HELP['n_train']} (default: the whole training pool)",
    "student_pretrain_epochs": "supervised epochs of the student before the main loop (default: "
    f"{TAG_RUN_DEFAULTS['student_pretrain_epochs']!r} for NGAN/ADIB/ADIM, else 0)",
}
"""The help of the options whose default the tag runs change in words (the others show TAG_RUN_DEFAULTS)."""


def _add_knn_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", default=None, metavar="FILE.npz", help=FEATURES_HELP)
    parser.add_argument(
        "--knn-k", type=int, default=None, help=f"neighbours that vote in KNN tag voting (default: {DEFAULT_K})"
    )
    parser.add_argument(
        "--knn-unweighted",
        action="store_true",
        help="KNN: one vote per neighbour instead of votes weighted by cosine similarity",
    )


def _add_tag_train_options(parser: argparse.ArgumentParser, skip: tuple[str, ...]) -> None:
    add_train_options(parser, skip=skip, texts=TAG_TEXTS, defaults=TAG_RUN_DEFAULTS)


def add_tags_parser(commands: argparse._SubParsersAction, name: str) -> None:
    tags = commands.add_parser(
        name,
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
    _add_knn_options(tags)
    add_run_options(tags, "run folder (default: runs/tags-<label set>-<method>-seed<seed>)")
    _add_tag_train_options(tags, skip=("method", "dataset", "data_file", "view"))


def add_table4_parser(commands: argparse._SubParsersAction, name: str) -> None:
    table = commands.add_parser(
        name,
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
    _add_knn_options(table)
    table.add_argument("--out", default=None, help="folder of the runs and tables (default: runs/table4)")
    add_workers(table, "worker processes, each on one torch thread (default: one per CPU core on the CPU, else 1)")
    add_members(table)
    _add_tag_train_options(table, skip=("method", "dataset", "seed", "data_file", "view"))


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


def run_tags(args: argparse.Namespace) -> int:
    from ..experiments.table4_runs import KNN_FIELDS, tag_config
    from ..methods.knn import KNN_METHOD, KnnConfig
    from ..runs.knn import run_knn
    from ..runs.training import train

    if args.method not in ALL_METHODS:
        raise ValueError(f"method must be one of {', '.join(ALL_METHODS)} (got {args.method!r})")
    if args.label_set not in LABEL_SETS:
        raise ValueError(f"--label-set must be one of {', '.join(LABEL_SETS)} (got {args.label_set!r})")
    dataset = LABEL_SETS[args.label_set]
    values = option_values(args, TrainConfig, skip=("method", "dataset", "data_file"))
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
    set_threads(args, dataset)
    out = out_folder(args.out, f"runs/tags-{args.label_set}-{args.method}-seed{seed}")
    progress = not args.no_progress
    if isinstance(config, KnnConfig):
        result = run_knn(config, out, resume=args.resume, progress=progress)
    else:
        result = train(config, out, resume=args.resume, progress=progress)
    print(_tag_summary(result, config, out))
    return 0


def _tag_summary(result: dict, config, out: str | Path) -> str:
    from ..experiments.table4 import METRIC_NAMES, TABLE4_METRICS

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


def run_table4(args: argparse.Namespace) -> int:
    from ..experiments.table4 import check_label_sets, check_methods
    from ..experiments.table4_runs import run_table4

    members = checked_members(args)
    methods = check_methods(parse_list(args.methods, "--methods", "method") or TABLE4_METHODS)
    # a user's features file holds one set of tags: one block unless --label-sets asks for more
    label_sets = parse_list(args.label_sets, "--label-sets", "label set")
    label_sets = check_label_sets(label_sets or (("popular",) if args.features else ("popular", "random")))
    overrides = option_values(args, TrainConfig, skip=("method", "dataset", "seed", "data_file"))
    knn = _knn_options(args, "knn" in methods)
    features = _check_features(args.features)
    if features is not None:
        overrides["data_file"] = features
    set_threads(args, "tags-popular")
    out = out_folder(args.out, "runs/table4")
    outcome = run_table4(
        args.seeds,
        out,
        methods=methods,
        label_sets=label_sets,
        progress=not args.no_progress,
        jobs=args.jobs,
        members=members,
        **knn,
        **overrides,
    )
    print(outcome["markdown"])
    print(f"written: {', '.join(str(Path(out) / name) for name in ('table4.md', 'table4.csv', 'table4.json'))}")
    return 0
