"""Tests of advdist_lab.losses against direct computations from the papers' formulas (TPAMI Eq. 1-6)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from advdist_lab.losses import (
    adib_discriminator_loss,
    adim_discriminator_loss,
    cross_entropy,
    hinton_kd_loss,
    kd_loss,
    kl_loss,
    l2_logit_loss,
    ngan_discriminator_loss,
    noisy_teacher_logits,
)
from advdist_lab.models.discriminators import three_way_log_probs

B, K = 6, 4


def logits(seed: int, shape=(B, K), scale: float = 2.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return scale * torch.randn(shape, generator=generator, dtype=torch.float64)


def direct_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``mean_b sum_k p log(p / q)`` from probabilities, the textbook formula."""
    return (p * (p / q).log()).sum(-1).mean()


LABELS = torch.tensor([0, 1, 2, 3, 1, 0])


# ------------------------------------------------------------------------------------------------------
# KL and Eq. 2
# ------------------------------------------------------------------------------------------------------


def test_kl_loss_matches_direct_computation() -> None:
    a, b = logits(0), logits(1)
    expected = direct_kl(a.softmax(-1), b.softmax(-1))
    assert torch.allclose(kl_loss(a, b), expected, atol=1e-12)
    assert kl_loss(a, b) > 0
    # not symmetric: KL(p || q) != KL(q || p) in general
    assert not torch.allclose(kl_loss(a, b), kl_loss(b, a))


def test_kl_loss_is_zero_for_equal_inputs_and_shift_invariant() -> None:
    a = logits(2)
    assert kl_loss(a, a.clone()).abs() < 1e-12
    assert kl_loss(a, a + 5.0).abs() < 1e-12  # softmax ignores a constant shift per row


def test_kl_loss_temperature() -> None:
    a, b = logits(3), logits(4)
    for t in (0.5, 3.0):
        expected = direct_kl((a / t).softmax(-1), (b / t).softmax(-1))
        assert torch.allclose(kl_loss(a, b, temperature=t), expected, atol=1e-12)
    # a high temperature flattens both distributions towards uniform: the KL shrinks
    assert kl_loss(a, b, temperature=100.0) < 0.01 * kl_loss(a, b)


def test_kl_loss_gradient_flows_into_both_arguments() -> None:
    a, b = logits(5).requires_grad_(), logits(6).requires_grad_()
    kl_loss(a, b).backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert b.grad is not None and b.grad.abs().sum() > 0


def test_cross_entropy_int_and_soft_labels_agree() -> None:
    z = logits(7)
    soft = F.one_hot(LABELS, K).double()
    assert torch.allclose(cross_entropy(z, LABELS), F.cross_entropy(z, LABELS), atol=1e-12)
    assert torch.allclose(cross_entropy(z, soft), F.cross_entropy(z, LABELS), atol=1e-12)


def test_kd_loss_is_kl_plus_upsilon_cross_entropy_for_int_labels() -> None:
    t, s = logits(8), logits(9)
    for upsilon in (0.0, 0.5, 2.0):
        expected = direct_kl(t.softmax(-1), s.softmax(-1)) + upsilon * F.cross_entropy(s, LABELS)
        assert torch.allclose(kd_loss(t, s, LABELS, upsilon), expected, atol=1e-12)


def test_kd_loss_with_int32_labels() -> None:
    t, s = logits(8), logits(9)
    assert torch.allclose(kd_loss(t, s, LABELS.int(), 1.0), kd_loss(t, s, LABELS, 1.0), atol=1e-12)


def test_kd_loss_with_soft_p_r_is_the_sum_of_two_kls() -> None:
    t, s, r = logits(10), logits(11), logits(12)
    p_r = r.softmax(-1)
    upsilon = 0.7
    expected = direct_kl(t.softmax(-1), s.softmax(-1)) + upsilon * direct_kl(p_r, s.softmax(-1))
    assert torch.allclose(kd_loss(t, s, p_r, upsilon), expected, atol=1e-12)
    # zero exactly when the student equals both targets
    assert kd_loss(r, r.clone(), p_r, upsilon).abs() < 1e-12


