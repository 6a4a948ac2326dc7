r"""Model-agnostic numbers about saliency volumes ``(T, H, W)`` (or batches ``(..., T, H, W)``).

Smoothness
    - :func:`temporal_difference`: mean over consecutive frames of the normalised L1 difference
      :math:`\frac{\|s_{t+1} - s_t\|_1}{\|s_{t+1}\|_1 + \|s_t\|_1}` — 0 for a map that does not change
      in time, 1 for frames with disjoint support (lower = steadier).
    - :func:`spectral_concentration`: share of the volume's DCT energy at low temporal and at low
      spatial frequencies, the mean (the (0, 0, 0) coefficient) excluded so a constant offset does not
      count as smoothness; :func:`high_frequency_share` is its complement.
"""

from __future__ import annotations

import math

import torch

from fep.dct import dct3

__all__ = ["temporal_difference", "spectral_concentration", "high_frequency_share"]


def _volume(saliency) -> torch.Tensor:
    s = torch.as_tensor(saliency).detach().double()
    if s.ndim < 3:
        raise ValueError(f"A saliency volume has shape (T, H, W) or (..., T, H, W), got {tuple(s.shape)}.")
    return s


def temporal_difference(saliency, eps: float = 1e-12) -> torch.Tensor:
    """Normalised L1 change between consecutive frames, averaged over time (see module docstring).

    Args:
        saliency: ``(..., T, H, W)`` non-negative maps, ``T >= 2``.

    Returns:
        Tensor of shape ``(...)`` with values in [0, 1].
    """
    s = _volume(saliency)
    if s.shape[-3] < 2:
        raise ValueError("temporal_difference needs at least 2 frames.")
    a, b = s[..., 1:, :, :], s[..., :-1, :, :]
    diff = (a - b).abs().sum(dim=(-2, -1))
    norm = a.abs().sum(dim=(-2, -1)) + b.abs().sum(dim=(-2, -1))
    return torch.where(norm > eps, diff / norm.clamp_min(eps), torch.zeros_like(diff)).mean(dim=-1)


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
    t, h, w = s.shape[-3:]
    nu_t = torch.arange(t, dtype=torch.float64) / t
    ky, kx = torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64)
    nu_s = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2) / math.hypot(h, w)
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
