"""The robust teacher of data-free robust distillation: adversarial training, import, evaluation.

DFARD (``001_...``, "Dataset and Model") distils "the same pre-trained WideResNet (WRN) teacher models" as RSLAD
(Zi et al. 2021), whose CIFAR-10 teacher is a WRN-34-10 adversarially trained by TRADES (Zhang et al. 2019).
Those checkpoints cannot be downloaded here (no network but the package registries), so the course trains its own
teacher, and a user who has the original file can import it instead (:func:`import_teacher`,
``advdist-lab robust-teacher --checkpoint FILE --arch wrn-34-10``). DERD (``002_...``) also needs a *natural*
teacher, trained by plain cross-entropy: ``method="natural"``.

* :mod:`.config`: :class:`RobustTeacherConfig`, the per-dataset defaults (:data:`DATASET_DEFAULTS`,
  :func:`defaults_for`) and the attack protocol of a dataset (:func:`protocol_for`);
* :mod:`.training`: PGD-AT, TRADES and natural training (:func:`training_attack`, one epoch, the optimiser), the
  choices where the papers are silent, and the memory a batch needs (:func:`training_bytes`);
* :mod:`.run`: :func:`train_robust_teacher`, a training run in a :class:`~advdist_lab.runs.folder.RunFolder`
  (checkpoint every epoch, exact resume, ``teacher.pt`` and ``result.json``);
* :mod:`.model_files`: a teacher's model file (:func:`model_path`, :func:`load_teacher`, :func:`infer_dataset`);
* :mod:`.cache`: teachers shared between runs, one folder per config (:func:`shared_teacher`, :func:`teacher_key`),
  and several teachers trained side by side in worker processes (:func:`train_teachers`);
* :mod:`.evaluation`: any model under DFARD Table 1's attacks (:func:`evaluate_model`, ``robust-eval``) and a
  teacher trained elsewhere (:func:`import_teacher`).

This package keeps the public API of the former module ``advdist_lab/robust/teacher.py``.
"""

from advdist_lab.robust.teacher.cache import COURSE_TEACHERS, shared_teacher, teacher_key, train_teachers
from advdist_lab.robust.teacher.config import (
    AUGMENTATIONS,
    DATASET_DEFAULTS,
    OPTIMIZERS,
    PRECISIONS,
    TEACHER_METHODS,
    RobustTeacherConfig,
    defaults_for,
    protocol_for,
)
from advdist_lab.robust.teacher.evaluation import evaluate_model, import_teacher
from advdist_lab.robust.teacher.model_files import MODEL_FILE, infer_dataset, load_teacher, model_path
from advdist_lab.robust.teacher.run import CHECKPOINT_FORMAT, train_robust_teacher
from advdist_lab.robust.teacher.training import training_attack, training_bytes

__all__ = [
    "AUGMENTATIONS",
    "CHECKPOINT_FORMAT",
    "COURSE_TEACHERS",
    "DATASET_DEFAULTS",
    "MODEL_FILE",
    "OPTIMIZERS",
    "PRECISIONS",
    "TEACHER_METHODS",
    "RobustTeacherConfig",
    "defaults_for",
    "evaluate_model",
    "import_teacher",
    "infer_dataset",
    "load_teacher",
    "model_path",
    "protocol_for",
    "shared_teacher",
    "teacher_key",
    "train_robust_teacher",
    "train_teachers",
    "training_attack",
    "training_bytes",
]
