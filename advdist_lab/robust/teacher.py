"""The robust teacher of data-free robust distillation: adversarial training, import, evaluation.

DFARD (``001_...``, "Dataset and Model") distils "the same pre-trained WideResNet (WRN) teacher models" as RSLAD
(Zi et al. 2021), whose CIFAR-10 teacher is a WRN-34-10 adversarially trained by TRADES (Zhang et al. 2019).
Those checkpoints cannot be downloaded here (no network but the package registries), so the course trains its own
teacher, and a user who has the original file can import it instead (:func:`import_teacher`,
``advdist-lab robust-teacher --checkpoint FILE --arch wrn-34-10``). DERD (``002_...``) also needs a *natural*
teacher, trained by plain cross-entropy: ``method="natural"``.

Methods (:class:`RobustTeacherConfig`, ``method``):

* ``"pgd-at"``: PGD adversarial training (Madry et al. 2017): minimise ``CE(f(x_adv), y)`` where ``x_adv`` is
  PGD on the cross-entropy from a uniform random start in the eps-ball (:func:`~advdist_lab.robust.attacks.pgd_s`
  with the training budget).
* ``"trades"``: TRADES (Zhang et al. 2019): minimise ``CE(f(x), y) + beta * KL(p(x) || p(x_adv))`` (summed over
  classes, mean over the batch; the gradient flows through both ``p(x)`` and ``p(x_adv)``, as in the TRADES code),
  where ``x_adv`` maximises the same KL by signed steps from ``x + 0.001 * N(0, I)``
  (:func:`~advdist_lab.robust.attacks.pgd_t` with the training budget). ``beta = 6`` (TRADES' CIFAR-10 value).
* ``"natural"``: ``CE(f(x), y)`` on clean inputs, the natural teacher of DERD.

Each minibatch's adversarial examples are generated with the model in **eval mode** (batch-norm running
statistics, no parameter gradients: :func:`~advdist_lab.robust.attacks.attack_mode`), then the loss is computed
and the step taken in **train mode** (batch statistics), as the reference PGD-AT and TRADES code does.

**Where the papers are silent, and what we chose.**

* Optimiser: SGD, momentum 0.9, weight decay ``5e-4`` (Madry/RSLAD practice) with a cosine schedule stepped
  every minibatch down to 0. CIFAR: lr 0.1, batch 128, 100 epochs (TRADES trains 76-100 epochs, RSLAD's teachers
  100-200), random crop (4 pixels, zero padding) and horizontal flip. Digits: lr 0.1, batch 64, 20 epochs, no
  augmentation (a flipped digit is another digit). We measured Adam against SGD on the digits, since Adam often
  trains small models faster; SGD was better at every budget we tried (PGD-AT, digits-cnn, all 1,297 training
  digits, accuracies in % on the 500 test digits under :meth:`~advdist_lab.robust.attacks.AttackProtocol.digits`,
  seed 0; seed 1 in brackets)::

      optimiser, lr, epochs       Clean  FGSM  PGD_S        PGD_T  CW_inf
      Adam 1e-3, 20               99.0   82.4  72.8         85.0   74.8
      Adam 1e-3, 30               99.2   83.2  76.0         87.6   76.0
      Adam 3e-3, 15               99.2   84.6  76.6 (77.0)  87.4   78.4
      Adam 3e-3, 20               99.4   86.6  79.0         88.2   79.4
      SGD 0.05, 20                99.4   86.6  80.0         88.6   80.8
      SGD 0.1, batch 128, 20      99.4   85.0  75.8         86.2   77.4
      SGD 0.1, 15                 99.4   85.6  80.8 (81.6)  90.6   81.6
      SGD 0.1, 20 (the default)   99.4   86.6  82.0         92.0   83.0
      SGD 0.1, 25                 99.4   88.2  82.6         90.8   83.6
      TRADES, SGD 0.1, 15         98.0   85.0  80.4         89.4   79.2
      TRADES, SGD 0.05, 20        98.4   86.8  82.0         90.0   81.4

  20 epochs take under a minute on one CPU thread; the final evaluation with AutoAttack takes longer (below).
* Training attack: PGD-10 at the evaluation ``eps`` with step ``eps / 4`` (DFARD's and RSLAD's training PGD:
  8/255, 10 steps of 2/255 on CIFAR; 0.15, 10 steps of 0.0375 on the digits, whose protocol is
  :meth:`~advdist_lab.robust.attacks.AttackProtocol.digits`).
* The final model is that of the last epoch: no early stopping (choosing the best epoch on the test split would
  report a selected number).
* Per-epoch evaluation (``history``): the first ``eval_size`` test images under ``eval_attacks`` of the dataset's
  protocol (default PGD_S only, it is cheap). Final evaluation (top level of ``result.json``): the test split
  (``test_size``, default all) under ``final_attacks``: all of DFARD Table 1 on the digits, AutoAttack included.
  AutoAttack is most of a digits run: with the defaults, on one CPU thread, PGD-AT trained in 36 s and the final
  evaluation took 225 s (TRADES: 50 s and 211 s), of which the four other attacks take about 4 s; Square and
  FAB-T cost most, as they attack the points that stay robust. ``--final-attacks fgsm,pgd_s,pgd_t,cw_inf`` gives
  a run of under a minute. On CIFAR the default is all but AutoAttack, which takes hours on 10,000 images with a
  WRN-34-10: ask for it (``--final-attacks fgsm,pgd_s,pgd_t,cw_inf,autoattack``) or run ``advdist-lab
  robust-eval`` later.
* Precision: bf16 autocast for the training steps on CUDA (``precision="auto"``), fp32 elsewhere; evaluation
  always in fp32.

**Run folders** follow :mod:`advdist_lab.runs`: ``checkpoint.pt`` after every epoch (atomic: model, optimiser,
scheduler, history, timing, config, wall seconds), ``teacher.pt`` (:func:`~advdist_lab.robust.models.save_robust_model`)
and ``result.json`` at the end. Every epoch draws its shuffling, augmentation and attack starts from generators
seeded by ``(seed, epoch)``, so a run resumed from the checkpoint of epoch ``k`` ends exactly as an uninterrupted
one. Timing stays out of ``history`` (under ``timing``) so that histories compare exactly.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advdist_lab.environment import DEVICE_PATTERN, check_fits_in_memory, resolve_device
from advdist_lab.hparams import (
    check_choice,
    check_epochs,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
)
from advdist_lab.methods.loop import NonFiniteLossError
from advdist_lab.robust import auto_attack
from advdist_lab.robust.data import ROBUST_DATASETS, RobustData, dataset_stats, load_robust_data
from advdist_lab.robust.gradient_attacks import attack_mode, project_linf, signed_ascent, uniform_start
from advdist_lab.robust.models import (
    DEFAULT_TEACHERS,
    build_robust_model,
    check_architecture,
    load_robust_model,
    save_robust_model,
)
from advdist_lab.robust.protocol import ATTACKS, AttackProtocol, check_attack_names, robust_accuracy
from advdist_lab.runs.folder import CheckpointError, RunFolder, maybe_kill, progress_bar

__all__ = [
    "DATASET_DEFAULTS",
    "MODEL_FILE",
    "TEACHER_METHODS",
    "RobustTeacherConfig",
    "defaults_for",
    "evaluate_model",
    "import_teacher",
    "infer_dataset",
    "load_teacher",
    "model_path",
    "protocol_for",
    "train_robust_teacher",
    "training_attack",
    "training_bytes",
]

TEACHER_METHODS = ("pgd-at", "trades", "natural")
OPTIMIZERS = ("sgd", "adam")
AUGMENTATIONS = ("none", "crop-flip")
PRECISIONS = ("auto", "fp32", "bf16")
MODEL_FILE = "teacher.pt"
CHECKPOINT_FORMAT = "advdist-lab-robust-teacher-checkpoint"

_CIFAR_ATTACKS = tuple(a for a in ATTACKS if a != "autoattack")
_TRAIN_POOL = {"digits": 1297, "cifar10": 50_000}
_TRAIN_IMAGES = {**_TRAIN_POOL, "cifar10-random": 50_000}  # the noise has as many as n_train asks
_TEST_SPLIT = {"digits": 500, "cifar10": 10_000, "cifar10-random": 10_000}

DATASET_DEFAULTS: dict[str, dict[str, object]] = {
    "digits": {
        "method": "pgd-at",
        "epochs": 20,
        "batch_size": 64,
        "lr": 0.1,
        "optimizer": "sgd",
        "eps": 0.15,
        "steps": 10,
        "step_size": 0.0375,
        "augment": "none",
        "eval_size": 200,
        "final_attacks": ATTACKS,
    },
    "cifar10": {
        "method": "trades",
        "epochs": 100,
        "batch_size": 128,
        "lr": 0.1,
        "optimizer": "sgd",
        "eps": 8 / 255,
        "steps": 10,
        "step_size": 2 / 255,
        "augment": "crop-flip",
        "eval_size": 1000,
        "final_attacks": _CIFAR_ATTACKS,
    },
}
"""Per-dataset defaults of :class:`RobustTeacherConfig` (``arch`` from ``models.DEFAULT_TEACHERS``)."""
DATASET_DEFAULTS["cifar10-random"] = {**DATASET_DEFAULTS["cifar10"], "epochs": 2, "eval_size": 200}
# CIFAR-10-shaped noise (throughput checks): CIFAR-10's recipe, two epochs, a smaller per-epoch evaluation.


def defaults_for(dataset: str) -> dict[str, object]:
    """The defaults that :class:`RobustTeacherConfig` fills in for ``dataset`` (a copy, with ``arch``)."""
    check_choice("dataset", dataset, ROBUST_DATASETS)
    return {"arch": DEFAULT_TEACHERS[dataset], **DATASET_DEFAULTS[dataset]}


def protocol_for(dataset: str, attacks: Sequence[str] | None = None) -> AttackProtocol:
    """The attack protocol of ``dataset``: :meth:`AttackProtocol.digits` or :meth:`AttackProtocol.cifar`.

    ``attacks`` defaults to the dataset's final attacks (all five on the digits, all but AutoAttack on CIFAR).
    """
    check_choice("dataset", dataset, ROBUST_DATASETS)
    attacks = DATASET_DEFAULTS[dataset]["final_attacks"] if attacks is None else attacks
    return AttackProtocol.for_dataset(dataset, check_attack_names("attacks", attacks, allow_empty=False))


def _check_test_size(dataset: str, test_size: object) -> int | None:
    """``test_size`` (``None``: the whole test split of ``dataset``) or ``ValueError``."""
    if test_size is None:
        return None
    test_size = check_positive_int("test_size", test_size)
    if test_size > _TEST_SPLIT[dataset]:
        raise ValueError(f"test_size must be <= {_TEST_SPLIT[dataset]}, the test split of {dataset} (got {test_size})")
    return test_size


@dataclass(frozen=True)
class RobustTeacherConfig:
    """Every hyperparameter of a teacher's training; ``None`` fields take :func:`defaults_for` ``(dataset)``.

    ``dataset``: one of :data:`~advdist_lab.robust.data.ROBUST_DATASETS`. ``arch``: a
    :func:`~advdist_lab.robust.models.build_robust_model` name. ``method``: ``pgd-at``, ``trades`` or ``natural``.
    ``epochs``, ``batch_size`` >= 1; ``lr`` > 0; ``optimizer`` ``sgd`` or ``adam`` (cosine schedule either way);
    ``momentum`` in [0, 1) (SGD only); ``weight_decay`` >= 0. ``eps`` in (0, 1], ``steps`` >= 1 and
    ``step_size`` > 0: the training attack. ``trades_beta`` >= 0. ``augment``: ``none`` or ``crop-flip``.
    ``n_train``: a stratified subset of the training pool (``None``: all), drawn with ``subset_seed``.
    ``test_size``: test images of the final evaluation (``None``: the whole split); ``eval_size`` the first that
    many of them evaluated after every epoch under ``eval_attacks`` (may be empty: clean accuracy only);
    ``final_attacks`` (non-empty) at the end. ``seed``: initialisation, shuffling, attack starts and evaluation.
    ``device``: auto, cpu, cuda, cuda:N or mps; ``precision``: auto (bf16 autocast on CUDA), fp32 or bf16.
    """

    dataset: str = "digits"
    method: str | None = None
    arch: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    eps: float | None = None
    steps: int | None = None
    step_size: float | None = None
    trades_beta: float = 6.0
    augment: str | None = None
    n_train: int | None = None
    subset_seed: int = 0
    test_size: int | None = None
    eval_size: int | None = None
    eval_attacks: tuple[str, ...] = ("pgd_s",)
    final_attacks: tuple[str, ...] | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        dataset = check_choice("dataset", self.dataset, ROBUST_DATASETS)
        for name, value in defaults_for(dataset).items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        put = object.__setattr__
        check_choice("method", self.method, TEACHER_METHODS)
        put(self, "arch", check_architecture(self.arch))
        put(self, "epochs", check_epochs("epochs", self.epochs))
        put(self, "batch_size", check_positive_int("batch_size", self.batch_size))
        put(self, "lr", check_positive("lr", self.lr))
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        momentum = check_nonnegative("momentum", self.momentum)
        if momentum >= 1:
            raise ValueError(f"momentum must be >= 0 and < 1 (got {self.momentum!r})")
        put(self, "momentum", momentum)
        put(self, "weight_decay", check_nonnegative("weight_decay", self.weight_decay))
        eps = check_positive("eps", self.eps)
        if eps > 1:
            raise ValueError(f"eps must be > 0 and <= 1 for images in [0, 1] (got {self.eps!r})")
        put(self, "eps", eps)
        put(self, "steps", check_positive_int("steps", self.steps))
        put(self, "step_size", check_positive("step_size", self.step_size))
        put(self, "trades_beta", check_nonnegative("trades_beta", self.trades_beta))
        check_choice("augment", self.augment, AUGMENTATIONS)
        put(self, "subset_seed", check_nonnegative_int("subset_seed", self.subset_seed))
        if self.n_train is not None:
            check_positive_int("n_train", self.n_train)
            pool = _TRAIN_POOL.get(dataset)
            if pool is not None and self.n_train > pool:
                raise ValueError(f"n_train must be <= {pool}, the training pool of {dataset} (got {self.n_train})")
        if self.n_train is not None and self.batch_size > self.n_train:
            raise ValueError(
                f"batch_size must be <= n_train, the {self.n_train} training images (got {self.batch_size})"
            )
        if self.batch_size > _TRAIN_IMAGES[dataset]:
            raise ValueError(
                f"batch_size must be <= {_TRAIN_IMAGES[dataset]}, the training images of {dataset} (got "
                f"{self.batch_size})"
            )
        split = _TEST_SPLIT[dataset]
        if self.test_size is not None:
            check_positive_int("test_size", self.test_size)
            if self.test_size > split:
                raise ValueError(f"test_size must be <= {split}, the test split of {dataset} (got {self.test_size})")
        tested = split if self.test_size is None else self.test_size
        check_positive_int("eval_size", self.eval_size)
        if self.eval_size > tested:
            raise ValueError(
                f"eval_size must be <= the {tested} test images evaluated (test_size) (got {self.eval_size})"
            )
        put(self, "eval_attacks", check_attack_names("eval_attacks", self.eval_attacks, allow_empty=True))
        put(self, "final_attacks", check_attack_names("final_attacks", self.final_attacks, allow_empty=False))
        put(self, "seed", check_nonnegative_int("seed", self.seed))
        if not isinstance(self.device, str) or not DEVICE_PATTERN.match(self.device):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' (got {self.device!r})")
        check_choice("precision", self.precision, PRECISIONS)

    def to_dict(self) -> dict[str, object]:
        """Every field, resolved, JSON-ready (tuples as lists)."""
        data = dataclasses.asdict(self)
        data["eval_attacks"] = list(self.eval_attacks)
        data["final_attacks"] = list(self.final_attacks)  # type: ignore[arg-type]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RobustTeacherConfig:
        """A config from :meth:`to_dict` output (unknown keys raise ``ValueError`` naming them)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown RobustTeacherConfig field(s): {', '.join(unknown)}")
        values = dict(data)
        for key in ("eval_attacks", "final_attacks"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)  # type: ignore[arg-type]

    def replace(self, **changes: object) -> RobustTeacherConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------------------
