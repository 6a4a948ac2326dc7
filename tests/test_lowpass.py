"""The low-pass sites of F-EP: one strategy per design choice, one table to add one."""

import pytest
import torch

from fep.ep.dct import apply_response, frequency_response
from fep.ep.lowpass import SITES, FilterEnergyGradient, FilterParametrization, FilterUpdate, lowpass_site


def test_every_pair_of_the_table_builds_its_site_and_others_are_refused():
    for (which, where), site in SITES.items():
        assert isinstance(lowpass_site(which, where, False), site)
    with pytest.raises(ValueError, match="No low-pass site for modulate=.reward., lowpass_at=.update."):
        lowpass_site("reward", "update", False)


def test_the_sites_filter_what_they_say():
    response = frequency_response((4, 3, 3), "ideal", 0.25, 0.25, dtype=torch.float64)
    grad = torch.randn(1, 1, 4, 3, 3, dtype=torch.float64)
    assert torch.equal(FilterEnergyGradient().combine((grad,), None), grad)
    torch.testing.assert_close(FilterEnergyGradient().combine((grad,), response), apply_response(grad, response))
    # The parametrisation starts from zero coefficients: the mask is the initial value until a step.
    base = torch.full((1, 1, 4, 3, 3), 0.5, dtype=torch.float64)
    site = FilterParametrization()
    torch.testing.assert_close(site.params(site.leaf(base), base, response), base)
    # The update site leaves a low-passed step: its high frequencies vanish.
    leaf = base.clone().requires_grad_(True)
    FilterUpdate().step(torch.optim.SGD([leaf], lr=0.01), leaf, grad, response)
    step = leaf.detach() - base
    torch.testing.assert_close(apply_response(step, response), step)
