"""The exact-game solver. Old import path, kept until every caller has moved to advdist_lab.theory.solver
(with advdist_lab.theory.dynamics and advdist_lab.theory.trajectory)."""

from .theory.dynamics import game_gradients  # noqa: F401
from .theory.small_ops import flush_denormals  # noqa: F401
from .theory.solver import DISCRIMINATORS, MODES, solve_game, sweep_game  # noqa: F401
from .theory.trajectory import GameTrajectory  # noqa: F401

__all__ = ["DISCRIMINATORS", "MODES", "GameTrajectory", "flush_denormals", "game_gradients", "solve_game", "sweep_game"]
