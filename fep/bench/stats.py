"""Statistics of a results table: means with intervals, and paired differences between methods over clips."""

from __future__ import annotations

import math
from collections.abc import Sequence

from fep.bench.methods import label_of
from fep.ep.presets import METHOD_EP3D, METHOD_FEP

__all__ = ["HIGHER_IS_BETTER", "mean_ci", "paired_differences", "paired_value", "verdict"]

# Which way is better for each metric (the paired differences and "best other" use it).
HIGHER_IS_BETTER = {
    "pointing_frame", "pointing_clip", "gt_ap", "mass_in_gt", "insertion_auc", "temporal_consistency",
    "temporal_localisation",
}  # fmt: skip


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % interval, NaN and None ignored."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, 1.96 * math.sqrt(var / len(values))


def paired_differences(
    rows: list[dict], methods: Sequence[str], shown: Sequence[str], method: str = METHOD_FEP,
    baseline: str = METHOD_EP3D,
) -> dict:
    """Per metric: ``method`` - ``baseline`` and ``method`` - the best other method by mean, paired over
    clips (mean, 95 %). Entries are keyed by the baseline's label and ``"best"``."""
    if method not in methods:
        return {}
    by = {(r["clip"], r["method"]): r for r in rows}
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    result = {}
    for key in shown:
        if key in ("temporal_consistency",):  # the complement of temporal_difference: said once
            continue
        sign = 1 if key in HIGHER_IS_BETTER else -1
        value = paired_value(key)
        means = {m: mean_ci([value(by[(c, m)]) for c in clips])[0] for m in methods}
        others = [m for m in methods if m != method and not math.isnan(means[m])]
        if math.isnan(means[method]) or not others:
            continue
        best = max(others, key=lambda m: sign * means[m])
        entry = {}
        for label, other in ((label_of(baseline), baseline), ("best", best)):
            if other in methods:
                diffs = [value(by[(c, method)]) - value(by[(c, other)]) for c in clips]
                better = "higher" if sign > 0 else "lower"
                entry[label] = {"method": other, "difference": mean_ci(diffs), "better_if": better}
        result[key] = entry
    return result


def paired_value(key: str):
    """What the paired comparison compares: the metric, except for the randomisation check, where any
    sign of correlation with the re-initialised model's explanation is shared structure, so |rho|."""
    if key == "randomisation_rank_corr":
        return lambda row: abs(row.get(key, math.nan))
    return lambda row: row.get(key, math.nan)


def verdict(difference: tuple[float, float], better_if: str, method: str = METHOD_FEP) -> str:
    """"tie" when the interval holds 0, else whether ``method`` wins or loses."""
    mean, ci = difference
    if math.isnan(ci) or abs(mean) <= ci:
        return "tie"
    return f"{label_of(method)} {'wins' if (mean > 0) == (better_if == 'higher') else 'loses'}"
