"""Models: one registry (:mod:`~fep.models.registry`), the networks fep defines
(:mod:`~fep.models.networks`), loading and preprocessing (:mod:`~fep.models.loading`), Kinetics-400
downloads (:mod:`~fep.models.download`) and training on the synthetic task (:mod:`~fep.models.train`)."""

from fep.models import download, loading, networks, registry
from fep.models.download import *  # noqa: F403 - each module's __all__ is the wing's API
from fep.models.loading import *  # noqa: F403
from fep.models.networks import *  # noqa: F403
from fep.models.registry import *  # noqa: F403

__all__ = [*loading.__all__, *download.__all__, *networks.__all__, *registry.__all__]
