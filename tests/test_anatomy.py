"""Inside one F-EP step (fep.ep.anatomy): the recorded G and Ĝ are what the optimiser used, and the
two-voxel toy's paths end where the closed form says."""

import math

import pytest
import torch

from fep import extremal_perturbation
from fep.ep.anatomy import gradient_snapshot, two_voxel_energy, two_voxel_paths
from fep.ep.dct import apply_response, frequency_response
from fep.errors import FepValueError


def test_the_snapshot_holds_the_filtered_gradient_and_leaves_the_run_as_it_was(detector, square_clip):
    video, target = square_clip[0], 0
    options = dict(method="fep", areas=(0.2,), iterations=6, temporal_cutoff=0.25, spatial_cutoff=0.5, mask_step=4)
    snap = gradient_snapshot(detector, video, target, iteration=2, **options)
    response = frequency_response(snap.gradient.shape[-3:], "gaussian", 0.25, 0.5)
    torch.testing.assert_close(snap.response, response)
    # Ĝ is the Gaussian low-pass of G rescaled to its norm (preserve_norm, the default at the gradient).
    torch.testing.assert_close(snap.lowpassed, apply_response(snap.gradient, response, preserve_norm=True))
    assert snap.lowpassed.norm() == pytest.approx(snap.gradient.norm().item(), rel=1e-4)
    assert not torch.allclose(snap.lowpassed, snap.gradient), "the filter changed the gradient"
    assert snap.grid.shape == snap.gradient.shape and float(snap.grid.min()) >= 0 and float(snap.grid.max()) <= 1
    plain = extremal_perturbation(detector, video, target, progress=False, **options)
    torch.testing.assert_close(snap.explanation.masks, plain.masks)


def test_a_method_without_the_low_pass_hands_the_optimiser_g_itself(detector, square_clip):
    video, target = square_clip[0], 0
    snap = gradient_snapshot(
        detector, video, target, iteration=0, method="ep3d", areas=(0.2,), iterations=2, mask_step=4
    )
    assert snap.response is None and torch.equal(snap.lowpassed, snap.gradient)
    assert snap.gradient.abs().sum() > 0


def test_a_snapshot_it_cannot_take_is_refused_before_the_run(detector, square_clip):
    video, target = square_clip[0], 0
    with pytest.raises(FepValueError, match="past the run's at most 3 iterations"):
        gradient_snapshot(detector, video, target, iteration=3, iterations=3)
    with pytest.raises(FepValueError, match="iteration must be >= 0"):
        gradient_snapshot(detector, video, target, iteration=-1, iterations=3)
    with pytest.raises(FepValueError, match="pass lowpass_at='gradient'"):
        gradient_snapshot(detector, video, target, iteration=0, iterations=3, lowpass_at="update")


def test_two_voxel_paths_end_where_the_closed_form_says():
    # E = -(m0 + 0.2 m1) + 2 (mean - 0.5)^2: on [0, 1]^2 the minimum is (1, 0.2).
    paths = two_voxel_paths(cutoff=0.25, steps=400, lr=0.1)
    torch.testing.assert_close(paths["plain"][-1], torch.tensor([1.0, 0.2], dtype=torch.float64), atol=1e-6, rtol=0)
    # With m0 clamped at 1 the filtered gradient of m1 is (m1 - 0.6) + 0.4 H(1/2): it vanishes at 0.6 - 0.4 H.
    h = math.exp(-0.5 * (0.5 / 0.25) ** 2)
    assert paths["response"].tolist() == pytest.approx([1.0, h])
    torch.testing.assert_close(paths["lowpassed"][-1], torch.tensor([1.0, 0.6 - 0.4 * h], dtype=torch.float64))
    assert float(two_voxel_energy(paths["plain"][-1])) < float(two_voxel_energy(paths["lowpassed"][-1]))
    # Cutoff 1 filters nothing: one path.
    same = two_voxel_paths(cutoff=1.0, steps=30)
    torch.testing.assert_close(same["plain"], same["lowpassed"])
