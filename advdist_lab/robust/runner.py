"""Run folders for data-free robust distillation (DFARD, DERD): checkpoint every epoch, resume, ``result.json``.

:class:`DistillConfig` holds the hyperparameters every data-free robust distillation shares (the teacher, the
student, the optimisers of DFARD's "Implementation details", the PGD of the distillation stage, the evaluation);
:class:`advdist_lab.robust.dfard.DfardConfig` and :class:`advdist_lab.robust.derd.config.DerdConfig` add their own.
:func:`run_distillation` drives any *distiller* (an object with ``student``, ``train_epoch(epoch) -> dict``,
``state_dict()``, ``load_state_dict(state)`` and ``artifacts() -> dict``) through a run folder ``out/``, a
:class:`~advdist_lab.runs.folder.RunFolder` (the lifecycle every run shares: ``--out`` checked before any work,
the folder locked against a second process, the config checked on resume, atomic writes, a full disk in one line):

* ``checkpoint.pt`` after every epoch (atomic): the distiller's state, the history, the best student so far;
* after every epoch the student is evaluated on the real test images (never seen in training: the method is
  data-free) under ``eval_attacks`` on the first ``eval_size`` of them; the history entry holds those accuracies
  beside the epoch's losses and adaptive quantities (tau, lambda);
* DFARD "selects and reports the best checkpoint of all methods among all epochs ... based on ... PGD_T": the
  student of the epoch with the highest ``select`` accuracy is kept, and at the end it is evaluated under
  ``final_attacks`` on ``final_size`` test images. ``result.json`` holds those accuracies at the top level
  (``clean``, ``fgsm``, ``pgd_s``, ``pgd_t``, ``cw_inf``, ``autoattack``, ``average``, and ``test_accuracy`` =
  ``clean`` as ``advdist-lab train`` writes it), ``best_epoch``, the last epoch's accuracies under ``last``, the
  protocol, the teacher's description, parameter counts, ``timing`` (kept out of ``history`` so that histories
  compare exactly) and ``status``. The best student is written to ``student.pt`` (named under ``model``, so that
  ``advdist-lab robust-eval --model OUT`` finds it)
  (:func:`advdist_lab.robust.models.robust_model_payload`) and the distiller's artifacts (e.g. ``generator.pt``).

Resume: every epoch draws from its own :class:`torch.Generator` seeded from ``(seed, epoch)``, so a run killed
after any epoch and resumed ends with the same history and accuracies as an uninterrupted one. A finished run is
never overwritten (:meth:`~advdist_lab.runs.folder.RunFolder.finished`). The teachers are compared by their files' SHA-1
(``teachers_sha1`` in the checkpoint and ``result.json``), not by the path that names them: a run resumes from
another working folder or with the teacher copied elsewhere, and refuses a teacher file that changed.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from advdist_lab.environment import resolve_device
from advdist_lab.files import file_sha1
from advdist_lab.hparams import (
    check_choice,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
)
from advdist_lab.methods.loop import NonFiniteLossError
from advdist_lab.robust.attacks.protocol import ATTACKS, AttackProtocol, check_attack_names, robust_accuracy
from advdist_lab.robust.data import ROBUST_DATASETS, RobustData, load_robust_data
from advdist_lab.robust.models import DEFAULT_STUDENTS, check_architecture, robust_model_payload
from advdist_lab.robust.teacher.model_files import model_path
from advdist_lab.runs.folder import RunExistsError, RunFolder, maybe_kill, progress_bar

__all__ = ["DistillConfig", "epoch_generator", "run_distillation", "teacher_fingerprints"]

_DATASET_DEFAULTS = {
    "digits": {
        "epochs": 20,
        "iterations": 10,
        "batch_size": 128,
        "z_dim": 64,
        "generator_width": 32,
        "lr_student": 0.05,
        "final_attacks": ATTACKS,
    },
    "cifar10": {
        "epochs": 200,
        "iterations": 50,
        "batch_size": 256,
        "z_dim": 100,
        "generator_width": 64,
        "lr_student": 0.05,
        "final_attacks": ATTACKS,
    },
}
_DATASET_DEFAULTS["cifar10-random"] = _DATASET_DEFAULTS["cifar10"]


def epoch_generator(seed: int, stage: int, epoch: int, device: torch.device) -> torch.Generator:
    """The random stream of one stage of one epoch, independent of all others (what makes resume exact)."""
    state = np.random.SeedSequence([seed, stage, epoch]).generate_state(1)[0]
    return torch.Generator(device=device).manual_seed(int(state))


def _attack_tuple(name: str, value: object, allow_empty: bool = False) -> tuple[str, ...]:
    """Attack names as a tuple (a comma-separated string or any iterable), checked by
    :func:`~advdist_lab.robust.attacks.protocol.check_attack_names`."""
    if isinstance(value, str):
        value = tuple(v for v in value.split(",") if v)
    try:
        names = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be a sequence of attack names from {', '.join(ATTACKS)}") from None
    return check_attack_names(name, names, allow_empty=allow_empty)


@dataclass(frozen=True)
class DistillConfig:
    """Hyperparameters shared by data-free robust distillation methods (DFARD "Implementation details").

    ``None`` fields take the dataset's default in :meth:`resolved` (CIFAR-10: the paper's; digits: ours, sized so
    that a run takes minutes on a CPU). Optimisers: the student SGD (momentum 0.9, weight decay 1e-4) with cosine
    annealing from ``lr_student`` (0.05) over all steps, the generator Adam (``lr_generator`` 1e-3, betas 0.5 and
    0.999); batch size 256 for synthesis and distillation; PGD-10, random start 0.001, step 2/255 at eps 8/255.
    ``iterations``: how many times an epoch repeats Algorithm 1's block of ``tg`` generator and ``ts`` student
    steps (the paper's Algorithm 1 is ``iterations = 1`` with ``T = 200`` epochs, which is 1,200 student steps in
    all; it does not say how many steps an epoch holds, and DFAD-style code runs 50 blocks per epoch: our CIFAR
    default). ``train_eps`` / ``train_step_size`` ``None``: the evaluation protocol's budget and ``eps / 4``.
    """

    dataset: str = "digits"
    teacher: str | None = None
    student_arch: str | None = None
    epochs: int | None = None
    iterations: int | None = None
    tg: int = 1
    ts: int = 5
    batch_size: int | None = None
    lr_student: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_generator: float = 1e-3
    z_dim: int | None = None
    generator_width: int | None = None
    train_eps: float | None = None
    train_steps: int = 10
    train_step_size: float | None = None
    start_std: float = 0.001
    eval_size: int | None = None
    eval_attacks: tuple[str, ...] = ("pgd_s", "pgd_t")
    final_size: int | None = None
    final_attacks: tuple[str, ...] | None = None
    select: str = "pgd_t"
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, ROBUST_DATASETS)
        if self.teacher is not None and not isinstance(self.teacher, str):
            raise ValueError(f"teacher must be a path (got {self.teacher!r})")
        if self.student_arch is not None:
            check_architecture(self.student_arch)
        for name in ("epochs", "iterations", "batch_size", "z_dim", "generator_width", "eval_size", "final_size"):
            value = getattr(self, name)
            if value is not None:
                check_positive_int(name, value)
        for name in ("tg", "ts", "train_steps"):
            check_positive_int(name, getattr(self, name))
        for name in ("lr_student", "train_eps", "train_step_size"):
            value = getattr(self, name)
            if value is not None:
                check_positive(name, value)
        check_positive("lr_generator", self.lr_generator)
        check_positive("start_std", self.start_std)
        check_nonnegative("weight_decay", self.weight_decay)
        if not 0.0 <= check_nonnegative("momentum", self.momentum) < 1.0:
            raise ValueError(f"momentum must lie in [0, 1) (got {self.momentum})")
        if self.train_eps is not None and self.train_eps > 1:
            raise ValueError(f"train_eps must be <= 1, in pixel units of [0, 1] images (got {self.train_eps})")
        object.__setattr__(self, "eval_attacks", _attack_tuple("eval_attacks", self.eval_attacks, allow_empty=True))
        if self.final_attacks is not None:
            object.__setattr__(self, "final_attacks", _attack_tuple("final_attacks", self.final_attacks))
        if self.select != "clean" and self.select not in self.eval_attacks:
            raise ValueError(
                f"select must be 'clean' or one of eval_attacks ({', '.join(self.eval_attacks) or 'none'}), the "
                f"accuracy that picks the best epoch (got {self.select!r})"
            )
        check_nonnegative_int("seed", self.seed)
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a string such as auto, cpu or cuda (got {self.device!r})")

    def resolved(self):
        """A copy with every ``None`` replaced by the dataset's default; the teacher must be set."""
        if self.teacher is None:
            raise ValueError("teacher must be given: a robust teacher's run folder or model file (robust-teacher)")
        defaults = _DATASET_DEFAULTS[self.dataset]
        changes = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        if self.student_arch is None:
            changes["student_arch"] = DEFAULT_STUDENTS[self.dataset]
        protocol = AttackProtocol.for_dataset(self.dataset)
        eps = self.train_eps if self.train_eps is not None else protocol.eps
        if self.train_eps is None:
            changes["train_eps"] = eps
        if self.train_step_size is None:
            changes["train_step_size"] = eps / 4
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        for key in ("eval_attacks", "final_attacks"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, values: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


_TEACHER_FIELDS = ("teacher", "natural_teacher")

CHECKPOINT_KEYS = frozenset({"config", "distiller", "history", "best", "timing", "wall_seconds"})
"""What a distillation run's ``checkpoint.pt`` holds (besides ``teachers_sha1``)."""


def _comparable(config: dict) -> dict:
    """A config as compared on resume: the device may change, and the teachers are compared by their files'
    SHA-1 (:func:`teacher_fingerprints`), not by the path that named them."""
    return {k: v for k, v in config.items() if k != "device" and k not in _TEACHER_FIELDS}


def teacher_fingerprints(config) -> dict[str, str]:
    """The SHA-1 of every teacher file ``config`` names (a run folder stands for its model file)."""
    return {
        name: file_sha1(model_path(getattr(config, name)))
        for name in _TEACHER_FIELDS
        if getattr(config, name, None) is not None
    }


def _check_teachers(out_dir: Path, stored: dict | None, current: dict) -> None:
    if stored is not None and stored != current:
        changed = ", ".join(k for k in sorted(set(stored) | set(current)) if stored.get(k) != current.get(k))
        raise RunExistsError(
            f"{out_dir} holds a run distilled from another {changed} file (its SHA-1 differs); choose another "
            "output folder (--out)"
        )


def _evaluate(student, data: RobustData, config, attacks, size, seed: int, progress: bool) -> dict[str, float]:
    n = len(data.y_test) if size is None else min(size, len(data.y_test))
    if attacks:
        protocol = AttackProtocol.for_dataset(config.dataset, attacks)
        result = robust_accuracy(
            student, data.x_test[:n], data.y_test[:n], protocol, seed=seed, batch_size=512, progress=progress
        )
    else:
        with torch.no_grad():
            was = student.training
            student.eval()
            clean = float((student(data.x_test[:n]).argmax(1) == data.y_test[:n]).float().mean())
            student.train(was)
        result = {"clean": clean}
    return {k: float(v) for k, v in result.items()}


def run_distillation(
    config,
    build: Callable[[object, RobustData, torch.device], object],
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
    label: str = "distill",
    describe: Callable[[object], dict] | None = None,
) -> dict:
    """Run ``build(config, data, device)``'s distiller for ``config.epochs`` epochs (module docstring).

    Everything that can be checked is checked before any work: the config, ``out``
    (:class:`~advdist_lab.runs.folder.RunFolder`: usable, not in use by another process, its finished run or
    checkpoint of the same config, a damaged ``result.json`` refused naming it) and the teachers' files. A
    non-finite loss raises :class:`~advdist_lab.methods.loop.NonFiniteLossError` naming the player and the epoch
    and saying what of the run is kept.
    """
    config = config.resolved()
    device = resolve_device(config.device)
    folder = RunFolder(out, comparable=_comparable) if out is not None else None
    teachers = teacher_fingerprints(config)
    options = (build, progress, callback, stop, label, describe)
    if folder is None:
        return _run(config, device, None, None, teachers, *options)
    with folder:
        finished = folder.finished(config.to_dict(), resume)
        if finished is not None:
            _check_teachers(folder.path, finished.get("teachers_sha1"), teachers)
            return finished
        state = folder.checkpoint(config.to_dict(), resume, device, CHECKPOINT_KEYS, "a robust-distillation")
        if state is not None:
            _check_teachers(folder.path, state.get("teachers_sha1"), teachers)
        return _run(config, device, folder, state, teachers, *options)


def _run(config, device, folder, state, teachers, build, progress, callback, stop, label, describe) -> dict:
    try:
        return _distil(config, device, folder, state, teachers, build, progress, callback, stop, label, describe)
    except NonFiniteLossError as error:
        error.record_kept(folder.kept() if folder is not None else "nothing was saved (the run has no folder)")
        raise


def _distil(config, device, folder, state, teachers, build, progress, callback, stop, label, describe) -> dict:
    data = load_robust_data(config.dataset, device=device, test_size=None)
    distiller = build(config, data, device)
    history: list[dict] = []
    best: dict = {"epoch": 0, "score": -math.inf, "student": None}
    timing: dict = {"epoch_seconds": [], "evaluation_seconds": []}
    previous = 0.0
    if state is not None:
        distiller.load_state_dict(state["distiller"])
        history, best, timing, previous = state["history"], state["best"], state["timing"], state["wall_seconds"]
    started = time.perf_counter()
    status = "finished"
    bar = progress_bar(config.epochs, f"{label} {config.dataset} seed={config.seed}", progress)
    bar.update(len(history))
    try:
        for epoch in range(len(history), config.epochs):
            if stop is not None and stop.is_set():
                status = "stopped"
                break
            epoch_started = time.perf_counter()
            losses = distiller.train_epoch(epoch)
            bad = [k for k, v in losses.items() if isinstance(v, float) and not math.isfinite(v)]
            if bad:
                raise NonFiniteLossError(bad[0].split("_")[0], epoch + 1)
            trained = time.perf_counter()
            accuracies = _evaluate(
                distiller.student, data, config, config.eval_attacks, config.eval_size, config.seed + epoch, False
            )
            entry = {"epoch": epoch + 1, **losses, **accuracies}
            history.append(entry)
            timing["epoch_seconds"].append(trained - epoch_started)
            timing["evaluation_seconds"].append(time.perf_counter() - trained)
            if accuracies[config.select] > best["score"]:
                student_state = {k: v.detach().clone().cpu() for k, v in distiller.student.state_dict().items()}
                best = {"epoch": epoch + 1, "score": accuracies[config.select], "student": student_state}
            if folder is not None:
                checkpoint = {
                    "config": config.to_dict(),
                    "distiller": distiller.state_dict(),
                    "history": history,
                    "best": best,
                    "timing": timing,
                    "wall_seconds": previous + time.perf_counter() - started,
                    "teachers_sha1": teachers,
                }
                folder.save_checkpoint(checkpoint, epoch + 1)
                maybe_kill(epoch + 1)
            bar.update(1)
            bar.set_postfix({config.select: f"{accuracies[config.select]:.3f}"})
            if callback is not None:
                callback(entry)
    finally:
        bar.close()
    result = _result(config, distiller, data, history, best, timing, device, progress)
    result["wall_seconds"] = previous + time.perf_counter() - started
    result["status"] = status
    result["teachers_sha1"] = teachers
    if describe is not None:
        result.update(describe(distiller))
    if folder is not None and status == "finished":
        _write_models(folder, config, distiller, data, best["student"])
        folder.write_result(result)
    return result


def _result(config, distiller, data, history, best, timing, device, progress) -> dict:
    from advdist_lab.models.presets import count_parameters

    last_state = {k: v.detach().clone() for k, v in distiller.student.state_dict().items()}
    if best["student"] is not None:
        distiller.student.load_state_dict(best["student"])
    evaluated = time.perf_counter()
    final = _evaluate(
        distiller.student, data, config, config.final_attacks, config.final_size, config.seed + 10_007, progress
    )
    timing = {**timing, "final_evaluation_seconds": time.perf_counter() - evaluated}
    distiller.student.load_state_dict(last_state)
    n_final = len(data.y_test) if config.final_size is None else min(config.final_size, len(data.y_test))
    result = {
        "config": config.to_dict(),
        "history": history,
        **final,
        "test_accuracy": final["clean"],
        "best_epoch": best["epoch"],
        "model": "student.pt",
        "last": {k: v for k, v in (history[-1] if history else {}).items() if k in ("clean", *ATTACKS, "average")},
        "protocol": AttackProtocol.for_dataset(config.dataset, config.final_attacks).to_dict(),
        "evaluated_on": n_final,
        "student_parameters": count_parameters(distiller.student.model),
        "device": str(device),
        "timing": timing,
        "torch": torch.__version__,
    }
    return result


def _write_models(folder: RunFolder, config, distiller, data: RobustData, best_state: dict | None) -> None:
    """``student.pt`` (the best epoch's student; the last one when no epoch ran) and the distiller's artifacts."""
    best = copy.deepcopy(distiller.student)
    if best_state is not None:
        best.load_state_dict(best_state)
    student = robust_model_payload(
        best,
        arch=config.student_arch,
        num_classes=data.num_classes,
        image_shape=data.image_shape,
        summary={"method": getattr(config, "method", "distill"), "source": "best epoch by " + config.select},
    )
    folder.save("student.pt", student)  # a full disk says what the run kept
    for name, obj in distiller.artifacts().items():
        folder.save(name, obj)
