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


def test_non_inferiority_call_uses_the_worse_end_of_the_interval_in_each_metrics_direction():
    from _paired import MARGIN, non_inferior, paired_tests, with_holm

    old = [{"auc": 0.5, "cost": 1.0} for _ in range(6)]
    slightly_worse = [{"auc": 0.5 - 0.5 * MARGIN + 0.001 * (-1) ** i, "cost": 1.0 + 0.5 * MARGIN} for i in range(6)]
    clearly_worse = [{"auc": 0.5 - 3 * MARGIN + 0.001 * i, "cost": 1.0 + 3 * MARGIN + 0.001 * i} for i in range(6)]
    lower_is_better = {"cost"}
    for rows, verdict in ((slightly_worse, "yes"), (clearly_worse, "no")):
        tests = with_holm(paired_tests(rows, old, ("auc", "cost")))
        assert [non_inferior(t, lower_is_better) for t in tests] == [verdict, verdict]
        assert all(0 <= t["holm"] <= 1 for t in tests)
    # a clip missing a value on either side is left out of the pairs, not counted as zero
    gappy = [dict(r) for r in slightly_worse]
    gappy[0]["auc"] = None
    assert paired_tests(gappy, old, ("auc",))[0]["difference"][2] == 5
