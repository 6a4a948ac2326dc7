"""Speed paths give the masks of the plain fp32 path: channels-last 3-D convolutions and bf16 on the CPU;
and a chained sweep runs each area as a batch would, started from the mask of the area before it."""

import pytest
import torch
from torch import nn

from fep import extremal_perturbation
from fep.ep.model_state import channels_last_model
from fep.ep.settings import ExplanationSettings
from fep.errors import FepValueError
from fep.testing import TinyVideoNet

VIDEO = torch.rand(1, 3, 8, 32, 32, generator=torch.Generator().manual_seed(0))
# Stated tolerance: the two layouts sum a convolution in a different order, so a mask may move by float32
# rounding amplified over the iterations (r2plus1d_18, 60 iterations: up to 1.3e-2, speed_paths.json); the
# small models below, over their few iterations, stay within this.
MASK_TOLERANCE = 1e-3


class NormedVideoNet(nn.Module):
    """Conv3d + BatchNorm3d (buffers) + a 5-D parameter, as the torchvision video ResNets have."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv3d(3, 6, 3, padding=1)
        self.norm = nn.BatchNorm3d(6)
        self.head = nn.Linear(6, 4)
        with torch.no_grad():
            self.norm.running_mean.uniform_(-0.1, 0.1)
            self.norm.running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        return self.head(self.norm(self.conv(x)).relu().mean(dim=(2, 3, 4)))


@pytest.mark.parametrize("net", [TinyVideoNet, NormedVideoNet], ids=lambda n: n.__name__)
def test_channels_last_gives_the_contiguous_masks_within_the_stated_tolerance(net):
    model = net()
    # A fixed count: under "auto" a stop that is borderline on one CPU could fall an iteration apart.
    options = dict(areas=(0.05, 0.2), iterations=12, progress=False)
    plain = extremal_perturbation(model, VIDEO, 0, **options)
    fast = extremal_perturbation(model, VIDEO, 0, memory_format="channels_last", **options)
    assert (fast.masks - plain.masks).abs().max() <= MASK_TOLERANCE
    assert fast.settings["memory_format"] == "channels_last"


def test_the_model_gets_back_its_own_tensors_in_its_own_layout_even_after_an_error():
    model = NormedVideoNet()
    params = [(p, p.data_ptr(), p.stride()) for p in model.parameters()]  # the same storage, the same layout
    buffers = {name: b for name, b in model.named_buffers()}
    with channels_last_model(model):
        assert model.conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
        assert not model.conv.weight.is_contiguous()
    assert all(p.data_ptr() == ptr and p.stride() == stride for p, ptr, stride in params)
    assert all(b is buffers[name] for name, b in model.named_buffers())
    with pytest.raises(RuntimeError, match="inside"), channels_last_model(model):
        raise RuntimeError("inside")
    assert all(p.data_ptr() == ptr for p, ptr, _ in params)
    extremal_perturbation(model, VIDEO, 0, areas=(0.1,), iterations=2, progress=False, memory_format="channels_last")
    assert all(p.data_ptr() == ptr and p.stride() == stride for p, ptr, stride in params)


def test_an_unknown_memory_format_is_named_with_the_choices():
    with pytest.raises(FepValueError, match="memory_format.*channels_last"):
        extremal_perturbation(TinyVideoNet(), VIDEO, 0, progress=False, memory_format="channels_first")


# Stated tolerance of bf16: the forward pass keeps 8 bits of mantissa, so masks move visibly; the
# explanation is the same when the top 10 % of voxels agree on 80 % and the kept probability within 0.05.
BF16_TOP_OVERLAP, BF16_KEPT = 0.8, 0.05


def _top_overlap(a: torch.Tensor, b: torch.Tensor, share: float) -> float:
    k = max(1, int(share * a.numel()))
    top_a, top_b = set(a.flatten().topk(k).indices.tolist()), set(b.flatten().topk(k).indices.tolist())
    return len(top_a & top_b) / k


def test_bf16_on_the_cpu_gives_the_fp32_explanation_within_the_stated_tolerance():
    model = NormedVideoNet()
    options = dict(areas=(0.1,), iterations=12, progress=False)
    plain = extremal_perturbation(model, VIDEO, 0, **options)
    low = extremal_perturbation(model, VIDEO, 0, autocast="bf16", **options)
    assert low.settings["autocast"] == "bf16" and torch.isfinite(low.masks).all()
    assert _top_overlap(low.masks[0, 0], plain.masks[0, 0], 0.1) >= BF16_TOP_OVERLAP
    assert abs(float(low.scores["masked_prob"][0, 0]) - float(plain.scores["masked_prob"][0, 0])) < BF16_KEPT


def test_fp16_on_the_cpu_is_refused_with_the_alternative():
    with pytest.raises(FepValueError, match="CUDA only.*bf16"):
        extremal_perturbation(TinyVideoNet(), VIDEO, 0, progress=False, autocast="fp16")


def test_a_chain_runs_the_areas_largest_first_each_from_the_previous_mask():
    model, seen = TinyVideoNet(), []
    options = dict(iterations=6, progress=False, memory_format="model")
    chain = extremal_perturbation(model, VIDEO, 0, areas=(0.05, 0.2), sweep="chain", **options,
                                  callback=lambda i, masks, history: seen.append((i, masks.clone(), history)))
    alone = extremal_perturbation(model, VIDEO, 0, areas=(0.2,), **options)
    assert chain.settings["ran"]["sweep"] == "chain" and chain.iterations_used.tolist() == [[6, 6]]
    # The largest area runs first, exactly as it would alone ...
    torch.testing.assert_close(chain.masks[:, 1], alone.masks[:, 0])
    # ... and the next starts from its final mask (the callback shows a link's mask before its first step).
    assert [i for i, _, _ in seen] == list(range(12))
    torch.testing.assert_close(seen[6][1][:, 0], chain.masks[:, 1])
    # The history is a timeline: the rows in the chain's order, each area's column only where it ran.
    energy = torch.as_tensor(chain.history["energy"])
    assert energy.shape == (12, 1, 2)
    assert energy[:6, :, 1].isfinite().all() and energy[:6, :, 0].isnan().all()
    assert energy[6:, :, 0].isfinite().all() and energy[6:, :, 1].isnan().all()
    assert seen[-1][2]["energy"].shape == (12, 1, 2)


def test_auto_chains_and_lays_out_channels_last_on_the_cpu_and_batches_on_a_gpu():
    auto = ExplanationSettings(areas=(0.05, 0.1), sweep="auto", memory_format="auto")
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert auto.chained(cpu) and not auto.chained(gpu)
    assert auto.channels_last(cpu) and not auto.channels_last(gpu)
    assert not ExplanationSettings(areas=(0.1,), sweep="chain").chained(cpu)  # one area: nothing to chain
    assert not ExplanationSettings(areas=(0.05, 0.1), defaults="2026-12").chained(cpu)


def test_an_unknown_sweep_is_named_with_the_choices():
    with pytest.raises(FepValueError, match="sweep.*chain"):
        extremal_perturbation(TinyVideoNet(), VIDEO, 0, progress=False, sweep="serial")
