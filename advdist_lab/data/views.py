"""The views of an image task: what the student sees (``x_student``) while the teacher and the discriminator see
the full image ``x``: the privileged provision of KDGAN (``003_...``, Sec. 3: the teacher "can be trained with
privileged provisions" that the student lacks at training and at inference) and of TPAMI (``000_...``, Sec. 3).

====================  ===========================================  ==============================================
view                  the student sees                              digits (1, 8, 8) / MNIST (1, 28, 28) / CIFAR
====================  ===========================================  ==============================================
``full``              ``x`` itself (the very same tensor)           (1, 8, 8) / (1, 28, 28) / (3, 32, 32)
``lowres``            the 2x2 average pooling of ``x``              (1, 4, 4) / (1, 14, 14) / (3, 16, 16)
``lowres4``           the 4x4 average pooling of ``x``              (1, 2, 2) / (1, 7, 7) / (3, 8, 8)
``crop``              the top half of ``x`` (rows ``0 .. H/2``)     (1, 4, 8) / (1, 14, 28) / (3, 16, 32)
====================  ===========================================  ==============================================

``full`` is model compression (the privilege is the teacher's capacity; TPAMI Table 1); the others are learning
with privileged information (the privilege is input the teacher sees and the student does not). ``full`` and
``lowres`` compute what they always did, so older run folders stay valid.

Why these views (the teacher's advantage, measured with the student trained alone on its view, method ``student``,
against the teacher pretrained on ``x``; 50 epochs, defaults of :class:`~advdist_lab.methods.TrainConfig`, 2 seeds;
:func:`advdist_lab.experiments.privileged` measures the same for every method):

* digits, n = 100: teacher 90.0% (seed 0); student alone on ``full`` 88.3%, ``lowres`` 80.6%, ``crop`` 76.8%,
  ``lowres4`` 44.8% (the left half: 72.4%, the centre 4x4: 79.5%). n = 300: teacher 93.4% (seed 0); ``full``
  93.8%, ``lowres`` 83.6%, ``crop`` 81.9%, ``lowres4`` 47.1%. In the ``full`` view the student reaches its teacher,
  so there is nothing privileged to distil; ``lowres`` and ``crop`` leave it 9 to 13 points below the teacher while
  it still learns most digits, the regime where distillation can matter; ``lowres4`` (4 numbers per digit) leaves
  it 45 points below.
* MNIST, n = 100 (one seed): teacher 86.4%; student alone (MLP 800-800) on ``full`` 77.1%, ``lowres`` 78.3%,
  ``lowres4`` 78.3%, ``crop`` 66.2%. Pooling takes nothing the student can use from 100 images (it does as well on
  7x7 as on 28x28); the crop widens the teacher's advantage from 9 to 20 points.

``crop`` is therefore the default view of the privileged table (``experiments.privileged.DEFAULT_VIEW``): on
both datasets it leaves the student far below its teacher and still well above chance.

Every view is a fixed, deterministic function of the image (no randomness per epoch or per image): a privileged
provision is a fixed set of features that the student lacks at training and at test time (the text of KDGAN's tag
recommendation), and a fixed geometry keeps the same image's view the same in every run, split and resumed epoch
without an image index. ``crop`` keeps the top half rather than the left half (which leaves the student lower on
digits, 72.4%) because a horizontal crop commutes with CIFAR-10's mirror augmentation: the student's view of a
mirrored image is the mirror of its view, as for the pooled views.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "IMAGE_VIEWS",
    "POOLING",
    "SYNTHETIC_VIEWS",
    "VIEWS",
    "VIEW_TEXTS",
    "check_view",
    "image_student_view",
    "view_shape",
]

VIEWS = ("full", "lowres", "lowres4", "crop")
"""Every view name (see the module docstring). The synthetic task knows :data:`SYNTHETIC_VIEWS` only, the tag
tasks ``full`` only (:func:`check_view`)."""

IMAGE_VIEWS = VIEWS
"""The views of the image datasets (digits, MNIST, Fashion-MNIST, CIFAR-10)."""

SYNTHETIC_VIEWS = ("full", "lowres")
"""The views of the synthetic task (``lowres``: the first ``d // 2`` features, :mod:`advdist_lab.data.synthetic`)."""

VIEW_TEXTS = {
    "full": "the image itself",
    "lowres": "2x2 average pooling",
    "lowres4": "4x4 average pooling",
    "crop": "the top half of the image",
}
"""What each view shows the student, in words (titles of tables and figures)."""

POOLING = {"lowres": 2, "lowres4": 4}
"""The average-pooling factor of the pooled views."""


def check_view(dataset: str, view: str) -> str:
    """``view`` if ``dataset`` has it; ``ValueError`` naming the views that ``dataset`` has otherwise.

    Image datasets have every view of :data:`VIEWS`, ``synthetic`` those of :data:`SYNTHETIC_VIEWS`, the tag
    datasets (``tags-...``) ``full`` only (the student sees the image features, the teacher image and text)."""
    if not isinstance(view, str) or view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)} (got {view!r})")
    if isinstance(dataset, str) and dataset.startswith("tags-"):
        allowed: tuple[str, ...] = ("full",)
    elif dataset == "synthetic":
        allowed = SYNTHETIC_VIEWS
    else:
        allowed = IMAGE_VIEWS
    if view not in allowed:
        raise ValueError(f"view must be one of {', '.join(allowed)} for dataset {dataset!r} (got {view!r})")
    return view


def view_shape(input_shape: tuple[int, ...], view: str) -> tuple[int, ...]:
    """The shape ``(C, h, w)`` of the student's view of one image of shape ``input_shape = (C, H, W)``; raises
    ``ValueError`` when ``view`` is unknown or the image's sides do not fit it (see :func:`image_student_view`)."""
    if not isinstance(view, str) or view not in IMAGE_VIEWS:
        raise ValueError(f"view must be one of {', '.join(IMAGE_VIEWS)} (got {view!r})")
    if len(input_shape) != 3 or any(not isinstance(s, int) or s < 1 for s in input_shape):
        raise ValueError(f"an image must have a shape (C, H, W) of integers >= 1 (got {tuple(input_shape)})")
    channels, height, width = input_shape
    if view in POOLING:
        factor = POOLING[view]
        if height % factor or width % factor:
            raise ValueError(
                f"view {view!r} pools {factor}x{factor} blocks: the image's height and width must be multiples of "
                f"{factor} (got {height}x{width})"
            )
        return channels, height // factor, width // factor
    if view == "crop":
        if height < 2:
            raise ValueError(f"view 'crop' keeps the top half: the image's height must be >= 2 (got {height})")
        return channels, height // 2, width
    return channels, height, width


def image_student_view(x: torch.Tensor, view: str) -> torch.Tensor:
    """The student's view of a batch of images ``x`` of shape ``(N, C, H, W)`` (module docstring): ``x`` itself
    (``full``), its 2x2 or 4x4 average pooling (``lowres``, ``lowres4``) or a copy of its top ``H // 2`` rows
    (``crop``). Every view but ``full`` is a new tensor. Raises ``ValueError`` for an unknown view, a tensor that
    is not a batch of images, or sides that do not fit the view (:func:`view_shape`)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a batch of images of shape (N, C, H, W) (got {shape})")
    view_shape(tuple(x.shape[1:]), view)
    if view == "full":
        return x
    if view in POOLING:
        return F.avg_pool2d(x, kernel_size=POOLING[view])
    return x[:, :, : x.shape[2] // 2, :].clone(memory_format=torch.contiguous_format)
