"""The experiments runner: tables, resume after a kill, torchrun sharding, real-video folders."""

import csv
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fep.bench.clips import synthetic_clips
from fep.bench.methods import parse_method
from fep.bench.runner import DELETION_STEPS, run_experiments
from fep.cli import main

METHODS = ["gradient", "ep3d", "fep"]
ARGS = ["experiments", "--fast", "--clips", "2", "--methods", *METHODS]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "plain"
    assert main(ARGS + ["--out", str(out)]) == 0
    return out


def _table(out: Path) -> str:
    return (out / "table.csv").read_text()


@pytest.mark.slow
def test_fast_run_writes_table_summary_and_plots(uninterrupted):
    rows = list(csv.DictReader(_table(uninterrupted).splitlines()))
    assert len(rows) == 2 * len(METHODS)
    assert {r["method"] for r in rows} == set(METHODS)
    assert all(0 <= float(r["gt_ap"]) <= 1 and r["pointing_frame"] != "" for r in rows)
    for name in ("summary.md", "summary.json", "metrics.png", "pareto.png"):
        assert (uninterrupted / name).stat().st_size > 0
    assert "| `fep` |" in (uninterrupted / "summary.md").read_text()


@pytest.mark.slow
def test_rerun_skips_finished_items(uninterrupted):
    before = {p: p.stat().st_mtime_ns for p in (uninterrupted / "items").iterdir()}
    rows = run_experiments(uninterrupted, METHODS, synthetic_clips(2), fast=True, progress=False)
    assert len(rows) == 6
    assert {p: p.stat().st_mtime_ns for p in (uninterrupted / "items").iterdir()} == before


def _check_no_corrupt_files(out: Path, reference: str) -> int:
    """Every finished item parses and a table, if written, is the whole table; returns the item count."""
    items = sorted((out / "items").glob("*.json")) if (out / "items").is_dir() else []
    for item in items:
        json.loads(item.read_text())
    if (out / "table.csv").exists():
        assert _table(out) == reference
    return len(items)


@pytest.mark.slow
def test_run_killed_at_random_points_resumes_to_the_same_table(uninterrupted, tmp_path):
    """SIGKILL three times at random moments (after a random number of items plus a random delay),
    resuming in between; then let it finish."""
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "fep", *ARGS, "--out", str(out)]
    reference = _table(uninterrupted)
    rng = random.Random(20261125)
    kills = 0
    for _ in range(3):
        start = _check_no_corrupt_files(out, reference)
        if start == 6:
            break
        wanted = min(6, start + rng.randint(1, 2))
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if len(list((out / "items").glob("*.json"))) >= wanted:
                break
            time.sleep(0.02)  # polling a condition, not synchronising on time
        time.sleep(rng.uniform(0.0, 0.5))  # the random part of the kill point
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        _check_no_corrupt_files(out, reference)
    assert kills >= 2, "at least two kills should land before the run ends"
    assert main(ARGS + ["--out", str(out)]) == 0
    assert _table(out) == reference
    assert not list(out.rglob("*.tmp")), "temporary files of killed writes are cleaned up"


@pytest.mark.slow
def test_torchrun_two_processes_give_the_same_table(uninterrupted, tmp_path):
    out = tmp_path / "sharded"
    torchrun = Path(sys.executable).parent / "torchrun"
    done = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "-m", "fep", *ARGS, "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert _table(out) == _table(uninterrupted)


@pytest.mark.slow
def test_folder_of_real_videos_skips_ground_truth(tmp_path):
    from fep.data.samples import sample_paths

    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(sample_paths(0)[0].read_bytes())
    out = tmp_path / "real"
    assert main(["experiments", "--fast", "--videos", str(folder), "--methods", "gradient", "--out", str(out)]) == 0
    row = next(csv.DictReader(_table(out).splitlines()))
    assert row["clip"] == "clip" and row["gt_ap"] == "" and float(row["deletion_auc"]) >= 0
    assert not (out / "pareto.png").exists()


def test_method_specs_and_bad_input(tmp_path, capsys):
    method, options = parse_method("fep[temporal_cutoff=0.1,filter_type=ideal,preserve_norm=False,mask_step=14]")
    assert (method.name, options) == (
        "fep", {"temporal_cutoff": 0.1, "filter_type": "ideal", "preserve_norm": False, "mask_step": 14},
    )  # fmt: skip
    with pytest.raises(ValueError, match="Unknown method 'lime'"):
        parse_method("lime")
    assert main(["experiments", "--methods", "gradcam[", "--out", str(tmp_path / "x")]) == 2
    assert "Unknown method" in capsys.readouterr().err
    assert main(["experiments", "--videos", str(tmp_path / "none"), "--out", str(tmp_path / "y")]) == 2
    assert "No folder of videos" in capsys.readouterr().err


