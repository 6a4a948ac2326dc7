r"""The entry points: :func:`extremal_perturbation` (TorchRay style) and :class:`FEP` (Captum style).

Both turn their keywords into an :class:`~fep.ep.settings.ExplanationSettings` (every option defined and
checked once, there) and hand it to :func:`fep.ep.engine.explain`, whose loop
:func:`fep.ep.engine.optimise_masks` is the place to read how the four methods work:

.. math::

    \min_P\; E(P) = -R\big(f(\Phi(x; \mathrm{up}(P)))\big) + \lambda\,\mathcal{A}(\mathrm{up}(P))
    + \mu\,\mathcal{C}(\mathrm{up}(P)),

with F-EP low-passing the gradient, :math:`\hat G = \mathrm{IDCT}_3(H \odot \mathrm{DCT}_3(G))`.
``ep2d``, ``ep3d``, ``step`` and ``fep`` are presets of one optimiser (:mod:`fep.ep.presets`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from captum.attr import Attribution

from fep.ep.checks import check_choice, check_model
from fep.ep.engine import explain
from fep.ep.explanation import Explanation
from fep.ep.settings import ExplanationSettings, keyword_parameters
from fep.errors import FepValueError

__all__ = ["extremal_perturbation", "FEP", "ATTRIBUTION_OUTPUTS"]


def extremal_perturbation(
    model: torch.nn.Module, video: torch.Tensor, target, *, progress: bool = True,
    callback: Callable[[int, torch.Tensor, dict], None] | None = None, callback_every: int = 1, **options,
) -> Explanation:  # fmt: skip
    r"""Find the spatiotemporal region of a clip that a video classifier needs (:mod:`fep.ep.engine`).

    Args:
        model: classifier mapping ``(B, C, T, H, W)`` (or ``(B, C, H, W)`` for images) to logits
            ``(B, K)``: a ``torch.nn.Module`` (returned exactly as it was: ``requires_grad``, train/eval
            mode) or any callable (run as it is, without the frozen weights' speed-up).
        video: ``(N, C, T, H, W)`` clips normalised as the model expects, or ``(N, C, H, W)`` images
            (explained as one-frame videos). All N clips and all areas are optimised in one batch.
        target: class index, or one index per clip (list, numpy array or 1-D tensor), or None for the
            class the model predicts (``settings["target"]`` records which).
        progress: show a tqdm progress bar with the energy.
        callback: ``callback(iteration, masks, history)`` every ``callback_every`` iterations, with
            ``masks`` ``(N, A, T, H, W)`` detached and ``history`` a dict of detached tensors
            ``(iterations so far, N, A)``, NaN for masks that have stopped (views: copy them to keep them).
        callback_every: how often to call ``callback``.
        **options: ``method``, ``areas``, ``iterations``, ``temporal_cutoff``, … — every option of an
            explanation, each documented once in :class:`~fep.ep.settings.ExplanationSettings` (the
            signature lists them with their defaults). Method presets: ``"ep2d"``, ``"ep3d"``,
            ``"step"``, ``"fep"`` (default). ``iterations="auto"`` (default) stops each mask once it
            has converged, at most 100 steps; an integer runs exactly that many. The old keywords
            ``filter`` and ``where`` still work (with a DeprecationWarning) for ``filter_type`` and
            ``lowpass_at``.

    Returns:
        :class:`~fep.ep.explanation.Explanation` with ``masks`` ``(N, A, T, H, W)``, ``saliency``, the
        per-iteration ``history`` and the ``settings`` used.

    Raises:
        FepValueError, FepTypeError: for bad input, before the optimisation starts.
        fep.ep.memory.InsufficientMemoryError: when not even one masked clip fits in the free memory.

    Examples::

        >>> result = extremal_perturbation(model, video, target=3, method="fep", areas=(0.1,))
        >>> result.masks.shape, result.saliency.shape     # (1, 1, 16, 112, 112), (1, 16, 112, 112)
    """
    settings = ExplanationSettings.from_keywords(**options)
    return explain(model, video, target, settings, progress=progress, callback=callback, callback_every=callback_every)


# The call's own parameters, read before the options are spelled out in its signature.
_CALL = inspect.signature(extremal_perturbation)


def signature_with_options() -> inspect.Signature:
    """The entry point's signature with ``**options`` spelled out as the settings' keyword parameters."""
    parameters = [p for p in _CALL.parameters.values() if p.kind is not p.VAR_KEYWORD]
    return _CALL.replace(parameters=parameters[:3] + keyword_parameters() + parameters[3:])


# help(), Jupyter's Shift-Tab and inspect.signature show every option with its default.
extremal_perturbation.__signature__ = signature_with_options()


ATTRIBUTION_OUTPUTS = ("explanation", "saliency", "input")


class FEP(Attribution):
    """Captum-style wrapper, a ``captum.attr.Attribution``: ``FEP(model).attribute(video, target=...)``.

    Args:
        model: the classifier to explain (a module or any callable returning logits); Captum's
            ``forward_func``.
        **defaults: any keyword of :func:`extremal_perturbation` (e.g. ``method="ep3d"``), used by
            every :meth:`attribute` call unless overridden there.

    Examples::

        >>> explainer = FEP(model, areas=(0.1,), iterations=200)
        >>> result = explainer.attribute(video, target=3)
        >>> saliency = result.saliency   # (N, T, H, W)
        >>> attributions = explainer.attribute(video, target=3, output="input")   # video's shape, for Captum
        >>> captum.metrics.infidelity(model, perturb, video, attributions, target=3)
    """

    def __init__(self, model, **defaults) -> None:
        super().__init__(check_model(model))
        self.defaults = defaults

    @property
    def model(self):
        """The model explained (Captum calls it ``forward_func``)."""
        return self.forward_func

    def attribute(self, inputs: torch.Tensor, target=None, *, output: str = "explanation", **kwargs):
        """Explain ``inputs`` ``(N, C, T, H, W)`` for ``target``; see :func:`extremal_perturbation`.

        Args:
            inputs: the clips, as Captum names them (a tuple of one tensor also, as Captum's metrics pass it).
            target: class index, one per clip, or None for the predicted class (recorded in the result).
            output: what to return: ``"explanation"`` (the :class:`Explanation`, default), ``"saliency"``
                (its saliency ``(N, T, H, W)``) or ``"input"`` (the saliency repeated over channels, the
                input's shape, as Captum's metrics such as ``infidelity`` expect).
            **kwargs: any option of :func:`extremal_perturbation`, over the constructor's.

        Returns:
            An :class:`Explanation`, or a tensor as ``output`` says (on the input's device; in a tuple
            when ``inputs`` was one).
        """
        check_choice("output", output, ATTRIBUTION_OUTPUTS)
        as_tuple = isinstance(inputs, tuple)  # Captum's metrics pass inputs as a tuple of tensors
        if as_tuple:
            if len(inputs) != 1:
                raise FepValueError(f"FEP explains one input tensor (the clips), got a tuple of {len(inputs)}.")
            (inputs,) = inputs
        options = {**self.defaults, **kwargs}
        call = {key: options.pop(key) for key in ("progress", "callback", "callback_every") if key in options}
        settings = ExplanationSettings.from_keywords("FEP.attribute", **options)
        result = explain(self.forward_func, inputs, target, settings, **call)
        if output == "explanation":
            return result
        saliency = result.saliency.to(inputs.device)
        if output == "saliency":
            return saliency
        shape = inputs.shape if inputs.ndim == 5 else (*inputs.shape[:2], 1, *inputs.shape[2:])
        attributions = saliency[:, None].expand(shape).reshape(inputs.shape).to(inputs.dtype).contiguous()
        return (attributions,) if as_tuple else attributions
