"""A robust teacher's training run (``advdist-lab robust-teacher``): :func:`train_robust_teacher` in a run folder.

The run folder is a :class:`~advdist_lab.runs.folder.RunFolder`, the lifecycle every run shares: ``--out`` checked
before any work, the folder locked against a second process, the config checked on resume, a damaged
``result.json`` refused naming it, atomic writes, a full disk in one line that says what is kept. It holds
``checkpoint.pt`` after every epoch (:data:`CHECKPOINT_FORMAT`: model, optimiser, scheduler, history, timing,
config, wall seconds), ``teacher.pt`` (:func:`~advdist_lab.robust.models.save_robust_model`) and ``result.json`` at
the end. Every epoch draws from its own seeded generators (:func:`~advdist_lab.robust.teacher.training.epoch_seed`),
so a run resumed from the checkpoint of epoch ``k`` ends exactly as an uninterrupted one. Timing stays out of
``history`` (under ``timing``) so that histories compare exactly.

Per-epoch evaluation (``history``): the first ``eval_size`` test images under ``eval_attacks`` of the dataset's
protocol (default PGD_S only, it is cheap). Final evaluation (top level of ``result.json``): the test split
(``test_size``, default all) under ``final_attacks``: all of DFARD Table 1 on the digits, AutoAttack included.
AutoAttack is most of a digits run: with the defaults, on one CPU thread, PGD-AT trained in 36 s and the final
evaluation took 225 s (TRADES: 50 s and 211 s), of which the four other attacks take about 4 s; Square and FAB-T
cost most, as they attack the points that stay robust. ``--final-attacks fgsm,pgd_s,pgd_t,cw_inf`` gives a run of
under a minute. On CIFAR the default is all but AutoAttack, which takes hours on 10,000 images with a WRN-34-10: ask
for it (``--final-attacks fgsm,pgd_s,pgd_t,cw_inf,autoattack``) or run ``advdist-lab robust-eval`` later.

Before the data is loaded, the batch's memory is estimated
(:func:`~advdist_lab.robust.teacher.training.training_bytes`) and a batch that cannot fit is refused in one line.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from advdist_lab.environment import check_fits_in_memory, resolve_device
from advdist_lab.methods.loop import NonFiniteLossError
from advdist_lab.robust.attacks.protocol import robust_accuracy
from advdist_lab.robust.data import load_robust_data
from advdist_lab.robust.models import robust_model_payload
from advdist_lab.robust.teacher.config import RobustTeacherConfig, check_autoattack_available, protocol_for
from advdist_lab.robust.teacher.model_files import MODEL_FILE, model_summary
from advdist_lab.robust.teacher.training import (
    build_model,
    evaluate_epoch,
    make_optimizer,
    train_epoch,
    training_bytes,
)
from advdist_lab.runs.folder import CheckpointError, RunFolder, maybe_kill, progress_bar

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_KEYS", "train_robust_teacher"]

CHECKPOINT_FORMAT = "advdist-lab-robust-teacher-checkpoint"
"""The ``format`` of a robust teacher's ``checkpoint.pt``."""
CHECKPOINT_KEYS = frozenset(
    {"format", "config", "model", "optimizer", "scheduler", "history", "timing", "wall_seconds"}
)
"""What a robust teacher's ``checkpoint.pt`` holds."""


def _comparable(config: dict) -> dict:
    """A config as compared on resume: the device may change; fields newer than the run take their defaults."""
    dataset = config.get("dataset", "digits")
    try:
        merged = {**RobustTeacherConfig(dataset=dataset).to_dict(), **config}
    except ValueError:
        merged = dict(config)
    return {k: v for k, v in merged.items() if k != "device"}


def _check_format(state: dict, path: Path) -> dict:
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a robust-teacher checkpoint (its format is {state.get('format')!r})")
    return state


