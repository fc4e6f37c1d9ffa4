"""The conditional generator ``g(z, y)`` of DAFL-style data-free distillation (DFARD, ``001_...``).

DFARD synthesises its training data as ``x_hat = g(z, y)`` from Gaussian noise ``z`` and a label ``y`` ("The
Knowledge from the Data", the text under Eq. 1) and trains ``g`` on ``L_gen`` (Eq. 6); the paper does not give the
architecture. The DFARD-family code it follows (RSLAD protocol) uses the generator of DAFL (Chen et al. 2019,
``nz = 100``, ``ngf = 64``): a linear layer to a ``2 ngf x H/4 x W/4`` map, batch norm, then two blocks of
nearest-neighbour upsampling x2, 3x3 convolution, batch norm and LeakyReLU(0.2), and a last 3x3 convolution to the
image channels. :class:`ConditionalGenerator` is that network with a label input.

**Where the paper is silent, and what we chose.**

* Label conditioning: DAFL's generator is unconditional. We embed ``y`` with a learnt ``nn.Embedding(C, z_dim)``
  and concatenate it to ``z`` before the linear layer (a plain concatenation, as in conditional GANs; the
  embedding is initialised ``N(0, 1)`` like ``z``, so from the first step the label changes the image).
* Output range: DAFL ends in ``tanh`` followed by an affine-free batch norm (images in normalised units). Our
  models take inputs in ``[0, 1]`` and normalise inside (see :mod:`advdist_lab.robust.attacks.gradient`), and the PGD of
  the distillation stage clips to ``[0, 1]``, so the last convolution is followed by a **sigmoid** and no batch
  norm: every generated pixel lies in ``[0, 1]`` (strictly inside it, up to float rounding at saturation).
* Image sizes: any ``(channels, H, W)`` with ``H`` and ``W`` positive multiples of 4 (the two x2 upsamplings
  start from ``H/4 x W/4``); this covers the project's ``1 x 8 x 8`` digits and ``3 x 32 x 32`` CIFAR-10. Other
  shapes raise a :class:`ValueError`.
* Defaults: ``z_dim = 100`` and ``width = 64`` (DAFL's ``nz`` and ``ngf``); for 8x8 digits a smaller ``width``
  (e.g. 32) is plenty and faster on a CPU.
* Sampling (:meth:`ConditionalGenerator.sample`): ``z ~ N(0, I)`` and labels uniform over the ``C`` classes
  (DFARD: "y can be randomly generated labels").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from advdist_lab.files import UnsafeFileError, load_tensors

__all__ = [
    "GENERATOR_ACTIVATION_FACTOR",
    "GENERATOR_FORMAT",
    "ConditionalGenerator",
    "generator_checkpoint",
    "load_generator",
    "sample_grid",
]

GENERATOR_ACTIVATION_FACTOR = 250
"""About how many activation values :class:`ConditionalGenerator` keeps for its backward pass per generated pixel
value (measured: 235 for 8x8 digits at ``width = 32``, 157 for 32x32 CIFAR images at ``width = 64``); with
:data:`advdist_lab.robust.models.ACTIVATION_FACTORS`, the rough size of a batch that
:mod:`advdist_lab.robust.distill_limits` refuses before any work when it cannot fit."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _image_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(_is_int(s) for s in shape):
        raise ValueError(f"image_shape must be three integers (channels, H, W), e.g. (1, 8, 8) (got {image_shape!r})")
    channels, height, width = shape
    if channels < 1 or height < 4 or width < 4 or height % 4 or width % 4:
        raise ValueError(
            "image_shape must be (channels >= 1, H, W) with H and W positive multiples of 4, e.g. (1, 8, 8) for "
            f"digits or (3, 32, 32) for CIFAR-10 (got {shape})"
        )
    return channels, height, width


