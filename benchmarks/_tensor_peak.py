"""Peak of the bytes held by live tensors on the CPU: what ``torch.cuda.max_memory_allocated`` is on a GPU.

The resident set of a process also holds library code paged in on first use, thread pools and the C
allocator's free lists, which on a small model outweigh the tensors (see ``bench_memory.py``). This
counts tensor storages only: every operator output seen by a dispatch mode is recorded with its size
until its storage is freed.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class TensorPeak(TorchDispatchMode):
    """``with TensorPeak() as peak: work()`` then ``peak.peak_bytes``, counted from zero at entry."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak_bytes = 0

    def _freed(self, key: int) -> None:
        self.current -= self.live.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        # An output that shares an input's storage (a view, detach, an in-place result) allocated nothing;
        # this also keeps storages made before entry (the model's parameters) out of the count.
        inputs = {_storage_key(t) for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor) or tensor.device.type == "meta":
                continue
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key in self.live or key in inputs or storage.nbytes() == 0:
                continue
            self.live[key] = storage.nbytes()
            self.current += storage.nbytes()
            self.peak_bytes = max(self.peak_bytes, self.current)
            weakref.finalize(storage, self._freed, key)
        return out


def _storage_key(tensor: torch.Tensor) -> int | None:
    return None if tensor.device.type == "meta" else tensor.untyped_storage().data_ptr()


def tensor_peak_bytes(work: Callable[[], object]) -> int:
    """Peak bytes of the tensors that ``work()`` creates (inputs that exist before are not counted)."""
    with TensorPeak() as peak:
        work()
    return peak.peak_bytes
