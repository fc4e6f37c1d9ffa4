"""Validated hyperparameters of the TPAMI paper's methods (``000_...``, Eq. 2, 4, 6, 10).

Every constructor checks its values before anything runs, and a bad value raises one ``ValueError`` whose
message names the constraint and the offending value, for example::

    ValueError: omega must lie on the open simplex: omega_r + omega_s + omega_t = 1 (got 1.2 = 0.5 + 0.5 + 0.2)

Names follow the paper:

* ``omega = (omega_r, omega_s, omega_t)``: the weights of the real, student and teacher terms of ADIM's
  adversarial loss (Eq. 6), each > 0 and summing to 1. ADIB (Eq. 4) has no real-data weight and uses
  ``omega_s + omega_t = 1`` with both > 0.
* ``nu``: weight of the distillation loss that trains the student, ``L_KD(p_t || p_s)`` (Eq. 4, 6), >= 0.
* ``mu``: weight of the distillation loss that trains the teacher, ``L_KD(p_s || p_t)`` (Eq. 4, 6), >= 0.
* ``upsilon``: weight of the real-data term inside the distillation loss,
  ``L_KD(p_t || p_s) = KL(p_t || p_s) + upsilon * KL(p_r || p_s)`` (Eq. 2), >= 0.
* ``tau``: the Gumbel-Softmax temperature of the concrete distribution (Eq. 10), > 0, annealed by a
  :class:`TemperatureSchedule` (the paper anneals it from 10 to 0.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real

SIMPLEX_ATOL = 1e-6
"""Tolerance on ``sum(omega) == 1``."""

METHODS = ("kd", "ngan", "adib", "adim")
"""Methods of the exact-distribution game: KD (Eq. 2), NGAN (Eq. 3), ADIB (Eq. 4), ADIM (Eq. 6)."""

SCHEDULE_KINDS = ("constant", "exponential", "linear", "step")


def check_real(name: str, value: object) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` if it is not a finite real number.

    One-element tensors and arrays (anything with ``.item()`` and one element) are accepted as their value.
    """
    if not isinstance(value, (bool, Real)) and callable(getattr(value, "item", None)):
        try:
            value = value.item()  # raises for tensors and arrays of more than one element
        except (ValueError, RuntimeError, TypeError):
            raise ValueError(f"{name} must be a finite real number (got {value!r})") from None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a finite real number (got {value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number (got {value!r})")
    return value


def check_nonnegative(name: str, value: object) -> float:
    """Return ``value`` as a float if it is finite and ``>= 0``; otherwise raise ``ValueError``."""
    value = check_real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (got {value!r})")
    return value


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float if it is finite and ``> 0``; otherwise raise ``ValueError``."""
    value = check_real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0 (got {value!r})")
    return value


def check_int_at_least(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an integer (not a bool) ``>= minimum``; otherwise raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})")
    return value


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an integer ``>= 1``; otherwise raise ``ValueError``."""
    return check_int_at_least(name, value, 1)


def check_nonnegative_int(name: str, value: object) -> int:
    """Return ``value`` if it is an integer ``>= 0`` (a seed, a count that may be zero); otherwise raise."""
    return check_int_at_least(name, value, 0)


MAX_EPOCHS = 10_000
"""The most epochs a command accepts: the papers train 50-200; 10,000 epochs of the smallest run on digits would take
over a day on a laptop, so a larger count is a typo (an extra zero) rather than a plan."""

MAX_ITERATIONS = 1_000_000
"""The most iterations (generator or attack steps per epoch, solver steps) a command accepts, for the same reason."""


def check_count(name: str, value: object, maximum: int, minimum: int = 1, why: str = "") -> int:
    """Return ``value`` if it is an integer in ``[minimum, maximum]``; otherwise raise ``ValueError`` that names
    the bound and, with ``why``, the reason for it (an epoch count, a number of steps)."""
    value = check_int_at_least(name, value, minimum)
    if value > maximum:
        reason = f": {why}" if why else ""
        raise ValueError(f"{name} must be <= {maximum:,} (got {value:,}){reason}")
    return value


def check_epochs(name: str, value: object, minimum: int = 1) -> int:
    """An epoch count in ``[minimum, MAX_EPOCHS]``, the message saying why the bound is there."""
    return check_count(
        name, value, MAX_EPOCHS, minimum, "a sane bound on epochs (the papers train at most a few hundred)"
    )


def check_iterations(name: str, value: object, minimum: int = 1) -> int:
    """An iteration count in ``[minimum, MAX_ITERATIONS]``, the message saying why the bound is there."""
    return check_count(
        name, value, MAX_ITERATIONS, minimum, "a sane bound on iterations (the papers use at most thousands)"
    )


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise raise ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)} (got {value!r})")
    return value  # type: ignore[return-value]


