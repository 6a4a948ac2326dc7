"""Every option of an explanation in one frozen object, checked once where it is built.

:class:`ExplanationSettings` is what :func:`fep.extremal_perturbation` turns its keywords into. Building
one validates every option (one clear sentence per bad option) and resolves the defaults that depend
on others — the method's preset (:mod:`fep.methods`) gives STEP its core-loss weight and F-EP its
low-pass; the optimiser gives the learning rate. The engine reads only this object; the
:class:`~fep.explanation.Explanation` keeps :meth:`ExplanationSettings.to_dict` as its ``settings``.
In a notebook its ``repr`` shows only what differs from the method's defaults.

Examples::

    >>> from fep.settings import ExplanationSettings
    >>> ExplanationSettings(method="fep", areas=(0.1,), temporal_cutoff=0.1)
    ExplanationSettings(method='fep', areas=(0.1,), temporal_cutoff=0.1)
    >>> ExplanationSettings(method="step").core_weight
    300.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch

from fep._checks import (
    check_areas,
    check_choice,
    check_positive_float,
    check_positive_int,
    check_unit_interval,
)
from fep.dct import FILTER_GAUSSIAN, frequency_response
from fep.errors import FepTypeError, FepValueError
from fep.methods import PERTURBATION_METHODS, REGISTRY, Preset
from fep.objectives import REWARDS
from fep.perturbation import PERTURBATIONS
from fep.stopping import AUTO, AUTO_CAP, AUTO_SCHEDULE

__all__ = [
    "ExplanationSettings",
    "VARIANTS",
    "OPTIMIZERS",
    "MODULATE_REWARD",
    "MODULATE_ENERGY",
    "LOWPASS_AT_GRADIENT",
    "LOWPASS_AT_UPDATE",
    "LOWPASS_AT_PARAMETRIZATION",
    "SCHEDULE_LINEAR",
    "INIT_SALIENCY",
    "AUTOCAST_DTYPES",
    "AREA_WEIGHT",
    "AREA_WEIGHT_FINAL",
    "DEFAULT_LR",
]

VARIANTS = ("preserve", "delete", "dual")
OPTIMIZERS = ("sgd", "adam")
MODULATE_REWARD, MODULATE_ENERGY = "reward", "energy"
LOWPASS_AT_GRADIENT, LOWPASS_AT_UPDATE, LOWPASS_AT_PARAMETRIZATION = "gradient", "update", "parametrization"
SCHEDULE_LINEAR = "linear"
INIT_SALIENCY = "saliency"
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# TorchRay's area weight: 300, times 1.0035 per iteration for 800 iterations.
AREA_WEIGHT = 300.0
AREA_WEIGHT_FINAL = 300.0 * 1.0035**800
DEFAULT_LR = {"sgd": 0.1, "adam": 0.05}


@dataclass(frozen=True)
class ExplanationSettings:
    """All options of an explanation (the keywords of :func:`fep.extremal_perturbation`).

    Attributes:
        method: ``"ep2d"``, ``"ep3d"``, ``"step"`` or ``"fep"`` (a preset of the others, :mod:`fep.methods`).
        areas: fractions of the clip (of each frame for ``ep2d``) to keep, each in (0, 1).
        variant: ``"preserve"`` keeps the mask, ``"delete"`` perturbs it, ``"dual"`` plays both.
        reward: ``"simple"``, ``"contrastive"`` or ``"logprob"`` (:mod:`fep.objectives`).
        perturbation: ``"blur"`` (per-frame Gaussian pyramid) or ``"fade"`` (to zero).
        iterations: ``"auto"`` (default): each mask stops when it has converged, at most 100 steps
            (:mod:`fep.stopping`, measured in ``benchmarks/bench_auto.py``); or a number of optimiser
            steps, run in full for every mask (100 matches 800-iteration 3D-EP: ``bench_convergence.py``).
        lr: learning rate (default 0.1 for SGD, 0.05 for Adam).
        optimizer: ``"sgd"`` (momentum with equal dampening, as TorchRay) or ``"adam"``.
        momentum: SGD momentum (and dampening).
        mask_step: pixels per mask-grid cell (TorchRay: 7).
        init: initial mask value (1 = keep everything), or ``"saliency"``: a warm start from the input
            gradient (one forward and backward pass), low-passed on the mask grid, 1 on its top
            ``a`` share and 0 elsewhere (:func:`fep.engine.warm_start`). Default: ``"saliency"`` with
            ``iterations="auto"`` (measured: ``benchmarks/results/auto.md``), 1 with a fixed count.
        area_weight, area_weight_final: the area weight grows geometrically between these.
        temporal_cutoff, spatial_cutoff: F-EP cutoffs in [0, 1] (1 = no low-pass).
        filter_type: the low-pass response, ``"ideal"``, ``"gaussian"`` or ``"butterworth"``
            (``filter=`` in :func:`~fep.extremal_perturbation`); ``filter_order`` for Butterworth.
        modulate: which gradient is low-passed: ``"energy"`` (all of it, default) or ``"reward"``
            (the model's only).
        lowpass_at: where the low-pass acts: on the ``"gradient"``, on the optimiser's ``"update"``, or
            in the mask's ``"parametrization"`` by low DCT coefficients (``where=`` in
            :func:`~fep.extremal_perturbation`); see :mod:`fep.lowpass`.
        preserve_norm: rescale the low-passed gradient (or update) to its norm (default: True at the
            gradient, else False; meaningless for the parametrisation).
        schedule: None (fixed cutoffs), ``"linear"`` (coarse to fine over the first half) or
            ``f(iteration, iterations) -> (temporal_cutoff, spatial_cutoff)``.
        core_weight, core_start: STEP's core loss weight (default from the method's preset) and the
            iteration it starts at (default: a twentieth of the area-weight schedule).
        core_frames, core_size: the core loss's ellipsoid kernel in frames and pixels.
        jitter: flip the masked clips left-right on even iterations (TorchRay's image habit; off: a
            mirrored "moves left" clip is "moves right").
        num_levels, max_blur: perturbation pyramid.
        max_batch: most masked clips per model call (None: fit the free memory).
        seed: seeds the call's random numbers (the tie-break of the area ranking).
        autocast: ``"bf16"`` or ``"fp16"`` runs the model's forward pass in that precision on CUDA
            (``torch.autocast``); the masks, losses and optimiser stay in float32. None: float32.
    """

    method: str = "fep"
    areas: tuple[float, ...] = (0.05, 0.1, 0.2)
    variant: str = "preserve"
    reward: str = "simple"
    perturbation: str = "blur"
    iterations: int | str = AUTO
    lr: float | None = None
    optimizer: str = "sgd"
    momentum: float = 0.9
    mask_step: int = 7
    init: float | str | None = None
    area_weight: float = AREA_WEIGHT
    area_weight_final: float = AREA_WEIGHT_FINAL
    temporal_cutoff: float = 0.25
    spatial_cutoff: float = 0.25
    filter_type: str = FILTER_GAUSSIAN
    filter_order: int = 2
    modulate: str | None = None
    lowpass_at: str = LOWPASS_AT_GRADIENT
    preserve_norm: bool | None = None
    schedule: str | Callable[[int, int], tuple[float, float]] | None = None
    core_weight: float | None = None
    core_start: int | None = None
    core_frames: int = 7
    core_size: int = 11
    jitter: bool = False
    num_levels: int = 8
    max_blur: float = 20.0
    max_batch: int | None = None
    seed: int = 0
    autocast: str | None = None

    def __post_init__(self) -> None:
        self._check_choices()
        self._check_numbers()
        resolved = dict(
            areas=check_areas(self.areas),
            init=(INIT_SALIENCY if self.auto else 1.0) if self.init is None else self.init,
            modulate=MODULATE_ENERGY if self.modulate is None else self.modulate,  # measured: results/design_study
            preserve_norm=self.lowpass_at == LOWPASS_AT_GRADIENT if self.preserve_norm is None else self.preserve_norm,
            lr=check_positive_float("lr", DEFAULT_LR[self.optimizer] if self.lr is None else self.lr),
            core_weight=self.preset.core_weight if self.core_weight is None else float(self.core_weight),
            core_start=self.schedule_length // 20 if self.core_start is None else int(self.core_start),
        )
        for name, value in resolved.items():
            object.__setattr__(self, name, value)
        self._check_lowpass()

    def _check_choices(self) -> None:
        check_choice("method", self.method, PERTURBATION_METHODS)
        check_choice("variant", self.variant, VARIANTS)
        check_choice("reward", self.reward, REWARDS)
        check_choice("perturbation", self.perturbation, PERTURBATIONS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("where", self.lowpass_at, (LOWPASS_AT_GRADIENT, LOWPASS_AT_UPDATE, LOWPASS_AT_PARAMETRIZATION))
        if self.modulate is not None:
            check_choice("modulate", self.modulate, (MODULATE_REWARD, MODULATE_ENERGY))
        if self.autocast is not None:
            check_choice("autocast", self.autocast, tuple(AUTOCAST_DTYPES))
        if not (self.schedule is None or self.schedule == SCHEDULE_LINEAR or callable(self.schedule)):
            raise FepValueError(
                f"Unknown schedule {self.schedule!r}; pass None, 'linear' or a function (iteration, iterations) -> "
                "(temporal_cutoff, spatial_cutoff)."
            )

    def _check_numbers(self) -> None:
        if self.iterations != AUTO:
            if isinstance(self.iterations, str):
                raise FepValueError(f"iterations must be 'auto' or a positive integer, got {self.iterations!r}.")
            check_positive_int("iterations", self.iterations)
        for name in ("mask_step", "core_frames", "core_size"):
            check_positive_int(name, getattr(self, name))
        if isinstance(self.num_levels, bool) or not isinstance(self.num_levels, int) or self.num_levels < 2:
            raise FepValueError(f"num_levels must be an integer >= 2, got {self.num_levels!r}.")
        if self.max_batch is not None:
            check_positive_int("max_batch", self.max_batch)
        check_unit_interval("momentum", self.momentum)
        if self.init not in (None, INIT_SALIENCY):
            check_unit_interval("init", self.init)
        for name in ("area_weight", "area_weight_final", "max_blur"):
            check_positive_float(name, getattr(self, name))
        if self.core_weight is not None and not self.core_weight >= 0:
            raise FepValueError(f"core_weight must be >= 0, got {self.core_weight}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise FepTypeError(f"seed must be an integer, got {self.seed!r}.")

    def _check_lowpass(self) -> None:
        if self.lowpass_at != LOWPASS_AT_GRADIENT and self.modulate == MODULATE_REWARD:
            raise FepValueError(
                f"where={self.lowpass_at!r} filters the whole step, not the reward gradient alone; "
                "pass modulate='energy' or use where='gradient'."
            )
        if self.preserve_norm and self.lowpass_at == LOWPASS_AT_PARAMETRIZATION:
            raise FepValueError("preserve_norm has no meaning with where='parametrization'; pass preserve_norm=False.")
        # Building one response checks the cutoffs, the filter and its order with their own messages.
        frequency_response((1, 1, 1), self.filter_type, self.temporal_cutoff, self.spatial_cutoff, self.filter_order)

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
        return AUTO_SCHEDULE if self.auto else self.iterations

    @property
    def preset(self) -> Preset:
        """The method's preset (:mod:`fep.methods`): per-frame area, core weight, low-pass."""
        return REGISTRY[self.method].preset

    def to_dict(self) -> dict:
        """Plain, JSON-ready values (a custom schedule is recorded as ``"custom"``)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["areas"] = list(self.areas)
        if callable(self.schedule):
            values["schedule"] = "custom"
        return values

    def __repr__(self) -> str:
        baseline = ExplanationSettings(method=self.method)
        changed = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if f.name == "method" or getattr(self, f.name) != getattr(baseline, f.name)
        ]
        return f"ExplanationSettings({', '.join(changed)})"
