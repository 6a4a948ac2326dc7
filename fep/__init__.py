"""fep: explain video classifiers with F-EP (frequency-based extremal perturbation).

The package in wings, each a folder; a wing imports only the ones listed before it (and the helpers
named at the end, which every wing may use):

- :mod:`fep.ep` — **the method**: the entry points ``extremal_perturbation`` and ``FEP``, every option
  in ``ExplanationSettings``, the four presets, the optimisation loop, the DCT low-pass and where it
  acts, perturbations, objectives, stopping, memory planning and the warm start;
- :mod:`fep.data` — the synthetic task with ground truth, its seed splits, the bundled sample clips,
  video files (independent of the method);
- :mod:`fep.models` — one registry of models (toy, trained on the synthetic task, Kinetics-400),
  their loading, preprocessing, weights download and training;
- :mod:`fep.baselines` — gradient baselines (gradient, SmoothGrad, Integrated Gradients, Grad-CAM-3D,
  occlusion) and frequency-modulated gradients;
- :mod:`fep.bench` — measuring explanations: map metrics, faithfulness metrics, the registry of
  methods, the experiments runner, its statistics, reports and plots;
- :mod:`fep.viz` — figures, the animation player and the interactive explorers (ipywidgets);
- :mod:`fep.course`, :mod:`fep.cli` — the notebooks' helpers and the ``fep`` command.

Beside them: :mod:`fep.errors` (:class:`FepError`, the base of every error about the input),
:mod:`fep.atomic` (files written whole or not at all) and :mod:`fep.testing` (tiny deterministic
models and clips for tests and examples).
"""

from fep.ep.api import FEP, extremal_perturbation
from fep.ep.dct import apply_response, dct, dct3, frequency_response, idct, idct3, lowpass
from fep.ep.explanation import Explanation
from fep.ep.settings import ExplanationSettings
from fep.errors import FepError

__version__ = "0.1.0"

__all__ = [
    "dct",
    "idct",
    "dct3",
    "idct3",
    "frequency_response",
    "apply_response",
    "lowpass",
    "extremal_perturbation",
    "FEP",
    "Explanation",
    "ExplanationSettings",
    "FepError",
    "__version__",
]
