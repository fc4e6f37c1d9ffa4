"""TPAMI Figs. 4, 5 and 7 (probed training runs). Old import path, kept until every caller has moved to
advdist_lab.experiments.gradients.
"""

from .experiments.gradients import (  # noqa: F401
    FIG5_METHODS,
    OMEGA_GRID,
    SPEED_METHODS,
    SWEPT,
    cosine_vs_omega,
    folder,
    method_configs,
    omega_configs,
    omega_on_simplex,
    run,
    speed_table,
    speedup,
    total_variance_table,
    variance_curves,
)

__all__ = [
    "cosine_vs_omega",
    "FIG5_METHODS",
    "folder",
    "method_configs",
    "omega_configs",
    "OMEGA_GRID",
    "omega_on_simplex",
    "run",
    "SPEED_METHODS",
    "speed_table",
    "speedup",
    "SWEPT",
    "total_variance_table",
    "variance_curves",
]