def test_kd_loss_soft_p_r_with_zeros() -> None:
    """A one-hot float p_r has zeros: ``0 log 0 = 0``, so the loss equals the int-label loss."""
    t, s = logits(13), logits(14)
    soft = F.one_hot(LABELS, K).double()
    assert torch.allclose(kd_loss(t, s, soft, 1.5), kd_loss(t, s, LABELS, 1.5), atol=1e-12)
    assert math.isfinite(float(kd_loss(t, s, soft, 1.5)))


def test_kd_loss_target_is_detached() -> None:
    t, s = logits(15).requires_grad_(), logits(16).requires_grad_()
    kd_loss(t, s, LABELS, 1.0).backward()
    assert t.grad is None
    assert s.grad is not None and s.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------------------------
# The KD baselines' losses
# ------------------------------------------------------------------------------------------------------


def test_l2_logit_loss() -> None:
    s, t = logits(17), logits(18)
    expected = 0.5 * ((s - t) ** 2).sum(-1).mean()
    assert torch.allclose(l2_logit_loss(s, t), expected, atol=1e-12)
    assert l2_logit_loss(s, s.clone()) == 0
    s.requires_grad_()
    t.requires_grad_()
    l2_logit_loss(s, t).backward()
    assert t.grad is None  # the teacher's logits are a fixed target
    assert torch.allclose(s.grad, (s - t).detach() / B, atol=1e-12)


def test_hinton_kd_loss_endpoints_and_t_squared_scaling() -> None:
    s, t = logits(19), logits(20)
    temperature = 3.0
    soft = direct_kl((t / temperature).softmax(-1), (s / temperature).softmax(-1))
    hard = F.cross_entropy(s, LABELS)
    # alpha = 1: the soft term alone, scaled by T^2
    assert torch.allclose(hinton_kd_loss(s, t, LABELS, temperature, alpha=1.0), temperature**2 * soft, atol=1e-12)
    # alpha = 0: the hard cross-entropy alone, whatever the teacher says
    assert torch.allclose(hinton_kd_loss(s, t, LABELS, temperature, alpha=0.0), hard, atol=1e-12)
    assert torch.allclose(hinton_kd_loss(s, t * 7, LABELS, temperature, alpha=0.0), hard, atol=1e-12)
    # in between: the convex combination
    mixed = 0.3 * temperature**2 * soft + 0.7 * hard
    assert torch.allclose(hinton_kd_loss(s, t, LABELS, temperature, alpha=0.3), mixed, atol=1e-12)


def test_noisy_teacher_logits_sigma_zero_is_identity() -> None:
    t = logits(21).requires_grad_()
    out = noisy_teacher_logits(t, 0.0)
    assert torch.equal(out, t.detach())
    assert not out.requires_grad


