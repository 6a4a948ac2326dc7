r"""Faithfulness: what the model says when the voxels a saliency ranks first are removed or kept.

- :func:`deletion_insertion`: RISE-style curves over voxels (scored with :func:`~fep.bench.map_metrics.auc`);
- :func:`kept_probability`: the target's probability when only the top share of voxels is kept
  (one point of the insertion curve, batched over clips).

These run the model (borrowed with :func:`~fep.ep.model_state.frozen_model`, returned as it was); the
metrics of the maps alone are in :mod:`fep.bench.map_metrics`.
"""

from __future__ import annotations

import torch

from fep.bench.map_metrics import auc
from fep.ep.checks import check_choice, check_target, check_video
from fep.ep.model_state import frozen_model
from fep.ep.perturbation import blur_frames
from fep.errors import FepValueError

__all__ = ["deletion_insertion", "kept_probability", "removal_fractions", "DELETION_LOG", "DELETION_LINEAR"]


DELETION_LOG, DELETION_LINEAR = "log", "linear"
FIRST_LOG_STEP = 0.0025  # the log schedule's first step removes 0.25 % of the voxels


def removal_fractions(steps: int, schedule: str = DELETION_LOG) -> list[float]:
    """The shares of voxels removed (or revealed) along a deletion/insertion curve: ``steps + 1`` points
    from 0 to 1, evenly spaced (``"linear"``) or log-spaced from 0.25 % (``"log"``: the first steps are
    where a model's probability collapses, and a 1/steps first step cannot resolve them)."""
    if schedule == DELETION_LINEAR:
        return [k / steps for k in range(steps + 1)]
    ratio = (1 / FIRST_LOG_STEP) ** (1 / max(1, steps - 1))
    return [0.0] + [FIRST_LOG_STEP * ratio**k for k in range(steps)]


@torch.no_grad()
def deletion_insertion(
    model,
    video,
    target: int,
    saliency,
    *,
    mode: str = "deletion",
    steps: int = 16,
    perturbation: str = "blur",
    batch_size: int = 8,
    schedule: str = DELETION_LOG,
) -> dict:
    """RISE-style deletion or insertion curve over voxels, and its AUC.

    Voxels are ranked by saliency (descending; ties in a fixed random order). Deletion replaces the top
    share of voxels (all channels) by the perturbed clip, at the shares of :func:`removal_fractions`;
    insertion starts from the perturbed clip and puts the top voxels back. The score is the target's
    softmax probability. A faithful saliency gives a low deletion AUC and a high insertion AUC. With the
    ``"log"`` schedule (default) the AUC is taken over log-spaced shares (each step counts the same),
    so what happens in the first percent of voxels weighs as much as the rest; ``"linear"`` is RISE's
    original schedule and AUC.

    Args:
        model: classifier; ``video`` ``(1, C, T, H, W)`` as it expects; ``target`` the class.
        saliency: ``(T, H, W)``.
        mode: ``"deletion"`` or ``"insertion"``.
        steps: curve has ``steps + 1`` points.
        perturbation: ``"blur"`` (each frame blurred with sigma 20) or ``"fade"`` (zeros).
        batch_size: clips per model call.
        schedule: ``"log"`` (first step 0.25 % of the voxels) or ``"linear"`` (steps of 1/steps).

    Returns:
        ``{"fractions": shares, "scores": probabilities, "auc": float}``, ``steps + 1`` points each.
    """
    check_choice("mode", mode, ("deletion", "insertion"))
    check_choice("schedule", schedule, (DELETION_LOG, DELETION_LINEAR))
    check_choice("perturbation", perturbation, ("blur", "fade"))
    if video.ndim != 5 or video.shape[0] != 1:
        raise FepValueError(f"deletion_insertion takes one clip (1, C, T, H, W), got {tuple(video.shape)}.")
    s = torch.as_tensor(saliency, dtype=torch.float64).flatten()
    n = s.numel()
    if n != video[0, 0].numel():
        raise FepValueError(f"saliency has {n} voxels but the clip has {video[0, 0].numel()}.")
    rank = _voxel_ranks(s).reshape(video.shape[2:]).to(video.device)
    perturbed = torch.zeros_like(video) if perturbation == "fade" else blur_frames(video, 20.0)
    start, end = (video, perturbed) if mode == "deletion" else (perturbed, video)
    fractions = removal_fractions(steps, schedule)
    counts = [round(f * n) for f in fractions]
    probs = []
    with frozen_model(model):  # eval mode (no dropout, BatchNorm statistics untouched), restored after
        for i in range(0, len(counts), batch_size):
            chunk = counts[i : i + batch_size]
            switched = torch.stack([rank < c for c in chunk])[:, None]  # (B, 1, T, H, W)
            clips = torch.where(switched, end, start)
            probs.append(model(clips).softmax(1)[:, target].double().cpu())
    scores = torch.cat(probs)
    if schedule == DELETION_LINEAR:
        return {"fractions": fractions, "scores": scores.tolist(), "auc": auc(scores)}
    return {"fractions": fractions, "scores": scores.tolist(), "auc": auc(scores[1:])}  # log-spaced: evenly weighted


