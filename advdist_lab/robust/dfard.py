"""DFARD: data-free adversarial robustness distillation (``001_...``, "Out of Thin Air", AAAI 2024), Algorithm 1.

:class:`DfardConfig` and :func:`run_dfard`: **Algorithm 1**. Each epoch repeats ``iterations`` times a
generation stage (``tg`` generator steps on ``L_gen``, Eq. 6, or a baseline's generator loss from
:mod:`advdist_lab.robust.generation.losses`) and a distillation stage (``ts`` student steps on PGD adversarial
examples of freshly generated data with ``L_KD``, Eq. 5, :mod:`advdist_lab.robust.distillation`). The generator's
temperature and weight come from DFARD's two adaptive quantities, ITA (Eq. 4) and AGB (Eq. 7), in
:mod:`advdist_lab.robust.ita_agb` (:func:`~advdist_lab.robust.ita_agb.interactive_temperature`,
:func:`~advdist_lab.robust.ita_agb.adaptive_generator_balance`). The switches of DFARD **Table 3** are the fields
``ita`` (``"none"``, ``"generation"`` = "w/ ITA (G)", ``"both"`` = "w/ ITA (GD)") and ``agb``; the methods of
**Tables 1 and 4** are ``method`` = ``dfard`` (ITA in both stages and AGB: "Ours"), ``vanilla`` (fixed
``tau = 3``, ``lambda = 0.3``, the paper's best), ``dafl``, ``zskt``, ``dfq``, ``deepinv`` and each with ``+ita``
(Table 4: ITA in both stages). "Ours*" of Table 1 (ITA and AGB in the generation stage only) is
``method="dfard", ita="generation"``. Every epoch's history entry records the mean ``tau`` and ``lambda`` of its
generator steps and the ``tau_distill`` of its student steps.

**Where the paper is silent, and what we chose.**

* Algorithm 1 computes ``tau~`` and ``lambda`` from every generator step's batch (teacher and student at
  temperature 1, before the step) and the distillation stage "keeps" the latest ``tau~`` (Fig. 4: "In the
  distillation stage, we keep the interactive temperature").
* The student is in eval mode (batch norm frozen) and its parameters frozen during the generator's steps; the
  generator stays in train mode throughout (DAFL's code does the same).
* AGB only changes the ``lambda`` of Eq. 6, so it applies to the ``dfard``/``vanilla`` generator loss only. ITA on
  a baseline replaces its fixed temperature in both stages; DAFL's generator loss has no temperature, so
  ``dafl+ita`` changes its distillation stage only.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from advdist_lab.hparams import check_choice, check_positive
from advdist_lab.methods.loop import NonFiniteLossError
from advdist_lab.robust.attacks.gradient import attack_mode
from advdist_lab.robust.distill_config import DistillConfig
from advdist_lab.robust.distill_limits import check_batch_fits, check_run_limits
from advdist_lab.robust.distillation import (
    adversarial_examples,
    describe_teacher,
    finite_loss,
    kd_loss,
    load_frozen_teacher,
)
from advdist_lab.robust.generation.generators import ConditionalGenerator, generator_checkpoint
from advdist_lab.robust.generation.losses import generator_loss
from advdist_lab.robust.generation.teacher_statistics import BatchNormStatistics
from advdist_lab.robust.ita_agb import adaptive_generator_balance, interactive_temperature
from advdist_lab.robust.models import build_robust_model
from advdist_lab.robust.runner import epoch_generator, run_distillation

__all__ = [
    "DFARD_METHODS",
    "ITA_MODES",
    "TABLE3_ROWS",
    "DfardConfig",
    "DfardDistiller",
    "run_dfard",
]

GENERATOR_METHODS = ("dfard", "vanilla", "dafl", "zskt", "dfq", "deepinv")
DFARD_METHODS = GENERATOR_METHODS + tuple(f"{m}+ita" for m in GENERATOR_METHODS if m not in ("dfard", "vanilla"))
"""The ``method`` values of :class:`DfardConfig`: DFARD, its vanilla baseline, the baselines of Table 1 and their
ITA variants of Table 4."""

ITA_MODES = ("none", "generation", "both")

TABLE3_ROWS = {
    "Vanilla": {"method": "vanilla"},
    "w/ ITA (G)": {"method": "vanilla", "ita": "generation"},
    "w/ ITA (GD)": {"method": "vanilla", "ita": "both"},
    "w/ AGB": {"method": "vanilla", "agb": True},
    "Ours": {"method": "dfard"},
}
"""DFARD Table 3's ablation rows as config overrides. Row (4) "w/ AGB" is read as AGB alone (the text: "Table 3
(4-6) ... compared with the best-fixed lambda"), and "Ours" as ITA in both stages plus AGB."""


