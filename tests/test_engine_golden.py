"""The engine's outputs are pinned: masks, saliency, history and scores of every method x variant x
{one area, three areas} x {max_batch None, 1} on two seeds (and the F-EP design options), recorded from
the engine before its redesign (the code of commit 06f7231) in ``tests/data/engine_golden.npz``.

Re-record only for a deliberate change, and say why in the commit:
``python tests/test_engine_golden.py --record``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fep.ep.api import extremal_perturbation
from fep.testing import TinyVideoNet, assert_close_float32

GOLDEN = Path(__file__).resolve().parent / "data" / "engine_golden.npz"
# Compared at float32 tolerance (fep.testing.assert_close_float32): relative 1e-5, plus 1e-5 absolute
# because the terms summed here are of order one (masks, area losses, probabilities; a dual reward of
# 0.03 is a difference of two logits of about 5). Measured between the recording CPU and an AMD EPYC,
# at 1 and 2 threads: at most 9.5e-7 absolute on those quantities and 1.2e-7 relative on the energies
# (up to about 5e3). A change of one part in ten thousand to one energy term is caught (the last test).
TERM_SCALE = 1.0
METHODS = ("ep2d", "ep3d", "step", "fep")
VARIANTS = ("preserve", "delete", "dual")
# The frozen 2026-11 defaults: the recordings predate the 2026-12 ones (F-EP's spatial cutoff 0.5).
COMMON = dict(iterations=5, mask_step=4, progress=False, defaults="2026-11")
# F-EP design options and other switches, each on its own (seed 0, three areas, one batch).
EXTRAS = {
    "fep-modulate-reward": dict(method="fep", modulate="reward"),
    "fep-where-update": dict(method="fep", lowpass_at="update"),
    "fep-where-parametrization": dict(method="fep", lowpass_at="parametrization", preserve_norm=False),
    "fep-schedule-linear": dict(method="fep", schedule="linear"),
    "fep-adam": dict(method="fep", optimizer="adam"),
    "fep-no-norm": dict(method="fep", preserve_norm=False),
    "fep-ideal": dict(method="fep", filter_type="ideal"),
    "fep-butterworth": dict(method="fep", filter_type="butterworth", filter_order=3),
    "fep-core": dict(method="fep", core_weight=300.0, core_start=1),
    "ep3d-jitter": dict(method="ep3d", jitter=True),
    "ep3d-contrastive": dict(method="ep3d", reward="contrastive"),
    "ep3d-logprob-dual": dict(method="ep3d", reward="logprob", variant="dual"),
    "ep3d-fade": dict(method="ep3d", perturbation="fade"),
    "step-late-core": dict(method="step", core_weight=100.0, core_start=3, core_frames=3, core_size=5),
    "fep-init-lr-momentum": dict(method="fep", init=0.7, lr=0.05, momentum=0.5, area_weight=100.0),
}


def _clips(seed: int) -> torch.Tensor:
    return torch.rand(2, 3, 4, 10, 10, generator=torch.Generator().manual_seed(100 + seed))


def cases() -> dict[str, dict]:
    """name -> keyword arguments of extremal_perturbation (plus 'clip_seed')."""
    table = {}
    for seed in (0, 1):
        for method in METHODS:
            for variant in VARIANTS:
                for areas in ((0.1,), (0.05, 0.1, 0.2)):
                    for max_batch in (None, 1):
                        name = f"{method}-{variant}-a{len(areas)}-b{max_batch or 0}-s{seed}"
                        table[name] = dict(
                            method=method, variant=variant, areas=areas, max_batch=max_batch, seed=seed, clip_seed=seed
                        )
    for name, options in EXTRAS.items():
        table[name] = dict(areas=(0.05, 0.1, 0.2), clip_seed=0, **options)
    return table


def run(options: dict) -> dict[str, np.ndarray]:
    options = dict(options)
    video = _clips(options.pop("clip_seed"))
    result = extremal_perturbation(TinyVideoNet(), video, [1, 2], **COMMON, **options)
    arrays = {"masks": result.masks.numpy(), "saliency": result.saliency.numpy()}
    arrays.update({f"history.{k}": np.asarray(v) for k, v in result.history.items()})
    arrays.update({f"scores.{k}": np.asarray(v) for k, v in result.scores.items()})
    return arrays


def _renamed(key: str) -> str:
    # Deliberate renames since the recording: STEP's core loss is called what it is.
    return key.replace("history.smoothness_loss", "history.core_loss")


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as data:
        return {key: data[key] for key in data.files}


def compare(name: str, golden: dict) -> None:
    """Run case ``name`` and compare every output with its recording (AssertionError naming the key)."""
    got = {_renamed(k): v for k, v in run(cases()[name]).items()}
    recorded = {_renamed(k.split("/", 1)[1]): v for k, v in golden.items() if k.split("/", 1)[0] == name}
    assert recorded, f"no recording for {name}"
    assert set(got) == set(recorded), (sorted(got), sorted(recorded))
    for key, value in recorded.items():
        assert_close_float32(got[key], value, scale=TERM_SCALE, msg=f"{name}: {key}")


@pytest.mark.parametrize("name", list(cases()))
def test_engine_reproduces_its_recorded_outputs(name, golden):
    compare(name, golden)


@pytest.mark.parametrize("name", ["ep3d-preserve-a3-b0-s0", "fep-dual-a1-b1-s1", "step-delete-a1-b0-s0"])
def test_the_tolerance_catches_a_change_of_one_part_in_ten_thousand_to_the_energy(name, golden, monkeypatch):
    import fep.ep.engine

    area_loss = fep.ep.engine.area_loss
    monkeypatch.setattr(fep.ep.engine, "area_loss", lambda *args, **kwargs: area_loss(*args, **kwargs) * (1 + 1e-4))
    with pytest.raises(AssertionError, match=f"{name}: (masks|saliency|history|scores)"):
        compare(name, golden)


def record() -> None:
    arrays = {}
    for name, options in cases().items():
        for key, value in run(options).items():
            arrays[f"{name}/{key}"] = value
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **arrays)
    print(f"{len(cases())} cases, {sum(v.size for v in arrays.values())} numbers -> {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_engine_golden.py --record")
    torch.set_num_threads(2)
    record()
