"""Borrow a user's model for an explanation and give it back exactly as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["frozen_model", "model_device", "guess_num_classes"]


@contextmanager
def frozen_model(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Freeze parameters and switch to eval mode for the duration of a ``with`` block.

    Freezing removes the weight-gradient half of every backward pass (only input gradients are
    needed to explain). On exit — normal or by exception — every parameter's ``requires_grad`` and
    every submodule's ``training`` flag are restored one by one (a model may mix modes), and the
    global grad mode is as it was.

    Args:
        model: any ``torch.nn.Module``.

    Yields:
        The same model object.

    Examples::

        >>> with frozen_model(model):
        ...     logits = model(video)
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    requires_grad = [(p, p.requires_grad) for p in model.parameters()]
    training = [(m, m.training) for m in model.modules()]
    grad_enabled = torch.is_grad_enabled()
    try:
        for p, _ in requires_grad:
            p.requires_grad_(False)
        model.eval()
        yield model
    finally:
        for p, flag in requires_grad:
            p.requires_grad_(flag)
        for m, flag in training:
            m.training = flag
        torch.set_grad_enabled(grad_enabled)


def model_device(model: torch.nn.Module) -> torch.device | None:
    """Device of the model's first parameter or buffer, or None for a model with neither."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return None


def guess_num_classes(model: torch.nn.Module) -> int | None:
    """Output size of the model's last registered Linear or Conv layer (its classifier head, as in
    every torchvision video model), or None when it has neither.

    Used only to refuse an out-of-range target before any model call; the logits' real width is
    checked again after the first forward pass.
    """
    last = None
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            last = module.out_features
        elif isinstance(module, torch.nn.modules.conv._ConvNd):
            last = module.out_channels
    return last
