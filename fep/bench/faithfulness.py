r"""Faithfulness: what the model says when the voxels a saliency ranks first are removed or kept.

- :func:`deletion_insertion`: RISE-style curves over voxels (scored with :func:`~fep.bench.map_metrics.auc`),
  on the target's probability (as in the literature) and on its normalised logit margin;
- :func:`matched_area_game`: keep, and separately remove, the top ``a`` of the voxels for a few small
  ``a`` and read the normalised margin: extremal perturbation's own game, played by every map;
- :func:`kept_probability`: the target's probability when only the top share of voxels is kept
  (one point of the insertion curve, batched over clips).

The **normalised margin** of a clip is ``(m(x') - m(x_0)) / (m(x) - m(x_0))`` with ``m`` the target's
logit minus the best other class's, ``x`` the whole clip and ``x_0`` the fully perturbed one: 1 for the
whole clip, 0 for none of it. A confident model's probability is 1.000 with half the clip blurred; its
margin still moves. A clip whose gap ``m(x) - m(x_0)`` is below :data:`MIN_MARGIN_GAP` has no scale to
normalise by: its margin scores are None (excluded and counted), never clipped.

These run the model (borrowed with :func:`~fep.ep.model_state.frozen_model`, returned as it was); the
metrics of the maps alone are in :mod:`fep.bench.map_metrics`.
"""

from __future__ import annotations

import torch

from fep.bench.map_metrics import auc
from fep.ep.checks import check_choice
from fep.ep.inputs import checked_inputs
from fep.ep.model_state import frozen_model
from fep.ep.perturbation import blur_frames
from fep.errors import FepValueError

__all__ = [
    "deletion_insertion", "matched_area_game", "kept_probability", "margin", "removal_fractions", "DELETION_LOG",
    "DELETION_LINEAR", "GAME_AREAS", "MIN_MARGIN_GAP",
]  # fmt: skip

