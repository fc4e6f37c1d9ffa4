"""The figures of notebooks 08 and 09 (advdist_lab.viz.robust): they show the data they are given."""

from __future__ import annotations

import pytest
import torch

from advdist_lab.viz.robust import (
    adaptive_terms_figure,
    generated_images_figure,
    robust_bars_figure,
    robust_curves_figure,
)

HISTORY = [
    {"epoch": 1, "tau": 4.0, "tau_distill": 4.0, "lambda": 0.5, "teacher_confidence": 0.3, "clean": 0.5, "pgd_s": 0.2},
    {"epoch": 2, "tau": 2.0, "tau_distill": 2.0, "lambda": 0.2, "teacher_confidence": 0.7, "clean": 0.6, "pgd_s": 0.3},
]


def test_generated_images_one_row_per_class():
    images = torch.rand(6, 1, 8, 8)
    labels = torch.tensor([0, 0, 0, 2, 2, 2])
    fig = generated_images_figure(images, labels, max_per_class=2)
    assert len(fig.data) == 4
    assert fig.data[0].z.shape == (8, 8)
    rgb = generated_images_figure(torch.rand(2, 3, 4, 4), torch.tensor([1, 3]))
    assert rgb.data[0].type == "image" and rgb.data[0].z.shape == (4, 4, 3)
    with pytest.raises(ValueError, match="images must be"):
        generated_images_figure(torch.rand(2, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="max_per_class must be at least 1"):
        generated_images_figure(images, labels, max_per_class=0)


def test_adaptive_terms_plot_tau_lambda_and_confidence():
    fig = adaptive_terms_figure({"dfard": HISTORY})
    by_axis = {(t.xaxis, t.name): list(t.y) for t in fig.data}
    assert by_axis[("x", "dfard")] == [4.0, 2.0]
    assert by_axis[("x2", "dfard")] == [0.5, 0.2]
    assert by_axis[("x3", "dfard")] == [0.3, 0.7]
    assert by_axis[("x", "dfard (distillation)")] == [4.0, 2.0]


def test_robust_curves_in_percent_with_references():
    fig = robust_curves_figure({"run": HISTORY}, attacks=("clean", "pgd_s", "fgsm"), references={"undefended": 0.1})
    assert [list(t.y) for t in fig.data] == [[50.0, 60.0], [20.0, 30.0]]
    assert len(fig.layout.shapes) == 2 and fig.layout.shapes[0].y0 == pytest.approx(10.0)
    with pytest.raises(ValueError, match="no history holds"):
        robust_curves_figure({"run": HISTORY}, attacks=("cw_inf",))


def test_robust_curves_of_the_validation_accuracies():
    history = [{"epoch": e, "val_clean": 0.1 * e, "val_pgd_t": 0.05 * e, "clean": 0.9} for e in (1, 2)]
    fig = robust_curves_figure({"run": history}, attacks=("clean", "pgd_t"), prefix="val_")
    assert [list(t.y) for t in fig.data] == [[10.0, 20.0], [5.0, 10.0]]
    assert [a.text for a in fig.layout.annotations] == ["Clean (validation)", "PGD_T (validation)"]
    with pytest.raises(ValueError, match="no history holds any of val_pgd_s"):
        robust_curves_figure({"run": history}, attacks=("pgd_s",), prefix="val_")


def test_bars_put_ours_beside_the_paper():
    fig = robust_bars_figure({"Ours": {"clean": 80.0, "pgd_s": 40.0}}, {"Ours": {"clean": 66.44, "pgd_s": 35.94}})
    assert [list(t.y) for t in fig.data] == [[80.0, 40.0], [66.44, 35.94]]
    assert fig.data[1].xaxis == "x2"
