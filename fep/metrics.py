r"""Model-agnostic numbers about saliency volumes ``(T, H, W)`` (or batches ``(..., T, H, W)``).

Smoothness
    - :func:`temporal_difference`: mean over consecutive frames of the normalised L1 difference
      :math:`\frac{\|s_{t+1} - s_t\|_1}{\|s_{t+1}\|_1 + \|s_t\|_1}` — 0 for a map that does not change
      in time, 1 for frames with disjoint support (lower = steadier).
    - :func:`spectral_concentration`: share of the volume's DCT energy at low temporal and at low
      spatial frequencies, the mean (the (0, 0, 0) coefficient) excluded so a constant offset does not
      count as smoothness; :func:`high_frequency_share` is its complement.
    - :func:`total_variation`: boundary length over mass per frame.

Faithfulness and ground truth
    - :func:`deletion_insertion`: RISE-style curves over voxels and their trapezoid :func:`auc`;
    - :func:`kept_probability`: the target's probability when only the top share of voxels is kept
      (one point of the insertion curve, batched over clips: the quality measure of the benchmarks);
    - :func:`pointing_game`: peak (plateau centre) inside the box enlarged by a tolerance, per
      evidence frame and per clip;
    - :func:`ground_truth_ap`: average precision of the saliency as a detector of actor voxels;
    - :func:`mass_in_ground_truth`: share of the saliency inside the (dilated) actor mask;
    - :func:`temporal_localisation`: share of the saliency inside the evidence frames (in time).

Faithfulness and plausibility are different things: deletion/insertion and the randomisation check
measure whether an explanation reflects the *model*; pointing game, ground-truth AP, mass in ground truth
and temporal localisation measure whether it agrees with the *ground truth* of the task.

Sanity
    - :func:`rank_correlation`: Spearman's correlation of two saliency volumes (ties averaged); with the
      explanation of the trained model and of the same architecture re-initialised it is the
      model-randomisation check of Adebayo et al. (NeurIPS 2018): lower means the method explains the
      model, 1 means it ignores it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from fep.dct import dct3, frequency_grid
from fep.errors import FepValueError
from fep.model_state import frozen_model

__all__ = [
    "temporal_difference",
    "frame_changes",
    "spectral_concentration",
    "high_frequency_share",
    "saliency_spectrum",
    "spectrum_profile",
]


def _volume(saliency) -> torch.Tensor:
    s = torch.as_tensor(saliency).detach().double()
    if s.ndim < 3:
        raise FepValueError(f"A saliency volume has shape (T, H, W) or (..., T, H, W), got {tuple(s.shape)}.")
    return s


def frame_changes(saliency, eps: float = 1e-12) -> torch.Tensor:
    """Normalised L1 change from each frame to the next: ``|s_{t+1} - s_t|_1 / (|s_{t+1}|_1 + |s_t|_1)``.

    0 = the same map, 1 = maps with no overlap: the flicker of an explanation, frame by frame.

    Args:
        saliency: ``(..., T, H, W)`` non-negative maps, ``T >= 2``.

    Returns:
        Tensor of shape ``(..., T - 1)`` with values in [0, 1].
    """
    s = _volume(saliency)
    if s.shape[-3] < 2:
        raise FepValueError("temporal_difference needs at least 2 frames.")
    a, b = s[..., 1:, :, :], s[..., :-1, :, :]
    diff = (a - b).abs().sum(dim=(-2, -1))
    norm = a.abs().sum(dim=(-2, -1)) + b.abs().sum(dim=(-2, -1))
    return torch.where(norm > eps, diff / norm.clamp_min(eps), torch.zeros_like(diff))


def temporal_difference(saliency, eps: float = 1e-12) -> torch.Tensor:
    """Normalised L1 change between consecutive frames, averaged over time: the mean of
    :func:`frame_changes` (see module docstring).

    Args:
        saliency: ``(..., T, H, W)`` non-negative maps, ``T >= 2``.

    Returns:
        Tensor of shape ``(...)`` with values in [0, 1].
    """
    return frame_changes(saliency, eps).mean(dim=-1)


def spectral_concentration(saliency, temporal_cutoff: float = 0.25, spatial_cutoff: float = 0.25):
    """Share of DCT energy (mean excluded) at frequencies up to each cutoff.

    Args:
        saliency: ``(..., T, H, W)``.
        temporal_cutoff: normalised temporal frequency :math:`k_t / T` in [0, 1].
        spatial_cutoff: normalised spatial frequency :math:`\\sqrt{k_y^2+k_x^2} / \\sqrt{H^2+W^2}`.

    Returns:
        ``(temporal, spatial)`` tensors of shape ``(...)`` in [0, 1]; 1 for a constant volume.
    """
    s = _volume(saliency)
    energy = dct3(s).pow(2)
    everything = energy.sum(dim=(-3, -2, -1))
    energy[..., 0, 0, 0] = 0
    nu_t, nu_s = frequency_grid(*s.shape[-3:])
    total = energy.sum(dim=(-3, -2, -1))
    low_t = energy[..., nu_t <= temporal_cutoff, :, :].sum(dim=(-3, -2, -1))
    low_s = (energy * (nu_s <= spatial_cutoff)).sum(dim=(-3, -2, -1))
    varies = total > 1e-12 * everything  # below this the volume is constant up to rounding
    safe = total.clamp_min(1e-300)
    one = torch.ones_like(total)
    return torch.where(varies, low_t / safe, one), torch.where(varies, low_s / safe, one)


def high_frequency_share(saliency, temporal_cutoff: float = 0.25, spatial_cutoff: float = 0.25):
    """``1 - spectral_concentration``: share of energy above each cutoff, ``(temporal, spatial)``."""
    low_t, low_s = spectral_concentration(saliency, temporal_cutoff, spatial_cutoff)
    return 1 - low_t, 1 - low_s


def saliency_spectrum(saliency, temporal_cutoff: float = 0.25, spatial_cutoff: float = 0.25) -> dict:
    """DCT energy of a volume and the share of it below the cutoffs.

    Returns:
        ``{"energy": |DCT_3(s)|^2 (..., T, H, W), "share_below": (temporal, spatial)}`` — the shares as
        in :func:`spectral_concentration` (mean excluded).
    """
    s = torch.as_tensor(saliency).detach().double()
    return {
        "energy": dct3(s).pow(2),
        "share_below": tuple(float(v.mean()) for v in spectral_concentration(s, temporal_cutoff, spatial_cutoff)),
    }


def spectrum_profile(volume) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DCT energy of a ``(T, H, W)`` volume as profiles along temporal and (radial) spatial frequency.

    Returns:
        ``(temporal, spatial, radial_nu)``: energy per temporal frequency ``k_t`` (summed over space),
        energy per spatial radius bin, and the normalised spatial frequency of each bin
        (:math:`\\sqrt{k_y^2 + k_x^2} / \\sqrt{H^2 + W^2}`, as the cutoffs are defined).
    """
    v = torch.as_tensor(volume.detach().cpu() if isinstance(volume, torch.Tensor) else np.asarray(volume))
    v = v.to(torch.float64)
    if v.ndim != 3:
        raise FepValueError(f"Expected a volume (T, H, W), got shape {tuple(v.shape)}.")
    energy = dct3(v).pow(2).numpy()
    radius = frequency_grid(*energy.shape)[1].numpy()
    bins = max(8, min(energy.shape[1:]))
    edges = np.linspace(0, radius.max() + 1e-9, bins + 1)
    which = np.clip(np.digitize(radius, edges) - 1, 0, bins - 1)
    spatial = np.bincount(which.ravel(), weights=energy.sum(axis=0).ravel(), minlength=bins)
    return energy.sum(axis=(1, 2)), spatial, 0.5 * (edges[1:] + edges[:-1])


