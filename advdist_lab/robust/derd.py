"""DERD: data-free experts-guided robustness distillation (``002_...``, the supplementary material only).

We have DERD's supplement, not its main paper, and no code of DERD is public: this module is, as far as we know,
the first open implementation, and every loss the supplement does not spell out is our choice, listed below. What
the supplement gives:

* Two **experts**: a *natural* teacher (trained on clean data) and a *robust* teacher (adversarially trained);
  the student and a generator ``x_hat = g(z, y)`` are trained in **two stages**: stage I warms the generator up
  with natural knowledge (Sec. 3.1: "there is no need to warm up the generator with natural knowledge" once the
  generator is gone), stage II distils robustness. Fig. 1 motivates the order: students learn natural knowledge
  before robust knowledge.
* Sec. 1, hyperparameters. The weight names are **OCR-garbled** in our copy. Stage I, CIFAR-10:
  "A, = 0.05, Aje = 5, Apy = 1le = 5, Aq = 0.01", which we read as ``lambda_oh = 0.05`` (one-hot),
  ``lambda_ie = 5`` (information entropy), ``lambda_BN = 1e-5`` ("1le = 5" is "1e-5"; CIFAR-100 prints it
  "le- 5") and ``lambda_a = 0.01``. Stage II, CIFAR-10: "Ay = 0.003, A, = 0.5, Asga = 5e-4": three weights
  whose terms the supplement never names (our reading below). These are the defaults of :class:`DerdConfig` on
  every dataset (we have no others; see the note on scales).
* Sec. 3.1, **Eq. 7-8**, DERD applied to model inversion: no generator; a batch ``x_inv`` is optimised from noise
  by ``argmin L_oh + L_a + L_BN + L_ie`` (Eq. 7, "the implicit generator"), then the student by
  ``argmin_theta_s D(S(x_inv), T(x_inv))`` (Eq. 8); "DERD degenerates into a single-stage model".
* Sec. 3.2, DERD **without a natural teacher**: "we use the student model as a substitute model for the natural
  teacher, forming a self-adversary mechanism with the robust teacher".
* Tables 1-3: :data:`PAPER_DERD_TABLE1` (ImageNet-100), :data:`PAPER_DERD_TABLE2` (model inversion) and
  :data:`PAPER_DERD_TABLE3` (no natural teacher), CIFAR-10 with a ResNet-18 student, in percent.

**The method as implemented** (``p = softmax``, ``KL_tau`` the ``tau^2``-scaled KL of
:func:`advdist_lab.robust.dfard_loss.kl_divergence`, ``KD_tau`` = :func:`advdist_lab.robust.distillation.kd_loss`,
``x`` a generated batch, ``x'`` its PGD adversarial examples against the student as in DFARD's distillation stage,
:func:`advdist_lab.robust.distillation.adversarial_examples`). Each epoch repeats ``iterations`` times ``tg``
generator steps and ``ts`` student steps (DFARD's Algorithm 1 layout, :class:`advdist_lab.robust.dfard.DfardConfig`);
epochs ``1 .. stage1_epochs`` are stage I, the rest stage II.

``variant="derd"`` (natural teacher ``N``, robust teacher ``R``):

* stage I, generator: ``lambda_oh CE(N(x), y) - lambda_ie H(mean_i p(N(x_i))) + lambda_bn L_BN(N; x)
  - lambda_adv KL_tau(N(x) || S(x)) [- lambda_act mean|f_N(x)|]``;
  student: ``KD_tau(N(x), S(x))`` on clean generated images (natural knowledge only: ``R`` is not read at all).
* stage II, generator: the stage-I terms ``- lambda_adv2 KL_tau(R(x) || S(x)) + lambda_sga L_BN(R; x)``;
  student: ``KD_tau(R(x'), S(x')) + lambda_nat KD_tau(N(x), S(x))``.

``variant="no-natural"`` (Sec. 3.2; only ``R``): wherever ``derd`` reads ``N``, it reads a stand-in. The data
priors of the generator (``oh``, ``ie``, ``BN``, ``act``) come from ``R`` in both stages. The natural predictions
(the student's stage-I target, the generator's ``lambda_adv`` term and the ``lambda_nat`` term) come from ``R`` in
stage I and, from stage II on, from **the student itself as it was at the end of stage I** (a frozen copy). So
stage I is a DFAD-like self-adversary of the student against ``R``, and stage II adds, besides the robust
terms, a pull towards the student's own natural knowledge of stage I.

``variant="inversion"`` (Sec. 3.1; only ``R``, one stage, reported as stage 2): every iteration draws labels
``y`` and noise ``z ~ N(0, I)`` of image shape, and minimises Eq. 7 over ``z`` for ``inversion_steps`` Adam steps
(``lr_inversion``), ``x_inv = sigmoid(z)``::

    lambda_oh CE(R(x_inv), y) - lambda_adv KL_tau(R(x_inv) || S(x_inv)) + lambda_bn L_BN(R; x_inv)
        - lambda_ie H(mean_i p(R(x_inv_i)))

then takes ``ts`` student steps on that batch with Eq. 8's ``D = KD_tau(R(x_inv'), S(x_inv'))``, ``x_inv'`` a
fresh PGD adversarial example of ``x_inv`` at each step (as in the rest of the project: the robustness comes
from distilling on adversarial examples).

Each history entry (besides the runner's epoch and accuracies) holds ``stage`` (1 or 2), ``tau`` (the fixed
temperature, named as in DFARD's entries), the generator's unweighted terms ``generator_oh``, ``generator_ie``
(``-H``), ``generator_bn``, ``generator_adv`` (``-KL`` against the natural expert), in stage II
``generator_adv_robust`` and ``generator_bn_robust``, ``generator_act`` when ``lambda_act > 0``, the weighted
``generator_loss``, ``teacher_agreement`` and ``teacher_confidence`` (the prior teacher's argmax against ``y``
and its mean top probability on generated images), the student's ``student_kd_natural`` (stage I; stage II of
``derd`` and ``no-natural``), ``student_kd_robust`` (stage II) and ``student_loss``, and ``lr_student``. For
``inversion`` the ``generator_*`` terms are those of the last inner step of each inverted batch.

**Where the supplement is silent, and what we chose.**

* ``L_a`` of stage I and Eq. 7. We read it as an *adversarial* term ``-KL_tau(N(x) || S(x))``
  (DFAD/DFARD's ``L_adv``, weight ``lambda_adv = 0.01``). Against it: ``L_oh``, ``L_a``, ``L_ie`` is exactly
  DAFL's notation (one-hot, **activation**, information entropy), and ``lambda_ie = 5`` is DAFL's ``beta``
  while ``lambda_a = 0.1`` on CIFAR-100 and ImageNet-100 is DAFL's activation weight ``alpha``. Both readings are
  available: ``lambda_adv=0, lambda_act=0.01`` gives the DAFL one (``lambda_act`` weights DAFL's
  ``-mean|f|`` on the prior teacher's penultimate features; default 0).
* Stage II's three weights. We read ``lambda_adv2 = 0.003`` as the generator's new adversarial term against the
  robust teacher, ``lambda_nat = 0.5`` as the weight of the natural teacher's KD term in the student loss (it is
  ``1`` on ImageNet-100; an additive weight, since a convex weight of 1 would drop the robust teacher), and
  ``lambda_sga = 5e-4`` (we keep the OCR'd name) as a term we define: the BN-statistics loss of the robust
  teacher, so that in stage II both experts' statistics guide the generator. The stage-I generator terms keep
  their weights in stage II (the generator "continues").
* ``L_BN``: DeepInversion's ``sum_l ||mu_l - mu_l^run||_2 + ||var_l - var_l^run||_2`` over the teacher's
  ``BatchNorm2d`` layers (:meth:`advdist_lab.robust.teacher_statistics.BatchNormStatistics.loss`, ``"variance"``).
  On the 8x8 digits with ``digits-cnn`` it is of order 5, so ``lambda_bn = 1e-5`` makes it negligible there.
* Loss scales. The supplement's weights fit the authors' (unknown) reductions and sums, not necessarily ours
  (batch means, ``tau^2``-scaled KL, the BN form above); we keep them on every dataset rather than invent
  others. At our scales they make the generator barely adversarial: its ``-KL`` terms weigh 0.01 and 0.003
  against 0.05 for ``L_oh`` and 5 for ``L_ie``, and on the digits the generator variants learn far less from
  the teachers than DFARD's adversarial generator does. If the authors summed the KL over the batch (DFARD's
  Eq. 5 writes a sum), their weights correspond to ``lambda_adv`` and ``lambda_adv2`` times the batch size here.
* ``L_ie``: the entropy of the batch-mean prediction, natural log, maximised (DAFL's, :func:`batch_entropy`).
  ``L_oh``: cross-entropy to the label ``y`` the conditional generator was asked for (DFARD's ``L_cls``).
* Temperature: one fixed ``tau = 3`` (DFARD's best fixed temperature, its Table 3 "Vanilla") for every KL and
  KD; DERD gives none and has no ITA.
* Stage split: the supplement gives none; the default ``stage1_epochs`` is a third of the epochs (at least one
  when ``epochs >= 2``). ``stage1_epochs = 0`` is allowed for ``derd`` (no warm-up: an ablation), not for
  ``no-natural`` (its stand-in is the student after stage I).
* The stand-in of ``no-natural`` (above): a frozen copy of the student in eval mode, taken when stage II starts;
  stored in the checkpoint so resume is exact. Using the *live* student instead would make both of its terms
  vanish (``KL(S || S) = 0`` with a zero gradient), and the student cannot teach itself in stage I.
* Inversion: ``x_inv = sigmoid(z)`` keeps the images in ``[0, 1]`` like the generator's sigmoid output; Adam
  with DeepInversion's betas ``(0.5, 0.9)``, a new optimiser per batch; Eq. 7's terms take the stage-I weights
  (Eq. 7 writes no weights; unweighted, the BN term would swamp the others); the ``ts`` student steps reuse the
  batch (synthesis is the expensive part, Sec. 3.1); ``natural_teacher`` must not be given (Sec. 3.1 uses one
  teacher). ``artifacts()`` holds ``inverted.pt``, the first 64 images of the last inverted batch with labels.
* Everything else follows DFARD's implementation in this project: optimisers (student SGD with cosine annealing
  over all student steps, generator Adam), PGD-10 of the distillation stage, batch size, per-epoch evaluation
  and best-epoch selection (:mod:`advdist_lab.robust.runner`); the student is in eval mode and frozen during
  generator and inversion steps, in train mode for its own steps (one forward on ``x'``, one on ``x``).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from advdist_lab.hparams import (
    check_choice,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
)
from advdist_lab.robust.runner import DistillConfig

__all__ = [
    "DERD_COLUMNS",
    "DERD_VARIANTS",
    "PAPER_DERD_TABLE1",
    "PAPER_DERD_TABLE2",
    "PAPER_DERD_TABLE3",
    "DerdConfig",
    "DerdDistiller",
    "run_derd",
]

DERD_VARIANTS = ("derd", "no-natural", "inversion")
"""``derd``: two stages, generator, natural and robust teachers; ``no-natural``: Sec. 3.2, the student stands in
for the natural teacher; ``inversion``: Sec. 3.1, Eq. 7-8, model inversion instead of a generator, one stage."""

DERD_COLUMNS = ("clean", "fgsm", "pgd_s", "pgd_t", "cw_inf", "autoattack", "average")
"""The columns of the supplement's tables: Clean, FGSM, PGD_S, PGD_T, CW, AA and Ave, the mean of the six before
it, Clean included (the mean of the five attacks misses by 2.5 to 12.6 points). Every row's Ave matches that mean
within 0.01, except DERD's own row in Tables 2 and 3: printed 56.29, its columns average 56.268 (the same in
both tables, so a slip of the paper, not of the OCR)."""

PAPER_DERD_TABLE1: dict[str, tuple[float, ...]] = {
    "Nature": (89.49, 52.10, 6.15, 7.32, 2.54, 0.00, 26.26),
    "SAT": (78.44, 66.79, 50.01, 53.68, 66.17, 55.62, 61.78),
    "DERD (ours)": (61.56, 59.44, 40.77, 42.71, 44.79, 43.34, 48.76),
}
"""Supplement Table 1: ImageNet-100 (in percent; "732" of the OCR is 7.32)."""

_BASELINES: dict[str, tuple[float, ...]] = {
    "DAFL": (54.98, 27.04, 24.75, 25.87, 22.90, 22.25, 29.63),
    "DFAD": (57.58, 31.54, 29.68, 30.65, 26.94, 26.47, 33.81),
    "ZSKT": (58.08, 31.98, 29.94, 30.92, 27.21, 26.68, 34.13),
    "CMI": (53.28, 25.78, 23.14, 23.97, 21.03, 20.38, 27.92),
    "DFARD": (66.44, 38.53, 35.94, 37.15, 32.79, 32.14, 40.49),
}
_DERD_ROW = (72.83, 67.39, 53.64, 54.01, 53.71, 36.03, 56.29)

PAPER_DERD_TABLE2: dict[str, tuple[float, ...]] = {
    **_BASELINES,
    "DERD_inv": (62.44, 50.42, 42.51, 42.89, 38.72, 28.94, 44.32),
    "DERD (ours)": _DERD_ROW,
}
"""Supplement Table 2, "Apply DERD to model-inversion based framework" (CIFAR-10, ResNet-18, percent), columns
:data:`DERD_COLUMNS`. OCR fixes: digits run together without their point ("2475" = 24.75, "2290" = 22.90,
"3853" = 38.53, "5042" = 50.42, ...). The DAFL, ZSKT, CMI and DFARD rows equal DFARD's Table 1 (RN-18,
CIFAR-10); DFAD's is not in it."""

