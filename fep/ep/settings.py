"""Every option of an explanation, defined once: name, default, type, check and help in one field each.

:class:`ExplanationSettings` is what :func:`fep.extremal_perturbation` turns its keywords into, and the
only place an option is written down. Each field is an :func:`option` carrying its help sentence and
its check; from the fields come the keyword signature of :func:`~fep.ep.api.extremal_perturbation`
(:func:`keyword_parameters`), the ``fep explain`` flags (:mod:`fep.cli`) and the attribute list of
this class's documentation. Building one validates every option (one clear sentence per bad option)
and resolves the defaults that depend on others: the named defaults (``defaults``,
:data:`fep.ep.presets.DEFAULTS`) give the areas, the start and F-EP's spatial cutoff; the method's preset
gives STEP its core-loss weight and F-EP its low-pass; the optimiser gives the learning rate. The engine
reads only this object; the :class:`~fep.ep.explanation.Explanation` keeps :meth:`to_dict` as its
``settings``. In a notebook its ``repr`` shows only what differs from the method's defaults.

To add an option: add one :func:`option` field here, and read it where it acts (the engine, a site).

Examples::

    >>> from fep.ep.settings import ExplanationSettings
    >>> ExplanationSettings(method="fep", areas=(0.1,), temporal_cutoff=0.1)
    ExplanationSettings(method='fep', areas=(0.1,), temporal_cutoff=0.1)
    >>> ExplanationSettings(method="step").core_weight
    300.0
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from functools import partial

import torch

from fep.ep.checks import (
    check_areas,
    check_bool,
    check_choice,
    check_integer,
    check_non_negative,
    check_num_levels,
    check_optional,
    check_positive_float,
    check_positive_int,
    check_unit_interval,
)
from fep.ep.dct import FILTER_GAUSSIAN, FILTERS, frequency_response
from fep.ep.lowpass import (
    LOWPASS_AT_GRADIENT,
    LOWPASS_AT_PARAMETRIZATION,
    MODULATE_ENERGY,
    SITES,
)
from fep.ep.objectives import REWARDS
from fep.ep.option_checks import check_cutoff_schedule, check_init, check_iterations
from fep.ep.perturbation import PERTURBATIONS
from fep.ep.presets import (
    CHANNELS_LAST,
    CURRENT_DEFAULTS,
    DEFAULTS,
    INIT_SALIENCY,
    INIT_SALIENCY_SMOOTH,
    MEMORY_FORMATS,
    METHOD_FEP,
    PERTURBATION_METHODS,
    PRESETS,
    SALIENCY_RULES,
    SWEEP_AUTO,
    SWEEP_CHAIN,
    SWEEPS,
    Defaults,
    Preset,
)
from fep.ep.stopping import AUTO, AUTO_CAP
from fep.errors import FepTypeError, FepValueError

__all__ = [
    "ExplanationSettings", "option", "keyword_parameters", "RENAMED", "VARIANTS", "OPTIMIZERS",
    "LOWPASS_SITES", "INIT_SALIENCY", "INIT_SALIENCY_SMOOTH", "AUTOCAST_DTYPES", "AREA_WEIGHT",
    "AREA_WEIGHT_FINAL", "DEFAULT_LR",
]  # fmt: skip

VARIANTS = ("preserve", "delete", "dual")
OPTIMIZERS = ("sgd", "adam")
# The choices of lowpass_at and modulate are the low-pass sites' (fep.ep.lowpass.SITES): a new site is one entry there.
LOWPASS_SITES = tuple(dict.fromkeys(at for _, at in SITES))
MODULATED = tuple(dict.fromkeys(gradient for gradient, _ in SITES))
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# TorchRay's area weight: 300, times 1.0035 per iteration for 800 iterations.
AREA_WEIGHT = 300.0
AREA_WEIGHT_FINAL = 300.0 * 1.0035**800
DEFAULT_LR = {"sgd": 0.1, "adam": 0.05}
# Old keyword -> its name now. Either works; the old one warns.
RENAMED = {"filter": "filter_type", "where": "lowpass_at"}


def option(default, help: str, *, check: Callable | None = None, choices: tuple | None = None, cli: bool = False):
    """One option: a dataclass field whose metadata holds its help sentence, its check and its choices.

    Args:
        default: the value used when the keyword is not given (None: resolved from other options).
        help: one sentence for the docs and for ``--help``.
        check: ``check(name, value) -> value`` that raises a :class:`~fep.errors.FepError`; it may
            normalise the value (``areas=0.1`` becomes ``(0.1,)``).
        choices: the allowed strings (checked before ``check``).
        cli: ``fep explain`` and ``fep demo`` offer it as ``--name-with-dashes``.
    """
    if choices is not None:
        check = partial(_check_choice, choices, check)
    return field(default=default, metadata={"help": help, "check": check, "choices": choices, "cli": cli})


def _check_choice(choices: tuple, then: Callable | None, name: str, value):
    """A choice among ``choices`` (None passes when the default is None)."""
    if value is None:
        return None
    check_choice(name, value, choices)
    return value if then is None else then(name, value)


# The help of options whose None means the named defaults' value, and the cutoffs' check.
_CURRENT = DEFAULTS[CURRENT_DEFAULTS]
_NAMED = f"None: the defaults' ({CURRENT_DEFAULTS}: "
_CUTOFF = dict(check=check_optional(check_unit_interval), cli=True)


@dataclass(frozen=True)
class ExplanationSettings:
    """All options of an explanation (the keywords of :func:`fep.extremal_perturbation`)."""

    method: str = option(
        METHOD_FEP,
        "the method: 'ep2d', 'ep3d', 'step' or 'fep', presets of one optimiser (fep.ep.presets).",
        choices=PERTURBATION_METHODS,
        cli=True,
    )
    areas: tuple[float, ...] | None = option(
        None,
        "fractions of the clip (of each frame for ep2d) to keep, each in (0, 1); one mask each. None: the "
        f"defaults' areas ({CURRENT_DEFAULTS}: a sweep {', '.join(f'{a:g}' for a in _CURRENT.areas)}).",
        check=lambda name, value: None if value is None else check_areas(value),
        cli=True,
    )
    saliency: str | None = option(
        None,
        "how the masks make one saliency: 'nested' (each voxel graded by the smallest area that keeps it, in "
        f"[0, 1]) or 'sum' over areas (0 to A). None: the defaults' rule ({CURRENT_DEFAULTS}: {_CURRENT.saliency!r}).",
        choices=SALIENCY_RULES,
    )
    variant: str = option(
        "preserve",
        "'preserve' keeps the mask and perturbs the rest, 'delete' perturbs the mask, 'dual' plays both.",
        choices=VARIANTS,
    )
    reward: str = option(
        "simple",
        "the target's score: 'simple' (logit), 'contrastive' or 'logprob' (fep.ep.objectives).",
        choices=REWARDS,
    )
    perturbation: str = option(
        "blur",
        "what replaces the clip outside the mask: 'blur' (per-frame Gaussian pyramid) or 'fade' (to zero).",
        choices=PERTURBATIONS,
    )
    iterations: int | str = option(
        AUTO,
        "'auto': each mask stops once it has converged, at most 100 steps (fep.ep.stopping); or a number of "
        "optimiser steps, run in full for every mask (100 matches 800-iteration 3D-EP).",
        check=check_iterations,
        cli=True,
    )
    lr: float | None = option(None, "learning rate (None: the defaults' for their optimiser, else 0.1 for SGD, "
                              "0.05 for Adam).", check=check_optional(check_positive_float))
    optimizer: str | None = option(None, "'sgd' (momentum, dampened as TorchRay) or 'adam'. None: the defaults'.",
                                   choices=OPTIMIZERS)
    momentum: float = option(0.9, "SGD momentum (and dampening), in [0, 1].", check=check_unit_interval)
    mask_step: int = option(7, "pixels per mask-grid cell (TorchRay: 7).", check=check_positive_int)
    init: float | str | None = option(
        None,
        "initial mask value in [0, 1] (1 keeps everything), 'saliency' (a warm start from the input "
        "gradient, low-passed only by F-EP's own response) or 'saliency_smooth' (low-passed at cutoffs 0.25 for "
        "every method, as in 2026-11; fep.ep.warm_start). None: the defaults' start for the method with "
        "iterations='auto', 1 with a fixed count.",
        check=check_init,
    )
    area_weight: float = option(AREA_WEIGHT, "the area term's weight at the start; it grows geometrically to "
                                "area_weight_final.", check=check_positive_float)
    area_weight_final: float = option(
        AREA_WEIGHT_FINAL, "the area term's weight at the end of the schedule.", check=check_positive_float
    )
    temporal_cutoff: float | None = option(None, f"F-EP's temporal cutoff in [0, 1] (1: no low-pass in time). {_NAMED}"
                                           f"{_CURRENT.temporal_cutoff:g}).", **_CUTOFF)
    spatial_cutoff: float | None = option(None, f"F-EP's spatial cutoff in [0, 1] (1: no low-pass in space). {_NAMED}"
                                          f"{_CURRENT.spatial_cutoff:g}).", **_CUTOFF)
    filter_type: str = option(
        FILTER_GAUSSIAN, "the low-pass response: 'ideal', 'gaussian' or 'butterworth' (fep.ep.dct).", choices=FILTERS
    )
    filter_order: int = option(2, "the Butterworth filter's order.", check=check_positive_int)
    modulate: str | None = option(
        None,
        "which gradient is low-passed: 'energy' (all of it; None means this) or 'reward' (the model's only; "
        "the sites of fep.ep.lowpass.SITES say where each is possible).",
        choices=MODULATED,
    )
    lowpass_at: str = option(
        LOWPASS_AT_GRADIENT,
        "where the low-pass acts: on the 'gradient', on the optimiser's 'update', or in the "
        "mask's 'parametrization' by low DCT coefficients (fep.ep.lowpass).",
        choices=LOWPASS_SITES,
    )
    preserve_norm: bool | None = option(
        None,
        "rescale the low-passed gradient (or update) to its norm (None: True at the gradient, else False).",
        check=check_bool,
    )
    schedule: str | Callable[[int, int], tuple[float, float]] | None = option(
        None,
        "None (fixed cutoffs), 'linear' (coarse to fine over the first half) or "
        "f(iteration, iterations) -> (temporal_cutoff, spatial_cutoff).",
        check=check_cutoff_schedule,
    )
    core_weight: float | None = option(
        None, "STEP's core-loss weight (None: the method's preset, 300 for step, else 0).", check=check_non_negative
    )
    core_start: int | None = option(
        None,
        "the iteration STEP's core loss starts at (None: a twentieth of the area-weight schedule).",
        check=check_optional(check_integer),
    )
    core_frames: int = option(7, "the core loss's ellipsoid kernel in frames.", check=check_positive_int)
    core_size: int = option(11, "the core loss's ellipsoid kernel in pixels.", check=check_positive_int)
    jitter: bool = option(
        False,
        "flip the masked clips left-right on even iterations (for mirror-invariant image classes only).",
        check=check_bool,
    )
    num_levels: int = option(8, "levels of the perturbation pyramid (at least 2).", check=check_num_levels)
    max_blur: float = option(20.0, "the blur (sigma, pixels) of the pyramid's last level.", check=check_positive_float)
    max_batch: int | None = option(
        None,
        "most masked clips per model call (None: fit the free memory).",
        check=check_optional(check_positive_int),
        cli=True,
    )
    seed: int = option(0, "seeds the call's random numbers (the tie-break of the area ranking).", check=check_integer)
    autocast: str | None = option(
        None, "'bf16' runs the model's forward pass in bfloat16 (CUDA or CPU; fast only on a CPU with bf16 "
        "units), 'fp16' in float16 (CUDA only); masks, losses and optimiser stay in float32. None: float32.",
        choices=tuple(AUTOCAST_DTYPES), cli=True,
    )
    memory_format: str | None = option(None, "'channels_last' lays a video model's 3-D convolutions out channels-last "
                                       "for the call, then gives its tensors back (faster on CPU); 'model' keeps its "
                                       "layout; 'auto': channels-last on a CPU. None: the defaults'.",
                                       choices=MEMORY_FORMATS, cli=True)
    sweep: str | None = option(None, "several areas: 'batch' together, 'chain' one after another from the largest, "
                               "each from the last mask; 'auto': chain on a CPU, batch on a GPU. None: defaults'.",
                               choices=SWEEPS, cli=True)
    defaults: str = option(
        CURRENT_DEFAULTS,
        "the named set of defaults for the options left unset (fep.ep.presets.DEFAULTS): "
        f"{CURRENT_DEFAULTS!r}, or another name ({', '.join(repr(n) for n in DEFAULTS if n != CURRENT_DEFAULTS)}) "
        "(an earlier set, to reproduce its results, or an opt-in one, fep.ep.presets).",
        choices=tuple(DEFAULTS),
        cli=True,
    )  # fmt: skip

    def __post_init__(self) -> None:
        for f in fields(self):
            check = f.metadata["check"]
            if check is not None:
                object.__setattr__(self, f.name, check(f.name, getattr(self, f.name)))
        named = self.named_defaults
        resolved = dict(
            areas=named.areas if self.areas is None else self.areas,
            saliency=named.saliency if self.saliency is None else self.saliency,
            temporal_cutoff=named.temporal_cutoff if self.temporal_cutoff is None else self.temporal_cutoff,
            spatial_cutoff=named.spatial_cutoff if self.spatial_cutoff is None else self.spatial_cutoff,
            init=(named.auto_init[self.method] if self.auto else 1.0) if self.init is None else self.init,
            modulate=MODULATE_ENERGY if self.modulate is None else self.modulate,  # measured: results/design_study
            preserve_norm=self.lowpass_at == LOWPASS_AT_GRADIENT if self.preserve_norm is None else self.preserve_norm,
            optimizer=named.optimizer if self.optimizer is None else self.optimizer,
            sweep=named.sweep if self.sweep is None else self.sweep,
            memory_format=named.memory_format if self.memory_format is None else self.memory_format,
            core_weight=self.preset.core_weight if self.core_weight is None else self.core_weight,
            core_start=(named.core_start if self.auto and named.core_start is not None else self.schedule_length // 20)
            if self.core_start is None else self.core_start,
        )
        for name, value in resolved.items():
            object.__setattr__(self, name, value)
        own = DEFAULT_LR[self.optimizer]  # the preset's rate belongs to the preset's optimiser
        lr = (named.lr or own) if self.optimizer == named.optimizer else own
        object.__setattr__(self, "lr", lr if self.lr is None else self.lr)
        self._check_lowpass()

    def _check_lowpass(self) -> None:
        if (self.modulate, self.lowpass_at) not in SITES:
            sites = [m for m, at in SITES if at == self.lowpass_at]
            raise FepValueError(
                f"No low-pass site filters the {self.modulate} gradient at lowpass_at={self.lowpass_at!r}; "
                f"pass modulate={sites[0]!r} or use lowpass_at='gradient'."
            )
        if self.preserve_norm and self.lowpass_at == LOWPASS_AT_PARAMETRIZATION:
            raise FepValueError(
                "preserve_norm has no meaning with lowpass_at='parametrization'; pass preserve_norm=False."
            )
        # Building one response checks the cutoffs and the filter's order together with their own messages.
        frequency_response((1, 1, 1), self.filter_type, self.temporal_cutoff, self.spatial_cutoff, self.filter_order)

    @classmethod
    def from_keywords(cls, caller: str = "extremal_perturbation", **keywords) -> ExplanationSettings:
        """Settings from a call's keywords: old names (:data:`RENAMED`) warn and map to the new ones; an
        unknown keyword is refused with the nearest option's name."""
        names = [f.name for f in fields(cls)]
        for old, new in RENAMED.items():
            if old in keywords:
                warnings.warn(f"{caller}: {old}= is now {new}=.", DeprecationWarning, stacklevel=3)
                value = keywords.pop(old)
                if new in keywords and keywords[new] != value:
                    raise FepValueError(f"{old}={value!r} and {new}={keywords[new]!r} disagree; pass only {new}.")
                keywords[new] = value
        for key in keywords:
            if key not in names:
                near = difflib.get_close_matches(key, names, n=1)
                hint = f"did you mean {near[0]}?" if near else "the options are listed in fep.ExplanationSettings."
                raise FepTypeError(f"{caller}() has no option {key!r}; {hint}")
        return cls(**keywords)

    @property
    def auto(self) -> bool:
        """True when each mask stops once converged (``iterations="auto"``)."""
        return self.iterations == AUTO

    @property
    def max_iterations(self) -> int:
        """The most iterations a mask can run: the cap for ``"auto"``, else ``iterations``."""
        return AUTO_CAP if self.auto else self.iterations

    @property
    def schedule_length(self) -> int:
        """Iterations over which the area weight grows to its final value (and cutoff schedules run)."""
        return self.named_defaults.auto_schedule if self.auto else self.iterations

    def chained(self, device: torch.device) -> bool:
        """True when several areas run one after another on ``device`` (the ``sweep`` option)."""
        on_cpu = device.type != "cuda"
        return len(self.areas) > 1 and (self.sweep == SWEEP_CHAIN or (self.sweep == SWEEP_AUTO and on_cpu))

    def channels_last(self, device: torch.device) -> bool:
        """True when the model runs channels-last on ``device`` (the ``memory_format`` option)."""
        return self.memory_format == CHANNELS_LAST or (self.memory_format == SWEEP_AUTO and device.type != "cuda")

    @property
    def named_defaults(self) -> Defaults:
        """What the options left unset mean (:data:`fep.ep.presets.DEFAULTS`)."""
        return DEFAULTS[self.defaults]

    @property
    def preset(self) -> Preset:
        """The method's preset (:mod:`fep.ep.presets`): per-frame area, core weight, low-pass."""
        return PRESETS[self.method]

    def to_dict(self) -> dict:
        """Plain, JSON-ready values (a custom schedule is recorded as ``"custom"``)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["areas"] = list(self.areas)
        if callable(self.schedule):
            values["schedule"] = "custom"
        return values

    def __repr__(self) -> str:
        baseline = ExplanationSettings(method=self.method, defaults=self.defaults)
        changed = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if f.name == "method"
            or (f.name == "defaults" and self.defaults != CURRENT_DEFAULTS)
            or getattr(self, f.name) != getattr(baseline, f.name)
        ]
        return f"ExplanationSettings({', '.join(changed)})"


def keyword_parameters() -> list[inspect.Parameter]:
    """The options as keyword-only parameters (name, default, annotation): the entry points' signature."""
    return [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
        for f in fields(ExplanationSettings)
        if f.default is not MISSING
    ]


def _attribute_docs() -> str:
    """The ``Attributes:`` section of the class's documentation, from the options' help."""
    lines = ["", "", "Attributes:"]
    for f in fields(ExplanationSettings):
        lines.append(f"    {f.name}: {f.metadata['help']} Default: ``{f.default!r}``.")
    return "\n".join(lines)


ExplanationSettings.__doc__ += _attribute_docs()
