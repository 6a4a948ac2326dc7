"""The engine on tiny deterministic models (fep.testing): equivalences, smoothness, areas, state."""

import numpy as np
import pytest
import torch

from fep.ep.api import FEP, extremal_perturbation
from fep.ep.dct import dct3
from fep.ep.explanation import Explanation
from fep.ep.perturbation import Perturbation
from fep.ep.presets import DEFAULT_AREAS
from fep.ep.presets import PERTURBATION_METHODS as METHODS
from fep.testing import OneClipAtATime, SettingsChangingModel, TinyImageNet

FAST = dict(iterations=200, progress=False)


class CountingModel(torch.nn.Module):
    """Wraps a model and counts forward calls; optionally raises on call ``fail_at``."""

    def __init__(self, inner, fail_at=None):
        super().__init__()
        self.inner, self.calls, self.fail_at = inner, 0, fail_at

    def forward(self, x):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("model failed midway")
        return self.inner(x)


def _high_share(masks, temporal=0.25, spatial=0.25):
    """Share of DCT energy above the temporal and above the spatial cutoff, for masks (A, T, H, W)."""
    energy = dct3(masks.double()).pow(2)
    t, h, w = masks.shape[-3:]
    nu_t = torch.arange(t) / t
    ky, kx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    nu_s = torch.sqrt(ky**2 + kx**2) / np.hypot(h, w)
    total = energy.sum()
    return (energy[:, nu_t > temporal].sum() / total).item(), (energy[..., nu_s > spatial].sum() / total).item()


def _temporal_difference(masks):
    return (masks[:, 1:] - masks[:, :-1]).abs().mean().item()


def test_fep_with_cutoffs_one_is_exactly_ep3d(detector, square_clip):
    video, _ = square_clip
    ep3d = extremal_perturbation(detector, video, 0, method="ep3d", areas=(0.1,), iterations=60, progress=False)
    fep = extremal_perturbation(
        detector,
        video,
        0,
        method="fep",
        areas=(0.1,),
        iterations=60,
        progress=False,
        temporal_cutoff=1.0,
        spatial_cutoff=1.0,
    )
    assert (fep.masks - ep3d.masks).abs().max() <= 1e-6
    assert not torch.equal(ep3d.masks, torch.ones_like(ep3d.masks))  # it did optimise


def test_fep_masks_are_smoother_than_ep3d_in_time_and_with_a_spatial_cutoff_in_space(detector, square_clip):
    video, _ = square_clip
    kwargs = dict(areas=(0.0625, 0.125), **FAST)
    ep3d = extremal_perturbation(detector, video, 0, method="ep3d", **kwargs).masks[0]
    fep = extremal_perturbation(detector, video, 0, method="fep", **kwargs).masks[0]  # time only, the default
    fep_space = extremal_perturbation(detector, video, 0, method="fep", spatial_cutoff=0.25, **kwargs).masks[0]
    ep3d_t, ep3d_s = _high_share(ep3d)
    assert _high_share(fep)[0] < ep3d_t and _high_share(fep_space)[0] < ep3d_t
    assert _high_share(fep_space)[1] < ep3d_s
    assert _temporal_difference(fep) < _temporal_difference(ep3d)


@pytest.mark.parametrize("method", ["ep3d", "fep", "step"])
def test_share_above_half_matches_each_area(detector, square_clip, method):
    video, _ = square_clip
    areas = (0.0625, 0.125, 0.25)
    masks = extremal_perturbation(detector, video, 0, method=method, areas=areas, **FAST).masks[0]
    for mask, area in zip(masks, areas, strict=True):
        assert abs((mask > 0.5).float().mean().item() - area) <= 0.05, (method, area)


def test_ep2d_matches_the_area_in_every_frame(detector, square_clip):
    video, _ = square_clip
    areas = (0.125, 0.25)
    for method, bound in (("ep2d", 0.07), ("ep3d", None)):
        masks = extremal_perturbation(detector, video, 0, method=method, areas=areas, **FAST).masks[0]
        for mask, area in zip(masks, areas, strict=True):
            worst = ((mask > 0.5).float().mean(dim=(1, 2)) - area).abs().max().item()
            if bound is not None:
                # Soft masks thresholded at 0.5: 0.038 / 0.054-0.058 measured over seeds 0-5.
                assert worst <= bound, (method, area, worst)
            else:
                assert worst >= 0.1, (method, area, worst)  # one volume area lets frames differ (0.15-0.16)


