"""Kinetics-400 weights: where torchvision publishes them, and an atomic, hash-checked download.

Kinetics weights live where torchvision caches them (``$TORCH_HOME/hub/checkpoints/<file>``, see
:func:`torch.hub.get_dir`). When the file is missing, :func:`kinetics_checkpoint` downloads it there
(:func:`download_checkpoint`: a progress bar, torchvision's hash check, a connect/read timeout of
:data:`DOWNLOAD_TIMEOUT` seconds, written atomically), unless ``download=False`` or the environment
variable ``FEP_OFFLINE=1``. When it cannot, :class:`WeightsNotFoundError` says why and names the file,
its URL and the folder to put it in; no partial file or empty folder is left behind on any failure.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.request
from pathlib import Path

import torch

from fep.errors import FepFileNotFoundError, FepValueError

__all__ = [
    "WeightsNotFoundError",
    "CheckpointError",
    "DOWNLOAD_TIMEOUT",
    "torchvision_weights",
    "checkpoint_url",
    "download_checkpoint",
    "kinetics_checkpoint",
]

# Seconds to wait for the server to connect and for each read: an offline machine answers in seconds.
DOWNLOAD_TIMEOUT = 10.0
# torchvision's checkpoint names end in the first hex digits of the file's sha256: name-<hash>.pth
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")


class WeightsNotFoundError(FepFileNotFoundError):
    """Pretrained weights are not on disk and cannot be downloaded here."""


class CheckpointError(FepValueError):
    """A checkpoint file exists but is corrupted or does not fit the model."""


def torchvision_weights(name: str):
    import torchvision

    return torchvision.models.get_model_weights(name).DEFAULT


def checkpoint_url(name: str) -> str:
    """Where torchvision publishes the Kinetics-400 checkpoint of ``name``."""
    return torchvision_weights(name).url


def _offline() -> bool:
    return os.environ.get("FEP_OFFLINE", "") not in ("", "0", "false", "False")


def _remove_empty_folders(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``stop`` while they are empty."""
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def download_checkpoint(url: str, path: str | os.PathLike, progress: bool = True, timeout: float | None = None) -> Path:
    """Download ``url`` to ``path`` atomically, checking the sha256 prefix in its name as torchvision does.

    The bytes go to a hidden temporary file beside ``path`` and are renamed into place only when the
    download is complete and its hash matches; on any failure (no network, timeout, a bad hash, Ctrl-C)
    the temporary file and any folder this call created are removed.

    Args:
        url: the checkpoint's address; a name like ``r3d_18-b3b3357e.pth`` carries the first hex digits
            of its sha256, which are checked.
        path: destination file.
        progress: show a progress bar.
        timeout: seconds for connecting and for each read (default :data:`DOWNLOAD_TIMEOUT`).

    Returns:
        ``path``.

    Raises:
        WeightsNotFoundError: the download failed (the message says why).
        CheckpointError: the downloaded bytes do not match the hash in the file name.
    """
    path = Path(path)
    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    expected = _HASH_IN_NAME.search(os.path.basename(url))
    tmp = None
    try:
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as reply:
            total = int(reply.headers.get("Content-Length") or 0) or None
            digest, received = _copy_with_progress(reply, out, total, path.name, progress)
        if total is not None and received != total:  # http.client returns a short body without complaint
            raise ConnectionError(f"the connection closed after {received} of {total} bytes")
        if expected and not digest.hexdigest().startswith(expected.group(1)):
            raise CheckpointError(
                f"The file downloaded from {url} has sha256 {digest.hexdigest()[:12]}…, not {expected.group(1)}… as "
                "its name says; the download was damaged or replaced — try again, or fetch it by hand."
            )
        os.replace(tmp, path)
        tmp = None
        return path
    except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, refused/reset connections, ...
        reason = f"{type(err).__name__}: {getattr(err, 'reason', None) or err}"
        failure = WeightsNotFoundError(f"Could not download {url} ({reason}); check the network or fetch it by hand.")
        failure.reason = reason
        raise failure from err
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        _remove_empty_folders(path.parent, existing)


def _copy_with_progress(reply, out, total: int | None, name: str, progress: bool):
    """Copy the reply into ``out`` in 1 MiB blocks; returns the sha256 and the byte count."""
    from tqdm.auto import tqdm

    digest, received = hashlib.sha256(), 0
    with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not progress, leave=False) as bar:
        for block in iter(lambda: reply.read(1 << 20), b""):
            out.write(block)
            digest.update(block)
            bar.update(len(block))
            received += len(block)
    return digest, received


def kinetics_checkpoint(name: str, download: bool, progress: bool = True) -> Path:
    url = checkpoint_url(name)
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / os.path.basename(url)
    if path.is_file():
        return path
    why = "are not on this machine"
    if download and not _offline():
        try:
            return download_checkpoint(url, path, progress=progress)
        except WeightsNotFoundError as err:
            why = f"are not on this machine and could not be downloaded ({err.reason})"
    elif download:
        why += " (FEP_OFFLINE=1: no download tried)"
    raise WeightsNotFoundError(
        f"Kinetics-400 weights for {name} {why}: put {path.name} (from {url}) into {folder} "
        "(set TORCH_HOME to use another cache), or pass weights='path/to/checkpoint.pth'."
    )