# One epoch
# ----------------------------------------------------------------------------------------------------------------


def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, stream, 0x7EAC]).generate_state(1)[0])


def _crop_flip(x: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
    """Random crop after zero padding by ``pad`` and a random horizontal flip, per image (on x's device)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None]
    cropped = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    flip = torch.rand(b, generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped).contiguous()


def training_attack(
    model: nn.Module, x: Tensor, y: Tensor, config: RobustTeacherConfig, generator: torch.Generator | None
) -> Tensor:
    """The adversarial examples that ``config.method`` trains on (``x`` itself for ``natural``).

    ``pgd-at``: :func:`~advdist_lab.robust.attacks.pgd_s`, ``trades``: :func:`~advdist_lab.robust.attacks.pgd_t`,
    both at the training budget (``eps``, ``steps``, ``step_size``) and equal to them given the same generator,
    but without their input checks (which read values back from the device at every step). The model is in eval
    mode inside (``attack_mode``) and returned as it was.
    """
    if config.method == "natural":
        return x
    x = x.detach()
    eps, steps, step = config.eps, config.steps, config.step_size
    with attack_mode(model):
        if config.method == "pgd-at":
            start = uniform_start(x, eps, generator)

            def loss(z: Tensor) -> Tensor:
                return F.cross_entropy(model(z), y, reduction="sum")

        else:
            with torch.no_grad():
                p_clean = F.softmax(model(x).float(), dim=-1)
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            start = project_linf(x + 0.001 * noise, x, eps)

            def loss(z: Tensor) -> Tensor:
                return F.kl_div(F.log_softmax(model(z).float(), dim=-1), p_clean, reduction="sum")

        return signed_ascent(model, x, start, loss, eps, steps, step)


def _step_loss(model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor, config: RobustTeacherConfig):
    """``(loss, logits the accuracy is read from)`` in train mode."""
    if config.method == "trades":
        logits = model(x).float()
        logits_adv = model(x_adv).float()
        kl = F.kl_div(F.log_softmax(logits_adv, dim=-1), F.softmax(logits, dim=-1), reduction="sum") / x.shape[0]
        return F.cross_entropy(logits, y) + config.trades_beta * kl, logits_adv
    logits = model(x_adv).float()
    return F.cross_entropy(logits, y), logits


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: RobustData,
    config: RobustTeacherConfig,
    epoch: int,
    device: torch.device,
) -> tuple[float, float]:
    """One shuffled pass; ``(mean loss, accuracy on the trained inputs)``, read from the device once."""
    shuffle = torch.Generator().manual_seed(_epoch_seed(config.seed, epoch, 0))
    generator = torch.Generator(device=device).manual_seed(_epoch_seed(config.seed, epoch, 1))
    n = data.y_train.shape[0]
    order = torch.randperm(n, generator=shuffle).to(device)
    autocast = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    total = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    model.train()
    for start in range(0, n, config.batch_size):
        index = order[start : start + config.batch_size]
        x, y = data.x_train[index], data.y_train[index]
        if config.augment == "crop-flip":
            x = _crop_flip(x, generator)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
            x_adv = training_attack(model, x, y, config, generator)
            loss, logits = _step_loss(model, x, x_adv, y, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.detach() * y.shape[0]
        correct += (logits.detach().argmax(1) == y).sum()
    return float(total) / n, int(correct) / n


# ----------------------------------------------------------------------------------------------------------------
# Training a teacher: the run folder
# ----------------------------------------------------------------------------------------------------------------


def _comparable(config: dict) -> dict:
    """A config as compared on resume: the device may change; fields newer than the run take their defaults."""
    dataset = config.get("dataset", "digits")
    try:
        merged = {**RobustTeacherConfig(dataset=dataset).to_dict(), **config}
    except ValueError:
        merged = dict(config)
    return {k: v for k, v in merged.items() if k != "device"}


def _check_autoattack_available(attacks: Sequence[str], option: str) -> None:
    if "autoattack" in attacks:
        try:
            auto_attack.import_torchattacks()
        except ImportError as error:
            raise ValueError(f"{error}; or leave autoattack out of {option}") from None


def _build_model(config: RobustTeacherConfig) -> nn.Module:
    """The network of ``config`` as initialised from its seed, on the CPU (the global random state is left as it
    was)."""
    mean, std, shape, classes = dataset_stats(config.dataset)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build_robust_model(config.arch, classes, shape, mean, std)  # type: ignore[arg-type]


def _optimizer(config: RobustTeacherConfig, model: nn.Module, batches: int):
    params = model.parameters()
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * batches)
    return optimizer, scheduler


def training_bytes(config: RobustTeacherConfig, model: nn.Module, device: torch.device) -> int:
    """An estimate of the memory that training ``model`` under ``config`` takes on ``device``, in bytes: a lower
    bound, so that a refused batch surely cannot fit (an accepted one may still not).

    * the activations a training step keeps for its backward pass: every layer's output for one image (counted by
      one forward pass of a blank image without gradients), times ``batch_size``, times the forward passes the
      loss keeps (TRADES 2: ``x`` and ``x_adv``; PGD-AT and natural 1), at 2 bytes a value under bf16 autocast and
      4 otherwise (the attack's own passes come before the step and are freed);
    * the parameters, their gradients and the optimiser's state: 4 fp32 copies (Adam's two moments; SGD keeps one);
    * the training images and the test images, which live on the device (fp32).
    """
    _, _, shape, _ = dataset_stats(config.dataset)
    values = []
    layers = [m for m in model.modules() if not any(m.children())]
    hooks = [m.register_forward_hook(lambda m, i, o: values.append(o.numel())) for m in layers]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *shape), device=next(model.parameters()).device))
    finally:
        model.train(was)
        for hook in hooks:
            hook.remove()
    autocast = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    passes = 2 if config.method == "trades" else 1
    activations = config.batch_size * sum(values) * (2 if autocast else 4) * passes  # type: ignore[operator]
    parameters = 4 * 4 * sum(p.numel() for p in model.parameters())
    image = 4 * math.prod(shape)
    n_train = config.n_train if config.n_train is not None else _TRAIN_IMAGES[config.dataset]
    n_test = config.test_size if config.test_size is not None else _TEST_SPLIT[config.dataset]
    return activations + parameters + image * (n_train + n_test)


def _check_format(state: dict, path: Path) -> dict:
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a robust-teacher checkpoint (its format is {state.get('format')!r})")
    return state


CHECKPOINT_KEYS = frozenset(
    {"format", "config", "model", "optimizer", "scheduler", "history", "timing", "wall_seconds"}
)
"""What a robust teacher's ``checkpoint.pt`` holds."""