def test_preserved_mask_beats_random_masks_of_the_same_area(detector, square_clip):
    video, truth = square_clip
    result = extremal_perturbation(detector, video, 0, method="fep", areas=(0.125,), **FAST)
    found = (result.masks[0, 0] > 0.5).float()
    pert = Perturbation(video, "blur")

    def prob(mask):
        with torch.no_grad():
            return detector(pert.apply(mask[None, None])[0]).softmax(1)[0, 0].item()

    gen = torch.Generator().manual_seed(0)
    random_probs = []
    for _ in range(5):
        order = torch.randperm(found.numel(), generator=gen)
        rand = torch.zeros(found.numel())
        rand[order[: int(found.sum())]] = 1
        random_probs.append(prob(rand.reshape(found.shape)))
    assert prob(found) > np.mean(random_probs) + 0.1
    # And the evidence it found is the square.
    assert found[truth].mean() > 0.3


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_masks_and_global_rng_untouched(tiny_net, method):
    video = torch.rand(1, 3, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = extremal_perturbation(tiny_net, video, 1, method=method, areas=(0.2,), iterations=15, progress=False, seed=5)
    after = torch.rand(3)
    b = extremal_perturbation(tiny_net, video, 1, method=method, areas=(0.2,), iterations=15, progress=False, seed=5)
    assert torch.equal(a.masks, b.masks)
    assert all(np.array_equal(a.history[k], b.history[k]) for k in a.history)
    assert torch.equal(after, expected_next)
    c = extremal_perturbation(tiny_net, video, 1, method=method, areas=(0.2,), iterations=15, progress=False, seed=6)
    assert not torch.equal(a.masks, c.masks)  # the seed matters (it breaks the area sort's ties)


def test_torch_settings_are_restored_even_when_the_model_changes_them(tiny_net):
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark)  # fmt: skip
    video = torch.rand(1, 3, 4, 16, 16)
    torch.manual_seed(9)
    expected_next = torch.rand(2)
    torch.manual_seed(9)
    with torch.no_grad():  # the engine needs grad inside, and must give the caller's mode back
        extremal_perturbation(SettingsChangingModel(tiny_net), video, 0, iterations=2, progress=False)
        assert not torch.is_grad_enabled()
    after = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark)  # fmt: skip
    assert after == before
    assert torch.equal(torch.rand(2), expected_next)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("variant", ["preserve", "dual"])
def test_chunked_batches_give_the_unsplit_result(tiny_net, method, variant):
    video = torch.rand(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(3))
    exact = OneClipAtATime(tiny_net)  # batch-invariant model: chunking must change nothing at all
    options = dict(method=method, variant=variant, areas=(0.1, 0.2, 0.3), iterations=6, progress=False)
    whole = extremal_perturbation(exact, video, [0, 3], **options)
    assert "in 1 chunk(s)" in whole.settings["memory"]
    for max_batch in (1, 2, 4):
        split = extremal_perturbation(exact, video, [0, 3], max_batch=max_batch, **options)
        assert "in 1 chunk(s)" not in split.settings["memory"]
        assert torch.equal(split.masks, whole.masks)
        assert all(np.array_equal(split.history[k], whole.history[k]) for k in whole.history)
        assert np.array_equal(split.scores["masked_prob"], whole.scores["masked_prob"])
    # A plain conv net sums in batch-size-dependent order: equal up to float rounding.
    plain = extremal_perturbation(tiny_net, video, [0, 3], **options)
    plain_split = extremal_perturbation(tiny_net, video, [0, 3], max_batch=1, **options)
    assert torch.allclose(plain.masks, plain_split.masks, atol=1e-5)


