r"""Where F-EP's DCT low-pass acts in an optimisation step: one small strategy object per design choice.

F-EP smooths the mask by filtering with :math:`\mathrm{LP}_H(x) = \mathrm{IDCT}_3(H \odot \mathrm{DCT}_3(x))`
(:func:`fep.ep.dct.apply_response`). *Which* gradient is filtered and *where* the filter sits are design choices
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

The cutoffs may change during the run (``schedule``): :func:`cutoffs_at` gives them at an iteration and
:func:`response_schedule` the response :math:`H` the sites use then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from fep.ep.dct import apply_response, frequency_response, idct3
from fep.errors import FepValueError

if TYPE_CHECKING:
    from fep.ep.settings import ExplanationSettings

__all__ = [
    "MODULATE_ENERGY",
    "MODULATE_REWARD",
    "LOWPASS_AT_GRADIENT",
    "LOWPASS_AT_UPDATE",
    "LOWPASS_AT_PARAMETRIZATION",
    "CUTOFF_SCHEDULE_LINEAR",
    "LowpassSite",
    "FilterEnergyGradient",
    "FilterRewardGradient",
    "FilterUpdate",
    "FilterParametrization",
    "SITES",
    "lowpass_site",
    "cutoffs_at",
    "response_schedule",
]

MODULATE_ENERGY, MODULATE_REWARD = "energy", "reward"
LOWPASS_AT_GRADIENT, LOWPASS_AT_UPDATE, LOWPASS_AT_PARAMETRIZATION = "gradient", "update", "parametrization"
CUTOFF_SCHEDULE_LINEAR = "linear"

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
        ``energy`` = regular - rewards, each ``(clips, areas)`` (:class:`fep.ep.engine.ChunkTerms`).
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
        return apply_response(x, response, self.preserve_norm)


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
    (MODULATE_ENERGY, LOWPASS_AT_GRADIENT): FilterEnergyGradient,
    (MODULATE_REWARD, LOWPASS_AT_GRADIENT): FilterRewardGradient,
    (MODULATE_ENERGY, LOWPASS_AT_UPDATE): FilterUpdate,
    (MODULATE_ENERGY, LOWPASS_AT_PARAMETRIZATION): FilterParametrization,
}


def lowpass_site(modulate: str, lowpass_at: str, preserve_norm: bool) -> LowpassSite:
    """The :class:`LowpassSite` for a ``(modulate, lowpass_at)`` pair (as validated by the settings)."""
    if (modulate, lowpass_at) not in SITES:
        pairs = ", ".join(f"modulate={m!r} with lowpass_at={w!r}" for m, w in SITES)
        raise FepValueError(
            f"No low-pass site for modulate={modulate!r}, lowpass_at={lowpass_at!r}; use one of {pairs}."
        )
    return SITES[(modulate, lowpass_at)](preserve_norm)


def cutoffs_at(settings: ExplanationSettings, i: int) -> tuple[float, float]:
    """The cutoffs at iteration ``i`` (a linear schedule rises from a quarter of them over half the run)."""
    ct, cs, n = float(settings.temporal_cutoff), float(settings.spatial_cutoff), settings.schedule_length
    if settings.schedule is None:
        return ct, cs
    if settings.schedule == CUTOFF_SCHEDULE_LINEAR:
        progress = min(1.0, i / max(1.0, 0.5 * n))
        return ct * (0.25 + 0.75 * progress), cs * (0.25 + 0.75 * progress)
    return settings.schedule(i, n)


def response_schedule(
    settings: ExplanationSettings, grid: tuple[int, int, int], like: torch.Tensor
) -> Callable[[int], torch.Tensor | None]:
    """``i`` → the low-pass response :math:`H` on the mask grid ``(T, h, w)`` at iteration ``i``, cached
    per cutoff pair; None when there is nothing to filter (no low-pass in the method's preset, or
    cutoffs of 1). ``like`` gives the dtype and device."""
    cache: dict[tuple[float, float], torch.Tensor] = {}

    def response(i: int) -> torch.Tensor | None:
        ct, cs = cutoffs_at(settings, i)
        if not settings.preset.lowpass or (ct >= 1.0 and cs >= 1.0):
            return None  # identity: F-EP with cutoffs 1 is exactly 3D-EP
        key = (round(ct, 6), round(cs, 6))
        if key not in cache:
            cache[key] = frequency_response(
                grid, settings.filter_type, min(1.0, ct), min(1.0, cs), settings.filter_order,
                dtype=like.dtype, device=like.device,
            )  # fmt: skip
        return cache[key]

    return response
