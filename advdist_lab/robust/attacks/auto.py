"""AutoAttack, standard version (Croce and Hein 2020; DFARD ``001_...`` Table 1 "AA"), from torchattacks' parts.

DFARD's fifth attack is AutoAttack: APGD-CE, APGD-T, FAB-T and Square, built here from the components of
``torchattacks`` (installed separately, see :data:`TORCHATTACKS_INSTALL`; imported only when an AutoAttack is
built, so the package imports without it). Inputs follow the conventions of
:mod:`advdist_lab.robust.attacks.gradient` (``[0, 1]``, normalisation inside the model, result in the eps-ball).

**Where the paper is silent, and what we chose.** ``torchattacks.AutoAttack(version="standard")`` runs APGD,
APGD-T and FAB-T with 10 steps each and targets all ``n_classes - 1`` other classes. We configure its components
as the original standard version (fra31/auto-attack) does instead: APGD-CE 100 steps, APGD-T 100 steps x 9
target classes, FAB-T 100 steps x 9 target classes, Square 5,000 queries, one restart each; with fewer classes
the targets are ``n_classes - 1`` (APGD-T, whose targeted DLR loss reads the 4th largest logit, is left out
below 4 classes). ``n_classes`` comes from the data (the width of the model's logits), never torchattacks'
default of 10. ``AttackProtocol.autoattack_steps`` and ``autoattack_queries`` change the counts.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advdist_lab.hparams import check_nonnegative_int, check_positive_int
from advdist_lab.robust.attacks.gradient import attack_mode, check_budget, check_inputs, project_linf

__all__ = [
    "AUTOATTACK_TARGET_CLASSES",
    "TORCHATTACKS_INSTALL",
    "autoattack",
    "build_autoattack",
    "check_n_classes",
    "import_torchattacks",
]

AUTOATTACK_TARGET_CLASSES = 9
"""Target classes of APGD-T and FAB-T in the original standard AutoAttack (fewer when there are fewer classes)."""

TORCHATTACKS_INSTALL = "python -m pip install -c constraints.txt --no-deps torchattacks"
"""How the course installs torchattacks (``make setup`` does it): without its dependencies, because torchattacks
3.5.1 pins ``requests~=2.25.1``, which conflicts with JupyterLab's ``requests>=2.31``; it never imports requests."""


def import_torchattacks():
    """The ``torchattacks`` module, or an ``ImportError`` that names the install command
    (:data:`TORCHATTACKS_INSTALL`)."""
    try:
        import torchattacks
    except ImportError as error:  # pragma: no cover - exercised by monkeypatching sys.modules
        raise ImportError(
            "AutoAttack needs torchattacks, which the course installs without its dependencies (its pin "
            f"requests~=2.25.1 conflicts with JupyterLab): run `{TORCHATTACKS_INSTALL}` (make setup does it)"
        ) from error
    return torchattacks


class _AsImages(nn.Module):
    """Reads ``(batch, 1, 1, d)`` tensors as the ``(batch, *shape)`` inputs of ``model`` (torchattacks wants 4-D)."""

    def __init__(self, model: nn.Module, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.model = model
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x.reshape(x.shape[0], *self.shape))


def build_autoattack(
    model: nn.Module,
    eps: float,
    *,
    n_classes: int,
    steps: int = 100,
    n_queries: int = 5000,
    seed: int = 0,
):
    """The standard AutoAttack ensemble (Croce and Hein 2020) from torchattacks' components, as a ``MultiAttack``.

    APGD-CE (``steps``, 1 restart), APGD-T (``steps`` x ``min(9, n_classes - 1)`` target classes, 1 restart),
    FAB-T (``steps`` x the same targets, 1 restart) and Square (``n_queries``, 1 restart), L_inf at ``eps``; each
    attacks only the points that the previous ones left correctly classified. ``n_classes`` is required (no
    default of 10: with fewer classes torchattacks' targeted attacks index past the logits, with more they
    would target all ``n_classes - 1`` classes where the original targets 9). ``model`` must take 4-D inputs.

    With fewer than 4 classes APGD-T is left out: its targeted DLR loss divides by ``z_pi1 - (z_pi3 + z_pi4) / 2``
    (the 1st, 3rd and 4th largest logits), which does not exist; the original AutoAttack cannot run it either.
    """
    ta = import_torchattacks()
    eps, steps, _ = check_budget(eps, steps)
    n_classes = check_n_classes(n_classes)
    n_queries = check_positive_int("n_queries", n_queries)
    seed = check_nonnegative_int("seed", seed)
    common = {"norm": "Linf", "eps": eps, "seed": seed, "verbose": False}
    targets = min(AUTOATTACK_TARGET_CLASSES, n_classes - 1)
    attacks = [ta.APGD(model, steps=steps, n_restarts=1, loss="ce", **common)]
    if n_classes >= 4:
        apgd_t = ta.APGDT(model, steps=steps, n_restarts=1, n_classes=n_classes, **common)
        apgd_t.n_target_classes = targets
        attacks.append(apgd_t)
    fab_t = ta.FAB(model, steps=steps, n_restarts=1, multi_targeted=True, n_classes=n_classes, **common)
    fab_t.n_target_classes = targets
    attacks += [fab_t, ta.Square(model, n_queries=n_queries, n_restarts=1, **common)]
    return ta.MultiAttack(attacks)


def check_n_classes(n_classes: object) -> int:
    """``n_classes`` as an integer >= 2, or ``ValueError``."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, taken from the data (got {n_classes!r})")
    return n_classes


def autoattack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    *,
    n_classes: int,
    steps: int = 100,
    n_queries: int = 5000,
    seed: int = 0,
) -> Tensor:
    """AutoAttack, standard version (Croce and Hein 2020; DFARD Table 1 "AA"): see :func:`build_autoattack`.

    Step counts by default: APGD-CE 100, APGD-T 100 per target class (9 targets, or ``n_classes - 1``; left out
    below 4 classes), FAB-T 100 per target class, Square 5,000 queries; one restart each.

    Returns the first adversarial input found per row, or ``x`` where every attack failed, projected onto the
    eps-ball and ``[0, 1]`` (torchattacks' own projection can be off by float rounding). Non-image inputs
    ``(batch, ...)`` are reshaped to ``(batch, 1, 1, d)`` for torchattacks and back. Deterministic given
    ``seed``: torchattacks reseeds torch's global generator, whose state we save and restore, so the caller's
    random stream is unchanged.
    """
    check_inputs(x, y)
    eps, steps, _ = check_budget(eps, steps)
    n_classes = check_n_classes(n_classes)
    if int(y.max()) >= n_classes or int(y.min()) < 0:
        raise ValueError(f"labels must lie in 0..n_classes-1 = 0..{n_classes - 1} (got {int(y.min())}..{int(y.max())})")
    x = x.detach()
    shape = tuple(x.shape[1:])
    target = model if x.dim() == 4 else _AsImages(model, shape).eval()  # torchattacks restores its mode
    images = x if x.dim() == 4 else x.reshape(x.shape[0], 1, 1, -1)
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with attack_mode(model), torch.random.fork_rng(devices=devices):
        attack = build_autoattack(target, eps, n_classes=n_classes, steps=steps, n_queries=n_queries, seed=seed)
        attack.set_device(x.device)
        x_adv = attack(images, y).detach().reshape(x.shape).to(x.dtype)
    return project_linf(x_adv, x, eps)
