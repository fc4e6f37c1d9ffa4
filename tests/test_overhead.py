"""Tests of the overhead work (issue 16, item 3): the shipped digits, what a run's start-up imports, the fused Adam
of the training loop and the frozen teacher's logits computed once instead of per minibatch.

Timings are not tested here (``bench/overhead.py`` prints them); these tests check what the speed-ups must not
change: the data bit for bit, the imports a run avoids, the Adam update bit for bit against ``torch.optim``, and the
histories of the KD baselines against the per-minibatch teacher.
"""

from __future__ import annotations

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
