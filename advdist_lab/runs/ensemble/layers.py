"""The players of ``M`` runs as one batched module: every tensor carries a leading member dimension.

:func:`stack_members` takes ``M`` solo modules of one architecture (each initialised by its own run, so that member
``m`` starts from the very weights of solo run ``m``) and returns one module whose forward maps ``(M, B, ...)`` to
``(M, B, K)``, member ``m`` computed with member ``m``'s weights only. Its ``state_dict`` has the solo module's keys,
each tensor with a leading member dimension, so :func:`member_state` gives back member ``m``'s solo state dict.

Mechanism, chosen by measurement (``bench/ensemble_speed.py``; forward + backward on one CPU thread, against ``M``
solo passes, digits sizes, batch 10):

* Linear layers as one batched matmul, ``torch.baddbmm`` with weights ``(M, out, in)``: MLP students 3.8x faster at
  ``M = 8`` and 5.4x at ``M = 32``; ``torch.func.stack_module_state`` + ``functional_call`` + ``vmap`` gave 1.9x and
  3.3x (its dispatch costs about 0.5 ms per call: 5x slower than a solo pass at ``M = 1``).
* Convolutions as one grouped convolution (``groups = M``), the activations kept in the grouped layout
  ``(B, M * C, H, W)`` from the first convolution to the flatten: the digits LeNet 2.7x (``M = 8``) and 3.2x
  (``M = 32``) against vmap's 2.2x and 2.7x. On the MNIST LeNet (28x28, fc 1452, batch 50) neither helps on the
  CPU: a grouped convolution is compute-bound there (0.7x at ``M = 4``, vmap 0.67x); the gain is in the small models.
* ReLU and max-pooling are element- or channel-wise, hence per member in either layout. Dropout
  (:class:`MemberDropout`, always in the member-first layout ``(M, B, ...)``: the MLPs, LeNet's classifier, the tag
  players' heads) draws member ``m``'s mask from member ``m``'s own generator when the batch hands it one per member
  (:func:`set_dropout_generators`; the batched trainer hands them every epoch, seeded as the solo run seeds torch's
  global generator), as ``torch.nn.functional.dropout`` draws it on the CPU (``bernoulli_(1 - p)``, divided by
  ``1 - p``): on the CPU member ``m``'s masks are the solo run's bit for bit. Without generators (or with CUDA's
  fused dropout kernel in the solo run) the masks come from the global generator: members are independent runs but
  not their solo runs' twins. BatchNorm would be per member in the grouped layout (``M * C`` channels) but no
  supported architecture has one.

Supported: :class:`~advdist_lab.models.MLP`, :class:`~advdist_lab.models.LeNet` (the digits, MNIST and
Fashion-MNIST students and teachers), :class:`~advdist_lab.models.ProductMLP` (the tag teacher and discriminator
backbones; the tag student is an MLP) and the binary and multi-class discriminators on those backbones.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...models.discriminators import BinaryDiscriminator, MulticlassDiscriminator
from ...models.lenet import LeNet
from ...models.mlp import MLP
from ...models.tags import ProductMLP

__all__ = [
    "MemberBinaryDiscriminator",
    "MemberConv2d",
    "MemberDropout",
    "MemberLeNet",
    "MemberLinear",
    "MemberMLP",
    "MemberMaxPool2d",
    "MemberMulticlassDiscriminator",
    "MemberProductMLP",
    "member_state",
    "set_dropout_generators",
    "stack_members",
]


def _stacked(tensors: Sequence[torch.Tensor]) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach() for t in tensors]).contiguous())


class MemberLinear(nn.Module):
    """``M`` linear layers: ``(M, B, in) -> (M, B, out)``, ``y_m = x_m W_m^T + b_m`` as one ``baddbmm``."""

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = _stacked([layer.weight for layer in layers])  # (M, out, in), the solo layout per member
        self.bias = _stacked([layer.bias for layer in layers])  # (M, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class MemberConv2d(nn.Module):
    """``M`` convolutions as one grouped convolution on the grouped layout ``(B, M * C_in, H, W)``."""

    def __init__(self, layers: Sequence[nn.Conv2d]) -> None:
        super().__init__()
        first = layers[0]
        if first.groups != 1 or first.padding_mode != "zeros":
            raise ValueError("MemberConv2d stacks plain convolutions (groups=1, zero padding)")
        self.stride, self.padding, self.dilation = first.stride, first.padding, first.dilation
        self.weight = _stacked([layer.weight for layer in layers])  # (M, out, in, kh, kw)
        self.bias = _stacked([layer.bias for layer in layers])  # (M, out)

    def forward(self, h: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """``h`` in the grouped layout; with ``shared``, ``h`` is one ``(B, C_in, H, W)`` input that every member
        reads (evaluation): one plain convolution with the members' filters side by side gives the grouped layout."""
        members = self.weight.shape[0]
        weight = self.weight.reshape(-1, *self.weight.shape[2:])
        groups = 1 if shared else members
        return F.conv2d(h, weight, self.bias.reshape(-1), self.stride, self.padding, self.dilation, groups)


