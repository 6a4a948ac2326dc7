"""Gradient baselines on the toy model and torchvision architectures (weights=None)."""

import pytest
import torch
import torchvision
from captum.attr import LayerAttribution, LayerGradCam

from fep.baselines import gradients as G
from fep.bench.map_metrics import spectral_concentration, temporal_difference
from fep.data.samples import load_sample
from fep.models import load_model, preprocess
from fep.testing import SettingsChangingModel, assert_close_float32, moving_square_clip, square_detector


@pytest.fixture(scope="module")
def toy():
    return load_model("toy")


@pytest.fixture(scope="module")
def clips():
    frames = [load_sample(i)[0].frames for i in (0, 1)]
    return torch.stack([preprocess(f, "toy")[0] for f in frames])


def _state(model):
    return ([p.requires_grad for p in model.parameters()], [m.training for m in model.modules()],
            [p.grad for p in model.parameters()], len(model._forward_hooks))  # fmt: skip


def test_vanilla_gradient_matches_hand_written_autograd(toy, clips):
    targets = [1, 3]
    x = clips.clone().requires_grad_(True)
    toy(x).gather(1, torch.tensor(targets)[:, None]).sum().backward()
    for p in toy.parameters():
        p.grad = None
    expected = x.grad
    # The same gradient through Captum: equal up to float32 reduction order (fep.testing.assert_close_float32).
    assert_close_float32(G.vanilla_gradient(toy, clips, targets, reduction="sum"), expected.sum(1))
    assert_close_float32(G.vanilla_gradient(toy, clips, targets), expected.abs().amax(1))
    assert_close_float32(G.vanilla_gradient(toy, clips, targets, reduction="l2"), expected.norm(dim=1))
    assert_close_float32(G.gradient_x_input(toy, clips, targets, reduction="sum"), (expected * clips).sum(1))


@pytest.mark.slow
def test_integrated_gradients_completeness(toy, clips):
    saliency, delta = G.integrated_gradients(
        toy, clips[:1], 0, steps=64, batch_size=16, progress=False, return_delta=True
    )
    with torch.no_grad():
        gap = (toy(clips[:1]) - toy(G._baseline(clips[:1], "blur")))[0, 0]
    assert saliency.shape == (1, 16, 112, 112)
    assert abs(saliency.sum().item() - gap.item()) <= 0.02 * abs(gap.item())
    assert abs(delta.item()) <= 0.02 * abs(gap.item())
    zeros = G.integrated_gradients(toy, clips[:1], 0, steps=8, baseline="zeros", progress=False)
    assert not torch.allclose(zeros, saliency)


def test_smoothgrad_is_seeded_batched_and_not_vanilla(toy, clips):
    a = G.smoothgrad(toy, clips, [0, 1], samples=4, batch_size=2, seed=3, progress=False)
    b = G.smoothgrad(toy, clips, [0, 1], samples=4, batch_size=4, seed=3, progress=False)
    assert a.shape == (2, 16, 112, 112)
    assert_close_float32(a, b)  # batch size does not change the samples' order, only the summation order
    assert not torch.allclose(a, G.vanilla_gradient(toy, clips, [0, 1]))


@pytest.mark.parametrize(
    "name, shape",
    [("r3d_18", (2, 3, 4, 32, 32)), ("r2plus1d_18", (1, 3, 4, 32, 32)), ("mc3_18", (1, 3, 4, 32, 32)),
     ("swin3d_t", (1, 3, 4, 64, 64)), ("toy", (2, 3, 16, 112, 112))],
)  # fmt: skip
def test_grad_cam_shape_for_every_architecture(name, shape):
    model = load_model(name, weights=None)
    before = _state(model)
    cam = G.grad_cam(model, torch.rand(shape, generator=torch.Generator().manual_seed(0)), 1)
    assert cam.shape == (shape[0], *shape[2:])
    assert cam.min() >= 0 and torch.isfinite(cam).all()
    assert _state(model) == before


