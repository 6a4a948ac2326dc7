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

from fep.errors import FepValueError

__all__ = [
    "REWARD_SIMPLE",
    "REWARD_CONTRASTIVE",
    "REWARD_LOGPROB",
    "REWARDS",
    "reward",
    "area_zero_counts",
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


def area_zero_counts(areas: tuple[float, ...], n: int) -> tuple[int, ...]:
    """How many of ``n`` sorted mask values each area pushes to 0: ``int(n (1 - a))``."""
    return tuple(int(n * (1 - a)) for a in areas)


def area_reference(areas: tuple[float, ...], n: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Reference ``(A, n)``: 0 for the lowest ``int(n (1 - a))`` sorted values, 1 for the rest."""
    ref = torch.ones(len(areas), n, device=device, dtype=dtype)
    for i, zeros in enumerate(area_zero_counts(areas, n)):
        ref[i, :zeros] = 0
    return ref


def area_loss(
    mask: torch.Tensor,
    reference: torch.Tensor | tuple[int, ...],
    per_frame: bool,
    tiebreak: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Area loss of every mask: :math:`\operatorname{mean}_j (m_{(j)} - r_j)^2` over the sorted values.

    Args:
        mask: ``(N, A, T, H, W)``.
        reference: ``(A, T*H*W)`` for the volume, ``(A, H*W)`` with ``per_frame`` (any sorted target
            values, e.g. :func:`area_reference`); or, for TorchRay's 0/1 reference, the number of values
            each area pushes to 0 (:func:`area_zero_counts`). The second form needs no sort, only a
            selection of the cut-off value, which is several times faster (what
            :func:`~fep.ep.api.extremal_perturbation` uses); both give the same loss and gradient.
        per_frame: sort each frame separately (2D-EP) instead of the volume (3D-EP).
        tiebreak: optional tiny noise shaped like ``mask`` (or broadcastable), added to the sort key
            only (in float64, so that it separates values that tie in float32). Masks start as all ones,
            so every value ties; a plain sort then ranks ties in raster order and the area term pushes
            down the first frames and rows first. A fixed random order spreads that push evenly instead.

    Returns:
        ``(N, A)`` losses.
    """
    n, a, t = mask.shape[:3]
    shape = (n, a, t, -1) if per_frame else (n, a, -1)
    flat = mask.reshape(shape)
    key = flat.detach()
    if tiebreak is not None:
        key = key.double() + tiebreak.expand_as(mask).reshape(shape).double()
    with torch.no_grad():
        if isinstance(reference, torch.Tensor):
            order = key.argsort(dim=-1)
            ref = reference[None, :, None] if per_frame else reference[None]
            target = torch.empty_like(flat).scatter_(-1, order, ref.to(flat.dtype).expand_as(flat))
        else:
            target = _top_voxels(key, tuple(reference)).to(flat.dtype)
        del key
    return _AreaLoss.apply(flat, target)


def _top_voxels(key: torch.Tensor, zeros: tuple[int, ...]) -> torch.Tensor:
    """True where a voxel is not among the ``zeros[j]`` lowest of its row in area ``j``.

    ``key`` ``(N, A, ..., n)``. One selection of the cut-off per area (``kthvalue`` takes one rank for
    all rows), O(n) instead of a sort's O(n log n). Ties at the cut-off go to the lowest ranks in raster
    order, as a stable sort would put them.
    """
    if len(zeros) != key.shape[1]:
        raise FepValueError(f"area_loss got {len(zeros)} zero counts for {key.shape[1]} areas; pass one per area.")
    length = key.shape[-1]
    top = torch.empty(key.shape, dtype=torch.bool, device=key.device)
    for j, k in enumerate(zeros):
        row = key[:, j]
        if k <= 0 or k >= length:
            top[:, j] = k <= 0
            continue
        cut = row.kthvalue(k, dim=-1, keepdim=True).values
        below = row < cut
        tied = row == cut
        missing = k - below.sum(-1, keepdim=True)
        top[:, j] = ~(below | (tied & (tied.cumsum(-1) <= missing)))
    return top


class _AreaLoss(torch.autograd.Function):
    r"""``mean((flat - target)^2)`` over the axes after the first two, ``target`` the reference value
    each voxel is ranked against.

    Its gradient is known in closed form, :math:`2 (m - r) / n`, so it is computed in the forward pass
    and kept as one mask-sized tensor: autograd through ``sort`` / ``gather`` would keep the int64
    ranking (twice a float mask) and build several mask-sized temporaries in the backward pass, while
    the model's activations are alive.
    """

    @staticmethod
    def forward(ctx, flat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        residual = flat - target
        loss = residual.pow(2).mean(dim=tuple(range(2, residual.ndim)))
        count = residual[0, 0].numel()
        ctx.save_for_backward(residual.mul_(2.0 / count))
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss: torch.Tensor) -> tuple[torch.Tensor, None]:
        (grad,) = ctx.saved_tensors
        return grad * grad_loss.reshape(*grad_loss.shape, *([1] * (grad.ndim - 2))), None


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
