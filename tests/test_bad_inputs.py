"""One table of bad inputs: each is refused with a specific exception type and one sentence
that names the problem and the fix, before any long computation; the command line maps the same
problems to exit code 2 and one line on stderr, leaving no output behind.

Files are made on the fly in a temporary folder (PyAV writes the odd videos); models are the tiny
deterministic ones of :mod:`fep.testing`, wrapped to count their calls.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from fep import FEP
from fep.baselines import gradients
from fep.bench import faithfulness
from fep.cli import main, output_folder
from fep.data.samples import SAMPLES_DIR
from fep.data.video import VideoError, load_video, write_video
from fep.ep import memory
from fep.ep.api import extremal_perturbation
from fep.ep.explanation import Explanation
from fep.ep.memory import InsufficientMemoryError
from fep.errors import FepError
from fep.models import CheckpointError, categories, load_model, resolve_target
from fep.testing import TinyVideoNet

SAMPLE = SAMPLES_DIR / "sample_02.mp4"


class Counting(torch.nn.Module):
    """Counts forward calls, so a row can show it was refused before the model ran."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


class WrongShape(torch.nn.Module):
    """A feature extractor mistaken for a classifier: returns (N, 8, T) instead of logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 8, 3, padding=1)

    def forward(self, x):
        return self.conv(x).mean(dim=(3, 4))


def _write(path: Path, frames: int, pix_fmt: str, codec: str, channels: int) -> Path:
    """A small video with ``frames`` frames of random pixels in the given pixel format."""
    rng = np.random.default_rng(0)
    fmt = {1: "gray", 3: "rgb24", 4: "rgba"}[channels]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, pix_fmt
        container.start_encoding()  # writes the header even when no frame follows
        for _ in range(frames):
            pixels = rng.integers(0, 256, (32, 32, channels) if channels > 1 else (32, 32), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format=fmt)))
        container.mux(stream.encode())
    return path


@dataclass
class Ctx:
    tmp: Path
    model: Counting


def _engine(ctx: Ctx, video=None, target=0, model=None, **options):
    video = torch.rand(1, 3, 4, 16, 16) if video is None else video
    options = {"iterations": 3, "progress": False, **options}
    return extremal_perturbation(ctx.model if model is None else model, video, target, **options)


def _nan_clip() -> torch.Tensor:
    clip = torch.rand(1, 3, 4, 16, 16)
    clip[0, 1, 2, 3, 4] = float("nan")
    return clip


def _empty_file(ctx: Ctx) -> Path:
    (ctx.tmp / "empty.mp4").write_bytes(b"")
    return ctx.tmp / "empty.mp4"


def _text_file(ctx: Ctx) -> Path:
    (ctx.tmp / "notes.mp4").write_text("these are my lecture notes, not a video\n")
    return ctx.tmp / "notes.mp4"


def _zero_frames(ctx: Ctx) -> Path:
    return _write(ctx.tmp / "zero.mkv", 0, "yuv420p", "ffv1", 3)


def _audio_only(ctx: Ctx) -> Path:
    path = ctx.tmp / "audio.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _evil_checkpoint(ctx: Ctx) -> Path:
    """A checkpoint whose unpickling would create a file: it must be refused, the file never made."""

    class Evil:
        def __reduce__(self):
            return (Path.touch, (ctx.tmp / "pwned",))

    torch.save({"weight": Evil()}, ctx.tmp / "evil.pt")
    return ctx.tmp / "evil.pt"


def _pickled_explanation(ctx: Ctx) -> Path:
    path = ctx.tmp / "explanation.npz"
    np.savez(path, masks=np.zeros((1, 1, 1, 2, 2)), meta=np.array([{"code": "anything"}], dtype=object))
    return path


def _existing_folder(ctx: Ctx) -> Path:
    (ctx.tmp / "results").mkdir()
    (ctx.tmp / "results" / "mine.txt").write_text("keep me")
    return ctx.tmp / "results"


def _under_a_file(ctx: Ctx) -> Path:
    (ctx.tmp / "a_file").write_text("not a folder")
    return ctx.tmp / "a_file" / "results"


def _enter(folder: Path) -> None:
    with output_folder(folder, force=False):
        raise AssertionError("the staging folder must not be created")


def _no_memory(ctx: Ctx, monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda device: 2**20)  # 1 MiB free
    _engine(ctx, video=torch.rand(1, 3, 8, 64, 64))


@dataclass
class Row:
    name: str
    call: Callable  # call(ctx) or call(ctx, monkeypatch)
    error: type[BaseException]
    message: str  # regex: the problem ... the fix
    max_calls: int = 0  # model calls allowed before the refusal (0: refused before the model ran)


ROWS = [
    # --- files ---
    Row("missing video file", lambda c: load_video(c.tmp / "nope.mp4"), FileNotFoundError,
        r"No video file at .*nope\.mp4; check the path"),
    Row("empty video file", lambda c: load_video(_empty_file(c)), VideoError, r"empty \(0 bytes\); re-export"),
    Row("text file named .mp4", lambda c: load_video(_text_file(c)), VideoError,
        r"not a readable video .*; check that it is a video file"),
    Row("video with zero frames", lambda c: load_video(_zero_frames(c)), VideoError,
        r"ends before its first video frame .*; re-export the video"),
    Row("audio-only file", lambda c: load_video(_audio_only(c)), VideoError,
        r"has no video stream \(it holds audio\); pass a file with a video track"),
    Row("write into a missing folder", lambda c: write_video(c.tmp / "no" / "x.mp4", torch.rand(3, 2, 16, 16), 8),
        FileNotFoundError, r"Folder .* does not exist; create it"),
    # --- tensors ---
    Row("clip is a list", lambda c: _engine(c, video=[[0.0]]), TypeError,
        r"must be a torch\.Tensor .*convert it with torch\.as_tensor"),
    Row("clip of rank 3", lambda c: _engine(c, video=torch.rand(3, 16, 16)), ValueError,
        r"must have shape \(N, C, T, H, W\).*add a batch dim with video\[None\]"),
    Row("integer clip", lambda c: _engine(c, video=torch.zeros(1, 3, 4, 16, 16, dtype=torch.uint8)), TypeError,
        r"floating tensor, got torch\.uint8; normalise it"),
    Row("RGBA clip for an RGB model", lambda c: _engine(c, video=torch.rand(1, 4, 4, 16, 16)), ValueError,
        r"has 4 channels but the model's first layer takes 3; drop the alpha channel", max_calls=1),
    Row("gray clip for an RGB model", lambda c: _engine(c, video=torch.rand(1, 1, 4, 16, 16)), ValueError,
        r"has 1 channel but the model's first layer takes 3; convert the clip", max_calls=1),
    Row("NaN in the clip", lambda c: _engine(c, video=_nan_clip()), ValueError, r"NaN or Inf values; clean"),
    Row("Inf in the clip", lambda c: _engine(c, video=torch.full((1, 3, 4, 16, 16), float("inf"))), ValueError,
        r"NaN or Inf values; clean"),
    # --- targets ---
    # Checked against the real logits of the first (measuring) call: a layer-width guess could refuse a valid target.
    Row("target out of range", lambda c: _engine(c, target=7), ValueError,
        r"Target 7 is out of range for a model with 4 classes; pass an index between 0 and 3", max_calls=1),
    Row("negative target", lambda c: _engine(c, target=-1), ValueError, r"Target -1 is negative; pass a class index"),
    Row("one target for two clips", lambda c: _engine(c, video=torch.rand(2, 3, 4, 16, 16), target=[1]),
        ValueError, r"Got 1 targets for 2 clips; pass one target per clip"),
    Row("unknown class name", lambda c: resolve_target("dancing", categories("toy"), 4), ValueError,
        r"Unknown class name 'dancing'; pass an index or a name such as 'moves right'"),
    # --- options ---
    Row("no areas", lambda c: _engine(c, areas=()), ValueError, r"areas is empty; pass at least one"),
    Row("area above 1", lambda c: _engine(c, areas=(0.1, 1.5)), ValueError, r"Area 1\.5 is outside \(0, 1\)"),
    Row("area 0", lambda c: _engine(c, areas=0.0), ValueError, r"Area 0\.0 is outside \(0, 1\)"),
    Row("temporal cutoff above 1", lambda c: _engine(c, temporal_cutoff=1.5), ValueError,
        r"temporal_cutoff must lie in \[0, 1\], got 1\.5; pick a value in range"),
    Row("negative spatial cutoff", lambda c: _engine(c, spatial_cutoff=-0.1), ValueError,
        r"spatial_cutoff must lie in \[0, 1\], got -0\.1; pick a value in range"),
    Row("zero iterations", lambda c: _engine(c, iterations=0), ValueError,
        r"iterations must be a positive integer, got 0; pass a whole number"),
    Row("max_batch 0", lambda c: _engine(c, max_batch=0), ValueError, r"max_batch must be a positive integer"),
    Row("unknown method", lambda c: _engine(c, method="gradcam"), ValueError,
        r"Unknown method 'gradcam'; choose one of 'ep2d'"),
    # --- models ---
    Row("model returns the wrong shape", lambda c: _engine(c, model=WrongShape()), ValueError,
        r"returned \(1, 8, 4\) .*needs logits of shape \(batch, num_classes\) — wrap the model"),
    Row("model on another device", lambda c: _engine(c, model=TinyVideoNet().to("meta")), ValueError,
        r"The model is on meta but the video is on cpu; move one of them"),
    Row("not a model", lambda c: _engine(c, model=42), TypeError,
        r"model must be a torch\.nn\.Module or a callable returning logits, got int"),
    Row("a function returning the clip", lambda c: _engine(c, model=lambda x: x), ValueError,
        r"returned \(1, 3, 4, 16, 16\) .*needs logits of shape \(batch, num_classes\) — wrap the model"),
    Row("corrupted checkpoint", lambda c: load_model("toy", weights=_empty_file(c)), CheckpointError,
        r"not a readable PyTorch checkpoint .*; re-download or re-create it"),
    Row("checkpoint that runs code", lambda c: load_model("toy", weights=_evil_checkpoint(c)), CheckpointError,
        r"evil\.pt is not a readable PyTorch checkpoint"),
    Row("explanation file holding objects", lambda c: Explanation.load(_pickled_explanation(c)), ValueError,
        r"is not an explanation saved by fep .*; re-create it with \.save\(\)"),
    # --- outputs and memory ---
    Row("existing output folder", lambda c: _enter(_existing_folder(c)), FileExistsError,
        r"already exists; pass --force to replace it or choose another --out"),
    Row("output folder under a file", lambda c: _enter(_under_a_file(c)), PermissionError,
        r"Cannot write into .*a_file .*; choose another --out"),
    Row("one clip does not fit in memory", _no_memory, InsufficientMemoryError,
        r"One masked clip needs about \d+ MiB but only 1 MiB of RAM is free; use fewer frames", max_calls=1),
]  # fmt: skip


def test_the_table_has_at_least_twenty_rows():
    assert len(ROWS) >= 20 and len({row.name for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_bad_input_is_refused_with_a_clear_sentence(row, tmp_path, monkeypatch, reader):
    ctx = Ctx(tmp_path, Counting(TinyVideoNet(num_classes=4)))
    args = (ctx, monkeypatch) if row.call.__code__.co_argcount == 2 else (ctx,)
    with pytest.raises(row.error) as caught:
        row.call(*args)
    message = str(caught.value)
    assert type(caught.value) is row.error or issubclass(type(caught.value), row.error)
    assert isinstance(caught.value, FepError)  # the CLI turns exactly these into one line and exit 2
    assert re.search(row.message, message), message
    assert "\n" not in message and len(message) < 300, message  # one sentence, not a traceback dump
    assert ctx.model.calls <= row.max_calls
    assert not (tmp_path / "pwned").exists()  # nothing in a loaded file ever ran


def test_the_memory_error_is_raised_before_the_optimisation(tmp_path, monkeypatch):
    model = Counting(TinyVideoNet(num_classes=4))
    monkeypatch.setattr(memory, "available_memory", lambda device: 2**20)
    with pytest.raises(InsufficientMemoryError):
        extremal_perturbation(model, torch.rand(1, 3, 8, 64, 64), 0, iterations=50, progress=False)
    assert model.calls == 1  # only the measuring forward pass


# --- every public function that runs a model: the same checks and messages, before the model runs twice ---


class TupleNet(torch.nn.Module):
    """A model returning (logits, features), as many research models do."""

    def __init__(self) -> None:
        super().__init__()
        self.net = TinyVideoNet(num_classes=4)

    def forward(self, x):
        return self.net(x), x.mean()


def _map(video) -> torch.Tensor:
    return torch.rand(video.shape[-3:], generator=torch.Generator().manual_seed(0))


RUNNERS = {
    "extremal_perturbation": lambda m, v, t: extremal_perturbation(m, v, t, iterations=2, areas=(0.1,), progress=False),
    "FEP.attribute": lambda m, v, t: FEP(m, iterations=2, areas=(0.1,), progress=False).attribute(v, target=t),
    "vanilla_gradient": lambda m, v, t: gradients.vanilla_gradient(m, v, t),
    "gradient_x_input": lambda m, v, t: gradients.gradient_x_input(m, v, t),
    "smoothgrad": lambda m, v, t: gradients.smoothgrad(m, v, t, samples=2, progress=False),
    "integrated_gradients": lambda m, v, t: gradients.integrated_gradients(m, v, t, steps=2, progress=False),
    "grad_cam": lambda m, v, t: gradients.grad_cam(m, v, t),
    "occlusion": lambda m, v, t: gradients.occlusion(m, v, t, window=(2, 8, 8), progress=False),
    "deletion_insertion": lambda m, v, t: faithfulness.deletion_insertion(m, v, t, _map(v), steps=2),
    "matched_area_game": lambda m, v, t: faithfulness.matched_area_game(m, v, t, _map(v)),
    "kept_probability": lambda m, v, t: faithfulness.kept_probability(m, v, t, _map(v)[None]),
}  # fmt: skip

CLIP = (1, 3, 4, 16, 16)
CASES = [
    # (name, model (None: the counting tiny net), video, target, error, message)
    ("model returns a tuple", TupleNet, torch.rand(CLIP), 0, ValueError,
     r"returned a tuple of 2, not a logits tensor; .*wrap it: model=lambda v: net\(v\)\[0\]"),
    ("not a model", lambda: 42, torch.rand(CLIP), 0, TypeError, r"a torch\.nn\.Module or a callable returning logits"),
    ("one clip without its batch axis", None, torch.rand(3, 4, 16, 16), 0, ValueError,
     r"is 4-D but the model takes clips \(N, C, T, H, W\); .*add the batch axis: video\[None\]"),
    ("one 3-frame clip without its batch axis", None, torch.rand(3, 3, 16, 16), 0, ValueError,
     r"add the batch axis: video\[None\]"),
    ("image batch for a video model", None, torch.rand(2, 3, 16, 16), 0, ValueError,
     r"is an image batch \(N, C, H, W\) but the model takes clips .*add a time axis .*video\[:, :, None\]"),
    ("frames-first clip", None, torch.rand(1, 4, 3, 16, 16), 0, ValueError,
     r"looks frames-first \(N, T, C, H, W\) .*pass video\.permute\(0, 2, 1, 3, 4\)"),
    ("integer clip", None, torch.zeros(CLIP, dtype=torch.uint8), 0, TypeError, r"floating tensor, got torch\.uint8"),
    ("NaN in the clip", None, torch.full(CLIP, float("nan")), 0, ValueError, r"NaN or Inf values; clean"),
    ("target out of range", None, torch.rand(CLIP), 9, ValueError,
     r"Target 9 is out of range for a model with 4 classes; pass an index between 0 and 3"),
    ("float target", None, torch.rand(CLIP), 1.5, TypeError, r"target must be a class index"),
    ("negative numpy target", None, torch.rand(CLIP), np.int64(-2), ValueError, r"Target -2 is negative"),
]  # fmt: skip


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_every_model_running_function_refuses_bad_input_alike(runner, case):
    _, make_model, video, target, error, message = case
    counting = Counting(TinyVideoNet(num_classes=4))
    model = counting if make_model is None else make_model()
    with pytest.raises(error) as caught:
        RUNNERS[runner](model, video, target)
    assert isinstance(caught.value, FepError) and re.search(message, str(caught.value)), str(caught.value)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
    assert counting.calls <= 1  # at most the probe ran


def test_grad_cam_says_it_needs_a_module_and_occlusion_a_window_that_fits():
    net = TinyVideoNet(num_classes=4)
    with pytest.raises(FepError, match=r"grad_cam reads a layer's activations, so model must be a torch\.nn\.Module"):
        gradients.grad_cam(lambda v: net(v), torch.rand(CLIP), 0)
    too_large = r"window \(8, 8, 8\) is larger than the clip's .* \(4, 16, 16\); .*window=\(4, 8, 8\)"
    with pytest.raises(FepError, match=too_large):
        gradients.occlusion(net, torch.rand(CLIP), 0, window=(8, 8, 8), progress=False)


@pytest.mark.parametrize("runner", RUNNERS)
def test_every_model_running_function_takes_inputs_as_researchers_pass_them(runner):
    """float64 clips (converted, with a note), numpy targets, None for the predicted class, and any callable."""
    net = TinyVideoNet(num_classes=4)
    clip = torch.rand(CLIP, generator=torch.Generator().manual_seed(1))
    predicted = int(net(clip).argmax())
    with pytest.warns(UserWarning, match=r"The clip is float64 and the model float32; fep converted the clip"):
        RUNNERS[runner](net, clip.double(), 1)
    for target in (np.int64(1), np.argmax(np.array([[0.1, 0.9, 0.0, 0.0]]), 1), None):
        RUNNERS[runner](net, clip, target)
    if runner != "grad_cam":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the once-per-session note on plain functions
            RUNNERS[runner](lambda v: net(v), clip, None)
    if runner in ("extremal_perturbation", "FEP.attribute"):
        result = RUNNERS[runner](net, clip, None)
        assert result.target == [predicted] and result.settings["target"] == "predicted"
        assert RUNNERS[runner](net, clip, np.int64(2)).settings["target"] == "given"


# --- documented conversions rather than refusals (with both video readers) ---


@pytest.fixture(params=["decord", "pyav"])
def reader(request, monkeypatch):
    monkeypatch.setenv("FEP_VIDEO_BACKEND", request.param)
    return request.param


def test_short_clip_is_padded_with_a_warning(tmp_path, reader):
    path = _write(tmp_path / "short.mp4", 4, "yuv444p", "libx264", 3)
    with pytest.warns(UserWarning, match=r"has 4 frames; padded to 16 by repeating the last frame"):
        clip = load_video(path, num_frames=16)
    assert clip.frames.shape[1] == 16 and clip.indices[-1] == clip.indices[3] == 3


def test_grayscale_video_becomes_three_equal_channels(tmp_path, reader):
    path = _write(tmp_path / "gray.mkv", 3, "gray", "ffv1", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no padding, no other warning
        clip = load_video(path, num_frames=3)
    assert clip.frames.shape == (3, 3, 32, 32)
    assert torch.equal(clip.frames[0], clip.frames[1]) and torch.equal(clip.frames[1], clip.frames[2])
    assert clip.frames.std() > 0.1  # the random pixels survived


def test_rgba_video_loses_only_its_alpha_channel(tmp_path, reader):
    path = _write(tmp_path / "rgba.mov", 3, "rgba", "png", 4)
    clip = load_video(path, num_frames=3)
    assert clip.frames.shape == (3, 3, 32, 32)
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (32, 32, 4), dtype=np.uint8)  # the first frame _write made
    assert torch.equal(clip.frames[:, 0], torch.from_numpy(first[..., :3]).permute(2, 0, 1).float() / 255)


# --- the command line: exit code 2, one stderr line, nothing written ---


def _cli_rows(tmp: Path) -> list[tuple[list[str], str]]:
    ctx = Ctx(tmp, Counting(TinyVideoNet()))
    toy = ["--model", "toy"]
    return [
        (["explain", str(tmp / "missing.mp4"), *toy], "No video file at"),
        (["explain", str(_empty_file(ctx)), *toy], "empty (0 bytes)"),
        (["explain", str(_text_file(ctx)), *toy], "is not a readable video"),
        (["explain", str(_zero_frames(ctx)), *toy], "ends before its first video frame"),
        (["explain", str(_audio_only(ctx)), *toy], "has no video stream"),
        (["explain", str(SAMPLE), "--model", "resnet9000"], "invalid choice: 'resnet9000'"),
        (["explain", str(SAMPLE), *toy, "--weights", str(_evil_checkpoint(ctx))], "not a readable PyTorch checkpoint"),
        (["explain", str(SAMPLE), *toy, "--target", "dancing"], "Unknown class name 'dancing'"),
        (["explain", str(SAMPLE), *toy, "--target", "9"], "Target 9 is out of range"),
        (["explain", str(SAMPLE), *toy, "--areas", "0.1,1.5"], "Area 1.5 is outside (0, 1)"),
        (["explain", str(SAMPLE), *toy, "--areas", ","], "areas is empty"),
        (["explain", str(SAMPLE), *toy, "--iterations", "0"], "--iterations must be a positive integer"),
        (["explain", str(SAMPLE), *toy, "--temporal-cutoff", "1.5"], "--temporal-cutoff must lie in [0, 1]"),
        (["explain", str(SAMPLE), *toy, "--max-batch", "0"], "--max-batch must be a positive integer"),
        (["explain", str(SAMPLE), *toy, "--frames", "0"], "--frames 0: an explanation over time needs at least 2"),
        (["experiments", "--clips", "0"], "--clips must be at least 1"),
        (["experiments", "--methods", "lime"], "Unknown method 'lime'"),
    ]


def test_cli_maps_every_bad_input_to_exit_2_and_one_line(tmp_path, capsys):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rows = _cli_rows(inputs)
    for argv, expected in rows:
        out = tmp_path / "out"
        assert main(argv + ["--out", str(out)]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("fep") and expected in err[0], (argv, err)
        assert not out.exists(), argv
        assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs"], argv  # no staging folder left
    assert not (inputs / "pwned").exists()


def test_cli_refuses_existing_and_unwritable_output_folders(tmp_path, capsys):
    ctx = Ctx(tmp_path, Counting(TinyVideoNet()))
    for out, expected in ((_existing_folder(ctx), "already exists; pass --force"),
                          (_under_a_file(ctx), "Cannot write into")):  # fmt: skip
        assert main(["explain", str(SAMPLE), "--model", "toy", "--iterations", "1", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["mine.txt"]
