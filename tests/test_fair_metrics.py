"""The yardstick, with known answers: normalised-margin faithfulness and the matched-area game on a
model whose evidence is a known window, the cascading randomisation check, the t intervals and Holm's
correction, smoothness of the ground truth itself, and the seed splits."""

from __future__ import annotations

import math

import pytest
import torch

from fep.bench.clips import Clip, synthetic_clips
from fep.bench.faithfulness import GAME_AREAS, deletion_insertion, matched_area_game
from fep.bench.map_metrics import rank_correlation, temporal_difference
from fep.bench.methods import REGISTRY
from fep.bench.randomisation import cascade_depths, parameter_layers, randomised_copy
from fep.bench.runner import truth_map
from fep.bench.stats import holm, mean_ci, paired_t
from fep.ep.perturbation import blur_frames
from fep.testing import TinyVideoNet, WindowDetector, window_clip

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def window_case():
    """A linear detector of one window, its clip, and maps: the oracle, a random one,
    and two methods' own (the gradient, and F-EP at its defaults)."""
    video, inside = window_clip(frames=4, size=48, top=8, left=4, window=12)
    model = WindowDetector(top=8, left=4, size=12)
    # The detector is linear: a voxel's worth is its brightness above the perturbed clip's, inside the
    # window; ranking by it is the best any map can do in the game, and it is 0 outside the window.
    worth = (video - blur_frames(video, 20.0))[0].sum(0).double() * inside
    assert bool((worth[inside] > 0).all())
    maps = {
        "oracle": worth,
        "random": torch.rand(inside.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64),
        "gradient": REGISTRY["gradient"].saliency(model, video, 0)[0].abs(),
        "ig": REGISTRY["ig"].saliency(model, video, 0, steps=8, progress=False)[0].abs(),
    }
    for name in ("ep3d", "step", "fep"):  # at the package defaults
        maps[name] = REGISTRY[name].saliency(model, video, 0, progress=False)[0]
    return model, video, inside, maps


READ_THE_MODEL = ("gradient", "ig", "ep3d", "step")


def test_the_game_ranks_the_oracle_first_and_a_random_map_last_at_every_area(window_case):
    model, video, _, maps = window_case
    games = {name: matched_area_game(model, video, 0, s) for name, s in maps.items()}
    assert games["oracle"]["gap"] > 1.0 and all(g["keep"] is not None for g in games.values())
    for k, area in enumerate(GAME_AREAS):
        for method in (*READ_THE_MODEL, "fep"):
            keep, remove = games[method]["keep"][k], games[method]["remove"][k]
            assert games["oracle"]["keep"][k] >= keep - TOLERANCE, (area, method)
            assert games["oracle"]["remove"][k] <= remove + TOLERANCE, (area, method)
        for method in READ_THE_MODEL:
            keep, remove = games[method]["keep"][k], games[method]["remove"][k]
            assert games["random"]["keep"][k] <= keep + TOLERANCE, (area, method)
            assert games["random"]["remove"][k] >= remove - TOLERANCE, (area, method)
    assert games["random"]["keep"][0] < 0.02 < 0.05 < games["oracle"]["keep"][0]  # the game separates them
    # Under the 2026-11 defaults F-EP's top 0.5 % and 1 % lay outside the window (its low-passed mask
    # peaked at the clip's border) and kept none of the score, below a random map. At the 2026-12
    # defaults (a sweep down to 0.5 %, a cold start, the low-pass in time only) it reads the model at
    # every area, like the other methods above.
    for k in range(len(GAME_AREAS)):
        assert games["fep"]["keep"][k] > games["random"]["keep"][k] + 0.01, GAME_AREAS[k]
        assert games["fep"]["remove"][k] < games["random"]["remove"][k], GAME_AREAS[k]


def test_margin_curves_rank_the_oracle_first_and_its_insertion_reaches_one_once_the_window_is_in(window_case):
    model, video, inside, maps = window_case
    curves = {(name, mode): deletion_insertion(model, video, 0, s, mode=mode) for name, s in maps.items()
              for mode in ("deletion", "insertion")}  # fmt: skip
    for method in (*READ_THE_MODEL, "fep", "random"):
        assert curves[("oracle", "insertion")]["margin_auc"] >= curves[(method, "insertion")]["margin_auc"] - TOLERANCE
        assert curves[("oracle", "deletion")]["margin_auc"] <= curves[(method, "deletion")]["margin_auc"] + TOLERANCE
    for method in (*READ_THE_MODEL, "fep"):
        assert curves[("random", "insertion")]["margin_auc"] <= curves[(method, "insertion")]["margin_auc"]
    share = inside.double().mean().item()
    oracle = curves[("oracle", "insertion")]
    for fraction, value in zip(oracle["fractions"], oracle["margins"], strict=True):
        if fraction >= share:
            assert value == pytest.approx(1.0, abs=1e-9), fraction
    assert oracle["margins"][0] == pytest.approx(0.0, abs=1e-12)  # the fully perturbed clip is 0


def test_a_clip_without_a_margin_gap_is_left_out_not_clipped():
    video = torch.rand(1, 3, 4, 16, 16)
    flat = WindowDetector(top=0, left=0, size=4, scale=1e-6)  # the whole clip and the blurred one score alike
    game = matched_area_game(flat, video, 0, torch.rand(4, 16, 16))
    curve = deletion_insertion(flat, video, 0, torch.rand(4, 16, 16))
    assert game["keep"] is None and game["remove"] is None and curve["margin_auc"] is None
    assert curve["auc"] == curve["auc"]  # the probability curve is still there