def _history_metrics(accuracies: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in accuracies.items() if k != "average"}


def _evaluate_epoch(model: nn.Module, data: RobustData, config: RobustTeacherConfig) -> dict[str, float]:
    x, y = data.x_test[: config.eval_size], data.y_test[: config.eval_size]
    if not config.eval_attacks:
        with attack_mode(model), torch.no_grad():
            return {"clean": float((model(x).argmax(1) == y).float().mean())}
    protocol = protocol_for(config.dataset, config.eval_attacks)
    return _history_metrics(robust_accuracy(model, x, y, protocol, seed=config.seed))


def train_robust_teacher(
    config: RobustTeacherConfig,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[dict], None] | None = None,
) -> dict:
    """Train a robust (or natural) teacher and return its result; write the run folder ``out`` when given.

    ``result`` = ``{"config", "history": [{"epoch", "lr", "train_loss", "train_accuracy", "clean", <eval
    attacks>}...], "clean", <final attacks>, "average", "protocol", "eval_protocol", "n_test", "wall_seconds",
    "device", "status", "model": "teacher.pt", "timing", "torch"}`` (accuracies as fractions). ``callback(entry)``
    is called after every epoch. Everything that can be checked is checked before any work: the config, the
    attacks' package, ``out`` (:class:`~advdist_lab.runs.folder.RunFolder`: usable, not in use by another process,
    a damaged ``result.json`` refused naming it), the finished run or checkpoint there, and whether a batch fits in
    memory (:func:`training_bytes`). A finished run is never overwritten:
    :class:`~advdist_lab.runs.folder.RunExistsError` without ``resume``, returned as it is with ``resume`` (a
    different config raises, naming the fields). A non-finite loss raises
    :class:`~advdist_lab.methods.loop.NonFiniteLossError` (player ``teacher``, the epoch) saying what is kept: the
    checkpoint of the last good epoch, or none.
    """
    if not isinstance(config, RobustTeacherConfig):
        raise ValueError(f"config must be a RobustTeacherConfig (got {type(config).__name__})")
    device = resolve_device(config.device)
    _check_autoattack_available(config.final_attacks, "final_attacks")  # type: ignore[arg-type]
    _check_autoattack_available(config.eval_attacks, "eval_attacks")
    if out is None:
        return _train(config, device, None, None, progress, callback)
    with RunFolder(out, comparable=_comparable) as folder:
        finished = folder.finished(config.to_dict(), resume)
        if finished is not None:
            return finished
        state = folder.checkpoint(config.to_dict(), resume, device, CHECKPOINT_KEYS, "a robust-teacher")
        if state is not None:
            _check_format(state, folder.checkpoint_path)
        return _train(config, device, folder, state, progress, callback)


