"""fep.ep.dct against scipy's orthonormal DCT, plus the properties F-EP relies on."""

import itertools
import math

import numpy as np
import pytest
import scipy.fft
import torch

from fep.ep.dct import (
    FILTERS,
    apply_response,
    dct,
    dct3,
    dct_matrix,
    frequency_response,
    idct,
    idct3,
    lowpass,
)

SIZES = (1, 2, 7, 16, 31)
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def _shapes():
    rng = np.random.default_rng(0)
    for ndim in (1, 2, 3):
        for sizes in itertools.combinations_with_replacement(SIZES, ndim):
            yield tuple(int(s) for s in rng.permutation(sizes))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dct_matches_scipy_on_random_shapes(dtype):
    gen = torch.Generator().manual_seed(1)
    for shape in _shapes():
        x = torch.randn(3, *shape, generator=gen, dtype=torch.float64)
        dims = tuple(range(1, 1 + len(shape)))
        expected = scipy.fft.dctn(x.numpy(), type=2, norm="ortho", axes=dims)
        got = dct(x.to(dtype), dims=dims).double().numpy()
        scale = max(1.0, np.abs(expected).max())
        assert np.abs(got - expected).max() <= TOL[dtype] * scale, shape
        back = scipy.fft.idctn(x.numpy(), type=2, norm="ortho", axes=dims)
        got_back = idct(x.to(dtype), dims=dims).double().numpy()
        assert np.abs(got_back - back).max() <= TOL[dtype] * max(1.0, np.abs(back).max()), shape


def test_dct_along_a_middle_dim_only():
    x = torch.randn(4, 7, 5, dtype=torch.float64)
    expected = scipy.fft.dct(x.numpy(), type=2, norm="ortho", axis=1)
    np.testing.assert_allclose(dct(x, dims=1).numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_roundtrip_is_identity_and_parseval_holds(dtype):
    x = torch.randn(2, 16, 7, 31, dtype=dtype)
    coeffs = dct3(x)
    torch.testing.assert_close(idct3(coeffs), x, atol=TOL[dtype] * 10, rtol=0)
    torch.testing.assert_close(coeffs.pow(2).sum(), x.pow(2).sum(), rtol=TOL[dtype] * 10, atol=0)


def test_matrix_is_orthogonal_and_cached():
    c = dct_matrix(31, torch.float64)
    torch.testing.assert_close(c @ c.T, torch.eye(31, dtype=torch.float64), atol=1e-12, rtol=0)
    assert dct_matrix(31, torch.float64) is c
    assert dct_matrix(31, torch.float32) is not c


@pytest.mark.parametrize("filter", FILTERS)
def test_cutoff_one_is_identity_for_every_filter(filter):
    x = torch.randn(3, 16, 9, 9, dtype=torch.float64)
    H = frequency_response(x.shape[-3:], filter, 1.0, 1.0)
    assert torch.equal(H, torch.ones_like(H))
    torch.testing.assert_close(apply_response(x, H), x, atol=1e-12, rtol=0)
    assert lowpass(x, 1.0, 1.0, filter) is x


@pytest.mark.parametrize("filter", FILTERS)
def test_response_is_a_lowpass_in_unit_range(filter):
    H = frequency_response((16, 12, 10), filter, 0.3, 0.2, order=3)
    assert H.shape == (16, 12, 10)
    assert H[0, 0, 0] == 1
    assert H.min() >= 0 and H.max() <= 1
    # Monotone non-increasing along each axis away from DC.
    assert (H.diff(dim=0) <= 1e-7).all() and (H.diff(dim=1) <= 1e-7).all() and (H.diff(dim=2) <= 1e-7).all()
    # Zero cutoff keeps only the zero frequency of that axis.
    H0 = frequency_response((5, 4, 4), filter, 0.0, 1.0)
    assert torch.equal(H0[1:], torch.zeros_like(H0[1:])) and torch.equal(H0[0], torch.ones_like(H0[0]))


def test_ideal_lowpass_removes_high_cosine_and_keeps_low_one():
    t, h, w = 16, 16, 16
    n = torch.arange(16, dtype=torch.float64)

    def cosine(k):  # a pure DCT basis function along every axis
        c = torch.cos(math.pi * (2 * n + 1) * k / (2 * 16))
        return c[:, None, None] * c[None, :, None] * c[None, None, :]

    H = frequency_response((t, h, w), "ideal", 0.25, 0.25, dtype=torch.float64)
    low, high = cosine(1), cosine(12)
    torch.testing.assert_close(apply_response(low, H), low, atol=1e-10, rtol=0)
    assert apply_response(high, H).abs().max() < 1e-10
    mixed = apply_response(low + high, H)
    torch.testing.assert_close(mixed, low, atol=1e-10, rtol=0)


def test_gaussian_attenuates_as_documented():
    H = frequency_response((8, 1, 1), "gaussian", 0.25, 1.0, dtype=torch.float64)
    nu = torch.arange(8, dtype=torch.float64) / 8
    torch.testing.assert_close(H[:, 0, 0], torch.exp(-0.5 * (nu / 0.25) ** 2))
    Hb = frequency_response((1, 6, 8), "butterworth", 1.0, 0.3, order=2, dtype=torch.float64)
    ky, kx = 3, 5
    nu_s = math.hypot(ky, kx) / math.hypot(6, 8)
    assert Hb[0, ky, kx].item() == pytest.approx((1 + (nu_s / 0.3) ** 4) ** -0.5)


def test_preserve_norm_keeps_each_block_norm():
    x = torch.randn(4, 2, 8, 8, 8, dtype=torch.float64)
    H = frequency_response(x.shape[-3:], "gaussian", 0.2, 0.2)
    y = apply_response(x, H, preserve_norm=True)
    torch.testing.assert_close(y.flatten(-3).norm(dim=-1), x.flatten(-3).norm(dim=-1))
    assert apply_response(torch.zeros(2, 4, 4, 4), H[:4, :4, :4], preserve_norm=True).abs().max() == 0


@pytest.mark.parametrize("preserve_norm", [False, True])
def test_gradcheck_through_apply_response(preserve_norm):
    x = torch.randn(2, 4, 5, 3, dtype=torch.float64, requires_grad=True)
    H = frequency_response((4, 5, 3), "butterworth", 0.5, 0.4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: apply_response(v, H, preserve_norm=preserve_norm), (x,))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: frequency_response((4, 4, 4), "gaussian", 1.5, 0.5), "temporal_cutoff must lie in"),
        (lambda: frequency_response((4, 4, 4), "gaussian", 0.5, -0.1), "spatial_cutoff must lie in"),
        (lambda: frequency_response((4, 4, 4), "boxcar", 0.5, 0.5), "Unknown filter_type 'boxcar'"),
        (lambda: frequency_response((4, 4), "ideal", 0.5, 0.5), "grid (T, h, w)"),
        (lambda: frequency_response((4, 4, 4), "butterworth", 0.5, 0.5, order=0), "order"),
        (lambda: apply_response(torch.zeros(4, 4), torch.ones(4, 4)), "at least 3 dims"),
        (lambda: dct3(torch.zeros(4, 4)), "at least 3 dims"),
        (lambda: dct(torch.zeros(4, 4), dims=5), "out of range"),
        (lambda: dct(torch.zeros(4, 4), dims=(0, -2)), "repeat"),
    ],
)
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_integer_tensor_is_rejected_with_type_error():
    with pytest.raises(TypeError, match="floating"):
        dct(torch.zeros(4, 4, dtype=torch.int64))
