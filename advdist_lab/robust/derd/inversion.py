"""DERD applied to model inversion (``002_...``, supplement Sec. 3.1, **Eq. 7-8**): the implicit generator.

The supplement: no generator; a batch ``x_inv`` is optimised from noise
by ``argmin L_oh + L_a + L_BN + L_ie`` (Eq. 7, "the implicit generator"), then the student by
``argmin_theta_s D(S(x_inv), T(x_inv))`` (Eq. 8); "DERD degenerates into a single-stage model".

``variant="inversion"`` of :class:`advdist_lab.robust.derd.config.DerdConfig` (only the robust teacher ``R``, one
stage, reported as stage 2): every iteration draws labels ``y`` and noise ``z ~ N(0, I)`` of image shape, and
minimises Eq. 7 over ``z`` for ``inversion_steps`` Adam steps (``lr_inversion``), ``x_inv = sigmoid(z)``
(:func:`invert_batch`)::

    lambda_oh CE(R(x_inv), y) - lambda_adv KL_tau(R(x_inv) || S(x_inv)) + lambda_bn L_BN(R; x_inv)
        - lambda_ie H(mean_i p(R(x_inv_i)))

(the objective is the generator's loss of :class:`advdist_lab.robust.derd.stages.DerdDistiller`), then takes
``ts`` student steps on that batch with Eq. 8's ``D = KD_tau(R(x_inv'), S(x_inv'))``, ``x_inv'`` a fresh PGD
adversarial example of ``x_inv`` at each step (as in the rest of the project: the robustness comes from
distilling on adversarial examples).

**Where the supplement is silent, and what we chose.** ``x_inv = sigmoid(z)`` keeps the images in ``[0, 1]``
like the generator's sigmoid output; Adam with DeepInversion's betas ``(0.5, 0.9)``, a new optimiser per batch;
Eq. 7's terms take the stage-I weights (Eq. 7 writes no weights; unweighted, the BN term would swamp the others);
the ``ts`` student steps reuse the batch (synthesis is the expensive part, Sec. 3.1); ``natural_teacher`` must not
be given (Sec. 3.1 uses one teacher). The run folder holds ``inverted.pt``, the first 64 images of the last
inverted batch with labels (:func:`inverted_sample`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from advdist_lab.hparams import check_int_at_least, check_iterations, check_positive, check_positive_int

__all__ = ["INVERSION_BETAS", "SAMPLE_IMAGES", "invert_batch", "inverted_sample"]

INVERSION_BETAS = (0.5, 0.9)
"""Adam's betas for Eq. 7 (DeepInversion's)."""

SAMPLE_IMAGES = 64
"""How many images of the last inverted batch ``inverted.pt`` keeps."""


def invert_batch(
    objective: Callable[[torch.Tensor, torch.Tensor], tuple[dict[str, float], torch.Tensor]],
    *,
    batch_size: int,
    num_classes: int,
    image_shape: Sequence[int],
    steps: int,
    lr: float,
    rng: torch.Generator,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Eq. 7: one batch optimised from noise; ``(x_inv, y, the last step's logged terms)``.

    Labels ``y`` and noise ``z`` are drawn from ``rng`` (on its device, then moved to ``device``);
    ``objective(sigmoid(z), y)`` returns ``(logged terms, loss)`` and is minimised over ``z`` for ``steps`` Adam
    steps at ``lr``. The logged terms gain ``generator_loss``, the loss of each step.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    num_classes = check_int_at_least("num_classes", num_classes, 2)
    steps = check_iterations("inversion_steps", steps)
    lr = check_positive("lr_inversion", lr)
    draw = rng.device
    y = torch.randint(0, num_classes, (batch_size,), generator=rng, device=draw).to(device)
    z = torch.randn((batch_size, *image_shape), generator=rng, device=draw).to(device)
    z.requires_grad_(True)
    optimiser = torch.optim.Adam([z], lr=lr, betas=INVERSION_BETAS)
    logged: dict[str, float] = {}
    for _ in range(steps):
        logged, total = objective(torch.sigmoid(z), y)
        optimiser.zero_grad(set_to_none=True)
        total.backward()
        optimiser.step()
        logged["generator_loss"] = float(total.detach())
    return torch.sigmoid(z.detach()), y, logged


def inverted_sample(x_inv: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The first :data:`SAMPLE_IMAGES` images of an inverted batch and their labels, on the CPU (``inverted.pt``)."""
    return {"images": x_inv[:SAMPLE_IMAGES].cpu().clone(), "labels": y[:SAMPLE_IMAGES].cpu().clone()}
