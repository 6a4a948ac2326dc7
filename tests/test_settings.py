"""ExplanationSettings: every option checked once where it is built, presets resolved, a readable repr."""

import json

import pytest

from fep.ep.api import extremal_perturbation
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
    assert values["schedule"] == "custom" and values["areas"] == [0.05, 0.1, 0.2]
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
