import pytest
import torch

from fep.ep.model_state import frozen_model, model_device
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
    with pytest.raises(TypeError, match="torch.nn.Module or a callable"):
        with frozen_model(42):
            pass
    function = lambda x: x  # noqa: E731  a plain function has nothing to freeze: borrowed as it is
    with frozen_model(function) as borrowed:
        assert borrowed is function


# ---- every function that runs the user's model borrows it through frozen_model ----


def _bn_state(model):
    bn = model.features[1]
    return bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()


def _model_runners(tmp_path):
    """Every public fep function that calls the model: name -> f(model) returning a tensor."""
    from fep.baselines import gradients as G
    from fep.bench import Clip, run_experiments, video_clips
    from fep.bench.faithfulness import deletion_insertion, kept_probability
    from fep.data.video import write_video
    from fep.ep.api import FEP, extremal_perturbation

    video = torch.rand(1, 3, 4, 16, 16, generator=torch.Generator().manual_seed(3))
    saliency = torch.rand(4, 16, 16, generator=torch.Generator().manual_seed(4))
    ep = dict(areas=(0.1,), iterations=3, progress=False)
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(folder / "clip.mp4", video[0].repeat(1, 4, 1, 1), fps=8)  # 16 frames: no padding

    def experiments(model):
        out = tmp_path / f"exp{len(list(tmp_path.iterdir()))}"
        rows = run_experiments(out, ["gradient", "ep3d"], [Clip("c", video, 1)], model=model, fast=True, progress=False)
        return torch.tensor([row[k] for row in rows for k in sorted(row) if isinstance(row[k], float)])

    def explain(method):
        return lambda model: extremal_perturbation(model, video, 1, method=method, **ep).masks

    def deletion(model):
        return torch.tensor(deletion_insertion(model, video, 1, saliency, steps=4)["scores"])

    return {
        **{f"extremal_perturbation[{m}]": explain(m) for m in ("ep2d", "ep3d", "step", "fep")},
        "FEP.attribute": lambda model: FEP(model, **ep).attribute(video, target=1).masks,
        "vanilla_gradient": lambda model: G.vanilla_gradient(model, video, 1),
        "gradient_x_input": lambda model: G.gradient_x_input(model, video, 1),
        "smoothgrad": lambda model: G.smoothgrad(model, video, 1, samples=2, progress=False),
        "integrated_gradients": lambda model: G.integrated_gradients(model, video, 1, steps=2, progress=False),
        "grad_cam": lambda model: G.grad_cam(model, video, 1, layer=model.features),
        "occlusion": lambda model: G.occlusion(model, video, 1, window=(2, 8, 8), progress=False),
        "deletion_insertion": deletion,
        "kept_probability": lambda model: kept_probability(model, video, 1, saliency[None], 0.2),
        "video_clips": lambda model: torch.tensor([c.target for c in video_clips(folder, model, "toy")]),
        "run_experiments": experiments,
    }


def test_every_model_running_function_borrows_a_train_mode_model_and_gives_it_back(tmp_path):
    from fep.testing import BatchNormDropoutNet

    model, x = BatchNormDropoutNet(), torch.rand(2, 3, 4, 16, 16)
    assert model.training
    statistics = _bn_state(model)
    with torch.no_grad():  # run as it is, the model is random and moves its statistics
        assert not torch.equal(model(x), model(x))
    assert not torch.equal(_bn_state(model)[0], statistics[0])
    model = BatchNormDropoutNet()
    runners = _model_runners(tmp_path)
    assert len(runners) == 15
    for name, run in runners.items():
        before = _bn_state(model), _state(model)
        results = [run(model), run(model)]
        assert torch.equal(results[0], results[1]), f"{name}: output differs between two calls (dropout on?)"
        for got, expected in zip(_bn_state(model), before[0], strict=True):
            assert torch.equal(got, expected), f"{name}: BatchNorm running statistics changed"
        assert _state(model) == before[1] and model.training, f"{name}: requires_grad or train mode not restored"
