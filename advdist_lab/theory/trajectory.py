"""The record of one exact game (:func:`~advdist_lab.theory.solver.solve_game`) and what it measures.

Distances to ``p_r`` along the record, the first step from which a player stays near a target, and how often the
value crosses its equilibrium (TPAMI Theorems 4.2, 4.4): the quantities the notebooks and the sweeps read off.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from ..hparams import GameHParams, check_choice, check_positive
from .distributions import as_distribution, kl_per_context


@dataclass(frozen=True)
class GameTrajectory:
    """The record of one game. Tensors have the recorded steps as their first dimension.

    Attributes:
        method: ``kd``, ``ngan``, ``adib`` or ``adim``.
        hparams: the validated hyperparameters.
        p_r: the real distribution, shape ``(*contexts, labels)``.
        steps: step index of each record, shape ``(R,)``; step 0 is the initial point.
        p_s, p_t: student and teacher distributions, shape ``(R, *contexts, labels)`` (``p_t`` is the fixed
            teacher for KD and ``None`` for NGAN).
        d: discriminator probabilities, ``(R, *contexts, labels)`` (binary) or ``(R, 3, *contexts, labels)``
            (ADIM); ``None`` for KD.
        value: the value function at the recorded players and discriminator, ``(R,)``.
        optimal_value: the value with the optimal discriminator, ``V*`` (for KD: the KD loss), ``(R,)``.
        equilibrium_value: the value at the theoretical equilibrium (Theorems 4.2, 4.4; for KD the loss of
            :func:`~advdist_lab.theory.kd_optimal_student`).
        tau, samples: the Gumbel-Softmax temperature and samples per step of the players' adversarial gradients
            (``tau = None``: exact gradients).
    """

    method: str
    hparams: GameHParams
    mode: str
    p_r: Tensor
    steps: Tensor
    p_s: Tensor
    p_t: Tensor | None
    d: Tensor | None
    value: Tensor
    optimal_value: Tensor
    equilibrium_value: float
    tau: float | None = None
    samples: int = 1

    def _player(self, player: str) -> Tensor:
        p = self.p_s if player == "student" else self.p_t
        if p is None:
            raise ValueError(f"method {self.method!r} has no teacher (got player={player!r})")
        return p

    def kl_to_real(self, player: str = "student") -> Tensor:
        """``KL(p_r || p_player)`` at every record, averaged over contexts; ``player`` in student, teacher, mixture.

        ``mixture`` is ADIB's ``p_omega = omega_s p_s + omega_t p_t`` (ADIB only).
        """
        check_choice("player", player, ("student", "teacher", "mixture"))
        if player == "mixture":
            if self.method != "adib":
                raise ValueError(f"player='mixture' needs method='adib' (got method={self.method!r})")
            p = self.hparams.omega_s * self.p_s + self.hparams.omega_t * self.p_t
        else:
            p = self._player(player)
        return kl_per_context(self.p_r.expand_as(p), p).reshape(len(p), -1).mean(1)

    def total_variation(self, player: str = "student") -> Tensor:
        """Largest total-variation distance ``max_x sum_y |p_player - p_r| / 2`` over contexts, per record."""
        p = self._player(check_choice("player", player, ("student", "teacher")))
        return (0.5 * (p - self.p_r).abs().sum(-1)).reshape(len(p), -1).amax(1)

    def _first_step_staying(self, below: Tensor) -> int | None:
        if not below[-1]:
            return None
        above = (~below).nonzero()
        return int(self.steps[0 if len(above) == 0 else int(above[-1]) + 1])

    def steps_to_reach(self, tolerance: float, player: str = "student") -> int | None:
        """The first recorded step from which ``kl_to_real(player)`` stays below ``tolerance``; ``None`` if never."""
        check_positive("tolerance", tolerance)
        return self._first_step_staying(self.kl_to_real(player) < tolerance)

    def steps_to_approach(self, target: object, tolerance: float, player: str = "student") -> int | None:
        """The first recorded step from which ``max |p_player - target| < tolerance`` holds; ``None`` if never.

        Use it for games whose fixed point is not ``p_r``, such as KD's ``kd_optimal_student``.
        """
        check_positive("tolerance", tolerance)
        p = self._player(check_choice("player", player, ("student", "teacher")))
        target = as_distribution(target, "target").to(p.dtype)
        if tuple(target.shape) != tuple(p.shape[1:]):
            raise ValueError(f"target must have the shape of p_r {tuple(p.shape[1:])} (got {tuple(target.shape)})")
        gap = (p - target).abs().reshape(len(p), -1).amax(1)
        return self._first_step_staying(gap < tolerance)

    def equilibrium_crossings(self) -> int:
        """How often the value crosses its equilibrium value along the record: a count of oscillations."""
        v = self.value - self.equilibrium_value
        return int(((v[1:] * v[:-1]) < 0).sum())