class MemberMaxPool2d(nn.MaxPool2d):
    """Max-pooling (per channel, so per member in the grouped layout); a 2x2, stride-2 pool without gradient is
    computed as the maximum of the four shifted views, the same values 8x faster than ``max_pool2d`` on one CPU
    thread (measured on ``(128, 512, 8, 8)``: 4.7 ms against 38 ms); with gradient ``max_pool2d`` itself, whose
    backward is the solo one."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        plain = self.kernel_size in (2, (2, 2)) and self.stride in (2, (2, 2)) and self.padding in (0, (0, 0))
        if (
            not plain
            or self.dilation not in (1, (1, 1))
            or self.ceil_mode
            or (torch.is_grad_enabled() and h.requires_grad)
        ):
            return super().forward(h)
        batch, channels, height, width = h.shape
        h = h[..., : height // 2 * 2, : width // 2 * 2].reshape(batch, channels, height // 2, 2, width // 2, 2)
        top = torch.maximum(h[:, :, :, 0, :, 0], h[:, :, :, 0, :, 1])
        return torch.maximum(top, torch.maximum(h[:, :, :, 1, :, 0], h[:, :, :, 1, :, 1]))


class MemberDropout(nn.Dropout):
    """Dropout on ``(M, B, ...)``: with :attr:`generators` (one per member, :func:`set_dropout_generators`) member
    ``m``'s mask is drawn from ``generators[m]`` exactly as ``torch.nn.functional.dropout`` draws a solo run's on the
    CPU from the global generator (``bernoulli_(1 - p)``, divided by ``1 - p``, times the input); without, plain
    dropout from the global generator."""

    generators: tuple[torch.Generator, ...] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.generators is None or not self.training or not 0 < self.p < 1:
            return super().forward(x)
        if x.shape[0] != len(self.generators):
            raise ValueError(f"{len(self.generators)} dropout generators for input of shape {tuple(x.shape)}")
        noise = torch.empty_like(x)
        for part, generator in zip(noise, self.generators):
            part.bernoulli_(1 - self.p, generator=generator)
        noise.div_(1 - self.p)
        return x.mul_(noise) if self.inplace else x * noise


def set_dropout_generators(module: nn.Module, generators: Sequence[torch.Generator] | None) -> None:
    """Hand every :class:`MemberDropout` of ``module`` one generator per member (``None``: the global generator)."""
    for layer in module.modules():
        if isinstance(layer, MemberDropout):
            layer.generators = None if generators is None else tuple(generators)


def _convert(layer: nn.Module, column: Sequence[nn.Module]) -> nn.Module:
    """The member version of ``layer`` (the first of ``column``, one layer per member at one position)."""
    if isinstance(layer, nn.Linear):
        return MemberLinear(column)
    if isinstance(layer, nn.Conv2d):
        return MemberConv2d(column)
    if isinstance(layer, nn.Flatten):
        return nn.Identity()  # the member layouts flatten on their own
    if isinstance(layer, nn.MaxPool2d):
        return MemberMaxPool2d(**_layer_options(layer))
    if isinstance(layer, nn.Dropout):
        return MemberDropout(**_layer_options(layer))
    if isinstance(layer, nn.ReLU):
        return nn.ReLU(**_layer_options(layer))
    raise ValueError(f"no member version of {type(layer).__name__}")


def _layer_options(layer: nn.Module) -> dict:
    if isinstance(layer, nn.ReLU):
        return {"inplace": layer.inplace}
    if isinstance(layer, nn.Dropout):
        return {"p": layer.p, "inplace": layer.inplace}
    return {
        "kernel_size": layer.kernel_size,
        "stride": layer.stride,
        "padding": layer.padding,
        "dilation": layer.dilation,
        "ceil_mode": layer.ceil_mode,
    }


def _sequential(sequences: Sequence[nn.Sequential]) -> nn.Sequential:
    return nn.Sequential(*[_convert(layers[0], layers) for layers in zip(*sequences)])


def _check_members(x: torch.Tensor, members: int, who: str) -> None:
    if x.dim() < 3 or x.shape[0] != members:
        raise ValueError(
            f"the {who} of {members} members expects input (M, B, ...) with M = {members} (got {tuple(x.shape)})"
        )


class MemberMLP(nn.Module):
    """``M`` :class:`~advdist_lab.models.MLP` of one architecture: ``(M, B, ...) -> (M, B, num_classes)``."""

    def __init__(self, mlps: Sequence[MLP]) -> None:
        super().__init__()
        self.members = len(mlps)
        self.net = _sequential([m.net for m in mlps])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_members(x, self.members, "MLP")
        return self.net(x.flatten(2))


class MemberLeNet(nn.Module):
    """``M`` :class:`~advdist_lab.models.LeNet`: ``(M, B, C, H, W) -> (M, B, num_classes)``; the convolutions run on
    the grouped layout ``(B, M * C, H, W)``, the classifier on ``(M, B, features)``."""

    def __init__(self, lenets: Sequence[LeNet]) -> None:
        super().__init__()
        self.members = len(lenets)
        self.features = _sequential([m.features for m in lenets])
        self.classifier = _sequential([m.classifier for m in lenets])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_members(x, self.members, "LeNet")
        members, batch = x.shape[:2]
        first, *rest = self.features
        if x.stride(0) == 0 and isinstance(first, MemberConv2d):  # x.expand(M, ...): every member reads x[0]
            h = first(x[0], shared=True)
        else:
            h = first(x.transpose(0, 1).reshape(batch, members * x.shape[2], *x.shape[3:]))
        for layer in rest:
            h = layer(h)
        return self.classifier(h.reshape(batch, members, -1).transpose(0, 1))


class MemberProductMLP(nn.Module):
    """``M`` :class:`~advdist_lab.models.ProductMLP` (the tag teacher and discriminator backbones): ``(M, B, d_image +
    d_text) -> (M, B, num_classes)``, the projections and the head as member layers."""

    def __init__(self, mlps: Sequence[ProductMLP]) -> None:
        super().__init__()
        self.members = len(mlps)
        self.split_sizes = (mlps[0].d_image, mlps[0].d_text)
        self.image_projection = MemberLinear([m.image_projection for m in mlps])
        self.text_projection = MemberLinear([m.text_projection for m in mlps])
        self.head = _sequential([m.head for m in mlps])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_members(x, self.members, "ProductMLP")
        if x.dim() != 3 or x.shape[2] != sum(self.split_sizes):
            raise ValueError(
                f"the ProductMLP of {self.members} members expects input (M, B, d_image + d_text) = (M, B, "
                f"{sum(self.split_sizes)}) (got {tuple(x.shape)})"
            )
        image, text = x.split(self.split_sizes, dim=2)
        return self.head(self.image_projection(image) * self.text_projection(text))


def _check_label_logits(logits: torch.Tensor, x: torch.Tensor, who: str) -> torch.Tensor:
    if logits.dim() != 3 or tuple(logits.shape[:2]) != tuple(x.shape[:2]):
        raise ValueError(
            f"the {who} backbone must return (M, B, K) logits for (M, B, ...) input (got {tuple(logits.shape)})"
        )
    return logits


class MemberBinaryDiscriminator(nn.Module):
    """``M`` :class:`~advdist_lab.models.BinaryDiscriminator`: :meth:`label_logits` ``g(x)`` per member,
    ``(M, B, K)``."""

    def __init__(self, discriminators: Sequence[BinaryDiscriminator]) -> None:
        super().__init__()
        self.backbone = stack_members([d.backbone for d in discriminators])

    def label_logits(self, x: torch.Tensor) -> torch.Tensor:
        return _check_label_logits(self.backbone(x), x, "discriminator")


class MemberMulticlassDiscriminator(nn.Module):
    """``M`` :class:`~advdist_lab.models.MulticlassDiscriminator`: both heads per member, each ``(M, B, K)``."""

    def __init__(self, discriminators: Sequence[MulticlassDiscriminator]) -> None:
        super().__init__()
        self.real_fake = stack_members([d.real_fake for d in discriminators])
        self.student_teacher = stack_members([d.student_teacher for d in discriminators])

    def head_label_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g1 = _check_label_logits(self.real_fake(x), x, "real-vs-fake")
        return g1, _check_label_logits(self.student_teacher(x), x, "student-vs-teacher")


_MEMBER_TYPES = {
    MLP: MemberMLP,
    LeNet: MemberLeNet,
    ProductMLP: MemberProductMLP,
    BinaryDiscriminator: MemberBinaryDiscriminator,
    MulticlassDiscriminator: MemberMulticlassDiscriminator,
}


def stack_members(modules: Sequence[nn.Module]) -> nn.Module:
    """One batched module from ``M >= 1`` solo modules of one architecture, on their device and in their mode
    (training or evaluation); its state dict has the solo keys with a leading member dimension."""
    if len(modules) < 1:
        raise ValueError("stack_members needs at least one module")
    kind = type(modules[0])
    if kind not in _MEMBER_TYPES:
        names = ", ".join(t.__name__ for t in _MEMBER_TYPES)
        raise ValueError(f"stack_members supports {names} (got {kind.__name__})")
    shapes = {k: v.shape for k, v in modules[0].state_dict().items()}
    for index, module in enumerate(modules):
        if type(module) is not kind or {k: v.shape for k, v in module.state_dict().items()} != shapes:
            raise ValueError(f"member {index} is not a {kind.__name__} of member 0's architecture")
    stacked = _MEMBER_TYPES[kind](modules)
    return stacked.train(modules[0].training)


def member_state(module: nn.Module, member: int) -> dict[str, torch.Tensor]:
    """Member ``member``'s weights in its solo module's format (load them with ``solo.load_state_dict``)."""
    return {key: value[member].clone() for key, value in module.state_dict().items()}
