"""What a frozen teacher's forward reveals to a generator loss: its batch-norm statistics and penultimate features.

The BN-based generator losses of DFARD's baselines (``001_...``, Table 1) compare the statistics of a generated
batch, inside the teacher, with the running statistics the teacher learnt on its real data: DeepInversion (Yin
et al. 2020: ``||mu - mu_run||_2 + ||var - var_run||_2`` per layer), DFQ (Choi et al. 2020: per-channel Gaussians;
the CMI toolbox's form on standard deviations) and DERD's ``L_BN`` (supplement Sec. 1). DAFL (Chen et al. 2019)
reads the teacher's penultimate features for its activation loss.

* :class:`BatchNormStatistics`: forward hooks on every ``nn.BatchNorm2d`` of the teacher;
  :meth:`~BatchNormStatistics.loss` in the forms of :data:`BN_STATISTICS`.
* :class:`PenultimateFeatures`: the input of the teacher's last ``nn.Linear`` at each forward.

Statistics are computed in float32 (float64 for float64 inputs), with autograd, so the losses back-propagate to the
generated image and from there to the generator.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from advdist_lab.hparams import check_choice

__all__ = ["BN_STATISTICS", "BatchNormStatistics", "PenultimateFeatures"]

BN_STATISTICS = ("variance", "std", "gaussian-kl")
"""The forms of :meth:`BatchNormStatistics.loss`."""


class PenultimateFeatures:
    """Captures the input of the **last** ``nn.Linear`` of ``model`` (in ``model.modules()`` order) at each forward.

    For every network of :mod:`advdist_lab.robust.models` that is the classifier's input, the teacher's
    penultimate features of DAFL's activation loss (the 128 hidden units of ``digits-cnn``, the pooled 512
    channels of ResNet-18, the pooled channels of a WideResNet). :attr:`features` is the ``(B, ...)`` tensor of
    the latest forward of ``model``, with its autograd graph. Use as a context manager or call :meth:`close`.

    Raises:
        ValueError: if ``model`` is not an ``nn.Module`` or has no ``nn.Linear``.
    """

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module (got {type(model).__name__})")
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError(
                f"the model has no nn.Linear layer, so it has no penultimate features ({type(model).__name__})"
            )
        self.module: nn.Linear = linears[-1]
        self._features: Tensor | None = None
        self._handles = [
            model.register_forward_pre_hook(self._clear),
            self.module.register_forward_pre_hook(self._record),
        ]

    def _clear(self, module: nn.Module, args: Any) -> None:
        self._features = None

    def _record(self, module: nn.Module, args: Any) -> None:
        self._features = args[0]

    @property
    def features(self) -> Tensor:
        """The input of the last ``nn.Linear`` in the latest forward of the model."""
        if self._features is None:
            raise RuntimeError("no penultimate features recorded: run the model forward (after opening the hooks)")
        return self._features

    def reset(self) -> None:
        """Forget the recorded features (a new forward of the model does this too)."""
        self._features = None

    def close(self) -> None:
        """Remove the hooks and drop the recorded tensor. Safe to call twice."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._features = None

    def __enter__(self) -> PenultimateFeatures:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BatchNormStatistics:
    """Forward hooks on every ``nn.BatchNorm2d`` of ``model`` recording the statistics of each layer's input.

    At each call of a hooked layer the hook computes the per-channel mean and **unbiased** variance of the
    layer's input over ``(N, H, W)``, in float32 and with autograd (so :meth:`loss` back-propagates to the input
    image and from there to the generator). A forward pre-hook on ``model`` itself clears the records, so after
    ``model(x)`` the records are exactly those of that forward: call the model once, then :meth:`loss`. (Calling
    a submodule directly does not clear them; :meth:`reset` does.) A layer called twice in one forward is
    recorded twice and counted twice.

    The statistics are compared with the layer's ``running_mean`` and ``running_var``. DeepInversion's code uses
    the biased batch variance; we use the unbiased one, which is what ``BatchNorm2d`` averages into
    ``running_var``, so a batch whose own statistics became the running statistics has loss exactly 0 (the two
    differ by the factor ``n / (n - 1)``, ``n = N * H * W``).

    The object also holds a :class:`PenultimateFeatures` of the same model (:attr:`penultimate`, ``None`` when
    the model has no ``nn.Linear``), which DAFL's activation loss reads.

    Use as a context manager, or call :meth:`close` to remove every hook. Set :attr:`enabled` to ``False`` to
    skip the statistics (e.g. during the distillation stage's many teacher forwards).

    Attributes:
        layers: the number of hooked ``BatchNorm2d`` layers (0 for a model without batch norm).
        modules: the hooked layers, in ``model.modules()`` order.
    """

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module (got {type(model).__name__})")
        self.modules: tuple[nn.BatchNorm2d, ...] = tuple(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
        self.enabled = True
        self._records: list[tuple[nn.BatchNorm2d, Tensor, Tensor, bool]] = []
        self._closed = False
        self._handles = [model.register_forward_pre_hook(self._new_forward)]
        self._handles += [m.register_forward_hook(self._record) for m in self.modules]
        has_linear = any(isinstance(m, nn.Linear) for m in model.modules())
        self.penultimate: PenultimateFeatures | None = PenultimateFeatures(model) if has_linear else None

    @property
    def layers(self) -> int:
        return len(self.modules)

    def _new_forward(self, module: nn.Module, args: Any) -> None:
        self._records = []

    def _record(self, module: nn.Module, args: Any, output: Any) -> None:
        if not self.enabled:
            return
        x = args[0]
        x = x.to(torch.promote_types(x.dtype, torch.float32))
        n = x.numel() // x.shape[1]
        var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=1 if n > 1 else 0)
        self._records.append((module, mean, var, module.training))

    def reset(self) -> None:
        """Forget the recorded statistics (a forward of the model does this too)."""
        self._records = []
        if self.penultimate is not None:
            self.penultimate.reset()

    @property
    def features(self) -> Tensor:
        """The model's penultimate features of the latest forward (see :class:`PenultimateFeatures`)."""
        if self.penultimate is None:
            raise ValueError("the model has no nn.Linear layer, so it has no penultimate features")
        return self.penultimate.features

    def loss(self, statistic: str = "variance") -> Tensor:
        """The batch-norm statistics loss of the latest forward, summed over the recorded layer calls.

        Per layer, with the batch's mean ``mu`` and variance ``var`` and the layer's running ``mu_r``, ``var_r``
        and ``eps``:

        * ``"variance"`` (DeepInversion): ``||mu - mu_r||_2 + ||var - var_r||_2``.
        * ``"std"``: ``||mu - mu_r||_2 + ||sigma - sigma_r||_2`` with ``sigma = sqrt(var + eps)``,
          ``sigma_r = sqrt(var_r + eps)`` (the standard deviations the layer divides by).
        * ``"gaussian-kl"`` (DFQ's paper): ``sum_c KL(N(mu_c, sigma_c^2) || N(mu_r,c, sigma_r,c^2))``.

        Raises:
            ValueError: for an unknown ``statistic``, a model without ``BatchNorm2d``, or records made with the
                layers in training mode (the running statistics would then include the batch itself: put the
                teacher in ``eval()`` mode).
            RuntimeError: if no forward of the model has been recorded since the hooks were opened or reset, or
                after :meth:`close`.
        """
        check_choice("statistic", statistic, BN_STATISTICS)
        if self.layers == 0:
            raise ValueError("the teacher has no batch norm (no nn.BatchNorm2d layer), so it has no BN statistics")
        if self._closed:
            raise RuntimeError("BatchNormStatistics is closed: its hooks were removed")
        if not self._records:
            raise RuntimeError(
                "no batch-norm statistics recorded: run the teacher forward once (with enabled=True) before loss()"
            )
        if any(training for *_, training in self._records):
            raise ValueError(
                "the teacher's batch norm layers were in training mode in the recorded forward: call teacher.eval() "
                "(in training mode the running statistics absorb the generated batch)"
            )
        total = self._records[0][1].new_zeros(())
        for module, mean, var, _ in self._records:
            run_mean = module.running_mean.to(mean.dtype)
            run_var = module.running_var.to(var.dtype)
            if statistic == "variance":
                term = torch.linalg.vector_norm(mean - run_mean) + torch.linalg.vector_norm(var - run_var)
            elif statistic == "std":
                sigma = torch.sqrt(var + module.eps)
                sigma_r = torch.sqrt(run_var + module.eps)
                term = torch.linalg.vector_norm(mean - run_mean) + torch.linalg.vector_norm(sigma - sigma_r)
            else:
                v = var + module.eps
                v_r = run_var + module.eps
                term = 0.5 * (torch.log(v_r / v) + (v + (mean - run_mean) ** 2) / v_r - 1.0).sum()
            total = total + term
        return total

    def close(self) -> None:
        """Remove every hook (and the penultimate-feature hooks) and drop the records. Safe to call twice."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._records = []
        self._closed = True
        if self.penultimate is not None:
            self.penultimate.close()

    def __enter__(self) -> BatchNormStatistics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
