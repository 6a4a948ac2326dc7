"""Widget logic without a browser: every control's callback and what it shows."""

import pytest
import torch

from fep.ep.api import extremal_perturbation
from fep.ep.dct import lowpass
from fep.testing import TinyVideoNet, moving_square_clip
from fep.viz.widgets import ExplanationExplorer, FrequencyExplorer, LiveView

VIDEO, TRUTH = moving_square_clip(frames=6, size=24, square=6)
FRAMES = VIDEO[0]
VOLUME = torch.rand(6, 24, 24, generator=torch.Generator().manual_seed(0)) * TRUTH


def test_frame_slider_and_method_show_the_frame_once_each():
    ex = FrequencyExplorer(FRAMES, VOLUME)
    first, renders = ex.image.value, ex.renders
    ex.frame_slider.value = 3  # as the browser does
    assert ex.frame == 3 and "frame 3" in ex.status.value and ex.renders == renders + 1
    assert ex.image.value != first
    ex.set_frame(5)  # as code does: the slider follows without a second render
    assert ex.frame_slider.value == 5 and ex.renders == renders + 2
    with pytest.raises(ValueError, match="between 0 and 5"):
        ex.set_frame(6)


def test_cutoffs_and_filter_refilter_the_volume_and_cache_it():
    ex = FrequencyExplorer(FRAMES, VOLUME, temporal_cutoff=0.25, spatial_cutoff=0.25)
    ex.temporal_slider.value = 0.5
    assert ex.temporal_cutoff == 0.5 and "temporal cutoff 0.50" in ex.status.value
    torch.testing.assert_close(ex.modulated, lowpass(VOLUME.double(), 0.5, 0.25, "gaussian"))
    kept = ex.modulated
    ex.set_cutoffs(spatial=0.1)
    assert ex.spatial_slider.value == 0.1
    ex.set_cutoffs(spatial=0.25)
    assert ex.modulated is kept  # cached, not recomputed
    ex.filter_dropdown.value = "ideal"
    assert ex.filter_type == "ideal" and "ideal" in ex.status.value
    torch.testing.assert_close(ex.modulated, lowpass(VOLUME.double(), 0.5, 0.25, "ideal"))
    ex.set_cutoffs(1.0, 1.0)
    torch.testing.assert_close(ex.modulated, VOLUME.double())
    assert ex.stats["modulated"]["temporal_difference"] == pytest.approx(ex.stats["raw"]["temporal_difference"])
    with pytest.raises(ValueError, match="cutoff must lie in"):
        ex.set_cutoffs(temporal=1.5)
    with pytest.raises(ValueError, match="Unknown filter"):
        ex.set_filter("box")


def test_lowpass_shows_smoother_numbers():
    ex = FrequencyExplorer(FRAMES, VOLUME, temporal_cutoff=0.2, spatial_cutoff=0.2)
    raw, low = ex.stats["raw"], ex.stats["modulated"]
    assert low["concentration_s"] > raw["concentration_s"]
    assert low["temporal_difference"] < raw["temporal_difference"]


def _explanation(method):
    model = TinyVideoNet()
    return extremal_perturbation(model, VIDEO, 0, method=method, areas=(0.1, 0.3), iterations=3, progress=False)


def test_explanation_explorer_controls():
    results = {"F-EP": _explanation("fep"), "3D-EP": _explanation("ep3d")}
    ex = ExplanationExplorer(FRAMES, results, boxes=torch.tensor([[9, 0, 15, 6]] * 6))
    assert set(ex.maps()) == {"F-EP", "3D-EP"} and ex.maps()["F-EP"].shape == (6, 24, 24)
    renders = ex.renders
    ex.area_dropdown.value = 0.3
    assert ex.area == 0.3 and "mask at area 0.3" in ex.status.value
    torch.testing.assert_close(ex.maps()["3D-EP"], results["3D-EP"].masks[0, 1])
    ex.opacity_slider.value = 0.2
    assert ex.opacity == 0.2 and "opacity 0.20" in ex.status.value
    shown = ex.image.value
    ex.truth_checkbox.value = False
    assert not ex.show_truth and ex.image.value != shown
    ex.frame_slider.value = 2
    assert "frame 2" in ex.status.value and ex.renders == renders + 4
    ex.set_area("all")
    assert ex.area_dropdown.value == "all"
    ex.set_area(0.3)
    assert ex.area_dropdown.value == 0.3
    with pytest.raises(ValueError, match=r"area must be 'all' or one of the explained areas \(.*0\.3\), got 5"):
        ex.set_area(5)
    plain = ExplanationExplorer(FRAMES, results["F-EP"])
    assert plain.truth_checkbox.disabled
    with pytest.raises(ValueError, match="No ground-truth boxes"):
        plain.set_show_truth(True)