def _train(config, device, folder, state, progress, callback) -> dict:
    try:
        return _train_epochs(config, device, folder, state, progress, callback)
    except NonFiniteLossError as error:
        error.record_kept(folder.kept() if folder is not None else "nothing was saved (the run has no folder)")
        raise


def _train_epochs(config, device, folder, state, progress, callback) -> dict:
    model = _build_model(config)
    check_fits_in_memory("batch_size", training_bytes(config, model, device), device)
    data = load_robust_data(
        config.dataset,
        n_train=config.n_train,
        test_size=config.test_size,
        device=device,
        subset_seed=config.subset_seed,
    )
    model = model.to(device)
    batches = math.ceil(data.y_train.shape[0] / config.batch_size)
    optimizer, scheduler = _optimizer(config, model, batches)
    history: list[dict] = []
    timing: dict = {"epoch_seconds": [], "final_evaluation_seconds": None}
    previous = 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, timing, previous = state["history"], state["timing"], state["wall_seconds"]
    started = time.perf_counter()
    bar = progress_bar(config.epochs, f"teacher {config.method} {config.dataset} seed={config.seed}", progress)
    bar.update(len(history))
    try:
        for epoch in range(len(history), config.epochs):
            epoch_started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            loss, accuracy = _train_epoch(model, optimizer, scheduler, data, config, epoch, device)
            if not math.isfinite(loss):
                raise NonFiniteLossError("teacher", epoch + 1)
            entry = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": loss,
                "train_accuracy": accuracy,
                **_evaluate_epoch(model, data, config),
            }
            history.append(entry)
            timing["epoch_seconds"].append(time.perf_counter() - epoch_started)
            if folder is not None:
                checkpoint = {
                    "format": CHECKPOINT_FORMAT,
                    "config": config.to_dict(),
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "history": history,
                    "timing": timing,
                    "wall_seconds": previous + time.perf_counter() - started,
                }
                folder.save_checkpoint(checkpoint, epoch + 1)
                maybe_kill(epoch + 1)
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in entry.items() if k in ("train_loss", "clean", "pgd_s")})
            if callback is not None:
                callback(entry)
    finally:
        bar.close()
    model.eval()
    evaluation_started = time.perf_counter()
    protocol = protocol_for(config.dataset, config.final_attacks)
    final = robust_accuracy(model, data.x_test, data.y_test, protocol, seed=config.seed, progress=progress)
    timing["final_evaluation_seconds"] = time.perf_counter() - evaluation_started
    result = {
        "config": config.to_dict(),
        "history": history,
        **final,
        "protocol": protocol.to_dict(),
        "eval_protocol": {
            **protocol_for(config.dataset, config.eval_attacks or ("pgd_s",)).to_dict(),
            "attacks": list(config.eval_attacks),
            "test_images": config.eval_size,
        },
        "n_test": int(data.y_test.shape[0]),
        "wall_seconds": previous + time.perf_counter() - started,
        "device": str(device),
        "status": "finished",
        "model": MODEL_FILE,
        "timing": timing,
        "torch": torch.__version__,
    }
    if folder is not None:
        save_robust_model(
            folder.path / MODEL_FILE,
            model,
            arch=config.arch,  # type: ignore[arg-type]
            num_classes=data.num_classes,
            image_shape=data.image_shape,
            summary=_summary(config.dataset, config.method, len(history), final, config.seed),
        )
        folder.write_result(result)
    return result


