"""Run folders: the one lifecycle of every kind of run (training, KNN voting, robust teachers and distillation,
sweeps): check the path, lock, check the config on resume, atomic checkpoints and results, a full disk in one line.

A run folder ``OUT/`` holds

* ``.lock`` while a process works in it (``fcntl.flock``, exclusive, non-blocking; removed when the run ends);
* ``checkpoint.pt``: everything needed to continue the run, written atomically (:mod:`advdist_lab.files`);
* ``result.json``: written atomically when the run finishes; a finished run is never overwritten.

The lifecycle, as :func:`advdist_lab.runs.training.train` uses it::

    folder = RunFolder(out, comparable=...)  # checks the path, changes nothing (UnusableFolderError)
    with folder:                             # creates OUT, takes OUT/.lock (FolderInUseError)
        finished = folder.finished(config, resume)           # the finished run, or RunExistsError
        if finished is not None:
            return finished
        state = folder.checkpoint(config, resume, device, needed, kind)   # None: start from scratch
        ...                                                  # work
        folder.save_checkpoint(state, epoch)                 # then maybe_kill(epoch)
        folder.write_result(result)

Every refusal is one line that names the folder or file and the way out. A full disk while writing raises
:class:`~advdist_lab.files.DiskFullError` saying what is kept (:meth:`RunFolder.kept`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from ..files import DiskFullError, UnsafeFileError, atomic_torch_save, atomic_write_json, load_tensors
from .lock import (  # FolderInUseError and the other errors are imported from here too
    LOCK,
    FolderInUseError,  # noqa: F401
    RunExistsError,
    UnusableFolderError,
    lock_folder,
    release_folder,
)

RESULT = "result.json"
CHECKPOINT = "checkpoint.pt"
KILL_AFTER_EPOCH_ENV = "ADVDIST_LAB_KILL_AFTER_EPOCH"
"""Fault injection for tests: after writing the checkpoint of this epoch, the process kills itself (SIGKILL)."""

_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
"""The temporary files of :mod:`advdist_lab.files` (``.NAME.XXXXXXXX.tmp``) that a killed writer leaves behind."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read back (truncated, from another program, or edited by hand)."""


class DamagedResultError(RunExistsError):
    """A ``result.json`` that is not a run's result (not JSON, not an object); it is never overwritten."""


def without_device(config: dict) -> dict:
    """A config as compared on resume by default: the device may change between a run and its resumption."""
    return {k: v for k, v in config.items() if k != "device"}


def config_mismatch(out_dir: str | os.PathLike, stored: dict, requested: dict) -> str:
    """The one-line refusal of a folder whose run has another config, naming every field that differs."""
    keys = sorted(k for k in set(stored) | set(requested) if k != "device" and stored.get(k) != requested.get(k))
    diffs = ", ".join(f"{k}: {stored.get(k)!r} there, {requested.get(k)!r} here" for k in keys)
    return f"{out_dir} holds a run with a different config ({diffs}); choose another output folder (--out)"


def maybe_kill(epoch: int) -> None:
    """Fault injection: SIGKILL this process when :data:`KILL_AFTER_EPOCH_ENV` names ``epoch`` (call it right
    after the checkpoint of ``epoch`` is written)."""
    target = os.environ.get(KILL_AFTER_EPOCH_ENV)
    if target is not None and target.strip() == str(epoch):
        os.kill(os.getpid(), signal.SIGKILL)


def progress_bar(total: int, description: str, enabled: bool):
    """The tqdm bar of a run's epochs (``tqdm.auto``: a widget in a notebook); disabled when not ``enabled``."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, disable=not enabled, leave=False, dynamic_ncols=True)


def check_out(out: object) -> Path:
    """``out`` as a path that can become a run folder, checked without touching the disk: refuses an empty
    path, an existing file, a path under a file, and a place whose nearest existing folder is not writable
    (:class:`UnusableFolderError`, one line naming the constraint)."""
    if not isinstance(out, (str, os.PathLike)):
        raise UnusableFolderError(f"--out must be a folder path (got {out!r})")
    text = os.fspath(out)
    if not isinstance(text, str) or not text.strip():
        raise UnusableFolderError("--out must not be empty: give the folder of the run (for example runs/my-run)")
    if "\0" in text:
        raise UnusableFolderError(f"--out must not contain a NUL character (got {text!r})")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise UnusableFolderError(f"--out {path} is an existing file, not a folder; choose another --out")
    parent = path
    while not parent.exists():
        if parent.is_symlink():
            raise UnusableFolderError(f"--out {path} cannot be created: {parent} is a broken link")
        parent = parent.parent
    if not parent.is_dir():
        raise UnusableFolderError(f"--out {path} cannot be created: {parent} is a file; choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UnusableFolderError(f"--out {path} is not writable ({parent} refuses new files); choose another --out")
    return path


def holds_run(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a run to read back or continue (its ``result.json`` or ``checkpoint.pt``): the
    ``resume`` of a caller that reuses finished runs and resumes interrupted ones."""
    folder = Path(folder)
    return (folder / RESULT).exists() or (folder / CHECKPOINT).exists()


