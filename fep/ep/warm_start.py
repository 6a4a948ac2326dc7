"""The start of the optimisation: the input gradient, and a warm start made from it.

:func:`input_gradient` is also what the gradient baselines (:mod:`fep.baselines.gradients`) read.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from fep.ep.dct import lowpass
from fep.ep.perturbation import mask_grid

__all__ = ["input_gradient", "warm_start", "smooth_start", "SMOOTH_START_CUTOFFS"]


def input_gradient(model, clips: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The gradient of each clip's target logit with respect to the clip ``(N, C, T, H, W)``; ``targets`` ``(N,)``."""
    clips = clips.detach().requires_grad_(True)
    logits = model(clips)
    (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), clips)
    return grad


# The 2026-11 start: every method's warm start low-passed at these cutoffs.
SMOOTH_START_CUTOFFS = (0.25, 0.25)


def warm_start(
    run_model, video: torch.Tensor, targets: list[int], areas: tuple[float, ...], step: int,
    smooth: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:  # fmt: skip
    """Initial mask parameters from the input gradient: ``(N, A, T, h, w)``, 1 on the top ``a`` share of
    grid cells and falling off with the saliency elsewhere.

    One forward and backward pass: the magnitude of the target logit's gradient (max over channels),
    averaged over each mask cell, passed through ``smooth`` if given (F-EP's own low-pass: a method
    without the low-pass starts from the raw cell averages), divided by its ``(1 - a)`` quantile and
    clipped to [0, 1]. Graded, not binary: a binary start left the ranking of the voxels outside the top
    ``a`` to ties and lost ground-truth AP (measured: ``results/performance/auto.md``).
    """
    grad = input_gradient(run_model, video, torch.tensor(targets, device=video.device))
    saliency = grad.abs().amax(dim=1)  # (N, T, H, W)
    cells = F.avg_pool2d(saliency.flatten(0, 1)[:, None], step, ceil_mode=True)[:, 0]
    cells = cells.unflatten(0, saliency.shape[:2])
    cells = (cells if smooth is None else smooth(cells)).flatten(1)  # (N, T*h*w)
    starts = [(cells / torch.quantile(cells, 1 - a, dim=1, keepdim=True).clamp_min(1e-12)).clamp(0, 1) for a in areas]
    grid_h, grid_w = mask_grid(saliency.shape[-2], saliency.shape[-1], step)
    return torch.stack(starts, dim=1).reshape(*saliency.shape[:1], len(areas), saliency.shape[1], grid_h, grid_w)


def smooth_start(cells: torch.Tensor) -> torch.Tensor:
    """The 2026-11 warm start's smoothing, the same for every method: a Gaussian low-pass at 0.25 / 0.25."""
    return lowpass(cells, *SMOOTH_START_CUTOFFS)