def check_omega(omega: object) -> tuple[float, float, float]:
    """Validate ADIM's ``omega = (omega_r, omega_s, omega_t)`` on the open simplex (Eq. 6).

    Accepts a sequence of three numbers or an :class:`Omega`; returns a tuple of floats.
    """
    if isinstance(omega, Omega):
        return omega.as_tuple()
    try:
        values = tuple(omega)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"omega must be a sequence (omega_r, omega_s, omega_t) (got {omega!r})") from None
    if len(values) != 3:
        raise ValueError(f"omega must have three entries (omega_r, omega_s, omega_t) (got {len(values)}: {values!r})")
    names = ("omega_r", "omega_s", "omega_t")
    checked = tuple(check_real(n, v) for n, v in zip(names, values))
    for n, v in zip(names, checked):
        if v <= 0:
            raise ValueError(f"omega must lie on the open simplex: {n} > 0 (got {n} = {v!r})")
    total = sum(checked)
    if abs(total - 1.0) > SIMPLEX_ATOL:
        raise ValueError(
            "omega must lie on the open simplex: omega_r + omega_s + omega_t = 1 "
            f"(got {total!r} = {' + '.join(repr(v) for v in checked)})"
        )
    return checked  # type: ignore[return-value]


def check_binary_omega(omega_s: object, omega_t: object) -> tuple[float, float]:
    """Validate ADIB's weights (Eq. 4): ``omega_s, omega_t > 0`` and ``omega_s + omega_t = 1``."""
    omega_s = check_real("omega_s", omega_s)
    omega_t = check_real("omega_t", omega_t)
    for n, v in (("omega_s", omega_s), ("omega_t", omega_t)):
        if v <= 0:
            raise ValueError(f"ADIB weights must satisfy {n} > 0 (got {n} = {v!r})")
    if abs(omega_s + omega_t - 1.0) > SIMPLEX_ATOL:
        raise ValueError(
            f"ADIB weights must satisfy omega_s + omega_t = 1 (got {omega_s!r} + {omega_t!r} = {omega_s + omega_t!r})"
        )
    return omega_s, omega_t


def complete_omega(
    kind: str | None, omega_r: object, omega_s: object, omega_t: object, label: str
) -> tuple[float | None, float | None, float | None]:
    """``(omega_r, omega_s, omega_t)`` with the unset (``None``) weights completed on the simplex, then checked.

    * ``kind = "adim"`` (Eq. 6): missing weights share what the given ones leave (1/3 each when none is given).
    * ``kind = "adib"`` (Eq. 4): ``omega_r`` stays ``None`` (the caller refuses a given one); ``omega_t = 1 -
      omega_s`` and vice versa, 1/2 each when neither is given.
    * ``kind = None``: the method has no adversarial weights; any given one raises
      ``"<label> takes no omega weights"``.
    """
    omegas = (omega_r, omega_s, omega_t)
    if kind == "adim":
        given = [check_real(n, v) for n, v in zip(("omega_r", "omega_s", "omega_t"), omegas) if v is not None]
        missing = 3 - len(given)
        share = (1.0 - sum(given)) / missing if missing else 0.0
        return check_omega(tuple(share if v is None else v for v in omegas))
    if kind == "adib":
        s, t = omega_s, omega_t
        if s is None and t is None:
            s, t = 0.5, 0.5
        elif t is None:
            t = 1.0 - check_real("omega_s", s)
        elif s is None:
            s = 1.0 - check_real("omega_t", t)
        return (None, *check_binary_omega(s, t))
    given = [n for n, v in zip(("omega_r", "omega_s", "omega_t"), omegas) if v is not None]
    if given:
        raise ValueError(f"{label} takes no omega weights (got {', '.join(given)})")
    return (None, None, None)


@dataclass(frozen=True)
class Omega:
    """ADIM's adversarial weights ``(omega_r, omega_s, omega_t)`` on the open simplex (TPAMI Eq. 6)."""

    omega_r: float = 1 / 3
    omega_s: float = 1 / 3
    omega_t: float = 1 / 3

    def __post_init__(self) -> None:
        r, s, t = check_omega((self.omega_r, self.omega_s, self.omega_t))
        object.__setattr__(self, "omega_r", r)
        object.__setattr__(self, "omega_s", s)
        object.__setattr__(self, "omega_t", t)

    @classmethod
    def from_pair(cls, omega_r: float, omega_s: float) -> Omega:
        """The point whose third weight is derived: ``omega_t = 1 - omega_r - omega_s``."""
        return cls(omega_r, omega_s, 1.0 - check_real("omega_r", omega_r) - check_real("omega_s", omega_s))

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.omega_r, self.omega_s, self.omega_t)


@dataclass(frozen=True)
class DistillationWeights:
    """The weights ``nu``, ``mu`` (Eq. 4, 6) and ``upsilon`` (Eq. 2) of the distillation losses, all >= 0."""

    nu: float = 0.0
    mu: float = 0.0
    upsilon: float = 0.0

    def __post_init__(self) -> None:
        for name in ("nu", "mu", "upsilon"):
            object.__setattr__(self, name, check_nonnegative(name, getattr(self, name)))


