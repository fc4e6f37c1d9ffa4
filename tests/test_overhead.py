"""Tests of the overhead work (issue 16, item 3): the shipped digits, what a run's start-up imports, the fused Adam
of the training loop and the frozen teacher's logits computed once instead of per minibatch.

Timings are not tested here (``bench/overhead.py`` prints them); these tests check what the speed-ups must not
change: the data bit for bit, the imports a run avoids, the Adam update bit for bit against ``torch.optim``, and the
histories of the KD baselines against the per-minibatch teacher.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from advdist_lab.data import DatasetUnavailableError
from advdist_lab.data.digits import (
    DIGITS_ARRAYS,
    DIGITS_FILE,
    DIGITS_SHA256,
    digits_from_scikit_learn,
    digits_raw,
    read_digits_file,
    write_digits_file,
)
from advdist_lab.methods.adam import FusedAdam, make_adam

ROOT = Path(__file__).resolve().parents[1]


# --- the shipped digits ------------------------------------------------------------------------------------------
def test_digits_file_has_the_recorded_sha256() -> None:
    assert hashlib.sha256(DIGITS_FILE.read_bytes()).hexdigest() == DIGITS_SHA256


def test_digits_file_equals_scikit_learn_bit_for_bit(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    expected = digits_from_scikit_learn()
    shipped = read_digits_file()
    for name in DIGITS_ARRAYS:
        assert shipped[name].dtype == expected[name].dtype and np.array_equal(shipped[name], expected[name]), name
    assert write_digits_file(tmp_path / "again.npz", expected) == DIGITS_SHA256  # the same bytes, written again
    # the tensors every run trains on, against the code that read scikit-learn before the file existed
    bunch = load_digits()
    pool, test = train_test_split(np.arange(len(bunch.target)), test_size=500, stratify=bunch.target, random_state=0)
    images, labels, pool_t, test_t = digits_raw()
    assert torch.equal(images, torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1))
    assert torch.equal(labels, torch.from_numpy(bunch.target.astype(np.int64)))
    assert torch.equal(pool_t, torch.from_numpy(np.sort(pool))) and torch.equal(test_t, torch.from_numpy(test))
    assert images.dtype == torch.float32 and labels.dtype == pool_t.dtype == test_t.dtype == torch.int64


def test_damaged_digits_file_is_refused(tmp_path: Path) -> None:
    damaged = tmp_path / "digits.npz"
    raw = bytearray(DIGITS_FILE.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    with pytest.raises(DatasetUnavailableError, match=f"expected {DIGITS_SHA256}: reinstall"):
        read_digits_file(damaged)
    with pytest.raises(DatasetUnavailableError, match="cannot be read"):
        read_digits_file(tmp_path / "missing.npz")


def test_digits_file_is_package_data() -> None:
    """A non-editable install has the file: pyproject.toml names it as package data of advdist_lab.data."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["advdist_lab.data"]
    assert any(DIGITS_FILE.match(pattern) for pattern in patterns)


# --- start-up ----------------------------------------------------------------------------------------------------
HEAVY = ("sklearn", "torch._dynamo", "torchvision", "plotly")
"""Modules a digits run does not need: scikit-learn (the digits are shipped), torch._dynamo (torch.optim imports
it, the loop's Adam does not), torchvision and plotly (other datasets, figures)."""


