"""TPAMI Table 1 (deep model compression): the paper's numbers, and ours aggregated from run results.

The table has one row per method and one column per training-set size ``n``; a cell is the student's test
accuracy in percent, ``mean +- std`` over seeds (the paper: 10 runs with random initialisations). The standard
deviation is the sample standard deviation (``ddof = 1``); a single seed shows the mean alone.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence

TABLE1_METHODS = ("codis", "distn", "noisy", "mimic", "ngan", "adib", "adim")
"""The rows of TPAMI Table 1, in the paper's order."""

PAPER_TABLE1: dict[str, dict[str, dict[int, tuple[float, float]]]] = {
    "mnist": {
        "codis": {100: (74.02, 0.13), 1000: (95.77, 0.10), 10000: (98.89, 0.08), 50000: (99.31, 0.06)},
        "distn": {100: (68.34, 0.06), 1000: (93.97, 0.08), 10000: (98.79, 0.07), 50000: (99.26, 0.05)},
        "noisy": {100: (66.53, 0.18), 1000: (93.45, 0.11), 10000: (98.58, 0.11), 50000: (99.05, 0.10)},
        "mimic": {100: (67.35, 0.15), 1000: (93.78, 0.13), 10000: (98.65, 0.05), 50000: (98.99, 0.04)},
        "ngan": {100: (64.90, 0.31), 1000: (93.60, 0.22), 10000: (98.95, 0.19), 50000: (99.36, 0.16)},
        "adib": {100: (77.95, 0.08), 1000: (96.42, 0.09), 10000: (99.25, 0.06), 50000: (99.54, 0.05)},
        "adim": {100: (78.70, 0.11), 1000: (97.20, 0.09), 10000: (99.38, 0.08), 50000: (99.61, 0.04)},
    },
    "cifar10": {
        "codis": {500: (54.17, 0.20), 5000: (77.82, 0.14), 10000: (81.60, 0.13), 50000: (85.12, 0.11)},
        "distn": {500: (50.92, 0.18), 5000: (76.59, 0.15), 10000: (80.03, 0.09), 50000: (83.32, 0.08)},
        "noisy": {500: (50.18, 0.28), 5000: (75.42, 0.19), 10000: (79.89, 0.17), 50000: (82.99, 0.12)},
        "mimic": {500: (51.74, 0.23), 5000: (75.66, 0.17), 10000: (80.32, 0.14), 50000: (84.33, 0.10)},
        "ngan": {500: (46.29, 0.32), 5000: (76.11, 0.24), 10000: (81.11, 0.22), 50000: (85.34, 0.27)},
        "adib": {500: (57.56, 0.18), 5000: (79.36, 0.16), 10000: (83.02, 0.11), 50000: (86.50, 0.10)},
        "adim": {500: (59.10, 0.20), 5000: (80.53, 0.17), 10000: (83.93, 0.10), 50000: (87.03, 0.09)},
    },
}
"""TPAMI Table 1 as printed: accuracy in percent, (mean, std) over 10 runs. The paper's, not ours."""


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``nan`` for one value); ``ValueError`` for none."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def aggregate(results: Iterable[dict]) -> dict[str, dict[int, dict]]:
    """Group run results by method and ``n``: ``{method: {n: {"mean", "std", "seeds", "values"}}}`` in percent."""
    groups: dict[str, dict[int, list[tuple[int, float]]]] = {}
    for result in results:
        cfg = result["config"]
        groups.setdefault(cfg["method"], {}).setdefault(cfg["n_train"], []).append(
            (cfg["seed"], 100.0 * result["test_accuracy"])
        )
    table: dict[str, dict[int, dict]] = {}
    for method, by_n in groups.items():
        for n, pairs in by_n.items():
            pairs.sort()
            values = [v for _, v in pairs]
            mean, std = mean_std(values)
            table.setdefault(method, {})[n] = {
                "mean": mean,
                "std": std,
                "seeds": [s for s, _ in pairs],
                "values": values,
            }
    return table


def _cell(mean: float, std: float) -> str:
    if math.isnan(std):  # one seed: no spread to show
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {std:.2f}"


def _ordered_methods(table: dict) -> list[str]:
    known = [m for m in TABLE1_METHODS if m in table]
    return known + sorted(m for m in table if m not in TABLE1_METHODS)


def table_rows(
    table: dict[str, dict[int, dict]], sizes: Sequence[int] | None = None
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the table in the layout of TPAMI Table 1 (methods down, ``n`` across)."""
    if sizes is None:
        sizes = sorted({n for by_n in table.values() for n in by_n})
    header = ["method", *[f"n = {n:,}" for n in sizes]]
    rows = []
    for method in _ordered_methods(table):
        cells = [method.upper()]
        for n in sizes:
            cell = table[method].get(n)
            cells.append(_cell(cell["mean"], cell["std"]) if cell else "")
        rows.append(cells)
    return header, rows


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], title: str = "") -> str:
    """A markdown table: floats with 4 significant digits, ``None`` as "-", anything else as ``str``."""
    lines = [f"**{title}**", ""] if title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines.extend("| " + " | ".join(_text(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def to_markdown(table: dict[str, dict[int, dict]], sizes: Sequence[int] | None = None, title: str = "") -> str:
    header, rows = table_rows(table, sizes)
    return markdown_table(header, rows, title)


def to_csv(table: dict[str, dict[int, dict]]) -> str:
    """One line per method and ``n``: mean, std and the per-seed values, in percent."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "n_train", "mean", "std", "seeds", "values"])
    for method in _ordered_methods(table):
        for n in sorted(table[method]):
            cell = table[method][n]
            writer.writerow(
                [
                    method,
                    n,
                    f"{cell['mean']:.4f}",
                    f"{cell['std']:.4f}",
                    " ".join(map(str, cell["seeds"])),
                    " ".join(f"{v:.4f}" for v in cell["values"]),
                ]
            )
    return buffer.getvalue()


def paper_table(dataset: str) -> dict[str, dict[int, dict]]:
    """TPAMI Table 1 for ``mnist`` or ``cifar10`` in the shape of :func:`aggregate`'s output."""
    if dataset not in PAPER_TABLE1:
        raise ValueError(f"the paper's Table 1 covers {', '.join(PAPER_TABLE1)} (got {dataset!r})")
    return {
        m: {n: {"mean": v[0], "std": v[1], "seeds": [], "values": []} for n, v in by_n.items()}
        for m, by_n in PAPER_TABLE1[dataset].items()
    }
