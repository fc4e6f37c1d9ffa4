"""Files: atomic writes, loads that never run code, and checksums. Every room reads and writes through these.

* Writes go through a temporary file in the same folder and a rename (:func:`atomic_write_bytes`,
  :func:`atomic_write_json`, :func:`atomic_torch_save`): a crash or a full disk never leaves a half-written file in
  place of a good one. A full disk (``ENOSPC``) or a quota (``EDQUOT``) raises :class:`DiskFullError`, whose message
  says that the file it was writing kept its previous content.
* :func:`load_tensors` is the one ``torch.load`` of the package. It always passes ``weights_only=True``: the
  unpickler then builds tensors, plain containers and numbers only, so a checkpoint that someone crafted cannot run
  code. All files this package writes load that way. A file that needs more (a whole pickled ``nn.Module``, a
  training script's own classes) is refused with :class:`UnsafeFileError`, which says how to convert it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import secrets
from pathlib import Path

import torch

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class DiskFullError(OSError):
    """A write failed because the disk (or a quota) is full; the target file kept its previous content."""


class UnsafeFileError(ValueError):
    """A file that ``torch.load(..., weights_only=True)`` refuses: loading it would need the full unpickler."""


def _temporary(path: Path) -> str:
    """A fresh name beside ``path`` for its temporary file; the file is created by the writer, inside its ``try``.

    The name exists before the file does, so a signal that unwinds the writer at any instant (SIGTERM of a stopped
    worker) finds a name to remove: ``mkstemp`` would leave a file behind if the signal came before it returned.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")


def _disk_full(path: Path, error: OSError) -> DiskFullError:
    kept = "kept its previous content" if path.exists() else "was not written"
    return DiskFullError(
        error.errno,
        f"no space left on the device while writing {path}: the file {kept}; free space "
        "and run the command again (finished runs are kept and are not recomputed)",
    )


def _replace_from(tmp: str, path: Path, write) -> None:
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # never another writer's file
        write(tmp)
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.errno in _NO_SPACE:
            raise _disk_full(path, error) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, ``fsync`` and a rename."""
    path = Path(path)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    _replace_from(_temporary(path), path, write)


def atomic_write_json(path: str | os.PathLike, obj: object) -> None:
    """``obj`` as indented JSON (NaN refused: results hold finite numbers), written atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode())


def atomic_torch_save(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` through a temporary file and a rename: a crash never leaves a half-written checkpoint."""
    path = Path(path)

    def write(tmp: str) -> None:
        torch.save(obj, tmp)

    try:
        _replace_from(_temporary(path), path, write)
    except RuntimeError as error:  # torch wraps the OSError of its zip writer in a RuntimeError
        if "No space left" in str(error) or "file write failed" in str(error):
            raise _disk_full(path, OSError(errno.ENOSPC, str(error))) from None
        raise


def load_tensors(path: str | os.PathLike, map_location: str | torch.device | None = "cpu", *, what: str = "file"):
    """``torch.load(path, weights_only=True)``: tensors, containers and numbers, never code.

    Raises :class:`UnsafeFileError` for a file that needs the full unpickler (one line that names the file, why it
    is refused, and how to convert it), ``FileNotFoundError`` for a missing one, and lets other errors of a damaged
    file (zip, EOF) through for the caller to word.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "Unsupported global" not in str(error):  # garbage bytes: a damaged file, not a refused one
            raise
        raise UnsafeFileError(
            f"{path} is refused: this {what} holds Python objects beyond tensors, plain containers and numbers, and "
            "unpickling them can run arbitrary code (torch.load weights_only=True). If you trust the file, convert "
            "it once in Python: torch.save(torch.load(PATH, weights_only=False).state_dict(), NEW_PATH) for a "
            "pickled model, or save the state dict it holds; then pass NEW_PATH"
        ) from None


def file_sha1(path: str | os.PathLike) -> str:
    """The SHA-1 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
