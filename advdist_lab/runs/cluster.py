"""The Ray executor: many runs as Ray tasks, on this machine or on a Ray cluster of many (``--executor ray``).

Ray is an optional extra (``pip install 'advdist-lab[cluster]'``), imported here only, when a
:class:`RayExecutor` prepares; without it ``--executor ray`` says in one line how to install it.

* Connecting: ``address=None`` joins the Ray cluster already running on this machine, else starts one with this
  machine's cores (Ray's own default); ``"auto"`` joins the running cluster (and fails in one line when there is
  none); ``"ray://host:port"`` joins a remote cluster through Ray Client; ``"host:port"`` its head node.
* Resources: every task (one run, or one batched model's members) asks for ``cpus_per_run`` CPUs, trains on as
  many torch threads, and for ``gpus_per_run`` GPUs: a fraction below 1 lets several tasks share one GPU.
  A task that fits on no node of the cluster is refused before any work.
* Scheduling is Ray's: at most as many tasks are handed to Ray as the cluster has room for (recounted as nodes
  join or leave), the others wait here, so "running" in the progress bar means given to Ray and a stop has only
  those to cancel.
* Shared storage: the workers write the run folders themselves, so ``--out`` must be the same folder on every node
  (one machine; or NFS, a cluster file system, mounted at the same path). :meth:`RayExecutor.prepare` checks it
  before any work: the driver writes a token under ``out``, one probe per node reads it and answers in a file of
  its own; a node that cannot is named in one line (:class:`UnreachableOutError`).
* Failures: a worker or node that dies mid-run is retried by Ray (``retries`` times); the retry resumes the run from
  its last checkpoint (the run folder's lock is an ``flock``, released with the dead process). A run's own error is
  raised as itself. ``ray stop`` of the cluster ends the wait with :class:`ClusterLostError` at once.
* Interrupt: the queued runs are never handed out; the running ones are stopped by a file the driver writes under
  ``--out`` (``.stop-<token>``), which a thread in every task watches: it raises ``KeyboardInterrupt`` in the task,
  which unwinds and unlocks its folder, the last checkpoint kept. Ray's own ``ray.cancel`` is kept for what has
  not ended after :data:`CANCEL_GRACE_SECONDS`: cancelling a task whose reply is on its way can abort the driver
  inside Ray 2.60 ("Tried to complete task that was not pending", seen once in CI), which a stop through the
  shared folder avoids.
"""

from __future__ import annotations

import _thread
import math
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .interface import Executor
from .pool import POLL_SECONDS, WorkerDiedError, raise_remote

INSTALL_HINT = "--executor ray needs Ray: pip install 'advdist-lab[cluster]' (or pip install ray)"
CANCEL_GRACE_SECONDS = 3.0
"""How long cancelled tasks get to unwind before they are killed."""
PROBE_SECONDS = 60.0
"""How long :meth:`RayExecutor.prepare` waits for every node's answer about ``--out``."""
RECOUNT_SECONDS = 2.0
"""How often the room of the cluster is recounted while runs wait."""
STOP_POLL_SECONDS = 0.2
"""How often a task looks for the driver's stop file."""
_ADDRESS = re.compile(r"^(auto|ray://[^\s:/]+:\d+|[^\s:/]+:\d+)$")


class ClusterLostError(WorkerDiedError):
    """The Ray cluster went away during the runs (``ray stop``, its head node lost)."""


class UnreachableOutError(ValueError):
    """A node of the Ray cluster cannot read or write ``--out``."""