@dataclass(frozen=True)
class DfardConfig(DistillConfig):
    """Algorithm 1's hyperparameters (module docstring; the shared ones in :class:`DistillConfig`).

    ``method``: one of :data:`DFARD_METHODS`. ``ita``: ``None`` (the method's own: ``both`` for ``dfard`` and the
    ``+ita`` methods, else ``none``) or one of :data:`ITA_MODES`. ``agb``: ``None`` (on for ``dfard`` only) or a
    bool. ``tau`` and ``lam``: the fixed temperature and weight used where ITA and AGB are off (DFARD Table 3's
    best: 3 and 0.3).
    """

    method: str = "dfard"
    ita: str | None = None
    agb: bool | None = None
    tau: float = 3.0
    lam: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        check_run_limits(self)
        check_choice("method", self.method, DFARD_METHODS)
        if self.ita is not None:
            check_choice("ita", self.ita, ITA_MODES)
        if self.agb is not None and not isinstance(self.agb, bool):
            raise ValueError(f"agb must be true, false or None (got {self.agb!r})")
        check_positive("tau", self.tau)
        if not (isinstance(self.lam, (int, float)) and 0.0 <= self.lam <= 1.0):
            raise ValueError(f"lam must lie in [0, 1] (got {self.lam!r})")
        if self.agb and self.generator_loss not in ("dfard",):
            raise ValueError(
                f"agb (DFARD Eq. 7) sets the lambda of Eq. 6, which only the dfard and vanilla generator losses "
                f"have (got method {self.method!r})"
            )

    @property
    def generator_loss(self) -> str:
        """The name of the generator loss in :mod:`advdist_lab.robust.generation.losses`."""
        base = self.method.removesuffix("+ita")
        return "dfard" if base == "vanilla" else base

    def resolved(self) -> DfardConfig:
        config = super().resolved()
        changes: dict = {}
        if self.ita is None:
            changes["ita"] = "both" if self.method == "dfard" or self.method.endswith("+ita") else "none"
        if self.agb is None:
            changes["agb"] = self.method == "dfard"
        return dataclasses.replace(config, **changes)


