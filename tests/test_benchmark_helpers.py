"""The measuring tools of benchmarks/ (the peak-memory verdict rests on the tensor-peak counter)."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _tensor_peak import tensor_peak_bytes  # noqa: E402


def test_tensor_peak_counts_new_storages_until_freed_and_not_views_or_existing_ones():
    existing = torch.ones(1_000_000)  # made before counting starts, like a model's parameters

    def work():
        a = torch.ones(250_000)  # 1 MB
        b = a * 2  # 2 MB live
        del a  # 1 MB
        c = b + 1  # 2 MB again: the peak
        del b
        c.relu_()  # in place: no new storage
        views = [c[10:], c.view(500, 500), existing.detach(), existing[5:], existing.view(1000, 1000)]
        return views

    peak = tensor_peak_bytes(work)
    assert 2_000_000 <= peak <= 2_000_000 + 64  # a scalar operand may be wrapped in a tiny tensor
