import pytest
import torch

from fep.model_state import frozen_model, model_device
from fep.testing import TinyVideoNet


def _state(model):
    return [p.requires_grad for p in model.parameters()], [m.training for m in model.modules()]


def test_frozen_model_freezes_and_restores_mixed_state():
    model = TinyVideoNet()
    model.train()
    model.features[0].eval()
    model.head.bias.requires_grad_(False)
    before = _state(model)
    with frozen_model(model) as m:
        assert m is model
        assert not any(p.requires_grad for p in model.parameters())
        assert not any(mod.training for mod in model.modules())
    assert _state(model) == before


def test_frozen_model_restores_after_an_exception_and_grad_mode():
    model = TinyVideoNet()
    before = _state(model)
    with torch.no_grad():
        with pytest.raises(RuntimeError, match="boom"):
            with frozen_model(model):
                torch.set_grad_enabled(True)
                raise RuntimeError("boom")
        assert not torch.is_grad_enabled()
    assert _state(model) == before


def test_model_device_and_type_check():
    assert model_device(TinyVideoNet()) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) is None
    with pytest.raises(TypeError, match="torch.nn.Module"):
        with frozen_model(lambda x: x):
            pass
