"""Reading clips with decord (or PyAV) and writing mp4 files with PyAV (torchvision 0.29 has no video I/O).

decord is fast at sampling a few frames of a long video (it seeks to key frames) but has wheels only
for Linux x86_64 and Windows; elsewhere (macOS, ARM Linux) :func:`load_video` reads with PyAV, which
returns the same frames, frame rate and shapes (a test holds the two within 2/255). Choose the reader
with ``backend=`` or the environment variable ``FEP_VIDEO_BACKEND`` (``decord``, ``pyav`` or ``auto``).

Examples::

    >>> from fep.data.video import load_video, write_video
    >>> clip = load_video("data/samples/sample_00.mp4", num_frames=16)
    >>> clip.frames.shape, clip.fps           # (3, 16, 112, 112) float in [0, 1]
    >>> write_video("copy.mp4", clip.frames, clip.fps)
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from fep.atomic import atomic_path
from fep.errors import FepFileNotFoundError, FepValueError

__all__ = [
    "SAMPLING_UNIFORM",
    "SAMPLING_CONSECUTIVE",
    "BACKENDS",
    "VideoClip",
    "VideoError",
    "load_video",
    "write_video",
    "decord_available",
]

SAMPLING_UNIFORM = "uniform"
SAMPLING_CONSECUTIVE = "consecutive"
BACKEND_AUTO, BACKEND_DECORD, BACKEND_PYAV = "auto", "decord", "pyav"
BACKENDS = (BACKEND_AUTO, BACKEND_DECORD, BACKEND_PYAV)


class VideoError(FepValueError):
    """A file that exists but cannot be used as a video."""


@dataclass
class VideoClip:
    """Frames read from a file.

    Attributes:
        frames: ``(3, T, H, W)`` float32 RGB in [0, 1].
        fps: the file's average frame rate.
        indices: which frames of the file were taken (repeats mark padding).
        path: the file.
        total_frames: frames in the file.
    """

    frames: torch.Tensor
    fps: float
    indices: list[int]
    path: str
    total_frames: int


def _frame_indices(total: int, num_frames: int, sampling: str, start: int) -> list[int]:
    if sampling == SAMPLING_UNIFORM:
        if total >= num_frames:
            return np.linspace(0, total - 1, num_frames).round().astype(int).tolist()
        return list(range(total)) + [total - 1] * (num_frames - total)
    if sampling == SAMPLING_CONSECUTIVE:
        if not 0 <= start < total:
            raise FepValueError(f"start={start} is outside the video's {total} frames; pick 0 <= start < {total}.")
        taken = list(range(start, min(total, start + num_frames)))
        return taken + [taken[-1]] * (num_frames - len(taken))
    raise FepValueError(f"Unknown sampling {sampling!r}; choose 'uniform' or 'consecutive'.")


def decord_available() -> bool:
    """True when decord can be imported (it has wheels for Linux x86_64 and Windows only)."""
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


def _choose_backend(backend: str | None) -> str:
    backend = backend or os.environ.get("FEP_VIDEO_BACKEND") or BACKEND_AUTO
    if backend not in BACKENDS:
        raise FepValueError(
            f"Unknown video backend {backend!r} (from backend= or FEP_VIDEO_BACKEND); choose one of "
            f"{', '.join(BACKENDS)}."
        )
    if backend == BACKEND_AUTO:
        return BACKEND_DECORD if decord_available() else BACKEND_PYAV
    if backend == BACKEND_DECORD and not decord_available():
        raise FepValueError(
            "decord is not installed (it has wheels for Linux x86_64 and Windows only); use backend='pyav'."
        )
    return backend


def _count_frames(container, stream) -> int:
    """Frames in the stream: the container's count when it has one, else the video packets (no decoding)."""
    if stream.frames:
        return int(stream.frames)
    count = sum(1 for packet in container.demux(stream) if packet.size)
    container.seek(0)
    return count


def _pyav_frames(frames, wanted: list[int], size: tuple[int, int] | None) -> np.ndarray:
    """Decode ``frames`` (an iterator of av.VideoFrame) keeping only the indices in ``wanted`` (sorted
    or not, repeats allowed) as ``(len(wanted), H, W, 3)`` uint8 RGB; stops after the last one needed."""
    needed, last = set(wanted), max(wanted)
    kept: dict[int, np.ndarray] = {}
    height, width = size if size is not None else (None, None)
    for index, frame in enumerate(frames):
        if index in needed:
            if size is None:
                kept[index] = frame.to_ndarray(format="rgb24")
            else:  # bilinear: what decord's FFmpeg scaler does (measured: identical bytes)
                kept[index] = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="BILINEAR")
        if index >= last:
            break
    if not kept:
        raise VideoError("no frames could be decoded")
    decoded = max(kept)  # a container that announced more frames than it holds: repeat the last one read
    return np.stack([kept[min(i, decoded)] if i in kept else kept[decoded] for i in wanted])


