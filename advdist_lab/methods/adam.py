"""Adam for the training loop (:mod:`.loop`): torch's fused Adam kernel, called without ``torch.optim``.

Two costs of ``torch.optim.Adam`` that the small players of the course pay on every run:

* The default CPU implementation is single-tensor: a Python loop of several small kernels per parameter. Measured
  per Adam step of the digits players of ADIM (student 4.8k, teacher 22.6k, discriminator 45.2k parameters; one
  thread on the shared 2-core machine, medians of rounds taking turns; five runs, four of ``bench/overhead.py``):
  ``torch.optim.Adam(fused=True)`` was 2.7-5.7x faster than single-tensor, ``foreach=True`` 0.7-1.4x, and
  :class:`FusedAdam` (the same kernel without ``torch.optim``'s wrappers) 2.4-12.6x (5.6-6.9x in the steadiest run,
  200 steps a round). A whole epoch at n = 1000 was 1.15-1.21x faster for ADIM and 1.56-1.65x for MIMIC than with
  single-tensor Adam. The fused kernel exists on CPU and CUDA (on CUDA it also keeps the step counters on the
  device: no host synchronisation per step; not measured here, no GPU was lent), so the loop uses it.
* In torch 2.14 every ``torch.optim.Optimizer`` method (``__init__`` through ``add_param_group``, ``zero_grad``,
  ``step``, ``state_dict``, ``load_state_dict``) is wrapped by ``torch._disable_dynamo`` or
  ``_use_grad_for_differentiable``, which import ``torch._dynamo`` on their first call: 1-2 s of every run's
  start-up, whatever the ``foreach`` or ``fused`` flag says.

:class:`FusedAdam` calls the kernel that ``torch.optim.Adam(fused=True)`` calls (``torch._fused_adam_``, after
adding 1 to the step counters) with the same arguments, so its updates are the same bit for bit
(``tests/test_overhead.py``), and it reads and writes the same ``state_dict`` layout: checkpoints written by
``torch.optim.Adam`` (the loop's optimiser before this module) resume under it, and the other way round. Against
the former single-tensor Adam a run's numbers change in the last bits of float32 (the fused kernel rounds in
another order): on digits at n = 100, after 3 epochs every method's losses moved by at most 2.4e-7 and no accuracy
moved; after 30 epochs ADIM, DISTN and MIMIC ended at the same student and teacher accuracies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

FUSED_DEVICES = ("cpu", "cuda")
"""Device types where :func:`make_adam` uses :class:`FusedAdam`; elsewhere it is ``torch.optim.Adam``."""

_DEFAULT_FLAGS = {"weight_decay": 0.0, "amsgrad": False, "maximize": False, "decoupled_weight_decay": False}


class FusedAdam:
    """Adam (Kingma and Ba, 2015) with ``lr``, ``betas``, ``eps`` and no weight decay: ``torch.optim.Adam(params, lr,
    betas, eps, fused=True)`` without ``torch.optim`` (module docstring). The parameters share one device and one
    floating dtype."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        if not self.params or not all(isinstance(p, torch.Tensor) for p in self.params):
            raise ValueError("FusedAdam needs a non-empty list of parameter tensors")
        if len({(p.device, p.dtype) for p in self.params}) != 1 or not self.params[0].is_floating_point():
            raise ValueError("FusedAdam's parameters must share one device and one floating dtype")
        self.lr, self.betas, self.eps = _checked(lr, betas, eps)
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient (as ``torch.optim.Adam`` skips the others)."""
        params = [p for p in self.params if p.grad is not None]
        if not params:
            return
        for p in params:
            if p not in self.state:
                self.state[p] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
        states = [self.state[p] for p in params]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            params,
            [p.grad for p in params],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            steps,
            lr=self.lr,
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=0.0,
            eps=self.eps,
            amsgrad=False,
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )

    def state_dict(self) -> dict:
        """``torch.optim.Adam(..., fused=True).state_dict()``'s layout (the state tensors themselves, not copies)."""
        group = {"lr": self.lr, "betas": self.betas, "eps": self.eps, **_DEFAULT_FLAGS}
        group.update(foreach=None, capturable=False, differentiable=False, fused=True)
        group["params"] = list(range(len(self.params)))
        state = {i: dict(self.state[p]) for i, p in enumerate(self.params) if p in self.state}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state written by :meth:`state_dict` or by ``torch.optim.Adam`` (any implementation) over the same
        parameters; the hyperparameters are the saved ones, as in torch. ``ValueError`` for one that does not fit."""
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if not isinstance(groups, list) or len(groups) != 1 or not isinstance(state_dict.get("state"), dict):
            raise ValueError("an Adam state must hold 'state' and one parameter group")
        group = groups[0]
        if list(group.get("params", ())) != list(range(len(self.params))):
            raise ValueError(
                f"the saved Adam state is for {len(group.get('params', ()))} parameters, not {len(self.params)}"
            )
        for flag, default in _DEFAULT_FLAGS.items():
            if group.get(flag, default) != default:
                raise ValueError(
                    f"the saved Adam state uses {flag}={group[flag]!r}; FusedAdam supports {default!r} only"
                )
        lr, betas, eps = _checked(group["lr"], tuple(group["betas"]), group["eps"])
        loaded = {}
        for index, saved in state_dict["state"].items():
            p = self.params[int(index)]
            if set(saved) != {"step", "exp_avg", "exp_avg_sq"} or saved["exp_avg"].shape != p.shape:
                raise ValueError(f"the saved Adam state of parameter {index} does not fit its shape {tuple(p.shape)}")
            loaded[p] = {
                "step": torch.as_tensor(saved["step"]).to(device=p.device, dtype=torch.float32).clone(),
                "exp_avg": saved["exp_avg"].to(device=p.device, dtype=p.dtype).clone(),
                "exp_avg_sq": saved["exp_avg_sq"].to(device=p.device, dtype=p.dtype).clone(),
            }
        self.lr, self.betas, self.eps, self.state = lr, betas, eps, loaded


def _checked(lr: object, betas: object, eps: object) -> tuple[float, tuple[float, float], float]:
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"Adam's lr must be a finite number > 0 (got {lr!r})")
    if not (isinstance(betas, tuple) and len(betas) == 2 and all(isinstance(b, (int, float)) for b in betas)):
        raise ValueError(f"Adam's betas must be two numbers in [0, 1) (got {betas!r})")
    if not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"Adam's betas must lie in [0, 1) (got {betas!r})")
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"Adam's eps must be a finite number >= 0 (got {eps!r})")
    return float(lr), (float(betas[0]), float(betas[1])), float(eps)


def make_adam(params: Iterable[torch.Tensor], lr: float, device: torch.device) -> FusedAdam | torch.optim.Adam:
    """The training loop's Adam for a player on ``device``: :class:`FusedAdam` on :data:`FUSED_DEVICES`, else
    ``torch.optim.Adam`` with its default implementation (same update rule, same ``state_dict`` layout)."""
    if torch.device(device).type in FUSED_DEVICES:
        return FusedAdam(params, lr=lr)
    return torch.optim.Adam(params, lr=lr)
