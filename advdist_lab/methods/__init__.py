"""The methods of TPAMI Table 1, one module each, sharing one training loop (:mod:`.loop`).

============  ==================================================  ===========================
method        players trained in the main loop                    module
============  ==================================================  ===========================
``mimic``     student (L2 on a pretrained teacher's logits)        :mod:`.kd`
``distn``     student (Hinton's soft targets + hard labels)        :mod:`.kd`
``noisy``     student (L2 on noise-perturbed teacher logits)       :mod:`.kd`
``codis``     student and teacher, online codistillation           :mod:`.kd`
``ngan``      student and binary discriminator (Eq. 3)             :mod:`.ngan`
``adib``      student, teacher, binary discriminator (Eq. 4)       :mod:`.adib`
``adim``      student, teacher, multi-class discriminator (Eq. 6)  :mod:`.adim`
``adim-ngs``  ADIM with the score-function gradient (no GS trick)  :mod:`.adim`
``student``   student alone, cross-entropy on labels (Eq. 1)      :mod:`.student`
============  ==================================================  ===========================
"""

from __future__ import annotations

from .adib import Adib
from .adim import Adim, AdimNgs
from .base import Batch, Method, Players, StepContext, Terms
from .config import ADVERSARIAL, KD_BASELINES, METHODS, TrainConfig, default_batch_size
from .kd import Codis, Distn, Mimic, Noisy
from .ngan import Ngan
from .student import Student

_REGISTRY: dict[str, type[Method]] = {
    cls.name: cls for cls in (Mimic, Distn, Noisy, Codis, Ngan, Adib, Adim, AdimNgs, Student)
}

DISPLAY_NAMES = {name: name.upper() for name in METHODS}


def get_method(name: str) -> Method:
    """The method called ``name`` (one of :data:`METHODS`); ``ValueError`` listing them otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {name!r})")
    return _REGISTRY[name]()


__all__ = [
    "ADVERSARIAL",
    "DISPLAY_NAMES",
    "KD_BASELINES",
    "METHODS",
    "Batch",
    "Method",
    "Players",
    "StepContext",
    "Terms",
    "TrainConfig",
    "default_batch_size",
    "get_method",
]