@pytest.mark.slow
def test_a_family_with_the_sanity_column_pairs_fep_with_3d_ep(tmp_path):
    # The documented command (`fep experiments --family brief --sanity`) on the toy model: the whole table.
    out = tmp_path / "brief"
    args = ["experiments", "--fast", "--family", "brief", "--clips", "2", "--sanity", "--sanity-clips", "1",
            "--sanity-inits", "1"]  # fmt: skip
    assert main([*args, "--methods", *METHODS, "--out", str(out)]) == 0
    rows = list(csv.DictReader(_table(out).splitlines()))
    assert {r["family"] for r in rows} == {"brief"} and len(rows) == 6
    checked = [r for r in rows if r["randomisation_all"]]
    assert len(checked) == 3 and {r["clip"] for r in checked} == {"brief_620000"}  # the first clip only
    for row in rows:
        assert 0 <= float(row["temporal_localisation"]) <= 1 and math.isfinite(float(row["game_keep"]))
    for row in checked:
        assert 0 <= float(row["randomisation_all"]) < 0.99  # |rho|: each of these depends on the model
    summary = (out / "summary.md").read_text()
    assert "### brief" in summary and "| compared with | F-EP − other |" in summary and "randomisation_all" in summary
    assert "Randomisation check: cascading over" in summary and "(n=1)" in summary
    for name in ("metrics_brief.png", "pareto_brief.png", "curves_brief.png", "randomisation_brief.png"):
        assert (out / name).stat().st_size > 0
    curve = json.loads(next((out / "items").glob("*__fep.json")).read_text())["deletion_curve"]
    assert len(curve) == DELETION_STEPS[0] + 1 and curve[0] >= curve[-1]  # log-spaced steps after the intact clip


@pytest.mark.slow
def test_the_deep_model_through_the_same_command(tmp_path):
    # `--model mc3_18_synthetic`: the shipped deep model loads by name, explains a family clip, is scored
    # by every metric, and its re-initialised architecture changes the explanation. The table, the pairing
    # and the plots are the toy model's test above (the same code); here one optimisation step of one
    # method is enough (rho 0.53 on this clip), since one deep step at two areas costs about 3 s here.
    out = tmp_path / "deep"
    args = ["experiments", "--fast", "--family", "brief", "--clips", "1", "--model", "mc3_18_synthetic", "--sanity",
            "--sanity-inits", "1"]  # fmt: skip
    assert main([*args, "--methods", "fep[iterations=1]", "--out", str(out)]) == 0
    (row,) = csv.DictReader(_table(out).splitlines())
    assert row["method"] == "fep[iterations=1]" and row["family"] == "brief"
    assert 0 <= float(row["temporal_localisation"]) <= 1 and 0 <= float(row["gt_ap"]) <= 1
    assert 0 <= float(row["randomisation_all"]) < 0.99  # |rho|: the explanation depends on the weights
    assert json.loads((out / "summary.json").read_text())["info"]["model_name"] == "mc3_18_synthetic"
    curve = json.loads(next((out / "items").glob("*.json")).read_text())["deletion_curve"]
    assert len(curve) == DELETION_STEPS[0] + 1 and curve[0] >= curve[-1]


@pytest.mark.slow
def test_a_method_that_ignores_the_model_scores_randomisation_correlation_one(tmp_path, monkeypatch):
    from types import MappingProxyType

    import fep.bench.clips
    import fep.bench.methods
    import fep.bench.runner
    from fep.bench.methods import GRADIENT, REGISTRY, Method

    edges = Method("edges", "edges", GRADIENT, "fep.testing:clip_edges")
    registry = MappingProxyType({**REGISTRY, "edges": edges})
    monkeypatch.setattr(fep.bench.methods, "REGISTRY", registry)
    monkeypatch.setattr(fep.bench.runner, "REGISTRY", registry)
    clips = fep.bench.clips.family_clips(1, ["motion", "lookalike"])
    rows = run_experiments(tmp_path, ["edges", "gradient"], clips, fast=True, progress=False, sanity=True)
    score = {(r["clip"], r["method"]): r["randomisation_rank_corr"] for r in rows}
    for clip in clips:
        assert score[(clip.id, "edges")] == pytest.approx(1.0)
        assert score[(clip.id, "gradient")] < 0.9  # the toy model's gradient changes with its weights
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["summary"]) == {"motion", "lookalike"}
    assert summary["paired"] == {"motion": {}, "lookalike": {}}  # no F-EP in the run: nothing to pair


