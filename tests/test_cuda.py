"""On a CUDA GPU: everything follows the clip's device, and autocast keeps the explanation (cuda marker).

These run wherever CUDA is present (``benchmarks/device_check.sh`` on a lent GPU) and are left out
elsewhere by tests/conftest.py; nothing in ``make test`` needs a GPU.
"""

import pytest
import torch

from fep.bench.faithfulness import deletion_insertion, kept_probability
from fep.ep.api import extremal_perturbation
from fep.testing import TinyVideoNet, WindowDetector, window_clip

pytestmark = pytest.mark.cuda
WINDOW = dict(top=12, left=4, window=20)


def _top_overlap(a: torch.Tensor, b: torch.Tensor, area: float) -> float:
    """Share of the top-``area`` voxels of ``a`` that are also among ``b``'s."""
    k = max(1, round(area * a.numel()))
    top_a = set(a.flatten().topk(k).indices.tolist())
    top_b = set(b.flatten().topk(k).indices.tolist())
    return len(top_a & top_b) / k


@pytest.mark.parametrize("method", ["ep2d", "ep3d", "step", "fep"])
def test_every_method_runs_on_the_clips_device_and_agrees_with_the_cpu(method):
    video, inside = window_clip(frames=4, **WINDOW)
    model = WindowDetector(WINDOW["top"], WINDOW["left"], size=WINDOW["window"])
    options = dict(method=method, areas=(0.05, 0.2), iterations=30, progress=False)
    on_cpu = extremal_perturbation(model, video, 0, **options)
    on_gpu = extremal_perturbation(model.cuda(), video.cuda(), 0, **options)
    assert on_gpu.masks.device.type == "cpu" and next(model.parameters()).device.type == "cuda"
    # Float sums differ in the last bits between devices, and the area term ranks voxels whose values tie
    # up to its 1e-6 tie-break, so which plateau voxels end up on top may differ: compare values instead.
    difference = (on_gpu.masks - on_cpu.masks).abs().mean().item()
    print(f"{method}: mean |GPU - CPU| mask difference {difference:.4f}")
    assert difference < 0.05
    for a in range(2):  # and both keep the known evidence
        assert on_gpu.masks[0, a][inside].mean() > 0.25 and on_cpu.masks[0, a][inside].mean() > 0.25


def test_auto_with_warm_start_on_cuda():
    video, inside = window_clip(frames=4, **WINDOW)
    model = WindowDetector(WINDOW["top"], WINDOW["left"], size=WINDOW["window"]).cuda()
    result = extremal_perturbation(model, video.cuda(), 0, areas=(0.05, 0.1, 0.2), progress=False)
    assert result.stop_reason == [["converged"] * 3] and result.iterations_used.max() < 40


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_keeps_the_explanation_of_a_deep_network(precision):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model("r2plus1d_18", weights=None).cuda().eval()
    video = torch.randn(1, 3, 8, 64, 64, device="cuda")
    target = int(model(video).argmax())
    options = dict(areas=(0.1,), iterations=20, progress=False)
    fp32 = extremal_perturbation(model, video, target, **options)
    low = extremal_perturbation(model, video, target, autocast=precision, **options)
    overlap = _top_overlap(low.masks[0, 0], fp32.masks[0, 0], 0.1)
    kept = (float(low.scores["masked_prob"][0, 0]), float(fp32.scores["masked_prob"][0, 0]))
    print(f"{precision}: top-10 % overlap with float32 {overlap:.3f}; p(target | kept) {kept[0]:.4f} vs {kept[1]:.4f}")
    assert low.settings["autocast"] == precision and torch.isfinite(low.masks).all()
    assert overlap > 0.8 and abs(kept[0] - kept[1]) < 0.05


def test_metrics_run_on_the_clips_device():
    model, video = TinyVideoNet().cuda(), torch.rand(1, 3, 4, 16, 16, device="cuda")
    saliency = torch.rand(4, 16, 16, device="cuda")
    curve = deletion_insertion(model, video, 1, saliency, steps=4)
    kept = kept_probability(model, video, 1, saliency[None], 0.2)
    assert len(curve["scores"]) == 5 and kept.shape == (1,)
