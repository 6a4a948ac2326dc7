"""One validation for every public function that runs a model: the explanation, the baselines, the metrics.

:func:`model_inputs` takes ``model, video, target`` as a researcher passes them and, before any long
work, returns them in the form fep computes with (:class:`ModelInputs`) or refuses them with one
sentence that names the problem and the fix:

- **model**: a ``torch.nn.Module`` or any callable returning logits ``(batch, num_classes)``; a tuple,
  list or dict output is refused with the wrapper that fixes it (``lambda v: net(v)[0]``). A plain
  function cannot be frozen (eval mode, no weight gradients), so it runs as it is, said once.
- **video**: a floating tensor ``(N, C, T, H, W)``, or ``(N, C, H, W)`` images for an image model. A clip
  without its batch axis, a frames-first layout ``(N, T, C, H, W)`` and a channel count the model does
  not take are each answered with their own fix. float64, float16 and bfloat16 clips are converted to
  the model's dtype, with a note; integer clips are refused (they need the model's normalisation).
- **target**: a class index, one per clip (list, numpy array, 1-D tensor; numpy integers too), or
  ``None`` for the class the model predicts, which the result records.

One forward pass of the first clip (the *probe*) checks the output's shape, the number of classes and
turns a shape error inside the model into the right advice; the explanation makes its memory-measuring
call the probe, so it costs nothing extra there.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from fep.ep.checks import check_model, check_target, check_target_range, check_video
from fep.ep.model_state import first_conv, frozen_model, model_device
from fep.errors import FepTypeError, FepValueError

__all__ = ["ModelInputs", "model_inputs", "checked_inputs", "model_forward", "check_logits", "as_targets"]


@dataclass(frozen=True)
class ModelInputs:
    """What :func:`model_inputs` returns.

    Attributes:
        video: ``(N, C, T, H, W)``, detached, in the model's dtype (images as one-frame clips).
        targets: one class index per clip.
        is_image: the input was an image batch ``(N, C, H, W)``: the model is called on 4-D tensors.
        logits: the probe's output for clip 0, ``(1, K)``, detached.
        num_classes: ``K``.
        predicted: the targets are the model's predictions (``target=None``).
    """

    video: torch.Tensor
    targets: list[int]
    is_image: bool
    logits: torch.Tensor
    num_classes: int
    predicted: bool


def model_forward(model: Callable, is_image: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """``clips (B, C, T, H, W)`` → the model's output, calling it on 4-D images when ``is_image``."""
    return (lambda clips: model(clips[:, :, 0])) if is_image else model


def check_logits(output: object, batch: int) -> torch.Tensor:
    """The model's output must be a logits tensor ``(batch, num_classes)``; otherwise say how to wrap it."""
    if isinstance(output, torch.Tensor) and output.ndim == 2 and output.shape[0] == batch:
        return output
    if isinstance(output, (tuple, list)):
        raise FepValueError(
            f"The model returned a {type(output).__name__} of {len(output)}, not a logits tensor; fep accepts any "
            "callable, so wrap it: model=lambda v: net(v)[0] (the element holding logits (batch, num_classes))."
        )
    if isinstance(output, dict):
        key = "logits" if "logits" in output else next(iter(output), "logits")
        raise FepValueError(
            f"The model returned a dict with keys {list(output)[:4]}, not a logits tensor; wrap it: "
            f"model=lambda v: net(v)[{key!r}]."
        )
    shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
    raise FepValueError(
        f"The model returned {shape} for a batch of {batch} clips; fep needs logits of "
        "shape (batch, num_classes) — wrap the model so that it returns them."
    )


def as_targets(target: object, batch: int) -> list[int] | None:
    """numpy integers and arrays as targets, ``None`` kept (the predicted class); then :func:`check_target`."""
    if target is None:
        return None
    if isinstance(target, np.ndarray):
        if target.dtype.kind not in "iu":
            raise FepTypeError(f"target must hold class indices (integers), got a numpy array of {target.dtype}.")
        target = target.tolist()
    elif isinstance(target, np.integer):
        target = int(target)
    elif isinstance(target, (list, tuple)):
        target = [int(t) if isinstance(t, np.integer) else t for t in target]
    if isinstance(target, torch.Tensor) and target.ndim == 0 and not target.is_floating_point():
        target = int(target)
    return check_target(target, batch)


def _model_dtype(model: Callable) -> torch.dtype:
    if isinstance(model, torch.nn.Module):
        for tensor in list(model.parameters()) + list(model.buffers()):
            if tensor.is_floating_point():
                return tensor.dtype
    return torch.float32


