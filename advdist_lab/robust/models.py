"""The networks of robust distillation, and the teacher/student checkpoint format.

DFARD (``001_...``, "Dataset and Model") distils a robust WideResNet teacher (WRN-34-10, the RSLAD teacher of Zi
et al. 2021) into ResNet-18 and MobileNet-V2 students on CIFAR; DERD's supplement uses ResNet-18 too. Neither paper
gives layer tables, so we use the standard CIFAR variants:

``resnet18``
    ResNet-18 for 32x32 inputs (3x3 stem, no max-pool, BasicBlocks ``[2, 2, 2, 2]`` of 64-512 channels, global
    average pool): 11,173,962 parameters for 10 classes.
``wrn-<depth>-<widen>``
    WideResNet (Zagoruyko and Komodakis 2016), pre-activation blocks, ``(depth - 4) / 6`` blocks per group:
    ``wrn-34-10`` is the papers' teacher (46.2M parameters, a GPU model); ``wrn-16-4`` (2.7M) is the smaller
    teacher we train on a GPU in minutes, and we say so where it is used.
``digits-cnn``
    The digits teacher (ours, not in the papers): ``conv3x3-32, BN, ReLU, conv3x3-32, BN, ReLU, pool,
    conv3x3-64, BN, ReLU, pool, fc128, fc K``: 62,378 parameters for 8x8 digits and 10 classes.
``digits-small``
    The digits student (ours): ``conv3x3-16, BN, ReLU, pool, conv3x3-32, BN, ReLU, pool, fc K``: 6,138
    parameters, a tenth of the teacher.

Every architecture has batch norm, which DFQ's and DeepInversion's generator losses read (their BN-statistics
term). :func:`build_robust_model` wraps the network in
:class:`~advdist_lab.robust.attacks.gradient.Normalized`, so models take images in ``[0, 1]``.

**Checkpoints.** :func:`save_robust_model` writes (atomically) ``{"format": "advdist-lab-robust-model", "arch",
"num_classes", "image_shape", "mean", "std", "state_dict", "summary"}``. :func:`load_robust_model` reads that, and
also a user's own checkpoint: a plain state dict of the bare network (or of a ``Normalized`` wrapper), possibly
under a ``"state_dict"``, ``"model"`` or ``"net"`` key and with ``"module."`` prefixes (``DataParallel``); then
``arch`` and the dataset's statistics must be given. A checkpoint that does not fit raises ``ValueError`` naming
the missing and unexpected keys; nothing is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from advdist_lab.files import UnsafeFileError, load_tensors
from advdist_lab.hparams import check_positive_int
from advdist_lab.robust.attacks.gradient import Normalized

__all__ = [
    "ACTIVATION_FACTORS",
    "ARCHITECTURES",
    "DEFAULT_STUDENTS",
    "DEFAULT_TEACHERS",
    "MODEL_FORMAT",
    "activation_factor",
    "build_robust_model",
    "check_architecture",
    "load_robust_model",
    "robust_model_payload",
    "save_robust_model",
]

ARCHITECTURES = ("digits-cnn", "digits-small", "resnet18", "wrn-<depth>-<widen>")
"""The names :func:`build_robust_model` knows (``wrn-34-10``, ``wrn-16-4``... for any valid depth and width)."""

DEFAULT_TEACHERS = {"digits": "digits-cnn", "cifar10": "wrn-34-10", "cifar10-random": "wrn-16-4"}
DEFAULT_STUDENTS = {"digits": "digits-small", "cifar10": "resnet18", "cifar10-random": "resnet18"}
MODEL_FORMAT = "advdist-lab-robust-model"

_WRN = re.compile(r"^wrn-(\d+)-(\d+)$")


def check_architecture(arch: object) -> str:
    """Return ``arch`` if :func:`build_robust_model` knows it, else raise ``ValueError``."""
    if isinstance(arch, str):
        if arch in ("digits-cnn", "digits-small", "resnet18"):
            return arch
        match = _WRN.match(arch)
        if match:
            depth = int(match.group(1))
            if depth < 10 or (depth - 4) % 6:
                raise ValueError(f"a WideResNet needs depth = 6n + 4 >= 10, e.g. wrn-34-10 or wrn-16-4 (got {arch})")
            if int(match.group(2)) < 1:
                raise ValueError(f"a WideResNet needs widen factor >= 1 (got {arch})")
            return arch
    raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)} (got {arch!r})")


ACTIVATION_FACTORS = {"digits-cnn": 260, "digits-small": 80, "resnet18": 460}
"""Activation values one forward keeps for the backward pass, per input value (the outputs of every layer of one
image, divided by the image's size), measured on the networks of :func:`build_robust_model`: ``digits-cnn`` and
``digits-small`` on 8x8 digits, ``resnet18`` on 32x32 CIFAR images. A WideResNet ``wrn-d-k`` keeps about
``40 * (d - 4) / 6 * k`` (measured: ``wrn-16-4`` 347, ``wrn-28-10`` 1,597, ``wrn-34-10`` 1,971):
:func:`activation_factor`. A rough size, for refusing a batch that cannot fit before any work."""


def activation_factor(arch: str) -> int:
    """About how many activation values ``arch`` keeps for its backward pass per input value
    (:data:`ACTIVATION_FACTORS`; for ``wrn-d-k``, ``40 * (d - 4) / 6 * k``)."""
    arch = check_architecture(arch)
    if arch in ACTIVATION_FACTORS:
        return ACTIVATION_FACTORS[arch]
    depth, widen = (int(v) for v in _WRN.match(arch).groups())  # type: ignore[union-attr]
    return 40 * (depth - 4) // 6 * widen


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class DigitsCNN(nn.Module):
    """The digits teacher (module docstring); any ``H, W`` divisible by 4."""

    def __init__(self, in_channels: int, image_size: tuple[int, int], num_classes: int) -> None:
        super().__init__()
        h, w = image_size
        self.features = nn.Sequential(
            *_conv_bn(in_channels, 32), *_conv_bn(32, 32), nn.MaxPool2d(2), *_conv_bn(32, 64), nn.MaxPool2d(2)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 128), nn.ReLU(inplace=True), nn.Linear(128, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class DigitsSmall(nn.Module):
    """The digits student (module docstring); any ``H, W`` divisible by 4."""

    def __init__(self, in_channels: int, image_size: tuple[int, int], num_classes: int) -> None:
        super().__init__()
        h, w = image_size
        self.features = nn.Sequential(*_conv_bn(in_channels, 16), nn.MaxPool2d(2), *_conv_bn(16, 32), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for small images (CIFAR stem: one 3x3 convolution, no max-pool)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers: list[nn.Module] = []
        cin = 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class _WideBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None if (cin == cout and stride == 1) else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(F.relu(self.bn2(self.conv1(out))))
        return out + shortcut


class WideResNet(nn.Module):
    """WRN-depth-widen with pre-activation blocks (module docstring)."""

    def __init__(self, depth: int, widen: int, in_channels: int, num_classes: int) -> None:
        super().__init__()
        n = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        blocks: list[nn.Module] = []
        cin = widths[0]
        for group, stride in zip(range(1, 4), (1, 2, 2)):
            for i in range(n):
                blocks.append(_WideBlock(cin, widths[group], stride if i == 0 else 1))
                cin = widths[group]
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def _network(arch: str, image_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    channels, h, w = image_shape
    if arch in ("digits-cnn", "digits-small"):
        if h % 4 or w % 4:
            raise ValueError(f"{arch} needs H and W divisible by 4 (got image_shape {image_shape})")
        cls = DigitsCNN if arch == "digits-cnn" else DigitsSmall
        return cls(channels, (h, w), num_classes)
    if arch == "resnet18":
        return ResNet18(channels, num_classes)
    depth, widen = (int(v) for v in _WRN.match(arch).groups())  # type: ignore[union-attr]
    return WideResNet(depth, widen, channels, num_classes)


def _check_image_shape(image_shape: object) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in image_shape)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be three positive integers (channels, H, W) (got {image_shape!r})")
    return shape  # type: ignore[return-value]


def build_robust_model(
    arch: str,
    num_classes: int,
    image_shape: Sequence[int],
    mean: float | Sequence[float],
    std: float | Sequence[float],
) -> Normalized:
    """``Normalized(network, mean, std)`` for ``arch`` (module docstring): a model on images in ``[0, 1]``."""
    arch = check_architecture(arch)
    num_classes = check_positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2 (got {num_classes})")
    shape = _check_image_shape(image_shape)
    return Normalized(_network(arch, shape, num_classes), mean, std)


def robust_model_payload(
    model: Normalized,
    *,
    arch: str,
    num_classes: int,
    image_shape: Sequence[int],
    summary: dict | None = None,
) -> dict:
    """What a model file in :data:`MODEL_FORMAT` holds (tensors, lists and numbers only: it loads with
    ``weights_only=True``); a run writes it with :meth:`advdist_lab.runs.folder.RunFolder.save`."""
    if not isinstance(model, Normalized):
        raise ValueError(f"model must be a Normalized model from build_robust_model (got {type(model).__name__})")
    return {
        "format": MODEL_FORMAT,
        "arch": check_architecture(arch),
        "num_classes": int(num_classes),
        "image_shape": list(_check_image_shape(image_shape)),
        "mean": model.mean.detach().cpu().tolist(),
        "std": model.std.detach().cpu().tolist(),
        "state_dict": {k: v.detach().cpu() for k, v in model.model.state_dict().items()},
        "summary": dict(summary or {}),
    }


def save_robust_model(
    path: str | os.PathLike,
    model: Normalized,
    *,
    arch: str,
    num_classes: int,
    image_shape: Sequence[int],
    summary: dict | None = None,
) -> None:
    """Write ``model`` (a :func:`build_robust_model` model) to ``path`` in :data:`MODEL_FORMAT`, atomically."""
    from advdist_lab.files import atomic_torch_save

    payload = robust_model_payload(model, arch=arch, num_classes=num_classes, image_shape=image_shape, summary=summary)
    atomic_torch_save(payload, path)


def _unwrap_state(obj: object) -> dict:
    for key in ("state_dict", "model", "net", "model_state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError("the checkpoint holds no state dict (a dict of tensors, possibly under 'state_dict')")
    state = {k.removeprefix("module."): v for k, v in obj.items()}
    if any(k.startswith("model.") for k in state):  # saved from a Normalized wrapper
        state = {k.removeprefix("model."): v for k, v in state.items() if k not in ("mean", "std")}
    return state


def load_robust_model(
    path: str | os.PathLike,
    *,
    arch: str | None = None,
    num_classes: int = 10,
    image_shape: Sequence[int] | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    device: str | torch.device = "cpu",
) -> tuple[Normalized, dict]:
    """Read a model from ``path``: ``(model in eval mode on device, info)`` (module docstring).

    Our own format carries everything; for a foreign state dict ``arch``, ``image_shape``, ``mean`` and ``std`` are
    required (``advdist-lab robust-teacher --checkpoint FILE --arch wrn-34-10`` passes the dataset's). ``info``
    holds ``arch``, ``num_classes``, ``image_shape``, ``mean``, ``std``, ``summary`` and ``foreign``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}")
    try:
        stored = load_tensors(path, what="checkpoint")
    except UnsafeFileError:
        raise
    except Exception as error:  # pickle, zip and runtime errors for damaged files
        raise ValueError(f"{path} cannot be read as a checkpoint ({type(error).__name__}: {error})") from None
    if isinstance(stored, dict) and stored.get("format") == MODEL_FORMAT:
        info = {k: stored[k] for k in ("arch", "num_classes", "image_shape", "mean", "std", "summary")}
        state = stored["state_dict"]
        info["foreign"] = False
    else:
        if arch is None or image_shape is None or mean is None or std is None:
            raise ValueError(
                f"{path} is not an advdist-lab model file: give arch, image_shape, mean and std to load it as a "
                "plain state dict"
            )
        state = _unwrap_state(stored)
        info = {
            "arch": check_architecture(arch),
            "num_classes": int(num_classes),
            "image_shape": list(_check_image_shape(image_shape)),
            "mean": mean,
            "std": std,
            "summary": {},
            "foreign": True,
        }
    model = build_robust_model(info["arch"], info["num_classes"], info["image_shape"], info["mean"], info["std"])
    missing, unexpected = _key_mismatch(model.model, state)
    if missing or unexpected:
        raise ValueError(
            f"{path} does not fit {info['arch']} with {info['num_classes']} classes: missing keys "
            f"{_few(missing)}, unexpected keys {_few(unexpected)}"
        )
    try:
        model.model.load_state_dict(state)
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f"{path} does not fit {info['arch']}: {str(error).splitlines()[-1].strip()}") from None
    from advdist_lab.environment import resolve_device

    return model.to(resolve_device(device)).eval(), info


def _key_mismatch(network: nn.Module, state: dict) -> tuple[list[str], list[str]]:
    expected = set(network.state_dict())
    return sorted(expected - set(state)), sorted(set(state) - expected)


def _few(keys: list[str]) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:4])
    return f"{shown} (+{len(keys) - 4} more)" if len(keys) > 4 else shown
