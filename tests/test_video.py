import warnings

import av
import numpy as np
import pytest
import torch

from fep.data.samples import SAMPLES_DIR
from fep.data.synthetic import generate_clip
from fep.data.video import VideoError, decord_available, load_video, write_video


@pytest.fixture(params=["decord", "pyav"])
def backend(request, monkeypatch):
    """The test runs with both readers (PyAV is what macOS and ARM Linux get)."""
    monkeypatch.setenv("FEP_VIDEO_BACKEND", request.param)
    return request.param


def test_write_then_load_round_trip(tmp_path, backend):
    clip = generate_clip(seed=2)
    path = write_video(tmp_path / "clip.mp4", clip.video, fps=12.5)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temporary file left behind
    back = load_video(path, num_frames=16)
    assert back.frames.shape == clip.video.shape
    assert back.total_frames == 16 and back.fps == pytest.approx(12.5)
    assert (back.frames - clip.video).abs().mean().item() * 255 <= 3


def test_uint8_frames_odd_sizes_and_resize(tmp_path, backend):
    frames = (torch.rand(5, 33, 47, 3) * 255).to(torch.uint8)
    write_video(tmp_path / "odd.mp4", frames, fps=7)
    clip = load_video(tmp_path / "odd.mp4", num_frames=5)
    assert clip.frames.shape == (3, 5, 33, 47)
    assert load_video(tmp_path / "odd.mp4", num_frames=2, size=(20, 24)).frames.shape == (3, 2, 20, 24)


def test_sampling_and_padding(tmp_path, backend):
    frames = torch.linspace(0, 1, 10)[None, :, None, None].expand(3, 10, 16, 16)
    write_video(tmp_path / "ramp.mp4", frames, fps=10)
    assert load_video(tmp_path / "ramp.mp4", num_frames=4).indices == [0, 3, 6, 9]
    assert load_video(tmp_path / "ramp.mp4", num_frames=3, sampling="consecutive", start=2).indices == [2, 3, 4]
    assert load_video(tmp_path / "ramp.mp4", num_frames=None).frames.shape[1] == 10
    with pytest.warns(UserWarning, match="has 10 frames; padded to 12"):
        padded = load_video(tmp_path / "ramp.mp4", num_frames=12)
    assert padded.indices[-3:] == [9, 9, 9]
    with pytest.raises(ValueError, match="Unknown sampling 'random'"):
        load_video(tmp_path / "ramp.mp4", sampling="random")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_video(tmp_path / "ramp.mp4", num_frames=10)  # no warning when long enough


def test_missing_empty_and_non_video_files_name_the_path(tmp_path, backend):
    with pytest.raises(FileNotFoundError, match="No video file at .*nowhere.mp4"):
        load_video(tmp_path / "nowhere.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty.mp4 is empty"):
        load_video(tmp_path / "empty.mp4")
    (tmp_path / "notes.mp4").write_text("these are not frames\n" * 100)
    with pytest.raises(VideoError, match="notes.mp4 is not a readable video"):
        load_video(tmp_path / "notes.mp4")


def test_a_file_without_frames_is_refused(tmp_path, backend):
    path = tmp_path / "silent.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        container.start_encoding()  # header only, no frames
    assert path.stat().st_size > 0
    with pytest.raises(VideoError, match="silent.mp4"):
        load_video(path)


def test_write_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_video(tmp_path / "missing" / "a.mp4", torch.rand(3, 2, 8, 8), fps=5)
    with pytest.raises(ValueError, match="fps must be positive"):
        write_video(tmp_path / "a.mp4", torch.rand(3, 2, 8, 8), fps=0)
    with pytest.raises(ValueError, match="3 colour channels"):
        write_video(tmp_path / "a.mp4", np.zeros((2, 8, 8, 4), dtype=np.uint8), fps=5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "options",
    [dict(num_frames=16), dict(num_frames=None), dict(num_frames=8, size=64), dict(num_frames=4, size=(48, 80)),
     dict(num_frames=5, sampling="consecutive", start=3), dict(num_frames=20)],
    ids=["16", "all", "resized", "resized-rect", "consecutive", "padded"],
)  # fmt: skip
def test_pyav_reads_a_bundled_clip_as_decord_does(options):
    path = SAMPLES_DIR / "sample_03.mp4"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the padded case warns, with both readers
        by_decord, by_pyav = load_video(path, backend="decord", **options), load_video(path, backend="pyav", **options)
    assert by_pyav.frames.shape == by_decord.frames.shape
    assert (by_pyav.frames - by_decord.frames).abs().max().item() <= 2 / 255
    assert (by_pyav.fps, by_pyav.indices, by_pyav.total_frames) == (
        by_decord.fps,
        by_decord.indices,
        by_decord.total_frames,
    )


def test_without_decord_auto_falls_back_to_pyav(monkeypatch):
    import sys

    path = SAMPLES_DIR / "sample_03.mp4"
    reference = load_video(path, backend="pyav")
    monkeypatch.setitem(sys.modules, "decord", None)  # `import decord` now fails, as on macOS
    monkeypatch.setenv("FEP_VIDEO_BACKEND", "auto")
    assert not decord_available()
    assert torch.equal(load_video(path).frames, reference.frames)
    with pytest.raises(ValueError, match="decord is not installed .*use backend='pyav'"):
        load_video(path, backend="decord")
    with pytest.raises(ValueError, match="Unknown video backend 'opencv'"):
        load_video(path, backend="opencv")
