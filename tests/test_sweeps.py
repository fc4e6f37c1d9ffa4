"""Tests of :mod:`advdist_lab.sweeps`: many runs, each cached in its own folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from advdist_lab import runs
from advdist_lab.methods import TrainConfig
from advdist_lab.sweeps import run_configs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(**changes) -> TrainConfig:
    base = {"dataset": "digits", "n_train": 30, "epochs": 1, "teacher_pretrain_epochs": 1, "device": "cpu"}
    return TrainConfig(**{**base, **changes})


def test_runs_are_trained_once_and_then_read_back(tmp_path: Path):
    configs = [tiny(method="mimic", seed=s) for s in (0, 1)]
    folders = [tmp_path / f"seed{s}" for s in (0, 1)]
    seen = []
    first = run_configs(configs, folders, progress=False, jobs=1, on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == [0, 1] and all((f / runs.RESULT).exists() for f in folders)
    stamps = [(f / runs.RESULT).stat().st_mtime_ns for f in folders]
    again = run_configs(configs, folders, progress=False, jobs=1)
    assert again == first
    assert [(f / runs.RESULT).stat().st_mtime_ns for f in folders] == stamps  # read back, not rewritten
    assert first[0]["config"]["seed"] == 0 and first[1]["config"]["seed"] == 1


def test_bad_arguments_fail_before_training(tmp_path: Path):
    with pytest.raises(ValueError, match="same length"):
        run_configs([tiny()], [], progress=False)
    with pytest.raises(ValueError, match="its own folder"):
        run_configs([tiny(), tiny(seed=1)], [tmp_path, tmp_path], progress=False)
    with pytest.raises(ValueError, match="TrainConfig"):
        run_configs([{"method": "adim"}], [tmp_path], progress=False)
    with pytest.raises(ValueError, match="jobs must be"):
        run_configs([tiny()], [tmp_path / "a"], progress=False, jobs=0)
    with pytest.raises(ValueError, match="k_t must be 0"):
        run_configs([tiny(), tiny(method="mimic", k_t=2)], [tmp_path / "a", tmp_path / "b"], progress=False)
    assert not (tmp_path / "a").exists()
