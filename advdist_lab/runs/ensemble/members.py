""":func:`train_members`: the runs of several configs trained as one batch, each ending with its solo result.

Each member's result has the keys and the history of :func:`advdist_lab.runs.training.train`'s (the pretraining
summaries, one history entry per epoch with ``tau``, the test metrics on the epochs ``eval_every`` selects and the
mean losses), without run folders for now. A member stopped by a non-finite loss ends with ``status =
"non-finite"``, the history it had and ``error``, the message naming the member and its seed; the others finish.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from ...data import TaskData, load_data
from ...environment import resolve_device
from ...methods.config import TrainConfig
from ..training import evaluated_epoch
from .trainer import BatchedTrainer, check_members

__all__ = ["pretraining_jobs", "train_members"]


def pretraining_jobs(trainer: BatchedTrainer) -> list[tuple[str, int]]:
    """The players pretrained before the main loop and their epochs, in the order a solo run pretrains them."""
    config = trainer.config
    jobs = []
    if trainer.players.teacher is not None and trainer.method.teacher_pretrained and config.teacher_pretrain_epochs:
        jobs.append(("teacher", config.teacher_pretrain_epochs))
    if config.student_pretrain_epochs:
        jobs.append(("student", config.student_pretrain_epochs))
    if config.discriminator_pretrain_epochs:
        jobs.append(("discriminator", config.discriminator_pretrain_epochs))
    return jobs


def train_members(
    configs: Sequence[TrainConfig],
    data: TaskData | None = None,
    *,
    trainer_hook=None,
) -> list[dict]:
    """Train the runs of ``configs`` (which may differ only in their seeds) as one batch; one result per config.

    ``data`` defaults to what :func:`~advdist_lab.data.load_data` gives the first config; ``trainer_hook(trainer)``
    is called on the :class:`BatchedTrainer` before any training (tests poison a member through it).
    """
    if not configs:
        raise ValueError("train_members needs at least one config")
    first = configs[0].resolved().check_memory()
    device = resolve_device(first.device)
    if data is None:
        data = load_data(
            first.dataset, first.n_train, view=first.view, device=device, subset_seed=first.subset_seed, data_file=None
        )
    check_members(configs, data)
    started = time.perf_counter()
    trainer = BatchedTrainer(configs, data, device)
    if trainer_hook is not None:
        trainer_hook(trainer)
    members = trainer.members
    pretraining: list[dict] = [{} for _ in range(members)]
    for player, epochs in pretraining_jobs(trainer):
        losses = trainer.pretrain(player, epochs)
        accuracy = trainer.evaluate() if player == "teacher" else None
        for m in range(members):
            if losses[m] is None:
                continue
            pretraining[m][player] = {"epochs": epochs, "final_loss": losses[m][-1]}
            if accuracy is not None:
                pretraining[m][player]["test_accuracy"] = accuracy[m]["teacher_test_accuracy"]
    histories: list[list[dict]] = [[] for _ in range(members)]
    config = trainer.config
    for epoch in range(config.epochs):
        if len(trainer.failed) == members:
            break
        losses = trainer.train_epoch(epoch)
        metrics = trainer.evaluate() if evaluated_epoch(epoch + 1, config) else [{}] * members
        for m in range(members):
            if losses[m] is not None:
                histories[m].append({"epoch": epoch + 1, "tau": trainer.tau(epoch), **metrics[m], **losses[m]})
    wall = time.perf_counter() - started
    final = trainer.evaluate()
    results = []
    for m in range(members):
        result = {
            "config": trainer.configs[m].to_dict(),
            "history": histories[m],
            "pretraining": pretraining[m],
            "wall_seconds": wall,
            "device": str(device),
            "torch": torch.__version__,
            "batch": {"members": members, "member": m},
        }
        if m in trainer.failed:
            result.update(status="non-finite", error=str(trainer.failed[m]))
        else:
            result["status"] = "finished"
            result["test_accuracy"] = final[m]["student_test_accuracy"]
            if "teacher_test_accuracy" in final[m]:
                result["teacher_test_accuracy"] = final[m]["teacher_test_accuracy"]
        results.append(result)
    return results