def test_chunks_fit_the_free_memory_and_the_callback_sees_whole_batches(tiny_net, monkeypatch):
    from fep.ep import memory

    video = torch.rand(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(4))
    exact = OneClipAtATime(tiny_net)
    whole = extremal_perturbation(exact, video, [1, 2], areas=(0.1, 0.3), iterations=4, progress=False)
    per_item = memory.item_bytes(memory.saved_activation_bytes(tiny_net, video[:1])[1], video, 8)
    # Room for three masked clips: the four of an iteration go in two chunks.
    monkeypatch.setattr(memory, "available_memory", lambda device: int(3.5 * per_item / memory.USABLE_SHARE))
    seen = []
    fitted = extremal_perturbation(
        exact, video, [1, 2], areas=(0.1, 0.3), iterations=4, progress=False,
        callback=lambda i, masks, history: seen.append((masks.shape, history["energy"].shape)),
    )  # fmt: skip
    assert "in 2 chunk(s) of <= 3" in fitted.settings["memory"]
    assert torch.equal(fitted.masks, whole.masks)
    assert seen == [((2, 2, 4, 16, 16), (i + 1, 2, 2)) for i in range(4)]


def test_parametrization_equals_gradient_modulation_for_sgd_without_clamping(tiny_net):
    video = torch.rand(1, 3, 8, 21, 21, generator=torch.Generator().manual_seed(2))
    common = dict(
        method="fep",
        areas=(0.3,),
        iterations=12,
        lr=1e-3,
        init=0.5,
        progress=False,
        modulate="energy",
        preserve_norm=False,
        temporal_cutoff=0.3,
        spatial_cutoff=0.4,
    )
    grad_mode = extremal_perturbation(tiny_net, video, 2, lowpass_at="gradient", **common)
    param_mode = extremal_perturbation(tiny_net, video, 2, lowpass_at="parametrization", **common)
    assert 0.01 < grad_mode.masks.min() and grad_mode.masks.max() < 0.99  # clamp never acted
    torch.testing.assert_close(param_mode.masks, grad_mode.masks, atol=1e-5, rtol=0)
    ep3d = extremal_perturbation(tiny_net, video, 2, **{**common, "method": "ep3d"})
    assert (ep3d.masks - grad_mode.masks).abs().max() > 1e-4  # and modulation did change something


@pytest.mark.parametrize(
    "options",
    [
        dict(lowpass_at="update"),
        dict(optimizer="adam"),
        dict(schedule="linear"),
        dict(modulate="reward"),
        dict(filter_type="ideal"),
        dict(filter_type="butterworth", filter_order=3),
        dict(preserve_norm=False),
        dict(core_weight=100.0),
    ],
)
def test_design_options_run_and_change_the_result(detector, square_clip, options):
    video, _ = square_clip
    base = extremal_perturbation(detector, video, 0, areas=(0.1,), iterations=40, progress=False)
    other = extremal_perturbation(detector, video, 0, areas=(0.1,), iterations=40, progress=False, **options)
    assert other.masks.shape == base.masks.shape
    assert not torch.equal(other.masks, base.masks)
    assert other.settings["iterations"] == 40


@pytest.mark.parametrize("variant", ["preserve", "delete", "dual"])
@pytest.mark.parametrize("reward", ["simple", "contrastive", "logprob"])
def test_variants_and_rewards_batch_clips_and_areas(tiny_net, variant, reward):
    video = torch.rand(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(3))
    model = CountingModel(tiny_net)
    result = extremal_perturbation(
        model,
        video,
        [0, 3],
        areas=(0.1, 0.3),
        variant=variant,
        reward=reward,
        perturbation="fade" if reward == "logprob" else "blur",
        iterations=5,
        progress=False,
    )
    assert result.masks.shape == (2, 2, 4, 16, 16)
    assert result.saliency.shape == (2, 4, 16, 16)
    assert result.history["energy"].shape == (5, 2, 2)
    assert np.isfinite(result.history["reward"]).all()
    # one batched call per iteration + final + clean (clip 0 alone, measuring memory, then clip 1)
    assert model.calls == result.model_calls == 5 + 1 + 2
    assert result.target == [0, 3]


def test_image_input_is_a_one_frame_video():
    model = TinyImageNet()
    image = torch.rand(1, 3, 28, 28)
    result = extremal_perturbation(model, image, 1, areas=(0.2,), iterations=5, progress=False)
    assert result.masks.shape == (1, 1, 1, 28, 28)


