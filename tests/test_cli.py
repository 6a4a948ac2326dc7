import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from fep.cli import main
from fep.data.samples import SAMPLES_DIR

SAMPLE = SAMPLES_DIR / "sample_02.mp4"
EXPECTED = ["comparison.png", "overlay.gif", "overlay.mp4", "summary.json"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("fep")
    return err[0]


@pytest.mark.slow
def test_explain_writes_every_output(tmp_path, capsys):
    out = tmp_path / "run"
    code = main([
        "explain", str(SAMPLE), "--model", "toy", "--iterations", "3", "--areas", "0.1", "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPECTED + ["fep_masks.npz"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "toy" and summary["methods"]["fep"]["iterations"] == 3
    assert summary["target"]["index"] == summary["predicted"]["index"]
    printed = capsys.readouterr().out
    assert "predicted:" in printed and str(out / "overlay.gif") in printed
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left


@pytest.mark.slow
def test_explain_with_target_by_name_and_method(tmp_path):
    out = tmp_path / "named"
    assert main([
        "explain", str(SAMPLE), "--model", "toy", "--iterations", "2", "--target", "moves up",
        "--method", "ep2d", "--out", str(out),
    ]) == 0  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"] == {"index": 3, "name": "moves up"} and "ep2d" in summary["methods"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["explain", "missing.mp4", "--model", "toy"], "No video file at missing.mp4"),
        (["explain", str(SAMPLE), "--model", "resnet9000"], "invalid choice: 'resnet9000'"),
        (["explain", str(SAMPLE), "--model", "toy", "--areas", "0.1,1.5"], "Area 1.5 is outside (0, 1)"),
        (["explain", str(SAMPLE), "--model", "toy", "--areas", "big"], "not a comma-separated list"),
        (["explain", str(SAMPLE), "--model", "toy", "--target", "dancing"], "Unknown class name 'dancing'"),
        (["explain", str(SAMPLE), "--model", "toy", "--iterations", "0"], "--iterations must be a positive integer"),
        (["demo", "--sample", "99"], "No video file"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_output(tmp_path, capsys, argv, message):
    assert main(argv + ["--out", str(tmp_path / "out")]) == 2
    assert message in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_existing_output_folder_is_not_overwritten_without_force(tmp_path, capsys):
    out = tmp_path / "keep"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    assert main(["explain", str(SAMPLE), "--model", "toy", "--iterations", "1", "--out", str(out)]) == 2
    assert "already exists; pass --force" in _one_error_line(capsys)
    assert [p.name for p in out.iterdir()] == ["precious.txt"]
    assert main(["explain", str(SAMPLE), "--model", "toy", "--iterations", "1", "--out", str(out), "--force"]) == 0
    assert not (out / "precious.txt").exists() and (out / "summary.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]


@pytest.mark.slow
def test_demo_writes_both_methods_and_a_gif_of_t_frames(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--iterations", "3", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPECTED + ["ep3d_masks.npz", "fep_masks.npz"])
    with Image.open(out / "overlay.gif") as gif:
        assert gif.n_frames == 16
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["methods"]) == {"fep", "ep3d"}
    assert summary["ground_truth"]["class"] in ("moves right", "moves left", "moves down", "moves up")
    printed = capsys.readouterr().out
    assert "F-EP" in printed and "3D-EP" in printed and "evidence" in printed


@pytest.mark.slow
def test_help_of_every_subcommand_and_both_entry_points():
    bin_dir = Path(sys.executable).parent
    for argv in ([str(bin_dir / "fep"), "--help"], [sys.executable, "-m", "fep", "demo", "--help"],
                 [str(bin_dir / "fep"), "explain", "--help"]):  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "usage:" in done.stdout


def test_input_error_is_one_line_and_exit_2_but_debug_shows_the_traceback(tmp_path, capsys):
    missing = str(tmp_path / "missing.mp4")
    assert main(["explain", missing, "--model", "toy", "--out", str(tmp_path / "o")]) == 2
    assert "No video file" in _one_error_line(capsys)
    for argv in (["--debug", "explain", missing, "--model", "toy"], ["explain", missing, "--model", "toy", "--debug"]):
        assert main([*argv, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "FepFileNotFoundError" in err


def test_an_internal_error_is_a_bug_exit_1_with_its_traceback(tmp_path, capsys, monkeypatch):
    import fep.cli.explain

    def broken(*args, **kwargs):
        raise ValueError("an internal invariant failed")  # a plain ValueError is fep's bug, not bad input

    monkeypatch.setattr(fep.cli.explain, "extremal_perturbation", broken)
    out = tmp_path / "run"
    assert main(["explain", str(SAMPLE), "--model", "toy", "--iterations", "2", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "an internal invariant failed" in err
    assert "internal error" in err.splitlines()[-1]
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing half-written


@pytest.mark.slow
def test_auto_iterations_are_reported_and_device_is_checked(tmp_path, capsys):
    out = tmp_path / "auto"
    assert main(["explain", str(SAMPLE), "--model", "toy", "--areas", "0.1", "--device", "cpu", "--out", str(out)]) == 0
    fep = json.loads((out / "summary.json").read_text())["methods"]["fep"]
    assert fep["iterations"] == "auto" and fep["stop_reason"] == ["converged"] and fep["iterations_used"][0] < 100
    assert main(["explain", str(SAMPLE), "--model", "toy", "--device", "tpu", "--out", str(tmp_path / "x")]) == 2
    assert "Unknown --device 'tpu'" in capsys.readouterr().err


# --- a researcher's own checkpoint and the details of the command line ---


def _fine_tuned_r3d(tmp_path, whole: bool = False) -> Path:
    import torch
    import torchvision

    net = torchvision.models.video.r3d_18(weights=None)
    net.fc = torch.nn.Linear(512, 5)  # fine-tuned to five classes
    path = tmp_path / ("whole.pt" if whole else "my_r3d5.pt")
    torch.save(net if whole else net.state_dict(), path)
    return path


@pytest.mark.slow
def test_a_fine_tuned_checkpoint_explains_a_clip_with_its_own_class_names(tmp_path, capsys):
    weights = _fine_tuned_r3d(tmp_path)
    (tmp_path / "classes.txt").write_text("jump\nrun\nsit\nstand\nwave\n")
    out = tmp_path / "run"
    code = main([
        "explain", str(SAMPLE), "--model", "r3d_18", "--weights", str(weights),
        "--classes", str(tmp_path / "classes.txt"), "--frames", "4", "--size", "32", "--iterations", "2",
        "--areas", "0.1", "--out", str(out), "--offline",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["predicted"]["name"] in ("jump", "run", "sit", "stand", "wave")
    assert summary["target"]["name"] == summary["predicted"]["name"] and summary["weights"] == str(weights)
    assert summary["versions"]["fep"] and summary["versions"]["torch"]
    settings = summary["methods"]["fep"]["settings"]
    assert settings["iterations"] == 2 and settings["areas"] == [0.1] and settings["target"] == "given"
    rows = summary["methods"]["fep"]["evidence_at_area"]["0.1"]["rows"]
    assert rows is None or 0 <= rows[0] <= rows[1] <= 31  # first and last row, both inside the 32-px clip
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # the umask's mode, not mkdtemp's 0700


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_whole_saved_module_is_refused_with_the_fix(tmp_path, capsys):
    weights = _fine_tuned_r3d(tmp_path, whole=True)
    out = tmp_path / "out"
    assert main(["explain", str(SAMPLE), "--model", "r3d_18", "--weights", str(weights), "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert "holds a pickled torchvision.models.video.resnet.VideoResNet" in line and "weights_only=True" in line
    assert "torch.save(model.state_dict(), path)" in line and not out.exists()


def test_frames_1_fails_before_any_model_is_built(tmp_path, capsys, monkeypatch):
    import fep.models

    def never(*args, **kwargs):
        raise AssertionError("the model must not be built")

    monkeypatch.setattr(fep.models, "load_model", never)
    assert main(["explain", str(SAMPLE), "--model", "toy", "--frames", "1", "--out", str(tmp_path / "o")]) == 2
    assert "--frames 1: an explanation over time needs at least 2 frames" in _one_error_line(capsys)


def test_only_models_that_can_run_here_are_offered():
    from fep.cli import build_parser
    from fep.models.registry import REGISTRY, available_models

    explain = build_parser()._subparsers._group_actions[0].choices["explain"]
    model = next(a for a in explain._actions if a.dest == "model")
    assert "mc3_18_synthetic" in model.choices and "mc3_18_synthetic" in model.help
    missing = [n for n, s in REGISTRY.items() if s.shipped and not s.weights_file.is_file()]
    assert missing and not set(missing) & set(model.choices)  # e.g. r3d_18_synthetic is not shipped
    assert tuple(model.choices) == available_models()


@pytest.mark.slow
def test_a_corrupt_file_and_a_short_video_print_one_line_each(tmp_path):
    """Run as a user runs it, in a process of its own: FFmpeg's and decord's own logging stays silent."""
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(SAMPLE.read_bytes()[:20000])  # a download cut short: no index ("moov atom")
    run = subprocess.run([sys.executable, "-m", "fep", "explain", str(corrupt), "--model", "toy",
                          "--out", str(tmp_path / "o")], capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.stderr.startswith("fep: error:") and "moov" not in run.stderr
    short = subprocess.run([sys.executable, "-m", "fep", "explain", str(SAMPLE), "--model", "toy", "--frames", "40",
                            "--iterations", "1", "--areas", "0.1", "--out", str(tmp_path / "s")],
                           capture_output=True, text=True)  # fmt: skip
    notes = [line for line in short.stderr.splitlines() if "padded" in line]
    padded = f"fep: note: {SAMPLE} has 16 frames; padded to 40 by repeating the last frame."
    assert short.returncode == 0 and notes == [padded]
    assert "warnings.warn" not in short.stderr and "UserWarning" not in short.stderr
