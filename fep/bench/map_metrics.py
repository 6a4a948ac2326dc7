r"""Numbers about saliency maps alone: volumes ``(T, H, W)`` (or batches ``(..., T, H, W)``), no model.

The metrics that run a model (deletion/insertion, kept probability) are in :mod:`fep.bench.faithfulness`.

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

from fep.ep.dct import dct3, frequency_grid
from fep.errors import FepValueError

__all__ = [
    "temporal_difference",
    "frame_changes",
    "spectral_concentration",
    "high_frequency_share",
    "saliency_spectrum",
    "spectrum_profile",
    "total_variation",
    "pointing_game",
    "ground_truth_ap",
    "dilate",
    "mass_in_ground_truth",
    "temporal_localisation",
    "rank_correlation",
    "auc",
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
