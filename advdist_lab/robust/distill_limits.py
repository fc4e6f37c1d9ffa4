"""The limits a data-free robust distillation run (DFARD, DERD) is checked against before any work.

* :func:`check_run_limits` (called by :class:`advdist_lab.robust.dfard.DfardConfig` and
  :class:`advdist_lab.robust.derd.config.DerdConfig` when they are built): ``epochs`` within
  :data:`advdist_lab.hparams.MAX_EPOCHS` and the step counts (``iterations``, ``tg``, ``ts``, ``train_steps``)
  within :data:`advdist_lab.hparams.MAX_ITERATIONS`, the messages saying why the bound is there; ``final_size`` at
  most the dataset's test split (:data:`advdist_lab.robust.data.TEST_SPLIT_SIZES`: 500 digits, 10,000 CIFAR-10
  images), instead of silently evaluating fewer images than asked (``val_size`` and ``eval_size``, on the
  validation split held out from the training split, are checked by
  :class:`advdist_lab.robust.distill_config.DistillConfig`).
* :func:`check_batch_fits` (called by :func:`advdist_lab.robust.dfard.run_dfard` and
  :func:`advdist_lab.robust.derd.run_derd` before the run folder is touched): the memory one batch needs, from
  :func:`batch_bytes`, against what the run's device has available
  (:func:`advdist_lab.environment.check_fits_in_memory`), so that a batch that cannot fit is refused in one line
  naming ``batch_size`` instead of failing inside the first step.

**The estimate.** One step of Algorithm 1 keeps, for its backward pass, the activations of the generator, of every
teacher the generator's loss reads (the input gradient flows through them) and of the student, for one batch.
Each network keeps about ``factor`` activation values per input value (measured per architecture:
:data:`advdist_lab.robust.models.ACTIVATION_FACTORS`, :func:`advdist_lab.robust.models.activation_factor`,
:data:`advdist_lab.robust.generation.generators.GENERATOR_ACTIVATION_FACTOR`), so::

    bytes = batch_size * C * H * W * 4 * (generator factor + teachers' factors + student factor)

in float32. The teachers' architectures are in their model files, which are not read before the run: the
estimate takes the dataset's default teacher (:data:`advdist_lab.robust.models.DEFAULT_TEACHERS`; WRN-34-10 on
CIFAR-10, whose factor of about 2,000 dominates), once per teacher the method reads. It is a rough size (the
gradients, the optimisers' state and the data set are left out), meant to refuse a batch that cannot fit, not to
predict the peak: DFARD's CIFAR-10 defaults (batch 256, WRN-34-10 and ResNet-18) come to about 8 GB.
"""

from __future__ import annotations

import math

from advdist_lab.environment import check_fits_in_memory, resolve_device
from advdist_lab.hparams import check_epochs, check_iterations, check_positive_int
from advdist_lab.robust.data import TEST_SPLIT_SIZES, dataset_stats
from advdist_lab.robust.generation.generators import GENERATOR_ACTIVATION_FACTOR
from advdist_lab.robust.models import DEFAULT_TEACHERS, activation_factor

__all__ = ["batch_bytes", "check_batch_fits", "check_run_limits"]

_STEP_COUNTS = ("iterations", "tg", "ts", "train_steps")


def check_run_limits(config) -> None:
    """``ValueError`` naming the field when ``config`` (a DFARD or DERD config, before or after ``resolved()``)
    asks for more epochs or steps than the sane bounds or evaluates more test images (``final_size``) than its dataset
    has."""
    if config.epochs is not None:
        check_epochs("epochs", config.epochs)
    for name in _STEP_COUNTS:
        value = getattr(config, name)
        if value is not None:
            check_iterations(name, value)
    split = TEST_SPLIT_SIZES[config.dataset]
    if config.final_size is not None and config.final_size > split:
        raise ValueError(
            f"final_size must be <= {split:,}, the test split of {config.dataset} (got {config.final_size:,}); leave "
            "it out to evaluate the whole split"
        )


def batch_bytes(config, teachers: int = 1) -> int:
    """The rough memory of one step of a resolved ``config`` (module docstring), with ``teachers`` teachers of the
    dataset's default architecture read by the generator's loss."""
    teachers = check_positive_int("teachers", teachers)
    _, _, image_shape, _ = dataset_stats(config.dataset)
    factor = GENERATOR_ACTIVATION_FACTOR + teachers * activation_factor(DEFAULT_TEACHERS[config.dataset])
    factor += activation_factor(config.student_arch)
    return config.batch_size * math.prod(image_shape) * 4 * factor


def check_batch_fits(config, teachers: int = 1) -> int:
    """:func:`batch_bytes` of a resolved ``config``, or ``ValueError`` naming ``batch_size`` when it exceeds the
    memory available on the config's device."""
    return check_fits_in_memory("batch_size", batch_bytes(config, teachers), resolve_device(config.device))
