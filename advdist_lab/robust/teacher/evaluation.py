"""A model under DFARD Table 1's attacks (``advdist-lab robust-eval``) and a teacher trained elsewhere brought into a
run folder (``advdist-lab robust-teacher --checkpoint FILE``).

DFARD's and RSLAD's CIFAR-10 teacher (a WRN-34-10 adversarially trained by TRADES) cannot be downloaded here, so the
course trains its own (:mod:`advdist_lab.robust.teacher.run`); a user who has the original file imports it instead
(:func:`import_teacher`, ``advdist-lab robust-teacher --checkpoint FILE --arch wrn-34-10``). Both write through a
:class:`~advdist_lab.runs.folder.RunFolder`: ``--out`` checked before any work, locked while written, a finished
folder returned with ``--resume`` and refused without, a damaged ``result.json`` named and left alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from advdist_lab.environment import resolve_device
from advdist_lab.hparams import check_choice, check_nonnegative_int, check_positive_int
from advdist_lab.robust.attacks.protocol import AttackProtocol, check_attack_names, robust_accuracy
from advdist_lab.robust.data import ROBUST_DATASETS, load_robust_data
from advdist_lab.robust.models import robust_model_payload
from advdist_lab.robust.teacher.config import check_autoattack_available, check_test_size, protocol_for
from advdist_lab.robust.teacher.model_files import MODEL_FILE, infer_dataset, load_teacher, model_path, model_summary
from advdist_lab.runs.folder import RunFolder

__all__ = ["evaluate_model", "import_teacher"]


def evaluate_model(
    model_or_path: nn.Module | str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    dataset: str | None = None,
    arch: str | None = None,
    attacks: Sequence[str] | None = None,
    test_size: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """DFARD Table 1 accuracies of a model on the test split of its dataset (``advdist-lab robust-eval``).

    ``model_or_path``: a model on ``[0, 1]`` images (then ``dataset`` is required) or anything
    :func:`load_teacher` reads. ``attacks``: default the dataset's (:func:`protocol_for`). Returns ``{"config",
    "protocol", "clean", <attacks>, "average", "history": [one entry with the same accuracies], "n_test",
    "status": "finished", "wall_seconds", "device"}`` and writes it to ``out/result.json`` when given; a finished
    ``out`` is returned with ``resume`` and refused without (:class:`~advdist_lab.runs.folder.RunExistsError`);
    ``out`` is checked before the model is read and locked while it is evaluated
    (:class:`~advdist_lab.runs.folder.RunFolder`).
    """
    resolved = resolve_device(device)
    seed = check_nonnegative_int("seed", seed)
    batch_size = check_positive_int("batch_size", batch_size)
    if attacks is not None:  # checked before the model is read
        attacks = check_attack_names("attacks", attacks, allow_empty=False)
    if dataset is not None:
        check_choice("dataset", dataset, ROBUST_DATASETS)
        check_test_size(dataset, test_size)
    folder = RunFolder(out) if out is not None else None
    if isinstance(model_or_path, nn.Module):
        if dataset is None:
            raise ValueError("dataset is required to evaluate a model object")
        model, source = model_or_path, None
        check_choice("dataset", dataset, ROBUST_DATASETS)
        info = {"arch": arch, "dataset": dataset}
    else:
        model, info = load_teacher(model_or_path, dataset=dataset, arch=arch, device=resolved)
        dataset = infer_dataset(info)
        source = info["path"]
    protocol = protocol_for(dataset, attacks)  # type: ignore[arg-type]
    test_size = check_test_size(dataset, test_size)
    check_autoattack_available(protocol.attacks, "--attacks")
    config = {
        "model": source,
        "dataset": dataset,
        "arch": info.get("arch"),
        "attacks": list(protocol.attacks),
        "test_size": test_size,
        "batch_size": batch_size,
        "seed": seed,
        "device": device,
    }
    if folder is None:
        return _evaluate(model, protocol, config, resolved, progress)
    with folder:
        finished = folder.finished(config, resume)
        if finished is not None:
            return finished
        result = _evaluate(model, protocol, config, resolved, progress)
        folder.write_result(result)
    return result


def _evaluate(model: nn.Module, protocol: AttackProtocol, config: dict, device: torch.device, progress: bool) -> dict:
    """:func:`evaluate_model`'s result for the checked ``config``."""
    started = time.perf_counter()
    data = load_robust_data(config["dataset"], n_train=1, test_size=config["test_size"], device="cpu")
    accuracies = robust_accuracy(
        model,
        data.x_test,
        data.y_test,
        protocol,
        batch_size=config["batch_size"],
        device=device,
        seed=config["seed"],
        progress=progress,
    )
    return {
        "config": config,
        "protocol": protocol.to_dict(),
        **accuracies,
        "history": [{"epoch": 0, **accuracies}],
        "n_test": int(data.y_test.shape[0]),
        "status": "finished",
        "wall_seconds": time.perf_counter() - started,
        "device": str(device),
        "torch": torch.__version__,
    }


