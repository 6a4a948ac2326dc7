r"""Orthonormal DCT-II along any dimensions, and the frequency responses of F-EP.

The type-II DCT of a length-:math:`N` signal :math:`x` is, in its orthonormal form,

.. math::

    X_k = s_k \sum_{n=0}^{N-1} x_n \cos\Big(\frac{\pi (2n + 1) k}{2N}\Big),\qquad
    s_0 = \sqrt{1/N},\; s_{k>0} = \sqrt{2/N}.

Written as a matrix :math:`C` (rows = frequencies) it is orthogonal, so the inverse (DCT-III) is
:math:`C^\top` and energy is preserved (Parseval). The matrices are built once per
(size, dtype, device) and applied with a matmul along each requested dimension: exact, differentiable
and fast for the sizes of mask grids (at most a few dozen per axis). ``scipy.fft.dctn(norm="ortho")``
is the test oracle.

F-EP low-passes a gradient :math:`G` on a ``(T, h, w)`` grid as
:math:`\hat G = \mathrm{IDCT}_3(H \odot \mathrm{DCT}_3(G))` where the response :math:`H` has a
temporal cutoff :math:`c_t` and a spatial cutoff :math:`c_s` in :math:`[0, 1]`. With normalised
frequencies :math:`\nu_t = k_t / T` and :math:`\nu_s = \sqrt{k_y^2 + k_x^2} / \sqrt{h^2 + w^2}`:

- ``ideal``: :math:`H = [\nu_t \le c_t]\,[\nu_s \le c_s]`;
- ``gaussian``: :math:`H = e^{-\nu_t^2 / 2 c_t^2}\, e^{-\nu_s^2 / 2 c_s^2}`;
- ``butterworth`` of order :math:`n`:
  :math:`H = (1 + (\nu_t / c_t)^{2n})^{-1/2} (1 + (\nu_s / c_s)^{2n})^{-1/2}`.

By definition a cutoff of 1 passes every frequency of its axis for every filter (the factor is 1), so
cutoffs (1, 1) are the identity and F-EP reduces to 3D-EP. A cutoff of 0 keeps only the zero
frequency of its axis (the limit of each formula).

Examples::

    >>> import torch
    >>> from fep.ep.dct import dct, idct, frequency_response, apply_response
    >>> x = torch.randn(4, 16, 16, 16)
    >>> torch.allclose(idct(dct(x, dims=(-3, -2, -1)), dims=(-3, -2, -1)), x, atol=1e-5)
    True
    >>> H = frequency_response((16, 16, 16), "gaussian", temporal_cutoff=0.25, spatial_cutoff=0.25)
    >>> smooth = apply_response(x, H, preserve_norm=True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch

from fep.ep.checks import check_unit_interval
from fep.errors import FepTypeError, FepValueError

__all__ = [
    "FILTER_IDEAL",
    "FILTER_GAUSSIAN",
    "FILTER_BUTTERWORTH",
    "FILTERS",
    "frequency_grid",
    "dct_matrix",
    "dct",
    "idct",
    "dct3",
    "idct3",
    "check_filter",
    "frequency_response",
    "apply_response",
    "lowpass",
]

FILTER_IDEAL = "ideal"
FILTER_GAUSSIAN = "gaussian"
FILTER_BUTTERWORTH = "butterworth"
FILTERS = (FILTER_IDEAL, FILTER_GAUSSIAN, FILTER_BUTTERWORTH)

_LAST3 = (-3, -2, -1)


@lru_cache(maxsize=128)
def _dct_matrix_cached(size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # Built in float64 and cast once, so float32 matrices are as exact as float32 allows.
    n = torch.arange(size, dtype=torch.float64)
    k = n[:, None]
    basis = torch.cos(math.pi * (2 * n[None, :] + 1) * k / (2 * size))
    scale = torch.full((size, 1), math.sqrt(2.0 / size), dtype=torch.float64)
    scale[0, 0] = math.sqrt(1.0 / size)
    return (scale * basis).to(dtype=dtype, device=device)


def dct_matrix(size: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None):
    """The orthonormal DCT-II matrix ``C`` of one size (cached).

    Args:
        size: signal length N >= 1.
        dtype: a floating dtype.
        device: where the matrix lives (default CPU).

    Returns:
        Tensor of shape ``(N, N)``; ``C @ x`` is the DCT of a column ``x`` and ``C.T @ X`` its inverse.
    """
    if not isinstance(size, int) or size < 1:
        raise FepValueError(f"DCT size must be a positive integer, got {size!r}; pass the length of the axis.")
    if not dtype.is_floating_point:
        raise FepTypeError(f"DCT needs a floating dtype, got {dtype}; convert the tensor with .float() first.")
    return _dct_matrix_cached(size, dtype, torch.device(device or "cpu"))


def _normalise_dims(x: torch.Tensor, dims: int | Sequence[int]) -> tuple[int, ...]:
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if not dims:
        raise FepValueError("No dimensions given for the DCT; pass dims such as (-3, -2, -1).")
    out = []
    for d in dims:
        if not -x.ndim <= d < x.ndim:
            raise FepValueError(
                f"Dimension {d} is out of range for a tensor with {x.ndim} dims; "
                f"pass dims between {-x.ndim} and {x.ndim - 1}."
            )
        out.append(d % x.ndim)
    if len(set(out)) != len(out):
        raise FepValueError(f"Dimensions {dims} repeat an axis; name each axis once.")
    return tuple(out)


def _apply_along(x: torch.Tensor, dims: tuple[int, ...], inverse: bool) -> torch.Tensor:
    if not x.is_floating_point():
        raise FepTypeError(f"DCT needs a floating tensor, got {x.dtype}; convert it with .float() first.")
    for d in dims:
        c = dct_matrix(x.shape[d], x.dtype, x.device)
        # x[..., n] @ C.T gives sum_n C[k, n] x[n] (forward); @ C gives the inverse.
        y = torch.movedim(x, d, -1)
        y = y @ (c if inverse else c.T)
        x = torch.movedim(y, -1, d)
    return x


def dct(x: torch.Tensor, dims: int | Sequence[int] = -1) -> torch.Tensor:
    """Orthonormal DCT-II of ``x`` along ``dims`` (scipy's ``dctn(x, type=2, norm="ortho")``).

    Args:
        x: floating tensor of any shape, on any device; differentiable.
        dims: one dimension or a sequence of distinct dimensions.

    Returns:
        Tensor of the same shape, dtype and device holding the DCT coefficients.
    """
    return _apply_along(x, _normalise_dims(x, dims), inverse=False)


def idct(x: torch.Tensor, dims: int | Sequence[int] = -1) -> torch.Tensor:
    """Inverse of :func:`dct` (the orthonormal DCT-III) along ``dims``.

    Args:
        x: DCT coefficients, any shape.
        dims: the dimensions :func:`dct` was taken along.

    Returns:
        Tensor of the same shape: ``idct(dct(x, dims), dims) == x`` up to rounding.
    """
    return _apply_along(x, _normalise_dims(x, dims), inverse=True)


def _check_3d(x: torch.Tensor, what: str) -> None:
    if x.ndim < 3:
        raise FepValueError(
            f"{what} needs at least 3 dims (..., T, h, w), got shape {tuple(x.shape)}; "
            "add singleton dims with x[None] or x.unsqueeze(0)."
        )


def dct3(x: torch.Tensor) -> torch.Tensor:
    """DCT over the last three dims ``(T, h, w)`` of a tensor ``(..., T, h, w)``."""
    _check_3d(x, "dct3")
    return dct(x, _LAST3)


def idct3(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct3`."""
    _check_3d(x, "idct3")
    return idct(x, _LAST3)


def check_filter(filter_type: str) -> str:
    """Return ``filter_type`` if it names a known frequency response, else raise one clear ValueError."""
    if filter_type not in FILTERS:
        raise FepValueError(f"Unknown filter_type {filter_type!r}; choose one of {', '.join(FILTERS)}.")
    return filter_type


def _axis_factor(nu: torch.Tensor, cutoff: float, filter_type: str, order: int) -> torch.Tensor:
    """Response along one axis for normalised frequencies ``nu`` in [0, 1)."""
    if cutoff >= 1.0:
        return torch.ones_like(nu)  # cutoff 1 passes everything, by definition
    if cutoff <= 0.0:
        return (nu == 0).to(nu.dtype)  # the limit of every filter: only the zero frequency
    if filter_type == FILTER_IDEAL:
        return (nu <= cutoff).to(nu.dtype)
    if filter_type == FILTER_GAUSSIAN:
        return torch.exp(-0.5 * (nu / cutoff) ** 2)
    return (1.0 + (nu / cutoff) ** (2 * order)) ** -0.5


def frequency_grid(t: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The normalised DCT frequencies of a ``(T, h, w)`` grid, as every cutoff in fep is defined.

    Returns:
        ``(nu_t, nu_s)``: :math:`\nu_t = k_t / T` ``(T,)`` and
        :math:`\nu_s = \sqrt{k_y^2 + k_x^2} / \sqrt{h^2 + w^2}` ``(h, w)``, float64 on the CPU.
    """
    f64 = torch.float64
    nu_t = torch.arange(t, dtype=f64) / t
    ky, kx = torch.arange(h, dtype=f64), torch.arange(w, dtype=f64)
    return nu_t, torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2) / math.sqrt(h * h + w * w)


def frequency_response(
    shape: Sequence[int],
    filter_type: str = FILTER_GAUSSIAN,
    temporal_cutoff: float = 1.0,
    spatial_cutoff: float = 1.0,
    order: int = 2,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Low-pass response ``H(k_t, k_y, k_x)`` on a DCT grid (see the module docstring for formulas).

    Args:
        shape: the grid ``(T, h, w)``.
        filter_type: ``"ideal"``, ``"gaussian"`` or ``"butterworth"``.
        temporal_cutoff: :math:`c_t` in [0, 1]; 1 keeps every temporal frequency.
        spatial_cutoff: :math:`c_s` in [0, 1]; 1 keeps every spatial frequency.
        order: Butterworth order n >= 1 (ignored by the other filters).
        dtype, device: of the returned tensor.

    Returns:
        Tensor ``(T, h, w)`` with values in [0, 1]; ``H[0, 0, 0] == 1``.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise FepValueError(f"A frequency response needs a grid (T, h, w) of positive sizes, got {shape}.")
    check_filter(filter_type)
    ct = check_unit_interval("temporal_cutoff", temporal_cutoff)
    cs = check_unit_interval("spatial_cutoff", spatial_cutoff)
    if not isinstance(order, int) or order < 1:
        raise FepValueError(f"Butterworth order must be a positive integer, got {order!r}.")
    nu_t, nu_s = frequency_grid(*shape)
    response = _axis_factor(nu_t, ct, filter_type, order)[:, None, None] * _axis_factor(nu_s, cs, filter_type, order)
    return response.to(dtype=dtype, device=device)


def apply_response(
    x: torch.Tensor,
    response: torch.Tensor,
    preserve_norm: bool = False,
    eps: float = 1e-12,
) -> torch.Tensor:
    r"""Filter ``x`` in the DCT domain: :math:`\mathrm{IDCT}_3(H \odot \mathrm{DCT}_3(x))`.

    Args:
        x: tensor ``(..., T, h, w)``; differentiable.
        response: ``H`` of shape ``(T, h, w)`` (e.g. from :func:`frequency_response`), or any shape
            that broadcasts against ``x``.
        preserve_norm: rescale each ``(T, h, w)`` block of the result to the L2 norm it had before
            filtering (a zero block stays zero).
        eps: guards the rescaling against division by zero.

    Returns:
        Tensor shaped like ``x``.

    Examples::

        >>> g = torch.randn(3, 16, 16, 16)
        >>> H = frequency_response(g.shape[-3:], "ideal", 0.25, 0.25)
        >>> g_low = apply_response(g, H, preserve_norm=True)
    """
    _check_3d(x, "apply_response")
    response = response.to(dtype=x.dtype, device=x.device)
    y = idct3(dct3(x) * response)
    if preserve_norm:
        before = x.flatten(-3).norm(dim=-1)
        after = y.flatten(-3).norm(dim=-1)
        y = y * (before / after.clamp_min(eps))[..., None, None, None]
    return y


def lowpass(
    x: torch.Tensor,
    temporal_cutoff: float = 1.0,
    spatial_cutoff: float = 1.0,
    filter_type: str = FILTER_GAUSSIAN,
    order: int = 2,
    preserve_norm: bool = False,
) -> torch.Tensor:
    """Convenience: build the response for ``x``'s last three dims and :func:`apply_response` with it.

    Cutoffs (1, 1) return ``x`` itself, untouched.

    Args:
        x: tensor ``(..., T, h, w)``.
        temporal_cutoff, spatial_cutoff, filter_type, order: as in :func:`frequency_response`.
        preserve_norm: as in :func:`apply_response`.

    Returns:
        Tensor shaped like ``x``.
    """
    _check_3d(x, "lowpass")
    response = frequency_response(
        x.shape[-3:], filter_type, temporal_cutoff, spatial_cutoff, order, dtype=x.dtype, device=x.device
    )
    if float(temporal_cutoff) >= 1.0 and float(spatial_cutoff) >= 1.0:
        return x
    return apply_response(x, response, preserve_norm=preserve_norm)
