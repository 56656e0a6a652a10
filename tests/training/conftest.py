"""Training tests run torch on one intra-op thread: the suite runs two pytest workers on two cores, and
OpenMP threads spinning against each other cost ten times the CPU of the work itself on a busy machine."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
