"""Gradient baselines to compare F-EP with, and frequency-modulated gradients (:mod:`fep.baselines.gradients`)."""

from fep.baselines.gradients import *  # noqa: F403 - the wing's API is the module's __all__
from fep.baselines.gradients import __all__  # noqa: F401
