"""``advdist-lab dfard`` and ``advdist-lab dfard-table``: data-free robust distillation from the command line.

::

    advdist-lab dfard --method dfard --teacher runs/robust-teacher --out runs/dfard        # DFARD, Algorithm 1
    advdist-lab dfard --method vanilla --ita generation --teacher ... --out ...          # a Table 3 row
    advdist-lab dfard --method zskt+ita --teacher ... --out ...                          # Table 4
    advdist-lab dfard --method derd --natural-teacher runs/natural --teacher ... --out ...   # DERD (supplement)
    advdist-lab dfard-table --table 3 --teacher runs/robust-teacher --seeds 2 --out runs/table3

Every field of :class:`advdist_lab.robust.dfard.DfardConfig` (and, for ``--method derd``, of
:class:`advdist_lab.robust.derd.config.DerdConfig`) is an option. Options that the chosen method does not have are
refused with one line (exit status 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..robust.derd import DerdConfig
from ..robust.dfard import DFARD_METHODS, DfardConfig
from ..robust.validation import VAL_SIZES
from .common import add_executor_options, add_run_options, add_threads, out_folder, set_threads
from .options import add_config_options, config_fields, option_values

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
    "val_size": "validation images held out from the training split (the student never trains on real images); "
    "the best epoch is chosen on them, the test split is read once at the end (default: eval-size if given, else "
    + ", ".join(f"{n} on {d}" for d, n in VAL_SIZES.items() if d != "cifar10-random")
    + ")",
    "eval_size": "the first that many validation images are evaluated after every epoch (default: all val-size)",
    "eval_attacks": "comma-separated attacks evaluated on the validation split after every epoch (history: val_*)",
    "final_size": "test images of the one final evaluation of the chosen epoch (default: the whole test split)",
    "final_attacks": "comma-separated attacks of the final evaluation of the best epoch (default: all six)",
    "select": "the validation accuracy that picks the best epoch (DFARD: pgd_t)",
}
"""The help of the :class:`DfardConfig` and :class:`DerdConfig` options (the others: the field's name in words)."""

CONFIGS = (DfardConfig, DerdConfig)
"""The configs whose fields are options: DFARD's, then DERD's own (``--method derd``)."""


def _add_options(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    add_config_options(parser, CONFIGS, texts=DFARD_HELP, skip=skip, unset="dataset default")


def _values(args: argparse.Namespace, cls: type) -> dict:
    """The options given on the command line, refused in one line when ``cls`` (the method's config) lacks one."""
    given = option_values(args, CONFIGS)
    method = given.get("method", "dfard")
    own = {field.name for field in config_fields(cls)}
    foreign = sorted(k for k in given if k not in own and k != "method")
    if foreign:
        options = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise ValueError(f"{options} {'does' if len(foreign) == 1 else 'do'} not apply to --method {method}")
    return given


def add_dfard_parser(commands: argparse._SubParsersAction, name: str) -> None:
    dfard = commands.add_parser(
        name,
        help="data-free adversarial robustness distillation (DFARD Algorithm 1, its baselines, DERD)",
        description="Distil a robust student from a robust teacher without the teacher's data; writes "
        "OUT/result.json (per-attack test accuracies of the best epoch, chosen on a validation split held out from "
        "the training split, at the top level; validation accuracies per epoch in the history), "
        "OUT/student.pt and OUT/generator.pt.",
    )
    _add_options(dfard)
    add_run_options(dfard, "run folder (default: runs/dfard-<method>-<dataset>-seed<seed>)")


def add_dfard_table_parser(commands: argparse._SubParsersAction, name: str) -> None:
    table = commands.add_parser(
        name,
        help="DFARD Table 1, 3 or 4 at our scale, beside the paper's numbers",
        description="Run every row of a DFARD table for several seeds into OUT/<row>/seed=<k>/ (finished runs are "
        "read back, interrupted ones resumed) and write OUT/table<N>.md and .json.",
    )
    table.add_argument("--table", choices=("1", "3", "4"), required=True, help="which DFARD table")
    table.add_argument("--seeds", type=int, default=1, help="seeds per row (default: 1)")
    table.add_argument("--out", default=None, help="folder of the runs and tables (default: runs/dfard-table<N>)")
    table.add_argument("--jobs", type=int, default=None, help="worker processes, one CPU thread each (default: 1)")
    table.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_threads(table)
    add_executor_options(table)
    _add_options(table, skip=("method", "ita", "agb", "seed", "variant", "natural_teacher"))


def run_dfard(args: argparse.Namespace) -> int:
    from ..robust.attacks import format_table1

    if getattr(args, "method", "dfard") == "derd":
        from ..robust.derd import run_derd as runner

        values = _values(args, DerdConfig)
        values.pop("method", None)
        config = DerdConfig(**values)
        name = f"derd-{config.variant}"
    else:
        from ..robust.dfard import run_dfard as runner

        config = DfardConfig(**_values(args, DfardConfig))
        name = config.method
    resolved = config.resolved()
    set_threads(args, resolved.dataset)
    out = out_folder(args.out, f"runs/dfard-{name.replace('+', '-')}-{resolved.dataset}-seed{resolved.seed}")
    result = runner(config, out, resume=args.resume, progress=not args.no_progress)
    attacks = tuple(result["protocol"]["attacks"])
    print(
        f"{name} on {resolved.dataset} (seed {resolved.seed}): best epoch {result['best_epoch']} of "
        f"{len(result['history'])} by validation {resolved.select} ({resolved.val_size} held-out training images), "
        f"{result['wall_seconds']:.1f} s on {result['device']}; "
        f"{Path(out) / 'result.json'}"
    )
    print(format_table1({name: result}, attacks=attacks))
    return 0


def run_dfard_table(args: argparse.Namespace) -> int:
    from ..files import atomic_write_bytes, atomic_write_json
    from ..robust import experiments, paper_tables

    rows = {"1": experiments.TABLE1_ROWS, "3": experiments.TABLE3_ROWS, "4": experiments.TABLE4_ROWS}[args.table]
    paper = {
        "1": paper_tables.DFARD_TABLE1[("RN-18", "CIFAR-10")],
        "3": paper_tables.DFARD_TABLE3,
        "4": paper_tables.DFARD_TABLE4,
    }[args.table]
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1 (got {args.seeds})")
    base = DfardConfig(**_values(args, DfardConfig))
    base.resolved()
    set_threads(args, base.dataset)
    out = Path(out_folder(args.out, f"runs/dfard-table{args.table}"))
    results = experiments.run_rows(
        rows,
        base,
        out,
        seeds=range(args.seeds),
        jobs=1 if args.jobs is None else args.jobs,
        progress=not args.no_progress,
    )
    summary = experiments.summarize(results)
    columns = tuple(c for c in paper_tables.DFARD_COLUMNS if all(c in row for row in summary.values()))
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
