import numpy as np
import pytest
import torch

from fep.bench.map_metrics import high_frequency_share, spectral_concentration, temporal_difference


def test_temporal_difference_hand_made_cases():
    still = torch.ones(4, 3, 3)
    assert temporal_difference(still).item() == 0
    jump = torch.zeros(2, 2, 2)
    jump[0, 0, 0], jump[1, 1, 1] = 1, 1  # disjoint supports
    assert temporal_difference(jump).item() == pytest.approx(1.0)
    half = torch.tensor([[[1.0, 1.0]], [[1.0, 0.0]]])  # |diff| = 1, norms 2 + 1
    assert temporal_difference(half).item() == pytest.approx(1 / 3)
    assert temporal_difference(torch.zeros(3, 2, 2)).item() == 0
    batch = torch.stack([still, still * 0.5])
    assert temporal_difference(batch).shape == (2,)
    with pytest.raises(ValueError, match="2 frames"):
        temporal_difference(torch.ones(1, 2, 2))


def test_spectral_concentration_hand_made_cases():
    n = torch.arange(8, dtype=torch.float64)
    slow = torch.cos(torch.pi * (2 * n + 1) * 1 / 16)[:, None, None].expand(8, 8, 8)  # k_t = 1
    fast = torch.cos(torch.pi * (2 * n + 1) * 6 / 16)[:, None, None].expand(8, 8, 8)  # k_t = 6
    assert spectral_concentration(slow, 0.25, 0.25)[0].item() == pytest.approx(1.0)
    assert spectral_concentration(fast, 0.25, 0.25)[0].item() == pytest.approx(0.0, abs=1e-12)
    mixed = slow + fast  # equal energy in each
    assert spectral_concentration(mixed, 0.25, 0.25)[0].item() == pytest.approx(0.5)
    assert spectral_concentration(torch.ones(4, 4, 4))[0].item() == 1.0  # the mean does not count
    fine = torch.cos(torch.pi * (2 * n + 1) * 7 / 16)  # highest spatial DCT frequency in y and x
    high_t, high_s = high_frequency_share((fine[:, None] * fine[None, :])[None].expand(4, 8, 8))
    assert high_s.item() == pytest.approx(1.0) and high_t.item() == pytest.approx(0.0)


from fep.bench.faithfulness import deletion_insertion  # noqa: E402
from fep.bench.map_metrics import auc, dilate, ground_truth_ap, mass_in_ground_truth, pointing_game, total_variation  # noqa: E402


def test_total_variation_of_a_square_blob():
    frame = torch.zeros(1, 10, 10)
    frame[0, 2:6, 2:6] = 1  # side 4: boundary 16 edges over mass 16
    assert total_variation(frame).item() == pytest.approx(16 / 16)
    assert total_variation(torch.ones(2, 5, 5)).item() == 0


def test_pointing_game_uses_the_plateau_centre_and_tolerance():
    sal = torch.zeros(3, 20, 20)
    sal[:, 0:10, 0:10] = 1.0  # saturated plateau: raster arg-max would be (0, 0)
    boxes = torch.tensor([[3, 3, 7, 7]] * 3)
    evidence = torch.tensor([True, True, False])
    assert pointing_game(sal, boxes, evidence, tolerance=0) == {"frame": 1.0, "clip": 1.0}
    far = torch.tensor([[15, 15, 18, 18]] * 3)
    assert pointing_game(sal, far, evidence, tolerance=7)["frame"] == 0.0  # centre (4/5, 4/5) is 10 px away
    assert pointing_game(sal, far, evidence, tolerance=11)["frame"] == 1.0
    with pytest.raises(ValueError, match="evidence frame"):
        pointing_game(sal, boxes, torch.zeros(3, dtype=torch.bool))


def test_ground_truth_ap_hand_made_cases():
    mask = torch.zeros(1, 2, 2, dtype=torch.bool)
    mask[0, 0, 0] = True
    assert ground_truth_ap(torch.tensor([[[4.0, 3.0], [2.0, 1.0]]]), mask) == pytest.approx(1.0)
    assert ground_truth_ap(torch.tensor([[[1.0, 4.0], [3.0, 2.0]]]), mask) == pytest.approx(0.25)
    assert ground_truth_ap(torch.ones(1, 2, 2), mask) == pytest.approx(0.25)  # ties: no lucky ordering
    two = torch.tensor([[[True, False], [True, False]]])
    # scores rank positive, negative, positive: AP = (1/1 + 2/3) / 2
    assert ground_truth_ap(torch.tensor([[[3.0, 2.0], [1.0, 0.0]]]), two) == pytest.approx((1 + 2 / 3) / 2)