@dataclass(frozen=True)
class TemperatureSchedule:
    """The Gumbel-Softmax temperature ``tau`` over a run (TPAMI Eq. 10; annealed from 10 to 0.1 in Sec. 5).

    Kinds, with ``progress = step / (total - 1)`` in [0, 1]:

    * ``constant``: ``tau = start`` throughout (``end`` must equal ``start``).
    * ``exponential``: ``tau = start * (end / start) ** progress``, geometric from ``start`` to ``end``.
    * ``linear``: ``tau = start + (end - start) * progress``.
    * ``step``: KDGAN's original code, ``tau = max(end, start * factor ** (step // every))``.

    A run of a single step uses ``start`` (``progress = 0``).
    """

    start: float = 10.0
    end: float = 0.1
    kind: str = "exponential"
    factor: float = 0.88
    every: int = 1

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, SCHEDULE_KINDS)
        object.__setattr__(self, "start", check_positive("tau start", self.start))
        object.__setattr__(self, "end", check_positive("tau end", self.end))
        if self.kind == "constant" and self.end != self.start:
            raise ValueError(
                f"a constant temperature schedule needs end == start (got start={self.start!r}, end={self.end!r})"
            )
        factor = check_real("factor", self.factor)
        if not 0 < factor <= 1:
            raise ValueError(f"factor must be in (0, 1] (got {factor!r})")
        object.__setattr__(self, "factor", factor)
        check_iterations("every", self.every)

    @classmethod
    def constant(cls, tau: float) -> TemperatureSchedule:
        return cls(start=tau, end=tau, kind="constant")

    def at(self, step: int, total: int) -> float:
        """The temperature at ``step`` (0-based) of a run of ``total`` steps (or epochs)."""
        check_iterations("total", total)
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < total:
            raise ValueError(f"step must be an integer in [0, total) = [0, {total}) (got {step!r})")
        progress = step / (total - 1) if total > 1 else 0.0
        if self.kind == "constant":
            return self.start
        if self.kind == "exponential":
            return self.start * (self.end / self.start) ** progress
        if self.kind == "linear":
            return self.start + (self.end - self.start) * progress
        return max(self.end, self.start * self.factor ** (step // self.every))

    def values(self, total: int) -> list[float]:
        """The temperature at every step of a run of ``total`` steps (a list: ``total`` is bounded)."""
        total = check_iterations("total", total)
        return [self.at(k, total) for k in range(total)]


@dataclass(frozen=True)
class GameHParams:
    """The hyperparameters of one method of the TPAMI paper, checked together.

    ``method`` is one of :data:`METHODS`. Which weights apply depends on it:

    * ``kd`` (Eq. 2): ``upsilon``; no adversarial weights.
    * ``ngan`` (Eq. 3): none.
    * ``adib`` (Eq. 4): ``omega_s + omega_t = 1`` (``omega_r`` must stay ``None``), ``nu``, ``mu``, ``upsilon``.
    * ``adim`` (Eq. 6): ``omega_r + omega_s + omega_t = 1``, ``nu``, ``mu``, ``upsilon``.

    Unset weights are completed on the simplex: missing omegas share what the given ones leave (equal weights
    when none is given; for ADIB ``omega_t = 1 - omega_s`` and vice versa); ``nu = mu = upsilon = 0``.
    """

    method: str = "adim"
    omega_r: float | None = None
    omega_s: float | None = None
    omega_t: float | None = None
    nu: float = 0.0
    mu: float = 0.0
    upsilon: float = 0.0
    tau: TemperatureSchedule = field(default_factory=TemperatureSchedule)

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        weights = DistillationWeights(self.nu, self.mu, self.upsilon)
        for name in ("nu", "mu", "upsilon"):
            object.__setattr__(self, name, getattr(weights, name))
        if not isinstance(self.tau, TemperatureSchedule):
            raise ValueError(f"tau must be a TemperatureSchedule (got {self.tau!r})")
        if self.method == "adib" and self.omega_r is not None:
            raise ValueError(f"ADIB has no real-data weight: omega_r must be None (got {self.omega_r!r})")
        kind = self.method if self.method in ("adim", "adib") else None
        values = complete_omega(kind, self.omega_r, self.omega_s, self.omega_t, self.method.upper())
        for name, value in zip(("omega_r", "omega_s", "omega_t"), values):
            object.__setattr__(self, name, value)

    @property
    def omega(self) -> tuple[float, float, float] | tuple[float, float] | None:
        """``(omega_r, omega_s, omega_t)`` for ADIM, ``(omega_s, omega_t)`` for ADIB, ``None`` otherwise."""
        if self.method == "adim":
            return (self.omega_r, self.omega_s, self.omega_t)  # type: ignore[return-value]
        if self.method == "adib":
            return (self.omega_s, self.omega_t)  # type: ignore[return-value]
        return None
