"""The method: extremal perturbation of video, with F-EP's DCT low-pass of the mask's gradient.

Read in this order: :mod:`~fep.ep.api` (the entry points) → :mod:`~fep.ep.settings` (every option,
defined once) → :mod:`~fep.ep.presets` (2D-EP, 3D-EP, STEP, F-EP as data) → :mod:`~fep.ep.engine`
(the loop, ``optimise_masks``) → :mod:`~fep.ep.problem` (what is planned once) and the pieces it uses:
:mod:`~fep.ep.dct` and :mod:`~fep.ep.lowpass` (the low-pass and where it acts),
:mod:`~fep.ep.perturbation`, :mod:`~fep.ep.objectives`, :mod:`~fep.ep.stopping`,
:mod:`~fep.ep.memory`, :mod:`~fep.ep.warm_start`, :mod:`~fep.ep.model_state` and
:mod:`~fep.ep.checks` (every input check). The result is an :class:`~fep.ep.explanation.Explanation`.

This wing imports nothing from the others (baselines, data, models, bench, viz, course, cli).
"""

from fep.ep.api import FEP, extremal_perturbation
from fep.ep.explanation import Explanation
from fep.ep.presets import PERTURBATION_METHODS, PRESETS, Preset
from fep.ep.settings import ExplanationSettings

__all__ = [
    "extremal_perturbation", "FEP", "Explanation", "ExplanationSettings", "Preset", "PRESETS", "PERTURBATION_METHODS",
]  # fmt: skip
