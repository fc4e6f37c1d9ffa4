"""Training runs: one run of :class:`~advdist_lab.methods.TrainConfig` to ``result.json``, with a checkpoint every
epoch and resume, in a :class:`~advdist_lab.runs.folder.RunFolder` (lock, config check, atomic writes).

A training run's folder ``out/`` holds

* ``checkpoint.pt``: the players, their optimisers, the history so far and the config, written atomically
  (temporary file, then rename) after pretraining and after every epoch;
* ``result.json``: written atomically when the run finishes::

      {"config": {...every hyperparameter, resolved...},
       "history": [{"epoch": 1, "tau": ..., "student_test_accuracy": ..., "teacher_test_accuracy": ...,
                    "student_loss": ..., "student_adversarial": ..., ...}, ...],
       "test_accuracy": <the student's final test accuracy>, "teacher_test_accuracy": ...,
       "wall_seconds": ..., "device": "cpu", "status": "finished", "pretraining": {...}, "timing": {...}}

``train(..., resume=True)`` continues from the checkpoint and ends with the same history and ``test_accuracy`` as
an uninterrupted run (each epoch reseeds itself, see :mod:`advdist_lab.methods.loop`). A finished run is never
overwritten: training into a folder that already holds a ``result.json`` raises, and resuming it returns it.
Timing stays out of ``history`` (it lives under ``timing``) so that histories compare exactly.

On the tag datasets (image tag recommendation, TPAMI Sec. 5.2) every history entry also holds the ranking metrics of
:meth:`advdist_lab.methods.loop.Trainer.evaluate` (``student_map``, ``teacher_p@3``...), ``test_accuracy`` is the
student's P@1, and ``result.json`` holds the final ranking metrics at the top level, as TPAMI Table 4 reports them:
the student's as ``p@3``, ``r@3``, ``f@3``, ``ndcg@3``, ``map``, ``mrr`` and the teacher's as ``teacher_p@3``...
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from ..data import load_data
from ..environment import resolve_device
from ..files import atomic_torch_save, file_sha1, load_tensors
from ..methods.config import TrainConfig
from ..methods.loop import NonFiniteLossError, Trainer
from ..metrics import tag_result_fields
from .folder import RunFolder, maybe_kill, progress_bar, read_finished

CHECKPOINT_KEYS = frozenset({"config", "trainer", "history", "timing", "pretraining", "wall_seconds"})
"""What a training run's ``checkpoint.pt`` holds."""

_TEACHER_KEYS = (
    "dataset",
    "view",
    "n_train",
    "subset_seed",
    "seed",
    "precision",
    "batch_size",
    "lr_teacher",
    "teacher_pretrain_epochs",
)


def teacher_cache_key(config: TrainConfig) -> str:
    """A key for the pretrained teacher of ``config``: equal keys give bit-identical pretrained teachers.

    The device type is part of the key: CUDA kernels (and bf16 autocast under ``precision="auto"``) give other
    bits than the CPU, so a teacher folder shared between machines never hands one's teacher to the other.
    """
    fields = {k: config.to_dict()[k] for k in _TEACHER_KEYS}
    if config.data_file is not None:  # a user's features: the key follows the file's content, not its name
        fields["data_file_sha1"] = file_sha1(config.data_file)
    device = config.device
    fields["device_type"] = resolve_device(device).type if device == "auto" else device.split(":")[0]
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def comparable_config(config: dict) -> dict:
    """A config as compared on resume: the device may change; fields newer than the run take their defaults."""
    merged = {**TrainConfig().to_dict(), **config}
    return {k: v for k, v in merged.items() if k != "device"}


