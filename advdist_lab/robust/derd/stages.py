"""DERD's two stages (``002_...``, supplement): :class:`DerdDistiller`, the experts, the generator and the student.

**The method as implemented** (``p = softmax``, ``KL_tau`` the ``tau^2``-scaled KL of
:func:`advdist_lab.robust.generation.dfard_loss.kl_divergence`,
``KD_tau`` = :func:`advdist_lab.robust.distillation.kd_loss`, ``x`` a generated batch, ``x'`` its PGD adversarial
examples against the student as in DFARD's distillation stage,
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

``variant="inversion"`` replaces the generator by model inversion (:mod:`advdist_lab.robust.derd.inversion`).

Each history entry (besides the runner's epoch and accuracies) holds ``stage`` (1 or 2), ``tau`` (the fixed
temperature, named as in DFARD's entries), the generator's unweighted terms ``generator_oh``, ``generator_ie``
(``-H``), ``generator_bn``, ``generator_adv`` (``-KL`` against the natural expert), in stage II
``generator_adv_robust`` and ``generator_bn_robust``, ``generator_act`` when ``lambda_act > 0``, the weighted
``generator_loss``, ``teacher_agreement`` and ``teacher_confidence`` (the prior teacher's argmax against ``y``
and its mean top probability on generated images), the student's ``student_kd_natural`` (stage I; stage II of
``derd`` and ``no-natural``), ``student_kd_robust`` (stage II) and ``student_loss``, and ``lr_student``. For
``inversion`` the ``generator_*`` terms are those of the last inner step of each inverted batch.

**Where the supplement is silent, and what we chose** (the hyperparameters: :mod:`advdist_lab.robust.derd.config`).

* ``L_BN``: DeepInversion's ``sum_l ||mu_l - mu_l^run||_2 + ||var_l - var_l^run||_2`` over the teacher's
  ``BatchNorm2d`` layers (:meth:`advdist_lab.robust.generation.teacher_statistics.BatchNormStatistics.loss`,
  ``"variance"``).
  On the 8x8 digits with ``digits-cnn`` it is of order 5, so ``lambda_bn = 1e-5`` makes it negligible there.
* ``L_ie``: the entropy of the batch-mean prediction, natural log, maximised (DAFL's,
  :func:`advdist_lab.robust.generation.baselines.batch_entropy`).
  ``L_oh``: cross-entropy to the label ``y`` the conditional generator was asked for (DFARD's ``L_cls``).
* The stand-in of ``no-natural`` (above): a frozen copy of the student in eval mode, taken when stage II starts;
  stored in the checkpoint so resume is exact. Using the *live* student instead would make both of its terms
  vanish (``KL(S || S) = 0`` with a zero gradient), and the student cannot teach itself in stage I.
* Everything else follows DFARD's implementation in this project: optimisers (student SGD with cosine annealing
  over all student steps, generator Adam), PGD-10 of the distillation stage, batch size, per-epoch evaluation
  and best-epoch selection (:mod:`advdist_lab.robust.runner`); the student is in eval mode and frozen during
  generator and inversion steps, in train mode for its own steps (one forward on ``x'``, one on ``x``).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from advdist_lab.robust.attacks.gradient import attack_mode
from advdist_lab.robust.derd.config import DerdConfig, stage_of
from advdist_lab.robust.derd.inversion import invert_batch, inverted_sample
from advdist_lab.robust.distillation import (
    adversarial_examples,
    describe_teacher,
    finite_loss,
    kd_loss,
    load_frozen_teacher,
)
from advdist_lab.robust.generation.baselines import activation_loss, batch_entropy
from advdist_lab.robust.generation.dfard_loss import kl_divergence
from advdist_lab.robust.generation.generators import ConditionalGenerator, generator_checkpoint
from advdist_lab.robust.generation.teacher_statistics import BatchNormStatistics
from advdist_lab.robust.models import build_robust_model
from advdist_lab.robust.runner import epoch_generator

__all__ = ["DerdDistiller"]


def _negative_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """``-KL_tau(teacher || student)`` with Hinton's ``tau^2``: the generator's adversarial term (minimised)."""
    return -kl_divergence(teacher_logits, student_logits, tau)


class DerdDistiller:
    """DERD for one run: the teachers, the student, the generator (or the inversion), their optimisers.

    ``generation_step(rng, stage)`` and ``inversion_step(rng)`` train the (implicit) generator,
    ``distillation_step(rng, stage, x=None)`` the student; ``train_epoch(epoch)`` runs one epoch of the
    epoch's stage (see :func:`advdist_lab.robust.derd.run_derd` and the module docstring).
    """

    def __init__(self, config: DerdConfig, data, device: torch.device) -> None:
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
        self.epoch = 1  # the (1-based) epoch a non-finite loss is reported in; train_epoch sets it

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
        config = self.config
        with attack_mode(self.student):
            s_logits = self.student(x)
        self._hooks(True)
        try:
            p_logits = self.prior_teacher(x)
            terms = {
                "oh": F.cross_entropy(p_logits, y),
                "ie": -batch_entropy(p_logits),
                "bn": self.bn_prior.loss("variance"),
            }
            weights = {"oh": config.lambda_oh, "ie": config.lambda_ie, "bn": config.lambda_bn}
            if config.lambda_act > 0:
                features = self.bn_prior.features
                terms["act"] = activation_loss(features)
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
        logged["generator_loss"] = finite_loss("generator", total, self.epoch)
        self.opt_generator.zero_grad(set_to_none=True)
        total.backward()
        self.opt_generator.step()
        return logged

    def _inversion_objective(self, x: torch.Tensor, y: torch.Tensor) -> tuple[dict, torch.Tensor]:
        """Eq. 7's loss of one inner step (the generator's terms at the stage-I weights), checked finite."""
        logged, total = self._generator_terms(x, y, 2)
        finite_loss("generator", total, self.epoch)
        return logged, total

    def inversion_step(self, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """Eq. 7: optimise one batch from noise for ``inversion_steps`` steps; ``(x_inv, y, last step's terms)``
        (:func:`advdist_lab.robust.derd.inversion.invert_batch`)."""
        config = self.config
        x_inv, y, logged = invert_batch(
            self._inversion_objective,
            batch_size=config.batch_size,
            num_classes=self.num_classes,
            image_shape=self.image_shape,
            steps=config.inversion_steps,
            lr=config.lr_inversion,
            rng=rng,
            device=self.device,
        )
        self.last_inverted = inverted_sample(x_inv, y)
        return x_inv, y, logged

    # -- the student ------------------------------------------------------------------------------------------
    def distillation_step(self, rng: torch.Generator, stage: int, x: torch.Tensor | None = None) -> dict[str, float]:
        """One student step of ``stage`` on a fresh generated batch (or on ``x``, the inverted batch)."""
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
        logs["student_loss"] = finite_loss("student", loss, self.epoch)
        self.opt_student.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_student.step()
        self.schedule.step()
        return logs

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One epoch (0-based ``epoch``) of its stage: ``iterations`` x (``tg`` generator steps or one inversion,
        then ``ts`` student steps). A loss that is not finite stops it with a NonFiniteLossError naming the player
        (the generator, also for the implicit one of ``inversion``, or the student) and the epoch."""
        config = self.config
        self.epoch = epoch + 1
        stage = stage_of(config, epoch)
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
        if self.generator is not None:
            return {"generator.pt": generator_checkpoint(self.generator)}
        if self.last_inverted is not None:
            return {"inverted.pt": dict(self.last_inverted)}
        return {}

    def describe(self) -> dict:
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
