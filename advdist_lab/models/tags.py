"""Players of image tag recommendation (KDGAN Sec. 4.2, TPAMI Sec. 5.2): an image-only student and privileged
teacher and discriminator that also read the item's text.

TPAMI Sec. 5.2: "We implement the scoring function f(x, y) [the student] as an MLP taking visual features as input
and g(x, y) [the teacher; the discriminator likewise, Eq. 16] as an MLP taking element-wise product of the visual and
the textual features as input". KDGAN Sec. 4.2 says the same of its classifier ``h`` and teacher ``s``. The
appendix with the exact widths is missing from our copies; the sizes below are ours, modest enough that one method
on the default data (20,000 items, 200 tags) trains on two CPU cores in minutes.

* Student: ``MLP(d_image, (256,), L)`` with dropout :data:`TAG_STUDENT_DROPOUT` (:class:`advdist_lab.models.MLP`).
* Teacher and each discriminator backbone: :class:`ProductMLP`. The image and the text are projected to a common
  width ``h`` (linear maps, as the VGG features and the LSTM state of the papers live in different spaces), their
  element-wise product ``u_image * u_text`` is the joint feature, and an MLP ``h -> h -> L`` scores every tag.
  The projections' biases start at 1, so that ``(1 + a) * (1 + b) = 1 + a + b + a * b`` carries each view's own
  evidence besides their interaction from the first step. Measured on the generated ``tags-popular`` data
  (20,000 items, teacher alone, 10 supervised epochs): test P@3 0.20 after one epoch and at best 0.33 with
  PyTorch's default biases, 0.34 and 0.38 with biases at 1 (an MLP on the concatenated views: 0.33 and 0.38; the
  student on the image alone: 0.26 and 0.29).

The privileged input is ``x = cat([image, text], dim=1)`` (the tag data's ``Split.x``); ``feature_dims =
(d_image, d_text)`` says where to split it. The student reads ``x_student = image``.
"""

from __future__ import annotations

import torch
from torch import nn

from advdist_lab.hparams import check_positive_int
from advdist_lab.models.mlp import MLP, check_dropout

__all__ = ["TAG_HIDDEN", "TAG_PRIVILEGED_DROPOUT", "TAG_STUDENT_DROPOUT", "ProductMLP", "tag_student"]

TAG_HIDDEN = 256
"""Hidden width of every tag player: the student's hidden layer, the teacher's projections and MLP."""

TAG_STUDENT_DROPOUT = 0.1
"""Dropout of the tag student's hidden layer."""

TAG_PRIVILEGED_DROPOUT = 0.0
"""Dropout of the joint feature and hidden layer of the tag teacher and discriminator: none. Measured on
tags-popular, the teacher reaches the same best P@3 with dropout 0, 0.1 or 0.3, and dropout cost 14% of an ADIM
epoch (the discriminator's backbones run several forward passes per step)."""


class ProductMLP(nn.Module):
    """``x = [image, text] -> MLP(P_i image * P_t text)``: the teacher ``g(x, y)`` of TPAMI Sec. 5.2.

    ``P_i: R^{d_image} -> R^h`` and ``P_t: R^{d_text} -> R^h`` are affine projections (biases initialised to 1,
    see the module docstring); their element-wise product
    goes through ``Linear(h, h), ReLU, Linear(h, L)``, with dropout ``dropout`` on the product and the hidden layer.
    Returns one logit per tag, shape ``(B, L)``, as every backbone of :mod:`advdist_lab.models` does.
    """

    def __init__(self, d_image: int, d_text: int, num_classes: int, hidden: int = TAG_HIDDEN, dropout: float = 0.0):
        super().__init__()
        self.d_image = check_positive_int("d_image", d_image)
        self.d_text = check_positive_int("d_text", d_text)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.hidden = check_positive_int("hidden", hidden)
        self.dropout = check_dropout(dropout)
        self.image_projection = nn.Linear(self.d_image, self.hidden)
        self.text_projection = nn.Linear(self.d_text, self.hidden)
        for projection in (self.image_projection, self.text_projection):
            nn.init.ones_(projection.bias)  # (1 + a) * (1 + b): each view's own evidence plus their interaction
        self.head = nn.Sequential(
            nn.Dropout(self.dropout),
            nn.Linear(self.hidden, self.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(self.dropout),
            nn.Linear(self.hidden, self.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, L)`` for ``x`` of shape ``(B, d_image + d_text)`` (image features first)."""
        if x.dim() != 2 or x.shape[1] != self.d_image + self.d_text:
            raise ValueError(
                f"ProductMLP expects a batch (B, d_image + d_text) = (B, {self.d_image + self.d_text}) of image "
                f"features followed by text features (got shape {tuple(x.shape)})"
            )
        image, text = x.split((self.d_image, self.d_text), dim=1)
        return self.head(self.image_projection(image) * self.text_projection(text))

    def extra_repr(self) -> str:
        return f"d_image={self.d_image}, d_text={self.d_text}, hidden={self.hidden}, num_classes={self.num_classes}"


def tag_student(d_image: int, num_classes: int, hidden: int = TAG_HIDDEN) -> MLP:
    """The tag student ``f(x, y)`` of TPAMI Sec. 5.2: an MLP on the image features alone."""
    return MLP(d_image, (hidden,), num_classes, dropout=TAG_STUDENT_DROPOUT)
