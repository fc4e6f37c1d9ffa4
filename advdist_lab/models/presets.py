"""Named architectures for each dataset: which student, teacher and discriminator the experiments train.

The TPAMI paper (``000_...``) gives the architectures in an appendix that our copy lacks; what survives is
Table 2 (parameters of the student S and the teacher T), Table 3 (parameters of a whole method: ADIB = S + T + D,
ADIM = S + T + two discriminator heads), Eq. 14-16 and the original KDGAN code (see
``shared/papers/README.md``). The presets below are what we chose from those, and why.

``mnist`` (input ``(1, 28, 28)``; Table 2: S 1.28M, T 4.62M; Table 3: ADIB 10.51M, ADIM 15.13M)
    * Student: ``MLP(784, (800, 800), 10)`` with ReLU and dropout 0.12, as the original code (its
      ``gen_keep_prob = 0.88``): 1,276,810 parameters.
    * Teacher: LeNet ``conv5x5-32, pool, conv5x5-64, pool, fc H, fc10`` with dropout 0.5 (``tch_keep_prob``).
      The original code's ``H = 1024`` gives 3,274,634 parameters, not Table 2's 4.62M; **we widen the hidden
      layer to H = 1452**, the width whose count matches Table 2: 4,621,550 (+0.03%).
    * Discriminator backbone: the teacher's architecture (Eq. 16: "the same scoring function [as the teacher]
      with a different set of parameters"; dropout 0.5 = ``dis_keep_prob``). Then S + T + D = 10,519,910
      (Table 3: 10.51M) and S + T + 2 D = 15,141,460 (15.13M): each head of ADIM's multi-class discriminator is
      a teacher-sized network.

``fashion-mnist`` (input ``(1, 28, 28)``; not in the papers)
    **The MNIST preset above, unchanged** (:data:`SHARED_PRESETS`): Fashion-MNIST is a drop-in replacement of MNIST
    (the same 60,000 / 10,000 greyscale 28x28 images of 10 classes), so the TPAMI Table 2 architectures apply as
    they are, with the same parameter counts.

``cifar10`` (input ``(3, 32, 32)``; Table 2: S 1.03M, T 15.58M; Table 3: ADIB 32.30M, ADIM 47.78M)
    * Student: LeNet ``conv5x5-32, pool, conv5x5-64, pool, fc 238, fc10`` with dropout 0.12: 1,031,172 (+0.11%);
      the hidden width 238 is ours, chosen to match Table 2.
    * Teacher: DenseNet-BC with **depth 136, growth rate 42**: 15,585,370 parameters (+0.03%). The standard
      DenseNet-BC (L=250, k=24) has 15,324,406 (-1.6%), and with it S + T + D would miss Table 3 by 1.9%; among
      DenseNet-BC configurations (depth = 4 + 6n, any growth rate) (136, 42) lands closest to 15.58M.
    * Discriminator backbone: the teacher's architecture. S + T + D = 32,201,912 (Table 3: 32.30M, -0.3%),
      S + T + 2 D = 47,787,282 (47.78M, +0.02%).

``digits`` (input ``(1, 8, 8)``; student view ``(1, 8, 8)`` "full" or ``(1, 4, 4)`` "lowres"; not in the paper)
    Small enough to train on a CPU in seconds. Student ``MLP(prod(student_shape), (64,), K)``; teacher
    ``LeNet(1, 8, K, channels=(16, 32), hidden=128, kernel=3)`` (two pools: 8 -> 4 -> 2); discriminator
    backbone the teacher's architecture. No dropout.

``synthetic`` (input ``(d,)``, student view ``(d_s,)``)
    Student ``MLP(d_s, (64,), K)``; teacher ``MLP(d, (128, 128), K)``; discriminator backbone
    ``MLP(d, (128,), K)``. No dropout.

``tags-popular``, ``tags-random`` (input ``(d_image + d_text,)``, student view ``(d_image,)``; TPAMI Sec. 5.2)
    Student ``MLP(d_image, (256,), L)``; teacher and discriminator backbone :class:`ProductMLP`: an MLP on the
    element-wise product of the projected image and text features (:mod:`advdist_lab.models.tags`).

The privileged players (teacher and discriminator, Eq. 15-16) read ``x`` of ``input_shape``; the student (Eq. 14)
reads its own view ``x_student`` of ``student_shape``, and its architecture depends on that shape only. The
parameter counts above are for ``student_shape == input_shape`` (model compression) and 10 classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from advdist_lab.hparams import check_choice, check_int_at_least, check_positive_int
from advdist_lab.models.densenet import DenseNet
from advdist_lab.models.discriminators import BinaryDiscriminator, MulticlassDiscriminator
from advdist_lab.models.lenet import LeNet
from advdist_lab.models.mlp import MLP
from advdist_lab.models.tags import TAG_HIDDEN, TAG_PRIVILEGED_DROPOUT, ProductMLP, tag_student

__all__ = [
    "ACTIVATION_FACTORS",
    "CIFAR10_STUDENT_HIDDEN",
    "CIFAR10_TEACHER_DENSENET",
    "DATASETS",
    "MNIST_TEACHER_HIDDEN",
    "PRIVILEGED_DROPOUT",
    "STUDENT_DROPOUT",
    "TABLE2_PARAMETERS",
    "TABLE3_PARAMETERS",
    "TAG_DATASETS",
    "SHARED_PRESETS",
    "Architecture",
    "build_players",
    "count_parameters",
    "saved_activation_bytes",
]

DATASETS = ("digits", "mnist", "cifar10", "synthetic")
"""The single-label datasets (TPAMI Sec. 5.1 and the course's small ones)."""

SHARED_PRESETS = {"fashion-mnist": "mnist"}
"""Single-label datasets that use another dataset's preset: Fashion-MNIST takes MNIST's (TPAMI Table 2)."""

TAG_DATASETS = ("tags-popular", "tags-random")
"""The multi-label tag-recommendation datasets (TPAMI Sec. 5.2): the 200 most popular and 200 random tags."""

TABLE2_PARAMETERS = {
    ("mnist", "student"): 1.28e6,
    ("mnist", "teacher"): 4.62e6,
    ("cifar10", "student"): 1.03e6,
    ("cifar10", "teacher"): 15.58e6,
}
"""TPAMI Table 2: parameters of the student and the teacher in deep model compression."""

TABLE3_PARAMETERS = {
    ("mnist", "adib"): 10.51e6,
    ("mnist", "adim"): 15.13e6,
    ("cifar10", "adib"): 32.30e6,
    ("cifar10", "adim"): 47.78e6,
}
"""TPAMI Table 3: parameters of a whole method (ADIB: S + T + D; ADIM: S + T + two discriminator heads)."""

MNIST_TEACHER_HIDDEN = 1452
"""Hidden width of the MNIST teacher LeNet: 4,621,550 parameters (Table 2: 4.62M; the original fc1024: 3.27M)."""

CIFAR10_STUDENT_HIDDEN = 238
"""Hidden width of the CIFAR-10 student LeNet: 1,031,172 parameters (Table 2: 1.03M)."""

CIFAR10_TEACHER_DENSENET = (136, 42)
"""(depth, growth rate) of the CIFAR-10 teacher DenseNet-BC: 15,585,370 parameters (Table 2: 15.58M)."""

STUDENT_DROPOUT = 0.12
"""Dropout of the MNIST and CIFAR-10 students (the original code's keep probability 0.88)."""

PRIVILEGED_DROPOUT = 0.5
"""Dropout of the MNIST teacher and discriminator LeNets (the original code's keep probability 0.5)."""

ACTIVATION_FACTORS: dict[str, int] = {
    "digits": 45,
    "mnist": 90,
    "fashion-mnist": 90,
    "cifar10": 16_700,
    "synthetic": 13,
    "tags-popular": 1,
    "tags-random": 1,
}
"""Bytes that the teacher's forward pass keeps for its backward pass, per byte of its fp32 input ``x``, rounded down:
what :func:`saved_activation_bytes` measures on a batch in training mode (parameters excluded). Measured
(``tests/test_models.py`` measures the small ones again): digits 45.0, MNIST 90.6 (the LeNet's 32 and 64 maps of
28x28 and 14x14; Fashion-MNIST, the same teacher on the same shapes, the same), CIFAR-10 16,712 (DenseNet-BC L=136
k=42 keeps its growing concatenations: 196 MiB per image), synthetic 13.8. On an H200 the CIFAR-10 factor is the
same, and a teacher step of 32 images peaked at 6,345 MiB in fp32 against 6,262 estimated, 3,200 against 3,131 under
bf16 autocast. The tag teacher keeps about 5 bytes per input byte at the default widths (128 + 128) and tends to 1
for wide features (4096 + 4096: 1.1), since its first layer keeps its input and the rest depends on the hidden width
only: 1 holds for every file. The teacher is the largest single network of every preset (the discriminator has the
same backbone, ADIM's two of them), and teacher pretraining holds its activations alone, so ``batch x input bytes x
factor`` is a lower bound on the memory of any training step
(:func:`advdist_lab.methods.config.batch_memory_bytes`)."""

_IMAGE_INPUTS = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


@dataclass(frozen=True)
class Architecture:
    """A named preset: each field builds a fresh, independently initialised module when called."""

    name: str
    student: Callable[[], nn.Module]
    teacher: Callable[[], nn.Module]
    discriminator_backbone: Callable[[], nn.Module]
    description: str = ""

    def binary_discriminator(self) -> BinaryDiscriminator:
        """A fresh NGAN / ADIB discriminator (Eq. 16) on a new backbone."""
        return BinaryDiscriminator(self.discriminator_backbone())

    def multiclass_discriminator(self) -> MulticlassDiscriminator:
        """A fresh ADIM discriminator: two new backbones, real-vs-fake and student-vs-teacher (Sec. 5)."""
        return MulticlassDiscriminator(self.discriminator_backbone(), self.discriminator_backbone())


def saved_activation_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors that ``module(x)`` keeps for its backward pass (``torch.autograd.graph``'s saved-tensor
    hooks; each storage counted once, the parameters not at all), in the module's current mode. How
    :data:`ACTIVATION_FACTORS` was measured."""
    if not isinstance(module, nn.Module) or not isinstance(x, torch.Tensor):
        got = f"{type(module).__name__}, {type(x).__name__}"
        raise ValueError(f"module must be an nn.Module and x a tensor (got {got})")
    parameters = {p.data_ptr() for p in module.parameters()}
    kept: dict[tuple[int, int], int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.data_ptr() not in parameters:
            kept[(tensor.data_ptr(), tensor.nbytes)] = tensor.nbytes
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(x)
    return sum(kept.values())


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (those with ``requires_grad``) of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _check_shape(name: str, shape: object) -> tuple[int, ...]:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or len(shape) == 0:
        raise ValueError(f"{name} must be a non-empty tuple of integers >= 1 (got {shape!r})")
    return tuple(check_positive_int(f"{name}[{i}]", s) for i, s in enumerate(shape))


def _check_shapes(dataset: str, input_shape: tuple[int, ...], student_shape: tuple[int, ...]) -> None:
    if dataset == "synthetic":
        if len(input_shape) != 1:
            raise ValueError(f"input_shape for dataset 'synthetic' must be (d,) (got {input_shape})")
        if len(student_shape) != 1:
            raise ValueError(f"student_shape for dataset 'synthetic' must be (d_s,) (got {student_shape})")
        return
    expected = _IMAGE_INPUTS[dataset]
    if input_shape != expected:
        raise ValueError(f"input_shape for dataset {dataset!r} must be {expected} (got {input_shape})")
    channels, height, width = expected
    smallest = 4 if dataset == "cifar10" else 1  # the CIFAR-10 student is a LeNet: two pools need 4x4
    if (
        len(student_shape) != 3
        or student_shape[0] != channels
        or not (smallest <= student_shape[1] <= height and smallest <= student_shape[2] <= width)
    ):
        raise ValueError(
            f"student_shape for dataset {dataset!r} must be ({channels}, h, w) with {smallest} <= h <= {height} "
            f"and {smallest} <= w <= {width}: a view no larger than the input (got {student_shape})"
        )


def _check_feature_dims(
    dataset: str, input_shape: tuple[int, ...], student_shape: tuple[int, ...], feature_dims: object
) -> tuple[int, int]:
    """``(d_image, d_text)`` of a tag dataset: given, or read off the shapes (``x = [image, text]``, student: image)."""
    if len(input_shape) != 1 or len(student_shape) != 1:
        raise ValueError(
            f"input_shape and student_shape for dataset {dataset!r} must be (d_image + d_text,) and (d_image,) "
            f"(got {input_shape} and {student_shape})"
        )
    if feature_dims is None:
        feature_dims = (student_shape[0], input_shape[0] - student_shape[0])
    if isinstance(feature_dims, (str, bytes)) or not isinstance(feature_dims, Sequence) or len(feature_dims) != 2:
        raise ValueError(f"feature_dims must be a pair (d_image, d_text) of integers >= 1 (got {feature_dims!r})")
    d_image = check_positive_int("feature_dims[0] (d_image)", feature_dims[0])
    d_text = check_positive_int("feature_dims[1] (d_text)", feature_dims[1])
    if student_shape != (d_image,) or input_shape != (d_image + d_text,):
        raise ValueError(
            f"feature_dims (d_image, d_text) = {(d_image, d_text)} must fit the shapes: student_shape (d_image,) and "
            f"input_shape (d_image + d_text,) (got {student_shape} and {input_shape})"
        )
    return d_image, d_text


def build_players(
    dataset: str,
    *,
    num_classes: int,
    input_shape: tuple[int, ...],
    student_shape: tuple[int, ...],
    feature_dims: tuple[int, int] | None = None,
) -> Architecture:
    """The preset of ``dataset`` (one of :data:`DATASETS`, :data:`SHARED_PRESETS` or :data:`TAG_DATASETS`) for
    ``num_classes`` labels; see the module docstring (``fashion-mnist`` gets the ``mnist`` preset under its own name).

    ``input_shape`` is the shape of one privileged input ``x`` (read by the teacher and the discriminator),
    ``student_shape`` that of the student's view. ``feature_dims = (d_image, d_text)`` (tag datasets only) says how
    ``x = [image, text]`` splits; by default it is read off the shapes. Raises ``ValueError`` for an unknown dataset,
    fewer than two classes, or shapes that do not fit the dataset (e.g. ``mnist`` needs ``input_shape == (1, 28,
    28)``).
    """
    check_choice("dataset", dataset, DATASETS + tuple(SHARED_PRESETS) + TAG_DATASETS)
    check_int_at_least("num_classes", num_classes, 2)
    input_shape = _check_shape("input_shape", input_shape)
    student_shape = _check_shape("student_shape", student_shape)
    k = num_classes
    if dataset in TAG_DATASETS:
        d_image, d_text = _check_feature_dims(dataset, input_shape, student_shape, feature_dims)
        privileged = partial(ProductMLP, d_image, d_text, k, hidden=TAG_HIDDEN, dropout=TAG_PRIVILEGED_DROPOUT)
        return Architecture(
            name=dataset,
            student=partial(tag_student, d_image, k),
            teacher=privileged,
            discriminator_backbone=privileged,
            description=(
                f"S: MLP {d_image}-{TAG_HIDDEN}-{k} on the image; T and D: MLP {TAG_HIDDEN}-{TAG_HIDDEN}-{k} on "
                f"(image {d_image}->{TAG_HIDDEN}) * (text {d_text}->{TAG_HIDDEN})"
            ),
        )
    if feature_dims is not None:
        raise ValueError(f"feature_dims is only for the tag datasets {', '.join(TAG_DATASETS)} (got {dataset!r})")
    _check_shapes(dataset, input_shape, student_shape)
    student_features = math.prod(student_shape)

    if SHARED_PRESETS.get(dataset, dataset) == "mnist":
        teacher = partial(LeNet, 1, 28, k, hidden=MNIST_TEACHER_HIDDEN, dropout=PRIVILEGED_DROPOUT)
        return Architecture(
            name=dataset,
            student=partial(MLP, student_features, (800, 800), k, dropout=STUDENT_DROPOUT),
            teacher=teacher,
            discriminator_backbone=teacher,
            description=f"S: MLP {student_features}-800-800-{k}; T and D: LeNet 32-64-fc{MNIST_TEACHER_HIDDEN}",
        )
    if dataset == "cifar10":
        depth, growth = CIFAR10_TEACHER_DENSENET
        teacher = partial(DenseNet, depth, growth, k, in_channels=3)
        return Architecture(
            name="cifar10",
            student=partial(LeNet, 3, student_shape[1:], k, hidden=CIFAR10_STUDENT_HIDDEN, dropout=STUDENT_DROPOUT),
            teacher=teacher,
            discriminator_backbone=teacher,
            description=f"S: LeNet 32-64-fc{CIFAR10_STUDENT_HIDDEN}; T and D: DenseNet-BC L={depth} k={growth}",
        )
    if dataset == "digits":
        teacher = partial(LeNet, 1, 8, k, channels=(16, 32), hidden=128, kernel=3)
        return Architecture(
            name="digits",
            student=partial(MLP, student_features, (64,), k),
            teacher=teacher,
            discriminator_backbone=teacher,
            description=f"S: MLP {student_features}-64-{k}; T and D: LeNet 3x3 16-32-fc128",
        )
    d = input_shape[0]
    return Architecture(
        name="synthetic",
        student=partial(MLP, student_features, (64,), k),
        teacher=partial(MLP, d, (128, 128), k),
        discriminator_backbone=partial(MLP, d, (128,), k),
        description=f"S: MLP {student_features}-64-{k}; T: MLP {d}-128-128-{k}; D: MLP {d}-128-{k}",
    )
