"""Video models: the shipped toy model and torchvision's Kinetics-400 zoo, loaded offline.

Nothing is downloaded. Kinetics weights are looked up where torchvision would cache them
(``$TORCH_HOME/hub/checkpoints/<file>``, see :func:`torch.hub.get_dir`) or taken from an explicit
checkpoint path; when absent, :class:`WeightsNotFoundError` names the file, its URL and the folder to
put it in — and no empty folder or partial file is left behind. Checkpoints load with
``torch.load(weights_only=True)``: no pickled code runs.

Examples::

    >>> from fep.models import load_model, preprocess, categories
    >>> model = load_model("toy")                       # shipped weights, sha256-checked
    >>> model = load_model("r2plus1d_18", weights=None)  # architecture only
    >>> batch = preprocess(clip.frames, "r2plus1d_18")  # (1, 3, T, 112, 112), Kinetics normalisation
"""

from __future__ import annotations

import hashlib
import json
import os
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
    "WeightsNotFoundError",
    "CheckpointError",
    "load_model",
    "preprocess",
    "categories",
    "check_input_size",
    "resolve_target",
    "sha256_of",
]

TOY = "toy"
TORCHVISION_MODELS = (
    "r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v1_b", "mvit_v2_s", "swin3d_t", "swin3d_s", "swin3d_b",
)  # fmt: skip
MODEL_NAMES = (TOY,) + TORCHVISION_MODELS
DATA_DIR = Path(os.environ.get("FEP_DATA", Path(__file__).resolve().parent.parent / "data"))
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


def _toy_card() -> dict:
    card = DATA_DIR / TOY_CARD
    if not card.is_file():
        raise WeightsNotFoundError(
            f"The toy model card {card} is missing; restore data/ from the repository or retrain with "
            "`python -m fep.train_toy`."
        )
    return json.loads(card.read_text())


def _torchvision_weights(name: str):
    import torchvision

    return torchvision.models.get_model_weights(name).DEFAULT


def _kinetics_checkpoint(name: str) -> Path:
    weights = _torchvision_weights(name)
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / os.path.basename(weights.url)
    if not path.is_file():
        # Looked up only: torchvision's own download would create the folder and then fail offline.
        raise WeightsNotFoundError(
            f"Kinetics-400 weights for {name} are not on this machine: put {path.name} (from {weights.url}) "
            f"into {folder} (set TORCH_HOME to use another cache), or pass weights='path/to/checkpoint.pth'."
        )
    return path


def load_model(
    name: str, weights: str | os.PathLike | None = "default", device: str | torch.device = "cpu"
) -> nn.Module:
    """Build a video classifier in eval mode.

    Args:
        name: ``"toy"`` or a torchvision video model (:data:`TORCHVISION_MODELS`).
        weights: ``"default"`` (the toy model's shipped weights, sha256-checked against its model card;
            Kinetics-400 weights from the torch hub cache for torchvision models), None (random
            initialisation, seeded for the toy model) or a checkpoint path (a state dict).
        device: where to put the model.

    Returns:
        The model, in eval mode, on ``device``.

    Raises:
        ValueError: unknown model name.
        WeightsNotFoundError: default weights not on disk (the message says what to download and where).
        CheckpointError: a checkpoint that is corrupted, not a state dict, fails its checksum, or does
            not fit the architecture.
    """
    _check_name(name)
    if name == TOY:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # weights=None gives the same random model every time
            model: nn.Module = ToyVideoNet()
    else:
        import torchvision

        model = torchvision.models.get_model(name, weights=None)
    if weights is not None:
        if isinstance(weights, str) and weights == "default":
            if name == TOY:
                path = DATA_DIR / TOY_WEIGHTS
                card = _toy_card()
                if not path.is_file():
                    raise WeightsNotFoundError(
                        f"The toy model weights {path} are missing; retrain with `python -m fep.train_toy`."
                    )
                if sha256_of(path) != card["sha256"]:
                    raise CheckpointError(
                        f"{path} does not match the sha256 in {TOY_CARD}; the file is corrupted or was "
                        "replaced — restore it from git or retrain with `python -m fep.train_toy`."
                    )
            else:
                path = _kinetics_checkpoint(name)
        else:
            path = Path(weights)
        _apply_state(model, _load_state(path), path, name)
    return model.eval().to(device)


def categories(name: str) -> list[str]:
    """Class names of a model's outputs (the toy task's classes, or Kinetics-400's)."""
    _check_name(name)
    if name == TOY:
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
    if name == TOY:
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