def _read_with_pyav(
    path: Path, num_frames: int | None, sampling: str, start: int, size: tuple[int, int] | None
) -> tuple[np.ndarray, float, list[int], int]:
    """PyAV's reading of a file: ``(frames (T, H, W, 3) uint8, fps, indices, total frames)``."""
    import av

    try:
        container = av.open(str(path))
    except Exception:  # PyAV raises many error types for broken files
        raise VideoError(_why_unreadable(path)) from None
    with container:
        if not container.streams.video:
            raise VideoError(_why_unreadable(path))
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        total = _count_frames(container, stream)
        if total == 0:
            raise VideoError(f"{path} contains no video frames; check that the file has a video stream.")
        rate = stream.average_rate or stream.guessed_rate or 0
        wanted = total if num_frames is None else num_frames
        indices = _frame_indices(total, wanted, sampling, start)
        try:
            frames = _pyav_frames(container.decode(stream), indices, size)
        except VideoError:
            raise VideoError(_why_unreadable(path)) from None
    return frames, float(rate), indices, total


def _read_with_decord(
    path: Path, num_frames: int | None, sampling: str, start: int, size: tuple[int, int] | None
) -> tuple[np.ndarray, float, list[int], int]:
    """decord's reading of a file: ``(frames (T, H, W, 3) uint8, fps, indices, total frames)``."""
    import decord  # imported here: decord prints noise on import and is only needed to read files

    height, width = size or (-1, -1)
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height)
    except Exception:  # decord raises its own DECORDError (a RuntimeError) with C++ log text for non-videos
        raise VideoError(_why_unreadable(path)) from None
    total = len(reader)
    if total == 0:
        raise VideoError(f"{path} contains no video frames; check that the file has a video stream.")
    indices = _frame_indices(total, total if num_frames is None else num_frames, sampling, start)
    fps = float(reader.get_avg_fps())
    try:
        frames = reader.get_batch(indices).asnumpy()  # (T, H, W, 3) uint8
    except Exception:  # decord 0.6 cannot copy frames of some widths (row padding); PyAV can
        frames = _read_with_pyav(path, num_frames, sampling, start, size)[0]
    del reader
    return frames, fps, indices, total


def _why_unreadable(path: Path) -> str:
    """A plain-words reason for a file decord refused, found by opening it with PyAV."""
    import av

    try:
        container = av.open(str(path))
    except EOFError:  # the file ends inside its header: a container with no frames, or a truncated file
        return f"{path} ends before its first video frame (no frames, or a truncated file); re-export the video."
    except Exception as err:  # PyAV raises many error types for broken files
        return f"{path} is not a readable video ({type(err).__name__}); check that it is a video file and not damaged."
    with container:
        if not container.streams.video:
            kinds = sorted({stream.type for stream in container.streams}) or ["no streams"]
            return f"{path} has no video stream (it holds {', '.join(kinds)}); pass a file with a video track."
        try:
            for _ in container.decode(video=0):
                return f"{path} could not be opened by decord; re-encode it, e.g. to H.264 mp4 with ffmpeg."
        except Exception:  # a stream that ends before its first frame
            pass
    return f"{path} contains no decodable video frames; re-export the video."