def test_mass_in_ground_truth_and_dilation():
    mask = torch.zeros(1, 9, 9, dtype=torch.bool)
    mask[0, 4, 4] = True
    assert dilate(mask, 1).sum() == 9
    sal = torch.zeros(1, 9, 9)
    sal[0, 4, 4], sal[0, 0, 0] = 3.0, 1.0
    assert mass_in_ground_truth(sal, mask, tolerance=0) == pytest.approx(0.75)
    assert mass_in_ground_truth(sal, mask, tolerance=4) == pytest.approx(1.0)


def test_auc_trapezoid():
    assert auc([1, 1, 1]) == 1.0
    assert auc([1, 0]) == 0.5
    assert auc([0, 1, 1, 1, 0]) == pytest.approx((3 - 0) / 4)


class _Counter(torch.nn.Module):
    """Logit of class 0 = 10 x (share of the region still bright) - 5; class 1 = 0."""

    def __init__(self, region):
        super().__init__()
        self.region = region

    def forward(self, x):
        inside = (x[:, 0] * self.region).sum(dim=(1, 2, 3)) / self.region.sum()
        return torch.stack([10 * inside - 5, torch.zeros_like(inside)], dim=1)


def test_deletion_and_insertion_reward_a_perfect_saliency_and_punish_an_inverted_one():
    region = torch.zeros(4, 8, 8)
    region[:, 2:5, 2:5] = 1
    model = _Counter(region)
    video = torch.ones(1, 3, 4, 8, 8)
    perfect, inverted = region.clone(), 1 - region
    linear = dict(steps=8, perturbation="fade", schedule="linear")  # RISE's schedule, kept as an option
    deletion = {k: deletion_insertion(model, video, 0, s, mode="deletion", **linear)["auc"]
                for k, s in (("perfect", perfect), ("inverted", inverted))}  # fmt: skip
    insertion = {k: deletion_insertion(model, video, 0, s, mode="insertion", **linear)["auc"]
                 for k, s in (("perfect", perfect), ("inverted", inverted))}  # fmt: skip
    assert deletion["perfect"] < 0.15 and deletion["inverted"] > 0.85
    assert insertion["perfect"] > 0.85 and insertion["inverted"] < 0.15
    curve = deletion_insertion(model, video, 0, perfect, steps=8, perturbation="fade", schedule="linear")["scores"]
    assert len(curve) == 9 and curve[0] == pytest.approx(torch.sigmoid(torch.tensor(5.0)).item())
    assert curve[-1] == pytest.approx(torch.sigmoid(torch.tensor(-5.0)).item())


def test_kept_probability_hand_made_cases():
    from fep.bench.faithfulness import kept_probability

    region = torch.zeros(4, 8, 8)
    region[:, 2:5, 2:5] = 1  # 36 of 256 voxels
    model = _Counter(region)
    video = torch.ones(2, 3, 4, 8, 8)
    share = 36 / 256
    # Clip 0's saliency is the region itself, clip 1's its complement.
    probs = kept_probability(model, video, 0, torch.stack([region, 1 - region]), share, perturbation="fade")
    assert probs[0].item() == pytest.approx(torch.sigmoid(torch.tensor(5.0)).item())
    assert probs[1].item() == pytest.approx(torch.sigmoid(torch.tensor(-5.0)).item())
    # A flat saliency keeps exactly that share of voxels, in a fixed order (same answer twice).
    flat = torch.zeros(2, 4, 8, 8)
    first = kept_probability(model, video, [0, 1], flat, 0.5, perturbation="fade")
    assert torch.equal(first, kept_probability(model, video, [0, 1], flat, 0.5, perturbation="fade"))
    assert 0 < first[0] < 1 and first[1] == pytest.approx(1 - first[0])
    # Batching changes nothing.
    assert torch.equal(probs, kept_probability(model, video, 0, torch.stack([region, 1 - region]), share,
                                               perturbation="fade", batch_size=1))  # fmt: skip
    with pytest.raises(ValueError, match="one \\(T, H, W\\) map per clip"):
        kept_probability(model, video, 0, region, share)
    with pytest.raises(ValueError, match="fraction"):
        kept_probability(model, video, 0, flat, 0.0)


