"""ExplanationSettings: every option checked once where it is built, presets resolved, a readable repr."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fep.ep.api import extremal_perturbation
from fep.ep.presets import DEFAULT_AREAS
from fep.ep.settings import ExplanationSettings
from fep.testing import TinyVideoNet


def test_method_presets_and_optimiser_resolve_the_dependent_defaults():
    assert ExplanationSettings(method="step").core_weight == 300.0
    assert ExplanationSettings(method="fep").core_weight == 0.0
    assert ExplanationSettings(method="ep2d").preset.area_per_frame
    assert ExplanationSettings(method="fep").preset.lowpass and not ExplanationSettings(method="ep3d").preset.lowpass
    assert ExplanationSettings(optimizer="adam").lr == 0.05 and ExplanationSettings().lr == 0.1
    assert ExplanationSettings().modulate == "energy" and ExplanationSettings().preserve_norm is True
    assert ExplanationSettings(lowpass_at="update").preserve_norm is False
    assert ExplanationSettings(iterations=60).core_start == 3


def test_repr_shows_only_what_differs_from_the_methods_defaults():
    assert repr(ExplanationSettings()) == "ExplanationSettings(method='fep')"
    assert repr(ExplanationSettings(method="step")) == "ExplanationSettings(method='step')"  # core 300 is its default
    text = repr(ExplanationSettings(method="fep", areas=[0.1], temporal_cutoff=0.1, jitter=True))
    assert text == "ExplanationSettings(method='fep', areas=(0.1,), temporal_cutoff=0.1, jitter=True)"


def test_to_dict_is_json_and_a_custom_schedule_is_named():
    values = ExplanationSettings(schedule=lambda i, n: (0.5, 0.5)).to_dict()
    assert values["schedule"] == "custom" and values["areas"] == list(DEFAULT_AREAS)
    json.dumps(values)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(method="gradcam"), "Unknown method 'gradcam'"),
        (dict(lowpass_at="everywhere"), "Unknown lowpass_at 'everywhere'"),
        (dict(num_levels=1), "num_levels must be an integer >= 2"),
        (dict(core_weight=-1), "core_weight must be >= 0"),
        (dict(seed=0.5), "seed must be an integer"),
        (dict(filter_type="box"), "Unknown filter_type 'box'"),
        (dict(lowpass_at="parametrization", preserve_norm=True), "preserve_norm has no meaning"),
    ],
)
def test_each_bad_option_gets_its_own_sentence(options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ExplanationSettings(**options)


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        ExplanationSettings().iterations = 3


def test_new_keywords_filter_type_and_lowpass_at_work_beside_the_old_ones():
    common = dict(areas=(0.1,), iterations=3, progress=False)
    model, video = TinyVideoNet(), __import__("torch").rand(1, 3, 4, 16, 16)
    with pytest.warns(DeprecationWarning) as record:
        old = extremal_perturbation(model, video, 0, filter="ideal", where="update", **common)
    assert sorted(str(w.message) for w in record) == [
        "extremal_perturbation: filter= is now filter_type=.", "extremal_perturbation: where= is now lowpass_at=.",
    ]
    new = extremal_perturbation(model, video, 0, filter_type="ideal", lowpass_at="update", **common)
    assert (old.masks == new.masks).all() and old.settings == new.settings
    assert new.settings["filter_type"] == "ideal" and new.settings["lowpass_at"] == "update"
    with pytest.raises(ValueError, match="filter='ideal' and filter_type='butterworth' disagree"), pytest.warns(
        DeprecationWarning
    ):
        extremal_perturbation(model, video, 0, filter="ideal", filter_type="butterworth", **common)


# ---- the named defaults ----

FROZEN = Path(__file__).resolve().parent / "data" / "defaults_2026_11.npz"


def _frozen_clip():
    return torch.rand(1, 3, 6, 24, 24, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("method", ["ep2d", "ep3d", "step", "fep"])
def test_the_frozen_2026_11_defaults_reproduce_what_that_version_returned(method):
    """Recorded from the code before the 2026-12 defaults (every option left unset but mask_step)."""
    result = extremal_perturbation(TinyVideoNet(), _frozen_clip(), 1, method=method, mask_step=4, progress=False,
                                   defaults="2026-11")  # fmt: skip
    # Up to 100 iterations and a stopping decision: float32 noise of another CPU can grow along the run
    # and move a stop by an iteration, so the masks are compared to 1e-3 and the stops to 2 iterations.
    # The 2026-12 defaults differ from these by far more (other areas, start and schedule).
    with np.load(FROZEN) as recorded:
        np.testing.assert_allclose(result.masks.numpy(), recorded[f"{method}/masks"], rtol=0, atol=1e-3)
        np.testing.assert_allclose(result.saliency.numpy(), recorded[f"{method}/saliency"], rtol=0, atol=3e-3)
        assert np.abs(result.iterations_used - recorded[f"{method}/iterations_used"]).max() <= 2
    assert result.areas == (0.05, 0.1, 0.2) and result.settings["init"] == "saliency_smooth"


def test_one_set_of_default_areas_for_the_api_the_cli_and_the_benchmark():
    from fep.bench.methods import REGISTRY
    from fep.bench.runner import _budget
    from fep.cli import build_parser

    explain = build_parser()._subparsers._group_actions[0].choices["explain"]
    flags = {a.dest: a for a in explain._actions}
    assert ExplanationSettings().areas == DEFAULT_AREAS and flags["areas"].default is None
    assert "areas" not in _budget(REGISTRY["fep"], fast=False)  # a full benchmark run explains the defaults
    assert "iterations" not in _budget(REGISTRY["ep3d"], fast=False)


def test_under_auto_each_method_starts_as_chosen_and_f_ep_low_passes_in_time_only():
    chosen = dict.fromkeys(("ep2d", "ep3d", "step", "fep"), 1.0)
    for method, start in chosen.items():
        assert ExplanationSettings(method=method).init == start
        assert ExplanationSettings(method=method, defaults="2026-11").init == "saliency_smooth"
    assert ExplanationSettings(method="fep", iterations=20).init == 1.0
    assert ExplanationSettings(method="fep").spatial_cutoff == 1.0
    assert ExplanationSettings(method="fep", defaults="2026-11").spatial_cutoff == 0.25


def test_each_method_starts_on_its_own_only_f_ep_low_passes_its_warm_start(monkeypatch):
    import fep.ep.problem

    seen = {}
    original = fep.ep.problem.warm_start

    def spy(*args):
        seen[len(seen)] = args[-1]
        return original(*args)

    monkeypatch.setattr(fep.ep.problem, "warm_start", spy)
    for method in ("ep3d", "fep"):
        extremal_perturbation(TinyVideoNet(), _frozen_clip(), 1, method=method, areas=(0.1,), init="saliency",
                              iterations=2, mask_step=4, progress=False)  # fmt: skip
    assert seen[0] is None and seen[1] is not None  # 3D-EP: raw cell averages; F-EP: its own low-pass
    cells = torch.rand(1, 6, 6, 6, generator=torch.Generator().manual_seed(0))
    own = seen[1](cells)
    assert not torch.allclose(own, cells)


def test_the_nested_saliency_grades_each_voxel_by_the_smallest_area_keeping_it():
    from fep.ep.explanation import Explanation

    small, large = torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    small[0, 0, 0, 0] = 1.0  # kept at the small area only (a non-nested pair of masks)
    large[0, 0, 0, 1] = large[0, 0, 1, 1] = 1.0
    masks = torch.stack([large, small], dim=1)  # areas given large first: the rule sorts them
    nested = Explanation(masks=masks, areas=(0.5, 0.25), target=[0], method="fep", settings={"saliency": "nested"})
    summed = Explanation(masks=masks, areas=(0.5, 0.25), target=[0], method="fep", settings={"saliency": "sum"})
    assert nested.saliency[0, 0].tolist() == [[1.0, 0.5], [0.0, 0.5]]
    assert summed.saliency[0, 0].tolist() == [[1.0, 1.0], [0.0, 1.0]]
    assert torch.equal(summed.normalised_saliency, summed.saliency / 2)
    assert torch.equal(nested.normalised_saliency, nested.saliency)


def test_every_mask_records_the_area_it_reached():
    result = extremal_perturbation(TinyVideoNet(), _frozen_clip(), 1, method="ep3d", areas=(0.1, 0.3),
                                   iterations=3, mask_step=4, progress=False)  # fmt: skip
    expected = (result.masks > 0.5).float().mean(dim=(-3, -2, -1)).numpy()
    assert result.reached_areas.shape == (1, 2) and np.allclose(result.reached_areas, expected)
    assert result.settings["saliency"] == "nested" and float(result.saliency.max()) <= 1.0
