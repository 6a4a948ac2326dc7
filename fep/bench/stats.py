"""Statistics of a results table: means with t intervals, paired comparisons over clips, Holm's correction.

Every interval is Student's t at 95 % (``t_{0.975, n-1} · s / √n``: with 6 clips the normal 1.96 would be
31 % too narrow). A comparison of two methods is paired over the clips both scored; its p-value is the
two-sided paired t test's, and the verdicts of one (model, family) table are decided on p-values
corrected for the number of comparisons in it (Holm 1979), so a table of 30 comparisons does not
produce a "win" by chance. The "best other method" a method is compared with is chosen on the tuning
split (:func:`choose_best_other` on a tuning run's summary), never on the clips of the comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from scipy import stats as scipy_stats

from fep.bench.methods import label_of
from fep.ep.presets import METHOD_EP3D, METHOD_FEP

__all__ = [
    "ALPHA", "HIGHER_IS_BETTER", "mean_ci", "paired_t", "holm", "paired_differences", "paired_value",
    "choose_best_other", "verdict",
]  # fmt: skip

ALPHA = 0.05
# Which way is better for each metric (the paired differences and "best other" use it).
HIGHER_IS_BETTER = {
    "pointing_frame", "pointing_clip", "gt_ap", "mass_in_gt", "insertion_auc", "insertion_margin_auc",
    "game_keep", "temporal_consistency", "temporal_localisation",
}  # fmt: skip
# Said once: a metric that is another's complement is not compared again.
_NOT_COMPARED = {"temporal_consistency", "margin_gap", "gt_temporal_difference", "gt_spatial_tv", "game_tied"}


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and not math.isnan(v)]


def mean_ci(values) -> tuple[float, float, int]:
    """Mean, the half-width of its 95 % t interval and n, None and NaN left out."""
    values = _finite(values)
    n = len(values)
    if not n:
        return math.nan, math.nan, 0
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(scipy_stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n), n


def paired_t(differences) -> dict:
    """Paired differences: mean, 95 % t half-width, n and the two-sided p-value of the paired t test."""
    values = _finite(differences)
    mean, half, n = mean_ci(values)
    if n < 2:
        return {"difference": [mean, half, n], "p": math.nan}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    if sd == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(2 * scipy_stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))
    return {"difference": [mean, half, n], "p": p}


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count as a test)."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if p == p)
    adjusted, running = [math.nan] * len(pvalues), 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def paired_value(key: str):
    """What the paired comparison compares: the metric, except for the randomisation check, where any
    sign of correlation with the re-initialised model's explanation is shared structure, so |rho|."""
    if key.startswith("randomisation"):
        return lambda row: abs(v) if (v := row.get(key)) is not None else math.nan
    return lambda row: math.nan if row.get(key) is None else row[key]


def choose_best_other(table: Mapping[str, Mapping], metrics: Sequence[str], method: str = METHOD_FEP) -> dict:
    """Per metric, the method other than ``method`` with the best mean in ``table`` (one family of a
    summary: method → metric → (mean, ci, n)); meant for a *tuning* run's summary."""
    best = {}
    for key in metrics:
        sign = 1 if key in HIGHER_IS_BETTER else -1
        means = {m: values[key][0] for m, values in table.items() if m != method and key in values}
        means = {m: v for m, v in means.items() if v == v}
        if means:
            best[key] = max(means, key=lambda m: sign * means[m])
    return best


def paired_differences(
    rows: list[dict],
    methods: Sequence[str],
    shown: Sequence[str],
    method: str = METHOD_FEP,
    baseline: str = METHOD_EP3D,
    best_other: Mapping[str, str] | None = None,
) -> dict:
    """Per metric: ``method`` − ``baseline`` and ``method`` − the best other method (from ``best_other``,
    chosen on the tuning split; left out without it), paired over the clips both scored. Each entry has
    the difference (mean, 95 % t half-width, n), its p-value, the Holm-corrected p-value over every
    comparison of this table, and the verdict."""
    if method not in methods:
        return {}
    by = {(r["clip"], r["method"]): r for r in rows}
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    result, entries = {}, []
    for key in (k for k in shown if k not in _NOT_COMPARED):
        value, better = paired_value(key), "higher" if key in HIGHER_IS_BETTER else "lower"
        others = [(label_of(baseline), baseline), ("best", (best_other or {}).get(key))]
        for label, other in others:
            if other is None or other == method or other not in methods:
                continue
            pairs = [(value(by[(c, method)]), value(by[(c, other)])) for c in clips if (c, other) in by]
            diffs = [a - b for a, b in pairs if a == a and b == b]
            if len(diffs) < 2:
                continue
            entry = {"method": other, "better_if": better, **paired_t(diffs)}
            result.setdefault(key, {})[label] = entry
            entries.append(entry)
    for entry, adjusted in zip(entries, holm([e["p"] for e in entries]), strict=True):
        entry["p_holm"] = adjusted
        entry["verdict"] = verdict(entry, method)
    return result


def verdict(entry: Mapping, method: str = METHOD_FEP) -> str:
    """ "tie" unless the Holm-corrected p-value is below :data:`ALPHA`; then whether ``method`` wins or loses."""
    p = entry.get("p_holm", entry.get("p", math.nan))
    mean = entry["difference"][0]
    if not p < ALPHA:
        return "tie"
    return f"{label_of(method)} {'wins' if (mean > 0) == (entry['better_if'] == 'higher') else 'loses'}"
