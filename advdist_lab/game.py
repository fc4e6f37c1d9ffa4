"""The exact-game solver. Old import path, kept until every caller has moved to advdist_lab.theory.solver."""

from .theory.small_ops import flush_denormals  # noqa: F401
from .theory.solver import (  # noqa: F401
    DISCRIMINATORS,
    MODES,
    GameTrajectory,
    game_gradients,
    solve_game,
    sweep_game,
)

__all__ = ["DISCRIMINATORS", "MODES", "GameTrajectory", "flush_denormals", "game_gradients", "solve_game", "sweep_game"]
