"""The lock of a run folder: ``OUT/.lock`` under an exclusive, non-blocking ``fcntl.flock``.

One process at a time works in a folder: a second process is refused at once with one line naming the holder's pid
(:class:`FolderInUseError`), and so is a second run of the same process. One exception: a holder that takes the lock
with ``nested=True`` lets its own thread lock the folder again (a sweep command holds its folder while
:func:`~advdist_lab.runs.sweeps.run_sweep` inside it locks the same folder, then writes ``sweep.json`` before letting
go); the lock is given back when that outer holder releases it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, folders are not locked
    fcntl = None  # type: ignore[assignment]

LOCK = ".lock"


class RunExistsError(ValueError):
    """The output folder already holds a finished run or a checkpoint that this call would overwrite."""


class UnusableFolderError(ValueError):
    """``--out`` cannot hold a run: empty, an existing file, under a file, or not writable."""


class FolderInUseError(RunExistsError):
    """Another process (or another thread of this one) holds the run folder's lock."""


_HELD: dict[str, tuple[int | None, int, int | None]] = {}
"""Folders locked by this process: real path -> (thread allowed to nest or None, depth, file descriptor)."""
_HELD_GUARD = threading.Lock()


def read_pid(fd: int) -> str:
    """The pid that the holder wrote into the lock file, or ``"unknown"``."""
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return "unknown"
    return text if text.isdigit() else "unknown"


def _flock(folder: Path) -> int | None:
    lock_path = folder / LOCK
    if fcntl is None:
        return None
    for _ in range(20):  # the file can be replaced between open and flock (see release_folder): retry then
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as error:
            raise UnusableFolderError(
                f"cannot write in the run folder {folder} ({error.strerror or error}); choose another --out"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_pid(fd)
            os.close(fd)
            raise FolderInUseError(
                f"{folder} is in use by another advdist-lab process (pid {holder}); wait for it or choose another --out"
            ) from None
        except OSError as error:
            os.close(fd)
            raise UnusableFolderError(
                f"cannot lock the run folder {folder} ({error.strerror or error}); choose another --out"
            ) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except OSError:
                pass  # the pid is for the message of a refused process only
            return fd
        os.close(fd)  # the holder removed the lock file as we opened it: lock the new one
    raise FolderInUseError(
        f"{folder} is in use by other advdist-lab processes; wait for them or choose another --out"
    ) from None


def lock_folder(folder: Path, nested: bool = False) -> bool:
    """Lock the existing ``folder``; ``True`` when this call took the lock, ``False`` when this thread already held
    it with ``nested=True`` (then only the depth grows). Raises :class:`FolderInUseError` or
    :class:`UnusableFolderError` in one line."""
    key = os.path.realpath(folder)
    me = threading.get_ident()
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            if held[0] != me:  # None: the holder allows no nesting
                raise FolderInUseError(
                    f"{folder} is in use by another run in this process (pid {os.getpid()}); wait for it or choose "
                    "another --out"
                )
            _HELD[key] = (me, held[1] + 1, held[2])
            return False
        fd = _flock(folder)
        _HELD[key] = (me if nested else None, 1, fd)
        return True


def release_folder(folder: Path) -> None:
    """Undo one :func:`lock_folder`; the outermost release removes the lock file first (so that a process that
    opened it meanwhile retries on a new one) and closes it."""
    key = os.path.realpath(folder)
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is None:
            return
        if held[1] > 1:
            _HELD[key] = (held[0], held[1] - 1, held[2])
            return
        del _HELD[key]
        (folder / LOCK).unlink(missing_ok=True)
        if held[2] is not None:
            os.close(held[2])
