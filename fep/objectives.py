r"""What extremal perturbation optimises: rewards, the area constraint and STEP's core loss.

**Rewards** on the logits :math:`y` of a masked clip, target class :math:`c`
(``deleted`` marks clips whose kept region is the mask's complement):

- ``simple``: :math:`y_c` (deleted: :math:`-y_c`) — TorchRay;
- ``contrastive``: :math:`y_c - \max_{c' \ne c} y_{c'}` (deleted: its negative) — TorchRay;
- ``logprob``: :math:`\log p_c` (deleted: :math:`\log(1 - p_c)`) — Li et al.

**Area loss** (TorchRay): with the mask values sorted ascending and a reference
:math:`r` that is 0 on the lowest :math:`\lfloor n(1-a) \rfloor` entries and 1 on the rest,
:math:`\mathcal{A}(m) = \frac1n \sum_i (\mathrm{sort}(m)_i - r_i)^2`. 3D-EP sorts the whole
:math:`T \times H \times W` volume; 2D-EP sorts each frame and averages over frames.

**STEP core loss** (Li et al.): the mask is convolved with a binary ellipsoid kernel of
:math:`K \times S \times S` voxels (normalised to sum 1, stride :math:`(1, S, S)`); the responses
:math:`q` are sorted descending and with
:math:`k = \lceil a\,T H W / (K S^2 \pi / 6) \rceil` cores,
:math:`\mathcal{C} = \mathrm{mean}((q_{1..k} - 1)^2) + \mathrm{mean}(q_{k+1..}^2)`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "REWARD_SIMPLE",
    "REWARD_CONTRASTIVE",
    "REWARD_LOGPROB",
    "REWARDS",
    "reward",
    "area_reference",
    "area_loss",
    "ellipsoid_kernel",
    "core_loss",
]

REWARD_SIMPLE = "simple"
REWARD_CONTRASTIVE = "contrastive"
REWARD_LOGPROB = "logprob"
REWARDS = (REWARD_SIMPLE, REWARD_CONTRASTIVE, REWARD_LOGPROB)


def reward(logits: torch.Tensor, target: torch.Tensor, kind: str, deleted: bool = False) -> torch.Tensor:
    """Reward of each masked clip.

    Args:
        logits: ``(B, K)`` model outputs.
        target: ``(B,)`` long class indices.
        kind: one of :data:`REWARDS`.
        deleted: True for clips whose mask marks what was removed (delete game).

    Returns:
        ``(B,)`` rewards to maximise.
    """
    picked = logits.gather(1, target[:, None]).squeeze(1)
    if kind == REWARD_LOGPROB:
        log_norm = torch.logsumexp(logits, dim=1)
        if not deleted:
            return picked - log_norm
        others = logits.scatter(1, target[:, None], float("-inf"))
        return torch.logsumexp(others, dim=1) - log_norm  # log(1 - p_c), stable
    if kind == REWARD_CONTRASTIVE:
        others = logits.scatter(1, target[:, None], float("-inf"))
        picked = picked - others.max(dim=1).values
    return -picked if deleted else picked


def area_reference(areas: tuple[float, ...], n: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Reference ``(A, n)``: 0 for the lowest ``int(n (1 - a))`` sorted values, 1 for the rest."""
    ref = torch.ones(len(areas), n, device=device, dtype=dtype)
    for i, a in enumerate(areas):
        ref[i, : int(n * (1 - a))] = 0
    return ref


def area_loss(
    mask: torch.Tensor, reference: torch.Tensor, per_frame: bool, tiebreak: torch.Tensor | None = None
) -> torch.Tensor:
    """Area loss of every mask.

    Args:
        mask: ``(N, A, T, H, W)``.
        reference: ``(A, T*H*W)`` for the volume, ``(A, H*W)`` with ``per_frame``.
        per_frame: sort each frame separately (2D-EP) instead of the volume (3D-EP).
        tiebreak: optional tiny noise shaped like ``mask`` (or broadcastable), added to the sort key
            only. Masks start as all ones, so every value ties; a plain sort then ranks ties in raster
            order and the area term pushes down the first frames and rows first. A fixed random order
            spreads that push evenly instead.

    Returns:
        ``(N, A)`` losses.
    """
    n, a, t = mask.shape[:3]
    shape = (n, a, t, -1) if per_frame else (n, a, -1)
    flat = mask.reshape(shape)
    if tiebreak is None:
        values = flat.sort(dim=-1).values
    else:
        order = (flat.detach() + tiebreak.expand_as(mask).reshape(shape)).argsort(dim=-1)
        values = flat.gather(-1, order)
    ref = reference[None, :, None] if per_frame else reference[None]
    return (values - ref).pow(2).mean(dim=tuple(range(2, flat.ndim)))


def ellipsoid_kernel(frames: int, size: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Binary ellipsoid ``(frames, size, size)`` normalised to sum 1."""
    axes = [torch.arange(k, dtype=torch.float64) - (k - 1) / 2 for k in (frames, size, size)]
    radii = [max(k / 2, 0.5) for k in (frames, size, size)]
    t, y, x = torch.meshgrid(*axes, indexing="ij")
    inside = ((t / radii[0]) ** 2 + (y / radii[1]) ** 2 + (x / radii[2]) ** 2) <= 1
    kernel = inside.to(torch.float64)
    return (kernel / kernel.sum()).to(device=device, dtype=dtype)


def core_loss(mask: torch.Tensor, areas: tuple[float, ...], frames: int = 7, size: int = 11) -> torch.Tensor:
    """STEP's core loss for every mask (see module docstring).

    Args:
        mask: ``(N, A, T, H, W)``.
        areas: the A area fractions.
        frames: kernel extent ``K`` in time (shrunk to ``T`` for shorter clips).
        size: kernel extent ``S`` in pixels (shrunk to the frame for tiny frames).

    Returns:
        ``(N, A)`` losses.
    """
    n, a, t, h, w = mask.shape
    k_t, k_s = min(frames, t), min(size, h, w)
    kernel = ellipsoid_kernel(k_t, k_s, device=mask.device, dtype=mask.dtype)
    response = F.conv3d(mask.reshape(n * a, 1, t, h, w), kernel[None, None], stride=(1, k_s, k_s))
    response = response.reshape(n, a, -1).sort(dim=-1, descending=True).values
    count = response.shape[-1]
    losses = []
    for i, area in enumerate(areas):
        k = min(count, max(1, math.ceil(area * t * h * w / (k_t * k_s * k_s * math.pi / 6))))
        top, rest = response[:, i, :k], response[:, i, k:]
        loss = (top - 1).pow(2).mean(dim=-1)
        if rest.shape[-1]:
            loss = loss + rest.pow(2).mean(dim=-1)
        losses.append(loss)
    return torch.stack(losses, dim=1)