def train_robust_teacher(
    config: RobustTeacherConfig,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[dict], None] | None = None,
) -> dict:
    """Train a robust (or natural) teacher and return its result; write the run folder ``out`` when given.

    ``result`` = ``{"config", "history": [{"epoch", "lr", "train_loss", "train_accuracy", "clean", <eval
    attacks>}...], "clean", <final attacks>, "average", "protocol", "eval_protocol", "n_test", "wall_seconds",
    "device", "status", "model": "teacher.pt", "timing", "torch"}`` (accuracies as fractions). ``callback(entry)``
    is called after every epoch. Everything that can be checked is checked before any work: the config, the
    attacks' package, ``out`` (:class:`~advdist_lab.runs.folder.RunFolder`: usable, not in use by another process,
    a damaged ``result.json`` refused naming it), the finished run or checkpoint there, and whether a batch fits in
    memory (:func:`~advdist_lab.robust.teacher.training.training_bytes`). A finished run is never overwritten:
    :class:`~advdist_lab.runs.folder.RunExistsError` without ``resume``, returned as it is with ``resume`` (a
    different config raises, naming the fields). A non-finite loss raises
    :class:`~advdist_lab.methods.loop.NonFiniteLossError` (player ``teacher``, the epoch) saying what is kept: the
    checkpoint of the last good epoch, or none.
    """
    if not isinstance(config, RobustTeacherConfig):
        raise ValueError(f"config must be a RobustTeacherConfig (got {type(config).__name__})")
    device = resolve_device(config.device)
    check_autoattack_available(config.final_attacks, "final_attacks")  # type: ignore[arg-type]
    check_autoattack_available(config.eval_attacks, "eval_attacks")
    if out is None:
        return _train(config, device, None, None, progress, callback)
    with RunFolder(out, comparable=_comparable) as folder:
        finished = folder.finished(config.to_dict(), resume)
        if finished is not None:
            return finished
        state = folder.checkpoint(config.to_dict(), resume, device, CHECKPOINT_KEYS, "a robust-teacher")
        if state is not None:
            _check_format(state, folder.checkpoint_path)
        return _train(config, device, folder, state, progress, callback)


def _train(config, device, folder, state, progress, callback) -> dict:
    try:
        return _train_epochs(config, device, folder, state, progress, callback)
    except NonFiniteLossError as error:
        error.record_kept(folder.kept() if folder is not None else "nothing was saved (the run has no folder)")
        raise


def _train_epochs(config, device, folder, state, progress, callback) -> dict:
    model = build_model(config)
    check_fits_in_memory("batch_size", training_bytes(config, model, device), device)
    data = load_robust_data(
        config.dataset,
        n_train=config.n_train,
        test_size=config.test_size,
        device=device,
        subset_seed=config.subset_seed,
    )
    model = model.to(device)
    batches = math.ceil(data.y_train.shape[0] / config.batch_size)
    optimizer, scheduler = make_optimizer(config, model, batches)
    history: list[dict] = []
    timing: dict = {"epoch_seconds": [], "final_evaluation_seconds": None}
    previous = 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, timing, previous = state["history"], state["timing"], state["wall_seconds"]
    started = time.perf_counter()
    bar = progress_bar(config.epochs, f"teacher {config.method} {config.dataset} seed={config.seed}", progress)
    bar.update(len(history))
    try:
        for epoch in range(len(history), config.epochs):
            epoch_started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            loss, accuracy = train_epoch(model, optimizer, scheduler, data, config, epoch, device)
            if not math.isfinite(loss):
                raise NonFiniteLossError("teacher", epoch + 1)
            entry = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": loss,
                "train_accuracy": accuracy,
                **evaluate_epoch(model, data, config),
            }
            history.append(entry)
            timing["epoch_seconds"].append(time.perf_counter() - epoch_started)
            if folder is not None:
                checkpoint = {
                    "format": CHECKPOINT_FORMAT,
                    "config": config.to_dict(),
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "history": history,
                    "timing": timing,
                    "wall_seconds": previous + time.perf_counter() - started,
                }
                folder.save_checkpoint(checkpoint, epoch + 1)
                maybe_kill(epoch + 1)
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in entry.items() if k in ("train_loss", "clean", "pgd_s")})
            if callback is not None:
                callback(entry)
    finally:
        bar.close()
    model.eval()
    evaluation_started = time.perf_counter()
    protocol = protocol_for(config.dataset, config.final_attacks)
    final = robust_accuracy(model, data.x_test, data.y_test, protocol, seed=config.seed, progress=progress)
    timing["final_evaluation_seconds"] = time.perf_counter() - evaluation_started
    result = {
        "config": config.to_dict(),
        "history": history,
        **final,
        "protocol": protocol.to_dict(),
        "eval_protocol": {
            **protocol_for(config.dataset, config.eval_attacks or ("pgd_s",)).to_dict(),
            "attacks": list(config.eval_attacks),
            "test_images": config.eval_size,
        },
        "n_test": int(data.y_test.shape[0]),
        "wall_seconds": previous + time.perf_counter() - started,
        "device": str(device),
        "status": "finished",
        "model": MODEL_FILE,
        "timing": timing,
        "torch": torch.__version__,
    }
    if folder is not None:
        payload = robust_model_payload(
            model,
            arch=config.arch,  # type: ignore[arg-type]
            num_classes=data.num_classes,
            image_shape=data.image_shape,
            summary=model_summary(config.dataset, config.method, len(history), final, config.seed),
        )
        folder.save(MODEL_FILE, payload)  # a full disk says what the run kept
        folder.write_result(result)
    return result
