r"""Inside one F-EP step, for teaching: the mask gradient :math:`G` next to its low-passed :math:`\hat G`,
and a two-voxel toy on which the plain and the low-passed optimiser leave visibly different paths.

:func:`gradient_snapshot` runs a real explanation and records, at one iteration, what the optimiser was
handed; :func:`two_voxel_paths` needs no model at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fep.ep.checks import check_integer, check_non_negative, check_positive_int, check_unit_interval
from fep.ep.dct import apply_response, frequency_response
from fep.ep.engine import explain
from fep.ep.explanation import Explanation
from fep.ep.lowpass import LOWPASS_AT_GRADIENT, LowpassSite, lowpass_site
from fep.ep.settings import ExplanationSettings
from fep.errors import FepValueError

__all__ = ["GradientSnapshot", "gradient_snapshot", "two_voxel_energy", "two_voxel_paths"]

TWO_VOXELS = {"weights": (1.0, 0.2), "area": 0.5, "area_weight": 2.0}  # the toy energy's constants


@dataclass
class GradientSnapshot:
    r"""What the optimiser saw at one iteration of clip 0's masks.

    Attributes:
        explanation: the whole run (it continues past the snapshot).
        iteration: the iteration recorded.
        grid: the mask parameters :math:`P` there, ``(A, T, h, w)``.
        gradient: :math:`G = \nabla_P E`, ``(A, T, h, w)``.
        lowpassed: :math:`\hat G`, what the step used (``gradient`` itself for a method without low-pass).
        response: the filter :math:`H` ``(T, h, w)``, or None.
    """

    explanation: Explanation
    iteration: int
    grid: torch.Tensor
    gradient: torch.Tensor
    lowpassed: torch.Tensor
    response: torch.Tensor | None


class _Recording(LowpassSite):
    """A site that behaves as ``inner`` and keeps what it was handed at iteration ``at``."""

    def __init__(self, inner: LowpassSite, at: int) -> None:
        super().__init__(inner.preserve_norm)
        self.inner, self.at, self.calls, self.seen = inner, at, 0, None

    def leaf(self, base):
        return self.inner.leaf(base)

    def params(self, leaf, base, response):
        return self.inner.params(leaf, base, response)

    def gradients(self, terms, leaf, response):
        return self.inner.gradients(terms, leaf, response)

    def combine(self, grads, response):
        combined = self.inner.combine(grads, response)
        if self.calls == self.at:
            self.seen = {"gradient": sum(grads).detach().clone(), "lowpassed": combined.detach().clone(),
                         "response": None if response is None else response.detach().clone()}  # fmt: skip
        return combined

    def step(self, optimizer, leaf, grad, response):
        if self.calls == self.at:
            self.seen["grid"] = leaf.detach().clone()
        self.calls += 1
        self.inner.step(optimizer, leaf, grad, response)


def gradient_snapshot(model, video, target, iteration: int = 0, **options) -> GradientSnapshot:
    r"""Explain as :func:`fep.extremal_perturbation` does and record :math:`G` and :math:`\hat G` at ``iteration``.

    Args:
        model, video, target: as for :func:`fep.extremal_perturbation` (the snapshot is of clip 0).
        iteration: which step to record (0 is the first); the run must reach it.
        **options: the explanation's options; the low-pass must act on the gradient (``lowpass_at="gradient"``).

    Returns:
        :class:`GradientSnapshot`.

    Examples::

        >>> snap = gradient_snapshot(model, video, 3, iteration=5, areas=(0.1,))
        >>> snap.gradient.shape, snap.lowpassed.shape        # (1, 16, 16, 16) twice
    """
    check_non_negative("iteration", check_integer("iteration", iteration))
    settings = ExplanationSettings.from_keywords(**options)
    if settings.lowpass_at != LOWPASS_AT_GRADIENT:
        raise FepValueError(
            f"gradient_snapshot records the gradient the optimiser is handed, which lowpass_at="
            f"{settings.lowpass_at!r} does not filter; pass lowpass_at='gradient'."
        )
    if iteration >= settings.max_iterations:
        raise FepValueError(
            f"iteration {iteration} is past the run's at most {settings.max_iterations} iterations; "
            "choose a smaller iteration or more iterations."
        )
    site = _Recording(lowpass_site(settings.modulate, settings.lowpass_at, settings.preserve_norm), iteration)
    result = explain(model, video, target, settings, progress=False, site=site)
    if site.seen is None or "grid" not in site.seen:
        raise FepValueError(
            f"the run converged after {site.calls} iterations, before iteration {iteration}; record an "
            "earlier iteration, or pass an integer `iterations`."
        )
    seen = site.seen
    return GradientSnapshot(
        explanation=result, iteration=iteration, grid=seen["grid"][0].float().cpu(),
        gradient=seen["gradient"][0].float().cpu(), lowpassed=seen["lowpassed"][0].float().cpu(),
        response=None if seen["response"] is None else seen["response"].float().cpu(),
    )  # fmt: skip


def two_voxel_energy(m: torch.Tensor) -> torch.Tensor:
    r""":math:`E(m) = -w \cdot m + \lambda\,(\bar m - a)^2` for masks ``(..., 2)`` (:func:`two_voxel_paths`)."""
    w = torch.tensor(TWO_VOXELS["weights"], dtype=m.dtype)
    return -(m * w).sum(-1) + TWO_VOXELS["area_weight"] * (m.mean(-1) - TWO_VOXELS["area"]) ** 2


def two_voxel_paths(
    cutoff: float = 0.25, steps: int = 40, lr: float = 0.05, start=(1.0, 1.0), preserve_norm: bool = False
) -> dict[str, torch.Tensor]:
    r"""Plain and low-passed gradient descent on a two-voxel mask :math:`m = (m_0, m_1) \in [0, 1]^2`.

    The energy is known in closed form (:func:`two_voxel_energy`): a reward :math:`w = (1, 0.2)` that
    prefers voxel 0 and an area term pulling the mean towards :math:`a = 0.5` with weight
    :math:`\lambda = 2`; its minimum on :math:`[0, 1]^2` is :math:`m = (1, 0.2)`. Its DCT has two
    coefficients, the mean
    (:math:`k = 0`, never filtered) and the difference (:math:`k = 1`, scaled by the Gaussian response
    :math:`H(1/2)` at ``cutoff``): the low-passed step is the plain step with its difference part shrunk.

    Args:
        cutoff: the Gaussian cutoff in (0, 1]; 1 is the plain optimiser.
        steps, lr: plain gradient descent (no momentum) from ``start``, clamped to [0, 1].
        preserve_norm: rescale the filtered gradient to the plain one's norm, as F-EP does by default.

    Returns:
        ``{"plain": (steps + 1, 2), "lowpassed": (steps + 1, 2), "response": (2,)}``, float64.

    Examples::

        >>> paths = two_voxel_paths(cutoff=0.25)
        >>> paths["lowpassed"][-1]       # further from the plain optimiser's end point after 40 steps
    """
    cutoff = check_unit_interval("cutoff", cutoff)
    steps = check_positive_int("steps", steps)
    response = frequency_response((2, 1, 1), "gaussian", cutoff, 1.0, dtype=torch.float64)

    def path(filtered: bool) -> torch.Tensor:
        m = torch.tensor(start, dtype=torch.float64)
        points = [m.clone()]
        for _ in range(steps):
            leaf = m.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(two_voxel_energy(leaf), leaf)
            if filtered:
                grad = apply_response(grad.reshape(2, 1, 1), response, preserve_norm).reshape(2)
            m = (m - lr * grad).clamp(0, 1)
            points.append(m.clone())
        return torch.stack(points)

    return {"plain": path(False), "lowpassed": path(True), "response": response.reshape(2)}
