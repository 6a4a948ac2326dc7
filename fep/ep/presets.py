"""The four perturbation methods as presets of one optimiser: data read by the engine, not branches.

2D-EP, 3D-EP, STEP and F-EP differ in three things only: whether the area is kept per frame, the weight
of STEP's core loss, and whether the mask's gradient is low-passed. :data:`PRESETS` is the one list of
perturbation method names; the benchmark's registry of every method (:mod:`fep.bench.methods`) adds
the gradient baselines and labels on top of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["METHOD_EP2D", "METHOD_EP3D", "METHOD_STEP", "METHOD_FEP", "Preset", "PRESETS", "PERTURBATION_METHODS"]

METHOD_EP2D, METHOD_EP3D, METHOD_STEP, METHOD_FEP = "ep2d", "ep3d", "step", "fep"


@dataclass(frozen=True)
class Preset:
    """What makes one perturbation method differ from another.

    Attributes:
        label: what plots and tables show (``"F-EP"``).
        area_per_frame: the area constraint holds in every frame (2D-EP), not over the volume.
        core_weight: default weight of STEP's core loss (0: off).
        lowpass: low-pass the mask's gradient in the DCT domain (F-EP); otherwise cutoffs are ignored.
    """

    label: str
    area_per_frame: bool = False
    core_weight: float = 0.0
    lowpass: bool = False


PRESETS: Mapping[str, Preset] = MappingProxyType({
    METHOD_EP2D: Preset("2D-EP", area_per_frame=True),
    METHOD_EP3D: Preset("3D-EP"),
    METHOD_STEP: Preset("STEP", core_weight=300.0),
    METHOD_FEP: Preset("F-EP", lowpass=True),
})  # fmt: skip
PERTURBATION_METHODS = tuple(PRESETS)
