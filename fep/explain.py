r"""The entry points: :func:`extremal_perturbation` (TorchRay style) and :class:`FEP` (Captum style).

Both turn their keywords into an :class:`~fep.settings.ExplanationSettings` (every option checked once,
there) and hand it to :func:`fep.engine.explain`, whose loop :func:`fep.engine.optimise_masks` is the
place to read how the four methods work:

.. math::

    \min_P\; E(P) = -R\big(f(\Phi(x; \mathrm{up}(P)))\big) + \lambda\,\mathcal{A}(\mathrm{up}(P))
    + \mu\,\mathcal{C}(\mathrm{up}(P)),

with F-EP low-passing the gradient, :math:`\hat G = \mathrm{IDCT}_3(H \odot \mathrm{DCT}_3(G))`.
``ep2d``, ``ep3d``, ``step`` and ``fep`` are presets of one optimiser (:mod:`fep.methods`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from fep.dct import FILTER_GAUSSIAN
from fep.engine import explain
from fep.errors import FepTypeError, FepValueError
from fep.explanation import Explanation
from fep.methods import METHOD_EP2D, METHOD_EP3D, METHOD_FEP, METHOD_STEP, PERTURBATION_METHODS
from fep.settings import (
    AREA_WEIGHT,
    AREA_WEIGHT_FINAL,
    LOWPASS_AT_GRADIENT,
    LOWPASS_AT_PARAMETRIZATION,
    LOWPASS_AT_UPDATE,
    MODULATE_ENERGY,
    MODULATE_REWARD,
    OPTIMIZERS,
    SCHEDULE_LINEAR,
    VARIANTS,
    ExplanationSettings,
)

__all__ = [
    "METHOD_EP2D", "METHOD_EP3D", "METHOD_STEP", "METHOD_FEP", "METHODS",
    "VARIANT_PRESERVE", "VARIANT_DELETE", "VARIANT_DUAL", "VARIANTS", "OPTIMIZERS",
    "MODULATE_REWARD", "MODULATE_ENERGY", "WHERE_GRADIENT", "WHERE_UPDATE", "WHERE_PARAMETRIZATION",
    "SCHEDULE_LINEAR", "extremal_perturbation", "FEP",
]  # fmt: skip

METHODS = PERTURBATION_METHODS
VARIANT_PRESERVE, VARIANT_DELETE, VARIANT_DUAL = VARIANTS
WHERE_GRADIENT, WHERE_UPDATE, WHERE_PARAMETRIZATION = LOWPASS_AT_GRADIENT, LOWPASS_AT_UPDATE, LOWPASS_AT_PARAMETRIZATION


def _renamed(old_name: str, old, new_name: str, new, default):
    """The value of an option with an old keyword and a new one (either works; both given must agree)."""
    if new is None:
        return old
    if old != default and old != new:
        raise FepValueError(f"{old_name}={old!r} and {new_name}={new!r} disagree; pass only {new_name}.")
    return new


def extremal_perturbation(
    model: torch.nn.Module, video: torch.Tensor, target, *, method: str = METHOD_FEP, areas=(0.05, 0.1, 0.2),
    variant: str = VARIANT_PRESERVE, reward: str = "simple", perturbation: str = "blur",
    iterations: int | str = "auto", lr: float | None = None, optimizer: str = "sgd", momentum: float = 0.9,
    mask_step: int = 7, init: float | str | None = None,
    area_weight: float = AREA_WEIGHT, area_weight_final: float = AREA_WEIGHT_FINAL, temporal_cutoff: float = 0.25,
    spatial_cutoff: float = 0.25, filter: str = FILTER_GAUSSIAN, filter_order: int = 2, modulate: str | None = None,
    where: str = WHERE_GRADIENT, preserve_norm: bool | None = None, schedule=None, core_weight: float | None = None,
    core_start: int | None = None, core_frames: int = 7, core_size: int = 11, jitter: bool = False,
    num_levels: int = 8, max_blur: float = 20.0, max_batch: int | None = None, seed: int = 0, progress: bool = True,
    callback: Callable[[int, torch.Tensor, dict], None] | None = None, callback_every: int = 1,
    filter_type: str | None = None, lowpass_at: str | None = None, autocast: str | None = None,
) -> Explanation:  # fmt: skip
    r"""Find the spatiotemporal region of a clip that a video classifier needs (:mod:`fep.engine`).

    Args:
        model: classifier mapping ``(B, C, T, H, W)`` (or ``(B, C, H, W)`` for images) to logits
            ``(B, K)``. Returned exactly as it was (``requires_grad``, train/eval mode).
        video: ``(N, C, T, H, W)`` clips normalised as the model expects, or ``(N, C, H, W)`` images
            (explained as one-frame videos). All N clips and all areas are optimised in one batch.
        target: class index, or one index per clip (list or 1-D tensor).
        method, areas, variant, reward, …, seed: the options of the explanation, documented one by one
            in :class:`~fep.settings.ExplanationSettings` (``filter`` there is ``filter_type``, ``where``
            is ``lowpass_at``; either keyword works). Method presets: ``"ep2d"``, ``"ep3d"``, ``"step"``,
            ``"fep"`` (default). ``iterations="auto"`` (default) stops each mask once it has
            converged, at most 100 steps (:mod:`fep.stopping`); an integer runs exactly that many.
            ``jitter`` (flip on even iterations) is off: it is for mirror-invariant image classes only.
        progress: show a tqdm progress bar with the energy.
        callback: ``callback(iteration, masks, history)`` every ``callback_every`` iterations, with
            ``masks`` ``(N, A, T, H, W)`` detached and ``history`` a dict of detached tensors
            ``(iterations so far, N, A)``, NaN for masks that have stopped (views: copy them to keep them).
        callback_every: how often to call ``callback``.

    Returns:
        :class:`~fep.explanation.Explanation` with ``masks`` ``(N, A, T, H, W)``, ``saliency``, the
        per-iteration ``history`` and the ``settings`` used.

    Raises:
        FepValueError, FepTypeError: for bad input, before the optimisation starts.
        fep.memory.InsufficientMemoryError: when not even one masked clip fits in the free memory.

    Examples::

        >>> result = extremal_perturbation(model, video, target=3, method="fep", areas=(0.1,))
        >>> result.masks.shape, result.saliency.shape     # (1, 1, 16, 112, 112), (1, 16, 112, 112)
    """
    settings = ExplanationSettings(
        method=method, areas=areas, variant=variant, reward=reward, perturbation=perturbation,
        iterations=iterations, lr=lr, optimizer=optimizer, momentum=momentum, mask_step=mask_step, init=init,
        area_weight=area_weight, area_weight_final=area_weight_final, temporal_cutoff=temporal_cutoff,
        spatial_cutoff=spatial_cutoff, filter_order=filter_order,
        filter_type=_renamed("filter", filter, "filter_type", filter_type, FILTER_GAUSSIAN),
        modulate=modulate, preserve_norm=preserve_norm, schedule=schedule,
        lowpass_at=_renamed("where", where, "lowpass_at", lowpass_at, LOWPASS_AT_GRADIENT),
        core_weight=core_weight, core_start=core_start, core_frames=core_frames, core_size=core_size,
        jitter=jitter, num_levels=num_levels, max_blur=max_blur, max_batch=max_batch, seed=seed, autocast=autocast,
    )  # fmt: skip
    return explain(model, video, target, settings, progress=progress, callback=callback, callback_every=callback_every)


class FEP:
    """Captum-style wrapper: ``FEP(model).attribute(video, target=...)``.

    Args:
        model: the classifier to explain.
        **defaults: any keyword of :func:`extremal_perturbation` (e.g. ``method="ep3d"``), used by
            every :meth:`attribute` call unless overridden there.

    Examples::

        >>> explainer = FEP(model, areas=(0.1,), iterations=200)
        >>> result = explainer.attribute(video, target=3)
        >>> saliency = result.saliency   # (N, T, H, W)
    """

    def __init__(self, model: torch.nn.Module, **defaults) -> None:
        if not isinstance(model, torch.nn.Module):
            raise FepTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        self.model = model
        self.defaults = defaults

    def attribute(self, inputs: torch.Tensor, target, **kwargs) -> Explanation:
        """Explain ``inputs`` ``(N, C, T, H, W)`` for ``target``; see :func:`extremal_perturbation`."""
        return extremal_perturbation(self.model, inputs, target, **{**self.defaults, **kwargs})
