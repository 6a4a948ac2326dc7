"""Loading the registered models (:mod:`fep.models.registry`) and preparing clips for them.

Shipped weights (trained on the synthetic task) are checked against the sha256 on their model card;
Kinetics-400 weights come from the torch hub cache, downloaded there when missing
(:mod:`fep.models.download`). An explicit checkpoint path is never downloaded. Checkpoints load with
``torch.load(weights_only=True)``: no pickled code runs.

Examples::

    >>> from fep.models import load_model, preprocess, categories
    >>> model = load_model("toy")                       # shipped weights, sha256-checked
    >>> model = load_model("r2plus1d_18")                # Kinetics-400 weights, downloaded once
    >>> model = load_model("r2plus1d_18", weights=None)  # architecture only
    >>> batch = preprocess(clip.frames, "r2plus1d_18")  # (1, 3, T, 112, 112), Kinetics normalisation
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fep.errors import FepFileNotFoundError, FepValueError
from fep.models.download import CheckpointError, WeightsNotFoundError, kinetics_checkpoint, torchvision_weights
from fep.models.registry import ModelSpec, get_spec

__all__ = [
    "load_model",
    "preprocess",
    "display_frames",
    "categories",
    "check_input_size",
    "resolve_target",
    "sha256_of",
]


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pickled_class(err: Exception) -> str | None:
    """The class a ``weights_only`` load refused, when the file holds a pickled object such as a whole
    model (``torch.save(model)``): ``Unsupported global: GLOBAL mymodels.Net`` names it."""
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
    if found is None:
        return None
    name = found.group(1)
    return name if name.rsplit(".", 1)[-1][:1].isupper() else None  # a class, not a function such as touch


def _load_state(path: Path) -> dict:
    if not path.is_file():
        raise FepFileNotFoundError(f"No checkpoint at {path}; check the path.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip, pickle and unpickler errors all mean the same thing to a user
        pickled = _pickled_class(err)
        if pickled is not None:
            raise CheckpointError(
                f"{path} holds a pickled {pickled} (a whole model), which fep does not unpickle: it loads with "
                "weights_only=True so no code in a file runs; save the weights with "
                "torch.save(model.state_dict(), path) and pass that."
            ) from None
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


def _fit_head(model: nn.Module, state: dict) -> None:
    """A fine-tuned checkpoint of this architecture with another number of classes: give the model the
    checkpoint's head (the one layer whose weights differ in their output width only)."""
    own = model.state_dict()
    differing = {key for key, value in state.items() if key in own and own[key].shape != value.shape}
    layers = {key.rsplit(".", 1)[0] for key in differing}
    if len(layers) != 1:
        return
    (layer,) = layers
    old, weight = model.get_submodule(layer), state.get(f"{layer}.weight")
    if weight is None or tuple(weight.shape[1:]) != tuple(old.weight.shape[1:]):
        return
    if isinstance(old, nn.Linear):
        new = nn.Linear(old.in_features, weight.shape[0], bias=old.bias is not None)
    elif isinstance(old, nn.Conv3d):
        new = nn.Conv3d(old.in_channels, weight.shape[0], old.kernel_size, old.stride, old.padding,
                        bias=old.bias is not None)  # fmt: skip
    else:
        return
    parent, _, child = layer.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def _apply_state(model: nn.Module, state: dict, path: Path, name: str) -> None:
    _fit_head(model, state)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise CheckpointError(
            f"{path} does not fit {name} ({first[:150]}); pass the checkpoint of this architecture."
        ) from None


def _shipped_weights(spec: ModelSpec) -> Path:
    """The shipped weights of a model, checked against the sha256 on its model card."""
    retrain = spec.train_command
    for what, file in (("model card", spec.card_file), ("weights", spec.weights_file)):
        if not file.is_file():
            raise WeightsNotFoundError(
                f"The {spec.name} {what} {file} is missing; restore data/ from the repository or retrain with "
                f"`{retrain}`."
            )
    if sha256_of(spec.weights_file) != spec.card()["sha256"]:
        raise CheckpointError(
            f"{spec.weights_file} does not match the sha256 in {spec.card_file.name}; the file is corrupted or was "
            f"replaced — restore it from git or retrain with `{retrain}`."
        )
    return spec.weights_file