def _voxel_ranks(saliency: torch.Tensor) -> torch.Tensor:
    """Each voxel's place in the ranking (0 = most salient) of a flat saliency."""
    rank = torch.empty(saliency.numel(), dtype=torch.long)
    rank[_voxel_order(saliency[None])[0]] = torch.arange(saliency.numel())
    return rank


def _voxel_order(scores: torch.Tensor) -> torch.Tensor:
    """Voxel indices of each row of ``scores`` ``(N, V)`` from most to least salient; ties are broken
    in a fixed random order (a flat map must not favour the first frames or rows)."""
    flat = scores.double()
    noise = torch.rand(flat.shape[1], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    scale = 1e-9 * (flat.abs().amax(dim=1, keepdim=True) + 1e-12)
    return torch.argsort(flat + scale * noise.to(flat.device), dim=1, descending=True)


def _top_share(saliency: torch.Tensor, fraction: float) -> torch.Tensor:
    """Bool mask of the top ``fraction`` of voxels of each ``(T, H, W)`` volume in ``(N, T, H, W)``."""
    flat = saliency.reshape(saliency.shape[0], -1)
    count = round(fraction * flat.shape[1])
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep.scatter_(1, _voxel_order(flat)[:, :count], True)
    return keep.reshape(saliency.shape)


@torch.no_grad()
def kept_probability(
    model, video, target, saliency, fraction: float = 0.1, *, perturbation: str = "blur", batch_size: int = 16
) -> torch.Tensor:
    """Target probability of each clip when only its top ``fraction`` of voxels is kept.

    The other voxels (all channels) are replaced by the clip blurred with sigma 20 per frame (or by
    zeros for ``"fade"``), exactly as in :func:`deletion_insertion`'s insertion curve at that share.
    Higher is better: the saliency found voxels that carry the class on their own.

    Args:
        model: classifier; ``video`` ``(N, C, T, H, W)`` as it expects.
        target: class index, or one per clip.
        saliency: ``(N, T, H, W)`` scores (e.g. ``Explanation.masks[:, a]``).
        fraction: share of voxels kept, in (0, 1].
        perturbation: ``"blur"`` or ``"fade"``.
        batch_size: clips per model call.

    Returns:
        ``(N,)`` float64 probabilities on the CPU.

    Examples::

        >>> result = extremal_perturbation(model, video, target, areas=(0.1,))
        >>> kept_probability(model, video, target, result.masks[:, 0], 0.1)
    """
    check_choice("perturbation", perturbation, ("blur", "fade"))
    video = check_video(video)
    targets = check_target(target, video.shape[0])
    s = torch.as_tensor(saliency).detach()
    if tuple(s.shape) != (video.shape[0], *video.shape[2:]):
        raise FepValueError(
            f"saliency has shape {tuple(s.shape)} but the clips need {(video.shape[0], *video.shape[2:])} "
            "(one (T, H, W) map per clip)."
        )
    if not 0.0 < fraction <= 1.0:
        raise FepValueError(f"fraction must be in (0, 1], got {fraction}; it is the share of voxels kept.")
    probs = []
    with frozen_model(model):  # eval mode (no dropout, BatchNorm statistics untouched), restored after
        for i in range(0, video.shape[0], batch_size):
            clips = video[i : i + batch_size]
            keep = _top_share(s[i : i + batch_size].to(clips.device), fraction)[:, None]
            perturbed = torch.zeros_like(clips) if perturbation == "fade" else blur_frames(clips, 20.0)
            logits = model(torch.where(keep, clips, perturbed))
            chosen = torch.tensor(targets[i : i + batch_size], device=logits.device)
            probs.append(logits.softmax(1).gather(1, chosen[:, None]).squeeze(1).double().cpu())
    return torch.cat(probs)