def test_history_callback_and_progress(tiny_net, capsys):
    video = torch.rand(1, 3, 4, 16, 16)
    seen = []

    def callback(i, masks, history):
        seen.append((i, masks.shape, history["energy"].shape))

    result = extremal_perturbation(
        tiny_net,
        video,
        0,
        areas=(0.1, 0.2),
        iterations=10,
        callback=callback,
        callback_every=4,
        progress=False,
    )
    assert [s[0] for s in seen] == [0, 4, 8, 9]
    assert seen[1][1] == (1, 2, 4, 16, 16) and seen[1][2] == (5, 1, 2)
    assert set(result.history) == {"reward", "area_loss", "core_loss", "energy"}
    assert capsys.readouterr().err == ""
    extremal_perturbation(tiny_net, video, 0, areas=(0.1,), iterations=3, progress=True)
    assert "fep" in capsys.readouterr().err


def test_model_is_returned_as_it_was_even_when_the_call_raises(tiny_net):
    tiny_net.train()
    tiny_net.head.weight.requires_grad_(False)
    tiny_net.features[0].weight.grad = torch.ones_like(tiny_net.features[0].weight)
    before = ([p.requires_grad for p in tiny_net.parameters()], [m.training for m in tiny_net.modules()])
    hooks = (len(tiny_net._forward_hooks), len(tiny_net._backward_hooks))
    video = torch.rand(1, 3, 4, 16, 16)
    extremal_perturbation(tiny_net, video, 0, areas=(0.1,), iterations=3, progress=False)
    failing = CountingModel(tiny_net, fail_at=3)
    with pytest.raises(RuntimeError, match="midway"):
        extremal_perturbation(failing, video, 0, areas=(0.1,), iterations=10, progress=False)

    def stop(i, masks, history):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extremal_perturbation(tiny_net, video, 0, areas=(0.1,), iterations=10, progress=False, callback=stop)
    after = ([p.requires_grad for p in tiny_net.parameters()], [m.training for m in tiny_net.modules()])
    assert after == before
    assert (len(tiny_net._forward_hooks), len(tiny_net._backward_hooks)) == hooks
    assert torch.equal(tiny_net.features[0].weight.grad, torch.ones_like(tiny_net.features[0].weight))
    assert all(p.grad is None for name, p in tiny_net.named_parameters() if name != "features.0.weight")
    assert torch.is_grad_enabled()


GOOD = torch.rand(1, 3, 4, 16, 16)


@pytest.mark.parametrize(
    "video, target, options, error, message",
    [
        (torch.rand(3, 4, 16, 16)[0], 0, {}, ValueError, "shape \\(N, C, T, H, W\\)"),
        (torch.rand(1, 1, 3, 4, 16, 16), 0, {}, ValueError, "shape \\(N, C, T, H, W\\)"),
        (GOOD.numpy(), 0, {}, TypeError, "must be a torch.Tensor"),
        ((GOOD * 255).to(torch.uint8), 0, {}, TypeError, "floating tensor"),
        (GOOD.clone().index_fill_(2, torch.tensor([1]), float("nan")), 0, {}, ValueError, "NaN or Inf"),
        (GOOD, -1, {}, ValueError, "negative"),
        (GOOD, [0, 1], {}, ValueError, "2 targets for 1 clips"),
        (GOOD, 0.5, {}, TypeError, "class index"),
        (GOOD, 0, dict(areas=(0.1, 1.0)), ValueError, "Area 1.0 is outside \\(0, 1\\)"),
        (GOOD, 0, dict(areas=0.0), ValueError, "Area 0.0 is outside"),
        (GOOD, 0, dict(areas=()), ValueError, "areas is empty"),
        (GOOD, 0, dict(method="gradcam"), ValueError, "Unknown method 'gradcam'"),
        (GOOD, 0, dict(variant="keep"), ValueError, "Unknown variant 'keep'"),
        (GOOD, 0, dict(reward="prob"), ValueError, "Unknown reward 'prob'"),
        (GOOD, 0, dict(filter_type="box"), ValueError, "Unknown filter_type 'box'"),
        (GOOD, 0, dict(perturbation="noise"), ValueError, "Unknown perturbation 'noise'"),
        (GOOD, 0, dict(temporal_cutoff=1.2), ValueError, "temporal_cutoff must lie in \\[0, 1\\]"),
        (GOOD, 0, dict(iterations=0), ValueError, "iterations must be a positive integer"),
        (GOOD, 0, dict(lowpass_at="update", modulate="reward"), ValueError, "pass modulate='energy'"),
        (GOOD, 0, dict(schedule="cosine"), ValueError, "Unknown schedule 'cosine'"),
    ],
)
def test_bad_input_is_refused_before_any_model_call(tiny_net, video, target, options, error, message):
    model = CountingModel(tiny_net)
    with pytest.raises(error, match=message):
        extremal_perturbation(model, video, target, progress=False, **options)
    assert model.calls == 0


