"""How many masked clips fit in memory at once, and a clear error when not even one does.

An explanation optimises N clips x A areas in one model batch. On a laptop that batch may not fit;
instead of letting the operating system kill the kernel (or CUDA raise mid-run), the engine estimates
the memory of one masked clip before the optimisation starts and splits the batch into chunks that
fit (:func:`chunk_size`). The estimate comes from one forward pass of one clip with the input
requiring grad: the tensors autograd saves for the backward pass are what an iteration keeps alive
(:func:`saved_activation_bytes`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from fep.errors import FepError

__all__ = [
    "InsufficientMemoryError",
    "available_memory",
    "saved_activation_bytes",
    "item_bytes",
    "chunk_size",
    "describe",
]

# Share of the free memory an explanation may plan to use (the rest is headroom for the allocator,
# temporaries of the backward pass and whatever else runs).
USABLE_SHARE = 0.8


class InsufficientMemoryError(FepError, MemoryError):
    """One masked clip needs more memory than is free."""


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory(device: torch.device | str = "cpu") -> int | None:
    """Free bytes for tensors on ``device``, or None when the system does not say.

    CUDA: free device memory plus what PyTorch's caching allocator holds unused. CPU (Linux):
    ``MemAvailable`` from ``/proc/meminfo``, lowered to the cgroup limit minus current usage in a
    container.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if device.type != "cpu":
        return None
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
                break
    except OSError:
        return None
    limit, used = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    if free is not None and limit is not None and used is not None:
        free = min(free, max(0, limit - used))
    return free


def saved_activation_bytes(model: torch.nn.Module, clip: torch.Tensor, forward=None) -> tuple[torch.Tensor, int]:
    """Run ``model`` on ``clip`` (a batch of one) with the input requiring grad and count the bytes
    of the tensors autograd saves for backward (each storage once; parameters and buffers excluded,
    they are resident anyway).

    Args:
        model: the classifier (its parameters may be frozen).
        clip: ``(1, C, ...)`` input.
        forward: ``forward(clip) -> logits`` when the model needs the clip reshaped (default ``model``).

    Returns:
        ``(logits, bytes)``; the logits are detached.
    """
    weights = list(model.parameters()) + list(model.buffers()) if isinstance(model, torch.nn.Module) else []
    resident = {t.untyped_storage().data_ptr() for t in weights}
    seen: set[int] = set()
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        if tensor.layout == torch.strided and tensor.device.type != "meta":
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key not in resident and key not in seen:
                seen.add(key)
                total += storage.nbytes()
        # A detached alias keeps the storage alive (so addresses are not reused while counting) without
        # tying an output to its own grad_fn: returning ``tensor`` itself makes a reference cycle that
        # keeps every activation alive after the probe.
        return tensor.detach()

    probe = clip.detach().requires_grad_(True)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        logits = (model if forward is None else forward)(probe)
    return (logits.detach() if isinstance(logits, torch.Tensor) else logits), total


def item_bytes(activation_bytes: int, clip: torch.Tensor, num_levels: int) -> int:
    """Estimated peak bytes per masked clip in the optimisation batch.

    The backward pass holds the saved activations plus gradient buffers about half their size; the
    engine adds the clip's perturbation pyramid (``num_levels`` copies) and a few clip-sized
    temporaries (masked clip, the two pyramid levels it blends, flips, gradients).
    """
    clip_bytes = clip[:1].numel() * clip.element_size()
    return int(1.5 * activation_bytes + (num_levels + 6) * clip_bytes)


def chunk_size(per_item: int, items: int, device: torch.device, max_batch: int | None) -> int:
    """How many masked clips to put in one model call.

    Args:
        per_item: estimated bytes per masked clip (:func:`item_bytes`).
        items: masked clips per iteration (N x A, or 2 N x A for the dual variant).
        device: where the clips live.
        max_batch: the user's cap, or None to fit the free memory.

    Returns:
        A chunk size between 1 and ``items``.

    Raises:
        InsufficientMemoryError: when a single masked clip needs more than the usable free memory.
    """
    free = available_memory(device)
    if free is not None and per_item > USABLE_SHARE * free:
        raise InsufficientMemoryError(
            f"One masked clip needs about {per_item / 2**20:.0f} MiB but only {free / 2**20:.0f} MiB of "
            f"{'GPU' if device.type == 'cuda' else 'RAM'} is free; use fewer frames or a smaller size "
            "(fep.models.preprocess(..., size=...)), or close other programs."
        )
    fit = items if free is None else max(1, int(USABLE_SHARE * free // max(per_item, 1)))
    cap = items if max_batch is None else max_batch
    return max(1, min(items, fit, cap))


def describe(per_item: int, chunk: int, items: int) -> str:
    """One line for logs: the estimate and the chunking it led to."""
    chunks = -(-items // chunk)
    return f"about {per_item / 2**20:.1f} MiB per masked clip; {items} clips in {chunks} chunk(s) of <= {chunk}"