def test_tied_voxels_are_counted():
    flat = torch.zeros(4, 10, 10)
    assert matched_area_game(WindowDetector(0, 0, 4), torch.rand(1, 3, 4, 10, 10), 0, flat)["tied"] == [1.0] * 5
    graded = torch.arange(400, dtype=torch.float64).reshape(4, 10, 10)
    assert matched_area_game(WindowDetector(0, 0, 4), torch.rand(1, 3, 4, 10, 10), 0, graded)["tied"] == [0.0] * 5


def test_randomising_k_layers_changes_exactly_the_top_k_and_leaves_the_model_alone():
    model = TinyVideoNet()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    layers = [name for name, _ in parameter_layers(model)]
    assert layers == ["features.0", "features.2", "head"]
    for depth in cascade_depths(len(layers)):
        copy = randomised_copy(model, depth, seed=3)
        changed = {name.rsplit(".", 1)[0] for name, p in copy.named_parameters() if not torch.equal(p, before[name])}
        assert changed == set(layers[len(layers) - depth :]), depth
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
    assert cascade_depths(3) == [1, 2, 3] and cascade_depths(20) == [1, 10, 20] and cascade_depths(1) == [1]


def test_a_map_that_ignores_the_model_keeps_rho_one_at_every_depth():
    model, video = TinyVideoNet(), torch.rand(1, 3, 4, 16, 16)
    floor = REGISTRY["framediff"]
    trained = floor.saliency(model, video, 0)[0]
    for depth in cascade_depths(len(parameter_layers(model))):
        for init in range(3):
            randomised = floor.saliency(randomised_copy(model, depth, seed=init), video, 0)[0]
            assert rank_correlation(trained, randomised) == pytest.approx(1.0)
    gradient = REGISTRY["gradient"]
    g = gradient.saliency(model, video, 0)[0].abs()
    assert rank_correlation(g, gradient.saliency(randomised_copy(model, 3, seed=0), video, 0)[0].abs()) < 0.9


def test_t_intervals_match_scipy_and_holm_matches_a_hand_computation():
    from scipy import stats

    sample = [0.12, -0.03, 0.3, 0.08, 0.21, 0.05]
    mean, half, n = mean_ci(sample)
    low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=stats.sem(sample))
    assert (low, high) == (pytest.approx(mean - half), pytest.approx(mean + half)) and n == 6
    assert paired_t(sample)["p"] == pytest.approx(stats.ttest_1samp(sample, 0.0).pvalue)
    # Holm: sorted p 0.01, 0.03, 0.04, 0.5 times 4, 3, 2, 1, made monotone: 0.04, 0.09, 0.09, 0.5
    assert holm([0.01, 0.04, 0.03, 0.5]) == [pytest.approx(v) for v in (0.04, 0.09, 0.09, 0.5)]
    adjusted = holm([0.2, math.nan, 0.01])  # NaN is not a test: two tests
    assert adjusted[0] == pytest.approx(0.2) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)
    assert mean_ci([None, math.nan]) == (pytest.approx(math.nan, nan_ok=True), pytest.approx(math.nan, nan_ok=True), 0)


def test_the_ground_truth_smoothness_of_a_hand_made_actor():
    """A 2x2 actor moving one pixel right per frame: each step changes 4 of 8 pixels of mass, TD 0.5;
    with evidence in frames 1-2 only, the first step goes from nothing to the actor (1), TD 0.75."""
    actor = torch.zeros(3, 6, 6, dtype=torch.bool)
    for t in range(3):
        actor[t, 2:4, t : t + 2] = True
    whole = Clip("c", torch.zeros(1, 3, 3, 6, 6), 0, actor_mask=actor, evidence=torch.ones(3, dtype=torch.bool))
    assert float(temporal_difference(truth_map(whole))) == pytest.approx(0.5)
    window = Clip("c", torch.zeros(1, 3, 3, 6, 6), 0, actor_mask=actor, evidence=torch.tensor([False, True, True]))
    assert float(temporal_difference(truth_map(window))) == pytest.approx(0.75)


def test_the_splits_are_fresh_named_seed_ranges():
    from fep.data.synthetic import SPLITS

    assert SPLITS["tuning"] == range(610_000, 620_000) and SPLITS["test"] == range(620_000, 630_000)
    assert synthetic_clips(1, family="motion")[0].id == "motion_620000"
    assert synthetic_clips(1, family="motion", split="tuning")[0].id == "motion_610000"
    with pytest.raises(ValueError, match="Unknown split 'valid'"):
        synthetic_clips(1, split="valid")


def test_the_cli_chooses_options_on_the_tuning_split_only_and_writes_a_new_folder(tmp_path, monkeypatch, capsys):
    from fep.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["experiments", "--fast", "--ablation", "--family", "motion", "--clips", "1"]) == 2
    assert "--split tuning" in capsys.readouterr().err
    assert main(["experiments", "--fast", "--family", "motion", "--clips", "1", "--methods", "gradient", "ep3d"]) == 0
    runs = list((tmp_path / "results" / "experiments").glob("run-*"))
    assert len(runs) == 1 and (runs[0] / "summary.json").is_file()
    text = (runs[0] / "summary.md").read_text()
    assert "of the test split, seeds 620000–620000" in text and "EP methods at the 2026-12 defaults" in text
    assert "start ep3d 1.0" in text  # what ran, resolved: a fast run's 5 iterations start from a mask of 1
