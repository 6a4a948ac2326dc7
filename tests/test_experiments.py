"""The experiments runner: tables, resume after a kill, torchrun sharding, real-video folders."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fep.cli import main
from fep.experiments import parse_method, run_experiments, synthetic_clips

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


def test_fast_run_writes_table_summary_and_plots(uninterrupted):
    rows = list(csv.DictReader(_table(uninterrupted).splitlines()))
    assert len(rows) == 2 * len(METHODS)
    assert {r["method"] for r in rows} == set(METHODS)
    assert all(0 <= float(r["gt_ap"]) <= 1 and r["pointing_frame"] != "" for r in rows)
    for name in ("summary.md", "summary.json", "metrics.png", "pareto.png"):
        assert (uninterrupted / name).stat().st_size > 0
    assert "| `fep` |" in (uninterrupted / "summary.md").read_text()


def test_rerun_skips_finished_items(uninterrupted):
    before = {p: p.stat().st_mtime_ns for p in (uninterrupted / "items").iterdir()}
    rows = run_experiments(uninterrupted, METHODS, synthetic_clips(2), fast=True, progress=False)
    assert len(rows) == 6
    assert {p: p.stat().st_mtime_ns for p in (uninterrupted / "items").iterdir()} == before


def test_killed_run_resumes_to_the_same_table(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "fep", *ARGS, "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    items = out / "items"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if items.is_dir() and len(list(items.glob("*.json"))) >= 2:
            break
        time.sleep(0.05)  # polling a condition, not synchronising on time
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list(items.glob("*.json")))
    assert 2 <= finished < 6, "the kill should land midway"
    assert not (out / "table.csv").exists()
    assert main(ARGS + ["--out", str(out)]) == 0
    assert _table(out) == _table(uninterrupted)


def test_torchrun_two_processes_give_the_same_table(uninterrupted, tmp_path):
    out = tmp_path / "sharded"
    torchrun = Path(sys.executable).parent / "torchrun"
    done = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "-m", "fep", *ARGS, "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert _table(out) == _table(uninterrupted)


def test_folder_of_real_videos_skips_ground_truth(tmp_path):
    from fep.samples import sample_paths

    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(sample_paths(0)[0].read_bytes())
    out = tmp_path / "real"
    assert main(["experiments", "--fast", "--videos", str(folder), "--methods", "gradient", "--out", str(out)]) == 0
    row = next(csv.DictReader(_table(out).splitlines()))
    assert row["clip"] == "clip" and row["gt_ap"] == "" and float(row["deletion_auc"]) >= 0
    assert not (out / "pareto.png").exists()


def test_method_specs_and_bad_input(tmp_path, capsys):
    assert parse_method("fep[temporal_cutoff=0.1,filter=ideal,preserve_norm=False,mask_step=14]") == (
        "fep", {"temporal_cutoff": 0.1, "filter": "ideal", "preserve_norm": False, "mask_step": 14},
    )  # fmt: skip
    with pytest.raises(ValueError, match="Unknown method 'lime'"):
        parse_method("lime")
    assert main(["experiments", "--methods", "gradcam[", "--out", str(tmp_path / "x")]) == 2
    assert "Unknown method" in capsys.readouterr().err
    assert main(["experiments", "--videos", str(tmp_path / "none"), "--out", str(tmp_path / "y")]) == 2
    assert "No folder of videos" in capsys.readouterr().err