def test_a_digits_run_imports_none_of_the_heavy_modules(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from advdist_lab.cli import main\n"
        "status = main(['train', '--method', 'adim', '--dataset', 'digits', '--n-train', '30', '--epochs', '1',\n"
        "    '--teacher-pretrain-epochs', '1', '--device', 'cpu', '--no-progress', '--out', sys.argv[1]])\n"
        f"print(json.dumps([status, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    status, imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert status == 0 and imported == []
    assert (tmp_path / "run" / "result.json").exists()


# --- Adam ----------------------------------------------------------------------------------------------------------
def _params(device: str, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shapes = [(16, 1, 3, 3), (16,), (10, 64), (10,)]
    return [torch.randn(shape, generator=generator).to(device).requires_grad_() for shape in shapes]


def _steps(optimizer, params: list[torch.Tensor], count: int, seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    for _ in range(count):
        optimizer.zero_grad(set_to_none=True)
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator).to(p.device)
        optimizer.step()


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_fused_adam_is_torch_fused_adam_bit_for_bit(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    ours, theirs = _params(device), _params(device)
    own, reference = FusedAdam(ours, lr=3e-3), torch.optim.Adam(theirs, lr=3e-3, fused=True)
    _steps(own, ours, 25)
    _steps(reference, theirs, 25)
    assert _same(ours, theirs) and not _same(ours, _params(device))  # moved, and exactly as torch moves them
    mine, torchs = own.state_dict(), reference.state_dict()
    assert mine["param_groups"] == torchs["param_groups"]
    for index, state in torchs["state"].items():
        for key, value in state.items():
            assert mine["state"][index][key].dtype == value.dtype and torch.equal(mine["state"][index][key], value)


def test_fused_adam_resumes_a_torch_optim_checkpoint_and_the_other_way_round() -> None:
    """A checkpoint of the former loop (single-tensor torch.optim.Adam) resumes under FusedAdam; one of FusedAdam
    resumes under torch.optim.Adam(fused=True) with the same updates as FusedAdam itself."""
    old = _params("cpu")
    single = torch.optim.Adam(old, lr=1e-3)
    _steps(single, old, 5)
    params = [p.detach().clone().requires_grad_() for p in old]
    own = FusedAdam(params, lr=0.5)
    own.load_state_dict(single.state_dict())
    assert own.lr == 1e-3  # the saved hyperparameters, as torch loads them
    fused = torch.optim.Adam(old, lr=1e-3, fused=True)
    fused.load_state_dict(single.state_dict())
    _steps(own, params, 5, seed=2)
    _steps(fused, old, 5, seed=2)
    assert _same(params, old)
    back = torch.optim.Adam([p.detach().clone().requires_grad_() for p in params], lr=1e-3, fused=True)
    back.load_state_dict(copy.deepcopy(own.state_dict()))  # as a checkpoint file holds it: a copy
    moved = back.param_groups[0]["params"]
    _steps(back, moved, 3, seed=3)
    _steps(own, params, 3, seed=3)
    assert _same(moved, params)


def test_fused_adam_refuses_what_it_does_not_implement() -> None:
    params = _params("cpu")
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        FusedAdam(params, lr=0.0)
    with pytest.raises(ValueError, match=r"betas must lie in \[0, 1\)"):
        FusedAdam(params, lr=1e-3, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="one device and one floating dtype"):
        FusedAdam([*params, torch.zeros(3, dtype=torch.float64, requires_grad=True)], lr=1e-3)
    decayed = torch.optim.Adam(_params("cpu"), lr=1e-3, weight_decay=0.1)
    with pytest.raises(ValueError, match="weight_decay=0.1; FusedAdam supports 0.0 only"):
        FusedAdam(params, lr=1e-3).load_state_dict(decayed.state_dict())
    with pytest.raises(ValueError, match="is for 4 parameters, not 3"):
        FusedAdam(params[:3], lr=1e-3).load_state_dict(torch.optim.Adam(_params("cpu"), lr=1e-3).state_dict())


def test_the_loop_uses_fused_adam_on_cpu() -> None:
    from advdist_lab.data import load_data
    from advdist_lab.methods.config import TrainConfig
    from advdist_lab.methods.loop import Trainer

    config = TrainConfig(method="adim", dataset="digits", n_train=30, epochs=1, device="cpu").resolved()
    trainer = Trainer(config, load_data("digits", 30), "cpu")
    assert {type(o) for o in trainer.optimizers.values()} == {FusedAdam}
    assert isinstance(make_adam(_params("cpu"), 1e-3, torch.device("meta")), torch.optim.Adam)


# --- the frozen teacher's logits, computed once -----------------------------------------------------------------
def _kd_trainer(method: str = "mimic", dataset: str = "digits", n: int = 40):
    from advdist_lab.data import load_data
    from advdist_lab.methods.config import TrainConfig
    from advdist_lab.methods.loop import Trainer

    config = TrainConfig(method=method, dataset=dataset, n_train=n, epochs=2, device="cpu").resolved()
    return Trainer(config, load_data(dataset, n), "cpu")


def _history(config, hoist: bool, teacher_calls: list[int]) -> list[dict]:
    from advdist_lab.runs.training import train

    def hook(trainer) -> None:
        trainer.hoist_teacher = hoist
        trainer.players.teacher.register_forward_hook(lambda *_: teacher_calls.append(1))

    return train(config, progress=False, trainer_hook=hook)["history"]


@pytest.mark.parametrize(
    ("method", "dataset"), [("mimic", "digits"), ("distn", "digits"), ("noisy", "digits"), ("distn", "synthetic")]
)
def test_hoisted_teacher_gives_the_same_history(one_torch_thread, method: str, dataset: str) -> None:
    """The KD baselines' histories with the teacher run once over the training set equal those with the teacher run
    on every minibatch (bit for bit on the CPUs measured; 1e-6 allowed), and the teacher ran fewer times."""
    from advdist_lab.methods.config import TrainConfig

    config = TrainConfig(method=method, dataset=dataset, n_train=60, epochs=3, teacher_pretrain_epochs=1, device="cpu")
    calls: dict[bool, list[int]] = {True: [], False: []}
    hoisted, per_batch = (_history(config, hoist, calls[hoist]) for hoist in (True, False))
    assert len(hoisted) == len(per_batch) == 3
    for mine, reference in zip(hoisted, per_batch):
        assert mine.keys() == reference.keys()
        for key, value in reference.items():
            assert mine[key] == pytest.approx(value, rel=0, abs=1e-6), key
    # pretraining and evaluation call the teacher alike; the main loop once (one chunk) instead of 3 x 6 minibatches
    assert len(calls[False]) - len(calls[True]) == 3 * 6 - 1


def test_hoisted_logits_are_the_teachers_and_follow_its_parameters() -> None:
    trainer = _kd_trainer()
    teacher, x = trainer.players.teacher, trainer.data.train.x
    teacher.train()
    logits = trainer.frozen_teacher_logits()
    with torch.no_grad():
        assert torch.equal(logits, teacher(x))
        assert trainer.frozen_teacher_logits() is logits  # computed once
        for p in teacher.parameters():
            p.mul_(0.5)  # as an optimiser step or a loaded checkpoint changes them in place
        again = trainer.frozen_teacher_logits()
        assert not torch.equal(again, logits) and torch.equal(again, teacher(x))
    trainer.load_state_dict(_kd_trainer().state_dict())
    assert torch.equal(trainer.frozen_teacher_logits(), logits)


def test_teacher_is_not_hoisted_where_it_would_not_be_exact() -> None:
    import dataclasses

    from torch import nn

    from advdist_lab.methods.loop import deterministic_forward

    assert _kd_trainer("codis").frozen_teacher_logits() is None  # CODIS trains its teacher
    trainer = _kd_trainer()
    trainer.hoist_teacher = False
    assert trainer.frozen_teacher_logits() is None
    trainer = _kd_trainer()
    trainer.data = dataclasses.replace(trainer.data, augment="mirror")  # x changes per minibatch
    assert trainer.frozen_teacher_logits() is None
    trainer = _kd_trainer()
    trainer.players.teacher = nn.Sequential(trainer.players.teacher, nn.Dropout(0.5)).train()  # MNIST's teacher
    assert trainer.frozen_teacher_logits() is None
    trainer.train_epoch(0)  # trains, teacher per minibatch
    for module, deterministic in [
        (nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).train(), False),
        (nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).eval(), True),
        (nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.0)).train(), True),
        (nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)).train(), False),
        (nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)).eval(), True),
    ]:
        assert deterministic_forward(module) is deterministic, module