def require_ray():
    """The ``ray`` module, or a ``ValueError`` (one line) saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return ray


def _call(function: Callable, arguments: tuple, threads: int, stop_file: str | None = None) -> object:
    """One task on a Ray worker: ``function(*arguments)`` on ``threads`` torch threads, interrupted (a
    ``KeyboardInterrupt`` in the worker's main thread, where Ray runs the task) when ``stop_file`` appears."""
    import torch

    torch.set_num_threads(threads)
    if stop_file is None:
        return function(*arguments)
    ended = threading.Event()
    lock = threading.Lock()

    def watch() -> None:
        while not ended.wait(STOP_POLL_SECONDS):
            if os.path.exists(stop_file):
                with lock:
                    if not ended.is_set():
                        _thread.interrupt_main()
                return

    threading.Thread(target=watch, name="advdist-stop-watch", daemon=True).start()
    try:
        return function(*arguments)
    finally:
        with lock:
            ended.set()


def _probe(token_file: str, token: str) -> tuple[str, str | None]:
    """On one node: ``(host, None)`` when ``token_file`` holds ``token`` and the folder takes a reply file, else
    ``(host, what went wrong)``."""
    host = socket.gethostname()
    try:
        if Path(token_file).read_text() != token:
            return host, "holds another folder at that path"
        Path(f"{token_file}.{host}.{os.getpid()}").write_text(token)
    except OSError as error:
        return host, error.strerror or type(error).__name__
    return host, None


@dataclass(frozen=True)
class RayExecutor(Executor):
    """Runs as Ray tasks (module docstring). ``runtime_env`` is Ray's, for the tasks (``{"env_vars": {...}}``)."""

    address: str | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    retries: int = 3
    runtime_env: dict | None = field(default=None, compare=False)
    name = "ray"
    out: Path | None = field(default=None, init=False, repr=False, compare=False)
    """The common folder of the runs, set by :meth:`prepare`: where a stop file reaches every task."""

    def __post_init__(self) -> None:
        if self.address is not None and not (isinstance(self.address, str) and _ADDRESS.match(self.address)):
            raise ValueError(f"--address must be auto, ray://HOST:PORT or HOST:PORT (got {self.address!r})")
        for option, value in (("--cpus-per-run", self.cpus_per_run), ("--gpus-per-run", self.gpus_per_run)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{option} must be a number (got {value!r})")
        if not self.cpus_per_run > 0:
            raise ValueError(f"--cpus-per-run must be > 0 (got {self.cpus_per_run})")
        if self.gpus_per_run < 0:
            raise ValueError(f"--gpus-per-run must be >= 0 (got {self.gpus_per_run})")
        if self.gpus_per_run > 1 and self.gpus_per_run != int(self.gpus_per_run):
            raise ValueError(
                f"--gpus-per-run above 1 must be a whole number (got {self.gpus_per_run}); Ray shares a GPU only "
                "in fractions below 1"
            )
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries must be an integer >= 0 (got {self.retries!r})")

    # ------------------------------------------------------------------------------------------------ connect
    def connect(self):
        """Join (or start) the cluster of :attr:`address`; the ``ray`` module."""
        ray = require_ray()
        if not ray.is_initialized():
            import logging

            os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
            options = {"logging_level": logging.WARNING, "log_to_driver": True}
            if self.address is None or not self.address.startswith("ray://"):
                options["include_dashboard"] = False
            try:
                ray.init(address=self.address, **options)
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = self.address or "this machine"
                first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise ValueError(f"cannot join the Ray cluster at {where}: {first}") from None
        return ray

    def slots(self, ray) -> int:
        """How many tasks the cluster's live nodes hold at once (each node's CPUs and GPUs by the task's)."""
        total = 0
        for node in ray.nodes():
            if not node.get("Alive"):
                continue
            resources = node.get("Resources", {})
            room = math.floor(resources.get("CPU", 0) / self.cpus_per_run + 1e-9)
            if self.gpus_per_run > 0:
                room = min(room, math.floor(resources.get("GPU", 0) / self.gpus_per_run + 1e-9))
            total += max(0, room)
        return total

    def prepare(self, out: Path | None) -> None:
        ray = self.connect()
        if self.slots(ray) == 0:
            nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
            cpus = max((r.get("CPU", 0) for r in nodes), default=0)
            gpus = max((r.get("GPU", 0) for r in nodes), default=0)
            raise ValueError(
                f"no node of the Ray cluster can hold one run of --cpus-per-run {self.cpus_per_run:g} and "
                f"--gpus-per-run {self.gpus_per_run:g} (the largest has {cpus:g} CPUs and {gpus:g} GPUs)"
            )
        object.__setattr__(self, "out", None if out is None else Path(out).absolute())
        if out is not None:
            failures = self.unreachable(out)
            if failures:
                where = "; ".join(f"{host}: {why}" for host, why in failures)
                raise UnreachableOutError(
                    f"--out {out} is not reachable from {len(failures)} Ray node(s) ({where}): the workers write the "
                    f"runs there, so put --out on storage every node mounts at the same path"
                )

    def unreachable(self, out: Path, token: str | None = None) -> list[tuple[str, str]]:
        """``(node, why)`` for every live node whose workers cannot read a token written under ``out`` (created if
        missing) or write beside it. ``token``: what the probes expect to find (default: what is written; a test
        passes another to see every node refuse)."""
        ray = self.connect()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        out = Path(out).absolute()
        out.mkdir(parents=True, exist_ok=True)
        written = secrets.token_hex(8)
        token_file = out / f".reach-{written}"
        token_file.write_text(written)
        probe = ray.remote(_probe)
        try:
            nodes = [n for n in ray.nodes() if n.get("Alive")]
            refs = {
                probe.options(
                    num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
                ).remote(str(token_file), token or written): n.get("NodeManagerAddress", n["NodeID"])
                for n in nodes
            }
            ready, late = ray.wait(list(refs), num_returns=len(refs), timeout=PROBE_SECONDS)
            failures = [(refs[ref], f"no answer in {PROBE_SECONDS:g} s") for ref in late]
            for ref in ready:
                host, why = ray.get(ref)
                if why is not None:
                    failures.append((f"{refs[ref]} ({host})", why))
            return failures
        finally:
            for leftover in out.glob(f".reach-{written}*"):
                leftover.unlink(missing_ok=True)

    # ---------------------------------------------------------------------------------------------------- run
    def run(self, function, arguments, on_done, on_start) -> None:
        ray = self.connect()
        from ray import exceptions

        threads = max(1, int(self.cpus_per_run))
        options = {"num_cpus": self.cpus_per_run, "max_retries": self.retries, "retry_exceptions": False}
        if self.gpus_per_run > 0:
            options["num_gpus"] = self.gpus_per_run
        if self.runtime_env is not None:
            options["runtime_env"] = self.runtime_env
        task = ray.remote(_call).options(**options)
        stop_file = None if self.out is None else self.out / f".stop-{secrets.token_hex(8)}"
        queued = list(enumerate(arguments))[::-1]  # popped from the end: in order
        running: dict = {}
        room, counted = 0, -math.inf
        try:
            while queued or running:
                if queued and time.monotonic() - counted > RECOUNT_SECONDS:
                    room, counted = max(1, self.slots(ray)), time.monotonic()
                while queued and len(running) < room:
                    index, args = queued.pop()
                    running[task.remote(function, args, threads, None if stop_file is None else str(stop_file))] = index
                    on_start(index)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_SECONDS)
                for ref in ready:
                    index = running.pop(ref)
                    on_done(index, self._value(ray, exceptions, ref))
        except BaseException:
            self._stop(ray, list(running), stop_file)
            raise

    def _value(self, ray, exceptions, ref) -> object:
        try:
            return ray.get(ref)
        except exceptions.RayTaskError as error:  # the run's own error, raised as itself
            cause = error.cause if isinstance(error.cause, BaseException) else RuntimeError(str(error))
            raise_remote(cause, str(error))
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.OutOfMemoryError) as error:
            raise WorkerDiedError(
                f"a Ray worker died during a run and {self.retries} retries did not finish it "
                f"({type(error).__name__}: {_first_line(error)})"
            ) from None
        except (
            exceptions.LocalRayletDiedError,
            exceptions.RaySystemError,
            exceptions.RpcError,
            ConnectionError,
        ) as error:
            ray.shutdown()  # the next call joins (or starts) a cluster afresh
            raise ClusterLostError(f"the Ray cluster stopped during the runs ({type(error).__name__})") from None

    @staticmethod
    def _stop(ray, refs: Sequence, stop_file: Path | None) -> None:
        """Stop the tasks ``refs``: the stop file (a ``KeyboardInterrupt`` in each), and after the grace Ray's
        cancel, then its kill, for what has not ended; the stop file is removed."""
        if not refs or not ray.is_initialized():
            return
        try:
            if stop_file is not None:
                stop_file.write_text("stop")
                _, refs = ray.wait(list(refs), num_returns=len(refs), timeout=CANCEL_GRACE_SECONDS)
            for force in (False, True):
                if not refs:
                    break
                for ref in refs:
                    ray.cancel(ref, force=force)
                _, refs = ray.wait(list(refs), num_returns=len(refs), timeout=CANCEL_GRACE_SECONDS)
        except Exception:  # the cluster is gone: nothing left to stop
            pass
        finally:
            if stop_file is not None:
                stop_file.unlink(missing_ok=True)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