# The matched-area game's shares of voxels kept or removed: 0.5 % to 10 %, where extremal masks live.
GAME_AREAS = (0.005, 0.01, 0.02, 0.05, 0.1)
# Logits: below this gap between the whole and the fully perturbed clip, a normalised margin is noise.
MIN_MARGIN_GAP = 1.0


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
    softmax probability, and its normalised margin. A faithful saliency gives low deletion and high
    insertion AUCs. With the ``"log"`` schedule (default) each log-spaced step weighs the same;
    ``"linear"`` is RISE's original schedule.

    Args:
        model: classifier; ``video`` ``(1, C, T, H, W)`` as it expects; ``target`` the class.
        saliency: ``(T, H, W)``.
        mode, steps: ``"deletion"`` or ``"insertion"``; the curve has ``steps + 1`` points.
        perturbation, batch_size: ``"blur"`` (sigma 20 per frame) or ``"fade"`` (zeros); clips per call.
        schedule: ``"log"`` (first step 0.25 % of the voxels) or ``"linear"`` (steps of 1/steps).

    Returns:
        ``{"fractions", "scores", "auc"}`` on the probability (``steps + 1`` points) and
        ``{"margins", "margin_auc", "margin_gap"}`` on the normalised margin (None when the gap is below
        :data:`MIN_MARGIN_GAP`).
    """
    check_choice("mode", mode, ("deletion", "insertion"))
    check_choice("schedule", schedule, (DELETION_LOG, DELETION_LINEAR))
    check_choice("perturbation", perturbation, ("blur", "fade"))
    video, (target,), forward = checked_inputs("deletion_insertion", model, video, target, one_clip=True)
    s = _one_clip_saliency(video, saliency)
    n = s.numel()
    rank = _voxel_ranks(s).reshape(video.shape[2:]).to(video.device)
    perturbed = torch.zeros_like(video) if perturbation == "fade" else blur_frames(video, 20.0)
    start, end = (video, perturbed) if mode == "deletion" else (perturbed, video)
    fractions = removal_fractions(steps, schedule)
    counts = [round(f * n) for f in fractions]
    logits = []
    with frozen_model(model):  # eval mode (no dropout, BatchNorm statistics untouched), restored after
        for i in range(0, len(counts), batch_size):
            chunk = counts[i : i + batch_size]
            switched = torch.stack([rank < c for c in chunk])[:, None]  # (B, 1, T, H, W)
            logits.append(forward(torch.where(switched, end, start)).double().cpu())
    logits = torch.cat(logits)
    scores = logits.softmax(1)[:, target]
    # The curve's ends are the whole clip and the fully perturbed one: the margin's scale.
    whole, none = (logits[0], logits[-1]) if mode == "deletion" else (logits[-1], logits[0])
    margins, gap = _normalised_margins(logits, target, whole, none)
    area = auc if schedule == DELETION_LINEAR else (lambda y: auc(y[1:]))  # log-spaced: each step weighs the same
    margin_auc = None if margins is None else area(margins)
    return {"fractions": fractions, "scores": scores.tolist(), "auc": area(scores), "margin_gap": gap,
            "margins": None if margins is None else margins.tolist(), "margin_auc": margin_auc}  # fmt: skip


def _one_clip_saliency(video: torch.Tensor, saliency) -> torch.Tensor:
    """The saliency of one clip ``(1, C, T, H, W)``, flat and float64; FepValueError if they do not match."""
    s = torch.as_tensor(saliency, dtype=torch.float64).flatten()
    if s.numel() != video[0, 0].numel():
        raise FepValueError(f"saliency has {s.numel()} voxels but the clip has {video[0, 0].numel()}.")
    return s


def margin(logits: torch.Tensor, target: int) -> torch.Tensor:
    """The target's logit minus the best other class's, per row of ``logits`` ``(N, K)``."""
    others = torch.cat([logits[:, :target], logits[:, target + 1 :]], dim=1)
    return logits[:, target] - others.amax(dim=1)


def _normalised_margins(logits, target: int, whole, none) -> tuple[torch.Tensor | None, float]:
    """Margins of ``logits`` on the scale whole clip = 1, fully perturbed = 0, and the gap between them."""
    low, high = margin(torch.stack([none, whole]), target).tolist()
    gap = high - low
    if gap < MIN_MARGIN_GAP:
        return None, gap
    return (margin(logits, target) - low) / gap, gap


@torch.no_grad()
def matched_area_game(model, video, target: int, saliency, *, areas=GAME_AREAS, perturbation: str = "blur") -> dict:
    """Keep, and separately remove, the top ``a`` of the voxels of one clip, and read the normalised margin.

    Every method plays with its own map and the same tie-break (:func:`_voxel_order`), so an extremal
    mask and a gradient compete on the terms extremal perturbation optimises. Higher ``keep`` and lower
    ``remove`` are better.

    Args:
        model: classifier; ``video`` ``(1, C, T, H, W)`` as it expects; ``target`` the class.
        saliency: ``(T, H, W)``.
        areas: shares of the voxels, each in (0, 1).
        perturbation: ``"blur"`` (sigma 20 per frame) or ``"fade"``.

    Returns:
        ``{"areas", "keep", "remove", "tied", "gap"}``: per area the normalised margin with only the top
        voxels kept and with them removed (None when the gap is below :data:`MIN_MARGIN_GAP`), and the
        share of the top voxels chosen among ties (equal to the cut-off value, with equals left out).
    """
    check_choice("perturbation", perturbation, ("blur", "fade"))
    video, (target,), forward = checked_inputs("matched_area_game", model, video, target, one_clip=True)
    s = _one_clip_saliency(video, saliency)
    n = s.numel()
    if not all(0 < a < 1 for a in areas):
        raise FepValueError(f"areas must be shares in (0, 1), got {tuple(areas)}.")
    rank = _voxel_ranks(s).reshape(video.shape[2:]).to(video.device)
    perturbed = torch.zeros_like(video) if perturbation == "fade" else blur_frames(video, 20.0)
    top = torch.stack([rank < max(1, round(a * n)) for a in areas])[:, None]  # (A, 1, T, H, W)
    clips = torch.cat([video, perturbed, torch.where(top, video, perturbed), torch.where(top, perturbed, video)])
    with frozen_model(model):
        logits = forward(clips).double().cpu()
    k = len(areas)
    margins, gap = _normalised_margins(logits[2:], target, logits[0], logits[1])
    keep = None if margins is None else margins[:k].tolist()
    remove = None if margins is None else margins[k:].tolist()
    ordered = torch.sort(s, descending=True).values  # once, for every area's tie count
    tied = [_tied_share(ordered, a) for a in areas]
    return {"areas": list(areas), "keep": keep, "remove": remove, "tied": tied, "gap": gap}


def _tied_share(ordered: torch.Tensor, area: float) -> float:
    """Share of the top ``area`` voxels (of the saliency sorted in descending order) whose value equals the
    cut-off value while some equal voxel is left out: the part of the selection made by the tie-break."""
    count = max(1, round(area * ordered.numel()))
    cut = ordered[count - 1]
    inside, everywhere = int((ordered[:count] == cut).sum()), int((ordered == cut).sum())
    return inside / count if everywhere > inside else 0.0


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
    video, targets, forward = checked_inputs("kept_probability", model, video, target)
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
            logits = forward(torch.where(keep, clips, perturbed))
            chosen = torch.tensor(targets[i : i + batch_size], device=logits.device)
            probs.append(logits.softmax(1).gather(1, chosen[:, None]).squeeze(1).double().cpu())
    return torch.cat(probs)
