""":func:`train_members`: the runs of several configs trained as one batch, each ending with its solo result.

:func:`run_members` is the one loop of a batch (with or without run folders: :mod:`.folders` hands it one
:class:`~advdist_lab.runs.folder.RunFolder` per member). Each member's result has the keys and the history of
:func:`advdist_lab.runs.training.train`'s (``config``, ``history`` with one entry per epoch holding ``tau``, the
test metrics on the epochs ``eval_every`` selects and the mean losses, ``test_accuracy``, ``wall_seconds``,
``device``, ``pretraining``, ``timing``, ``torch``, ``status``); ``wall_seconds`` is the member's share of the
batch's time (the batch's divided by its members, so that the sum over runs is the time they took), while
``timing`` holds the batch's pretraining and epoch times and ``batch_members``, the size of its batch. On the tag
data the result also holds the final ranking metrics at the top level, as a solo tag run's (``p@3``... and
``teacher_p@3``...: :func:`~advdist_lab.metrics.tag_result_fields`). With
folders, each member's checkpoint is written in the solo format (:mod:`.state`) after pretraining and after every
epoch, and its ``result.json`` when it finishes.

A member stopped by a non-finite loss ends with ``status = "non-finite"``, the history it had and ``error``, the
message naming the member, its seed and (with folders) what its folder keeps; the others finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from ...data import TaskData, load_data
from ...environment import resolve_device
from ...files import atomic_torch_save
from ...methods.config import TrainConfig
from ...metrics import tag_result_fields
from ..folder import RunFolder, maybe_kill, progress_bar
from ..training import cached_teacher_path, evaluated_epoch, pretraining_jobs, read_cached_teacher
from .state import load_member_player, load_members, member_player_state, member_trainer_state
from .trainer import BatchedTrainer, MemberNonFiniteError, check_members

__all__ = ["load_batch_data", "pretrain_members", "run_members", "train_members"]


def load_batch_data(config: TrainConfig, device: torch.device) -> TaskData:
    """The data of a batch: its members share every field that :func:`~advdist_lab.data.load_data` reads."""
    return load_data(
        config.dataset,
        config.n_train,
        view=config.view,
        device=device,
        subset_seed=config.subset_seed,
        data_file=config.data_file,
    )


def pretrain_members(trainer: BatchedTrainer, cache=None, progress: bool = False) -> list[dict]:
    """Every member's pretraining (:func:`~advdist_lab.runs.training.pretraining_jobs`' order); each member's
    summaries, as a solo run records them. With ``cache`` (the teacher cache of
    :func:`~advdist_lab.runs.training.train`), a member whose teacher is cached under its key gets it; when every
    member's is cached no teacher is pretrained, and the teachers pretrained here are written under their keys."""
    members = trainer.members
    done: list[dict] = [{} for _ in range(members)]
    for player, epochs in pretraining_jobs(trainer):
        stored: list[dict | None] = [None] * members
        if player == "teacher" and cache is not None:
            paths = [cached_teacher_path(cache, config) for config in trainer.configs]
            stored = [read_cached_teacher(path, trainer.device) for path in paths]
            if all(s is not None for s in stored):
                load_member_player(trainer, "teacher", [s["state"] for s in stored])
                for m in range(members):
                    done[m]["teacher"] = stored[m]["summary"]
                continue
        bar = progress_bar(1, f"pretrain {player} ({members} members)", progress)
        losses = trainer.pretrain(player, epochs)
        bar.update(1)
        bar.close()
        accuracy = trainer.evaluate() if player == "teacher" else [None] * members
        for m in range(members):
            if losses[m] is not None:
                done[m][player] = {"epochs": epochs, "final_loss": losses[m][-1]}
                if accuracy[m] is not None:
                    done[m][player]["test_accuracy"] = accuracy[m]["teacher_test_accuracy"]
        if player == "teacher" and cache is not None:
            if any(s is not None for s in stored):  # the cached teachers replace the ones just trained
                states = [s["state"] if s else member_player_state(trainer, "teacher", m) for m, s in enumerate(stored)]
                load_member_player(trainer, "teacher", states)
            for m in range(members):
                if stored[m] is not None:
                    done[m]["teacher"] = stored[m]["summary"]
                elif m not in trainer.failed:
                    state = member_player_state(trainer, "teacher", m)
                    atomic_torch_save({"state": state, "summary": done[m]["teacher"]}, paths[m])
    return done


