"""Tiny deterministic models and clips for tests, docs and benchmarks (Captum's testing-helper style).

:class:`TinyVideoNet` is a two-block 3-D conv classifier (a few thousand parameters) whose weights
come from a fixed seed, so every test sees the same model. :func:`moving_square_clip` makes a clip in
which a bright square moves across a textured background: a model that reacts to the square gives
explanations whose location is known.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "TinyVideoNet",
    "TinyImageNet",
    "OneClipAtATime",
    "SettingsChangingModel",
    "moving_square_clip",
    "square_detector",
    "same_weights",
]


class TinyVideoNet(nn.Module):
    """``(N, 3, T, H, W)`` → logits ``(N, num_classes)``: conv3d-ReLU ×2, global average pool, linear."""

    def __init__(self, num_classes: int = 4, width: int = 8, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv3d(3, width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv3d(width, width, kernel_size=3, stride=(1, 2, 2), padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(width, num_classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3, 4)))


class TinyImageNet(nn.Module):
    """``(N, 3, H, W)`` → logits, for checking that images are explained as one-frame videos."""

    def __init__(self, num_classes: int = 4, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, num_classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class _SquareDetector(nn.Module):
    """Class 0's logit is the amount of bright red in the clip; the other classes are constants."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(400.0))
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        redness = torch.relu(x[:, 0] - x[:, 1:].mean(dim=1) - 0.3)  # (N, T, H, W)
        score = self.scale * redness.mean(dim=(1, 2, 3))
        return (
            torch.cat([score[:, None], torch.zeros_like(score)[:, None].expand(-1, self.bias.numel() - 1)], 1)
            + self.bias
        )


def square_detector(num_classes: int = 3) -> nn.Module:
    """A model whose target-0 evidence is exactly the red square of :func:`moving_square_clip`."""
    return _SquareDetector(num_classes)


def moving_square_clip(
    frames: int = 8, size: int = 32, square: int = 8, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A red square moving left to right over grey noise.

    Returns:
        ``(video, truth)``: video ``(1, 3, frames, size, size)`` in [0, 1] and the square's boolean
        mask ``(frames, size, size)``.
    """
    gen = torch.Generator().manual_seed(seed)
    video = 0.4 + 0.1 * torch.rand(1, 3, frames, size, size, generator=gen)
    truth = torch.zeros(frames, size, size, dtype=torch.bool)
    top = (size - square) // 2
    for t in range(frames):
        left = round(t * (size - square) / max(1, frames - 1))
        truth[t, top : top + square, left : left + square] = True
    video[0, 0][truth] = 1.0
    video[0, 1][truth] = 0.1
    video[0, 2][truth] = 0.1
    return video, truth


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """True when two models hold bit-identical parameters and buffers under the same names."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


class OneClipAtATime(nn.Module):
    """Runs ``inner`` on each clip of a batch separately, so its output for a clip does not depend on
    the batch around it (convolutions pick batch-size-dependent kernels whose sums differ in the last
    bits). Used to show that chunking a batch changes nothing but rounding."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.inner(x[i : i + 1]) for i in range(x.shape[0])])


class SettingsChangingModel(nn.Module):
    """Runs ``inner`` after changing every global torch setting it can reach (threads, deterministic
    mode, cuDNN benchmark) and drawing from the global RNG: an explainer must undo all of it."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = not torch.backends.cudnn.benchmark
        torch.rand(3)
        return self.inner(x)