def import_teacher(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    dataset: str,
    arch: str | None = None,
    final_attacks: Sequence[str] | None = None,
    test_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Import a user's own teacher checkpoint into the run folder ``out``, to be used like a trained one.

    Loads ``checkpoint`` (:func:`load_teacher`: a foreign state dict needs ``arch``), evaluates it on the test
    split of ``dataset`` under ``final_attacks`` (default :func:`protocol_for`'s) and writes ``out/teacher.pt``
    and ``out/result.json`` (``status "imported"``, an empty ``history``). Finished folders as in
    :func:`train_robust_teacher`; ``out`` is checked before the checkpoint is read and locked while it is imported
    (:class:`~advdist_lab.runs.folder.RunFolder`).
    """
    check_choice("dataset", dataset, ROBUST_DATASETS)
    resolved = resolve_device(device)
    protocol = protocol_for(dataset, final_attacks)
    seed = check_nonnegative_int("seed", seed)
    test_size = check_test_size(dataset, test_size)
    check_autoattack_available(protocol.attacks, "--final-attacks")
    folder = RunFolder(out)
    source = model_path(checkpoint)
    config = {
        "dataset": dataset,
        "method": "imported",
        "arch": arch,
        "checkpoint": str(source),
        "final_attacks": list(protocol.attacks),
        "test_size": test_size,
        "seed": seed,
        "device": device,
    }
    with folder:
        finished = folder.finished(config, resume)
        if finished is not None:
            return finished
        return _import(source, folder, config, protocol, resolved, progress)


def _import(source: Path, folder: RunFolder, config: dict, protocol, device: torch.device, progress: bool) -> dict:
    """:func:`import_teacher` into the locked ``folder``."""
    dataset, arch, seed = config["dataset"], config["arch"], config["seed"]
    started = time.perf_counter()
    model, info = load_teacher(source, dataset=dataset, arch=arch, device=device)
    data = load_robust_data(dataset, n_train=1, test_size=config["test_size"], device="cpu")
    accuracies = robust_accuracy(model, data.x_test, data.y_test, protocol, device=device, seed=seed, progress=progress)
    payload = robust_model_payload(
        model,
        arch=info["arch"],
        num_classes=info["num_classes"],
        image_shape=info["image_shape"],
        summary={**model_summary(dataset, "imported", 0, accuracies, seed), "imported_from": str(source)},
    )
    folder.save(MODEL_FILE, payload)
    result = {
        "config": config,
        "history": [],
        **accuracies,
        "protocol": protocol.to_dict(),
        "n_test": int(data.y_test.shape[0]),
        "wall_seconds": time.perf_counter() - started,
        "device": str(device),
        "status": "imported",
        "arch": info["arch"],
        "model": MODEL_FILE,
        "torch": torch.__version__,
    }
    folder.write_result(result)
    return result
