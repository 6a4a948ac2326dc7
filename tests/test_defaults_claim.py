"""What the 2026-12 defaults claim, asserted on three bundled samples with the shipped toy model: F-EP's
saliency changes at most 0.7 times as much from frame to frame as 3D-EP's, and its temporal
difference is closer to the ground truth's own.

The same comparison over the v3 benchmark's test clips is in ``results/benchmark_v3/``; these three
samples are what a reader of the README can rerun in a minute.
"""

from __future__ import annotations

import pytest
import torch

from fep.bench.map_metrics import temporal_difference
from fep.data.samples import load_sample
from fep.ep.api import extremal_perturbation
from fep.models import load_model, preprocess

SAMPLES = (0, 3, 6)  # three classes, one each of the first, middle and last samples


def _truth_map(truth: dict) -> torch.Tensor:
    actor = torch.as_tensor(truth["actor_mask"]).double()
    evidence = torch.as_tensor(truth["evidence"]).double()
    return actor * evidence[:, None, None] if not bool(evidence.all()) else actor


@pytest.mark.slow
@pytest.mark.parametrize("index", SAMPLES)
def test_at_the_defaults_f_ep_is_smoother_than_3d_ep_and_closer_to_the_truths_own_smoothness(index):
    clip, truth = load_sample(index)
    model, video = load_model("toy"), preprocess(clip.frames, "toy")
    td = {
        method: float(temporal_difference(
            extremal_perturbation(model, video, truth["label"], method=method, progress=False).saliency[0].double()
        ))
        for method in ("ep3d", "fep")
    }  # fmt: skip
    td_truth = float(temporal_difference(_truth_map(truth)))
    assert td["fep"] <= 0.7 * td["ep3d"], td
    assert abs(td["fep"] - td_truth) < abs(td["ep3d"] - td_truth), (td, td_truth)