def test_an_out_of_range_target_is_refused_after_the_first_call_only(tiny_net):
    model = CountingModel(tiny_net)
    with pytest.raises(ValueError, match="Target 4 is out of range for a model with 4 classes"):
        extremal_perturbation(model, GOOD, 4, progress=False)
    assert model.calls == 1  # the measuring forward pass gives the real number of classes


def test_a_model_with_the_wrong_output_is_named(tiny_net):
    class Features(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(3, 4))

    with pytest.raises(ValueError, match="logits of shape \\(batch, num_classes\\)"):
        extremal_perturbation(Features(), GOOD, 0, progress=False, iterations=2)


def test_captum_style_wrapper_and_save_load(tiny_net, tmp_path):
    explainer = FEP(tiny_net, areas=(0.1, 0.2), iterations=5, progress=False)
    result = explainer.attribute(GOOD, target=2, method="ep3d")
    assert result.method == "ep3d" and result.masks.shape == (1, 2, 4, 16, 16)
    path = result.save(tmp_path / "expl.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["expl.npz"]  # no temporary file left
    back = Explanation.load(path)
    assert torch.equal(back.masks, result.masks)
    assert back.areas == result.areas and back.target == [2] and back.method == "ep3d"
    assert back.settings == result.settings
    np.testing.assert_array_equal(back.history["energy"], result.history["energy"])
    np.testing.assert_array_equal(back.scores["masked_prob"], result.scores["masked_prob"])
    assert back.model_calls == result.model_calls
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not an explanation saved by fep"):
        Explanation.load(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="No explanation file"):
        Explanation.load(tmp_path / "missing.npz")


def test_fep_is_a_captum_attribution_that_captums_metrics_accept(tiny_net):
    """Captum's own infidelity and sensitivity_max run on FEP's input-shaped attributions."""
    from captum.attr import Attribution
    from captum.metrics import infidelity, sensitivity_max

    explainer = FEP(tiny_net, areas=(0.1,), iterations=3, progress=False)
    assert isinstance(explainer, Attribution) and explainer.forward_func is tiny_net
    attributions = explainer.attribute(GOOD, target=1, output="input")
    result = explainer.attribute(GOOD, target=1)
    assert attributions.shape == GOOD.shape
    assert torch.equal(attributions[:, 0], result.saliency) and torch.equal(attributions[:, 2], result.saliency)
    assert torch.equal(explainer.attribute(GOOD, target=1, output="saliency"), result.saliency)

    def perturb(inputs):
        noise = 0.01 * torch.randn(inputs.shape, generator=torch.Generator().manual_seed(0))
        return noise, inputs - noise

    score = infidelity(tiny_net, perturb, GOOD, attributions, target=1)
    assert score.shape == (1,) and torch.isfinite(score).all()
    sensitivity = sensitivity_max(explainer.attribute, GOOD, target=1, output="input", n_perturb_samples=2)
    assert sensitivity.shape == (1,) and torch.isfinite(sensitivity).all()
    with pytest.raises(ValueError, match="Unknown output 'mask'; choose one of 'explanation', 'saliency', 'input'"):
        explainer.attribute(GOOD, target=1, output="mask")


def test_every_method_is_listed():
    assert METHODS == ("ep2d", "ep3d", "step", "fep")


# ---- known evidence: a model that reads one fixed window, not mirror-symmetric ----

WINDOW = dict(top=12, left=4, window=20)  # its mirror image lies 16 px away, at columns 40-59


def _kept_inside(masks: torch.Tensor, inside: torch.Tensor, area: float, per_frame: bool) -> tuple[int, int]:
    """(voxels of the mask's top-`area` share that lie in the window, how many could): per frame for 2D-EP."""
    order = torch.rand(masks.shape, generator=torch.Generator().manual_seed(1)) * 1e-6  # ties in random order
    scores = masks + order
    if per_frame:
        counts = [_kept_inside(scores[t : t + 1], inside[t : t + 1], area, False) for t in range(scores.shape[0])]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)
    k = round(area * scores.numel())
    top = torch.zeros(scores.numel(), dtype=torch.bool)
    top[scores.flatten().topk(k).indices] = True
    return int((top & inside.flatten()).sum()), min(k, int(inside.sum()))