class DfardDistiller:
    """Algorithm 1 for one run: the generator, the student, their optimisers (see :func:`run_dfard`)."""

    def __init__(self, config: DfardConfig, data, device: torch.device) -> None:
        self.config, self.device = config, device
        self.teacher, self.teacher_info = load_frozen_teacher(config.teacher, data, device)
        torch.manual_seed(config.seed)
        self.student = build_robust_model(
            config.student_arch, data.num_classes, data.image_shape, data.mean, data.std
        ).to(device)
        self.generator = ConditionalGenerator(
            data.num_classes, data.image_shape, z_dim=config.z_dim, width=config.generator_width
        ).to(device)
        self.opt_student = torch.optim.SGD(
            self.student.parameters(),
            lr=config.lr_student,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        total_steps = config.epochs * config.iterations * config.ts
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt_student, T_max=total_steps)
        self.opt_generator = torch.optim.Adam(self.generator.parameters(), lr=config.lr_generator, betas=(0.5, 0.999))
        self.bn = BatchNormStatistics(self.teacher) if config.generator_loss in ("dafl", "dfq", "deepinv") else None
        self.tau_now = config.tau
        self.epoch = 1  # the (1-based) epoch a non-finite loss is reported in; train_epoch sets it

    # -- Algorithm 1, lines 4-8 ------------------------------------------------------------------------------
    def generation_step(self, rng: torch.Generator) -> dict[str, float]:
        config = self.config
        self.generator.train()
        x, y, _ = self.generator.sample(config.batch_size, generator=rng)
        with attack_mode(self.student):
            t_logits = self.teacher(x)
            s_logits = self.student(x)
        p_t = F.softmax(t_logits.detach(), dim=1)
        p_s = F.softmax(s_logits.detach(), dim=1)
        teacher_finite, student_finite = torch.stack([p_t.isfinite().all(), p_s.isfinite().all()]).tolist()
        if not teacher_finite:  # the frozen teacher is finite, so the generated images are not
            raise NonFiniteLossError("generator", self.epoch)
        if not student_finite:
            raise NonFiniteLossError("student", self.epoch)
        tau = interactive_temperature(p_t, p_s) if config.ita in ("generation", "both") else config.tau
        lam = adaptive_generator_balance(p_t) if config.agb else config.lam
        terms = generator_loss(
            config.generator_loss,
            x=x,
            y=y,
            teacher_logits=t_logits,
            student_logits=s_logits,
            tau=tau,
            lam=lam,
            bn=self.bn,
        )
        total = finite_loss("generator", terms["total"], self.epoch)
        self.opt_generator.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.opt_generator.step()
        self.tau_now = tau
        confidence = p_t.max(dim=1).values
        entropy = -(p_t * p_t.clamp_min(1e-12).log()).sum(dim=1)
        logged = {f"generator_{k}": float(v.detach()) for k, v in terms.items() if k != "total"}
        return {
            "tau": tau,
            "lambda": lam,
            "generator_loss": total,
            "teacher_confidence": float(confidence.mean()),
            "teacher_entropy": float(entropy.mean()),
            "teacher_agreement": float((p_t.argmax(1) == y).float().mean()),
            **logged,
        }

    # -- Algorithm 1, lines 10-14 ----------------------------------------------------------------------------
    def distillation_step(self, rng: torch.Generator) -> dict[str, float]:
        config = self.config
        with torch.no_grad():
            x, _, _ = self.generator.sample(config.batch_size, generator=rng)
            t_clean = self.teacher(x)
        x_adv = adversarial_examples(
            self.student,
            t_clean,
            x,
            eps=config.train_eps,
            steps=config.train_steps,
            step_size=config.train_step_size,
            start_std=config.start_std,
            generator=rng,
        )
        tau = self.tau_now if config.ita == "both" else config.tau
        with torch.no_grad():
            t_adv = self.teacher(x_adv)
        self.student.train()
        loss = kd_loss(t_adv, self.student(x_adv), tau)
        value = finite_loss("student", loss, self.epoch)
        self.opt_student.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_student.step()
        self.schedule.step()
        return {"tau_distill": tau, "student_loss": value}

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One epoch (0-based ``epoch``): ``iterations`` blocks of ``tg`` generator and ``ts`` student steps.
        A loss that is not finite stops it with a NonFiniteLossError naming the player and the epoch."""
        self.epoch = epoch + 1
        rng = epoch_generator(self.config.seed, 1, epoch, self.device)
        logs: dict[str, list[float]] = {}
        for _ in range(self.config.iterations):
            for _ in range(self.config.tg):
                for k, v in self.generation_step(rng).items():
                    logs.setdefault(k, []).append(v)
            for _ in range(self.config.ts):
                for k, v in self.distillation_step(rng).items():
                    logs.setdefault(k, []).append(v)
        entry = {k: float(np.mean(v)) for k, v in logs.items()}
        entry["lr_student"] = float(self.schedule.get_last_lr()[0])
        return entry

    def state_dict(self) -> dict:
        return {
            "student": self.student.state_dict(),
            "generator": self.generator.state_dict(),
            "opt_student": self.opt_student.state_dict(),
            "opt_generator": self.opt_generator.state_dict(),
            "schedule": self.schedule.state_dict(),
            "tau_now": self.tau_now,
        }

    def load_state_dict(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])
        self.generator.load_state_dict(state["generator"])
        self.opt_student.load_state_dict(state["opt_student"])
        self.opt_generator.load_state_dict(state["opt_generator"])
        self.schedule.load_state_dict(state["schedule"])
        self.tau_now = state["tau_now"]

    def artifacts(self) -> dict[str, dict]:
        return {"generator.pt": generator_checkpoint(self.generator)}

    def describe(self) -> dict:
        return {
            "teacher": describe_teacher(self.config.teacher, self.teacher, self.teacher_info),
            "generator_parameters": sum(p.numel() for p in self.generator.parameters()),
        }


def run_dfard(
    config: DfardConfig,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
) -> dict:
    """Run DFARD's Algorithm 1 (or a baseline) into the run folder ``out`` and return its result.

    The run folder, the history, the best-epoch selection and ``result.json`` are those of
    :func:`advdist_lab.robust.runner.run_distillation`; each history entry adds ``tau``, ``lambda``,
    ``tau_distill``, the generator's loss terms, the teacher's mean confidence, entropy and agreement with the
    sampled labels on generated images, and the student's loss.
    """
    if not isinstance(config, DfardConfig):
        raise ValueError(f"config must be a DfardConfig (got {type(config).__name__})")
    check_batch_fits(config.resolved())
    return run_distillation(
        config,
        DfardDistiller,
        out,
        resume=resume,
        progress=progress,
        callback=callback,
        stop=stop,
        label=config.method,
        describe=lambda distiller: distiller.describe(),
    )
