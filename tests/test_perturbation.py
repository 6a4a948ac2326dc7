import math

import pytest
import torch

from fep.ep.perturbation import Perturbation, blur_frames, mask_grid, upsample_mask
from fep.testing import assert_close_float32


def test_blur_pyramid_ends_at_the_clip_and_blurs_per_frame():
    video = torch.rand(2, 3, 4, 20, 24)
    pert = Perturbation(video, "blur", num_levels=5, max_blur=6)
    assert pert.pyramid.shape == (2, 5, 3, 4, 20, 24)
    torch.testing.assert_close(pert.pyramid[:, -1], video)
    # Spatial only: a clip that is constant in space but varies in time is left unchanged.
    flat = torch.arange(4.0)[None, None, :, None, None].expand(1, 3, 4, 8, 8).contiguous()
    torch.testing.assert_close(blur_frames(flat, 3.0), flat)
    # Stronger blur, less variance.
    variances = [pert.pyramid[:, level].var().item() for level in range(5)]
    assert variances == sorted(variances)


def test_mask_one_gives_clip_and_mask_zero_gives_strongest_perturbation():
    video = torch.rand(1, 3, 2, 16, 16)
    pert = Perturbation(video, "blur", num_levels=8)
    ones = torch.ones(1, 2, 2, 16, 16)
    out = pert.apply(ones)
    assert out.shape == (1, 2, 3, 2, 16, 16)
    torch.testing.assert_close(out[0, 0], video[0])
    torch.testing.assert_close(pert.apply(torch.zeros_like(ones))[0, 1], pert.pyramid[0, 0])


def test_mask_interpolates_linearly_between_levels():
    video = torch.rand(1, 3, 1, 16, 16)
    pert = Perturbation(video, "blur", num_levels=3)
    half_way = pert.apply(torch.full((1, 1, 1, 16, 16), 0.25))[0, 0]
    torch.testing.assert_close(half_way, 0.5 * (pert.pyramid[0, 0] + pert.pyramid[0, 1]))


def test_fade_is_mask_times_clip_and_differentiable():
    video = torch.rand(1, 3, 2, 8, 8)
    mask = torch.rand(1, 3, 2, 8, 8, requires_grad=True)
    out = Perturbation(video, "fade").apply(mask)
    torch.testing.assert_close(out, video[:, None] * mask[:, :, None])
    out.sum().backward()
    torch.testing.assert_close(mask.grad, video.sum(1, keepdim=True).expand(1, 3, 2, 8, 8))


def test_blur_apply_has_gradient_wrt_mask():
    video = torch.rand(1, 3, 2, 16, 16)
    mask = torch.full((1, 1, 2, 16, 16), 0.5, requires_grad=True)
    Perturbation(video, "blur").apply(mask).sum().backward()
    assert mask.grad.abs().sum() > 0


def test_upsample_keeps_unit_range_and_peaks():
    assert mask_grid(112, 112, 7) == (16, 16)
    assert mask_grid(30, 31, 7) == (5, 5)
    params = torch.zeros(2, 3, 5, 5)
    params[0, 0, 2, 2] = 1
    up = upsample_mask(params, (30, 31), 7)
    assert up.shape == (2, 3, 30, 31)
    assert up.min() >= 0 and up.max() <= 1
    assert up[0, 0, 17, 17] == pytest.approx(1.0)  # centre of cell (2, 2) is pixel 2*7 + 3.5
    rand = upsample_mask(torch.rand(4, 6, 6), (42, 42), 7)
    assert rand.min() >= 0 and rand.max() <= 1


def test_bad_perturbation_arguments():
    with pytest.raises(ValueError, match="Unknown perturbation 'noise'"):
        Perturbation(torch.rand(1, 3, 1, 8, 8), "noise")
    with pytest.raises(ValueError, match="num_levels"):
        Perturbation(torch.rand(1, 3, 1, 8, 8), "blur", num_levels=1)


def test_separable_blur_equals_torchvision_gaussian_blur():
    from torchvision.transforms.v2.functional import gaussian_blur

    video = torch.rand(2, 3, 3, 40, 36, generator=torch.Generator().manual_seed(0))
    for sigma in (1.5, 6.0, 20.0):
        half = min(math.ceil(3 * sigma), 35)
        frames = video.transpose(1, 2).reshape(6, 3, 40, 36)
        expected = gaussian_blur(frames, [2 * half + 1] * 2, [sigma, sigma]).reshape(2, 3, 3, 40, 36).transpose(1, 2)
        torch.testing.assert_close(blur_frames(video, sigma), expected, atol=1e-5, rtol=0)


def _lerp_oracle(mask: torch.Tensor, pyramid: torch.Tensor) -> torch.Tensor:
    """The masked clips written with autograd's own ops (the previous implementation)."""
    levels = pyramid.shape[1]
    scaled = mask * (levels - 1)
    lower = scaled.detach().floor().clamp(0, levels - 2).long()
    frac = (scaled - lower)[:, :, None]
    n, a, t, h, w = mask.shape
    source = pyramid[:, None].expand(n, a, *pyramid.shape[1:])
    index = lower[:, :, None, None].expand(n, a, 1, pyramid.shape[2], t, h, w)
    y0 = source.gather(2, index).squeeze(2)
    y1 = source.gather(2, index + 1).squeeze(2)
    return torch.lerp(y0, y1, frac)


def test_blur_apply_and_its_gradient_match_autograd_through_lerp():
    gen = torch.Generator().manual_seed(0)
    pert = Perturbation(torch.randn(2, 3, 3, 12, 10, generator=gen), "blur", num_levels=6, max_blur=4)
    mask = torch.rand(2, 3, 3, 12, 10, generator=gen)
    mask[0, 0, 0, :2] = 1.0  # the top level and the bottom one, where the level index is clamped
    mask[0, 1, 0, :2] = 0.0
    mask.requires_grad_(True)
    weights = torch.randn(2, 3, 3, 3, 12, 10, generator=gen)
    out = pert.apply(mask)
    (grad,) = torch.autograd.grad((out * weights).sum(), mask)
    expected = _lerp_oracle(mask, pert.pyramid)
    (expected_grad,) = torch.autograd.grad((expected * weights).sum(), mask)
    assert_close_float32(out, expected)  # the same interpolation, summed in another order
    assert_close_float32(grad, expected_grad)
    small = Perturbation(torch.randn(1, 2, 2, 5, 6, dtype=torch.float64, generator=gen), num_levels=4, max_blur=2)
    probe = torch.rand(1, 2, 2, 5, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(small.apply, (probe,))


def test_blur_apply_keeps_only_a_byte_per_voxel_for_the_backward_pass():
    # The gathered levels are masked-clip sized; keeping them (as torch.lerp does) raised the peak.
    pert = Perturbation(torch.rand(1, 3, 4, 16, 16), "blur")
    mask = torch.rand(1, 3, 4, 16, 16, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        pert.apply(mask)
    extra = [t for t in saved if t.untyped_storage().data_ptr() != pert.pyramid.untyped_storage().data_ptr()]
    assert sum(t.numel() * t.element_size() for t in extra) == mask.numel()  # the uint8 level index
