"""The training device and a report of the software the course runs on (notebook 00's environment check)."""

from __future__ import annotations

import os
import platform
import re
import sys
from importlib import metadata

import torch

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

REPORTED_PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "tqdm",
    "plotly",
    "ipywidgets",
    "anywidget",
    "jupyterlab",
    "jupytext",
    "papermill",
    "nbval",
)


SMALL_MODEL_DATASETS = ("digits", "synthetic", "tags-popular", "tags-random")
"""Datasets whose models are so small that one CPU thread trains them faster than two (measured in bench/; the tag
MLPs: one ADIM run on the default 20,000 items took 39 s on one thread and 272 s on two on a busy machine)."""


def configure_threads(dataset: str, device: str | torch.device = "auto", threads: int | None = None) -> int:
    """Set torch's CPU thread count for training on ``dataset`` and return it.

    ``threads`` wins when given (an integer >= 1). Otherwise the digits and synthetic models on the CPU get one
    thread: their kernels are so small that a second thread costs more than it brings (on a busy machine, many
    times more: an ADIM run on digits took 71.7 s on two threads against 7.8 s on one). Elsewhere torch's
    default stays.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1 (got {threads!r})")
    elif dataset in SMALL_MODEL_DATASETS and resolve_device(device).type == "cpu":
        threads = 1
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``"auto"`` (CUDA if present, else Apple MPS, else CPU), ``"cpu"``, ``"cuda[:N]"`` or ``"mps"``.

    Raises ``ValueError`` for an unknown name or for an accelerator that is not available here.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' (got {device!r})")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} needs CUDA, which is not available here: use 'auto' or 'cpu'")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' is not available here: use 'auto' or 'cpu'")
    return torch.device(device)


def available_memory(device: str | torch.device = "cpu") -> int | None:
    """Bytes that a new allocation on ``device`` can take now: free CUDA memory, or the host's available memory
    (``MemAvailable`` of ``/proc/meminfo``, else free pages); ``None`` where it cannot be read."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(nbytes: int) -> str:
    """``nbytes`` for a message: in GiB from 1 GiB on, in MiB below (``"1.5 GiB"``, ``"12.0 MiB"``)."""
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"


def check_fits_in_memory(name: str, nbytes: int, device: str | torch.device = "cpu") -> int:
    """Raise ``ValueError`` naming ``name`` when a block of ``nbytes`` (a batch and what its passes keep for the
    backward pass, as the caller estimates it) exceeds the memory available on ``device``; return ``nbytes``."""
    available = available_memory(device)
    if available is not None and nbytes > available:
        raise ValueError(
            f"{name} needs about {format_bytes(nbytes)} but only {format_bytes(available)} is available on "
            f"{torch.device(device)}: choose a smaller {name}"
        )
    return nbytes


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or ``None`` if it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def torchvision_status() -> str:
    """``"ok <version>"`` if torchvision imports, otherwise the import error (see DESIGN.md: a CPU-only torch
    wheel cannot load torchvision's CUDA build)."""
    try:
        import torchvision
    except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
        return f"fails to import: {type(exc).__name__}: {exc}"
    return f"ok {torchvision.__version__}"


def environment_report(device: str | torch.device = "auto") -> dict[str, object]:
    """Versions, the resolved device and the machine's size, as a flat dict for printing."""
    resolved = resolve_device(device)
    report: dict[str, object] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(resolved),
        "cuda_available": torch.cuda.is_available(),
    }
    if resolved.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(resolved)
    report["torchvision_import"] = torchvision_status()
    for name in REPORTED_PACKAGES:
        report[name] = package_version(name) or "not installed"
    return report
