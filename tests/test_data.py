"""Tests of advdist_lab.data: digits and synthetic for real, MNIST / CIFAR-10 offline and on generated arrays."""

from __future__ import annotations

import dataclasses
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from advdist_lab.data import (
    DATASETS,
    TABLE1_SIZES,
    VIEWS,
    DatasetUnavailableError,
    Split,
    TaskData,
    data_root,
    load_data,
    max_train_size,
    stratified_subset,
    torchvision_sets,
)
from advdist_lab.data.synthetic import SYNTHETIC_DIM, synthetic_means
from advdist_lab.data.torchvision_sets import prepare_cifar, prepare_mnist


def _rows(x: torch.Tensor) -> set[bytes]:
    return {row.tobytes() for row in x.reshape(len(x), -1).numpy()}


def _class_counts(y: torch.Tensor, k: int = 10) -> torch.Tensor:
    return torch.bincount(y, minlength=k)


# --- digits -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ("full", "lowres"))  # the other views: tests/test_privileged.py
def test_digits_shapes_dtypes_ranges(view: str) -> None:
    task = load_data("digits", 300, view=view)
    student_shape = (1, 8, 8) if view == "full" else (1, 4, 4)
    assert (task.name, task.view, task.num_classes) == ("digits", view, 10)
    assert task.input_shape == (1, 8, 8) and task.student_shape == student_shape
    assert task.augment is None and task.bayes_accuracy is None and task.device == torch.device("cpu")
    for split, n in ((task.train, 300), (task.test, 500)):
        assert len(split) == n and split.p_r is None
        assert split.x.shape == (n, 1, 8, 8) and split.x_student.shape == (n, *student_shape)
        assert split.x.dtype == split.x_student.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.min() == 0 and split.x.max() == 1  # 0..16 scaled to [0, 1], both ends reached
        assert set(split.y.tolist()) == set(range(10))


def test_lowres_is_2x2_average_pooling() -> None:
    task = load_data("digits", 100, view="lowres")
    for split in (task.train, task.test):
        blocks = split.x.reshape(len(split), 1, 4, 2, 4, 2).mean(dim=(3, 5))
        torch.testing.assert_close(split.x_student, blocks)
        torch.testing.assert_close(split.x_student, F.avg_pool2d(split.x, 2))
        assert split.x_student is not split.x


def test_full_view_aliases_x() -> None:
    task = load_data("digits", 100)
    assert task.train.x_student is task.train.x and task.test.x_student is task.test.x


def test_test_split_is_fixed_across_seed_and_n() -> None:
    ref = load_data("digits", 100, subset_seed=0).test
    for n, seed in ((1000, 0), (100, 7), (300, 3)):
        test = load_data("digits", n, subset_seed=seed).test
        assert torch.equal(test.x, ref.x) and torch.equal(test.y, ref.y)
    everything = torch.cat([ref.y, load_data("digits", max_train_size("digits")).train.y])
    quota = 500 * _class_counts(everything).double() / len(everything)
    assert ((_class_counts(ref.y) - quota).abs() < 1).all()  # a stratified test split


def test_test_size_keeps_a_prefix() -> None:
    full, short = load_data("digits", 100).test, load_data("digits", 100, test_size=50).test
    assert len(short) == 50 and torch.equal(short.x, full.x[:50]) and torch.equal(short.y, full.y[:50])


def test_train_subsets_deterministic_nested_disjoint_from_test() -> None:
    test_rows = _rows(load_data("digits", 100).test.x)
    previous: set[bytes] = set()
    for n in TABLE1_SIZES["digits"] + (max_train_size("digits"),):
        train = load_data("digits", n, subset_seed=3).train
        rows = _rows(train.x)
        assert len(rows) == n  # the 1,797 digits are all distinct, so rows identify images
        assert not rows & test_rows
        assert previous <= rows  # nested in n for a fixed seed
        previous = rows
        again = load_data("digits", n, subset_seed=3).train
        assert torch.equal(again.x, train.x) and torch.equal(again.y, train.y)
    assert len(previous | test_rows) == 1797
    other = load_data("digits", 300, subset_seed=4).train
    assert _rows(other.x) != _rows(load_data("digits", 300, subset_seed=3).train.x)


