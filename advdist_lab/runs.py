"""Run folders: one training run from a config to ``result.json``, with a checkpoint every epoch and resume.

A run folder ``out/`` holds

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
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from .data import load_data
from .environment import resolve_device
from .files import UnsafeFileError, atomic_torch_save, atomic_write_json, file_sha1, load_tensors
from .methods.config import TrainConfig
from .methods.loop import Trainer
from .metrics import TAG_METRICS

RESULT = "result.json"
CHECKPOINT = "checkpoint.pt"
KILL_AFTER_EPOCH_ENV = "ADVDIST_LAB_KILL_AFTER_EPOCH"
"""Fault injection for tests: after writing the checkpoint of this epoch, the process kills itself (SIGKILL)."""

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


class RunExistsError(ValueError):
    """The output folder already holds a finished run or a checkpoint that this call would overwrite."""


def notebook_folder(
    notebook: str, label: str, smoke: bool, out: str | os.PathLike | None = None
) -> tuple[str, tempfile.TemporaryDirectory | None]:
    """A notebook's run folder and, for a smoke run, the temporary directory that holds it (``cleanup()`` it).

    ``out`` wins when given. Otherwise a smoke run gets a fresh temporary folder (so that it always trains) and a
    full run ``../runs/<notebook>/<label>``: relative to the notebook, which runs in ``notebooks/`` under papermill
    and JupyterLab alike, so the runs land in the repository's ``runs/`` and a rerun reuses them.
    """
    if out is not None:
        return str(out), None
    if smoke:
        folder = tempfile.TemporaryDirectory(prefix=f"advdist-{notebook[:2]}-smoke-")
        return folder.name, folder
    return str(Path("..") / "runs" / notebook / label), None


def load_result(path: str | os.PathLike) -> dict:
    """The ``result.json`` of a run folder (or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULT
    with open(path) as handle:
        return json.load(handle)


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


def _comparable(config: dict) -> dict:
    """A config as compared on resume: the device may change; fields newer than the run take their defaults."""
    merged = {**TrainConfig().to_dict(), **config}
    return {k: v for k, v in merged.items() if k != "device"}


def _progress_bar(total: int, description: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, disable=not enabled, leave=False, dynamic_ncols=True)


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
    methods). Everything that can be checked is checked before any training starts.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig (got {type(config).__name__})")
    config = config.resolved()
    device = resolve_device(config.device)
    out_dir = Path(out) if out is not None else None
    checkpoint_path = out_dir / CHECKPOINT if out_dir is not None else None
    state = None
    if out_dir is not None:
        finished = read_finished(out_dir, config.to_dict(), resume, _comparable)
        if finished is not None:
            return finished
        if checkpoint_path.exists():
            if not resume:
                raise RunExistsError(
                    f"{out_dir} holds the checkpoint of an unfinished run; pass --resume to continue it, or choose "
                    "another --out"
                )
            state = _read_checkpoint(checkpoint_path, device)
            if _comparable(state["config"]) != _comparable(config.to_dict()):
                raise RunExistsError(_config_mismatch(out_dir, state["config"], config.to_dict()))
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
    if state is not None:
        trainer.load_state_dict(state["trainer"])
        history = state["history"]
        timing = state["timing"]
        pretraining = state["pretraining"]
        previous_seconds = state["wall_seconds"]
    else:
        pretraining = _pretrain(trainer, config, teacher_cache, progress)
        timing["pretrain_seconds"] = time.perf_counter() - started
        if checkpoint_path is not None:
            _save_checkpoint(checkpoint_path, trainer, config, history, timing, pretraining, _elapsed(started))
    start_epoch = len(history)
    status = "finished"
    bar = _progress_bar(config.epochs, f"{config.method} n={config.n_train} seed={config.seed}", progress)
    bar.update(start_epoch)
    try:
        for epoch in range(start_epoch, config.epochs):
            if stop is not None and stop.is_set():
                status = "stopped"
                break
            epoch_started = time.perf_counter()
            losses = trainer.train_epoch(epoch)
            metrics = trainer.evaluate()
            entry = {"epoch": epoch + 1, "tau": trainer.tau(epoch), **metrics, **losses}
            history.append(entry)
            timing["epoch_seconds"].append(time.perf_counter() - epoch_started)
            if checkpoint_path is not None:
                _save_checkpoint(
                    checkpoint_path,
                    trainer,
                    config,
                    history,
                    timing,
                    pretraining,
                    previous_seconds + _elapsed(started),
                )
                _maybe_kill(epoch + 1)
            bar.update(1)
            bar.set_postfix(student=f"{metrics['student_test_accuracy']:.3f}")
            if callback is not None:
                callback(entry)
    finally:
        bar.close()
    result = _result(config, history, trainer, device, previous_seconds + _elapsed(started), timing, pretraining)
    result["status"] = status
    if out_dir is not None and status == "finished":
        atomic_write_json(out_dir / RESULT, result)
    return result


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read back (truncated, from another program, or edited by hand)."""


def read_checkpoint(path: Path, device: torch.device, needed: set[str], kind: str = "an advdist-lab") -> dict:
    """The checkpoint at ``path``, which must hold the keys ``needed``; a file that cannot be read or is not one of
    ours raises :class:`CheckpointError` (naming ``kind`` of checkpoint) and is left untouched. Shared by
    :func:`train`, :func:`advdist_lab.robust.runner.run_distillation` and the robust teacher's training."""
    try:
        state = load_tensors(path, map_location=device, what="checkpoint")
    except UnsafeFileError:
        raise
    except Exception as error:  # torch raises pickle, zip and runtime errors for damaged files
        raise CheckpointError(
            f"{path} cannot be read as a checkpoint ({type(error).__name__}: {error}); it was left as it is: move it "
            "away to start the run over"
        ) from None
    missing = needed - set(state if isinstance(state, dict) else ())
    if missing:
        raise CheckpointError(f"{path} is not {kind} checkpoint (missing {', '.join(sorted(missing))})")
    return state


