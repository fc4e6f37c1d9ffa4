"""Run folders for data-free robust distillation (DFARD, DERD): checkpoint every epoch, resume, ``result.json``.

:class:`~advdist_lab.robust.distill_config.DistillConfig` holds the hyperparameters every data-free robust
distillation shares (the teacher, the student, the optimisers of DFARD's "Implementation details", the PGD of the
distillation stage, the evaluation); :class:`advdist_lab.robust.dfard.DfardConfig` and
:class:`advdist_lab.robust.derd.config.DerdConfig` add their own. :func:`run_distillation` drives any *distiller*
(an object with ``student``, ``train_epoch(epoch) -> dict``, ``state_dict()``, ``load_state_dict(state)`` and
``artifacts() -> dict``) through a run folder ``out/``, a :class:`~advdist_lab.runs.folder.RunFolder` (the
lifecycle every run shares: ``--out`` checked before any work, the folder locked against a second process, the
config checked on resume, atomic writes, a full disk in one line):

* ``checkpoint.pt`` after every epoch (atomic): the distiller's state, the history, the best student so far;
* after every epoch the student is evaluated on the **validation split**, ``val_size`` real images held out from
  the training split (:mod:`advdist_lab.robust.validation`; never read in training: the method is data-free), the
  first ``eval_size`` of them under ``eval_attacks``; the history entry holds those accuracies as ``val_clean``,
  ``val_pgd_t``... beside the epoch's losses and adaptive quantities (tau, lambda);
* DFARD "selects and reports the best checkpoint of all methods among all epochs ... based on ... PGD_T": the
  student of the epoch with the highest **validation** ``select`` accuracy is kept, and at the end it, and only
  it, is evaluated on the **test split**, under ``final_attacks`` on ``final_size`` test images: the one time a
  run reads a test image. ``result.json`` holds those test accuracies at the top level (``clean``, ``fgsm``,
  ``pgd_s``, ``pgd_t``, ``cw_inf``, ``autoattack``, ``average``, and ``test_accuracy`` = ``clean`` as
  ``advdist-lab train`` writes it), ``best_epoch``, ``selection`` (the split that picked the epoch,
  ``validation``, its size, the accuracy and its best value; ``test_evaluations``: 1), the last epoch's
  validation accuracies under ``last``, the protocol, the teacher's description, parameter counts, ``timing``
  (kept out of ``history`` so that histories compare exactly) and ``status``. The best student is written to
  ``student.pt`` (named under ``model``, so that ``advdist-lab robust-eval --model OUT`` finds it)
  (:func:`advdist_lab.robust.models.robust_model_payload`) and the distiller's artifacts (e.g. ``generator.pt``).

Resume: every epoch draws from its own :class:`torch.Generator` seeded from ``(seed, epoch)``, so a run killed
after any epoch and resumed ends with the same history, the same chosen epoch and the same accuracies as an
uninterrupted one (the best student so far is in the checkpoint). A finished run is never overwritten
(:meth:`~advdist_lab.runs.folder.RunFolder.finished`). A folder written before the validation split existed holds
a config without ``val_size`` and is refused as "a run with a different config"
(:mod:`advdist_lab.robust.distill_config`). The teachers are compared by their files' SHA-1 (``teachers_sha1`` in
the checkpoint and ``result.json``), not by the path that names them: a run resumes from another working folder
or with the teacher copied elsewhere, and refuses a teacher file that changed.
"""

from __future__ import annotations

import copy
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from advdist_lab.environment import resolve_device
from advdist_lab.files import file_sha1
from advdist_lab.methods.loop import NonFiniteLossError
from advdist_lab.robust.attacks.protocol import ATTACKS, AttackProtocol
from advdist_lab.robust.data import RobustData, load_robust_data
from advdist_lab.robust.models import robust_model_payload
from advdist_lab.robust.teacher.model_files import model_path
from advdist_lab.robust.validation import VALIDATION_PREFIX, evaluate_student, validation_keys, validation_split
from advdist_lab.runs.folder import RunExistsError, RunFolder, maybe_kill, progress_bar

