"""Speed paths give the masks of the plain fp32 path: channels-last 3-D convolutions on CPU."""

import pytest
import torch
from torch import nn

from fep import extremal_perturbation
from fep.ep.model_state import channels_last_model
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