# ----------------------------------------------------------------------------------------------
# Ground-truth and faithfulness metrics
# ----------------------------------------------------------------------------------------------


def total_variation(saliency, eps: float = 1e-12) -> torch.Tensor:
    r"""Normalised spatial total variation, averaged over frames (lower = smoother).

    :math:`\mathrm{TV}_t = \frac{\sum |s_{y+1,x} - s_{y,x}| + \sum |s_{y,x+1} - s_{y,x}|}{\sum |s_{y,x}|}`:
    boundary length over mass, scale-invariant (a square blob of side :math:`L` scores about
    :math:`4/L`). TV alone favours small sharp blobs, so read it next to :func:`spectral_concentration`.

    Returns:
        ``(...)`` for input ``(..., T, H, W)``.
    """
    s = _volume(saliency)
    tv = (s[..., 1:, :] - s[..., :-1, :]).abs().sum(dim=(-2, -1)) + (s[..., :, 1:] - s[..., :, :-1]).abs().sum(
        dim=(-2, -1)
    )
    mass = s.abs().sum(dim=(-2, -1))
    return torch.where(mass > eps, tv / mass.clamp_min(eps), torch.zeros_like(tv)).mean(dim=-1)


def _plateau_centre(frame: torch.Tensor) -> tuple[int, int]:
    """Arg-max of a 2-D map, ties broken by the maximal pixel closest to the centroid of all maximal
    pixels (clamped masks saturate at 1, so raster-order arg-max would always pick the top-left)."""
    peak = frame.max()
    ys, xs = torch.nonzero(frame >= peak - 1e-6 * max(1.0, float(peak.abs())), as_tuple=True)
    cy, cx = ys.double().mean(), xs.double().mean()
    best = int(((ys - cy) ** 2 + (xs - cx) ** 2).argmin())
    return int(ys[best]), int(xs[best])


