"""The privileged setting (KDGAN ``003_...`` Sec. 3, TPAMI ``000_...`` Sec. 3): the teacher and the discriminator see
the full image ``x``, the student a degraded view of it (:mod:`advdist_lab.data.views`), at training and at test
time. A method helps only if its student ends above the student trained alone on the same view (method
``student``, Eq. 1), so the table compares every method of TPAMI Table 1 with that reference.

:func:`run_privileged` trains (or reads back) every (method, n, seed) of the Table 1 methods plus ``student`` with
the view, through :func:`advdist_lab.experiments.table1.train_runs` (the same folders ``out/<method>/n<n>/seed<s>/``
and shared teachers: a rerun reads back, an interrupted one resumes), then writes ``privileged.md`` and
``privileged.csv``. :func:`privileged_table` assembles the table from run results, so it can be fed any results:

* one row per method, ``mean ± std`` over seeds of the student's test accuracy in percent, per ``n``;
* ``TEACHER``: the teacher pretrained on the full image (Eq. 1, ``teacher_pretrain_epochs``), read from the runs
  that pretrain one (:func:`teacher_accuracies`; every method of a seed shares it); ``STUDENT``: the student alone;
* ``delta``: the mean difference to the student alone, in points; ``pooled``: ``sqrt((s_m^2 + s_0^2) / 2)``, the
  pooled standard deviation of the method's and the student's seeds;
* the verdict (:func:`verdict`): **helps** when ``delta > pooled`` (the method's mean lies more than one pooled
  standard deviation above the student alone), **does not help** otherwise; with one seed there is no spread and
  no verdict (``"one seed"``).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence

from advdist_lab.data import TABLE1_SIZES, max_train_size
from advdist_lab.data.views import VIEW_TEXTS, check_view
from advdist_lab.experiments.table1 import TABLE1_METHODS, aggregate, plan, train_runs
from advdist_lab.experiments.tables import format_cell, markdown_table, mean_std
from advdist_lab.files import atomic_write_bytes
from advdist_lab.hparams import check_positive_int
from advdist_lab.methods.config import ADVERSARIAL
from advdist_lab.runs.folder import RunFolder

__all__ = [
    "DEFAULT_VIEW",
    "HELPS",
    "NO_HELP",
    "NO_VERDICT",
    "REFERENCE",
    "TEACHER",
    "adversarial_summary",
    "privileged_methods",
    "privileged_table",
    "run_privileged",
    "student_by_view",
    "teacher_accuracies",
    "title",
    "to_csv",
    "to_markdown",
    "verdict",
    "verdict_sentences",
]

DEFAULT_VIEW = "crop"
"""The view of ``advdist-lab privileged`` when none is given (why: :mod:`advdist_lab.data.views`)."""
REFERENCE = "student"
"""The method of the student trained alone on its view: the row every other one is compared with."""
TEACHER = "teacher"
"""The row of the teacher pretrained on the full image."""
HELPS, NO_HELP, NO_VERDICT = "helps", "does not help", "one seed"
"""The verdicts of :func:`verdict`."""


def verdict(delta: float, pooled: float) -> str:
    """``"helps"`` when ``delta`` (method minus student alone, points) exceeds ``pooled`` (the pooled standard
    deviation), ``"does not help"`` otherwise, ``"one seed"`` when ``pooled`` is ``nan`` (no spread to judge by)."""
    if math.isnan(pooled):
        return NO_VERDICT
    return HELPS if delta > pooled else NO_HELP


def privileged_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """``methods`` (distinct, validated) followed by :data:`REFERENCE`, which every privileged table trains."""
    if isinstance(methods, str):
        raise ValueError(f"methods must be a sequence of method names, not one string (got {methods!r})")
    methods = tuple(methods)
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods must be distinct (got {', '.join(map(str, methods))})")
    compared = tuple(m for m in methods if m != REFERENCE)
    if not compared:
        raise ValueError(f"methods must name at least one method besides {REFERENCE!r} to compare with it")
    return compared + (REFERENCE,)


def teacher_accuracies(results: Iterable[dict]) -> dict[int, dict]:
    """The pretrained teacher's test accuracy (percent) per ``n``, one value per seed, as :func:`aggregate` cells:
    ``{n: {"mean", "std", "seeds", "values"}}``. Read from ``result["pretraining"]["teacher"]`` of the runs that
    pretrain a teacher (MIMIC, DISTN, NOISY, ADIB, ADIM: all of one seed share it); ``n`` without one is left out."""
    found: dict[int, dict[int, float]] = {}
    for result in results:
        teacher = result.get("pretraining", {}).get("teacher")
        if teacher is None or "test_accuracy" not in teacher:
            continue
        cfg = result["config"]
        found.setdefault(cfg["n_train"], {}).setdefault(cfg["seed"], 100.0 * teacher["test_accuracy"])
    cells = {}
    for n, by_seed in found.items():
        seeds = sorted(by_seed)
        values = [by_seed[s] for s in seeds]
        mean, std = mean_std(values)
        cells[n] = {"mean": mean, "std": std, "seeds": seeds, "values": values}
    return cells


def privileged_table(results: Iterable[dict]) -> dict[str, dict[int, dict]]:
    """The table of the module docstring from run results (``result["config"]`` and ``test_accuracy``, as
    :func:`advdist_lab.runs.training.train` returns them): ``{row: {n: cell}}`` where a cell is :func:`aggregate`'s
    (``mean``, ``std``, ``seeds``, ``values`` in percent) plus, for the methods, ``delta``, ``pooled`` and
    ``verdict`` against :data:`REFERENCE` at the same ``n``. Rows: :data:`TEACHER` (when a run pretrained one),
    :data:`REFERENCE`, then the methods. ``ValueError`` when the student alone is missing at some ``n``."""
    results = list(results)
    methods = aggregate(results)
    reference = methods.pop(REFERENCE, {})
    table: dict[str, dict[int, dict]] = {}
    teacher = teacher_accuracies(results)
    if teacher:
        table[TEACHER] = teacher
    table[REFERENCE] = reference
    for method, by_n in methods.items():
        row = {}
        for n, cell in by_n.items():
            if n not in reference:
                raise ValueError(f"the student alone ({REFERENCE!r}) has no run at n = {n}: nothing to compare with")
            base = reference[n]
            delta = cell["mean"] - base["mean"]
            pooled = math.sqrt((cell["std"] ** 2 + base["std"] ** 2) / 2)
            row[n] = {**cell, "delta": delta, "pooled": pooled, "verdict": verdict(delta, pooled)}
        table[method] = row
    return table


def _rows(table: dict) -> list[str]:
    fixed = [r for r in (TEACHER, REFERENCE) if r in table]
    known = [m for m in TABLE1_METHODS if m in table]
    return fixed + known + sorted(m for m in table if m not in (*fixed, *known))


def _label(row: str, view: str) -> str:
    if row == TEACHER:
        return "TEACHER (full image)"
    if row == REFERENCE:
        return f"STUDENT alone ({view})"
    return row.upper()


def title(dataset: str, view: str, seeds: int) -> str:
    """The table's title: dataset, view (in words), seeds and the verdict's rule."""
    return (
        f"Privileged setting on {dataset}: the student sees the {view} view ({VIEW_TEXTS[view]}), the teacher and "
        f"the discriminator the full image. Student test accuracy (%), mean ± std over {seeds} seed(s); delta: "
        "difference to the student alone; helps: delta > pooled std sqrt((s_m^2 + s_0^2) / 2)"
    )


def to_markdown(table: dict, sizes: Sequence[int], view: str, heading: str = "") -> str:
    """Rows down; per ``n`` three columns: ``mean ± std``, ``delta`` (signed, points) and the verdict."""
    header = ["method"]
    for n in sizes:
        header += [f"n = {n:,}", f"delta n = {n:,}", f"verdict n = {n:,}"]
    rows = []
    for row in _rows(table):
        cells = [_label(row, view)]
        for n in sizes:
            cell = table[row].get(n)
            if cell is None:
                cells += ["", "", ""]
                continue
            cells.append(format_cell(cell["mean"], cell["std"]))
            if row == TEACHER and n in table.get(REFERENCE, {}):
                cells += [f"{cell['mean'] - table[REFERENCE][n]['mean']:+.2f}", "(the teacher's advantage)"]
            else:
                cells += [f"{cell['delta']:+.2f}", cell["verdict"]] if "delta" in cell else ["", ""]
        rows.append(cells)
    return markdown_table(header, rows, heading)


def to_csv(table: dict, view: str) -> str:
    """One line per row and ``n``: ``method, n_train, view, mean, std, seeds, values, delta, pooled_std, verdict``
    (percent; ``delta``, ``pooled_std`` and ``verdict`` empty for the teacher and the student alone)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "n_train", "view", "mean", "std", "seeds", "values", "delta", "pooled_std", "verdict"])
    for row in _rows(table):
        for n in sorted(table[row]):
            cell = table[row][n]
            compared = "delta" in cell
            writer.writerow(
                [
                    row,
                    n,
                    "full" if row == TEACHER else view,
                    f"{cell['mean']:.4f}",
                    f"{cell['std']:.4f}",
                    " ".join(map(str, cell["seeds"])),
                    " ".join(f"{v:.4f}" for v in cell["values"]),
                    f"{cell['delta']:.4f}" if compared else "",
                    f"{cell['pooled']:.4f}" if compared else "",
                    cell["verdict"] if compared else "",
                ]
            )
    return buffer.getvalue()


