"""A Gaussian mixture whose true posterior ``p_r(y|x)`` is known exactly.

TPAMI (``000_...``) states its equilibria in terms of the real label distribution ``p_r(y|x)`` (Theorems 4.2,
4.4), which real datasets never reveal. Here it is known: ``K = 10`` classes of equal prior, ``x | y ~ N(m_y, I)``
in ``d = 20`` dimensions, so ``p_r(y|x) = softmax_y(-||x - m_y||^2 / 2)``, computed in log space.

The class means ``m_y ~ N(0, MEAN_SCALE^2 I)`` are drawn once from a fixed seed, with ``MEAN_SCALE = 0.65``
chosen so that the Bayes classifier is right about 86% of the time (measured on 200,000 draws: 0.858). The
training pool (20,000 points) and the test split (2,000 points) come from two other fixed seeds; the subset seed
only picks the labelled subset of the pool.

Views: ``full``, the student sees ``x``; ``lowres``, the student sees only the first ``d // 2`` features, and the
other half is the teacher's privilege. From half the features the Bayes accuracy drops to about 0.65.
"""

from __future__ import annotations

import functools

import torch

from advdist_lab.data.base import TEST_SIZES, TRAIN_POOL_SIZES, Split, TaskData, stratified_subset

SYNTHETIC_CLASSES = 10
SYNTHETIC_DIM = 20
MEAN_SCALE = 0.65
"""Standard deviation of the class means; sets the Bayes accuracy (about 0.86)."""
MEANS_SEED = 0
POOL_SEED = 1
TEST_SEED = 2


@functools.lru_cache(maxsize=1)
def _means() -> torch.Tensor:
    generator = torch.Generator().manual_seed(MEANS_SEED)
    return MEAN_SCALE * torch.randn(SYNTHETIC_CLASSES, SYNTHETIC_DIM, generator=generator, dtype=torch.float64)


def synthetic_means() -> torch.Tensor:
    """The class means ``m_y``, float64 ``(K, d)``, on the CPU: a copy, the same in every process."""
    return _means().clone()


def gaussian_posterior(x: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """``p_r(y|x) = softmax_y(-||x - m_y||^2 / 2)`` for equal priors and unit covariance, shape ``(N, K)``.

    Computed in float64 log space from ``x`` as given (so it is the posterior of the stored float32 points).
    """
    x = x.to(torch.float64)
    means = means.to(x.device, torch.float64)
    sq_dist = (x.unsqueeze(-2) - means).pow(2).sum(-1)
    return torch.softmax(-0.5 * sq_dist, dim=-1)


def _sample(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` points of the mixture: ``(x float32 (n, d), y int64, p_r float32 (n, K))``."""
    means = _means()
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(means.shape[0], (n,), generator=generator)
    x = (means[y] + torch.randn(n, means.shape[1], generator=generator, dtype=torch.float64)).to(torch.float32)
    return x, y, gaussian_posterior(x, means).to(torch.float32)


@functools.lru_cache(maxsize=1)
def _synthetic_raw() -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    return _sample(TRAIN_POOL_SIZES["synthetic"], POOL_SEED), _sample(TEST_SIZES["synthetic"], TEST_SEED)


def synthetic_student_view(x: torch.Tensor, view: str) -> torch.Tensor:
    """``x`` itself (``full``) or a copy of its first ``d // 2`` features (``lowres``)."""
    if view == "full":
        return x
    return x[:, : x.shape[1] // 2].contiguous()


def load_synthetic_task(
    n_train: int, *, view: str, device: torch.device, subset_seed: int, test_size: int | None
) -> TaskData:
    """The synthetic task; arguments are validated by :func:`advdist_lab.data.load_data`."""
    (pool_x, pool_y, pool_p), (test_x, test_y, test_p) = _synthetic_raw()
    train_index = stratified_subset(pool_y, n_train, subset_seed)
    test_index = torch.arange(len(test_y) if test_size is None else test_size)

    def split(x: torch.Tensor, y: torch.Tensor, p_r: torch.Tensor, index: torch.Tensor) -> Split:
        x = x[index].to(device)
        return Split(x=x, x_student=synthetic_student_view(x, view), y=y[index].to(device), p_r=p_r[index].to(device))

    train = split(pool_x, pool_y, pool_p, train_index)
    test = split(test_x, test_y, test_p, test_index)
    return TaskData(
        name="synthetic",
        view=view,
        num_classes=SYNTHETIC_CLASSES,
        train=train,
        test=test,
        bayes_accuracy=float(test_p[test_index].max(dim=-1).values.double().mean()),
    )