def _summary(dataset: str, method: str | None, epochs: int, accuracies: Mapping[str, float], seed: int) -> dict:
    return {"dataset": dataset, "method": method, "epochs": epochs, "seed": seed, "accuracies": dict(accuracies)}


# ----------------------------------------------------------------------------------------------------------------
# Loading, importing and evaluating a model
# ----------------------------------------------------------------------------------------------------------------


def model_path(path: str | os.PathLike) -> Path:
    """The model file of ``path``: the file itself, or in a run folder the file its ``result.json`` names
    (``"model"``), else ``teacher.pt``."""
    import json

    path = Path(path)
    if not path.is_dir():
        if not path.exists():
            raise ValueError(f"no model at {path} (expected a run folder, a teacher.pt or a state dict file)")
        return path
    name = MODEL_FILE
    result = path / "result.json"
    if result.is_file():
        try:
            name = json.loads(result.read_text()).get("model", MODEL_FILE) or MODEL_FILE
        except (json.JSONDecodeError, AttributeError):
            name = MODEL_FILE
    if not (path / name).is_file():
        raise ValueError(f"{path} is a folder without a model file ({name}); give the model file itself")
    return path / name


def load_teacher(
    path_or_folder: str | os.PathLike,
    *,
    dataset: str | None = None,
    arch: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, dict]:
    """``(model in eval mode on device, info)`` from a run folder, a ``teacher.pt`` or a foreign state dict.

    Our own files (:func:`~advdist_lab.robust.models.save_robust_model`) carry everything; ``dataset`` and
    ``arch``, when given, must agree with them. A foreign state dict (of the bare network or a ``Normalized``
    wrapper, possibly under ``state_dict`` and with ``module.`` prefixes) needs both: the dataset gives the
    normalisation, image shape and classes (:func:`~advdist_lab.robust.data.dataset_stats`). ``info`` is that of
    :func:`~advdist_lab.robust.models.load_robust_model` plus ``dataset`` (``None`` when unknown) and ``path``.
    """
    path = model_path(path_or_folder)
    if dataset is not None:
        check_choice("dataset", dataset, ROBUST_DATASETS)
    if arch is not None:
        arch = check_architecture(arch)
    if dataset is not None and arch is not None:
        mean, std, shape, classes = dataset_stats(dataset)
        model, info = load_robust_model(
            path, arch=arch, num_classes=classes, image_shape=shape, mean=mean, std=std, device=device
        )
    else:
        try:
            model, info = load_robust_model(path, device=device)
        except ValueError as error:
            if "is not an advdist-lab model file" not in str(error):
                raise
            raise ValueError(
                f"{path} is not an advdist-lab model file: give its dataset and arch (--dataset, --arch) to load it "
                "as a plain state dict"
            ) from None
    stored_dataset = info.get("summary", {}).get("dataset")
    if not info["foreign"]:
        if arch is not None and arch != info["arch"]:
            raise ValueError(f"{path} holds a {info['arch']} model, not {arch}")
        if dataset is not None:
            _, _, shape, classes = dataset_stats(dataset)
            if list(info["image_shape"]) != list(shape) or info["num_classes"] != classes:
                raise ValueError(
                    f"{path} holds a model of {tuple(info['image_shape'])} images and {info['num_classes']} "
                    f"classes, which does not fit {dataset} ({tuple(shape)}, {classes} classes)"
                )
            if stored_dataset is not None and stored_dataset != dataset:
                raise ValueError(f"{path} holds a model trained on {stored_dataset}, not {dataset}")
    info["dataset"] = dataset or stored_dataset
    info["path"] = str(path)
    return model, info


