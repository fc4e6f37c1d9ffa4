"""``advdist-lab dfard`` and ``advdist-lab dfard-table``: data-free robust distillation from the command line.

::

    advdist-lab dfard --method dfard --teacher runs/robust-teacher --out runs/dfard        # DFARD, Algorithm 1
    advdist-lab dfard --method vanilla --ita generation --teacher ... --out ...          # a Table 3 row
    advdist-lab dfard --method zskt+ita --teacher ... --out ...                          # Table 4
    advdist-lab dfard --method derd --natural-teacher runs/natural --teacher ... --out ...   # DERD (supplement)
    advdist-lab dfard-table --table 3 --teacher runs/robust-teacher --seeds 2 --out runs/table3

Every field of :class:`advdist_lab.robust.dfard.DfardConfig` (and, for ``--method derd``, of
:class:`advdist_lab.robust.derd.DerdConfig`) is an option. Options that the chosen method does not have are
refused with one line (exit status 2).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from .robust.dfard import DFARD_METHODS, DfardConfig

DFARD_HELP = {
    "method": f"one of {', '.join(DFARD_METHODS)} or derd",
    "dataset": "digits (offline), cifar10 (torchvision, needs a network once) or cifar10-random (noise, for timing)",
    "teacher": "the robust teacher: a robust-teacher run folder or a model file",
    "ita": "Interactive Temperature Adjustment (Eq. 4): none, generation or both (default: the method's)",
    "agb": "Adaptive Generator Balance (Eq. 7): true or false (default: on for dfard only)",
    "tau": "the fixed distillation temperature where ITA is off (Table 3: 3)",
    "lam": "the fixed lambda of Eq. 6 where AGB is off (Table 3: 0.3)",
    "iterations": "blocks of tg generator and ts student steps per epoch",
    "tg": "generator steps per block (Algorithm 1's Tg)",
    "ts": "student steps per block (Algorithm 1's Ts)",
    "eval_attacks": "comma-separated attacks evaluated after every epoch (history)",
    "final_attacks": "comma-separated attacks of the final evaluation of the best epoch (default: all six)",
    "select": "the accuracy that picks the best epoch (DFARD: pgd_t)",
}


def _config_classes() -> list[type]:
    classes: list[type] = [DfardConfig]
    try:
        from .robust.derd import DerdConfig
    except ImportError:  # DERD not installed in this checkout
        return classes
    return classes + [DerdConfig]


def _add_options(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    from .cli_robust import option_type

    seen: set[str] = set()
    for cls in _config_classes():
        defaults = cls()
        for field in dataclasses.fields(cls):
            if field.name in seen or field.name in skip:
                continue
            seen.add(field.name)
            default = getattr(defaults, field.name)
            text = DFARD_HELP.get(field.name, field.name.replace("_", " "))
            suffix = "dataset default" if default is None else repr(default)
            parser.add_argument(
                "--" + field.name.replace("_", "-"),
                dest=field.name,
                type=option_type(field),
                default=argparse.SUPPRESS,
                help=f"{text} (default: {suffix})",
            )


def _values(args: argparse.Namespace, cls: type) -> dict:
    """The options given on the command line, checked against ``cls``'s fields."""
    fields = {f.name for f in dataclasses.fields(cls)}
    known = {f.name for c in _config_classes() for f in dataclasses.fields(c)}
    given = {k: v for k, v in vars(args).items() if k in known}
    method = given.get("method", "dfard")
    foreign = sorted(k for k in given if k not in fields and k != "method")
    if foreign:
        options = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise ValueError(f"{options} {'does' if len(foreign) == 1 else 'do'} not apply to --method {method}")
    return given


