"""Pictures: figures for notebooks and files (:mod:`~fep.viz.figures`), line plots
(:mod:`~fep.viz.plots`), the animation player (:mod:`~fep.viz.player`), the course's diagram
(:mod:`~fep.viz.diagram`) and the interactive explorers (:mod:`~fep.viz.widgets`).
``from fep import viz`` gives every figure function."""

from fep.viz import anatomy, diagram, figures, player, plots
from fep.viz.anatomy import *  # noqa: F403
from fep.viz.diagram import *  # noqa: F403 - each module's __all__ is the wing's API
from fep.viz.figures import *  # noqa: F403
from fep.viz.player import *  # noqa: F403
from fep.viz.plots import *  # noqa: F403

__all__ = [*anatomy.__all__, *figures.__all__, *player.__all__, *plots.__all__, *diagram.__all__]
