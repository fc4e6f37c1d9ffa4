"""Plotly figures of robust distillation. Old import path, kept until every caller has moved to
advdist_lab.viz.robust."""

from .viz.robust import (  # noqa: F401
    adaptive_terms_figure,
    generated_images_figure,
    robust_bars_figure,
    robust_curves_figure,
)

__all__ = ["adaptive_terms_figure", "generated_images_figure", "robust_bars_figure", "robust_curves_figure"]
