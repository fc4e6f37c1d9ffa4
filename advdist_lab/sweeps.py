"""Sweeps and many runs.

Old import path, kept until every caller has moved to advdist_lab.runs.sweeps (grids, points, run_sweep, summaries)
and advdist_lab.runs.executors (run_configs, default_jobs, the worker processes).
"""

from __future__ import annotations

from .runs.executors import RunsInterrupted, default_jobs, run_configs, train_cached  # noqa: F401
from .runs.sweeps import (  # noqa: F401
    ACCURACIES,
    CONFIG_FIELDS,
    TEACHERS,
    SweepPoint,
    check_field,
    check_seeds,
    check_unique,
    format_value,
    grid,
    mean_std,
    overrides_key,
    point_folder,
    points,
    run_sweep,
    summarize,
    to_markdown,
)

__all__ = [
    "ACCURACIES",
    "CONFIG_FIELDS",
    "TEACHERS",
    "RunsInterrupted",
    "SweepPoint",
    "check_field",
    "check_seeds",
    "check_unique",
    "default_jobs",
    "format_value",
    "grid",
    "mean_std",
    "overrides_key",
    "point_folder",
    "points",
    "run_configs",
    "run_sweep",
    "summarize",
    "to_markdown",
    "train_cached",
]