@pytest.mark.parametrize("frames", [1, 4], ids=["image", "video"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_keeps_the_known_evidence_window_at_defaults(method, frames):
    from fep.testing import WindowDetector, window_clip

    video, inside = window_clip(frames=max(frames, 1), **WINDOW)
    model = WindowDetector(WINDOW["top"], WINDOW["left"], size=WINDOW["window"])
    clip = video[:, :, 0] if frames == 1 else video  # an image is explained as a one-frame video
    result = extremal_perturbation(model, clip, 0, method=method, areas=(0.05, 0.1, 0.2), progress=False)
    for a, area in enumerate(result.areas):
        kept, possible = _kept_inside(result.masks[0, a], inside, area, per_frame=method == "ep2d")
        # Most of the top-a voxels lie in the window; all of it when the area is half as large again.
        room = area * inside[0].numel() / inside[0].sum().item()  # the area in units of the window
        need = 0.9 if room >= 1.5 else 0.5
        assert kept > need * possible, f"{method} area {area}: {kept} of {possible} window voxels kept"


def test_flip_jitter_is_off_by_default_and_keeps_the_mirror_image_when_on():
    from fep.testing import WindowDetector, window_clip

    video, inside = window_clip(frames=1, **WINDOW)
    model = WindowDetector(WINDOW["top"], WINDOW["left"], size=WINDOW["window"])
    image, mirror = video[:, :, 0], inside.flip(-1)
    default = extremal_perturbation(model, image, 0, method="ep3d", areas=(0.2,), progress=False)
    # TorchRay's start (all ones, a fixed count): the first, flipped step decides where the mask goes.
    jitter = extremal_perturbation(
        model, image, 0, method="ep3d", areas=(0.2,), jitter=True, iterations=100, progress=False
    )
    assert default.settings["jitter"] is False
    assert default.masks[0, 0][inside].mean() > 0.9 and default.masks[0, 0][mirror].mean() < 0.1
    assert jitter.masks[0, 0][mirror].mean() > 0.5 and jitter.masks[0, 0][inside].mean() < 0.5


@pytest.mark.slow
def test_reward_history_on_a_bundled_sample_does_not_swing_every_iteration():
    from fep.data.samples import load_sample
    from fep.models import load_model, preprocess

    clip, truth = load_sample(5)
    model = load_model("toy")
    result = extremal_perturbation(model, preprocess(clip.frames, "toy"), truth["label"], progress=False)
    for a, area in enumerate(result.areas):  # with flip jitter on, the swing was 79-86 % of the range
        reward = result.history["reward"][:, 0, a]
        reward = reward[~np.isnan(reward)]  # "auto": NaN once the mask has stopped
        swing = np.abs(np.diff(reward)).mean()
        assert swing < 0.1 * (reward.max() - reward.min()), (area, swing, reward.max() - reward.min())


def test_a_target_beyond_the_last_registered_layer_width_is_explained():
    from fep.testing import TwoHeadNet

    result = extremal_perturbation(TwoHeadNet(), torch.rand(1, 3, 4, 16, 16), 5, iterations=3, progress=False)
    assert result.target == [5] and result.masks.shape == (1, len(DEFAULT_AREAS), 4, 16, 16)
    with pytest.raises(ValueError, match="out of range for a model with 10 classes"):
        extremal_perturbation(TwoHeadNet(), torch.rand(1, 3, 4, 16, 16), 10, iterations=3, progress=False)


def test_the_progress_bar_tells_the_truth_under_auto(tiny_net, capsys):
    """What it waits for, the energy every iteration, and a complete bar once every mask converged."""
    result = extremal_perturbation(tiny_net, GOOD, 1, areas=(0.1, 0.2), progress=True)
    lines = [line.strip() for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.strip()]
    used = int(result.iterations_used.max())
    assert result.stop_reason == [["converged", "converged"]] and used < 100
    assert f"{used}/{used}" in lines[-1] and "100%" in lines[-1] and "2/2 masks converged" in lines[-1]
    assert any("area weight grows until iteration" in line for line in lines)
    energies = {line.split("energy ")[1].split(",")[0] for line in lines if "energy " in line}
    assert len(energies) >= used // 2  # refreshed every iteration, not every tenth