__all__ = ["epoch_generator", "run_distillation", "teacher_fingerprints"]


def epoch_generator(seed: int, stage: int, epoch: int, device: torch.device) -> torch.Generator:
    """The random stream of one stage of one epoch, independent of all others (what makes resume exact)."""
    state = np.random.SeedSequence([seed, stage, epoch]).generate_state(1)[0]
    return torch.Generator(device=device).manual_seed(int(state))


_TEACHER_FIELDS = ("teacher", "natural_teacher")
_ACCURACIES = ("clean", *ATTACKS, "average")

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
    x_val, y_val = validation_split(data, config.val_size, config.seed)
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
            measured = evaluate_student(
                distiller.student, x_val, y_val, config.dataset, config.eval_attacks, config.eval_size,
                config.seed + epoch, False,
            )  # fmt: skip
            accuracies = dict(zip(validation_keys(measured), measured.values(), strict=True))
            entry = {"epoch": epoch + 1, **losses, **accuracies}
            history.append(entry)
            timing["epoch_seconds"].append(trained - epoch_started)
            timing["evaluation_seconds"].append(time.perf_counter() - trained)
            score = accuracies[VALIDATION_PREFIX + config.select]
            if score > best["score"]:
                student_state = {k: v.detach().clone().cpu() for k, v in distiller.student.state_dict().items()}
                best = {"epoch": epoch + 1, "score": score, "student": student_state}
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
            bar.set_postfix({VALIDATION_PREFIX + config.select: f"{score:.3f}"})
            if callback is not None:
                callback(entry)
    finally:
        bar.close()
    tested = status == "finished"  # a stopped run reads no test image: its epoch may not be the one finally chosen
    result = _result(config, distiller, data, history, best, timing, device, progress and tested, tested)
    result["wall_seconds"] = previous + time.perf_counter() - started
    result["status"] = status
    result["teachers_sha1"] = teachers
    if describe is not None:
        result.update(describe(distiller))
    if folder is not None and status == "finished":
        _write_models(folder, config, distiller, data, best["student"])
        folder.write_result(result)
    return result


def _result(config, distiller, data, history, best, timing, device, progress, tested: bool) -> dict:
    """The result of the run; with ``tested``, the chosen epoch's student evaluated on the test split (once)."""
    from advdist_lab.models.presets import count_parameters

    final: dict[str, float] = {}
    if tested:
        last_state = {k: v.detach().clone() for k, v in distiller.student.state_dict().items()}
        if best["student"] is not None:
            distiller.student.load_state_dict(best["student"])
        evaluated = time.perf_counter()
        final = evaluate_student(  # the one evaluation on the test split
            distiller.student, data.x_test, data.y_test, config.dataset, config.final_attacks, config.final_size,
            config.seed + 10_007, progress,
        )  # fmt: skip
        timing = {**timing, "final_evaluation_seconds": time.perf_counter() - evaluated}
        distiller.student.load_state_dict(last_state)
    n_final = len(data.y_test) if config.final_size is None else min(config.final_size, len(data.y_test))
    result = {
        "config": config.to_dict(),
        "history": history,
        **final,
        "test_accuracy": final.get("clean"),
        "best_epoch": best["epoch"],
        "selection": {
            "split": "validation",
            "held_out_from": "training split",
            "val_size": config.val_size,
            "evaluated_each_epoch": config.eval_size or config.val_size,
            "accuracy": VALIDATION_PREFIX + config.select,
            "best": best["score"] if history else None,
            "test_evaluations": int(tested),
        },
        "model": "student.pt",
        "last": {k: v for k, v in (history[-1] if history else {}).items() if k in validation_keys(_ACCURACIES)},
        "protocol": AttackProtocol.for_dataset(config.dataset, config.final_attacks).to_dict(),
        "evaluated_on": n_final if tested else 0,
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
        summary={
            "method": getattr(config, "method", "distill"),
            "source": f"best epoch by validation {config.select}",
        },
    )
    folder.save("student.pt", student)  # a full disk says what the run kept
    for name, obj in distiller.artifacts().items():
        folder.save(name, obj)
