"""Shared fixtures: the tiny deterministic models and clips of fep.testing."""

import pytest
import torch

from fep.testing import TinyVideoNet, moving_square_clip, square_detector


@pytest.fixture(autouse=True)
def _two_threads():
    # The suite's speed budget is set for 2 threads; keep tests independent of the host.
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, threads))
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def square_clip():
    return moving_square_clip(frames=8, size=32, square=8)


@pytest.fixture
def detector():
    return square_detector()


@pytest.fixture
def tiny_net():
    return TinyVideoNet()
