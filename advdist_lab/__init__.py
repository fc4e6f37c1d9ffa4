"""advdist-lab: an executable companion to adversarial distillation.

The core (``hparams``, ``gumbel``, ``losses``, ``metrics``, ``probes``, ``environment``, ``files``) and the rooms
below the notebook side (``theory``, ``data``, ``models``, ``methods``, ``runs``, ``experiments``, ``robust``,
``cli``) import torch and numpy only, so a GPU machine without Jupyter can use them from the command line.
``viz`` and ``widgets`` import plotly and ipywidgets, and ``course`` the notebook tools (jupytext, papermill,
nbconvert); import them explicitly when you need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