def infer_dataset(info: dict) -> str:
    """The dataset of a model loaded by :func:`load_teacher` (its ``info``): the one it names, else the only
    dataset whose image shape fits; ``ValueError`` asking for ``--dataset`` when that does not decide."""
    if info.get("dataset"):
        return info["dataset"]
    matches = [d for d in ROBUST_DATASETS if list(dataset_stats(d)[2]) == list(info["image_shape"])]
    if len(matches) == 1:
        return matches[0]
    raise ValueError(f"cannot tell the dataset of {info['path']} from the model: give it (--dataset)")


def evaluate_model(
    model_or_path: nn.Module | str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    dataset: str | None = None,
    arch: str | None = None,
    attacks: Sequence[str] | None = None,
    test_size: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """DFARD Table 1 accuracies of a model on the test split of its dataset (``advdist-lab robust-eval``).

    ``model_or_path``: a model on ``[0, 1]`` images (then ``dataset`` is required) or anything
    :func:`load_teacher` reads. ``attacks``: default the dataset's (:func:`protocol_for`). Returns ``{"config",
    "protocol", "clean", <attacks>, "average", "history": [one entry with the same accuracies], "n_test",
    "status": "finished", "wall_seconds", "device"}`` and writes it to ``out/result.json`` when given; a finished
    ``out`` is returned with ``resume`` and refused without (:class:`~advdist_lab.runs.folder.RunExistsError`);
    ``out`` is checked before the model is read and locked while it is evaluated
    (:class:`~advdist_lab.runs.folder.RunFolder`).
    """
    resolved = resolve_device(device)
    seed = check_nonnegative_int("seed", seed)
    batch_size = check_positive_int("batch_size", batch_size)
    if attacks is not None:  # checked before the model is read
        attacks = check_attack_names("attacks", attacks, allow_empty=False)
    if dataset is not None:
        check_choice("dataset", dataset, ROBUST_DATASETS)
        _check_test_size(dataset, test_size)
    folder = RunFolder(out) if out is not None else None
    if isinstance(model_or_path, nn.Module):
        if dataset is None:
            raise ValueError("dataset is required to evaluate a model object")
        model, source = model_or_path, None
        check_choice("dataset", dataset, ROBUST_DATASETS)
        info = {"arch": arch, "dataset": dataset}
    else:
        model, info = load_teacher(model_or_path, dataset=dataset, arch=arch, device=resolved)
        dataset = infer_dataset(info)
        source = info["path"]
    protocol = protocol_for(dataset, attacks)  # type: ignore[arg-type]
    test_size = _check_test_size(dataset, test_size)
    _check_autoattack_available(protocol.attacks, "--attacks")
    config = {
        "model": source,
        "dataset": dataset,
        "arch": info.get("arch"),
        "attacks": list(protocol.attacks),
        "test_size": test_size,
        "batch_size": batch_size,
        "seed": seed,
        "device": device,
    }
    if folder is None:
        return _evaluate(model, protocol, config, resolved, progress)
    with folder:
        finished = folder.finished(config, resume)
        if finished is not None:
            return finished
        result = _evaluate(model, protocol, config, resolved, progress)
        folder.write_result(result)
    return result


def _evaluate(model: nn.Module, protocol: AttackProtocol, config: dict, device: torch.device, progress: bool) -> dict:
    """:func:`evaluate_model`'s result for the checked ``config``."""
    started = time.perf_counter()
    data = load_robust_data(config["dataset"], n_train=1, test_size=config["test_size"], device="cpu")
    accuracies = robust_accuracy(
        model,
        data.x_test,
        data.y_test,
        protocol,
        batch_size=config["batch_size"],
        device=device,
        seed=config["seed"],
        progress=progress,
    )
    return {
        "config": config,
        "protocol": protocol.to_dict(),
        **accuracies,
        "history": [{"epoch": 0, **accuracies}],
        "n_test": int(data.y_test.shape[0]),
        "status": "finished",
        "wall_seconds": time.perf_counter() - started,
        "device": str(device),
        "torch": torch.__version__,
    }


def import_teacher(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    dataset: str,
    arch: str | None = None,
    final_attacks: Sequence[str] | None = None,
    test_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Import a user's own teacher checkpoint into the run folder ``out``, to be used like a trained one.

    Loads ``checkpoint`` (:func:`load_teacher`: a foreign state dict needs ``arch``), evaluates it on the test
    split of ``dataset`` under ``final_attacks`` (default :func:`protocol_for`'s) and writes ``out/teacher.pt``
    and ``out/result.json`` (``status "imported"``, an empty ``history``). Finished folders as in
    :func:`train_robust_teacher`; ``out`` is checked before the checkpoint is read and locked while it is imported
    (:class:`~advdist_lab.runs.folder.RunFolder`).
    """
    check_choice("dataset", dataset, ROBUST_DATASETS)
    resolved = resolve_device(device)
    protocol = protocol_for(dataset, final_attacks)
    seed = check_nonnegative_int("seed", seed)
    test_size = _check_test_size(dataset, test_size)
    _check_autoattack_available(protocol.attacks, "--final-attacks")
    folder = RunFolder(out)
    source = model_path(checkpoint)
    config = {
        "dataset": dataset,
        "method": "imported",
        "arch": arch,
        "checkpoint": str(source),
        "final_attacks": list(protocol.attacks),
        "test_size": test_size,
        "seed": seed,
        "device": device,
    }
    with folder:
        finished = folder.finished(config, resume)
        if finished is not None:
            return finished
        return _import(source, folder, config, protocol, resolved, progress)


def _import(source: Path, folder: RunFolder, config: dict, protocol, device: torch.device, progress: bool) -> dict:
    """:func:`import_teacher` into the locked ``folder``."""
    dataset, arch, seed = config["dataset"], config["arch"], config["seed"]
    started = time.perf_counter()
    model, info = load_teacher(source, dataset=dataset, arch=arch, device=device)
    data = load_robust_data(dataset, n_train=1, test_size=config["test_size"], device="cpu")
    accuracies = robust_accuracy(model, data.x_test, data.y_test, protocol, device=device, seed=seed, progress=progress)
    save_robust_model(
        folder.path / MODEL_FILE,
        model,
        arch=info["arch"],
        num_classes=info["num_classes"],
        image_shape=info["image_shape"],
        summary={**_summary(dataset, "imported", 0, accuracies, seed), "imported_from": str(source)},
    )
    result = {
        "config": config,
        "history": [],
        **accuracies,
        "protocol": protocol.to_dict(),
        "n_test": int(data.y_test.shape[0]),
        "wall_seconds": time.perf_counter() - started,
        "device": str(device),
        "status": "imported",
        "arch": info["arch"],
        "model": MODEL_FILE,
        "torch": torch.__version__,
    }
    folder.write_result(result)
    return result
