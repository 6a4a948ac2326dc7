"""Input validation shared by the public entry points: one clear sentence per problem, never assert."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence

import torch

from fep.errors import FepTypeError, FepValueError

__all__ = [
    "check_choice",
    "check_non_negative",
    "check_integer",
    "check_bool",
    "check_video",
    "check_areas",
    "check_positive_int",
    "check_positive_float",
    "check_unit_interval",
    "check_target",
    "check_target_range",
    "check_model",
    "check_num_levels",
    "check_optional",
]


def check_choice(name: str, value: str, options: Sequence[str]) -> str:
    """Raise ValueError unless ``value`` is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise FepValueError(f"Unknown {name} {value!r}; choose one of {', '.join(repr(o) for o in options)}.")
    return value


def check_video(video: object) -> torch.Tensor:
    """Accept a float tensor ``(N, C, T, H, W)`` or an image batch ``(N, C, H, W)``; return it 5-D.

    An image batch is returned as a one-frame video ``(N, C, 1, H, W)`` (a view, no copy).
    """
    if not isinstance(video, torch.Tensor):
        raise FepTypeError(
            f"The video must be a torch.Tensor (N, C, T, H, W), got {type(video).__name__}; "
            "convert it with torch.as_tensor(...) or load it with fep.data.video.load_video."
        )
    if video.ndim == 4:
        video = video.unsqueeze(2)
    if video.ndim != 5:
        raise FepValueError(
            f"The video must have shape (N, C, T, H, W) (or (N, C, H, W) for images), got "
            f"{tuple(video.shape)}; add a batch dim with video[None] or reorder with video.permute(...)."
        )
    if not video.is_floating_point():
        raise FepTypeError(
            f"The video must be a floating tensor, got {video.dtype}; normalise it as the model expects, "
            "e.g. with fep.models.preprocess or video.float() / 255."
        )
    if min(video.shape) < 1:
        raise FepValueError(f"The video has an empty dimension: shape {tuple(video.shape)}; pass at least one frame.")
    if not torch.isfinite(video).all():
        raise FepValueError("The video contains NaN or Inf values; clean or re-normalise it before explaining.")
    return video


def check_areas(areas: float | Iterable[float]) -> tuple[float, ...]:
    """Areas are fractions in the open interval (0, 1); at least one."""
    if isinstance(areas, (int, float)):
        areas = (areas,)
    try:
        areas = tuple(float(a) for a in areas)
    except (TypeError, ValueError):
        raise FepTypeError(f"areas must be a number or a list of numbers in (0, 1), got {areas!r}.") from None
    if not areas:
        raise FepValueError("areas is empty; pass at least one area fraction in (0, 1), e.g. areas=(0.1,).")
    for a in areas:
        if not 0.0 < a < 1.0 or math.isnan(a):
            raise FepValueError(f"Area {a} is outside (0, 1); an area is the fraction of the clip to keep, e.g. 0.1.")
    return areas


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FepValueError(f"{name} must be a positive integer, got {value!r}; pass a whole number such as 1 or 100.")
    return value


def _as_float(name: str, value: object, expected: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FepTypeError(f"{name} must be {expected}, got {value!r}.") from None
    if math.isnan(number):
        raise FepValueError(f"{name} must be {expected}, got NaN.")
    return number


def check_positive_float(name: str, value: object) -> float:
    value = _as_float(name, value, "a positive number")
    if not value > 0 or math.isinf(value):
        raise FepValueError(f"{name} must be a positive finite number, got {value}.")
    return value


def check_unit_interval(name: str, value: object) -> float:
    value = _as_float(name, value, "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise FepValueError(f"{name} must lie in [0, 1], got {value}; pick a value in range, e.g. 0.25.")
    return value


def check_target(target: object, batch: int) -> list[int]:
    """Normalise ``target`` (int, sequence of ints, or integer tensor) to one class index per clip."""
    if isinstance(target, torch.Tensor):
        if target.is_floating_point() or target.ndim > 1:
            raise FepTypeError(
                f"target must be an int or a 1-D integer tensor, got {target.dtype} {tuple(target.shape)}."
            )
        target = target.tolist()
    if isinstance(target, bool):
        raise FepTypeError("target must be a class index (int), got a bool.")
    if isinstance(target, int):
        target = [target] * batch
    if not isinstance(target, (list, tuple)) or not all(isinstance(t, int) and not isinstance(t, bool) for t in target):
        raise FepTypeError(f"target must be a class index or one index per clip, got {target!r}.")
    if len(target) != batch:
        raise FepValueError(f"Got {len(target)} targets for {batch} clips; pass one target per clip or a single int.")
    for t in target:
        if t < 0:
            raise FepValueError(f"Target {t} is negative; pass a class index between 0 and num_classes - 1.")
    return list(target)


def check_target_range(targets: list[int], num_classes: int) -> None:
    for t in targets:
        if t >= num_classes:
            raise FepValueError(
                f"Target {t} is out of range for a model with {num_classes} classes; "
                f"pass an index between 0 and {num_classes - 1}."
            )


_WARNED_PLAIN_FUNCTION = [False]


def check_model(model: object, caller: str = "", needs_module: bool = False):
    """A ``torch.nn.Module`` or any callable returning logits (a function, a ``lambda``, a bound method).

    fep borrows a module (eval mode, frozen weights) and gives it back as it was; a plain function
    cannot be frozen, so it runs as it is, said once per session. ``needs_module``: the caller reads a
    layer (Grad-CAM), so a plain function is refused.
    """
    if isinstance(model, torch.nn.Module):
        return model
    if needs_module:
        raise FepTypeError(
            f"{caller or 'This method'} reads a layer's activations, so model must be a torch.nn.Module, got "
            f"{type(model).__name__}; pass the network itself (wrap its output in a small nn.Module if needed)."
        )
    if isinstance(model, type):
        name = model.__name__
        raise FepTypeError(f"model is the class {name}, not a model; pass an instance, e.g. {name}().")
    if not callable(model):
        kind = type(model).__name__
        raise FepTypeError(f"model must be a torch.nn.Module or a callable returning logits, got {kind}.")
    if not _WARNED_PLAIN_FUNCTION[0]:
        _WARNED_PLAIN_FUNCTION[0] = True
        warnings.warn(
            "model is a plain function, so fep cannot switch it to eval mode or freeze its weights: each "
            "backward pass also computes weight gradients; pass the nn.Module itself to avoid that.",
            UserWarning,
            stacklevel=3,
        )
    return model


def check_num_levels(name: str, value: object) -> int:
    """A perturbation pyramid has at least two levels: the clip and its most blurred copy."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise FepValueError(f"{name} must be an integer >= 2, got {value!r}.")
    return value


def check_optional(check):
    """``check`` for an option whose ``None`` means "resolved from the others" (or off)."""

    def optional(name: str, value: object):
        return None if value is None else check(name, value)

    optional.__name__ = f"optional_{getattr(check, '__name__', 'check')}"
    return optional


def check_non_negative(name: str, value):
    if value is None:
        return None
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)) or not value >= 0:
        raise FepValueError(f"{name} must be >= 0, got {value}.")
    return float(value)


def check_integer(name: str, value):
    if not isinstance(value, int) or isinstance(value, bool):
        raise FepTypeError(f"{name} must be an integer, got {value!r}.")
    return value


def check_bool(name: str, value):
    if value is not None and not isinstance(value, bool):
        raise FepTypeError(f"{name} must be True or False, got {value!r}.")
    return value