def train(
    config: TrainConfig,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
    teacher_cache: str | os.PathLike | None = None,
    trainer_hook: Callable[[Trainer], None] | None = None,
) -> dict:
    """Train one run and return its result (see the module docstring); write it under ``out`` when given.

    ``callback(entry)`` is called after every epoch with its history entry. Setting ``stop`` ends the run after
    the current epoch: the result is returned with ``status = "stopped"``, the checkpoint is kept so that
    ``resume=True`` continues it, and no ``result.json`` is written. ``teacher_cache`` is a folder where pretrained
    teachers are kept and reused by runs whose teacher pretraining is identical (``table1`` shares them across
    methods). Everything that can be checked is checked before any training starts: the config, then ``out``
    (:class:`~advdist_lab.runs.folder.RunFolder`: usable, not in use by another process, its finished run or
    checkpoint of the same config).
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig (got {type(config).__name__})")
    config = config.resolved().check_memory()
    device = resolve_device(config.device)
    options = (progress, callback, stop, teacher_cache, trainer_hook)
    if out is None:
        return _train(config, device, None, None, *options)
    with RunFolder(out, comparable=comparable_config) as folder:
        finished = folder.finished(config.to_dict(), resume)
        if finished is not None:
            return finished
        state = folder.checkpoint(config.to_dict(), resume, device, CHECKPOINT_KEYS)
        return _train(config, device, folder, state, *options)


def read_back(config: TrainConfig, out: str | os.PathLike) -> dict | None:
    """The finished run of ``config`` in ``out`` (its ``result.json``, whose config must be ``config``'s), or
    ``None`` when ``out`` holds no finished run; reads and writes nothing else (no lock: ``out`` may be read-only,
    such as a shipped results folder). A damaged file or another config raises as :func:`train` would."""
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig (got {type(config).__name__})")
    return read_finished(Path(out), config.resolved().to_dict(), True, comparable_config)


def _train(config, device, folder, state, progress, callback, stop, teacher_cache, trainer_hook) -> dict:
    try:
        return _train_epochs(config, device, folder, state, progress, callback, stop, teacher_cache, trainer_hook)
    except NonFiniteLossError as error:
        error.record_kept(folder.kept() if folder is not None else "nothing was saved (the run has no folder)")
        raise


def _train_epochs(config, device, folder, state, progress, callback, stop, teacher_cache, trainer_hook) -> dict:
    data = load_data(
        config.dataset,
        config.n_train,
        view=config.view,
        device=device,
        subset_seed=config.subset_seed,
        data_file=config.data_file,
    )
    trainer = Trainer(config, data, device)
    if trainer_hook is not None:
        trainer_hook(trainer)
    started = time.perf_counter()
    history: list[dict] = []
    timing: dict = {"pretrain_seconds": 0.0, "epoch_seconds": []}
    pretraining: dict = {}
    previous_seconds = 0.0

    def save(epoch: int) -> None:
        if folder is not None:
            checkpoint = {
                "config": config.to_dict(),
                "trainer": trainer.state_dict(),
                "history": history,
                "timing": timing,
                "pretraining": pretraining,
                "wall_seconds": previous_seconds + _elapsed(started),
            }
            folder.save_checkpoint(checkpoint, epoch)

    if state is not None:
        trainer.load_state_dict(state["trainer"])
        history = state["history"]
        timing = state["timing"]
        pretraining = state["pretraining"]
        previous_seconds = state["wall_seconds"]
    else:
        pretraining = _pretrain(trainer, config, teacher_cache, progress)
        timing["pretrain_seconds"] = time.perf_counter() - started
        save(0)
    start_epoch = len(history)
    status = "finished"
    bar = progress_bar(config.epochs, f"{config.method} n={config.n_train} seed={config.seed}", progress)
    bar.update(start_epoch)
    try:
        for epoch in range(start_epoch, config.epochs):
            if stop is not None and stop.is_set():
                status = "stopped"
                break
            epoch_started = time.perf_counter()
            losses = trainer.train_epoch(epoch)
            metrics = trainer.evaluate() if evaluated_epoch(epoch + 1, config) else {}
            entry = {"epoch": epoch + 1, "tau": trainer.tau(epoch), **metrics, **losses}
            history.append(entry)
            timing["epoch_seconds"].append(time.perf_counter() - epoch_started)
            if folder is not None:
                save(epoch + 1)
                maybe_kill(epoch + 1)
            bar.update(1)
            if metrics:
                bar.set_postfix(student=f"{metrics['student_test_accuracy']:.3f}")
            if callback is not None:
                callback(entry)
    finally:
        bar.close()
    result = _result(config, history, trainer, device, previous_seconds + _elapsed(started), timing, pretraining)
    result["status"] = status
    if folder is not None and status == "finished":
        folder.write_result(result)
    return result


def evaluated_epoch(epoch: int, config: TrainConfig) -> bool:
    """Whether the history entry of ``epoch`` (1-based) holds test metrics: every ``config.eval_every``-th epoch
    and the last one."""
    return epoch % config.eval_every == 0 or epoch == config.epochs


def _elapsed(started: float) -> float:
    return time.perf_counter() - started


def pretraining_jobs(trainer) -> list[tuple[str, int]]:
    """The players pretrained before the main loop and their epochs, in the order a run pretrains them (teacher,
    student, discriminator). ``trainer`` is a :class:`~advdist_lab.methods.loop.Trainer` or anything with its
    ``players``, ``method`` and ``config`` (the batched trainer of :mod:`advdist_lab.runs.ensemble`)."""
    config = trainer.config
    jobs = []
    if trainer.players.teacher is not None and trainer.method.teacher_pretrained and config.teacher_pretrain_epochs:
        jobs.append(("teacher", config.teacher_pretrain_epochs))
    if config.student_pretrain_epochs:
        jobs.append(("student", config.student_pretrain_epochs))
    if config.discriminator_pretrain_epochs:
        jobs.append(("discriminator", config.discriminator_pretrain_epochs))
    return jobs


def cached_teacher_path(cache: str | os.PathLike, config: TrainConfig) -> Path:
    """The file of ``config``'s pretrained teacher in the teacher cache folder ``cache`` (:func:`teacher_cache_key`);
    it holds ``{"state": {"model", "optimizer"}, "summary": {...}}``."""
    return Path(cache) / f"teacher-{teacher_cache_key(config)}.pt"


def _pretrain(trainer: Trainer, config: TrainConfig, cache: str | os.PathLike | None, progress: bool) -> dict:
    done: dict = {}
    for player, epochs in pretraining_jobs(trainer):
        cached = None
        if player == "teacher" and cache is not None:
            cached = cached_teacher_path(cache, config)
            stored = read_cached_teacher(cached, trainer.device)
            if stored is not None:
                trainer.load_player_state("teacher", stored["state"])
                done["teacher"] = stored["summary"]
                continue
        bar = progress_bar(epochs, f"pretrain {player}", progress)
        losses = trainer.pretrain(player, epochs, progress=bar.update)
        bar.close()
        summary = {"epochs": epochs, "final_loss": losses[-1]}
        if player == "teacher":
            summary["test_accuracy"] = trainer.evaluate()["teacher_test_accuracy"]
        done[player] = summary
        if cached is not None:
            atomic_torch_save({"state": trainer.player_state("teacher"), "summary": summary}, cached)
    return done


def read_cached_teacher(path: Path, device: torch.device) -> dict | None:
    """A cached pretrained teacher, or ``None`` when there is none or the file is damaged (it is then retrained
    and the file replaced: a cache holds nothing that cannot be recomputed)."""
    if not path.exists():
        return None
    try:
        stored = load_tensors(path, map_location=device, what="teacher cache")
        if not isinstance(stored, dict) or not {"state", "summary"} <= set(stored):
            raise ValueError("not a cached teacher")
        return stored
    except Exception as error:  # a truncated or foreign file
        warnings.warn(
            f"ignoring the damaged teacher cache {path} ({error}); the teacher is pretrained again", stacklevel=3
        )
        return None


def _result(config, history, trainer, device, wall_seconds, timing, pretraining) -> dict:
    # A stopped run's last epoch may be one that eval_every skipped: its model is evaluated for the result only
    # (the history stays as an uninterrupted run writes it, so that a resumed run ends with the same history).
    last = history[-1] if history and "student_test_accuracy" in history[-1] else trainer.evaluate()
    result = {
        "config": config.to_dict(),
        "history": history,
        "test_accuracy": last["student_test_accuracy"],
        "wall_seconds": wall_seconds,
        "device": str(device),
        "pretraining": pretraining,
        "timing": timing,
        "torch": torch.__version__,
    }
    if "teacher_test_accuracy" in last:
        result["teacher_test_accuracy"] = last["teacher_test_accuracy"]
    if trainer.multilabel:
        result.update(tag_result_fields(last))
    return result