def load_model(
    name: str,
    weights: str | os.PathLike | None = "default",
    device: str | torch.device = "cpu",
    download: bool = True,
    progress: bool = True,
) -> nn.Module:
    """Build a video classifier in eval mode.

    Args:
        name: a registered model (:data:`fep.models.registry.MODEL_NAMES`): ``"toy"``, a model trained
            on the synthetic task (``"mc3_18_synthetic"``) or a torchvision Kinetics-400 model.
        weights: ``"default"`` (the toy model's shipped weights, sha256-checked against its model card;
            Kinetics-400 weights from the torch hub cache for torchvision models, downloaded there when
            missing), None (random initialisation, seeded for the toy model) or a checkpoint path (a
            state dict; a model fine-tuned to another number of classes gets the checkpoint's head).
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
    spec = get_spec(name)
    path = None
    if weights is not None:  # found (or found missing) before the architecture is built: that takes seconds
        if isinstance(weights, str) and weights == "default":
            shipped = spec.shipped
            path = _shipped_weights(spec) if shipped else kinetics_checkpoint(spec.architecture, download, progress)
        else:
            path = Path(weights)
    model = spec.build()
    if path is not None:
        _apply_state(model, _load_state(path), path, name)
    return model.eval().to(device)


def categories(name: str) -> list[str]:
    """Class names of a model's outputs (the synthetic task's classes, or Kinetics-400's)."""
    return get_spec(name).categories()


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
    spec = get_spec(name)
    if spec.frames and (frames, height, width) != (spec.frames, spec.side, spec.side):
        raise FepValueError(
            f"{name} accepts only {spec.frames}x{spec.side}x{spec.side} clips (frames x height x width), got "
            f"{frames}x{height}x{width}; load {spec.frames} frames and preprocess with size {spec.side}."
        )
    if frames < spec.min_frames or min(height, width) < spec.min_side:
        raise FepValueError(
            f"{name} needs at least {spec.min_frames} frames of {spec.min_side}x{spec.min_side} pixels, got "
            f"{frames}x{height}x{width}; load more frames or a larger size."
        )


def preprocess(video: torch.Tensor, name: str, size: int | None = None) -> torch.Tensor:
    """Turn RGB frames in [0, 1] into the model's input batch.

    Args:
        video: ``(3, T, H, W)`` or ``(N, 3, T, H, W)`` float in [0, 1] (as from
            :func:`fep.data.video.load_video`).
        name: the model the batch is for.
        size: override the crop size (torchvision models) or the side (toy model, default 112).

    Returns:
        ``(N, 3, T, h, w)``: for torchvision models resized, centre-cropped and normalised by the
        weights' own transforms; for the toy model resized to ``size`` and left in [0, 1].
    """
    spec = get_spec(name)
    if not isinstance(video, torch.Tensor) or video.ndim not in (4, 5) or video.shape[-4] != 3:
        shape = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
        raise FepValueError(f"preprocess expects RGB frames (3, T, H, W) or (N, 3, T, H, W), got {shape}.")
    batch = video if video.ndim == 5 else video[None]
    if spec.shipped:
        side = size or 112
        n, c, t, h, w = batch.shape
        if (h, w) == (side, side):
            return batch.float()
        frames = batch.transpose(1, 2).reshape(n * t, c, h, w).float()
        frames = F.interpolate(frames, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
        return frames.reshape(n, t, c, side, side).transpose(1, 2).clamp(0, 1)
    transform = torchvision_weights(spec.architecture).transforms()
    if size is not None:
        transform.crop_size = [size, size]
        transform.resize_size = [round(size * spec.resize_ratio)]
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
    spec = get_spec(name)
    batch = preprocess(video, name, size)[0]
    if spec.shipped:
        return batch
    transform = torchvision_weights(spec.architecture).transforms()
    mean = torch.tensor(transform.mean, dtype=batch.dtype).view(3, 1, 1, 1)
    std = torch.tensor(transform.std, dtype=batch.dtype).view(3, 1, 1, 1)
    return (batch * std + mean).clamp(0, 1)
