"""The formatting every table of the course shares: mean and spread over seeds, and markdown tables.

The standard deviation over seeds is the sample standard deviation (``ddof = 1``); a single seed has no spread
(``nan``) and its cell shows the mean alone. TPAMI Table 1 itself (the paper's numbers and ours aggregated from
run results) is :mod:`advdist_lab.experiments.table1`; Table 4 is :mod:`advdist_lab.experiments.table4`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = ["format_cell", "markdown_table", "mean_std"]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``nan`` for one value); ``ValueError`` for none."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def format_cell(mean: float, std: float | None, digits: int = 2) -> str:
    """``"78.70 ± 0.11"``; the mean alone when there is no spread (``std`` is ``None`` or ``nan``: one seed)."""
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be an integer >= 0 (got {digits!r})")
    if std is None or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


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
