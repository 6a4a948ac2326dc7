import pytest
import torch

from fep.metrics import high_frequency_share, spectral_concentration, temporal_difference


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
