"""Shared pieces of the paired benchmarks: t tests over clips, Holm, the non-inferiority call, the report."""

from __future__ import annotations

import json
import statistics

from _timing import RESULTS

from fep.atomic import atomic_write
from fep.bench.stats import holm, paired_t

MARGIN = 0.02  # how much worse a faster default may be, in a metric's own units, and still count as as good


def paired_tests(new_rows: list[dict], old_rows: list[dict], metrics, **labels) -> list[dict]:
    """One paired t test of new − old over the clips per metric (a clip missing either value is left out)."""
    tests = []
    for metric in metrics:
        d = [n[metric] - o[metric] for n, o in zip(new_rows, old_rows, strict=True)
             if n[metric] is not None and o[metric] is not None]  # fmt: skip
        tests.append({**labels, "metric": metric, **paired_t(d)})
    return tests


def with_holm(tests: list[dict]) -> list[dict]:
    """Add each test's Holm-adjusted p over the whole table (``"holm"``)."""
    for test, p in zip(tests, holm([t["p"] for t in tests]), strict=True):
        test["holm"] = p
    return tests


def non_inferior(test: dict, lower_is_better) -> str:
    """"yes" where the worse end of the 95 % interval is within :data:`MARGIN`, else "no"."""
    d, ci, _ = test["difference"]
    worse_end = d + ci if test["metric"] in lower_is_better else -(d - ci)
    return "yes" if worse_end < MARGIN else "no"


def mean_present(rows: list[dict], metric: str) -> float:
    """Mean of a metric over the rows that have it."""
    return statistics.fmean(r[metric] for r in rows if r[metric] is not None)


def candidate_tables(result: dict, cost: str, base: str, metrics, lower_is_better) -> list[str]:
    """Markdown lines: each candidate's means (its cost first), then every paired test against ``base``."""
    lines = []
    for name, rows in result["rows"].items():
        means = [mean_present(rows, m) for m in (cost, *metrics)]
        lines.append(f"| {name} | {means[0]:.1f} | " + " | ".join(f"{v:.3f}" for v in means[1:]) + " |")
    lines += ["", f"Candidate − {base}, paired over the clips (95 % t), Holm over the table:", "",
              "| candidate | metric | difference | n | p (Holm) | non-inferior (margin 0.02) |", "|---" * 6 + "|"]
    for t in result["tests"]:
        d, ci, k = t["difference"]
        ok = "—" if t["metric"] == cost else non_inferior(t, lower_is_better)
        lines.append(f"| {t['candidate']} | {t['metric']} | {d:+.3f} ± {ci:.3f} | {k} | {t['holm']:.3g} | {ok} |")
    return lines


def write_report(stem: str, text: str, data: dict) -> None:
    """Write ``results/performance/<stem>.md`` and ``.json`` atomically, and print the table."""
    atomic_write(RESULTS / f"{stem}.md", lambda f: f.write(text.encode()))
    payload = json.dumps(data, indent=1).encode()
    atomic_write(RESULTS / f"{stem}.json", lambda f: f.write(payload))
    print(text)
