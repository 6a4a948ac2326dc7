"""fep: explain video classifiers with F-EP (frequency-based extremal perturbation).

The pipeline, one module per step:

- :mod:`fep.dct` — orthonormal DCT and the low-pass responses that modulate gradients.
"""

from fep.dct import dct, dct3, frequency_response, idct, idct3, lowpass, modulate

__version__ = "0.1.0"

__all__ = ["dct", "idct", "dct3", "idct3", "frequency_response", "modulate", "lowpass", "__version__"]
