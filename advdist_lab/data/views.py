"""The views of an image task: what the student sees (``x_student``) while the teacher and the discriminator
see the full image ``x`` (the privileged provision of TPAMI Sec. 3, "learning with privileged information")."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["VIEWS", "image_student_view"]

VIEWS = ("full", "lowres")
"""``full``: the student sees ``x`` itself (model compression, the privilege is the teacher's capacity).
``lowres``: the student sees a reduced ``x`` (learning with privileged information, the privilege is the extra
input the teacher sees)."""


def image_student_view(x: torch.Tensor, view: str) -> torch.Tensor:
    """The student's view of a batch of images ``(N, C, H, W)``: ``x`` itself, or its 2x2 average pooling."""
    if view == "full":
        return x
    return F.avg_pool2d(x, kernel_size=2)