PAPER_DERD_TABLE3: dict[str, tuple[float, ...]] = {
    **_BASELINES,
    "w/o T_nat": (52.51, 49.34, 37.66, 39.67, 38.54, 23.31, 40.17),
    "DERD (ours)": _DERD_ROW,
}
"""Supplement Table 3, "The robustness of DERD without the nature teacher" (same setting and columns as
Table 2; the OCR's "w/0 That" is "w/o T_nat")."""

_INVERSION_STEPS = {"digits": 20, "cifar10": 50, "cifar10-random": 50}
_INVERSION_BETAS = (0.5, 0.9)
_SAMPLE_IMAGES = 64
_STAGE1_WEIGHTS = ("lambda_oh", "lambda_ie", "lambda_bn", "lambda_adv", "lambda_act")
_WEIGHTS = (*_STAGE1_WEIGHTS, "lambda_adv2", "lambda_nat", "lambda_sga")


@dataclass(frozen=True)
class DerdConfig(DistillConfig):
    """DERD's hyperparameters (module docstring; the shared ones in :class:`DistillConfig`, whose ``teacher`` is
    the **robust** teacher).

    ``variant``: one of :data:`DERD_VARIANTS`. ``natural_teacher``: the natural teacher's run folder or model file,
    required by ``derd`` and not accepted by the others. ``stage1_epochs``: epochs ``1 .. stage1_epochs`` are
    stage I (``None``: a third of ``epochs``, at least 1 when ``epochs >= 2``; always 0 for ``inversion``).
    ``tau``: the temperature of every KL and KD term. Stage-I weights (supplement, CIFAR-10): ``lambda_oh``
    0.05, ``lambda_ie`` 5, ``lambda_bn`` 1e-5, ``lambda_adv`` 0.01, plus ``lambda_act`` (ours, 0: DAFL's
    activation term, the other reading of ``L_a``). Stage-II weights: ``lambda_adv2`` 0.003, ``lambda_nat`` 0.5,
    ``lambda_sga`` 5e-4. ``inversion_steps`` (``None``: 20 on digits, 50 on CIFAR) and ``lr_inversion``: Eq. 7's
    optimisation of each inverted batch.
    """

    variant: str = "derd"
    natural_teacher: str | None = None
    stage1_epochs: int | None = None
    tau: float = 3.0
    lambda_oh: float = 0.05
    lambda_ie: float = 5.0
    lambda_bn: float = 1e-5
    lambda_adv: float = 0.01
    lambda_act: float = 0.0
    lambda_adv2: float = 0.003
    lambda_nat: float = 0.5
    lambda_sga: float = 5e-4
    inversion_steps: int | None = None
    lr_inversion: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("variant", self.variant, DERD_VARIANTS)
        if self.natural_teacher is not None:
            if not isinstance(self.natural_teacher, str):
                raise ValueError(f"natural_teacher must be a path (got {self.natural_teacher!r})")
            if self.variant != "derd":
                raise ValueError(
                    f"natural_teacher must be None for variant {self.variant!r}: only 'derd' reads a natural "
                    "teacher (no-natural: Sec. 3.2, the student stands in for it; inversion: Sec. 3.1, one teacher)"
                )
        if self.stage1_epochs is not None:
            check_nonnegative_int("stage1_epochs", self.stage1_epochs)
            self._check_stages(self.stage1_epochs)
        check_positive("tau", self.tau)
        for name in _WEIGHTS:
            check_nonnegative(name, getattr(self, name))
        if self.inversion_steps is not None:
            check_positive_int("inversion_steps", self.inversion_steps)
        check_positive("lr_inversion", self.lr_inversion)

    def _check_stages(self, stage1: int) -> None:
        if self.variant == "inversion" and stage1 != 0:
            raise ValueError(
                f"stage1_epochs must be 0 (or None) for variant 'inversion': Sec. 3.1, model-inversion DERD is a "
                f"single-stage model (got {stage1})"
            )
        if self.variant == "no-natural" and stage1 < 1:
            raise ValueError(
                "stage1_epochs must be >= 1 for variant 'no-natural': its stand-in for the natural teacher is the "
                f"student at the end of stage I (got {stage1})"
            )
        if self.epochs is not None and self.variant != "inversion" and stage1 >= self.epochs:
            raise ValueError(
                f"stage1_epochs must be < epochs, so that stage II has at least one epoch (got stage1_epochs={stage1}, "
                f"epochs={self.epochs})"
            )

    @property
    def method(self) -> str:
        """``derd-<variant>``: the run's label (and the ``method`` of its ``student.pt`` summary)."""
        return f"derd-{self.variant}"

    def resolved(self) -> DerdConfig:
        """A copy with every ``None`` filled (dataset defaults, the stage split); the teachers must be set."""
        config = super().resolved()
        if self.variant == "derd" and self.natural_teacher is None:
            raise ValueError(
                "natural_teacher must be given for variant 'derd': a natural teacher's run folder or model file "
                "(robust-teacher --method natural); without one use variant 'no-natural'"
            )
        changes: dict = {}
        if self.stage1_epochs is None:
            epochs = config.epochs
            changes["stage1_epochs"] = 0 if self.variant == "inversion" or epochs < 2 else max(1, epochs // 3)
        if self.inversion_steps is None:
            changes["inversion_steps"] = _INVERSION_STEPS[self.dataset]
        config = dataclasses.replace(config, **changes)
        config._check_stages(config.stage1_epochs)
        return config


def _stage_of(config: DerdConfig, epoch: int) -> int:
    """1 for the (0-based) epochs of stage I, else 2 (always 2 for ``inversion``)."""
    return 1 if epoch < config.stage1_epochs else 2


def _negative_batch_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``-H(mean_i softmax(logits_i))`` (DAFL's information-entropy loss, natural log): minimised."""
    from advdist_lab.robust.baseline_losses import batch_entropy

    return -batch_entropy(logits)


def _negative_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """``-KL_tau(teacher || student)`` with Hinton's ``tau^2``: the generator's adversarial term (minimised)."""
    from advdist_lab.robust.dfard_loss import kl_divergence

    return -kl_divergence(teacher_logits, student_logits, tau)


class DerdDistiller:
    """DERD for one run: the teachers, the student, the generator (or the inversion), their optimisers.

    ``generation_step(rng, stage)`` and ``inversion_step(rng)`` train the (implicit) generator,
    ``distillation_step(rng, stage, x=None)`` the student; ``train_epoch(epoch)`` runs one epoch of the
    epoch's stage (see :func:`run_derd` and the module docstring).
    """

    def __init__(self, config: DerdConfig, data, device: torch.device) -> None:
        from advdist_lab.robust.dfard import load_frozen_teacher
        from advdist_lab.robust.generators import ConditionalGenerator
        from advdist_lab.robust.models import build_robust_model
        from advdist_lab.robust.teacher_statistics import BatchNormStatistics

        self.config, self.device = config, device
        self.image_shape = tuple(data.image_shape)
        self.num_classes = data.num_classes
        self.robust_teacher, self.robust_info = load_frozen_teacher(config.teacher, data, device)
        self.natural_teacher, self.natural_info = (None, None)
        if config.variant == "derd":
            self.natural_teacher, self.natural_info = load_frozen_teacher(config.natural_teacher, data, device)
        torch.manual_seed(config.seed)
        self.student = build_robust_model(
            config.student_arch, data.num_classes, data.image_shape, data.mean, data.std
        ).to(device)
        self.generator = None
        if config.variant != "inversion":
            self.generator = ConditionalGenerator(
                data.num_classes, data.image_shape, z_dim=config.z_dim, width=config.generator_width
            ).to(device)
            self.opt_generator = torch.optim.Adam(
                self.generator.parameters(), lr=config.lr_generator, betas=(0.5, 0.999)
            )
        self.opt_student = torch.optim.SGD(
            self.student.parameters(),
            lr=config.lr_student,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        total_steps = config.epochs * config.iterations * config.ts
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt_student, T_max=total_steps)
        # the prior teacher supplies the generator's data priors (one-hot, entropy, BN, activation)
        self.prior_teacher = self.natural_teacher if config.variant == "derd" else self.robust_teacher
        self.bn_prior = BatchNormStatistics(self.prior_teacher)
        self.bn_robust = self.bn_prior if self.prior_teacher is self.robust_teacher else None
        if self.bn_robust is None and config.lambda_sga > 0:
            self.bn_robust = BatchNormStatistics(self.robust_teacher)
        self._hooks(False)
        self.natural_standin: torch.nn.Module | None = None
        self.last_inverted: dict | None = None

    # -- the experts ---------------------------------------------------------------------------------------------
    def _hooks(self, enabled: bool) -> None:
        for bn in (self.bn_prior, self.bn_robust):
            if bn is not None:
                bn.enabled = enabled

    def natural_expert(self, stage: int) -> torch.nn.Module | None:
        """The model whose predictions are the natural knowledge of ``stage``: the natural teacher (``derd``); for
        ``no-natural`` the robust teacher in stage I and the frozen stand-in student in stage II; ``None`` for
        ``inversion``."""
        if self.config.variant == "derd":
            return self.natural_teacher
        if self.config.variant == "no-natural":
            return self.robust_teacher if stage == 1 else self.natural_standin
        return None

    def _freeze_standin(self) -> None:
        standin = copy.deepcopy(self.student).eval()
        for p in standin.parameters():
            p.requires_grad_(False)
        self.natural_standin = standin

    # -- the generator's loss (stage I, stage II, Eq. 7) ----------------------------------------------------------
    def _generator_terms(self, x: torch.Tensor, y: torch.Tensor, stage: int) -> tuple[dict, torch.Tensor]:
        from advdist_lab.robust.gradient_attacks import attack_mode

        config = self.config
        with attack_mode(self.student):
            s_logits = self.student(x)
        self._hooks(True)
        try:
            p_logits = self.prior_teacher(x)
            terms = {
                "oh": F.cross_entropy(p_logits, y),
                "ie": _negative_batch_entropy(p_logits),
                "bn": self.bn_prior.loss("variance"),
            }
            weights = {"oh": config.lambda_oh, "ie": config.lambda_ie, "bn": config.lambda_bn}
            if config.lambda_act > 0:
                features = self.bn_prior.features
                terms["act"] = -features.abs().flatten(1).mean(dim=1).mean()
                weights["act"] = config.lambda_act
            natural = self.natural_expert(stage) if config.variant != "inversion" else self.robust_teacher
            n_logits = p_logits if natural is self.prior_teacher else natural(x)
            terms["adv"] = _negative_kl(n_logits, s_logits, config.tau)
            weights["adv"] = config.lambda_adv
            if stage == 2 and config.variant != "inversion":
                if self.robust_teacher is self.prior_teacher:
                    r_logits = p_logits
                    bn_robust = terms["bn"]
                else:
                    r_logits = self.robust_teacher(x)
                    bn_robust = self.bn_robust.loss("variance") if self.bn_robust is not None else None
                terms["adv_robust"] = _negative_kl(r_logits, s_logits, config.tau)
                weights["adv_robust"] = config.lambda_adv2
                if bn_robust is not None:
                    terms["bn_robust"] = bn_robust
                    weights["bn_robust"] = config.lambda_sga
        finally:
            self._hooks(False)
        total = sum(weights[k] * v for k, v in terms.items())
        p_t = F.softmax(p_logits.detach(), dim=1)
        logged = {f"generator_{k}": float(v.detach()) for k, v in terms.items()}
        logged["teacher_agreement"] = float((p_t.argmax(1) == y).float().mean())
        logged["teacher_confidence"] = float(p_t.max(dim=1).values.mean())
        return logged, total

    def _sample(self, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, _ = self.generator.sample(self.config.batch_size, generator=rng)
        return x, y

    def generation_step(self, rng: torch.Generator, stage: int) -> dict[str, float]:
        """One generator step of ``stage`` (module docstring)."""
        self.generator.train()
        x, y = self._sample(rng)
        logged, total = self._generator_terms(x, y, stage)
        self.opt_generator.zero_grad(set_to_none=True)
        total.backward()
        self.opt_generator.step()
        logged["generator_loss"] = float(total.detach())
        return logged

    def inversion_step(self, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """Eq. 7: optimise one batch from noise for ``inversion_steps`` steps; ``(x_inv, y, last step's terms)``."""
        config = self.config
        draw = rng.device
        y = torch.randint(0, self.num_classes, (config.batch_size,), generator=rng, device=draw).to(self.device)
        z = torch.randn((config.batch_size, *self.image_shape), generator=rng, device=draw).to(self.device)
        z.requires_grad_(True)
        optimiser = torch.optim.Adam([z], lr=config.lr_inversion, betas=_INVERSION_BETAS)
        logged: dict[str, float] = {}
        for _ in range(config.inversion_steps):
            logged, total = self._generator_terms(torch.sigmoid(z), y, 2)
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            optimiser.step()
            logged["generator_loss"] = float(total.detach())
        x_inv = torch.sigmoid(z.detach())
        self.last_inverted = {
            "images": x_inv[:_SAMPLE_IMAGES].cpu().clone(),
            "labels": y[:_SAMPLE_IMAGES].cpu().clone(),
        }
        return x_inv, y, logged

    # -- the student ------------------------------------------------------------------------------------------
    def distillation_step(self, rng: torch.Generator, stage: int, x: torch.Tensor | None = None) -> dict[str, float]:
        """One student step of ``stage`` on a fresh generated batch (or on ``x``, the inverted batch)."""
        from advdist_lab.robust.distillation import adversarial_examples, kd_loss

        config = self.config
        natural = self.natural_expert(stage)
        with torch.no_grad():
            if x is None:
                x, _ = self._sample(rng)
            n_clean = natural(x) if natural is not None else None
        logs: dict[str, float] = {}
        if stage == 1:
            self.student.train()
            loss = kd_loss(n_clean, self.student(x), config.tau)
            logs["student_kd_natural"] = float(loss.detach())
        else:
            with torch.no_grad():
                r_clean = self.robust_teacher(x)
            x_adv = adversarial_examples(
                self.student,
                r_clean,
                x,
                eps=config.train_eps,
                steps=config.train_steps,
                step_size=config.train_step_size,
                start_std=config.start_std,
                generator=rng,
            )
            with torch.no_grad():
                r_adv = self.robust_teacher(x_adv)
            self.student.train()
            kd_robust = kd_loss(r_adv, self.student(x_adv), config.tau)
            logs["student_kd_robust"] = float(kd_robust.detach())
            loss = kd_robust
            if n_clean is not None:
                kd_natural = kd_loss(n_clean, self.student(x), config.tau)
                logs["student_kd_natural"] = float(kd_natural.detach())
                loss = loss + config.lambda_nat * kd_natural
        self.opt_student.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_student.step()
        self.schedule.step()
        logs["student_loss"] = float(loss.detach())
        return logs

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One epoch (0-based ``epoch``) of its stage: ``iterations`` x (``tg`` generator steps or one inversion,
        then ``ts`` student steps)."""
        from advdist_lab.robust.runner import epoch_generator

        config = self.config
        stage = _stage_of(config, epoch)
        if stage == 2 and config.variant == "no-natural" and self.natural_standin is None:
            self._freeze_standin()
        rng = epoch_generator(config.seed, 1, epoch, self.device)
        logs: dict[str, list[float]] = {}

        def add(values: dict[str, float]) -> None:
            for k, v in values.items():
                logs.setdefault(k, []).append(v)

        for _ in range(config.iterations):
            x = None
            if config.variant == "inversion":
                x, _, terms = self.inversion_step(rng)
                add(terms)
            else:
                for _ in range(config.tg):
                    add(self.generation_step(rng, stage))
            for _ in range(config.ts):
                add(self.distillation_step(rng, stage, x))
        entry: dict = {"stage": stage, "tau": float(config.tau)}
        entry.update({k: float(np.mean(v)) for k, v in logs.items()})
        entry["lr_student"] = float(self.schedule.get_last_lr()[0])
        return entry

    # -- run-folder protocol ----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {
            "student": self.student.state_dict(),
            "opt_student": self.opt_student.state_dict(),
            "schedule": self.schedule.state_dict(),
            "natural_standin": None if self.natural_standin is None else self.natural_standin.state_dict(),
            "last_inverted": self.last_inverted,
        }
        if self.generator is not None:
            state["generator"] = self.generator.state_dict()
            state["opt_generator"] = self.opt_generator.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])
        self.opt_student.load_state_dict(state["opt_student"])
        self.schedule.load_state_dict(state["schedule"])
        if state["natural_standin"] is not None:
            self._freeze_standin()
            self.natural_standin.load_state_dict(state["natural_standin"])
        else:
            self.natural_standin = None
        self.last_inverted = state["last_inverted"]
        if self.generator is not None:
            self.generator.load_state_dict(state["generator"])
            self.opt_generator.load_state_dict(state["opt_generator"])

    def artifacts(self) -> dict[str, dict]:
        """``generator.pt`` for the generator variants; ``inverted.pt`` (a sample of the last inverted batch)."""
        from advdist_lab.robust.generators import generator_checkpoint

        if self.generator is not None:
            return {"generator.pt": generator_checkpoint(self.generator)}
        if self.last_inverted is not None:
            return {"inverted.pt": dict(self.last_inverted)}
        return {}

    def describe(self) -> dict:
        from advdist_lab.robust.dfard import describe_teacher

        def count(module: torch.nn.Module) -> int:
            return sum(p.numel() for p in module.parameters())

        config = self.config
        natural = None
        if self.natural_teacher is not None:
            natural = describe_teacher(config.natural_teacher, self.natural_teacher, self.natural_info)
        described = {
            "variant": config.variant,
            "teacher": describe_teacher(config.teacher, self.robust_teacher, self.robust_info),
            "natural_teacher": natural,
            "stage1_epochs": config.stage1_epochs,
        }
        if self.generator is not None:
            described["generator_parameters"] = count(self.generator)
        else:
            described["inversion_steps"] = config.inversion_steps
        return described

    def close(self) -> None:
        """Remove the teachers' batch-norm hooks."""
        for bn in (self.bn_prior, self.bn_robust):
            if bn is not None:
                bn.close()


def run_derd(
    config: DerdConfig,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
) -> dict:
    """Run DERD (``config.variant``) into the run folder ``out`` and return its result.

    The run folder, the per-epoch evaluation, the best-epoch selection and ``result.json`` are those of
    :func:`advdist_lab.robust.runner.run_distillation` (label ``derd-<variant>``); ``result.json`` adds the
    variant, both teachers' descriptions and the stage split, and the history entries hold the terms listed in
    the module docstring. The folder holds ``generator.pt`` (``derd``, ``no-natural``) or ``inverted.pt``
    (``inversion``) beside ``student.pt``.
    """
    from advdist_lab.robust.runner import run_distillation

    if not isinstance(config, DerdConfig):
        raise ValueError(f"config must be a DerdConfig (got {type(config).__name__})")
    return run_distillation(
        config,
        DerdDistiller,
        out,
        resume=resume,
        progress=progress,
        callback=callback,
        stop=stop,
        label=config.method,
        describe=lambda distiller: distiller.describe(),
    )
