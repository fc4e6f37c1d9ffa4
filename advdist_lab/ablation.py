"""TPAMI Figs. 3 and 6 (the ablation study). Old import path, kept until every caller has moved to
advdist_lab.experiments.ablation (the sweeps) and advdist_lab.experiments.ablation_analysis (what they show).

``PAPER_CLAIMS`` is the old name of :data:`advdist_lab.experiments.ablation_analysis.TPAMI_ABLATION_CLAIMS`.
"""

from .experiments.ablation import (  # noqa: F401
    DEFAULT_GRIDS,
    FIG3_SEEDS,
    FIG3_SIZES,
    HYPERPARAMETERS,
    MU_GRID,
    NU_GRID,
    OMEGA_GRID,
    OMEGAS,
    base_config,
    check_grids,
    check_sizes,
    fig3_points,
    fig3_rows,
    fig6_points,
    fig6_rows,
    omega_weights,
    panel_overrides,
    panels_of,
    run_fig3,
    run_fig6,
)
from .experiments.ablation_analysis import DEFAULTS, effects, effects_markdown, paper_comparison  # noqa: F401
from .experiments.ablation_analysis import TPAMI_ABLATION_CLAIMS as PAPER_CLAIMS  # noqa: F401

__all__ = [
    "base_config",
    "check_grids",
    "check_sizes",
    "DEFAULT_GRIDS",
    "DEFAULTS",
    "effects",
    "effects_markdown",
    "fig3_points",
    "fig3_rows",
    "FIG3_SEEDS",
    "FIG3_SIZES",
    "fig6_points",
    "fig6_rows",
    "HYPERPARAMETERS",
    "MU_GRID",
    "NU_GRID",
    "OMEGA_GRID",
    "omega_weights",
    "OMEGAS",
    "panel_overrides",
    "panels_of",
    "PAPER_CLAIMS",
    "paper_comparison",
    "run_fig3",
    "run_fig6",
]