def _read_checkpoint(path: Path, device: torch.device) -> dict:
    return read_checkpoint(path, device, {"config", "trainer", "history", "timing", "pretraining", "wall_seconds"})


def _elapsed(started: float) -> float:
    return time.perf_counter() - started


def read_finished(out_dir: Path, requested: dict, resume: bool, comparable: Callable[[dict], dict]) -> dict | None:
    """The finished run in ``out_dir`` (its ``result.json``), or ``None`` when there is none.

    A finished run is never overwritten: without ``resume`` it raises :class:`RunExistsError`, and with ``resume``
    its config must equal ``requested`` as seen through ``comparable`` (else :class:`RunExistsError` names the
    fields that differ). Shared by :func:`train` and :func:`advdist_lab.knn.run_knn`.
    """
    result_path = out_dir / RESULT
    if not result_path.exists():
        return None
    if not resume:
        raise RunExistsError(
            f"{out_dir} already holds a finished run ({RESULT}); choose another output folder (--out), "
            "or pass --resume to read it"
        )
    finished = load_result(result_path)
    stored = finished.get("config", {})
    if comparable(stored) != comparable(requested):
        raise RunExistsError(_config_mismatch(out_dir, stored, requested))
    return finished


def _config_mismatch(out_dir: Path, stored: dict, requested: dict) -> str:
    keys = sorted(k for k in set(stored) | set(requested) if k != "device" and stored.get(k) != requested.get(k))
    diffs = ", ".join(f"{k}: {stored.get(k)!r} there, {requested.get(k)!r} here" for k in keys)
    return f"{out_dir} holds a run with a different config ({diffs}); choose another output folder (--out)"


def _pretrain(trainer: Trainer, config: TrainConfig, cache: str | os.PathLike | None, progress: bool) -> dict:
    done: dict = {}
    jobs = []
    if trainer.players.teacher is not None and trainer.method.teacher_pretrained and config.teacher_pretrain_epochs:
        jobs.append(("teacher", config.teacher_pretrain_epochs))
    if config.student_pretrain_epochs:
        jobs.append(("student", config.student_pretrain_epochs))
    if config.discriminator_pretrain_epochs:
        jobs.append(("discriminator", config.discriminator_pretrain_epochs))
    for player, epochs in jobs:
        cached = None
        if player == "teacher" and cache is not None:
            cached = Path(cache) / f"teacher-{teacher_cache_key(config)}.pt"
            stored = _read_cached_teacher(cached, trainer.device)
            if stored is not None:
                trainer.load_player_state("teacher", stored["state"])
                done["teacher"] = stored["summary"]
                continue
        bar = _progress_bar(epochs, f"pretrain {player}", progress)
        losses = trainer.pretrain(player, epochs, progress=bar.update)
        bar.close()
        summary = {"epochs": epochs, "final_loss": losses[-1]}
        if player == "teacher":
            summary["test_accuracy"] = trainer.evaluate()["teacher_test_accuracy"]
        done[player] = summary
        if cached is not None:
            atomic_torch_save({"state": trainer.player_state("teacher"), "summary": summary}, cached)
    return done


def _read_cached_teacher(path: Path, device: torch.device) -> dict | None:
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


def _save_checkpoint(path, trainer, config, history, timing, pretraining, wall_seconds) -> None:
    atomic_torch_save(
        {
            "config": config.to_dict(),
            "trainer": trainer.state_dict(),
            "history": history,
            "timing": timing,
            "pretraining": pretraining,
            "wall_seconds": wall_seconds,
        },
        path,
    )


def _maybe_kill(epoch: int) -> None:
    target = os.environ.get(KILL_AFTER_EPOCH_ENV)
    if target is not None and target.strip() == str(epoch):
        os.kill(os.getpid(), signal.SIGKILL)


def _result(config, history, trainer, device, wall_seconds, timing, pretraining) -> dict:
    last = history[-1] if history else trainer.evaluate()
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
        for player, prefix in (("student", ""), ("teacher", "teacher_")):
            for name in TAG_METRICS:
                if f"{player}_{name}" in last:
                    result[prefix + name] = last[f"{player}_{name}"]
    return result
