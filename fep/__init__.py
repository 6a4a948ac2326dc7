"""fep: explain video classifiers with F-EP (frequency-based extremal perturbation).

The pipeline, one module per step:

- :mod:`fep.dct` — orthonormal DCT and the low-pass responses that modulate gradients;
- :mod:`fep.perturbation` — the blur/fade pyramid of a clip and the smooth masks that select from it;
- :mod:`fep.objectives` — rewards, the area constraint and STEP's core loss;
- :mod:`fep.methods` — the registry of methods: the four perturbation presets and the gradient baselines;
- :mod:`fep.settings` — ``ExplanationSettings``, every option of an explanation, checked once;
- :mod:`fep.lowpass` — where F-EP's low-pass acts in a step (gradient, reward gradient, update, parametrisation);
- :mod:`fep.engine` — the optimisation loop (``optimise_masks``) and one chunk's energy;
- :mod:`fep.explain` — the entry points ``extremal_perturbation`` and ``FEP``;
- :mod:`fep.explanation` — the result object, saved and loaded as one safe ``.npz``;
- :mod:`fep.model_state` — borrowing a user's model and giving it back as it was;
- :mod:`fep.synthetic`, :mod:`fep.samples` — the synthetic task with ground truth and the bundled clips;
- :mod:`fep.video`, :mod:`fep.models` — decord/PyAV I/O; the toy model and torchvision's Kinetics zoo
  (weights downloaded into the torch hub cache);
- :mod:`fep.gradients` — gradient baselines and frequency-modulated gradients;
- :mod:`fep.metrics`, :mod:`fep.experiments` — what a good explanation is, measured over many clips;
- :mod:`fep.viz`, :mod:`fep.widgets` — pictures and interactive explorers;
- :mod:`fep.cli` — the ``fep`` command (demo, explain, experiments);
- :mod:`fep.errors` — :class:`FepError`, the base of every error about the input;
- :mod:`fep.testing` — tiny deterministic models and clips for tests and examples.
"""

from fep.dct import dct, dct3, frequency_response, idct, idct3, lowpass, modulate
from fep.errors import FepError
from fep.explain import FEP, extremal_perturbation
from fep.explanation import Explanation
from fep.settings import ExplanationSettings

__version__ = "0.1.0"

__all__ = [
    "dct",
    "idct",
    "dct3",
    "idct3",
    "frequency_response",
    "modulate",
    "lowpass",
    "extremal_perturbation",
    "FEP",
    "Explanation",
    "ExplanationSettings",
    "FepError",
    "__version__",
]