def run_members(
    configs: Sequence[TrainConfig],
    data: TaskData,
    device: torch.device,
    *,
    folders: Sequence[RunFolder] | None = None,
    states: Sequence[dict] | None = None,
    teacher_cache=None,
    progress: bool = False,
    stop=None,
    trainer_hook: Callable[[BatchedTrainer], None] | None = None,
    numbers: Sequence[int] | None = None,
    failures: list[MemberNonFiniteError] | None = None,
) -> list[dict]:
    """Train ``configs`` as one batch (module docstring); one result per config.

    ``numbers``: each member's number in the messages (default ``0..M-1``); ``failures``: a list that receives
    the :class:`MemberNonFiniteError` of every member stopped by a non-finite loss.

    ``folders``: the members' locked run folders (checkpoints and results are written there); ``states``: their
    checkpoints, all of one epoch, to continue from (``None``: start with pretraining). Setting ``stop`` ends the
    batch after the current epoch (``status = "stopped"``, checkpoints kept, no ``result.json``).
    """
    trainer = BatchedTrainer(configs, data, device)
    if trainer_hook is not None:
        trainer_hook(trainer)
    members, config = trainer.members, trainer.config
    started = time.perf_counter()
    if states is not None:
        load_members(trainer, [s["trainer"] for s in states])
        histories = [list(s["history"]) for s in states]
        timings = [s["timing"] for s in states]
        pretraining = [s["pretraining"] for s in states]
        previous = [s["wall_seconds"] for s in states]
    else:
        histories = [[] for _ in range(members)]
        timings = [{"pretrain_seconds": 0.0, "epoch_seconds": []} for _ in range(members)]
        previous = [0.0] * members
        pretraining = pretrain_members(trainer, teacher_cache, progress)
        for timing in timings:
            timing["pretrain_seconds"] = time.perf_counter() - started
    for timing in timings:
        timing["batch_members"] = members

    def save(epoch: int) -> None:
        for m in range(members):
            if folders is not None and m not in trainer.failed:
                checkpoint = {
                    "config": trainer.configs[m].to_dict(),
                    "trainer": member_trainer_state(trainer, m),
                    "history": histories[m],
                    "timing": timings[m],
                    "pretraining": pretraining[m],
                    "wall_seconds": previous[m] + (time.perf_counter() - started) / members,
                }
                folders[m].save_checkpoint(checkpoint, epoch)

    if states is None:
        save(0)
    start = len(histories[0])
    status = "finished"
    bar = progress_bar(config.epochs, f"{config.method} n={config.n_train} {members} members", progress)
    bar.update(start)
    try:
        for epoch in range(start, config.epochs):
            if len(trainer.failed) == members:
                break
            if stop is not None and stop.is_set():
                status = "stopped"
                break
            epoch_started = time.perf_counter()
            losses = trainer.train_epoch(epoch)
            metrics = trainer.evaluate() if evaluated_epoch(epoch + 1, config) else [{}] * members
            for m in range(members):
                if losses[m] is not None:
                    histories[m].append({"epoch": epoch + 1, "tau": trainer.tau(epoch), **metrics[m], **losses[m]})
                    timings[m]["epoch_seconds"].append(time.perf_counter() - epoch_started)
            if folders is not None:
                save(epoch + 1)
                maybe_kill(epoch + 1)
            bar.update(1)
    finally:
        bar.close()
    numbers = list(range(members)) if numbers is None else list(numbers)
    results = _results(trainer, histories, timings, pretraining, previous, started, status, folders, numbers)
    if failures is not None:
        failures.extend(trainer.failed[m] for m in sorted(trainer.failed))
    return results


def _results(trainer, histories, timings, pretraining, previous, started, status, folders, numbers) -> list[dict]:
    wall = time.perf_counter() - started
    final = None
    results = []
    for m in range(trainer.members):
        result = {"config": trainer.configs[m].to_dict(), "history": histories[m]}
        if m not in trainer.failed:
            # as a solo run: a stopped run whose last epoch eval_every skipped is evaluated for the result only
            last = histories[m][-1] if histories[m] else {}
            if "student_test_accuracy" not in last:
                final = trainer.evaluate() if final is None else final
                last = final[m]
            result["test_accuracy"] = last["student_test_accuracy"]
        result.update(
            wall_seconds=previous[m] + wall / trainer.members,
            device=str(trainer.device),
            pretraining=pretraining[m],
            timing=timings[m],
            torch=torch.__version__,
        )
        if m in trainer.failed:
            error = trainer.failed[m]
            error = MemberNonFiniteError(numbers[m], error.seed, error.player, error.epoch, error.stage)
            trainer.failed[m] = error
            if folders is not None:
                kept = folders[m].kept()
                error.record_kept(kept if str(folders[m].path) in kept else f"{kept} in {folders[m].path}")
            result.update(status="non-finite", error=str(error))
        else:
            if "teacher_test_accuracy" in last:
                result["teacher_test_accuracy"] = last["teacher_test_accuracy"]
            if trainer.multilabel:
                result.update(tag_result_fields(last))
            result["status"] = status
            if folders is not None and status == "finished":
                folders[m].write_result(result)
        results.append(result)
    return results


def train_members(
    configs: Sequence[TrainConfig],
    data: TaskData | None = None,
    *,
    trainer_hook=None,
) -> list[dict]:
    """Train the runs of ``configs`` (which may differ only in their seeds and weights) as one batch, without run
    folders; one result per config (module docstring).

    ``data`` defaults to what :func:`~advdist_lab.data.load_data` gives the first config; ``trainer_hook(trainer)``
    is called on the :class:`BatchedTrainer` before any training (tests poison a member through it).
    """
    if not configs:
        raise ValueError("train_members needs at least one config")
    first = configs[0].resolved().check_memory()
    device = resolve_device(first.device)
    if data is None:
        data = load_batch_data(first, device)
    check_members(configs, data)
    return run_members(configs, data, device, trainer_hook=trainer_hook)
