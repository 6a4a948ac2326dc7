r"""Where F-EP's DCT low-pass acts in an optimisation step: one small strategy object per design choice.

F-EP smooths the mask by filtering with :math:`\mathrm{LP}_H(x) = \mathrm{IDCT}_3(H \odot \mathrm{DCT}_3(x))`
(:func:`fep.dct.modulate`). *Which* gradient is filtered and *where* the filter sits are design choices
(``results/design_study/README.md`` measures them); each is a :class:`LowpassSite`:

- :class:`FilterEnergyGradient` (default): the optimiser gets :math:`\mathrm{LP}_H(\nabla_P E)`;
- :class:`FilterRewardGradient`: only the model's part is filtered,
  :math:`\mathrm{LP}_H(\nabla_P(-R)) + \nabla_P(\lambda A + \mu C)`;
- :class:`FilterUpdate`: the optimiser's step :math:`\Delta P` is replaced by :math:`\mathrm{LP}_H(\Delta P)`;
- :class:`FilterParametrization`: the mask is :math:`P = P_0 + \mathrm{IDCT}_3(\sqrt H \odot C)` and the
  coefficients :math:`C` are optimised; for SGD this is the trajectory of :class:`FilterEnergyGradient`
  without norm preservation as long as no value is clamped.

When :math:`H` is None (3D-EP, 2D-EP, STEP, or cutoffs of 1) every site is the plain gradient step, except
the parametrisation, which still optimises coefficients. With ``preserve_norm`` the filtered gradient
(or update) of each mask is rescaled to its norm before filtering.

To add a design choice, subclass :class:`LowpassSite` and add it to :data:`SITES` under its
``(modulate, lowpass_at)`` pair.
"""

from __future__ import annotations

import torch

from fep.dct import idct3, modulate
from fep.errors import FepValueError

__all__ = [
    "LowpassSite",
    "FilterEnergyGradient",
    "FilterRewardGradient",
    "FilterUpdate",
    "FilterParametrization",
    "SITES",
    "lowpass_site",
]

Gradients = tuple[torch.Tensor, ...]


class LowpassSite:
    """The plain gradient step; subclasses place the low-pass somewhere in it.

    The engine calls, per iteration: :meth:`params` for each chunk of masks, :meth:`gradients` for each
    chunk's energy terms (summed over chunks), then :meth:`step` once with their :meth:`combine`.

    Args:
        preserve_norm: rescale what is filtered to its norm before filtering.
    """

    def __init__(self, preserve_norm: bool = False) -> None:
        self.preserve_norm = preserve_norm

    def leaf(self, base: torch.Tensor) -> torch.Tensor:
        """The tensor the optimiser moves, from the initial mask parameters ``base`` ``(N, A, T, h, w)``."""
        return base.clone().requires_grad_(True)

    def params(self, leaf: torch.Tensor, base: torch.Tensor, response: torch.Tensor | None) -> torch.Tensor:
        """Mask parameters :math:`P` of a chunk, from the chunk's ``leaf`` and ``base``."""
        return leaf

    def gradients(self, terms, leaf: torch.Tensor, response: torch.Tensor | None) -> Gradients:
        """This chunk's gradient(s) with respect to the whole ``leaf``; the engine sums them over chunks.

        ``terms`` holds the chunk's ``rewards``, ``regular`` (area and core terms, weighted) and
        ``energy`` = regular - rewards, each ``(clips, areas)`` (:class:`fep.engine.ChunkTerms`).
        """
        (grad,) = torch.autograd.grad(terms.energy.sum(), leaf)
        return (grad,)

    def combine(self, grads: Gradients, response: torch.Tensor | None) -> torch.Tensor:
        """The gradient handed to the optimiser."""
        return grads[0]

    def step(self, optimizer, leaf: torch.Tensor, grad: torch.Tensor, response: torch.Tensor | None) -> None:
        """One optimiser step; the mask parameters stay in [0, 1]."""
        leaf.grad = grad
        optimizer.step()
        with torch.no_grad():
            leaf.clamp_(0, 1)

    def _filter(self, x: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
        return modulate(x, response, self.preserve_norm)


class FilterEnergyGradient(LowpassSite):
    """Low-pass the whole energy gradient: :math:`\\mathrm{LP}_H(\\nabla_P E)`."""

    def combine(self, grads: Gradients, response: torch.Tensor | None) -> torch.Tensor:
        return grads[0] if response is None else self._filter(grads[0], response)


class FilterRewardGradient(LowpassSite):
    """Low-pass only the model's reward gradient; the area (and core) gradient is kept as it is."""

    def gradients(self, terms, leaf: torch.Tensor, response: torch.Tensor | None) -> Gradients:
        if response is None:
            return super().gradients(terms, leaf, response)
        (regular_grad,) = torch.autograd.grad(terms.regular.sum(), leaf, retain_graph=True)
        (reward_grad,) = torch.autograd.grad(-terms.rewards.sum(), leaf)
        return regular_grad, reward_grad

    def combine(self, grads: Gradients, response: torch.Tensor | None) -> torch.Tensor:
        if response is None:
            return grads[0]
        regular_grad, reward_grad = grads
        return self._filter(reward_grad, response) + regular_grad


class FilterUpdate(LowpassSite):
    """Let the optimiser step, then low-pass the step it took: :math:`P + \\mathrm{LP}_H(\\Delta P)`."""

    def step(self, optimizer, leaf: torch.Tensor, grad: torch.Tensor, response: torch.Tensor | None) -> None:
        if response is None:
            return super().step(optimizer, leaf, grad, response)
        before = leaf.detach().clone()
        leaf.grad = grad
        optimizer.step()
        with torch.no_grad():
            leaf.copy_(before + self._filter(leaf - before, response))
            leaf.clamp_(0, 1)


class FilterParametrization(LowpassSite):
    """Optimise DCT coefficients :math:`C` of :math:`P = \\mathrm{clamp}(P_0 + \\mathrm{IDCT}_3(\\sqrt H \\odot C))`."""

    def leaf(self, base: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(base, requires_grad=True)

    def params(self, leaf: torch.Tensor, base: torch.Tensor, response: torch.Tensor | None) -> torch.Tensor:
        coefficients = leaf if response is None else leaf * response.sqrt()
        return (base + idct3(coefficients)).clamp(0, 1)

    def step(self, optimizer, leaf: torch.Tensor, grad: torch.Tensor, response: torch.Tensor | None) -> None:
        leaf.grad = grad
        optimizer.step()  # coefficients are not clamped: the mask is, in params()


# (which gradient is filtered, where the low-pass acts) -> the site. The one place to add a new choice.
SITES: dict[tuple[str, str], type[LowpassSite]] = {
    ("energy", "gradient"): FilterEnergyGradient,
    ("reward", "gradient"): FilterRewardGradient,
    ("energy", "update"): FilterUpdate,
    ("energy", "parametrization"): FilterParametrization,
}


def lowpass_site(modulate: str, lowpass_at: str, preserve_norm: bool) -> LowpassSite:
    """The :class:`LowpassSite` for a ``(modulate, lowpass_at)`` pair (as validated by the settings)."""
    if (modulate, lowpass_at) not in SITES:
        pairs = ", ".join(f"modulate={m!r} with where={w!r}" for m, w in SITES)
        raise FepValueError(f"No low-pass site for modulate={modulate!r}, where={lowpass_at!r}; use one of {pairs}.")
    return SITES[(modulate, lowpass_at)](preserve_norm)
