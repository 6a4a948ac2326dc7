import math

import pytest
import torch

from fep.ep.objectives import area_loss, area_reference, area_zero_counts, core_loss, ellipsoid_kernel, reward


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


def _area_loss_oracle(mask, reference, per_frame, tiebreak):
    """Autograd through the sort itself (the previous implementation)."""
    n, a, t = mask.shape[:3]
    shape = (n, a, t, -1) if per_frame else (n, a, -1)
    flat = mask.reshape(shape)
    order = (flat.detach() + tiebreak.expand_as(mask).reshape(shape)).argsort(dim=-1)
    ref = reference[None, :, None] if per_frame else reference[None]
    return (flat.gather(-1, order) - ref).pow(2).mean(dim=tuple(range(2, flat.ndim)))


@pytest.mark.parametrize("per_frame", [False, True])
def test_area_loss_gradient_in_closed_form_matches_autograd_through_the_sort(per_frame):
    gen = torch.Generator().manual_seed(1)
    mask = torch.rand(2, 3, 3, 7, 9, generator=gen, requires_grad=True)
    tiebreak = 1e-6 * torch.rand(1, 1, 3, 7, 9, generator=gen)
    ref = area_reference((0.05, 0.1, 0.3), 63 if per_frame else 189)
    weights = torch.randn(2, 3, generator=gen)
    loss = area_loss(mask, ref, per_frame, tiebreak)
    (grad,) = torch.autograd.grad((loss * weights).sum(), mask)
    expected = _area_loss_oracle(mask, ref, per_frame, tiebreak)
    (expected_grad,) = torch.autograd.grad((expected * weights).sum(), mask)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(grad, expected_grad)
    # A boolean reference is the same reference.
    torch.testing.assert_close(area_loss(mask, ref.bool(), per_frame, tiebreak), loss)
    # Zero counts select the cut-off instead of sorting: the same loss and gradient.
    zeros = area_zero_counts((0.05, 0.1, 0.3), 63 if per_frame else 189)
    assert zeros == tuple(int((ref[i] == 0).sum()) for i in range(3))
    selected = area_loss(mask, zeros, per_frame, tiebreak)
    (selected_grad,) = torch.autograd.grad((selected * weights).sum(), mask)
    torch.testing.assert_close(selected, expected)
    torch.testing.assert_close(selected_grad, expected_grad)
    probe = torch.rand(1, 2, 2, 3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    ref64 = area_reference((0.2, 0.5), 12 if per_frame else 24, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda m: area_loss(m, ref64, per_frame), (probe,))


def test_area_loss_by_selection_breaks_exact_ties_like_a_stable_sort():
    # All values tie: the lowest `zeros` ranks in raster order are pushed down, exactly that many.
    ones = torch.ones(2, 2, 3, 4, 5, requires_grad=True)
    zeros = area_zero_counts((0.25, 0.75), 60)
    assert zeros == (45, 15)
    loss = area_loss(ones, zeros, per_frame=False)
    torch.testing.assert_close(loss, torch.tensor([[45 / 60, 15 / 60]] * 2))
    loss.sum().backward()
    pushed = (ones.grad > 0).reshape(2, 2, 60)
    assert pushed[:, 0].sum(-1).tolist() == [45, 45] and pushed[:, 1].sum(-1).tolist() == [15, 15]
    assert pushed[0, 0, :45].all() and pushed[0, 1, :15].all()  # raster order
    # Areas 0 and 1 push nothing / everything down.
    torch.testing.assert_close(area_loss(ones, (0, 60), per_frame=False), torch.tensor([[0.0, 1.0]] * 2))
    with pytest.raises(ValueError, match="2 zero counts for 3 areas"):
        area_loss(torch.ones(1, 3, 1, 2, 2), (1, 2), per_frame=False)


@pytest.mark.parametrize("by_selection", [True, False])
def test_tiebreak_orders_float32_ties_by_the_noise_alone(by_selection):
    # 1 + 1e-6 noise takes only about eight float32 values, so a float32 key would leave ties (ranked in
    # raster order); the key is float64, so the push follows the noise exactly.
    ones = torch.ones(1, 1, 4, 8, 8, requires_grad=True)
    noise = 1e-6 * torch.rand(1, 1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    reference = (100,) if by_selection else area_reference((1 - 100 / 256,), 256)
    area_loss(ones, reference, per_frame=False, tiebreak=noise).sum().backward()
    expected = torch.zeros(256, dtype=torch.bool)
    expected[noise.flatten().double().argsort()[:100]] = True
    assert torch.equal(ones.grad.flatten() > 0, expected)
