"""The checks of the options whose values mix numbers and names (:mod:`fep.ep.settings` uses them)."""

from __future__ import annotations

from fep.ep.checks import check_positive_int, check_unit_interval
from fep.ep.lowpass import CUTOFF_SCHEDULE_LINEAR
from fep.ep.presets import INIT_SALIENCY, INIT_SALIENCY_SMOOTH
from fep.ep.stopping import AUTO
from fep.errors import FepValueError

__all__ = ["check_iterations", "check_init", "check_cutoff_schedule"]


def check_iterations(name: str, value) -> int | str:
    """``"auto"`` or a positive integer."""
    if value == AUTO:
        return value
    if isinstance(value, str):
        raise FepValueError(f"{name} must be 'auto' or a positive integer, got {value!r}.")
    return check_positive_int(name, value)


def check_init(name: str, value):
    """None, a warm start's name, or a mask value in [0, 1]."""
    return value if value in (None, INIT_SALIENCY, INIT_SALIENCY_SMOOTH) else check_unit_interval(name, value)


def check_cutoff_schedule(name: str, value):
    """None, ``"linear"`` or a function (iteration, iterations) -> (temporal_cutoff, spatial_cutoff)."""
    if value is None or value == CUTOFF_SCHEDULE_LINEAR or callable(value):
        return value
    raise FepValueError(
        f"Unknown {name} {value!r}; pass None, 'linear' or a function (iteration, iterations) -> "
        "(temporal_cutoff, spatial_cutoff)."
    )
