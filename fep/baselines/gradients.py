r"""Gradient-based saliency for video models, and its frequency modulation.

Every function takes ``model, video, target`` like :func:`fep.extremal_perturbation` (video
``(N, C, T, H, W)``, one target or one per clip) and returns a saliency volume ``(N, T, H, W)``:

- :func:`vanilla_gradient`: :math:`\partial y_c / \partial x` (Captum ``Saliency``);
- :func:`gradient_x_input`: :math:`x \odot \partial y_c / \partial x` (Captum ``InputXGradient``);
- :func:`smoothgrad`: the mean gradient over ``samples`` noisy copies
  :math:`x + \varepsilon,\ \varepsilon \sim \mathcal N(0, (\sigma (x_{max} - x_{min}))^2)`;
- :func:`integrated_gradients`: :math:`(x - x_0) \odot \frac1S \sum_{s} \nabla y_c(x_0 + \alpha_s (x - x_0))`
  with midpoints :math:`\alpha_s = (s + \tfrac12)/S`; baseline :math:`x_0` a blurred clip or zeros.
  Completeness: the attributions sum to :math:`y_c(x) - y_c(x_0)` as :math:`S` grows;
- :func:`grad_cam`: ReLU of the gradient-weighted sum of a layer's channels, upsampled trilinearly to
  ``(T, H, W)``; the layer is picked per architecture (:func:`default_cam_layer`), channels-last layers
  (Swin3D) included;
- :func:`occlusion`: the drop of :math:`y_c` when a spatiotemporal window is replaced by the baseline
  (Captum ``Occlusion``).

Channels are reduced explicitly (``reduction``): ``"abs_max"`` (max of absolute values, the usual
saliency map), ``"l2"`` (Euclidean norm) or ``"sum"`` (signed sum, which keeps completeness).

:func:`lowpass_saliency` passes any saliency volume through the DCT low-pass of F-EP with separate
temporal and spatial cutoffs ("frequency-modulated gradients"); :func:`fep.bench.map_metrics.saliency_spectrum`
measures the DCT energy spectrum and the share of energy below the cutoffs.

The model is returned exactly as it was (parameters' ``requires_grad``, train/eval mode, no hooks,
no ``.grad``), results follow the input's device, and the methods with many passes show a progress bar.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from fep.ep.checks import check_choice, check_positive_int
from fep.ep.dct import FILTER_GAUSSIAN, lowpass
from fep.ep.inputs import checked_inputs
from fep.ep.model_state import frozen_model
from fep.ep.perturbation import blur_frames
from fep.ep.warm_start import input_gradient
from fep.errors import FepValueError

__all__ = [
    "REDUCTIONS",
    "reduce_channels",
    "vanilla_gradient",
    "gradient_x_input",
    "smoothgrad",
    "integrated_gradients",
    "default_cam_layer",
    "grad_cam",
    "occlusion",
    "lowpass_saliency",
    "layer_hooks",
]

REDUCTIONS = ("abs_max", "l2", "sum")


def reduce_channels(attribution: torch.Tensor, reduction: str) -> torch.Tensor:
    """``(N, C, T, H, W)`` → ``(N, T, H, W)`` by ``"abs_max"``, ``"l2"`` or ``"sum"``."""
    check_choice("reduction", reduction, REDUCTIONS)
    if reduction == "abs_max":
        return attribution.abs().amax(dim=1)
    if reduction == "l2":
        return attribution.pow(2).sum(dim=1).sqrt()
    return attribution.sum(dim=1)


def _checked_inputs(caller: str, model, video, target, needs_module: bool = False):
    """The one input check (:func:`fep.ep.inputs.checked_inputs`), with the targets as a tensor ``(N,)``."""
    video, targets, forward = checked_inputs(caller, model, video, target, needs_module=needs_module)
    return video, torch.tensor(targets, device=video.device), forward


def vanilla_gradient(model, video, target, *, reduction: str = "abs_max") -> torch.Tensor:
    """Gradient of the target logit with respect to the input (Captum ``Saliency``, signed).

    Args:
        model: video classifier returning logits ``(N, K)``.
        video: ``(N, C, T, H, W)``.
        target: class index or one per clip.
        reduction: channel reduction (see module docstring).

    Returns:
        ``(N, T, H, W)``.

    Examples::

        >>> sal = vanilla_gradient(model, video, target=2)
    """
    from captum.attr import Saliency

    check_choice("reduction", reduction, REDUCTIONS)
    video, targets, forward = _checked_inputs("vanilla_gradient", model, video, target)
    with frozen_model(model), torch.enable_grad():
        grad = Saliency(forward).attribute(video.clone().requires_grad_(True), target=targets, abs=False)
    return reduce_channels(grad.detach(), reduction)


def gradient_x_input(model, video, target, *, reduction: str = "abs_max") -> torch.Tensor:
    """Input times gradient (Captum ``InputXGradient``); returns ``(N, T, H, W)``."""
    from captum.attr import InputXGradient

    check_choice("reduction", reduction, REDUCTIONS)
    video, targets, forward = _checked_inputs("gradient_x_input", model, video, target)
    with frozen_model(model), torch.enable_grad():
        attr = InputXGradient(forward).attribute(video.clone().requires_grad_(True), target=targets)
    return reduce_channels(attr.detach(), reduction)


def smoothgrad(
    model,
    video,
    target,
    *,
    samples: int = 16,
    noise: float = 0.15,
    batch_size: int = 4,
    seed: int = 0,
    reduction: str = "abs_max",
    progress: bool = True,
) -> torch.Tensor:
    """Mean gradient over noisy copies of the clip (Smilkov et al. 2017).

    Args:
        samples: noisy copies per clip.
        noise: noise standard deviation as a fraction of each clip's value range.
        batch_size: copies per model call.
        seed: noise seed (the global RNG is not touched).
        reduction, progress: channel reduction; show a progress bar.

    Returns:
        ``(N, T, H, W)``; channels are reduced after averaging the signed gradients.
    """
    check_positive_int("samples", samples)
    check_positive_int("batch_size", batch_size)
    check_choice("reduction", reduction, REDUCTIONS)
    video, targets, forward = _checked_inputs("smoothgrad", model, video, target)
    gen = torch.Generator(device=video.device).manual_seed(seed)
    total = torch.zeros_like(video)
    with frozen_model(model), torch.enable_grad():
        for n in range(video.shape[0]):
            clip = video[n : n + 1]
            sigma = noise * float(clip.max() - clip.min())
            for start in tqdm(range(0, samples, batch_size), desc=f"SmoothGrad clip {n}", disable=not progress):
                k = min(batch_size, samples - start)
                eps = torch.randn((k, *clip.shape[1:]), generator=gen, device=video.device, dtype=video.dtype)
                total[n] += input_gradient(forward, clip + sigma * eps, targets[n].repeat(k)).sum(dim=0)
    return reduce_channels(total / samples, reduction)


def _baseline(video: torch.Tensor, baseline) -> torch.Tensor:
    if isinstance(baseline, torch.Tensor):
        if baseline.shape != video.shape:
            raise FepValueError(
                f"baseline shape {tuple(baseline.shape)} differs from the video's {tuple(video.shape)}."
            )
        return baseline.to(video)
    check_choice("baseline", baseline, ("blur", "zeros"))
    return torch.zeros_like(video) if baseline == "zeros" else blur_frames(video, 20.0)


def integrated_gradients(
    model,
    video,
    target,
    *,
    steps: int = 32,
    baseline: str | torch.Tensor = "blur",
    batch_size: int = 8,
    reduction: str = "sum",
    progress: bool = True,
    return_delta: bool = False,
):
    """Integrated Gradients with midpoint Riemann steps (see module docstring).

    Args:
        steps: points on the path from baseline to clip.
        baseline: ``"blur"`` (each frame blurred with sigma 20, the EP pyramid's strongest level),
            ``"zeros"``, or a tensor shaped like ``video``.
        batch_size: path points per model call.
        reduction: ``"sum"`` (default) keeps completeness; ``"abs_max"``/``"l2"`` for display.
        return_delta: also return the completeness gap
            :math:`\\sum \\text{attr} - (y_c(x) - y_c(x_0))` per clip (with signed channel sum).

    Returns:
        ``(N, T, H, W)``, or ``(saliency, delta (N,))`` with ``return_delta``.
    """
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    check_choice("reduction", reduction, REDUCTIONS)
    video, targets, forward = _checked_inputs("integrated_gradients", model, video, target)
    start_point = _baseline(video, baseline)
    alphas = (torch.arange(steps, dtype=video.dtype, device=video.device) + 0.5) / steps
    grads = torch.zeros_like(video)
    with frozen_model(model), torch.enable_grad():
        for n in range(video.shape[0]):
            x, x0 = video[n : n + 1], start_point[n : n + 1]
            for s in tqdm(range(0, steps, batch_size), desc=f"Integrated Gradients clip {n}", disable=not progress):
                a = alphas[s : s + batch_size].view(-1, 1, 1, 1, 1)
                grads[n] += input_gradient(forward, x0 + a * (x - x0), targets[n].repeat(len(a))).sum(dim=0)
        attribution = (video - start_point) * grads / steps
        if return_delta:
            with torch.no_grad():
                gap = forward(video).gather(1, targets[:, None]) - forward(start_point).gather(1, targets[:, None])
            delta = attribution.sum(dim=(1, 2, 3, 4)) - gap[:, 0]
    saliency = reduce_channels(attribution, reduction)
    return (saliency, delta) if return_delta else saliency


def default_cam_layer(model: torch.nn.Module) -> tuple[torch.nn.Module, bool]:
    """The layer Grad-CAM looks at, and whether its output is channels-last.

    The model registry's choice (:func:`fep.models.registry.cam_layer_of`: ``layer4`` of torchvision's
    ResNets, ``features`` of S3D and of the toy model, ``norm`` of Swin3D, channels-last), or the layer a
    network names in its ``cam_layer`` attribute; otherwise the last ``Conv3d``.
    """
    from fep.models.registry import cam_layer_of

    known = cam_layer_of(model)
    if known is not None:
        return known
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    if not convs:
        raise FepValueError(
            f"Cannot find a 3-D convolution in {type(model).__name__} for Grad-CAM; pass layer=model.<module>."
        )
    return convs[-1], False


@contextmanager
def layer_hooks(layer: torch.nn.Module) -> Iterator[dict]:
    """Record a layer's output (and keep its graph) for the duration of a ``with`` block.

    The hook is removed on exit, whatever happens inside (pytorch-grad-cam's pattern).
    """
    store: dict = {}

    def keep(module, inputs, output):
        store["activation"] = output

    handle = layer.register_forward_hook(keep)
    try:
        yield store
    finally:
        handle.remove()


def grad_cam(
    model, video, target, *, layer: torch.nn.Module | None = None, channels_last: bool | None = None
) -> torch.Tensor:
    """Grad-CAM for 3-D networks, upsampled to the clip.

    :math:`\\text{CAM} = \\mathrm{ReLU}(\\sum_k w_k A_k)` with
    :math:`w_k = \\mathrm{mean}_{t,y,x}\\,\\partial y_c/\\partial A_k`, then trilinear interpolation
    from the layer's ``(T', h, w)`` to ``(T, H, W)`` — the same as Captum's ``LayerGradCam`` +
    ``LayerAttribution.interpolate`` on channels-first layers (a test holds them equal), and also
    correct for channels-last layers, which Captum's version would average over the wrong axes.

    Args:
        layer: the module whose output is used (default :func:`default_cam_layer`).
        channels_last: the layer's output is ``(N, T', h, w, C)`` (default: as detected).

    Returns:
        ``(N, T, H, W)``, non-negative.
    """
    video, targets, _ = _checked_inputs("grad_cam", model, video, target, needs_module=True)
    if layer is None:
        layer, detected = default_cam_layer(model)
        channels_last = detected if channels_last is None else channels_last
    channels_last = bool(channels_last)
    with frozen_model(model), torch.enable_grad(), layer_hooks(layer) as store:
        clips = video.clone().requires_grad_(True)  # frozen weights: the input must carry the graph
        logits = model(clips)
        if "activation" not in store:
            raise FepValueError(f"The layer {type(layer).__name__} was not used by the model's forward pass.")
        act = store.pop("activation")
        if not isinstance(act, torch.Tensor) or act.ndim != 5:
            raise FepValueError("Grad-CAM needs a layer whose output is 5-D (N, C, T, H, W); pass another layer=.")
        (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), act)
    if channels_last:
        act, grad = act.permute(0, 4, 1, 2, 3), grad.permute(0, 4, 1, 2, 3)
    weights = grad.mean(dim=(2, 3, 4), keepdim=True)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=video.shape[2:], mode="trilinear", align_corners=False)
    return cam[:, 0]


def occlusion(
    model,
    video,
    target,
    *,
    window: tuple[int, int, int] = (4, 16, 16),
    stride: tuple[int, int, int] | None = None,
    baseline: str | torch.Tensor = "blur",
    batch_size: int = 16,
    progress: bool = True,
) -> torch.Tensor:
    """Drop of the target logit when a ``(t, h, w)`` window is replaced by the baseline (Captum ``Occlusion``).

    Args:
        window: occluded extent in frames and pixels (all channels together).
        stride: step between windows (default: half the window).
        baseline: ``"blur"``, ``"zeros"`` or a tensor shaped like ``video``.
        batch_size: occluded clips per model call.

    Returns:
        ``(N, T, H, W)`` (the per-voxel average over the windows covering it, as Captum defines).
    """
    from captum.attr import Occlusion

    if len(window) != 3 or min(window) < 1:
        raise FepValueError(f"window must be (frames, height, width) of positive sizes, got {window}.")
    video, targets, forward = _checked_inputs("occlusion", model, video, target)
    size = tuple(video.shape[2:])
    fitted = tuple(min(w, d) for w, d in zip(window, size, strict=True))
    if fitted != tuple(window):
        raise FepValueError(
            f"The occlusion window {tuple(window)} is larger than the clip's (frames, height, width) {size}; "
            f"pass a window of at most {size}, e.g. window={fitted}."
        )
    stride = tuple(max(1, w // 2) for w in window) if stride is None else tuple(stride)
    channels = video.shape[1]
    base = _baseline(video, baseline)
    with frozen_model(model), torch.no_grad():
        attr = Occlusion(forward).attribute(
            video,
            sliding_window_shapes=(channels, *window),
            strides=(channels, *stride),
            baselines=base,
            target=targets,
            perturbations_per_eval=batch_size,
            show_progress=progress,
        )
    return attr.sum(dim=1) / channels


def lowpass_saliency(
    saliency: torch.Tensor,
    temporal_cutoff: float = 0.25,
    spatial_cutoff: float = 0.25,
    filter_type: str = FILTER_GAUSSIAN,
    order: int = 2,
) -> torch.Tensor:
    """Frequency-modulated saliency: the F-EP low-pass applied to a volume ``(..., T, H, W)``.

    Cutoffs (1, 1) return the input unchanged (the same tensor).
    """
    return lowpass(saliency, temporal_cutoff, spatial_cutoff, filter_type, order)
