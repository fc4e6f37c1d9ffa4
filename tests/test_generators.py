"""The conditional generator g(z, y) of DAFL-style data-free distillation (DFARD Eq. 1, 6)."""

from __future__ import annotations

import pytest
import torch

from advdist_lab.robust import ConditionalGenerator


@pytest.mark.parametrize(("shape", "classes"), [((1, 8, 8), 10), ((3, 32, 32), 10), ((2, 12, 16), 3)])
def test_sample_shapes_range_and_labels(shape: tuple[int, int, int], classes: int) -> None:
    torch.manual_seed(0)
    gen = ConditionalGenerator(classes, shape, z_dim=16, width=8)
    images, labels, z = gen.sample(6, generator=torch.Generator().manual_seed(1))
    images = images.detach()
    assert images.shape == (6, *shape)
    assert labels.shape == (6,) and labels.dtype == torch.int64
    assert int(labels.min()) >= 0 and int(labels.max()) < classes
    assert z.shape == (6, 16)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert torch.isfinite(images).all()


def test_labels_cover_all_classes_uniformly_enough() -> None:
    gen = ConditionalGenerator(4, (1, 8, 8), z_dim=8, width=4)
    _, labels, _ = gen.sample(400, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(labels, minlength=4)
    assert (counts > 60).all(), counts


def test_determinism_with_torch_generator() -> None:
    torch.manual_seed(0)
    gen = ConditionalGenerator(10, (1, 8, 8), z_dim=16, width=8).eval()
    a = gen.sample(5, generator=torch.Generator().manual_seed(7))
    b = gen.sample(5, generator=torch.Generator().manual_seed(7))
    c = gen.sample(5, generator=torch.Generator().manual_seed(8))
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a[2], c[2])


def test_label_changes_output() -> None:
    torch.manual_seed(0)
    gen = ConditionalGenerator(10, (3, 32, 32), z_dim=16, width=8).eval()
    z = torch.randn(4, 16)
    out0 = gen(z, torch.zeros(4, dtype=torch.long))
    out1 = gen(z, torch.ones(4, dtype=torch.long))
    assert (out0 - out1).abs().max() > 1e-3
    # given labels are used as they are
    images, labels, _ = gen.sample(4, labels=torch.tensor([3, 3, 1, 0]))
    assert labels.tolist() == [3, 3, 1, 0]
    assert images.shape == (4, 3, 32, 32)


def test_gradients_flow_to_parameters() -> None:
    torch.manual_seed(0)
    gen = ConditionalGenerator(10, (1, 8, 8), z_dim=16, width=8)
    images, _, _ = gen.sample(8)
    images.mean().backward()
    for name, param in gen.named_parameters():
        assert param.grad is not None, name
    assert gen.fc.weight.grad.abs().sum() > 0
    assert gen.label_embedding.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_classes": 1, "image_shape": (1, 8, 8)}, "num_classes"),
        ({"num_classes": 2.0, "image_shape": (1, 8, 8)}, "num_classes"),
        ({"num_classes": 10, "image_shape": (1, 7, 8)}, "multiples of 4"),
        ({"num_classes": 10, "image_shape": (0, 8, 8)}, "multiples of 4"),
        ({"num_classes": 10, "image_shape": (8, 8)}, "three integers"),
        ({"num_classes": 10, "image_shape": (1, 8, 8), "z_dim": 0}, "z_dim"),
        ({"num_classes": 10, "image_shape": (1, 8, 8), "width": -1}, "width"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ConditionalGenerator(**kwargs)


def test_bad_call_arguments() -> None:
    gen = ConditionalGenerator(10, (1, 8, 8), z_dim=16, width=8)
    with pytest.raises(ValueError, match="batch"):
        gen.sample(0)
    with pytest.raises(ValueError, match="generator"):
        gen.sample(2, generator=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        gen.sample(2, labels=torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="shape"):
        gen.sample(2, labels=torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="integer"):
        gen.sample(2, labels=torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="z_dim"):
        gen(torch.randn(2, 15), torch.tensor([0, 1]))
