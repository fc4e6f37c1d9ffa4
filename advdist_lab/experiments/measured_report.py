"""A measured Table 1 (:class:`~advdist_lab.experiments.measured.MeasuredTable`) beside the paper's: ours and
TPAMI Table 1 per method and ``n`` with the difference and the seeds each cell holds ("3 of 5 seeds": a partial row
says so), the run time, the machine, and the computed sentences notebook 04 prints."""

from __future__ import annotations

import math
from collections.abc import Mapping

from advdist_lab.experiments.compression_analysis import (
    KD_METHODS,
    nearest_size,
    pairs_in_order,
    paper_dataset,
    ranking,
)
from advdist_lab.experiments.measured import MeasuredTable
from advdist_lab.experiments.ranking_sentences import paper_sentences, ranking_sentences
from advdist_lab.experiments.table1 import paper_table
from advdist_lab.experiments.tables import format_cell, markdown_table

__all__ = [
    "comparison_rows",
    "format_duration",
    "measured_sentences",
    "report_markdown",
    "seeds_phrase",
    "summary_lines",
]


def seeds_phrase(done: int, planned: int) -> str:
    """``"5 seeds"`` for a complete cell, ``"3 of 5 seeds"`` for a partial one, ``"0 of 5 seeds"`` for none."""
    if done == planned:
        return f"{done} seed" + ("s" if done != 1 else "")
    return f"{done} of {planned} seeds"


def format_duration(seconds: float) -> str:
    """``"6 h 12 min"``, ``"4 min 05 s"`` or ``"42 s"``."""
    seconds = float(seconds)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds must be a finite duration >= 0 (got {seconds!r})")
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.0f} s"


def comparison_rows(measured: MeasuredTable) -> list[dict]:
    """One row per planned (method, n): ``{"method", "n", "ours", "paper", "paper_n", "difference", "seeds",
    "planned"}``. ``ours`` and ``paper`` are cells ``{"mean", "std"}`` in percent (``None`` when absent:
    no finished seed, or a method the paper lacks); ``paper_n`` is the paper's column compared with (the nearest
    size of :func:`~advdist_lab.experiments.compression_analysis.paper_dataset`); ``difference`` ours minus
    the paper's mean."""
    table = measured.table
    paper = paper_table(paper_dataset(measured.dataset))
    rows = []
    for method in measured.plan["methods"]:
        for n in measured.sizes:
            ours = table.get(method, {}).get(n)
            theirs_by_n = paper.get(method, {})
            paper_n = nearest_size(sorted(theirs_by_n), n) if theirs_by_n else None
            theirs = theirs_by_n.get(paper_n)
            rows.append(
                {
                    "method": method,
                    "n": n,
                    "ours": ours,
                    "paper": theirs,
                    "paper_n": paper_n,
                    "difference": ours["mean"] - theirs["mean"] if ours and theirs else None,
                    "seeds": len(ours["values"]) if ours else 0,
                    "planned": measured.plan["seeds"],
                }
            )
    return rows


def summary_lines(measured: MeasuredTable) -> list[str]:
    """How much of the table is there, how long it took, and where."""
    done, planned = len(measured.runs), measured.planned_runs
    state = "complete" if measured.complete else "partial: the cells say how many seeds they hold"
    m = measured.machine
    wall = measured.table_wall_seconds
    return [
        f"{done} of {planned} runs finished ({state}).",
        f"Run time: {format_duration(measured.cpu_seconds)}, the sum of the wall_seconds of the {done} finished "
        "run(s) (the CPU time of the table when its runs go one at a time).",
        ("Wall-clock time of the whole table: " if measured.complete else "Wall-clock time so far (unfinished): ")
        + (format_duration(wall) if wall is not None else "not recorded in this export")
        + ".",
        f"Machine: {m.get('cpu', 'unknown CPU')}, {m.get('cpu_cores', '?')} cores, {m.get('platform', '?')}, "
        f"Python {m.get('python', '?')}, torch {m.get('torch', '?')}; runs on "
        + ", ".join(sorted({str(r.get("device", "?")) for r in measured.runs}))
        + f"; exported {measured.exported}.",
    ]


def _cell(cell: Mapping | None) -> str:
    return format_cell(cell["mean"], cell["std"]) if cell else "-"