def verdict_sentences(table: dict, sizes: Sequence[int], view: str) -> list[str]:
    """One sentence per ``n``, computed from the table: the teacher's advantage over the student alone, and which
    methods help (by :func:`verdict`) and which do not."""
    sentences = []
    for n in sizes:
        base = table.get(REFERENCE, {}).get(n)
        if base is None:
            continue
        parts = [f"n = {n:,}, {view} view: the student alone reaches {base['mean']:.2f}%"]
        teacher = table.get(TEACHER, {}).get(n)
        if teacher is not None:
            parts[0] += (
                f", the teacher on the full image {teacher['mean']:.2f}% ({teacher['mean'] - base['mean']:+.2f})"
            )
        cells = {m: table[m][n] for m in _rows(table) if m not in (TEACHER, REFERENCE) and n in table[m]}
        words = {
            HELPS: ("helps", "help"),
            NO_HELP: ("does not help", "do not help"),
            NO_VERDICT: ("has one seed only (no verdict)", "have one seed only (no verdict)"),
        }
        for name, (one, many) in words.items():
            chosen = [f"{m.upper()} ({c['delta']:+.2f})" for m, c in cells.items() if c["verdict"] == name]
            if chosen:
                parts.append(f"{', '.join(chosen)} {one if len(chosen) == 1 else many}")
        sentences.append("; ".join(parts) + ".")
    return sentences