def _layout_advice(shape: tuple[int, ...], model: Callable) -> str | None:
    """Why a clip of ``shape`` (as passed) does not fit the model, with the fix; None without a guess."""
    conv = first_conv(model)
    if conv is None:
        return None
    expected = conv.in_channels
    if len(shape) == 4 and isinstance(conv, torch.nn.Conv3d):
        if shape[1] == expected and shape[0] != expected:
            return (
                f"The input {shape} is an image batch (N, C, H, W) but the model takes clips (N, C, T, H, W); "
                "add a time axis for one-frame clips: video[:, :, None]."
            )
        return (
            f"The input {shape} is 4-D but the model takes clips (N, C, T, H, W); for one clip (C, T, H, W) "
            "add the batch axis: video[None]."
        )
    if len(shape) == 5 and shape[1] != expected:
        if shape[2] == expected:
            return (
                f"The clip {shape} looks frames-first (N, T, C, H, W) but the model takes (N, C, T, H, W); "
                "pass video.permute(0, 2, 1, 3, 4)."
            )
        plural = "s" if shape[1] != 1 else ""
        fix = (
            "drop the alpha channel with video[:, :3]."
            if shape[1] == 4 and expected == 3
            else "convert the clip to the model's colour format (e.g. RGB: video.expand(-1, 3, ...))."
        )
        return f"The video has {shape[1]} channel{plural} but the model's first layer takes {expected}; " + fix
    return None


def _converted(video: torch.Tensor, model: Callable) -> torch.Tensor:
    dtype = _model_dtype(model)
    if video.dtype == dtype:
        return video
    warnings.warn(
        f"The clip is {str(video.dtype).removeprefix('torch.')} and the model {str(dtype).removeprefix('torch.')}; "
        f"fep converted the clip (pass video.to({str(dtype)}) to silence this note).",
        UserWarning,
        stacklevel=4,
    )
    return video.to(dtype)


def model_inputs(
    caller: str,
    model: Callable,
    video: object,
    target: object,
    *,
    needs_module: bool = False,
    one_clip: bool = False,
    first_call: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> ModelInputs:
    """Check and normalise ``model, video, target`` before any long work (see the module docstring).

    Args:
        caller: the public function's name, for messages.
        model: a module or a callable returning logits.
        video: ``(N, C, T, H, W)`` clips or ``(N, C, H, W)`` images.
        target: class index, one per clip, or None (the predicted class).
        needs_module: the caller reads layers (Grad-CAM): a plain function is refused.
        one_clip: the caller takes exactly one clip ``(1, C, T, H, W)``.
        first_call: runs the model on clip 0 ``(1, C, T, H, W)`` and returns its output (default: a
            forward pass without gradients); the explanation measures its memory with it.

    Returns:
        :class:`ModelInputs`.

    Raises:
        FepTypeError, FepValueError: one sentence naming the problem and the fix.

    Examples::

        >>> inputs = model_inputs("vanilla_gradient", model, clip, None)
        >>> inputs.targets          # the predicted class of each clip
    """
    check_model(model, caller, needs_module)
    clips, is_image = _checked_clips(caller, model, video, one_clip)
    targets = as_targets(target, clips.shape[0])
    device = model_device(model)
    if device is not None and device != clips.device:
        raise FepValueError(
            f"The model is on {device} but the video is on {clips.device}; move one of them, e.g. video.to('{device}')."
        )
    forward = model_forward(model, is_image)
    logits = _probe(forward, clips, tuple(video.shape), model, first_call)
    predicted = targets is None
    if predicted:
        with torch.no_grad():
            rest = [check_logits(forward(clips[i : i + 1]), 1) for i in range(1, clips.shape[0])]
        targets = [int(row.argmax()) for row in torch.cat([logits, *rest])]
    check_target_range(targets, logits.shape[1])
    return ModelInputs(clips, targets, is_image, logits, int(logits.shape[1]), predicted)


def _checked_clips(caller: str, model, video, one_clip: bool) -> tuple[torch.Tensor, bool]:
    """The clip 5-D in the model's dtype, and whether it came as images; refused with the fix otherwise."""
    if isinstance(video, torch.Tensor) and video.ndim == 4:
        advice = _layout_advice(tuple(video.shape), model)
        if advice:  # a video model would read an image batch as one unbatched clip
            raise FepValueError(advice)
    is_image = isinstance(video, torch.Tensor) and video.ndim == 4
    clips = _converted(check_video(video).detach(), model)
    if one_clip and clips.shape[0] != 1:
        shape = tuple(clips.shape)
        raise FepValueError(f"{caller} takes one clip (1, C, T, H, W), got {shape}; pass video[i : i + 1].")
    return clips, is_image


def _probe(forward, clips: torch.Tensor, shape: tuple[int, ...], model, first_call) -> torch.Tensor:
    """The first call, on clip 0: its logits ``(1, K)``, or the right advice for a layout the model rejects."""
    try:
        if first_call is not None:
            output = first_call(clips[:1])
        else:
            with torch.no_grad():
                output = forward(clips[:1])
    except RuntimeError as err:
        advice = _layout_advice(shape, model)
        if advice is None:
            raise
        raise FepValueError(advice) from err
    return check_logits(output, 1).detach()


def checked_inputs(caller: str, model, video, target, *, needs_module: bool = False, one_clip: bool = False):
    """:func:`model_inputs` with its probe run in eval mode, for the baselines and the metrics: the clips
    ``(N, C, T, H, W)``, one target per clip and the model as a function of 5-D clips."""
    with frozen_model(model):
        inputs = model_inputs(caller, model, video, target, needs_module=needs_module, one_clip=one_clip)
    return inputs.video, inputs.targets, model_forward(model, inputs.is_image)