def test_live_view_updates_during_an_optimisation():
    view = LiveView(FRAMES)
    extremal_perturbation(
        TinyVideoNet(), VIDEO, 0, areas=(0.2,), iterations=9, progress=False, callback=view.callback, callback_every=4
    )
    assert view.updates == 3 and view.image.value[:4] == b"\x89PNG"
    assert "iteration 9" in view.status.value


def test_every_explorer_is_a_widget_that_composes_in_boxes():
    import ipywidgets

    from fep.viz.widgets import CutoffExplorer

    result = _explanation("fep")
    explorers = [
        FrequencyExplorer(FRAMES, torch.rand(6, 24, 24)),
        ExplanationExplorer(FRAMES, result),
        CutoffExplorer(FRAMES, {0.25: result, 1.0: _explanation("ep3d")}, evidence=torch.ones(6, dtype=torch.bool)),
        LiveView(FRAMES),
    ]
    box = ipywidgets.VBox([ipywidgets.HBox(explorers[:2]), *explorers[2:]])
    assert list(box.children[0].children) == explorers[:2]
    for explorer in explorers:
        assert isinstance(explorer, ipywidgets.DOMWidget) and explorer.widget is explorer
        bundle = explorer._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle  # IPython displays it as it is
        assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.model_id


def test_the_explanation_explorer_takes_any_saliency_next_to_explanations():
    result = _explanation("fep")
    cam = torch.rand(1, 6, 24, 24)  # a Grad-CAM-3D batch of one clip
    ex = ExplanationExplorer(FRAMES, {"F-EP": result, "Grad-CAM-3D": cam})
    shown = ex.maps()
    assert shown["Grad-CAM-3D"].shape == (6, 24, 24) and float(shown["Grad-CAM-3D"].max()) == 1.0
    torch.testing.assert_close(shown["F-EP"], result.normalised_saliency[0])
    ex.set_area(0.3)  # the tensor has no areas: it keeps its map, the explanation shows that mask
    torch.testing.assert_close(ex.maps()["Grad-CAM-3D"], shown["Grad-CAM-3D"])
    torch.testing.assert_close(ex.maps()["F-EP"], result.masks[0, 1])
    listed = ExplanationExplorer(FRAMES, [result, _explanation("ep3d"), cam[0]])
    assert list(listed.maps()) == ["F-EP", "3D-EP", "map 2"]
    with pytest.raises(ValueError, match=r"'map 0' must be an Explanation or a saliency .* T = 6, got \(5, 24, 24\)"):
        ExplanationExplorer(FRAMES, [torch.rand(5, 24, 24)])


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="T = 6"):
        FrequencyExplorer(FRAMES, torch.rand(5, 24, 24))


def test_cutoff_explorer_moves_between_explanations_and_reports_their_numbers():
    from fep.ep.api import extremal_perturbation
    from fep.errors import FepValueError
    from fep.testing import TinyVideoNet
    from fep.viz.widgets import CutoffExplorer

    torch.manual_seed(0)
    model = TinyVideoNet()
    video = torch.rand(1, 3, 6, 32, 32)
    runs = {c: extremal_perturbation(model, video, 0, areas=(0.2,), iterations=3, temporal_cutoff=c, progress=False)
            for c in (0.1, 1.0)}  # fmt: skip
    evidence = torch.tensor([False, True, True, False, False, False])
    explorer = CutoffExplorer(video[0], runs, evidence=evidence)
    first = explorer.image.value
    explorer.set_cutoff(0.1)
    assert explorer.cutoff_slider.value == 0.1 and explorer.image.value != first
    assert "cutoff 0.1" in explorer.status.value and "temporal difference" in explorer.status.value
    assert 0 <= explorer.numbers[1.0]["temporal_localisation"] <= 1
    with pytest.raises(FepValueError, match="cutoff must be one of"):
        explorer.set_cutoff(0.5)
    with pytest.raises(FepValueError, match="one flag per frame"):
        CutoffExplorer(video[0], runs, evidence=evidence[:3])