def add_dfard_parsers(commands: argparse._SubParsersAction) -> None:
    """Add ``dfard`` and ``dfard-table`` to the main parser's subcommands."""
    from .cli import _add_threads

    dfard = commands.add_parser(
        "dfard",
        help="data-free adversarial robustness distillation (DFARD Algorithm 1, its baselines, DERD)",
        description="Distil a robust student from a robust teacher without the teacher's data; writes "
        "OUT/result.json (per-attack accuracies of the best epoch at the top level, per epoch in the history), "
        "OUT/student.pt and OUT/generator.pt.",
    )
    _add_options(dfard)
    dfard.add_argument("--out", default=None, help="run folder (default: runs/dfard-<method>-<dataset>-seed<seed>)")
    dfard.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    dfard.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_threads(dfard)

    table = commands.add_parser(
        "dfard-table",
        help="DFARD Table 1, 3 or 4 at our scale, beside the paper's numbers",
        description="Run every row of a DFARD table for several seeds into OUT/<row>/seed=<k>/ (finished runs are "
        "read back, interrupted ones resumed) and write OUT/table<N>.md and .json.",
    )
    table.add_argument("--table", choices=("1", "3", "4"), required=True, help="which DFARD table")
    table.add_argument("--seeds", type=int, default=1, help="seeds per row (default: 1)")
    table.add_argument("--out", default=None, help="folder of the runs and tables (default: runs/dfard-table<N>)")
    table.add_argument("--jobs", type=int, default=1, help="worker processes, one CPU thread each (default: 1)")
    table.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_threads(table)
    _add_options(table, skip=("method", "ita", "agb", "seed", "variant", "natural_teacher"))


def _threads(args: argparse.Namespace, dataset: str) -> None:
    from .cli import _set_threads

    _set_threads(args, dataset)


def _dfard(args: argparse.Namespace) -> int:
    from .robust.attacks import format_table1

    method = getattr(args, "method", "dfard")
    if method == "derd":
        from .robust.derd import DerdConfig, run_derd

        values = _values(args, DerdConfig)
        values.pop("method", None)
        config = DerdConfig(**values)
        runner = run_derd
        name = f"derd-{config.variant}"
    else:
        config = DfardConfig(**_values(args, DfardConfig))
        runner = None
        name = config.method
    resolved = config.resolved()
    _threads(args, resolved.dataset)
    out = args.out or f"runs/dfard-{name.replace('+', '-')}-{resolved.dataset}-seed{resolved.seed}"
    if runner is None:
        from .robust.dfard import run_dfard

        result = run_dfard(config, out, resume=args.resume, progress=not args.no_progress)
    else:
        result = runner(config, out, resume=args.resume, progress=not args.no_progress)
    attacks = tuple(a for a in result["protocol"]["attacks"])
    print(
        f"{name} on {resolved.dataset} (seed {resolved.seed}): best epoch {result['best_epoch']} of "
        f"{len(result['history'])} by {resolved.select}, {result['wall_seconds']:.1f} s on {result['device']}; "
        f"{Path(out) / 'result.json'}"
    )
    print(format_table1({name: result}, attacks=attacks))
    return 0


def _dfard_table(args: argparse.Namespace) -> int:
    from .robust import experiments, paper_tables
    from .files import atomic_write_bytes, atomic_write_json

    rows = {"1": experiments.TABLE1_ROWS, "3": experiments.TABLE3_ROWS, "4": experiments.TABLE4_ROWS}[args.table]
    paper = {
        "1": paper_tables.PAPER_TABLE1[("RN-18", "CIFAR-10")],
        "3": paper_tables.PAPER_TABLE3,
        "4": paper_tables.PAPER_TABLE4,
    }[args.table]
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1 (got {args.seeds})")
    base = DfardConfig(**_values(args, DfardConfig))
    base.resolved()
    _threads(args, base.dataset)
    out = Path(args.out or f"runs/dfard-table{args.table}")
    results = experiments.run_rows(
        rows, base, out, seeds=range(args.seeds), jobs=args.jobs, progress=not args.no_progress
    )
    summary = experiments.summarize(results)
    columns = tuple(c for c in paper_tables.COLUMNS if all(c in row for row in summary.values()))
    text = experiments.comparison_markdown(summary, paper, columns)
    title = (
        f"DFARD Table {args.table} on {base.dataset}, {args.seeds} seed(s): ours (mean ± std, %) and (paper, CIFAR-10)"
    )
    atomic_write_bytes(out / f"table{args.table}.md", f"**{title}**\n\n{text}".encode())
    atomic_write_json(out / f"table{args.table}.json", {"summary": summary, "config": base.to_dict()})
    print(title)
    print(text)
    print(f"written: {out / f'table{args.table}.md'}, {out / f'table{args.table}.json'}")
    return 0


DFARD_COMMANDS = {"dfard": _dfard, "dfard-table": _dfard_table}
__all__ = ["DFARD_COMMANDS", "add_dfard_parsers"]