def pointing_game(saliency, boxes, evidence, tolerance: int = 7) -> dict:
    """Pointing game on one clip (Li et al.: a hit if the peak lies in the box enlarged by ``tolerance``).

    Args:
        saliency: ``(T, H, W)``.
        boxes: ``(T, 4)`` ground-truth boxes ``(y0, x0, y1, x1)``, end-exclusive.
        evidence: ``(T,)`` bool, the frames that are scored.
        tolerance: pixels added on every side of the box.

    Returns:
        ``{"frame": share of evidence frames whose peak hits, "clip": 1.0 if the peak of the whole
        volume (over evidence frames) hits else 0.0}``. Peaks on plateaus are their centres.
    """
    s = _volume(saliency)
    boxes = torch.as_tensor(boxes)
    frames = [int(t) for t in torch.nonzero(torch.as_tensor(evidence), as_tuple=True)[0]]
    if not frames:
        raise FepValueError("pointing_game needs at least one evidence frame.")

    def hit(t: int, y: int, x: int) -> bool:
        y0, x0, y1, x1 = (int(v) for v in boxes[t])
        return y0 - tolerance <= y < y1 + tolerance and x0 - tolerance <= x < x1 + tolerance

    hits = [hit(t, *_plateau_centre(s[t])) for t in frames]
    peak_value = max(float(s[t].max()) for t in frames)
    peak_frames = [t for t in frames if float(s[t].max()) >= peak_value - 1e-6 * max(1.0, abs(peak_value))]
    best = peak_frames[len(peak_frames) // 2]  # temporal plateau: its middle frame
    return {"frame": sum(hits) / len(hits), "clip": float(hit(best, *_plateau_centre(s[best])))}


def ground_truth_ap(saliency, actor_mask) -> float:
    """Average precision of the saliency as a voxel detector of the actor mask (ties scored together).

    Args:
        saliency: ``(T, H, W)`` scores.
        actor_mask: ``(T, H, W)`` bool labels.

    Returns:
        AP in [0, 1]; the share of positive voxels for a constant saliency.
    """
    scores = _volume(saliency).flatten()
    labels = torch.as_tensor(actor_mask).flatten().double()
    if labels.sum() == 0:
        raise FepValueError("ground_truth_ap needs at least one positive voxel in the actor mask.")
    order = scores.argsort(descending=True)
    scores, labels = scores[order], labels[order]
    tp = labels.cumsum(0)
    # Evaluate only at the last voxel of each group of equal scores (a threshold cannot split ties).
    last = torch.ones_like(scores, dtype=torch.bool)
    last[:-1] = scores[1:] != scores[:-1]
    tp_at, count_at = tp[last], torch.nonzero(last, as_tuple=True)[0].double() + 1
    recall = tp_at / labels.sum()
    precision = tp_at / count_at
    recall_step = torch.diff(recall, prepend=torch.zeros(1, dtype=recall.dtype))
    return float((recall_step * precision).sum())


def dilate(mask, pixels: int) -> torch.Tensor:
    """Grow a ``(..., H, W)`` bool mask by ``pixels`` in every direction (square structuring element)."""
    m = torch.as_tensor(mask).float()
    if pixels <= 0:
        return m > 0
    shape = m.shape
    flat = m.reshape(-1, 1, *shape[-2:])
    grown = torch.nn.functional.max_pool2d(flat, 2 * pixels + 1, stride=1, padding=pixels)
    return grown.reshape(shape) > 0


def mass_in_ground_truth(saliency, actor_mask, tolerance: int = 7) -> float:
    """Share of the (non-negative part of the) saliency that lies inside the actor mask dilated by
    ``tolerance`` pixels per frame."""
    s = _volume(saliency).clamp_min(0)
    total = float(s.sum())
    if total == 0:
        return 0.0
    return float(s[dilate(actor_mask, tolerance)].sum()) / total


def temporal_localisation(saliency, evidence) -> float:
    """Share of the saliency mass (absolute values) inside the evidence frames ``(T,)`` bool: 1 when all
    of it lies in the frames that show the class, the evidence's share of frames for a flat map."""
    s = _volume(saliency).abs()
    evidence = torch.as_tensor(evidence, dtype=torch.bool, device=s.device)
    if evidence.shape != s.shape[-3:-2]:
        raise FepValueError(f"evidence must be (T,) with T = {s.shape[-3]}, got {tuple(evidence.shape)}.")
    total = float(s.sum())
    return float(s[evidence].sum()) / total if total > 0 else 0.0


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    _, inverse, counts = np.unique(values[order], return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = np.empty(len(values))
    ranks[order] = ((ends - counts + ends - 1) / 2)[inverse]  # ties share their mean rank
    return ranks


def rank_correlation(a, b) -> float:
    """Spearman's rank correlation of two saliency volumes of the same shape (ties get average ranks;
    0 when either is constant). The model-randomisation check compares a method's explanation of the
    trained model with its explanation of the same architecture re-initialised."""
    x = np.asarray(_volume(a).detach().cpu(), dtype=np.float64).ravel()
    y = np.asarray(_volume(b).detach().cpu(), dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise FepValueError(f"rank_correlation needs volumes of one shape, got {x.shape} and {y.shape}.")
    rx, ry = _average_ranks(x) - (len(x) - 1) / 2, _average_ranks(y) - (len(y) - 1) / 2
    norm = math.sqrt(float((rx * rx).sum()) * float((ry * ry).sum()))
    return float((rx * ry).sum() / norm) if norm > 0 else 0.0


def auc(scores, x=None) -> float:
    """Trapezoid area under a curve: sampled at N evenly spaced points of [0, 1] (default),
    :math:`(\\sum_i a_i - a_0/2 - a_{N-1}/2) / (N - 1)`, or at the points ``x`` (normalised to [0, 1])."""
    a = torch.as_tensor(scores, dtype=torch.float64).flatten()
    if a.numel() < 2:
        raise FepValueError("auc needs at least two points.")
    if x is None:
        return float((a.sum() - a[0] / 2 - a[-1] / 2) / (a.numel() - 1))
    x = torch.as_tensor(x, dtype=torch.float64).flatten()
    x = (x - x[0]) / (x[-1] - x[0])
    return float(((a[1:] + a[:-1]) / 2 * (x[1:] - x[:-1])).sum())


SCHEDULE_LOG, SCHEDULE_LINEAR = "log", "linear"
FIRST_LOG_STEP = 0.0025  # the log schedule's first step removes 0.25 % of the voxels


def removal_fractions(steps: int, schedule: str = SCHEDULE_LOG) -> list[float]:
    """The shares of voxels removed (or revealed) along a deletion/insertion curve: ``steps + 1`` points
    from 0 to 1, evenly spaced (``"linear"``) or log-spaced from 0.25 % (``"log"``: the first steps are
    where a model's probability collapses, and a 1/steps first step cannot resolve them)."""
    if schedule == SCHEDULE_LINEAR:
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
    schedule: str = SCHEDULE_LOG,
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
    from fep._checks import check_choice
    from fep.perturbation import blur_frames

    check_choice("mode", mode, ("deletion", "insertion"))
    check_choice("schedule", schedule, (SCHEDULE_LOG, SCHEDULE_LINEAR))
    check_choice("perturbation", perturbation, ("blur", "fade"))
    if video.ndim != 5 or video.shape[0] != 1:
        raise FepValueError(f"deletion_insertion takes one clip (1, C, T, H, W), got {tuple(video.shape)}.")
    s = torch.as_tensor(saliency, dtype=torch.float64).flatten()
    n = s.numel()
    if n != video[0, 0].numel():
        raise FepValueError(f"saliency has {n} voxels but the clip has {video[0, 0].numel()}.")
    ranking = _voxel_order(s[None])[0]
    rank = torch.empty(n, dtype=torch.long)
    rank[ranking] = torch.arange(n)
    rank = rank.reshape(video.shape[2:]).to(video.device)
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
    if schedule == SCHEDULE_LINEAR:
        return {"fractions": fractions, "scores": scores.tolist(), "auc": auc(scores)}
    return {"fractions": fractions, "scores": scores.tolist(), "auc": auc(scores[1:])}  # log-spaced: evenly weighted


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
    from fep._checks import check_choice, check_target, check_video
    from fep.perturbation import blur_frames

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


__all__ += [
    "kept_probability",
    "total_variation",
    "pointing_game",
    "ground_truth_ap",
    "dilate",
    "mass_in_ground_truth",
    "auc",
    "deletion_insertion",
    "removal_fractions",
    "SCHEDULE_LOG",
    "SCHEDULE_LINEAR",
    "temporal_localisation",
    "rank_correlation",
]