def report_markdown(measured: MeasuredTable) -> str:
    """The measured table beside the paper's (ours, the paper's, the difference, the seeds per cell) and
    :func:`summary_lines`, in markdown."""
    rows = comparison_rows(measured)
    reference = paper_dataset(measured.dataset)
    header = ["method", "n", "ours", f"paper ({reference})", "ours - paper", "seeds"]
    body = [
        [
            r["method"].upper(),
            f"{r['n']:,}" + (f" (paper: {r['paper_n']:,})" if r["paper_n"] not in (None, r["n"]) else ""),
            _cell(r["ours"]),
            _cell(r["paper"]),
            f"{r['difference']:+.2f}" if r["difference"] is not None else "-",
            seeds_phrase(r["seeds"], r["planned"]),
        ]
        for r in rows
    ]
    title = (
        f"TPAMI Table 1 on {measured.dataset}, measured here: student test accuracy (%), mean ± std over the "
        f"finished seeds, beside the paper's (10 runs)"
    )
    text = markdown_table(header, body, title)
    return text + "\n" + "\n".join(f"* {line}" for line in summary_lines(measured)) + "\n"


def _shared_sizes(table: Mapping, sizes) -> list[int]:
    return [n for n in sizes if table and all(n in by_n for by_n in table.values())]


def measured_sentences(measured: MeasuredTable) -> list[str]:
    """What the measured table says, each sentence computed from its numbers: how many seeds the cells hold, our
    order at each ``n`` beside the paper's (pairs ordered alike), ADIM and ADIB minus the best KD baseline and
    NGAN, :func:`~advdist_lab.experiments.ranking_sentences.ranking_sentences` and
    :func:`~advdist_lab.experiments.ranking_sentences.paper_sentences` over the sizes every method has reached,
    and our level against the paper's."""
    table, planned = measured.table, measured.plan["seeds"]
    counts = sorted({len(cell["values"]) for by_n in table.values() for cell in by_n.values()})
    missing = sum(r["ours"] is None for r in comparison_rows(measured))
    state = "complete" if measured.complete else "partial"
    held = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    lines = [
        f"The row is {state}: its cells hold {held} of {planned} seeds"
        + (f", and {missing} planned cell(s) have none yet" if missing else "")
        + "."
    ]
    reference = paper_dataset(measured.dataset)
    paper = paper_table(reference)
    for n in measured.sizes:
        present = [m for m in table if n in table[m]]
        if len(present) < 2:
            continue
        order = ranking({m: table[m] for m in present}, n)
        column = nearest_size(sorted(next(iter(paper.values()))), n)
        theirs = ranking(paper, column)
        agree, total = pairs_in_order([m for m in order if m in theirs], theirs)
        lines.append(
            f"At n = {n:,} our order is {' > '.join(m.upper() for m in order)}; the paper's ({reference}, n = "
            f"{column:,}) is {' > '.join(m.upper() for m in theirs)}: {agree} of {total} pairs ordered alike."
        )
        kd = [m for m in KD_METHODS if m in present]
        for method in ("adim", "adib"):
            if method in present and kd and "ngan" in present:
                best = max(kd, key=lambda m: table[m][n]["mean"])
                ours = table[method][n]["mean"]
                lines.append(
                    f"At n = {n:,} {method.upper()} minus the best KD baseline ({best.upper()}): "
                    f"{ours - table[best][n]['mean']:+.2f} points (the paper: "
                    f"{paper[method][column]['mean'] - max(paper[m][column]['mean'] for m in kd):+.2f}); minus NGAN: "
                    f"{ours - table['ngan'][n]['mean']:+.2f} (the paper: "
                    f"{paper[method][column]['mean'] - paper['ngan'][column]['mean']:+.2f})."
                )
    shared = _shared_sizes(table, measured.sizes)
    if len(table) >= 2 and shared:
        lines += ranking_sentences(table, shared) + paper_sentences(table, measured.dataset, shared)
    rows = [r for r in comparison_rows(measured) if r["difference"] is not None]
    if rows:
        low, high = min(rows, key=lambda r: r["difference"]), max(rows, key=lambda r: r["difference"])
        lines.append(
            f"Ours minus the paper's mean ranges from {low['difference']:+.2f} ({low['method'].upper()}, n = "
            f"{low['n']:,}) to {high['difference']:+.2f} ({high['method'].upper()}, n = {high['n']:,}) over "
            f"{len(rows)} cell(s)."
        )
    return lines
