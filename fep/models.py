"""Video models: the shipped toy model and torchvision's Kinetics-400 zoo.

Kinetics weights live where torchvision caches them (``$TORCH_HOME/hub/checkpoints/<file>``, see
:func:`torch.hub.get_dir`). When the file is missing, :func:`load_model` downloads it there
(:func:`download_checkpoint`: a progress bar, torchvision's hash check, a connect/read timeout of
:data:`DOWNLOAD_TIMEOUT` seconds, written atomically), unless ``download=False`` or the environment
variable ``FEP_OFFLINE=1``. When it cannot, :class:`WeightsNotFoundError` says why and names the file,
its URL and the folder to put it in; no partial file or empty folder is left behind on any failure.
An explicit checkpoint path is never downloaded. Checkpoints load with ``torch.load(weights_only=True)``:
no pickled code runs.

Examples::

    >>> from fep.models import load_model, preprocess, categories
    >>> model = load_model("toy")                       # shipped weights, sha256-checked
    >>> model = load_model("r2plus1d_18")                # Kinetics-400 weights, downloaded once
    >>> model = load_model("r2plus1d_18", weights=None)  # architecture only
    >>> batch = preprocess(clip.frames, "r2plus1d_18")  # (1, 3, T, 112, 112), Kinetics normalisation
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import tempfile
import urllib.request
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fep.errors import FepFileNotFoundError, FepValueError
from fep.synthetic import CLASSES

__all__ = [
    "TOY",
    "TORCHVISION_MODELS",
    "MODEL_NAMES",
    "DATA_DIR",
    "ToyVideoNet",
    "SyntheticVideoNet",
    "SYNTHETIC_ARCHITECTURES",
    "SYNTHETIC_MODELS",
    "WeightsNotFoundError",
    "CheckpointError",
    "load_model",
    "download_checkpoint",
    "checkpoint_url",
    "DOWNLOAD_TIMEOUT",
    "preprocess",
    "display_frames",
    "categories",
    "check_input_size",
    "resolve_target",
    "sha256_of",
]

TOY = "toy"
TORCHVISION_MODELS = (
    "r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v1_b", "mvit_v2_s", "swin3d_t", "swin3d_s", "swin3d_b",
)  # fmt: skip
# torchvision architectures trained from scratch on the synthetic task (fep.train): "<arch>_synthetic".
SYNTHETIC_ARCHITECTURES = ("mc3_18", "r2plus1d_18", "r3d_18")
SYNTHETIC_MODELS = tuple(f"{arch}_synthetic" for arch in SYNTHETIC_ARCHITECTURES)
MODEL_NAMES = (TOY,) + TORCHVISION_MODELS + SYNTHETIC_MODELS
DATA_DIR = Path(os.environ.get("FEP_DATA", Path(__file__).resolve().parent.parent / "data"))
# Seconds to wait for the server to connect and for each read: an offline machine answers in seconds.
DOWNLOAD_TIMEOUT = 10.0
# torchvision's checkpoint names end in the first hex digits of the file's sha256: name-<hash>.pth
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")
TOY_WEIGHTS = "toy_model.pt"
TOY_CARD = "toy_model_card.json"

# (min frames, exact frames, min side, exact side) measured on torchvision 0.29 with weights=None.
_INPUT_RULES = {
    "s3d": dict(min_frames=13, min_side=224),
    "mvit_v1_b": dict(frames=16, side=224),
    "mvit_v2_s": dict(frames=16, side=224),
}


class WeightsNotFoundError(FepFileNotFoundError):
    """Pretrained weights are not on disk and cannot be downloaded here."""


class CheckpointError(FepValueError):
    """A checkpoint file exists but is corrupted or does not fit the model."""


class ToyVideoNet(nn.Module):
    """A (2+1)D-convolution classifier for :mod:`fep.synthetic` clips (about 41k parameters).

    Three stages of a spatial ``1×k×k`` convolution followed by a temporal ``3×1×1`` one, then global
    average pooling and a linear layer. Input ``(N, 3, T, H, W)`` in [0, 1] (it centres the input
    itself); output logits ``(N, 4)`` over :data:`fep.synthetic.CLASSES`. The temporal convolutions
    give it a 7-frame receptive field in time: it can only tell the class from motion.
    """

    classes = CLASSES

    def __init__(self, num_classes: int = len(CLASSES), width: int = 16) -> None:
        super().__init__()

        def stage(cin: int, cout: int, kernel: int) -> list[nn.Module]:
            return [
                nn.Conv3d(cin, cout, (1, kernel, kernel), stride=(1, 2, 2), padding=(0, kernel // 2, kernel // 2)),
                nn.ReLU(),
                nn.Conv3d(cout, cout, (3, 1, 1), padding=(1, 0, 0)),
                nn.ReLU(),
            ]

        self.features = nn.Sequential(*stage(3, width, 5), *stage(width, 2 * width, 3), *stage(2 * width, 4 * width, 3))
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x - 0.45).mean(dim=(2, 3, 4)))


class SyntheticVideoNet(nn.Module):
    """A torchvision video architecture with 4 outputs for the synthetic task, trained from scratch.

    Input ``(N, 3, T, H, W)`` RGB in [0, 1], like :class:`ToyVideoNet`; the network normalises it with
    Kinetics' mean and std itself. ``net`` is the torchvision model (``net.layer4`` for Grad-CAM-3D).
    """

    classes = CLASSES
    mean = (0.43216, 0.394666, 0.37645)
    std = (0.22803, 0.22145, 0.216989)

    def __init__(self, architecture: str = "mc3_18", num_classes: int = len(CLASSES)) -> None:
        import torchvision

        super().__init__()
        if architecture not in SYNTHETIC_ARCHITECTURES:
            choices = ", ".join(SYNTHETIC_ARCHITECTURES)
            raise FepValueError(f"Unknown architecture {architecture!r}; choose one of {choices}.")
        self.architecture = architecture
        self.net = torchvision.models.get_model(architecture, weights=None, num_classes=num_classes)
        self.register_buffer("_mean", torch.tensor(self.mean).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(self.std).view(1, 3, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self._mean) / self._std)


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_name(name: str) -> str:
    if name not in MODEL_NAMES:
        raise FepValueError(f"Unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}.")
    return name


def _load_state(path: Path) -> dict:
    if not path.is_file():
        raise FepFileNotFoundError(f"No checkpoint at {path}; check the path.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip, pickle and unpickler errors all mean the same thing to a user
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint ({type(err).__name__}); re-download or re-create it."
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f"{path} does not hold a state dict of tensors; save one with torch.save(model.state_dict())."
        )
    return state


def _apply_state(model: nn.Module, state: dict, path: Path, name: str) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise CheckpointError(
            f"{path} does not fit {name} ({first[:150]}); pass the checkpoint of this architecture."
        ) from None


def _shipped_files(name: str) -> tuple[Path, Path]:
    """Weights and card in ``data/`` of a model trained on the synthetic task (fep.train)."""
    if name == TOY:
        return DATA_DIR / TOY_WEIGHTS, DATA_DIR / TOY_CARD
    return DATA_DIR / f"{name}.pt", DATA_DIR / f"{name}_card.json"


def _shipped_weights(name: str) -> Path:
    """The shipped weights of ``name``, checked against the sha256 on its model card."""
    path, card_path = _shipped_files(name)
    retrain = f"python -m fep.train --model {'toy' if name == TOY else name.removesuffix('_synthetic')}"
    for what, file in (("model card", card_path), ("weights", path)):
        if not file.is_file():
            raise WeightsNotFoundError(
                f"The {name} {what} {file} is missing; restore data/ from the repository or retrain with `{retrain}`."
            )
    if sha256_of(path) != json.loads(card_path.read_text())["sha256"]:
        raise CheckpointError(
            f"{path} does not match the sha256 in {card_path.name}; the file is corrupted or was replaced — "
            f"restore it from git or retrain with `{retrain}`."
        )
    return path


def _torchvision_weights(name: str):
    import torchvision

    return torchvision.models.get_model_weights(name).DEFAULT


def checkpoint_url(name: str) -> str:
    """Where torchvision publishes the Kinetics-400 checkpoint of ``name``."""
    return _torchvision_weights(name).url


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
    from tqdm.auto import tqdm

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
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as reply:
            total = int(reply.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=path.name, disable=not progress, leave=False) as bar:
                received = 0
                for block in iter(lambda: reply.read(1 << 20), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
                    received += len(block)
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


def _kinetics_checkpoint(name: str, download: bool, progress: bool = True) -> Path:
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


def load_model(
    name: str,
    weights: str | os.PathLike | None = "default",
    device: str | torch.device = "cpu",
    download: bool = True,
    progress: bool = True,
) -> nn.Module:
    """Build a video classifier in eval mode.

    Args:
        name: ``"toy"`` or a torchvision video model (:data:`TORCHVISION_MODELS`).
        weights: ``"default"`` (the toy model's shipped weights, sha256-checked against its model card;
            Kinetics-400 weights from the torch hub cache for torchvision models, downloaded there when
            missing), None (random initialisation, seeded for the toy model) or a checkpoint path (a
            state dict).
        device: where to put the model.
        download: fetch missing Kinetics-400 weights (also off when ``FEP_OFFLINE=1``).
        progress: show the download's progress bar.

    Returns:
        The model, in eval mode, on ``device``.

    Raises:
        ValueError: unknown model name.
        WeightsNotFoundError: default weights not on disk and not downloadable (the message says why,
            and what to fetch and where to put it).
        CheckpointError: a checkpoint that is corrupted, not a state dict, fails its checksum (a
            download's hash included), or does not fit the architecture.
    """
    _check_name(name)
    path = None
    if weights is not None:  # found (or found missing) before the architecture is built: that takes seconds
        if isinstance(weights, str) and weights == "default":
            path = _shipped_weights(name) if name == TOY or name in SYNTHETIC_MODELS else None
            path = path or _kinetics_checkpoint(name, download, progress)
        else:
            path = Path(weights)
    if name == TOY or name in SYNTHETIC_MODELS:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # weights=None gives the same random model every time
            model: nn.Module = ToyVideoNet() if name == TOY else SyntheticVideoNet(name.removesuffix("_synthetic"))
    else:
        import torchvision

        model = torchvision.models.get_model(name, weights=None)
    if path is not None:
        _apply_state(model, _load_state(path), path, name)
    return model.eval().to(device)


def categories(name: str) -> list[str]:
    """Class names of a model's outputs (the toy task's classes, or Kinetics-400's)."""
    _check_name(name)
    if name == TOY or name in SYNTHETIC_MODELS:
        return list(CLASSES)
    return list(_torchvision_weights(name).meta["categories"])


def resolve_target(target: int | str, names: list[str], num_classes: int, predicted: int | None = None) -> int:
    """Turn what a user typed into a class index.

    Args:
        target: an index (int or digits), a class name (any case), or ``"auto"`` for ``predicted``.
        names: the model's class names (:func:`categories`).
        num_classes: width of the model's logits.
        predicted: the predicted class, used for ``"auto"``.

    Returns:
        An index in ``[0, num_classes)``.

    Raises:
        ValueError: an index out of range or an unknown name, with the valid range or an example.

    Examples::

        >>> resolve_target("moves left", categories("toy"), 4)
        1
    """
    text = str(target).strip()
    if text == "auto":
        if predicted is None:
            raise FepValueError("target 'auto' needs the predicted class; pass predicted=logits.argmax(1)[0].")
        return int(predicted)
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < num_classes:
            raise FepValueError(
                f"Target {index} is out of range for a model with {num_classes} classes; "
                f"pass an index between 0 and {num_classes - 1}."
            )
        return index
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    example = names[0] if names else "0"
    raise FepValueError(f"Unknown class name {text!r}; pass an index or a name such as {example!r}.")


def check_input_size(name: str, frames: int, height: int, width: int) -> None:
    """Raise ValueError if a clip of this size cannot go through the model."""
    _check_name(name)
    rule = _INPUT_RULES.get(name, {})
    if "frames" in rule and (frames, height, width) != (rule["frames"], rule["side"], rule["side"]):
        raise FepValueError(
            f"{name} accepts only {rule['frames']}x{rule['side']}x{rule['side']} clips (frames x height x width), got "
            f"{frames}x{height}x{width}; load {rule['frames']} frames and preprocess with size {rule['side']}."
        )
    if frames < rule.get("min_frames", 1) or min(height, width) < rule.get("min_side", 8):
        raise FepValueError(
            f"{name} needs at least {rule.get('min_frames', 1)} frames of {rule.get('min_side', 8)}x"
            f"{rule.get('min_side', 8)} pixels, got {frames}x{height}x{width}; load more frames or a larger size."
        )


def preprocess(video: torch.Tensor, name: str, size: int | None = None) -> torch.Tensor:
    """Turn RGB frames in [0, 1] into the model's input batch.

    Args:
        video: ``(3, T, H, W)`` or ``(N, 3, T, H, W)`` float in [0, 1] (as from
            :func:`fep.video.load_video`).
        name: the model the batch is for.
        size: override the crop size (torchvision models) or the side (toy model, default 112).

    Returns:
        ``(N, 3, T, h, w)``: for torchvision models resized, centre-cropped and normalised by the
        weights' own transforms; for the toy model resized to ``size`` and left in [0, 1].
    """
    _check_name(name)
    if not isinstance(video, torch.Tensor) or video.ndim not in (4, 5) or video.shape[-4] != 3:
        shape = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
        raise FepValueError(f"preprocess expects RGB frames (3, T, H, W) or (N, 3, T, H, W), got {shape}.")
    batch = video if video.ndim == 5 else video[None]
    if name == TOY or name in SYNTHETIC_MODELS:
        side = size or 112
        n, c, t, h, w = batch.shape
        if (h, w) == (side, side):
            return batch.float()
        frames = batch.transpose(1, 2).reshape(n * t, c, h, w).float()
        frames = F.interpolate(frames, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
        return frames.reshape(n, t, c, side, side).transpose(1, 2).clamp(0, 1)
    transform = _torchvision_weights(name).transforms()
    if size is not None:
        transform.crop_size = [size, size]
        transform.resize_size = [round(size * 128 / 112)] if name in ("r3d_18", "mc3_18", "r2plus1d_18") else [size]
    out = transform(batch.transpose(1, 2).contiguous())  # torchvision wants (N, T, C, H, W) and returns (N, C, T, h, w)
    check_input_size(name, *out.shape[-3:])
    return out


def display_frames(video: torch.Tensor, name: str, size: int | None = None) -> torch.Tensor:
    """The frames exactly as the model sees them, back in [0, 1]: for drawing explanations over.

    :func:`preprocess` resizes and centre-crops for torchvision models, so an overlay drawn on the
    original (or merely resized) frames would be shifted; this undoes only the normalisation.

    Args:
        video: ``(3, T, H, W)`` or ``(N, 3, T, H, W)`` RGB in [0, 1], as for :func:`preprocess`.
        name: the model.
        size: as for :func:`preprocess`.

    Returns:
        ``(3, T, h, w)`` (the first clip) in [0, 1], aligned voxel for voxel with the model's input.

    Examples::

        >>> frames = display_frames(clip.frames, "r2plus1d_18")       # (3, 16, 112, 112)
        >>> ExplanationExplorer(frames, {"F-EP": result})
    """
    batch = preprocess(video, name, size)[0]
    if name == TOY or name in SYNTHETIC_MODELS:
        return batch
    transform = _torchvision_weights(name).transforms()
    mean = torch.tensor(transform.mean, dtype=batch.dtype).view(3, 1, 1, 1)
    std = torch.tensor(transform.std, dtype=batch.dtype).view(3, 1, 1, 1)
    return (batch * std + mean).clamp(0, 1)
