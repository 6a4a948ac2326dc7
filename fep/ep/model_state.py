"""Borrow a user's model for an explanation and give it back exactly as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from fep.ep.checks import check_model

__all__ = ["frozen_model", "channels_last_model", "preserved_torch_settings", "model_device", "first_conv"]


@contextmanager
def preserved_torch_settings() -> Iterator[None]:
    """Put torch's global settings back as they were when the block ends (normally or not).

    Covers what an explanation, or a model it calls, might change: grad mode, the number of intra-op
    threads, deterministic-algorithm mode (and its warn-only flag), cuDNN's benchmark and
    deterministic flags, and the CPU and (initialised) CUDA random number generators.

    Examples::

        >>> with preserved_torch_settings():
        ...     torch.set_num_threads(1)   # undone on exit
    """
    grad_enabled = torch.is_grad_enabled()
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        torch.set_grad_enabled(grad_enabled)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = cudnn
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


@contextmanager
def frozen_model(model: torch.nn.Module, channels_last: bool = False) -> Iterator[torch.nn.Module]:
    """Freeze parameters and switch to eval mode for the duration of a ``with`` block.

    Freezing removes the weight-gradient half of every backward pass (only input gradients are
    needed to explain). On exit — normal or by exception — every parameter's ``requires_grad`` and
    every submodule's ``training`` flag are restored one by one (a model may mix modes), and torch's
    global settings and random state are as they were (:func:`preserved_torch_settings`).

    Args:
        model: any ``torch.nn.Module``, or a callable (run as it is: it has no weights to freeze).
        channels_last: also lay its 5-D weights out channels-last for the block (:func:`channels_last_model`).

    Yields:
        The same model object.

    Examples::

        >>> with frozen_model(model):
        ...     logits = model(video)
    """
    check_model(model)
    module = model if isinstance(model, torch.nn.Module) else torch.nn.Module()
    requires_grad = [(p, p.requires_grad) for p in module.parameters()]
    training = [(m, m.training) for m in module.modules()]
    with preserved_torch_settings(), channels_last_model(model, channels_last):
        try:
            for p, _ in requires_grad:
                p.requires_grad_(False)
            module.eval()
            yield model
        finally:
            for p, flag in requires_grad:
                p.requires_grad_(flag)
            for m, flag in training:
                m.training = flag


def model_device(model) -> torch.device | None:
    """Device of the model's first parameter or buffer, or None for a model with neither (or a function)."""
    if not isinstance(model, torch.nn.Module):
        return None
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return None


def first_conv(model) -> torch.nn.Module | None:
    """The model's first registered Conv layer (its stem in every torchvision video model), or None."""
    if isinstance(model, torch.nn.Module):
        for module in model.modules():
            if isinstance(module, torch.nn.modules.conv._ConvNd):
                return module
    return None


@contextmanager
def channels_last_model(model: torch.nn.Module, enabled: bool = True) -> Iterator[torch.nn.Module]:
    """Lay a model's 5-D weights out channels-last for a ``with`` block; give back the very tensors it had.

    oneDNN's 3-D convolutions run faster on CPU in ``torch.channels_last_3d`` (a forward+backward of
    r2plus1d_18 at batch 2 took 0.7x the time on a 2-core CPU). Each 5-D parameter's ``.data`` is swapped
    for a channels-last copy; on exit the original tensors go back, so the model's layout, storage and
    values are exactly as before (normally or by exception). Buffers are not touched.

    Args:
        model: the borrowed model (a callable that is no ``nn.Module`` is left alone).
        enabled: False yields the model untouched.
    """
    if not enabled or not isinstance(model, torch.nn.Module):
        yield model
        return
    data = [(p, p.data) for p in model.parameters()]
    try:
        for p, tensor in data:
            if tensor.dim() == 5:
                p.data = tensor.contiguous(memory_format=torch.channels_last_3d)
        yield model
    finally:
        for p, tensor in data:
            p.data = tensor
