"""advdist-lab: an executable companion to adversarial distillation.

The core modules (``hparams``, ``theory``, ``game``, ``theorems``, ``environment``) import torch and numpy
only, so a GPU machine without Jupyter can use them from the command line. ``viz`` imports plotly and
``course`` the notebook tools (jupytext, papermill, nbconvert); import them explicitly when you need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