class ConditionalGenerator(nn.Module):
    """DAFL's generator with a label input: ``g(z, y)`` -> images in ``[0, 1]`` (DFARD Eq. 1 and 6 train it).

    Args:
        num_classes: ``C >= 2``, the number of labels ``y`` can take.
        image_shape: ``(channels, H, W)`` with ``H`` and ``W`` multiples of 4, e.g. ``(1, 8, 8)`` or ``(3, 32, 32)``.
        z_dim: dimension of the noise ``z`` (DAFL's ``nz = 100``).
        width: DAFL's ``ngf``; the hidden maps have ``2 * width`` then ``width`` channels.

    ``forward(z, y)`` takes ``z`` of shape ``(B, z_dim)`` and integer labels ``y`` of shape ``(B,)`` in ``[0, C)``
    and returns ``(B, channels, H, W)``. In training mode its batch norms need ``B >= 2`` for 4x4 images.
    """

    def __init__(self, num_classes: int, image_shape: Sequence[int], z_dim: int = 100, width: int = 64) -> None:
        super().__init__()
        if not _is_int(num_classes) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2 (got {num_classes!r})")
        if not _is_int(z_dim) or z_dim < 1:
            raise ValueError(f"z_dim must be a positive integer (got {z_dim!r})")
        if not _is_int(width) or width < 1:
            raise ValueError(f"width must be a positive integer (got {width!r})")
        self.num_classes = num_classes
        self.image_shape = _image_shape(image_shape)
        self.z_dim = z_dim
        self.width = width
        channels, height, wide = self.image_shape
        self.init_size = (height // 4, wide // 4)
        self.label_embedding = nn.Embedding(num_classes, z_dim)
        self.fc = nn.Linear(2 * z_dim, 2 * width * self.init_size[0] * self.init_size[1])
        self.blocks = nn.Sequential(
            nn.BatchNorm2d(2 * width),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(2 * width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, channels, 3, padding=1),
            nn.Sigmoid(),
        )

    def _device(self) -> torch.device:
        return self.fc.weight.device

    def _check_labels(self, y: torch.Tensor, batch: int) -> None:
        if not isinstance(y, torch.Tensor) or y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
            raise ValueError(f"labels must be an integer tensor of shape ({batch},) (got {y!r:.80})")
        if tuple(y.shape) != (batch,):
            raise ValueError(f"labels must have shape (batch,) = ({batch},) (got {tuple(y.shape)})")
        if batch and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(
                f"labels must lie in [0, num_classes) = [0, {self.num_classes}) "
                f"(got min {int(y.min())}, max {int(y.max())})"
            )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``g(z, y)``: ``(B, z_dim)`` noise and ``(B,)`` labels -> ``(B, *image_shape)`` images in ``[0, 1]``."""
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != self.z_dim or z.shape[0] < 1:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must be a tensor of shape (batch >= 1, z_dim) = (B, {self.z_dim}) (got {shape})")
        self._check_labels(y, z.shape[0])
        h = torch.cat([z, self.label_embedding(y.to(z.device))], dim=1)
        h = self.fc(h).view(z.shape[0], 2 * self.width, *self.init_size)
        return self.blocks(h)

    def sample(
        self, batch: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw ``z ~ N(0, I)`` and (unless ``labels`` is given) uniform labels ``y``; return ``(g(z, y), y, z)``.

        ``generator`` (a :class:`torch.Generator`) makes the draw reproducible; the draw happens on the
        generator's device and is moved to the module's. Gradients flow from the images to the parameters.
        """
        if not _is_int(batch) or batch < 1:
            raise ValueError(f"batch must be a positive integer (got {batch!r})")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator or None (got {type(generator).__name__})")
        draw_device = generator.device if generator is not None else self._device()
        z = torch.randn(batch, self.z_dim, generator=generator, device=draw_device).to(self._device())
        if labels is None:
            labels = torch.randint(0, self.num_classes, (batch,), generator=generator, device=draw_device)
        else:
            self._check_labels(labels, batch)
        labels = labels.to(self._device())
        return self(z, labels), labels, z


GENERATOR_FORMAT = "advdist-lab-generator"


def generator_checkpoint(generator: ConditionalGenerator) -> dict:
    """What ``generator.pt`` of a DFARD or DERD run holds: the constructor's arguments and the weights."""
    return {
        "format": GENERATOR_FORMAT,
        "num_classes": generator.num_classes,
        "image_shape": list(generator.image_shape),
        "z_dim": generator.z_dim,
        "width": generator.width,
        "state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
    }


def load_generator(path: str, device: str | torch.device = "cpu") -> ConditionalGenerator:
    """The generator saved by a run (``OUT/generator.pt``, or the run folder ``OUT``), in eval mode."""
    import os

    file = os.path.join(path, "generator.pt") if os.path.isdir(path) else path
    if not os.path.isfile(file):
        raise ValueError(f"no generator at {file} (a DFARD or DERD run folder holds generator.pt)")
    try:
        stored = load_tensors(file, what="generator file")
    except UnsafeFileError:
        raise
    except Exception as error:  # damaged or foreign files
        raise ValueError(f"{file} cannot be read ({type(error).__name__}: {error})") from None
    if not isinstance(stored, dict) or stored.get("format") != GENERATOR_FORMAT:
        raise ValueError(f"{file} is not an advdist-lab generator file")
    generator = ConditionalGenerator(
        stored["num_classes"], stored["image_shape"], z_dim=stored["z_dim"], width=stored["width"]
    )
    generator.load_state_dict(stored["state_dict"])
    return generator.to(device).eval()


@torch.no_grad()
def sample_grid(
    generator: ConditionalGenerator, per_class: int = 8, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images of every class, class by class: ``(images (C * per_class, ...), labels)`` on the CPU.

    Drawn in eval mode (batch norm on its running statistics) from a generator seeded with ``seed``; the
    module's mode is restored afterwards. For showing what a data-free generator produces (notebooks 08, 09).
    """
    if not _is_int(per_class) or per_class < 1:
        raise ValueError(f"per_class must be a positive integer (got {per_class!r})")
    was_training = generator.training
    generator.eval()
    try:
        labels = torch.arange(generator.num_classes).repeat_interleave(per_class)
        rng = torch.Generator(device=generator._device()).manual_seed(seed)
        images, labels, _ = generator.sample(len(labels), generator=rng, labels=labels.to(generator._device()))
    finally:
        generator.train(was_training)
    return images.cpu(), labels.cpu()