def test_grad_cam_agrees_with_captum(toy, clips):
    ours = G.grad_cam(toy, clips, [0, 2])
    layer = toy.features
    with torch.enable_grad():
        captum = LayerGradCam(toy, layer).attribute(clips, target=torch.tensor([0, 2]), relu_attributions=True)
    captum = LayerAttribution.interpolate(captum, clips.shape[2:], interpolate_mode="trilinear")[:, 0]
    torch.testing.assert_close(ours, captum, atol=1e-5, rtol=1e-4)


def test_occlusion_finds_the_evidence():
    video, truth = moving_square_clip(frames=8, size=32, square=8)
    sal = G.occlusion(square_detector(), video, 0, window=(2, 8, 8), stride=(2, 4, 4), baseline="zeros", progress=False)
    assert sal.shape == (1, 8, 32, 32)
    assert sal[0][truth].mean() > 5 * sal[0][~truth].abs().mean()


def test_lowpass_makes_gradients_smoother_on_bundled_clips(toy, clips):
    raw = G.vanilla_gradient(toy, clips, [0, 1])
    smooth = G.lowpass_saliency(raw, 0.25, 0.25)
    raw_t, raw_s = spectral_concentration(raw)
    low_t, low_s = spectral_concentration(smooth)
    assert (low_t > raw_t).all() and (low_s > raw_s).all()
    assert (temporal_difference(smooth) < temporal_difference(raw)).all()
    assert G.lowpass_saliency(raw, 1.0, 1.0) is raw


def test_every_method_leaves_the_model_as_it_was(toy, clips):
    toy.train()
    before = _state(toy)
    G.vanilla_gradient(toy, clips[:1], 0)
    G.smoothgrad(toy, clips[:1], 0, samples=2, progress=False)
    G.integrated_gradients(toy, clips[:1], 0, steps=2, progress=False)
    G.grad_cam(toy, clips[:1], 0)
    G.occlusion(toy, clips[:1], 0, window=(16, 56, 56), progress=False)
    with pytest.raises(ValueError, match="was not used by the model"):
        G.grad_cam(toy, clips[:1], 0, layer=torchvision.ops.MLP(3, [4]))  # hook removed on the error path
    assert _state(toy) == before
    toy.eval()


GRADIENT_METHODS = {
    "gradient": lambda m, v: G.vanilla_gradient(m, v, 0),
    "gradient_x_input": lambda m, v: G.gradient_x_input(m, v, 0),
    "smoothgrad": lambda m, v: G.smoothgrad(m, v, 0, samples=3, progress=False),
    "ig": lambda m, v: G.integrated_gradients(m, v, 0, steps=3, progress=False),
    "gradcam": lambda m, v: G.grad_cam(m, v, 0),
    "occlusion": lambda m, v: G.occlusion(m, v, 0, window=(16, 56, 56), progress=False),
}


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_every_method_is_deterministic_and_restores_torch_settings(toy, clips, name):
    method = GRADIENT_METHODS[name]
    first, second = method(toy, clips[:1]), method(toy, clips[:1])
    assert torch.equal(first, second)
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(2)
    expected_next = torch.rand(2)
    torch.manual_seed(2)
    with torch.no_grad():
        method(SettingsChangingModel(toy), clips[:1])
        assert not torch.is_grad_enabled()
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == (threads, deterministic)
    assert torch.equal(torch.rand(2), expected_next)


def test_bad_options_are_named(toy, clips):
    with pytest.raises(ValueError, match="Unknown reduction 'mean'"):
        G.vanilla_gradient(toy, clips, 0, reduction="mean")
    with pytest.raises(ValueError, match="Unknown baseline 'noise'"):
        G.integrated_gradients(toy, clips, 0, baseline="noise")
    with pytest.raises(ValueError, match="window must be"):
        G.occlusion(toy, clips, 0, window=(0, 8, 8))