def run_privileged(
    dataset: str = "digits",
    view: str = DEFAULT_VIEW,
    seeds: int = 5,
    out: str | os.PathLike = "runs/privileged",
    *,
    methods: Sequence[str] = TABLE1_METHODS,
    sizes: Sequence[int] | None = None,
    progress: bool = True,
    jobs: int | None = None,
    **overrides,
) -> dict:
    """Train (or read back) every run of the privileged table and write ``privileged.md`` and ``privileged.csv``
    under ``out``; returns ``{"table", "sizes", "results", "markdown", "sentences"}``.

    ``view`` is the student's view (not ``full``: that is Table 1's model compression), ``methods`` the rows
    compared with the student alone (trained in any case), ``overrides`` :class:`TrainConfig` fields for every run.
    Everything is validated before any training starts.
    """
    max_train_size(dataset)  # an unknown dataset fails here, with the list of known ones
    check_view(dataset, view)
    if view == "full":
        raise ValueError(
            "view must not be 'full' in the privileged setting: the student must see less than the teacher "
            "(use table1 for model compression)"
        )
    check_positive_int("seeds", seeds)
    rows = privileged_methods(methods)
    sizes = tuple(TABLE1_SIZES[dataset]) if sizes is None else tuple(sizes)
    if not sizes:
        raise ValueError("sizes must name at least one training-set size")
    plan(dataset, rows, sizes, seeds, view=view, **overrides)  # every config checked before the folder is touched
    heading = title(dataset, view, seeds)
    with RunFolder(out, nested=True) as folder:  # a second table into the same folder is refused, not interleaved
        results = train_runs(
            dataset,
            rows,
            sizes,
            seeds,
            out,
            progress=progress,
            jobs=jobs,
            description=f"privileged {dataset} {view}",
            view=view,
            **overrides,
        )
        table = privileged_table(results)
        markdown = to_markdown(table, sizes, view, heading)
        atomic_write_bytes(folder.path / "privileged.csv", to_csv(table, view).encode())
        atomic_write_bytes(folder.path / "privileged.md", markdown.encode())
    sentences = verdict_sentences(table, sizes, view)
    return {"table": table, "sizes": sizes, "results": results, "markdown": markdown, "sentences": sentences}