def test_spectrum_profile_and_saliency_spectrum_of_one_known_frequency():
    from fep.bench.map_metrics import saliency_spectrum, spectrum_profile

    n = torch.arange(8, dtype=torch.float64)
    volume = torch.cos(torch.pi * (2 * n + 1) * 2 / 16)[:, None, None].expand(8, 16, 16)  # k_t = 2 only
    temporal, spatial, nu = spectrum_profile(volume)
    assert temporal.argmax() == 2 and np.delete(temporal, 2).max() < 1e-9
    assert spatial[0] == pytest.approx(volume.pow(2).sum().item()) and spatial[1:].max() < 1e-9  # spatial DC
    assert len(nu) == len(spatial) and nu[0] < nu[-1]
    spectrum = saliency_spectrum(volume, temporal_cutoff=0.25, spatial_cutoff=0.25)
    assert spectrum["energy"][2, 0, 0] == pytest.approx(volume.pow(2).sum().item())
    assert spectrum["share_below"] == pytest.approx((1.0, 1.0))  # nu_t = 2/8 = 0.25 is at the cutoff
    assert saliency_spectrum(volume, temporal_cutoff=0.2)["share_below"][0] == pytest.approx(0.0)


def test_temporal_localisation_hand_made():
    from fep.bench.map_metrics import temporal_localisation

    evidence = torch.tensor([False, True, True, False])
    inside = torch.zeros(4, 8, 8)
    inside[1:3] = torch.rand(2, 8, 8) + 0.1
    assert temporal_localisation(inside, evidence) == pytest.approx(1.0)  # all inside the evidence frames
    assert temporal_localisation(torch.ones(4, 8, 8), evidence) == pytest.approx(0.5)  # flat: their share
    outside = torch.zeros(4, 8, 8)
    outside[0] = 1
    assert temporal_localisation(outside, evidence) == 0.0
    with pytest.raises(ValueError, match="evidence must be"):
        temporal_localisation(inside, torch.ones(3, dtype=torch.bool))


def test_rank_correlation_matches_scipy_and_catches_a_method_that_ignores_the_model():
    from scipy.stats import spearmanr

    from fep.bench.map_metrics import rank_correlation

    gen = torch.Generator().manual_seed(0)
    a = torch.rand(4, 8, 8, generator=gen)
    b = a + 0.5 * torch.rand(4, 8, 8, generator=gen)
    ties = (a * 4).floor()  # plateaus, as masks have: ties get average ranks
    assert rank_correlation(a, b) == pytest.approx(spearmanr(a.flatten(), b.flatten())[0], abs=1e-12)
    assert rank_correlation(ties, b) == pytest.approx(spearmanr(ties.flatten(), b.flatten())[0], abs=1e-12)
    # An "explanation" that depends only on the clip (edges), not on the model: the same for the trained
    # and the re-initialised model, so its randomisation score is 1.
    clip = torch.rand(3, 4, 8, 8, generator=gen)
    edges = (clip[:, :, 1:] - clip[:, :, :-1]).abs().sum(0)
    assert rank_correlation(edges, edges.clone()) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0) and rank_correlation(a, torch.ones_like(a)) == 0.0


def test_removal_fractions_log_schedule_starts_at_a_quarter_percent():
    from fep.bench.faithfulness import removal_fractions

    log = removal_fractions(16)
    assert log[0] == 0 and log[1] == pytest.approx(0.0025) and log[-1] == pytest.approx(1.0) and len(log) == 17
    assert all(b > a for a, b in zip(log, log[1:], strict=False))
    assert removal_fractions(4, "linear") == [0, 0.25, 0.5, 0.75, 1.0]


def test_the_log_schedule_separates_what_the_linear_one_cannot():
    """Five key voxels of 2048: ranked first or behind 30 decoys. A linear first step (1/16 of the clip)
    removes both at once; the log schedule's 0.25 % step tells them apart."""
    key = torch.zeros(8, 16, 16, dtype=torch.bool)
    key[4, 8, 3:8] = True
    model = _Counter(key.float())
    video = torch.ones(1, 3, 8, 16, 16)
    first = key.float() + 0.01 * torch.rand(8, 16, 16, generator=torch.Generator().manual_seed(0))
    decoys = torch.zeros(8, 16, 16)
    decoys.view(-1)[:30] = 2.0
    later = first + decoys
    linear = [deletion_insertion(model, video, 0, s, steps=16, perturbation="fade", schedule="linear")["auc"]
              for s in (first, later)]  # fmt: skip
    log = [deletion_insertion(model, video, 0, s, steps=16, perturbation="fade")["auc"] for s in (first, later)]
    assert linear[0] == pytest.approx(linear[1])
    assert log[0] < log[1] - 0.1
