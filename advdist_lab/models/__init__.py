"""Players of adversarial distillation: students, teachers and discriminators, and the paper's architectures.

* :class:`MLP`, :class:`LeNet`, :class:`DenseNet`: backbones that return one logit per label.
* :class:`BinaryDiscriminator` (NGAN, ADIB; TPAMI Eq. 16) and :class:`MulticlassDiscriminator` (ADIM, two
  binary heads as in Sec. 5), both scoring ``<y, g(x)>`` for integer, one-hot or relaxed labels ``y``.
* :class:`ProductMLP`: the privileged tag recommender of TPAMI Sec. 5.2 (an MLP on image * text features).
* :func:`build_players`: the preset student, teacher and discriminator backbone of each dataset, with the
  parameter counts of TPAMI Tables 2 and 3 (:data:`TABLE2_PARAMETERS`, :data:`TABLE3_PARAMETERS`).
"""

from advdist_lab.models.densenet import DenseNet
from advdist_lab.models.discriminators import BinaryDiscriminator, MulticlassDiscriminator, label_score
from advdist_lab.models.lenet import LeNet
from advdist_lab.models.mlp import MLP
from advdist_lab.models.presets import (
    ACTIVATION_FACTORS,
    CIFAR10_STUDENT_HIDDEN,
    CIFAR10_TEACHER_DENSENET,
    DATASETS,
    MNIST_TEACHER_HIDDEN,
    PRIVILEGED_DROPOUT,
    STUDENT_DROPOUT,
    TABLE2_PARAMETERS,
    TABLE3_PARAMETERS,
    TAG_DATASETS,
    Architecture,
    build_players,
    count_parameters,
    saved_activation_bytes,
)
from advdist_lab.models.tags import ProductMLP

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
    "Architecture",
    "BinaryDiscriminator",
    "DenseNet",
    "LeNet",
    "MLP",
    "MulticlassDiscriminator",
    "ProductMLP",
    "build_players",
    "count_parameters",
    "label_score",
    "saved_activation_bytes",
]