def test_paired_differences_and_verdicts_from_hand_made_items(tmp_path):
    from fep.bench.report import merge

    values = {"gradient": [0.9, 0.9, 0.9], "ep3d": [0.4, 0.5, 0.6], "fep": [0.5, 0.6, 0.7]}
    deletion = {"gradient": [0.3, 0.5, 0.4], "ep3d": [0.2, 0.6, 0.4], "fep": [0.3, 0.5, 0.4]}
    rho = {"gradient": 0.9, "ep3d": 0.1, "fep": -0.3}  # |rho| is compared: -0.3 shares more than 0.1
    (tmp_path / "items").mkdir()
    clips = ["brief_1", "brief_2", "brief_3"]
    for method in values:
        for i, clip in enumerate(clips):
            row = {"clip": clip, "family": "brief", "method": method, "target": 0, "seconds": 1.0,
                   "gt_ap": values[method][i], "deletion_auc": deletion[method][i],
                   "randomisation_rank_corr": rho[method]}  # fmt: skip
            (tmp_path / "items" / f"{clip}__{method}.json").write_text(json.dumps(row))
    # The best other method comes from a tuning run: here, say, the gradient for gt_ap.
    merge(tmp_path, clips, list(values), best_other={"brief": {"gt_ap": "gradient"}})
    paired = json.loads((tmp_path / "summary.json").read_text())["paired"]["brief"]
    d, ci, n = paired["gt_ap"]["3D-EP"]["difference"]
    assert (d, ci, n) == (pytest.approx(0.1), pytest.approx(0.0, abs=1e-12), 3)  # +0.1 on every clip
    best = paired["gt_ap"]["best"]
    t_975 = 4.302652729749462  # Student's t, 2 degrees of freedom
    assert best["method"] == "gradient" and best["difference"][0] == pytest.approx(-0.3)
    assert best["difference"][1] == pytest.approx(t_975 * 0.1 / 3**0.5)  # sd of (-0.4, -0.3, -0.2) is 0.1
    assert best["p"] == pytest.approx(0.035099, abs=1e-5)  # two-sided paired t test, t = 5.196 on 2 df
    # Holm over the table's 4 comparisons (p = 0, 0, 0.0351, 1): the loss to the gradient is 2 x 0.0351 > 0.05
    assert best["p_holm"] == pytest.approx(2 * best["p"]) and best["verdict"] == "tie"
    assert paired["gt_ap"]["3D-EP"]["verdict"] == "F-EP wins"
    d, ci, _ = paired["deletion_auc"]["3D-EP"]["difference"]  # +0.1, -0.1, 0: a tie
    assert d == pytest.approx(0.0, abs=1e-12) and ci == pytest.approx(t_975 * 0.1 / 3**0.5)
    assert paired["deletion_auc"]["3D-EP"]["verdict"] == "tie"
    assert paired["randomisation_rank_corr"]["3D-EP"]["difference"][0] == pytest.approx(0.2)  # |rho|: F-EP loses
    assert paired["randomisation_rank_corr"]["3D-EP"]["verdict"] == "F-EP loses"
    summary = (tmp_path / "summary.md").read_text()
    assert "| gt_ap | gradient (best on tuning) | -0.300 ± 0.248 | 3 | 0.0351 | 0.0702 | tie |" in summary
    from fep.bench.report import load_summary, summary_table
    from fep.errors import FepValueError

    table = summary_table(load_summary(tmp_path), "brief", ["gt_ap"])
    assert "| F-EP | 0.600 ± 0.248 (n=3) |" in table and "| gradient | 0.900 ± 0.000 (n=3) |" in table
    with pytest.raises(FepValueError, match="No family 'scene'"):
        summary_table(load_summary(tmp_path), "scene", ["gt_ap"])


@pytest.mark.slow
def test_a_full_run_does_not_reuse_items_of_a_fast_run(tmp_path):
    clips = synthetic_clips(1)
    run_experiments(tmp_path, ["gradient"], clips, fast=True, progress=False)
    item = next((tmp_path / "items").glob("*.json"))
    fast = json.loads(item.read_text())
    assert fast["fast"] is True and len(fast["deletion_curve"]) == DELETION_STEPS[0] + 1
    rows = run_experiments(tmp_path, ["gradient"], clips, fast=False, progress=False)
    again = json.loads(item.read_text())
    assert again["fast"] is False and len(again["deletion_curve"]) == DELETION_STEPS[1] + 1  # the full budget
    assert len(rows) == 1
