"""The data the course and the benchmark explain: the synthetic task with ground truth
(:mod:`~fep.data.synthetic`), the bundled sample clips (:mod:`~fep.data.samples`) and video files
(:mod:`~fep.data.video`: decord or PyAV in, PyAV out)."""

import os
from pathlib import Path

__all__ = ["DATA_DIR"]

# The shipped data (weights, model cards, sample clips): the repository's data/ folder in a checkout, the
# package's _data/ folder in an installed wheel; FEP_DATA points elsewhere.
_CHECKOUT, _INSTALLED = Path(__file__).resolve().parents[2] / "data", Path(__file__).resolve().parents[1] / "_data"
DATA_DIR = Path(os.environ.get("FEP_DATA") or (_CHECKOUT if (_CHECKOUT / "toy_model.pt").exists() else _INSTALLED))
