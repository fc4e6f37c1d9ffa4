"""The robust architectures and checkpoints (advdist_lab.robust.models) and their data (advdist_lab.robust.data)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from advdist_lab.data import DatasetUnavailableError
from advdist_lab.robust.attacks.gradient import Normalized
from advdist_lab.robust.data import ROBUST_DATASETS, dataset_stats, load_robust_data
from advdist_lab.robust.models import (
    DEFAULT_STUDENTS,
    DEFAULT_TEACHERS,
    MODEL_FORMAT,
    build_robust_model,
    check_architecture,
    load_robust_model,
    save_robust_model,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DIGITS = {"num_classes": 10, "image_shape": (1, 8, 8), "mean": 0.5, "std": 0.5}
CIFAR = {
    "num_classes": 10,
    "image_shape": (3, 32, 32),
    "mean": (0.4914, 0.4822, 0.4465),
    "std": (0.247, 0.2435, 0.2616),
}


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _digits_model(arch: str = "digits-cnn", seed: int = 0) -> Normalized:
    torch.manual_seed(seed)
    return build_robust_model(arch, **DIGITS)


# ----------------------------------------------------------------------------------------------------------------
# Architectures
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "kwargs", "expected"),
    [
        ("digits-cnn", DIGITS, 62_378),
        ("digits-small", DIGITS, 6_138),
        ("resnet18", CIFAR, 11_173_962),
    ],
)
def test_parameter_counts_stated_in_the_docstring(arch: str, kwargs: dict, expected: int) -> None:
    assert _count(build_robust_model(arch, **kwargs)) == expected


@pytest.mark.parametrize(("arch", "millions"), [("wrn-34-10", 46.2), ("wrn-16-4", 2.7)])
def test_wide_resnet_parameter_counts(arch: str, millions: float) -> None:
    assert round(_count(build_robust_model(arch, **CIFAR)) / 1e6, 1) == millions


def test_the_digits_student_is_a_tenth_of_the_teacher() -> None:
    teacher, student = _count(_digits_model("digits-cnn")), _count(_digits_model("digits-small"))
    assert 0.08 < student / teacher < 0.12


def test_default_architectures_are_known() -> None:
    assert set(DEFAULT_TEACHERS) == set(DEFAULT_STUDENTS) == set(ROBUST_DATASETS)
    for arch in (*DEFAULT_TEACHERS.values(), *DEFAULT_STUDENTS.values()):
        assert check_architecture(arch) == arch


@pytest.mark.parametrize(
    ("arch", "kwargs", "batch"),
    [
        ("digits-cnn", DIGITS, torch.rand(5, 1, 8, 8)),
        ("digits-small", DIGITS, torch.rand(5, 1, 8, 8)),
        ("digits-cnn", {**DIGITS, "image_shape": (3, 32, 32)}, torch.rand(2, 3, 32, 32)),
        ("resnet18", CIFAR, torch.rand(2, 3, 32, 32)),
        ("wrn-16-4", CIFAR, torch.rand(2, 3, 32, 32)),
        ("wrn-10-1", {**CIFAR, "num_classes": 3}, torch.rand(2, 3, 32, 32)),
    ],
)
def test_forward_shapes(arch: str, kwargs: dict, batch: torch.Tensor) -> None:
    model = build_robust_model(arch, **kwargs).eval()
    assert isinstance(model, Normalized)
    with torch.no_grad():
        logits = model(batch)
    assert logits.shape == (batch.shape[0], kwargs["num_classes"])
    assert torch.isfinite(logits).all()


def test_every_architecture_has_batch_norm() -> None:
    for arch, kwargs in (("digits-cnn", DIGITS), ("digits-small", DIGITS), ("resnet18", CIFAR), ("wrn-10-1", CIFAR)):
        model = build_robust_model(arch, **kwargs)
        assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), arch


def test_the_normalisation_is_inside_the_model() -> None:
    model = build_robust_model("digits-small", **{**DIGITS, "mean": 0.25, "std": 2.0}).eval()
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model(x), model.model((x - 0.25) / 2.0))


@pytest.mark.parametrize(
    "arch", ["resnet50", "wrn-33-10", "wrn-4-1", "wrn-34-0", "wrn-34", "WRN-34-10", "", None, 18, "digits_cnn"]
)
def test_bad_architecture_names_raise(arch: object) -> None:
    with pytest.raises(ValueError, match="arch|WideResNet"):
        check_architecture(arch)
    with pytest.raises(ValueError):
        build_robust_model(arch, **DIGITS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 0}, "num_classes"),
        ({"image_shape": (8, 8)}, "image_shape"),
        ({"image_shape": (1, 0, 8)}, "image_shape"),
        ({"image_shape": (1, 6, 6)}, "divisible by 4"),
        ({"std": 0.0}, "std"),
    ],
)
def test_bad_model_arguments_raise(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_robust_model("digits-cnn", **{**DIGITS, **changes})


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------------------


def _train_a_little(model: Normalized) -> Normalized:
    """A few steps so that the batch-norm running statistics and weights differ from their initial values."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    for _ in range(3):
        x = torch.rand(16, 1, 8, 8)
        loss = model(x).logsumexp(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_save_and_load_round_trip_gives_equal_outputs(tmp_path: Path) -> None:
    model = _train_a_little(_digits_model())
    path = tmp_path / "sub" / "teacher.pt"
    save_robust_model(path, model, arch="digits-cnn", num_classes=10, image_shape=(1, 8, 8), summary={"epochs": 3})
    assert [p.name for p in path.parent.iterdir()] == ["teacher.pt"]  # atomic: no temporary file left behind
    stored = torch.load(path, weights_only=True)
    assert stored["format"] == MODEL_FORMAT
    loaded, info = load_robust_model(path)
    assert not loaded.training
    assert info == {
        "arch": "digits-cnn",
        "num_classes": 10,
        "image_shape": [1, 8, 8],
        "mean": [0.5],
        "std": [0.5],
        "summary": {"epochs": 3},
        "foreign": False,
    }
    x = torch.rand(7, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_save_refuses_a_bare_network(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Normalized"):
        save_robust_model(
            tmp_path / "m.pt",
            _digits_model().model,
            arch="digits-cnn",
            num_classes=10,
            image_shape=DIGITS["image_shape"],
        )
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("wrapper", ["state_dict", "model", "net", None])
def test_a_foreign_state_dict_with_module_prefixes_loads(tmp_path: Path, wrapper: str | None) -> None:
    model = _train_a_little(_digits_model())
    state = {f"module.{k}": v for k, v in model.model.state_dict().items()}  # DataParallel
    stored = {wrapper: state, "epoch": 7, "best_acc": 0.5} if wrapper else state
    path = tmp_path / "foreign.pth"
    torch.save(stored, path)
    loaded, info = load_robust_model(path, arch="digits-cnn", image_shape=(1, 8, 8), mean=0.5, std=0.5)
    assert info["foreign"] is True and info["arch"] == "digits-cnn" and info["summary"] == {}
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_the_state_dict_of_a_normalized_wrapper_loads(tmp_path: Path) -> None:
    model = _train_a_little(_digits_model("digits-small"))
    path = tmp_path / "wrapped.pt"
    torch.save(model.state_dict(), path)  # keys model.*, mean, std
    loaded, _ = load_robust_model(path, arch="digits-small", image_shape=(1, 8, 8), mean=0.5, std=0.5)
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_a_foreign_state_dict_needs_arch_and_statistics(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pt"
    torch.save(_digits_model().model.state_dict(), path)
    with pytest.raises(ValueError, match="not an advdist-lab model file: give arch"):
        load_robust_model(path)


def test_a_mismatching_architecture_raises_naming_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "cnn.pt"
    torch.save(_digits_model("digits-cnn").model.state_dict(), path)
    with pytest.raises(ValueError, match="does not fit digits-small") as caught:
        load_robust_model(path, arch="digits-small", image_shape=(1, 8, 8), mean=0.5, std=0.5)
    missing, unexpected = str(caught.value).split("missing keys ")[1].split(", unexpected keys ")
    # digits-small's second convolution is features.4 and its BN features.5; digits-cnn has BN at features.4
    assert "features.5.bias" in missing and "features.5.running_mean" in missing and "(+1 more)" in missing
    assert "classifier.3.bias" in unexpected and "features.3.weight" in unexpected
    assert "more)" in unexpected  # long lists are shortened


def test_a_shape_mismatch_raises(tmp_path: Path) -> None:
    path = tmp_path / "cnn.pt"
    torch.save(_digits_model().model.state_dict(), path)
    with pytest.raises(ValueError, match="does not fit digits-cnn"):
        load_robust_model(path, arch="digits-cnn", num_classes=3, image_shape=(1, 8, 8), mean=0.5, std=0.5)


@pytest.mark.parametrize("content", [b"not a checkpoint", b""])
def test_a_damaged_file_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="cannot be read as a checkpoint"):
        load_robust_model(path, arch="digits-cnn", image_shape=(1, 8, 8), mean=0.5, std=0.5)


def test_a_missing_file_or_a_dict_without_tensors_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no checkpoint"):
        load_robust_model(tmp_path / "nothing.pt")
    path = tmp_path / "odd.pt"
    torch.save({"epoch": 3, "note": "hello"}, path)
    with pytest.raises(ValueError, match="holds no state dict"):
        load_robust_model(path, arch="digits-cnn", image_shape=(1, 8, 8), mean=0.5, std=0.5)


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------


def test_digits_in_the_unit_interval_with_the_fixed_split() -> None:
    data = load_robust_data("digits")
    assert data.x_train.shape == (1297, 1, 8, 8) and data.x_test.shape == (500, 1, 8, 8)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    for x in (data.x_train, data.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() == 1.0
    assert data.image_shape == (1, 8, 8) and data.num_classes == 10
    assert (data.mean, data.std) == ((0.5,), (0.5,))
    assert set(data.y_test.tolist()) == set(range(10))


def test_digits_subsets_are_stratified_and_test_size_takes_a_prefix() -> None:
    full = load_robust_data("digits")
    small = load_robust_data("digits", n_train=100, test_size=50)
    assert small.x_train.shape == (100, 1, 8, 8)
    counts = torch.bincount(small.y_train, minlength=10)
    assert counts.min() >= 9 and counts.max() <= 11
    assert torch.equal(small.x_test, full.x_test[:50]) and torch.equal(small.y_test, full.y_test[:50])
    again = load_robust_data("digits", n_train=100)
    assert torch.equal(again.x_train, small.x_train)
    other = load_robust_data("digits", n_train=100, subset_seed=1)
    assert not torch.equal(other.x_train, small.x_train)


def test_cifar10_random_is_noise_in_the_unit_interval_with_a_fixed_test_split() -> None:
    data = load_robust_data("cifar10-random", n_train=20, test_size=30)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (30, 3, 32, 32)
    assert data.x_train.min() >= 0 and data.x_train.max() <= 1
    assert data.y_test.min() >= 0 and data.y_test.max() <= 9
    # the test split does not depend on n_train, and test_size takes a prefix of it
    bigger = load_robust_data("cifar10-random", n_train=40, test_size=60)
    assert torch.equal(bigger.x_test[:30], data.x_test) and torch.equal(bigger.y_test[:30], data.y_test)
    assert torch.equal(bigger.x_train[:20], data.x_train)
    other = load_robust_data("cifar10-random", n_train=20, test_size=30, subset_seed=1)
    assert not torch.equal(other.x_test, data.x_test)


@pytest.mark.parametrize("dataset", ROBUST_DATASETS)
def test_dataset_stats_agree_with_the_data(dataset: str) -> None:
    mean, std, shape, classes = dataset_stats(dataset)
    assert len(mean) == len(std) == shape[0] and classes == 10
    if dataset != "cifar10":  # cifar10 needs a download
        data = load_robust_data(dataset, n_train=10, test_size=10)
        assert (data.mean, data.std, data.image_shape, data.num_classes) == (mean, std, shape, classes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "mnist"}, "dataset must be one of"),
        ({"n_train": 0}, "n_train"),
        ({"n_train": 1298}, "n_train must be <= 1297"),
        ({"test_size": 501}, "test_size must be <= 500"),
        ({"test_size": -1}, "test_size"),
        ({"subset_seed": -1}, "subset_seed"),
        ({"device": "gpu0"}, "device"),
    ],
)
def test_bad_data_arguments_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_robust_data(**kwargs)
    if "dataset" in kwargs:
        with pytest.raises(ValueError, match=message):
            dataset_stats(kwargs["dataset"])


def test_cifar10_offline_fails_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailableError, match="digits"):
        load_robust_data("cifar10", root=str(tmp_path), download=False)