def read_result(path: str | os.PathLike) -> dict:
    """The run result stored at ``path``: a JSON object. A file that is not one raises
    :class:`DamagedResultError` naming it; the file is left as it is."""
    path = Path(path)
    try:
        value = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        reason = f"not valid JSON: {error}".splitlines()[0]
    else:
        if isinstance(value, dict) and isinstance(value.get("config", {}), dict):
            return value
        reason = f"it holds {type(value).__name__} instead of a run's result"
        if isinstance(value, dict):
            reason = "its config is not an object"
    raise DamagedResultError(
        f"{path} is damaged ({reason}); it was left as it is: move it away to run again, or choose another --out"
    )


def load_result(path: str | os.PathLike) -> dict:
    """The ``result.json`` of a run folder (or the file itself)."""
    path = Path(path)
    return read_result(path / RESULT if path.is_dir() else path)


def read_finished(out_dir: Path, requested: dict, resume: bool, comparable: Callable[[dict], dict]) -> dict | None:
    """The finished run in ``out_dir`` (its ``result.json``), or ``None`` when there is none.

    A finished run is never overwritten: without ``resume`` it raises :class:`RunExistsError`, and with ``resume``
    its config must equal ``requested`` as seen through ``comparable`` (else :class:`RunExistsError` names the
    fields that differ). A damaged file raises :class:`DamagedResultError` either way.
    """
    result_path = Path(out_dir) / RESULT
    if not result_path.exists():
        return None
    finished = read_result(result_path)
    if not resume:
        raise RunExistsError(
            f"{out_dir} already holds a finished run ({RESULT}); choose another output folder (--out), "
            "or pass --resume to read it"
        )
    stored = finished.get("config", {})
    if comparable(stored) != comparable(requested):
        raise RunExistsError(config_mismatch(out_dir, stored, requested))
    return finished


def read_checkpoint(path: Path, device: torch.device, needed: set[str], kind: str = "an advdist-lab") -> dict:
    """The checkpoint at ``path``, which must hold the keys ``needed``; a file that cannot be read or is not one of
    ours raises :class:`CheckpointError` (naming ``kind`` of checkpoint) and is left untouched."""
    try:
        state = load_tensors(path, map_location=device, what="checkpoint")
    except UnsafeFileError:
        raise
    except Exception as error:  # torch raises pickle, zip and runtime errors for damaged files
        raise CheckpointError(
            f"{path} cannot be read as a checkpoint ({type(error).__name__}: {error}); it was left as it is: move it "
            "away to start the run over"
        ) from None
    missing = needed - set(state if isinstance(state, dict) else ())
    if missing:
        raise CheckpointError(f"{path} is not {kind} checkpoint (missing {', '.join(sorted(missing))})")
    return state


