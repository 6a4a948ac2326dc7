"""Measuring explanations: over many clips, with ground truth where the task has it.

- :mod:`~fep.bench.map_metrics` — numbers about saliency maps alone (smoothness, ground truth, rank correlation);
- :mod:`~fep.bench.faithfulness` — numbers that run the model (deletion/insertion, kept probability);
- :mod:`~fep.bench.methods` — the registry of every method (the four perturbation presets and the
  gradient baselines), method specs such as ``"fep[temporal_cutoff=0.1]"``;
- :mod:`~fep.bench.clips` — what is explained (held-out synthetic clips, or a folder of videos);
- :mod:`~fep.bench.runner` — methods × clips → items, resumable and shardable;
- :mod:`~fep.bench.stats`, :mod:`~fep.bench.report`, :mod:`~fep.bench.plots` — the table, its
  statistics and pictures.

This wing may import the method (:mod:`fep.ep`), the baselines, data and models; none of them imports it.
"""

from fep.bench.clips import Clip, family_clips, small_actor_clips, synthetic_clips, video_clips
from fep.bench.faithfulness import deletion_insertion, kept_probability, removal_fractions
from fep.bench.map_metrics import (
    auc,
    dilate,
    frame_changes,
    ground_truth_ap,
    high_frequency_share,
    mass_in_ground_truth,
    pointing_game,
    rank_correlation,
    saliency_spectrum,
    spectral_concentration,
    spectrum_profile,
    temporal_difference,
    temporal_localisation,
    total_variation,
)
from fep.bench.report import METRICS, load_summary, merge, summary_table
from fep.bench.runner import ABLATION_METHODS, DEFAULT_METHODS, DESIGN_METHODS, run_experiments

__all__ = [
    "temporal_difference", "frame_changes", "spectral_concentration", "high_frequency_share", "saliency_spectrum",
    "spectrum_profile", "total_variation", "pointing_game", "ground_truth_ap", "dilate", "mass_in_ground_truth",
    "temporal_localisation", "rank_correlation", "auc", "deletion_insertion", "kept_probability", "removal_fractions",
    "Clip", "synthetic_clips", "family_clips", "video_clips", "small_actor_clips", "run_experiments", "merge",
    "load_summary", "summary_table", "METRICS", "DEFAULT_METHODS", "ABLATION_METHODS", "DESIGN_METHODS",
]  # fmt: skip
