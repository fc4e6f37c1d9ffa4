"""Shared pytest configuration.

Under CI (``CI`` set in the environment) hypothesis draws the same examples on every run, so a red build is
reproducible; locally it explores new examples each run and remembers failures in ``.hypothesis/``.

``one_torch_thread``: the training tests run torch on one CPU thread, as ``advdist-lab`` does for the digits
models, so that results compare exactly with runs in other processes (the CLI, table workers).
"""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
