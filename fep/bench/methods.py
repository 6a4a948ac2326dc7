"""Every explanation method fep knows, in one registry: name → function, label, accepted options.

Two kinds of method:

- **perturbation** methods optimise a mask (:func:`fep.ep.api.extremal_perturbation`). 2D-EP, 3D-EP,
  STEP and F-EP are one optimiser with four :class:`Preset` s — data, not branches: whether the area is
  kept per frame, the weight of STEP's core loss, whether the mask's gradient is low-passed;
- **gradient** baselines (:mod:`fep.baselines.gradients`) read the model's input gradient once or a few times.

The engine, the gradient baselines, the experiments runner, the CLI and the plots all read this one
table (:data:`REGISTRY`); it is the only list of method names in ``fep``. A method string may carry
options in brackets, ``"fep[temporal_cutoff=0.1,filter_type=ideal]"``: :func:`parse_method` checks them
against the keyword parameters of the method's function before anything runs.

To add a method: write its function (``model, video, target, *, options...`` → saliency ``(N, T, H, W)``
or an :class:`~fep.ep.explanation.Explanation`) and add one :class:`Method` line to :data:`REGISTRY`.

Examples::

    >>> from fep.bench.methods import REGISTRY, parse_method
    >>> REGISTRY["fep"].label
    'F-EP'
    >>> method, options = parse_method("fep[temporal_cutoff=0.1]")
    >>> saliency = method.saliency(model, video, target, **options)    # (N, T, H, W)
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

import torch

from fep.ep.presets import METHOD_EP2D, METHOD_EP3D, METHOD_FEP, METHOD_STEP, PRESETS, Preset
from fep.ep.settings import RENAMED
from fep.errors import FepValueError

__all__ = [
    "PERTURBATION",
    "GRADIENT",
    "REFERENCE",
    "METHOD_EP2D",
    "METHOD_EP3D",
    "METHOD_STEP",
    "METHOD_FEP",
    "Preset",
    "Method",
    "REGISTRY",
    "PERTURBATION_METHODS",
    "GRADIENT_METHODS",
    "get_method",
    "parse_method",
    "label_of",
]

# Perturbation methods optimise a mask; gradient methods read the model's gradient; a reference map
# ignores the model altogether (the plausibility floor of the tables).
PERTURBATION, GRADIENT, REFERENCE = "perturbation", "gradient", "reference"


@dataclass(frozen=True)
class Method:
    """One explanation method.

    Attributes:
        name: what users type (``"fep"``, ``"gradcam"``).
        label: what plots and tables show (``"F-EP"``, ``"Grad-CAM-3D"``).
        kind: :data:`PERTURBATION` or :data:`GRADIENT`.
        function: ``"module:attribute"`` of the function that computes it (imported when first used).
        preset: the perturbation preset (perturbation methods only).
        budget: option → ``(fast, full)`` value used by the experiments runner unless a spec overrides it
            (None: the option is not passed, so the package default runs).
    """

    name: str
    label: str
    kind: str
    function: str
    preset: Preset | None = None
    budget: Mapping[str, tuple] = field(default_factory=dict)

    @cached_property
    def callable(self) -> Callable:
        module, attribute = self.function.split(":")
        return getattr(importlib.import_module(module), attribute)

    @cached_property
    def options(self) -> tuple[str, ...]:
        """Keyword options the method accepts (from its function's signature)."""
        fixed = {"model", "video", "target", "method"}
        parameters = inspect.signature(self.callable).parameters.values()
        return tuple(p.name for p in parameters if p.name not in fixed and p.kind is not p.VAR_KEYWORD)

    def check_options(self, options: Mapping[str, object]) -> None:
        """Raise FepValueError for an option the method does not take, naming the ones it does."""
        unknown = [key for key in options if key not in self.options]
        if unknown:
            raise FepValueError(
                f"{self.name} has no option {unknown[0]!r}; its options are: {', '.join(self.options)}."
            )

    def run(self, model: torch.nn.Module, video: torch.Tensor, target, **options):
        """Call the method's function (an Explanation for perturbation methods, else a saliency tensor)."""
        if self.kind == PERTURBATION:
            options = {"method": self.name, **options}
        return self.callable(model, video, target, **options)

    def saliency(self, model: torch.nn.Module, video: torch.Tensor, target, **options) -> torch.Tensor:
        """The method's saliency ``(N, T, H, W)`` (the sum of masks over areas for perturbation methods)."""
        result = self.run(model, video, target, **options)
        return result.saliency if self.kind == PERTURBATION else result


# The experiments runner's budgets: option -> (fast, full); None: not passed, the package default runs.
# A full run explains at the package defaults (iterations "auto", the default areas and start); a fast
# one (tests, notebooks) at 5 iterations and two areas.
_QUIET = {"progress": (False, False)}
_EP_BUDGET = MappingProxyType({"areas": ((0.05, 0.15), None), "iterations": (5, None), **_QUIET})
_EXPLAIN = "fep.ep.api:extremal_perturbation"

REGISTRY: Mapping[str, Method] = MappingProxyType({
    m.name: m
    for m in (
        Method("gradient", "gradient", GRADIENT, "fep.baselines.gradients:vanilla_gradient"),
        Method(
            "smoothgrad", "SmoothGrad", GRADIENT, "fep.baselines.gradients:smoothgrad",
            budget={"samples": (4, 16), **_QUIET},
        ),
        Method(
            "ig", "Integrated Gradients", GRADIENT, "fep.baselines.gradients:integrated_gradients",
            budget={"steps": (8, 32), "reduction": ("abs_max", "abs_max"), **_QUIET},
        ),
        Method("gradcam", "Grad-CAM-3D", GRADIENT, "fep.baselines.gradients:grad_cam"),
        Method("framediff", "frame difference (no model)", REFERENCE, "fep.bench.floor:frame_difference"),
    )
} | {
    name: Method(name, preset.label, PERTURBATION, _EXPLAIN, preset, _EP_BUDGET) for name, preset in PRESETS.items()
})  # fmt: skip
PERTURBATION_METHODS = tuple(name for name, m in REGISTRY.items() if m.kind == PERTURBATION)
GRADIENT_METHODS = tuple(name for name, m in REGISTRY.items() if m.kind == GRADIENT)


def get_method(name: str) -> Method:
    """The registered method called ``name``; FepValueError naming the choices otherwise."""
    if name not in REGISTRY:
        raise FepValueError(
            f"Unknown method {name!r}; use one of {', '.join(REGISTRY)}, optionally with options in brackets "
            "such as fep[temporal_cutoff=0.1]."
        )
    return REGISTRY[name]


def _value(text: str):
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    try:
        return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
    except ValueError:
        return text


def parse_method(spec: str) -> tuple[Method, dict]:
    """``"fep[temporal_cutoff=0.1,filter_type=ideal]"`` → ``(REGISTRY["fep"], {"temporal_cutoff": 0.1,
    "filter_type": "ideal"})``.

    Options are checked against the method's function now, so a typo fails before any work starts. The
    perturbation methods' old option names (``filter``, ``where``) are read as the new ones, with a
    DeprecationWarning, so the specs of earlier tables still parse.
    """
    match = re.fullmatch(r"\s*([a-z0-9_]+)\s*(?:\[(.*)\])?\s*", spec) if isinstance(spec, str) else None
    method = get_method(match.group(1) if match else str(spec))
    options = {}
    for part in filter(None, (match.group(2) or "").split(",")):
        if "=" not in part:
            raise FepValueError(f"Option {part!r} in {spec!r} must look like name=value.")
        key, value = (p.strip() for p in part.split("=", 1))
        if method.kind == PERTURBATION and key in RENAMED:
            warnings.warn(f"{spec}: {key}= is now {RENAMED[key]}=.", DeprecationWarning, stacklevel=2)
            key = RENAMED[key]
        options[key] = _value(value)
    method.check_options(options)
    return method, options


def label_of(spec: str) -> str:
    """What a plot shows for a method spec: ``"fep[filter_type=ideal]"`` → ``"F-EP [filter_type=ideal]"``."""
    name, _, rest = spec.partition("[")
    method = REGISTRY.get(name.strip())
    return spec if method is None else method.label + (f" [{rest}" if rest else "")