class RunFolder:
    """One run's folder through its life (module docstring). ``comparable(config)`` is what must match between a
    stored run and the requested one (default: everything but the device).

    Attributes: ``path``; ``checkpoint_epoch``: the epoch of the checkpoint on disk as far as this run knows
    (``0``: written after pretraining; ``None``: none written or read yet).
    """

    def __init__(
        self, out: str | os.PathLike, *, comparable: Callable[[dict], dict] = without_device, nested: bool = False
    ):
        self.path = check_out(out)
        self.nested = nested
        self.comparable = comparable
        self.checkpoint_epoch: int | None = None
        self._held = False
        self._owner = False
        self._created: list[Path] = []

    # -- paths -----------------------------------------------------------------------------------------------
    @property
    def result_path(self) -> Path:
        return self.path / RESULT

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r}, locked={self._held})"

    # -- the lock --------------------------------------------------------------------------------------------
    def __enter__(self) -> RunFolder:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def acquire(self) -> None:
        """Create the folder (and missing parents), take its lock for this process, and remove the temporary files
        that a killed writer left (no other process can be writing: the lock is ours). Refuses an unwritable place
        (:class:`UnusableFolderError`) and a folder locked by another process (:class:`FolderInUseError`)."""
        if self._held:
            raise RuntimeError(f"{self} is already locked by this object")
        self.path = check_out(self.path)
        missing = []
        parent = self.path
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as error:
                self._remove_created()
                raise UnusableFolderError(
                    f"cannot create the run folder {self.path} ({error.strerror or error}); choose another --out"
                ) from None
            self._created.append(folder)
        try:
            self._owner = lock_folder(self.path, self.nested)
        except BaseException:
            self._remove_created()
            raise
        self._held = True
        if not self._owner:  # a nested lock of this thread (a sweep command around run_sweep): nothing to set up
            return
        for leftover in self.path.iterdir():
            if _TEMPORARY.match(leftover.name) and leftover.is_file():
                leftover.unlink(missing_ok=True)

    def release(self) -> None:
        """Give the lock back (the lock file is removed first, so a process that opened it before retries on a new
        one) and remove the folders this object created if they are still empty."""
        if self._held:
            release_folder(self.path)
            self._held = False
        self._remove_created()

    def _remove_created(self) -> None:
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:  # not empty: the run wrote something
                break
        self._created = []

    @property
    def locked(self) -> bool:
        """Whether this object holds the folder's lock."""
        return self._held

    # -- resume ----------------------------------------------------------------------------------------------
    def finished(self, requested: dict, resume: bool) -> dict | None:
        """The finished run's result, ``None`` when there is none; see :func:`read_finished`."""
        return read_finished(self.path, requested, resume, self.comparable)

    def checkpoint(
        self, requested: dict, resume: bool, device: torch.device, needed: set[str], kind: str = "an advdist-lab"
    ) -> dict | None:
        """The checkpoint of an unfinished run to continue, ``None`` when there is none.

        Without ``resume`` an existing checkpoint raises :class:`RunExistsError` (it is never overwritten); with it
        the checkpoint must be readable and hold ``needed`` (:func:`read_checkpoint`) and its ``config`` must equal
        ``requested`` through ``comparable``.
        """
        if not self.checkpoint_path.exists():
            return None
        if not resume:
            raise RunExistsError(
                f"{self.path} holds the checkpoint of an unfinished run; pass --resume to continue it, or choose "
                "another --out"
            )
        state = read_checkpoint(self.checkpoint_path, device, {"config", *needed}, kind)
        if self.comparable(state["config"]) != self.comparable(requested):
            raise RunExistsError(config_mismatch(self.path, state["config"], requested))
        if isinstance(state.get("history"), list):
            self.checkpoint_epoch = len(state["history"])
        return state

    # -- writes ----------------------------------------------------------------------------------------------
    def kept(self) -> str:
        """What of this run survives if it stops now, as words for a message."""
        if self.checkpoint_epoch is None:
            return "no checkpoint was written yet"
        when = "written after pretraining" if self.checkpoint_epoch == 0 else f"of epoch {self.checkpoint_epoch}"
        return f"the checkpoint {when} is kept in {self.checkpoint_path}"

    def save_checkpoint(self, state: dict, epoch: int) -> None:
        """Write ``state`` as the checkpoint of ``epoch`` (0: after pretraining), atomically."""
        self._write(self.checkpoint_path, lambda: atomic_torch_save(state, self.checkpoint_path), "continue it")
        self.checkpoint_epoch = epoch

    def write_result(self, result: dict) -> None:
        """Write the finished run's ``result.json``, atomically."""
        self._write(self.result_path, lambda: atomic_write_json(self.result_path, result), "write its result")

    def save(self, name: str, obj: object) -> Path:
        """Another file of the run (a model, a generator) by ``torch.save``, atomically; returns its path."""
        path = self.path / name
        self._write(path, lambda: atomic_torch_save(obj, path), "write its files")
        return path

    def _write(self, path: Path, write: Callable[[], None], then: str) -> None:
        try:
            write()
        except DiskFullError as error:
            raise DiskFullError(
                error.errno,
                f"no space left on the device while writing {path}: {self.kept()}; free space and resume the run "
                f"(--resume) to {then}",
            ) from None


def notebook_folder(
    notebook: str, label: str, smoke: bool, out: str | os.PathLike | None = None
) -> tuple[str, tempfile.TemporaryDirectory | None]:
    """A notebook's run folder and, for a smoke run, the temporary directory that holds it (``cleanup()`` it).

    ``out`` wins when given. Otherwise a smoke run gets a fresh temporary folder (so that it always trains) and a
    full run ``../runs/<notebook>/<label>``: relative to the notebook, which runs in ``notebooks/`` under papermill
    and JupyterLab alike, so the runs land in the repository's ``runs/`` and a rerun reuses them.
    """
    if out is not None:
        return str(out), None
    if smoke:
        folder = tempfile.TemporaryDirectory(prefix=f"advdist-{notebook[:2]}-smoke-")
        return folder.name, folder
    return str(Path("..") / "runs" / notebook / label), None
