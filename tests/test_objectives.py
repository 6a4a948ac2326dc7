import math

import pytest
import torch

from fep.objectives import area_loss, area_reference, core_loss, ellipsoid_kernel, reward


def test_rewards_on_hand_made_logits():
    logits = torch.tensor([[2.0, 1.0, -1.0], [0.0, 3.0, 1.0]])
    target = torch.tensor([0, 2])
    torch.testing.assert_close(reward(logits, target, "simple"), torch.tensor([2.0, 1.0]))
    torch.testing.assert_close(reward(logits, target, "simple", deleted=True), torch.tensor([-2.0, -1.0]))
    torch.testing.assert_close(reward(logits, target, "contrastive"), torch.tensor([1.0, -2.0]))
    p = logits.softmax(1)
    torch.testing.assert_close(reward(logits, target, "logprob"), torch.log(p[[0, 1], [0, 2]]))
    torch.testing.assert_close(reward(logits, target, "logprob", deleted=True), torch.log1p(-p[[0, 1], [0, 2]]))


def test_area_loss_zero_for_a_binary_mask_of_the_right_area():
    ref = area_reference((0.25,), 16)
    assert ref.sum() == 4
    mask = torch.zeros(1, 1, 1, 4, 4)
    mask[0, 0, 0, 0] = 1  # one row of four: area 0.25
    assert area_loss(mask, ref, per_frame=False).item() == 0
    # All ones: 12 values should be 0 -> loss 12/16.
    assert area_loss(torch.ones(1, 1, 1, 4, 4), ref, per_frame=False).item() == pytest.approx(0.75)


def test_area_loss_per_frame_versus_volume():
    mask = torch.zeros(1, 1, 2, 2, 2)
    mask[0, 0, 0] = 1  # first frame full, second empty: volume area 0.5, frames 1 and 0
    assert area_loss(mask, area_reference((0.5,), 8), per_frame=False).item() == 0
    assert area_loss(mask, area_reference((0.5,), 4), per_frame=True).item() == pytest.approx(0.5)


def test_tiebreak_spreads_the_push_of_tied_values_without_changing_the_loss():
    ones = torch.ones(1, 1, 4, 8, 8, requires_grad=True)
    ref = area_reference((0.5,), 256)
    plain = area_loss(ones, ref, per_frame=False)
    noise = 1e-6 * torch.rand(1, 1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    broken = area_loss(ones, ref, per_frame=False, tiebreak=noise)
    assert broken.item() == plain.item()
    broken.backward()
    per_frame = ones.grad[0, 0].flatten(1)
    assert ((per_frame > 0).float().mean(1) > 0.3).all()  # every frame gets part of the push
    assert (per_frame > 0).sum() == 128  # exactly the lower half is pushed down


def test_ellipsoid_kernel_and_core_loss():
    k = ellipsoid_kernel(7, 11)
    assert k.shape == (7, 11, 11)
    assert k.sum().item() == pytest.approx(1.0)
    assert k[3, 5, 5] > 0 and k[0, 0, 0] == 0
    # Volume close to the ellipsoid's pi/6 * 7 * 11 * 11.
    assert (k > 0).sum().item() == pytest.approx(math.pi / 6 * 7 * 11 * 11, rel=0.15)
    full = torch.ones(1, 1, 7, 22, 22)
    empty = torch.zeros(1, 1, 7, 22, 22)
    # 4 responses; area 0.5 asks for ceil(0.5*7*22*22 / (7*121*pi/6)) = 4 cores -> all ones is perfect.
    assert core_loss(full, (0.5,)).item() == pytest.approx(0.0, abs=1e-6)
    assert core_loss(empty, (0.5,)).item() == pytest.approx(1.0)
    # Short clips shrink the kernel instead of failing.
    assert core_loss(torch.ones(2, 3, 2, 16, 16), (0.1, 0.2, 0.3)).shape == (2, 3)