@contextmanager
def quiet_decoders():
    """Silence what FFmpeg and decord print on the process's stderr (``moov atom not found``, C++ log
    lines) while a file is opened and read; Python's own ``sys.stderr`` is untouched."""
    try:
        import av.logging

        av.logging.set_level(av.logging.PANIC)
    except (ImportError, AttributeError):
        pass
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 (some embedded interpreters)
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_video(
    path: str | os.PathLike,
    num_frames: int | None = 16,
    sampling: str = SAMPLING_UNIFORM,
    size: int | tuple[int, int] | None = None,
    start: int = 0,
    backend: str | None = None,
) -> VideoClip:
    """Read ``num_frames`` RGB frames from a video file with decord, or PyAV where decord is missing.

    Args:
        path: the video file (anything FFmpeg reads: mp4, avi, webm, ...).
        num_frames: frames to return; None returns every frame.
        sampling: ``"uniform"`` spreads the frames over the whole video; ``"consecutive"`` takes
            ``num_frames`` in a row from ``start``.
        size: resize frames to ``size`` (square) or ``(height, width)`` while decoding.
        start: first frame for ``"consecutive"`` sampling.
        backend: ``"decord"``, ``"pyav"`` or ``"auto"`` (decord when installed); default: the
            environment variable ``FEP_VIDEO_BACKEND``, else ``"auto"``. Both give the same frames.

    Returns:
        :class:`VideoClip` with ``frames`` ``(3, T, H, W)``. Grayscale videos are converted to RGB (the
        gray level in all three channels) and RGBA videos lose their alpha channel, both by FFmpeg. A
        video shorter than ``num_frames`` is padded by repeating its last frame, with a warning.

    Raises:
        FileNotFoundError: no file at ``path``.
        VideoError: the file is empty, is not a video, has no video stream, or has no frames.
    """
    path = Path(path)
    if not path.is_file():
        raise FepFileNotFoundError(f"No video file at {path}; check the path (relative paths start at {Path.cwd()}).")
    if path.stat().st_size == 0:
        raise VideoError(f"{path} is empty (0 bytes); re-export or re-download the video.")
    if num_frames is not None and (not isinstance(num_frames, int) or num_frames < 1):
        raise FepValueError(f"num_frames must be a positive integer or None, got {num_frames!r}.")
    if sampling not in (SAMPLING_UNIFORM, SAMPLING_CONSECUTIVE):
        raise FepValueError(f"Unknown sampling {sampling!r}; choose 'uniform' or 'consecutive'.")
    dims = (size, size) if isinstance(size, int) else (tuple(size) if size is not None else None)
    read = _read_with_decord if _choose_backend(backend) == BACKEND_DECORD else _read_with_pyav
    with quiet_decoders():  # FFmpeg's and decord's own logging: fep says what went wrong in one sentence
        frames, fps, indices, total = read(path, num_frames, sampling, start, dims)
    wanted = len(indices)
    if wanted > total or (sampling == SAMPLING_CONSECUTIVE and start + wanted > total):
        warnings.warn(f"{path} has {total} frames; padded to {wanted} by repeating the last frame.", stacklevel=2)
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div_(255)
    return VideoClip(tensor, fps, indices, str(path), total)


def _to_uint8_frames(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    array = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.ndim != 4:
        raise FepValueError(f"frames must be (3, T, H, W) or (T, H, W, 3), got shape {array.shape}.")
    if array.shape[0] == 3 and array.shape[-1] != 3:
        array = array.transpose(1, 2, 3, 0)
    if array.shape[-1] != 3:
        raise FepValueError(f"frames must have 3 colour channels, got shape {array.shape}.")
    if array.dtype != np.uint8:
        if not np.isfinite(array).all():
            raise FepValueError("frames contain NaN or Inf; clean them before writing a video.")
        array = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(array)


def write_video(path: str | os.PathLike, frames: torch.Tensor | np.ndarray, fps: float, quality: int = 8) -> Path:
    """Write an H.264 mp4 with PyAV, atomically (a temporary file renamed into place).

    Args:
        path: destination ``.mp4``; its folder must exist.
        frames: ``(3, T, H, W)`` float in [0, 1] (as from :func:`load_video`) or ``(T, H, W, 3)`` uint8.
        fps: frame rate (> 0).
        quality: x264 CRF, lower is better (8 keeps a noisy synthetic clip within ~2/255 on average).

    Returns:
        The path written.
    """
    import av

    path = Path(path)
    if not path.parent.is_dir():
        raise FepFileNotFoundError(f"Folder {path.parent} does not exist; create it before writing {path.name}.")
    if not fps > 0:
        raise FepValueError(f"fps must be positive, got {fps}.")
    array = _to_uint8_frames(frames)
    _, height, width, _ = array.shape
    with atomic_path(path, suffix=".mp4") as tmp, av.open(tmp, mode="w", format="mp4") as container:
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv444p"  # no chroma subsampling: colours and odd sizes survive
        # Bytes may differ between runs (x264 rate control); the decoded frames agree closely.
        stream.options = {"crf": str(quality), "preset": "medium"}
        for index, image in enumerate(array):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index  # explicit timestamps: the encoder must not invent them
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