def adversarial_summary(table: dict, sizes: Sequence[int]) -> str:
    """One sentence, computed from the verdicts of ``table``: whether the adversarial methods (NGAN, ADIB, ADIM)
    help in this setting at every ``n``, at some, or at none, naming the cells that do."""
    cells = [(m, n) for m in _rows(table) if m in ADVERSARIAL for n in sizes if n in table[m]]
    if not cells:
        return "No adversarial method was run."
    helping = [
        f"{m.upper()} at n = {n:,} ({table[m][n]['delta']:+.2f})" for m, n in cells if table[m][n]["verdict"] == HELPS
    ]
    judged = [c for c in cells if table[c[0]][c[1]]["verdict"] != NO_VERDICT]
    names = ", ".join(sorted({m.upper() for m, _ in cells}, key=lambda m: _rows(table).index(m.lower())))
    if not judged:
        return f"The adversarial methods ({names}) have one seed per cell: no verdict."
    if not helping:
        cells_word = "cell" if len(judged) == 1 else "cells"
        return f"The adversarial methods ({names}) do not help in any of their {len(judged)} judged {cells_word}."
    share = "every one" if len(helping) == len(judged) else str(len(helping))
    return (
        f"The adversarial methods ({names}) help in {share} of their {len(judged)} judged cells: {', '.join(helping)}."
    )


def student_by_view(
    dataset: str,
    views: Sequence[str],
    sizes: Sequence[int],
    seeds: int,
    out: str | os.PathLike,
    *,
    progress: bool = True,
    jobs: int | None = None,
    **overrides,
) -> dict[str, dict[int, dict]]:
    """The student alone (:data:`REFERENCE`) on each of ``views``: ``{view: {n: cell}}`` (percent, as
    :func:`aggregate`), its runs in ``out/<view>/student/n<n>/seed<s>/`` (read back on a rerun). How far each view
    leaves the student below its teacher is what the choice of a view rests on (:mod:`advdist_lab.data.views`)."""
    if isinstance(views, str) or not views:
        raise ValueError(f"views must be a non-empty sequence of view names (got {views!r})")
    for view in views:
        check_view(dataset, view)
        plan(dataset, (REFERENCE,), sizes, seeds, view=view, **overrides)
    by_view = {}
    for view in views:
        results = train_runs(
            dataset,
            (REFERENCE,),
            sizes,
            seeds,
            os.path.join(out, view),
            progress=progress,
            jobs=jobs,
            description=f"student alone, {view}",
            view=view,
            **overrides,
        )
        by_view[view] = aggregate(results)[REFERENCE]
    return by_view
