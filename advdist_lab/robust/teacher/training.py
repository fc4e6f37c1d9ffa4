"""How a robust teacher is trained: the training attack, the loss of each method, one epoch, the optimiser, and
the memory a batch needs (DFARD ``001_...`` and DERD ``002_...`` teachers; the run folder is
:mod:`advdist_lab.robust.teacher.run`).

Methods (:class:`RobustTeacherConfig`, ``method``):

* ``"pgd-at"``: PGD adversarial training (Madry et al. 2017): minimise ``CE(f(x_adv), y)`` where ``x_adv`` is
  PGD on the cross-entropy from a uniform random start in the eps-ball
  (:func:`~advdist_lab.robust.attacks.gradient.pgd_s` with the training budget).
* ``"trades"``: TRADES (Zhang et al. 2019): minimise ``CE(f(x), y) + beta * KL(p(x) || p(x_adv))`` (summed over
  classes, mean over the batch; the gradient flows through both ``p(x)`` and ``p(x_adv)``, as in the TRADES code),
  where ``x_adv`` maximises the same KL by signed steps from ``x + 0.001 * N(0, I)``
  (:func:`~advdist_lab.robust.attacks.gradient.pgd_t` with the training budget). ``beta = 6`` (TRADES' CIFAR-10
  value).
* ``"natural"``: ``CE(f(x), y)`` on clean inputs, the natural teacher of DERD.

Each minibatch's adversarial examples are generated with the model in **eval mode** (batch-norm running
statistics, no parameter gradients: :func:`~advdist_lab.robust.attacks.gradient.attack_mode`), then the loss is
computed and the step taken in **train mode** (batch statistics), as the reference PGD-AT and TRADES code does.

**Where the papers are silent, and what we chose.**

* Optimiser: SGD, momentum 0.9, weight decay ``5e-4`` (Madry/RSLAD practice) with a cosine schedule stepped
  every minibatch down to 0. CIFAR: lr 0.1, batch 128, 100 epochs (TRADES trains 76-100 epochs, RSLAD's teachers
  100-200), random crop (4 pixels, zero padding) and horizontal flip. Digits: lr 0.1, batch 64, 20 epochs, no
  augmentation (a flipped digit is another digit). We measured Adam against SGD on the digits, since Adam often
  trains small models faster; SGD was better at every budget we tried (PGD-AT, digits-cnn, all 1,297 training
  digits, accuracies in % on the 500 test digits under
  :meth:`~advdist_lab.robust.attacks.protocol.AttackProtocol.digits`, seed 0; seed 1 in brackets)::

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

  20 epochs take under a minute on one CPU thread; the final evaluation with AutoAttack takes longer
  (:mod:`advdist_lab.robust.teacher.run`).
* Training attack: PGD-10 at the evaluation ``eps`` with step ``eps / 4`` (DFARD's and RSLAD's training PGD:
  8/255, 10 steps of 2/255 on CIFAR; 0.15, 10 steps of 0.0375 on the digits, whose protocol is
  :meth:`~advdist_lab.robust.attacks.protocol.AttackProtocol.digits`).
* The final model is that of the last epoch: no early stopping (choosing the best epoch on the test split would
  report a selected number).
* Precision: bf16 autocast for the training steps on CUDA (``precision="auto"``), fp32 elsewhere; evaluation
  always in fp32.
* Memory: :func:`training_bytes` estimates what a batch needs (within about 15% of the peak measured on a GPU,
  documented there), so that a batch that cannot fit is refused before the data is loaded rather than after an
  out-of-memory crash.

Every epoch draws its shuffling, augmentation and attack starts from generators seeded by ``(seed, epoch)``
(:func:`epoch_seed`), so a run resumed from the checkpoint of epoch ``k`` ends exactly as an uninterrupted one.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advdist_lab.robust.attacks.gradient import attack_mode, project_linf, signed_ascent, uniform_start
from advdist_lab.robust.attacks.protocol import robust_accuracy
from advdist_lab.robust.data import RobustData, dataset_stats
from advdist_lab.robust.models import build_robust_model
from advdist_lab.robust.teacher.config import TEST_SPLIT, TRAINING_IMAGES, RobustTeacherConfig, protocol_for

__all__ = [
    "build_model",
    "crop_flip",
    "epoch_seed",
    "evaluate_epoch",
    "make_optimizer",
    "step_loss",
    "train_epoch",
    "training_attack",
    "training_bytes",
]


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """The seed of one random ``stream`` of one epoch (0: shuffling, 1: augmentation and attack starts),
    independent of every other epoch and stream (what makes resume exact)."""
    return int(np.random.SeedSequence([seed, epoch, stream, 0x7EAC]).generate_state(1)[0])


def crop_flip(x: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
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

    ``pgd-at``: :func:`~advdist_lab.robust.attacks.gradient.pgd_s`, ``trades``:
    :func:`~advdist_lab.robust.attacks.gradient.pgd_t`, both at the training budget (``eps``, ``steps``,
    ``step_size``) and equal to them given the same generator, but without their input checks (which read values
    back from the device at every step). The model is in eval mode inside (``attack_mode``) and returned as it was.
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


def step_loss(model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor, config: RobustTeacherConfig):
    """``(loss, logits the accuracy is read from)`` of ``config.method`` in train mode (module docstring: TRADES'
    ``CE(f(x), y) + beta * KL(p(x) || p(x_adv))``, else ``CE(f(x_adv), y)``)."""
    if config.method == "trades":
        logits = model(x).float()
        logits_adv = model(x_adv).float()
        kl = F.kl_div(F.log_softmax(logits_adv, dim=-1), F.softmax(logits, dim=-1), reduction="sum") / x.shape[0]
        return F.cross_entropy(logits, y) + config.trades_beta * kl, logits_adv
    logits = model(x_adv).float()
    return F.cross_entropy(logits, y), logits


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: RobustData,
    config: RobustTeacherConfig,
    epoch: int,
    device: torch.device,
) -> tuple[float, float]:
    """One shuffled pass; ``(mean loss, accuracy on the trained inputs)``, read from the device once."""
    shuffle = torch.Generator().manual_seed(epoch_seed(config.seed, epoch, 0))
    generator = torch.Generator(device=device).manual_seed(epoch_seed(config.seed, epoch, 1))
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
            x = crop_flip(x, generator)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
            x_adv = training_attack(model, x, y, config, generator)
            loss, logits = step_loss(model, x, x_adv, y, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.detach() * y.shape[0]
        correct += (logits.detach().argmax(1) == y).sum()
    return float(total) / n, int(correct) / n


def build_model(config: RobustTeacherConfig) -> nn.Module:
    """The network of ``config`` as initialised from its seed, on the CPU (the global random state is left as it
    was)."""
    mean, std, shape, classes = dataset_stats(config.dataset)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build_robust_model(config.arch, classes, shape, mean, std)  # type: ignore[arg-type]


def make_optimizer(config: RobustTeacherConfig, model: nn.Module, batches: int):
    """``(optimizer, scheduler)``: SGD (momentum, weight decay) or Adam, with a cosine schedule stepped every one of
    the ``batches`` minibatches of every epoch, down to 0."""
    params = model.parameters()
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * batches)
    return optimizer, scheduler


def training_bytes(config: RobustTeacherConfig, model: nn.Module, device: torch.device) -> int:
    """An estimate of the memory, in bytes, that training ``model`` under ``config`` takes on ``device``, from
    which a batch that cannot fit is refused before the data is loaded:

    * the activations a training step keeps for its backward pass: every layer's output for one image (counted by
      one forward pass of a blank image without gradients), times ``batch_size``, times the forward passes the
      loss keeps (TRADES 2: ``x`` and ``x_adv``; PGD-AT and natural 1), at 2 bytes a value under bf16 autocast and
      4 otherwise (the attack's own passes come before the step and are freed);
    * the parameters, their gradients and the optimiser's state: 4 fp32 copies (Adam's two moments; SGD keeps one);
    * the training images and the test images, which live on the device (fp32).

    Measured against ``torch.cuda.max_memory_allocated`` on an H200 (torch 2.11, one epoch on cifar10-random),
    estimate / peak: WRN-34-10 TRADES batch 128 1.06 (6.5 vs 6.1 GiB) in fp32 and 1.05 under bf16 autocast,
    WRN-34-10 PGD-AT batch 512 1.04, WRN-16-4 TRADES batch 128 1.03 and 1.08, ResNet-18 PGD-AT batch 256 1.17
    and 1.13; digits-cnn batch 64 0.97 and 0.73 (a few MiB, where allocator granularity dominates). So a batch
    within about 15% of the free memory may be refused though it would barely fit; the message gives the
    estimate, and a slightly smaller ``batch_size`` passes.
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
    n_train = config.n_train if config.n_train is not None else TRAINING_IMAGES[config.dataset]
    n_test = config.test_size if config.test_size is not None else TEST_SPLIT[config.dataset]
    return activations + parameters + image * (n_train + n_test)


def evaluate_epoch(model: nn.Module, data: RobustData, config: RobustTeacherConfig) -> dict[str, float]:
    """The history entry's accuracies: the first ``eval_size`` test images, clean and under ``eval_attacks``
    (without their average)."""
    x, y = data.x_test[: config.eval_size], data.y_test[: config.eval_size]
    if not config.eval_attacks:
        with attack_mode(model), torch.no_grad():
            return {"clean": float((model(x).argmax(1) == y).float().mean())}
    protocol = protocol_for(config.dataset, config.eval_attacks)
    accuracies = robust_accuracy(model, x, y, protocol, seed=config.seed)
    return {k: v for k, v in accuracies.items() if k != "average"}
