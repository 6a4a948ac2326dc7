"""The data the course and the benchmark explain: the synthetic task with ground truth
(:mod:`~fep.data.synthetic`), the bundled sample clips (:mod:`~fep.data.samples`) and video files
(:mod:`~fep.data.video`: decord or PyAV in, PyAV out)."""

import os
from pathlib import Path

__all__ = ["DATA_DIR"]

# The repository's data/ folder (weights, model cards, sample clips); FEP_DATA points elsewhere.
DATA_DIR = Path(os.environ.get("FEP_DATA", Path(__file__).resolve().parent.parent.parent / "data"))