def test_noisy_teacher_logits_is_seeded_and_multiplicative() -> None:
    t = logits(22)
    a = noisy_teacher_logits(t, 0.1, torch.Generator().manual_seed(3))
    b = noisy_teacher_logits(t, 0.1, torch.Generator().manual_seed(3))
    c = noisy_teacher_logits(t, 0.1, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    xi = torch.randn(t.shape, generator=torch.Generator().manual_seed(3), dtype=t.dtype)
    assert torch.allclose(a, t * (1 + 0.1 * xi), atol=1e-12)


# ------------------------------------------------------------------------------------------------------
# The discriminators' losses (Eq. 3, 4, 6) from probabilities
# ------------------------------------------------------------------------------------------------------


def test_ngan_discriminator_loss_matches_probabilities() -> None:
    real, fake = logits(23, (B,)), logits(24, (B,))
    d_real, d_fake = real.sigmoid(), fake.sigmoid()
    expected = -(d_real.log().mean() + (1 - d_fake).log().mean())
    assert torch.allclose(ngan_discriminator_loss(real, fake), expected, atol=1e-12)


def test_ngan_discriminator_loss_is_finite_for_huge_logits() -> None:
    real = torch.tensor([1e4, -1e4])
    fake = torch.tensor([-1e4, 1e4])
    loss = ngan_discriminator_loss(real, fake)
    assert math.isfinite(float(loss))
    assert float(loss) == pytest.approx(0.5 * 1e4 + 0.5 * 1e4, rel=1e-6)


def test_adib_discriminator_loss_matches_probabilities() -> None:
    real, student, teacher = logits(25, (B,)), logits(26, (B,)), logits(27, (B,))
    omega_s, omega_t = 0.3, 0.7
    expected = -(
        real.sigmoid().log().mean()
        + omega_s * (1 - student.sigmoid()).log().mean()
        + omega_t * (1 - teacher.sigmoid()).log().mean()
    )
    assert torch.allclose(adib_discriminator_loss(real, student, teacher, omega_s, omega_t), expected, atol=1e-12)
    # with omega_t = 0 and omega_s = 1 it is NGAN's loss
    assert torch.allclose(
        adib_discriminator_loss(real, student, teacher, 1.0, 0.0), ngan_discriminator_loss(real, student), atol=1e-12
    )


def test_adim_discriminator_loss_matches_probabilities() -> None:
    heads = {name: (logits(30 + i, (B,)), logits(40 + i, (B,))) for i, name in enumerate(("r", "s", "t"))}

    def probs(h1, h2):
        d_r = h1.sigmoid()
        return d_r, (1 - d_r) * h2.sigmoid(), (1 - d_r) * (-h2).sigmoid()

    omega = (0.2, 0.5, 0.3)
    expected = -(
        omega[0] * probs(*heads["r"])[0].log().mean()
        + omega[1] * probs(*heads["s"])[1].log().mean()
        + omega[2] * probs(*heads["t"])[2].log().mean()
    )
    log_probs = {name: three_way_log_probs(*pair) for name, pair in heads.items()}
    got = adim_discriminator_loss(log_probs["r"], log_probs["s"], log_probs["t"], omega)
    assert torch.allclose(got, expected, atol=1e-12)
    # the three-way probabilities sum to one
    assert torch.allclose(log_probs["r"].exp().sum(-1), torch.ones(B, dtype=torch.float64), atol=1e-12)
    # each weight scales its own term only
    only_real = adim_discriminator_loss(log_probs["r"], log_probs["s"], log_probs["t"], (1.0, 0.0, 0.0))
    assert torch.allclose(only_real, -log_probs["r"][:, 0].mean(), atol=1e-12)


# ------------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: kl_loss(torch.randn(4), torch.randn(4)), "target_logits must be a"),
        (lambda: kl_loss(torch.randn(4, 1), torch.randn(4, 1)), "at least 2 labels"),
        (lambda: kl_loss(torch.randn(4, 3), torch.randn(5, 3)), "same shape"),
        (lambda: kl_loss(torch.zeros(4, 3, dtype=torch.long), torch.randn(4, 3)), "floating-point"),
        (lambda: kl_loss(torch.randn(4, 3), torch.randn(4, 3), temperature=0.0), "temperature must be > 0"),
        (lambda: kl_loss(torch.randn(4, 3), torch.randn(4, 3), temperature=-1.0), "temperature must be > 0"),
        (lambda: kd_loss(torch.randn(4, 3), torch.randn(4, 3), torch.zeros(4, dtype=torch.long), -0.1), "upsilon"),
        (lambda: kd_loss(torch.randn(4, 3), torch.randn(4, 3), torch.rand(4, 5), 1.0), "p_r must be"),
        (lambda: l2_logit_loss(torch.randn(4, 3), torch.randn(4, 2)), "same shape"),
        (lambda: hinton_kd_loss(torch.randn(4, 3), torch.randn(4, 3), torch.zeros(4).long(), 0.0), "temperature"),
        (lambda: hinton_kd_loss(torch.randn(4, 3), torch.randn(4, 3), torch.zeros(4).long(), alpha=1.5), r"\[0, 1\]"),
        (lambda: hinton_kd_loss(torch.randn(4, 3), torch.randn(4, 3), torch.zeros(4).long(), alpha=-0.1), "alpha"),
        (lambda: noisy_teacher_logits(torch.randn(4, 3), -0.1), "sigma must be >= 0"),
        (lambda: noisy_teacher_logits(torch.randn(4), 0.1), "target_logits"),
        (lambda: ngan_discriminator_loss(torch.randn(4, 1), torch.randn(4)), "real_logit must be a"),
        (lambda: adib_discriminator_loss(torch.randn(4), torch.randn(4), torch.randn(4, 2), 0.5, 0.5), "teacher_logit"),
        (
            lambda: adim_discriminator_loss(torch.randn(4, 3), torch.randn(4, 2), torch.randn(4, 3), (0.3, 0.3, 0.4)),
            "student_log_probs",
        ),
    ],
)
def test_losses_refuse_bad_arguments(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()
