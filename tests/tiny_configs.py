"""The tiny digits run that the training tests share (30 images, 2 epochs, one pretraining epoch per player): every
run takes well under a second. Test modules import it directly (pytest puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

from advdist_lab.methods import TrainConfig

TINY = {
    "dataset": "digits",
    "n_train": 30,
    "epochs": 2,
    "teacher_pretrain_epochs": 1,
    "student_pretrain_epochs": 1,
    "device": "cpu",
}


def tiny(**changes) -> TrainConfig:
    """:data:`TINY` with ``changes`` applied."""
    return TrainConfig(**{**TINY, **changes})
