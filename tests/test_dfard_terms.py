"""DFARD Eq. 4 (interactive temperature) and Eq. 7 (adaptive generator balance): hand-computed values, errors."""

from __future__ import annotations

import math

import pytest
import torch

from advdist_lab.robust.ita_agb import adaptive_generator_balance, interactive_temperature

F64 = torch.float64


def test_interactive_temperature_hand_computed() -> None:
    # C = 4. Teacher maxima: row 0 -> class 0 (0.7), row 1 -> class 2 (0.9).
    teacher = torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.05, 0.05, 0.9, 0.0]], dtype=F64)
    # Student's probability of those classes: row 0 -> 0.2, row 1 -> 0.4 (its own argmax differs on row 0).
    student = torch.tensor([[0.2, 0.6, 0.1, 0.1], [0.3, 0.2, 0.4, 0.1]], dtype=F64)
    # mean |Con_t - Con_s| = (0.5 + 0.5) / 2 = 0.5; tau = max(4 * 0.5, 1) = 2.
    assert interactive_temperature(teacher, student) == pytest.approx(2.0, abs=1e-12)
    # Con_s is read at the teacher's class c, not at the student's own maximum (that reading would give
    # |0.7 - 0.6| on row 0 and tau = max(4 * 0.3, 1) = 1.2 for the two rows above).
    t3 = torch.cat([teacher, torch.tensor([[0.4, 0.3, 0.2, 0.1]], dtype=F64)])
    s3 = torch.cat([student, torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=F64)])
    # extra row: c = 0, |0.4 - 0.1| = 0.3; mean = (0.5 + 0.5 + 0.3) / 3 = 1.3 / 3; tau = 4 * 1.3 / 3.
    assert interactive_temperature(t3, s3) == pytest.approx(4 * 1.3 / 3, abs=1e-12)


def test_interactive_temperature_lower_bound_and_type() -> None:
    teacher = torch.tensor([[0.6, 0.4], [0.3, 0.7]])
    student = torch.tensor([[0.5, 0.5], [0.4, 0.6]])
    # C * mean |.| = 2 * 0.1 = 0.2 < 1, so the bound 1 is returned.
    tau = interactive_temperature(teacher, student)
    assert isinstance(tau, float)
    assert tau == 1.0


def test_identical_teacher_and_student_give_one() -> None:
    p = torch.softmax(torch.randn(16, 10, generator=torch.Generator().manual_seed(0)), dim=1)
    assert interactive_temperature(p, p.clone()) == 1.0


def test_interactive_temperature_upper_value_is_c() -> None:
    c = 5
    teacher = torch.eye(c)
    student = torch.roll(torch.eye(c), 1, dims=1)  # zero probability on the teacher's class everywhere
    assert interactive_temperature(teacher, student) == pytest.approx(float(c))


def test_adaptive_generator_balance_hand_computed() -> None:
    teacher = torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.05, 0.05, 0.9, 0.0]], dtype=F64)
    # mean Con_t = 0.8; lambda = 1 / (4 * 0.8) = 0.3125.
    lam = adaptive_generator_balance(teacher)
    assert isinstance(lam, float)
    assert lam == pytest.approx(0.3125, abs=1e-12)


def test_uniform_teacher_gives_one_and_confident_gives_one_over_c() -> None:
    c = 10
    assert adaptive_generator_balance(torch.full((8, c), 1.0 / c)) == pytest.approx(1.0, abs=1e-6)
    confident = torch.nn.functional.one_hot(torch.arange(8) % c, c).float()
    assert adaptive_generator_balance(confident) == pytest.approx(1.0 / c, abs=1e-12)


def test_no_gradient_flows() -> None:
    logits = torch.randn(4, 3, requires_grad=True)
    p = torch.softmax(logits, dim=1)
    q = torch.softmax(logits.detach() * 2, dim=1)
    tau = interactive_temperature(p, q)
    lam = adaptive_generator_balance(p)
    assert type(tau) is float and type(lam) is float
    assert math.isfinite(tau) and 1.0 <= tau <= 3.0 and 1 / 3 <= lam <= 1.0
    assert logits.grad is None


GOOD = torch.tensor([[0.5, 0.5], [0.2, 0.8]])


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (torch.tensor([0.5, 0.5]), "2-D"),
        (torch.full((2, 2, 2), 0.5), "2-D"),
        (torch.empty(0, 3), "batch >= 1"),
        (torch.ones(3, 1), "C >= 2"),
        (torch.tensor([[1.5, -0.5], [0.5, 0.5]]), "non-negative"),
        (torch.tensor([[0.5, 0.6], [0.5, 0.5]]), "sum to 1"),
        (torch.tensor([[float("nan"), 0.5], [0.5, 0.5]]), "finite"),
        (torch.tensor([[float("inf"), 0.5], [0.5, 0.5]]), "finite"),
        (torch.tensor([[1, 0], [0, 1]]), "floating-point"),
        ([[0.5, 0.5]], "torch.Tensor"),
    ],
)
def test_bad_inputs_raise(bad: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        adaptive_generator_balance(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        interactive_temperature(bad, GOOD)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        interactive_temperature(GOOD, bad)  # type: ignore[arg-type]


def test_mismatched_shapes_raise() -> None:
    with pytest.raises(ValueError, match="same shape"):
        interactive_temperature(GOOD, torch.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="same shape"):
        interactive_temperature(GOOD, torch.full((2, 4), 0.25))


def test_bad_atol_raises() -> None:
    with pytest.raises(ValueError, match="atol"):
        adaptive_generator_balance(GOOD, atol=-1.0)
    with pytest.raises(ValueError, match="atol"):
        interactive_temperature(GOOD, GOOD, atol=float("nan"))


def test_the_package_api_holds_ita_and_agb():
    from advdist_lab import robust

    assert robust.interactive_temperature is interactive_temperature
    assert robust.adaptive_generator_balance is adaptive_generator_balance
