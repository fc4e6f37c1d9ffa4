"""A teacher's model file: where it is (:func:`model_path`), reading it back (:func:`load_teacher`, also a foreign
state dict such as RSLAD's WRN-34-10 given its dataset and architecture), and what it says about itself.

A run folder of ``robust-teacher`` holds its model as ``teacher.pt`` (:data:`MODEL_FILE`); a distillation's folder
names its ``student.pt`` under ``"model"`` in ``result.json``. The files are in the format of
:func:`~advdist_lab.robust.models.save_robust_model` and are read with ``weights_only=True``
(:func:`~advdist_lab.robust.models.load_robust_model`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from advdist_lab.hparams import check_choice
from advdist_lab.robust.data import ROBUST_DATASETS, dataset_stats
from advdist_lab.robust.models import check_architecture, load_robust_model

__all__ = ["MODEL_FILE", "infer_dataset", "load_teacher", "model_path", "model_summary"]

MODEL_FILE = "teacher.pt"
"""The model file of a teacher's run folder."""


def model_path(path: str | os.PathLike) -> Path:
    """The model file of ``path``: the file itself, or in a run folder the file its ``result.json`` names
    (``"model"``), else ``teacher.pt``."""
    path = Path(path)
    if not path.is_dir():
        if not path.exists():
            raise ValueError(f"no model at {path} (expected a run folder, a teacher.pt or a state dict file)")
        return path
    name = MODEL_FILE
    result = path / "result.json"
    if result.is_file():
        try:
            name = json.loads(result.read_text()).get("model", MODEL_FILE) or MODEL_FILE
        except (json.JSONDecodeError, AttributeError):
            name = MODEL_FILE
    if not (path / name).is_file():
        raise ValueError(f"{path} is a folder without a model file ({name}); give the model file itself")
    return path / name


def load_teacher(
    path_or_folder: str | os.PathLike,
    *,
    dataset: str | None = None,
    arch: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, dict]:
    """``(model in eval mode on device, info)`` from a run folder, a ``teacher.pt`` or a foreign state dict.

    Our own files (:func:`~advdist_lab.robust.models.save_robust_model`) carry everything; ``dataset`` and
    ``arch``, when given, must agree with them. A foreign state dict (of the bare network or a ``Normalized``
    wrapper, possibly under ``state_dict`` and with ``module.`` prefixes) needs both: the dataset gives the
    normalisation, image shape and classes (:func:`~advdist_lab.robust.data.dataset_stats`). ``info`` is that of
    :func:`~advdist_lab.robust.models.load_robust_model` plus ``dataset`` (``None`` when unknown) and ``path``.
    """
    path = model_path(path_or_folder)
    if dataset is not None:
        check_choice("dataset", dataset, ROBUST_DATASETS)
    if arch is not None:
        arch = check_architecture(arch)
    if dataset is not None and arch is not None:
        mean, std, shape, classes = dataset_stats(dataset)
        model, info = load_robust_model(
            path, arch=arch, num_classes=classes, image_shape=shape, mean=mean, std=std, device=device
        )
    else:
        try:
            model, info = load_robust_model(path, device=device)
        except ValueError as error:
            if "is not an advdist-lab model file" not in str(error):
                raise
            raise ValueError(
                f"{path} is not an advdist-lab model file: give its dataset and arch (--dataset, --arch) to load it "
                "as a plain state dict"
            ) from None
    stored_dataset = info.get("summary", {}).get("dataset")
    if not info["foreign"]:
        if arch is not None and arch != info["arch"]:
            raise ValueError(f"{path} holds a {info['arch']} model, not {arch}")
        if dataset is not None:
            _, _, shape, classes = dataset_stats(dataset)
            if list(info["image_shape"]) != list(shape) or info["num_classes"] != classes:
                raise ValueError(
                    f"{path} holds a model of {tuple(info['image_shape'])} images and {info['num_classes']} "
                    f"classes, which does not fit {dataset} ({tuple(shape)}, {classes} classes)"
                )
            if stored_dataset is not None and stored_dataset != dataset:
                raise ValueError(f"{path} holds a model trained on {stored_dataset}, not {dataset}")
    info["dataset"] = dataset or stored_dataset
    info["path"] = str(path)
    return model, info


def infer_dataset(info: dict) -> str:
    """The dataset of a model loaded by :func:`load_teacher` (its ``info``): the one it names, else the only
    dataset whose image shape fits; ``ValueError`` asking for ``--dataset`` when that does not decide."""
    if info.get("dataset"):
        return info["dataset"]
    matches = [d for d in ROBUST_DATASETS if list(dataset_stats(d)[2]) == list(info["image_shape"])]
    if len(matches) == 1:
        return matches[0]
    raise ValueError(f"cannot tell the dataset of {info['path']} from the model: give it (--dataset)")


def model_summary(dataset: str, method: str | None, epochs: int, accuracies: Mapping[str, float], seed: int) -> dict:
    """The ``summary`` a teacher's model file carries (:func:`~advdist_lab.robust.models.save_robust_model`): what
    it was trained on, how, and its final accuracies."""
    return {"dataset": dataset, "method": method, "epochs": epochs, "seed": seed, "accuracies": dict(accuracies)}