@pytest.mark.parametrize("n", [10, 37, 100, 300, 1000])
def test_train_subset_is_stratified(n: int) -> None:
    task = load_data("digits", n, subset_seed=n)
    pool_counts = _class_counts(load_data("digits", max_train_size("digits")).train.y).double()
    quota = n * pool_counts / pool_counts.sum()
    counts = _class_counts(task.train.y).double()
    assert counts.sum() == n and counts.min() >= 1
    assert ((counts - quota).abs() < 1).all(), (counts, quota)


def test_loaded_tensors_do_not_alias_the_cache() -> None:
    task = load_data("digits", 100)
    task.train.x.fill_(-1.0)
    task.test.x.fill_(-1.0)
    again = load_data("digits", 100)
    assert again.train.x.min() == 0 and again.test.x.min() == 0


# --- validation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"name": "imagenet", "n_train": 100},
            "dataset must be one of digits, mnist, fashion-mnist, cifar10, synthetic",
        ),
        ({"name": "digits", "n_train": 100, "view": "thumbnail"}, "view must be one of full, lowres"),
        ({"name": "digits", "n_train": 5000}, r"n_train must be <= 1297, the size of the digits training pool"),
        ({"name": "mnist", "n_train": 60001}, r"n_train must be <= 60000, the size of the mnist training pool"),
        ({"name": "cifar10", "n_train": 50001}, r"n_train must be <= 50000"),
        ({"name": "synthetic", "n_train": 20001}, r"n_train must be <= 20000"),
        ({"name": "digits", "n_train": 9}, r"n_train must be >= 10, the number of digits classes"),
        ({"name": "digits", "n_train": 0}, r"n_train must be an integer >= 1"),
        ({"name": "digits", "n_train": 100.0}, r"n_train must be an integer >= 1"),
        ({"name": "digits", "n_train": True}, r"n_train must be an integer >= 1"),
        ({"name": "digits", "n_train": 100, "subset_seed": -1}, r"subset_seed must be an integer >= 0"),
        ({"name": "digits", "n_train": 100, "subset_seed": 1.5}, r"subset_seed must be an integer >= 0"),
        ({"name": "digits", "n_train": 100, "test_size": 501}, r"test_size must be <= 500"),
        ({"name": "digits", "n_train": 100, "test_size": 0}, r"test_size must be an integer >= 1"),
        ({"name": "digits", "n_train": 100, "device": "auto"}, r"device must be a torch device"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_constraint(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_data(**kwargs)


def test_validation_happens_before_any_download(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise AssertionError("nothing may be loaded before the arguments are checked")

    monkeypatch.setattr(torchvision_sets, "torchvision_raw", boom)
    for kwargs in ({"n_train": 60001}, {"n_train": 100, "view": "x"}, {"n_train": 100, "test_size": 10001}):
        for name in ("mnist", "fashion-mnist"):
            with pytest.raises(ValueError):
                load_data(name, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_unavailable_cuda_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="CUDA was requested"):
        load_data("digits", 100, device="cuda")


def test_max_train_size_and_table1_sizes() -> None:
    assert {name: max_train_size(name) for name in DATASETS} == {
        "digits": 1297,
        "mnist": 60000,
        "fashion-mnist": 60000,
        "cifar10": 50000,
        "synthetic": 20000,
        "tags-popular": 20000,
        "tags-random": 20000,
    }
    assert TABLE1_SIZES["mnist"] == (100, 1000, 10000, 50000)  # TPAMI Table 1
    assert TABLE1_SIZES["fashion-mnist"] == TABLE1_SIZES["mnist"]  # a drop-in replacement of MNIST
    assert TABLE1_SIZES["cifar10"] == (500, 5000, 10000, 50000)
    assert set(TABLE1_SIZES) == set(DATASETS) - {"tags-popular", "tags-random"}  # Table 4's data: no sizes n
    for name, sizes in TABLE1_SIZES.items():
        assert all(10 <= n <= max_train_size(name) for n in sizes)
    with pytest.raises(ValueError, match="dataset must be one of"):
        max_train_size("svhn")


def test_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("ADVDIST_LAB_DATA", raising=False)
    assert data_root().parts[-3:] == (".cache", "advdist-lab", "data")
    monkeypatch.setenv("ADVDIST_LAB_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "explicit") == tmp_path / "explicit"


# --- Split and TaskData -----------------------------------------------------------------------------------------


def test_split_to_and_subset_keep_aliasing() -> None:
    full, low = load_data("digits", 100).train, load_data("digits", 100, view="lowres").train
    moved = full.to("meta")  # a real move, unlike cpu -> cpu
    assert moved.x.device.type == "meta" and moved.x_student is moved.x
    moved_low = low.to("meta")
    assert moved_low.x_student is not moved_low.x and moved_low.x_student.shape == (100, 1, 4, 4)
    index = torch.tensor([3, 1, 4])
    sub = full.subset(index)
    assert len(sub) == 3 and sub.x_student is sub.x and torch.equal(sub.y, full.y[index])
    sub_low = low.subset(index)
    assert torch.equal(sub_low.x_student, low.x_student[index])
    with pytest.raises(ValueError, match="one row per label"):
        Split(x=full.x, x_student=full.x, y=full.y[:5])


def _mirror_task(view: str = "full") -> TaskData:
    return dataclasses.replace(load_data("digits", 100, view=view), augment="mirror")


@pytest.mark.parametrize("view", VIEWS)
def test_mirror_flips_exactly_the_chosen_images(view: str) -> None:
    task = _mirror_task(view)
    x = task.train.x_student[:64].clone()
    out = task.augment_batch(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(x, task.train.x_student[:64])  # input untouched
    same = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    symmetric = (x == x.flip(-1)).flatten(1).all(1)
    assert (same | flipped).all()
    assert (same & ~symmetric).any() and (flipped & ~symmetric).any()
    again = task.augment_batch(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # the draws come from the generator
    assert not torch.equal(out, task.augment_batch(x, torch.Generator().manual_seed(1)))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_task_and_mirror_without_host_sync() -> None:
    task = dataclasses.replace(load_data("digits", 100, view="lowres", device="cuda"), augment="mirror")
    assert task.device.type == "cuda" and task.test.y.device.type == "cuda"
    generator = torch.Generator(device="cuda").manual_seed(0)
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = task.augment_batch(task.train.x_student, generator)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    x = task.train.x_student
    assert ((out == x).flatten(1).all(1) | (out == x.flip(-1)).flatten(1).all(1)).all()
    moved = load_data("digits", 100).to("cuda")
    assert moved.train.x_student is moved.train.x and moved.device.type == "cuda"


def test_no_augmentation_returns_the_batch() -> None:
    task = load_data("digits", 100)
    assert task.augment_batch(task.train.x) is task.train.x


def test_describe_is_one_line() -> None:
    line = load_data("synthetic", 100, view="lowres", test_size=200).describe()
    assert "\n" not in line
    for part in ("synthetic", "lowres", "n_train=100", "n_test=200", "10 classes", "(20,)", "(10,)"):
        assert part in line


# --- synthetic --------------------------------------------------------------------------------------------------


def test_synthetic_posterior_is_exact() -> None:
    task = load_data("synthetic", 1000)
    means = synthetic_means().numpy()
    assert means.shape == (10, SYNTHETIC_DIM) and task.input_shape == (SYNTHETIC_DIM,)
    for split in (task.train, task.test):
        assert split.p_r is not None and split.p_r.shape == (len(split), 10)
        torch.testing.assert_close(split.p_r.sum(-1), torch.ones(len(split)), atol=1e-5, rtol=0)
        x = split.x.double().numpy()
        logits = -0.5 * ((x[:, None, :] - means[None]) ** 2).sum(-1)
        direct = np.exp(logits - logits.max(-1, keepdims=True))
        direct /= direct.sum(-1, keepdims=True)
        np.testing.assert_allclose(split.p_r.numpy(), direct, atol=1e-6)


def test_synthetic_bayes_accuracy() -> None:
    task = load_data("synthetic", 100)
    assert 0.8 < task.bayes_accuracy < 0.9
    assert task.bayes_accuracy == pytest.approx(task.test.p_r.max(-1).values.double().mean().item())
    bayes_hits = (task.test.p_r.argmax(-1) == task.test.y).double().mean().item()
    assert abs(bayes_hits - task.bayes_accuracy) < 0.03  # about 4 standard errors on 2,000 points


def test_synthetic_views_and_fixed_test() -> None:
    full, low = load_data("synthetic", 300), load_data("synthetic", 300, view="lowres", subset_seed=5)
    assert full.train.x_student is full.train.x
    assert low.student_shape == (SYNTHETIC_DIM // 2,)
    torch.testing.assert_close(low.test.x_student, low.test.x[:, : SYNTHETIC_DIM // 2])
    assert torch.equal(full.test.x, low.test.x) and torch.equal(full.test.p_r, low.test.p_r)
    counts = _class_counts(full.train.y)
    assert counts.sum() == 300 and counts.min() >= 1


# --- stratified_subset ------------------------------------------------------------------------------------------


@settings(max_examples=60)
@given(
    counts=st.lists(st.integers(1, 30), min_size=1, max_size=8),
    data=st.data(),
    seed=st.integers(0, 2**31),
)
def test_stratified_subset_properties(counts: list[int], data: st.DataObject, seed: int) -> None:
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]
    pool = len(labels)
    n = data.draw(st.integers(1, pool), label="n")
    index = stratified_subset(labels, n, seed)
    assert index.dtype == torch.int64 and len(index) == n
    assert torch.equal(index, torch.sort(index).values) and len(torch.unique(index)) == n
    assert torch.equal(index, stratified_subset(labels, n, seed))
    got = torch.bincount(labels[index], minlength=len(counts)).double()
    quota = n * torch.tensor(counts).double() / pool
    if n >= len(counts):
        assert got.min() >= 1
    if quota.min() >= 1:
        assert ((got - quota).abs() < 1).all()
    m = data.draw(st.integers(n, pool), label="m")
    bigger = stratified_subset(labels, m, seed)
    if (torch.bincount(labels[bigger], minlength=len(counts)).double() >= got).all():
        assert set(index.tolist()) <= set(bigger.tolist())


def test_stratified_subset_rejects_bad_arguments() -> None:
    labels = torch.arange(10) % 3
    with pytest.raises(ValueError, match="n must be <= 10"):
        stratified_subset(labels, 11, 0)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        stratified_subset(labels, 0, 0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        stratified_subset(labels, 5, -3)


# --- MNIST and CIFAR-10 without the real files --------------------------------------------------------------------


def test_prepare_mnist_scales_without_other_preprocessing() -> None:
    images = torch.randint(0, 256, (6, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x = prepare_mnist(images.numpy())
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32
    torch.testing.assert_close(x[:, 0] * 255, images.float())
    with pytest.raises(ValueError, match="images must be uint8"):
        prepare_mnist(images.float())


def test_prepare_cifar_subtracts_the_training_pixel_mean() -> None:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    test = rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    x_train, x_test, mean = prepare_cifar(train, test)
    assert x_train.shape == (40, 3, 32, 32) and x_test.shape == (7, 3, 32, 32) and mean.shape == (1, 3, 32, 32)
    expected_mean = torch.from_numpy(train.transpose(0, 3, 1, 2).astype(np.float64) / 255).mean(0, keepdim=True)
    torch.testing.assert_close(mean.double(), expected_mean)
    torch.testing.assert_close(x_train.mean(0), torch.zeros(3, 32, 32), atol=1e-6, rtol=0)
    torch.testing.assert_close(x_test + mean, torch.from_numpy(test.transpose(0, 3, 1, 2) / 255).float())
    assert len(torch.unique(mean)) > 1000  # one mean per pixel and channel, not one scalar


def _fake_raw(name: str, root: str, train: bool, download: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(int(train))
    n = 1000 if train else 300
    shape = (n, 28, 28) if name in ("mnist", "fashion-mnist") else (n, 32, 32, 3)
    return rng.integers(0, 256, shape, dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


@pytest.mark.parametrize("view", ("full", "lowres"))  # the other views: tests/test_privileged.py
def test_cifar10_task_from_generated_arrays(monkeypatch: pytest.MonkeyPatch, view: str) -> None:
    monkeypatch.setattr(torchvision_sets, "torchvision_raw", _fake_raw)
    task = load_data("cifar10", 500, view=view, test_size=200)
    low = view == "lowres"
    assert task.augment == "mirror" and task.input_shape == (3, 32, 32)
    assert task.student_shape == ((3, 16, 16) if low else (3, 32, 32))
    assert len(task.train) == 500 and len(task.test) == 200
    torch.testing.assert_close(task.train.x.mean(0), torch.zeros(3, 32, 32), atol=1e-6, rtol=0)
    raw_train, _ = _fake_raw("cifar10", "", True, True)
    raw_test, test_labels = _fake_raw("cifar10", "", False, True)
    assert torch.equal(task.test.y, torch.from_numpy(test_labels[:200]))
    shift = torch.from_numpy(raw_test[:200].transpose(0, 3, 1, 2) / 255).float() - task.test.x
    torch.testing.assert_close(shift, shift[:1].expand_as(shift))  # the test split moved by one mean image
    assert (task.train.x_student is task.train.x) != low
    flipped = task.augment_batch(task.train.x_student, torch.Generator().manual_seed(0))
    assert (
        (flipped == task.train.x_student).flatten(1).all(1)
        | (flipped == task.train.x_student.flip(-1)).flatten(1).all(1)
    ).all()


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_mnist_task_from_generated_arrays(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Fashion-MNIST is preprocessed as MNIST: no preprocessing, the image in [0, 1]."""
    monkeypatch.setattr(torchvision_sets, "torchvision_raw", _fake_raw)
    task = load_data(name, 100, view="lowres", test_size=50)
    assert task.name == name and task.num_classes == 10
    assert task.augment is None and task.input_shape == (1, 28, 28) and task.student_shape == (1, 14, 14)
    raw_test, test_labels = _fake_raw(name, "", False, True)
    torch.testing.assert_close(task.test.x[:, 0] * 255, torch.from_numpy(raw_test[:50]).float())
    assert torch.equal(task.test.y, torch.from_numpy(test_labels[:50]))
    assert _class_counts(task.train.y).min() >= 1


# --- MNIST and CIFAR-10 offline -----------------------------------------------------------------------------------


def _assert_clear_offline_error(info: pytest.ExceptionInfo, root) -> None:
    err = info.value
    assert isinstance(err, DatasetUnavailableError)
    message = str(err)
    assert "--dataset digits" in message and str(root) in message
    assert err.__cause__ is None and err.__suppress_context__


def test_mnist_offline_names_the_digits_fallback(tmp_path) -> None:
    """A real download attempt: this machine has no network (skipped where the download works)."""
    try:
        load_data("mnist", 100, root=tmp_path)
    except DatasetUnavailableError as err:
        info = pytest.ExceptionInfo.from_exc_info((type(err), err, err.__traceback__))
        _assert_clear_offline_error(info, tmp_path)
        assert "could not be downloaded" in str(err)
    else:
        pytest.skip("MNIST could be downloaded: the network is up, the offline error cannot be tested for real")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_failed_download_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path, name: str) -> None:
    """What offline looks like to urllib (CIFAR-10 is 170 MB: it is never really downloaded by the tests)."""

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetUnavailableError, match="could not be downloaded") as info:
        load_data(name, 500, root=tmp_path)
    _assert_clear_offline_error(info, tmp_path)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_no_download_with_empty_root_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path, name: str) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("download=False must not touch the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    import torchvision.datasets  # noqa: F401  (imported here so that the timing covers the lookup only)

    start = time.perf_counter()
    with pytest.raises(DatasetUnavailableError, match="download=False") as info:
        load_data(name, 500, root=tmp_path, download=False)
    assert time.perf_counter() - start < 2.0
    _assert_clear_offline_error(info, tmp_path)


def test_input_sizes_are_the_numbers_per_example_of_x(monkeypatch: pytest.MonkeyPatch) -> None:
    from advdist_lab.data import INPUT_SIZES

    monkeypatch.setattr(torchvision_sets, "torchvision_raw", _fake_raw)
    assert set(INPUT_SIZES) == set(DATASETS)
    for name in DATASETS:
        task = load_data(name, 200, test_size=10)
        assert task.train.x[0].numel() == INPUT_SIZES[name], name
