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
    "BatchNormDropoutNet",
    "TwoHeadNet",
    "WindowDetector",
    "window_clip",
    "moving_square_clip",
    "square_detector",
    "same_weights",
    "clip_edges",
    "FLOAT32_RTOL",
    "assert_close_float32",
]

# Float32 results of one computation differ between CPUs (AVX2 vs AVX-512 kernels), thread counts and
# batch sizes, because sums are reduced in another order: by a few units in the last place (2^-23, about
# 1.2e-7, relative) of the largest *term* of a sum, not of its result, and a few optimisation steps carry
# that along. 1e-5 is about a hundred such units: far above that noise, far below any change of behaviour.
FLOAT32_RTOL = 1e-5


class TinyVideoNet(nn.Module):
    """``(N, 3, T, H, W)`` → logits ``(N, num_classes)``: conv3d-ReLU ×2, global average pool, linear."""

    cam_layer = "features"  # Grad-CAM-3D's layer (fep.baselines.grad_cam)

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


def assert_close_float32(actual, expected, scale: float | None = None, msg: str = "") -> None:
    """Assert that two float32 results agree up to reduction-order noise (tensors or numpy arrays).

    The tolerance is :data:`FLOAT32_RTOL` relative to each value plus :data:`FLOAT32_RTOL` times
    ``scale``, the magnitude of the largest term that went into the values (default: the largest
    ``|expected|``); pass it where a small value is a difference of large ones (a margin of two logits).
    """
    actual, expected = torch.as_tensor(actual).detach(), torch.as_tensor(expected).detach()
    if scale is None:
        scale = float(expected.abs().max()) if expected.numel() else 0.0
    torch.testing.assert_close(
        actual, expected, rtol=FLOAT32_RTOL, atol=FLOAT32_RTOL * scale, msg=lambda m: f"{msg}: {m}" if msg else m
    )


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


class BatchNormDropoutNet(nn.Module):
    """A video classifier with BatchNorm and Dropout, built in *train* mode: run as it is, its output is
    random (dropout) and every call moves the BatchNorm running statistics. An explainer must borrow it
    in eval mode and give it back in train mode, statistics untouched."""

    def __init__(self, num_classes: int = 4, width: int = 8, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv3d(3, width, kernel_size=3, padding=1),
            nn.BatchNorm3d(width),
            nn.ReLU(),
            nn.Dropout(0.5),
        )
        self.head = nn.Linear(width, num_classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            bn = self.features[1]
            bn.running_mean.copy_(torch.randn(width, generator=gen) * 0.1)
            bn.running_var.copy_(1 + torch.rand(width, generator=gen))
        self.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3, 4)))


class TwoHeadNet(nn.Module):
    """A 10-class classifier whose last *registered* Linear layer is a 2-class auxiliary head that the
    forward pass does not return: the layer list says "2 classes", the logits have 10."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.features = nn.Conv3d(3, 8, kernel_size=3, padding=1)
        self.head = nn.Linear(8, 10)
        self.aux_head = nn.Linear(8, 2)  # e.g. a training-time auxiliary task
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.features(x)).mean(dim=(2, 3, 4)))


class WindowDetector(nn.Module):
    """Known evidence: the target logit is the summed brightness (all channels) of one fixed ``size`` ×
    ``size`` window (in every frame), scaled; the other classes are constant. Not mirror-symmetric: the window's mirror
    image carries no evidence. Takes images ``(N, 3, H, W)`` or clips ``(N, 3, T, H, W)``.

    Args:
        top, left, size: the window, in pixels.
        target: the class whose logit reads the window.
        num_classes: width of the logits.
        scale: logit per unit of brightness of one pixel and channel (0.05: the reward's pull on a mask
            cell is of the order of the area term's, so the areas are met, as with a trained model).
    """

    def __init__(self, top: int, left: int, size: int = 20, target: int = 0, num_classes: int = 3, scale=0.05):
        super().__init__()
        self.window = (slice(top, top + size), slice(left, left + size))
        self.target, self.num_classes = target, num_classes
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        brightness = x[..., self.window[0], self.window[1]].sum(dim=tuple(range(1, x.ndim)))
        logits = torch.zeros(x.shape[0], self.num_classes, dtype=x.dtype, device=x.device)
        logits[:, self.target] = self.scale * brightness
        return logits


def window_clip(frames: int = 4, size: int = 64, top: int = 12, left: int = 4, window: int = 20, seed: int = 0):
    """A dark noisy clip with a bright square filling the window at ``(top, left)`` in every frame, and a
    dimmer square at the mirror position (so that a horizontally flipped clip looks plausible too).

    Returns:
        ``(video, inside)``: ``(1, 3, frames, size, size)`` in [0, 1] and the window's boolean mask
        ``(frames, size, size)``.
    """
    gen = torch.Generator().manual_seed(seed)
    video = 0.1 + 0.05 * torch.rand(1, 3, frames, size, size, generator=gen)
    inside = torch.zeros(frames, size, size, dtype=torch.bool)
    inside[:, top : top + window, left : left + window] = True
    video[0][:, inside] = 0.95
    mirror_left = size - left - window  # where the window lands when the frames are flipped left-right
    video[0, :, :, top : top + window, mirror_left : mirror_left + window] = 0.6
    return video, inside


def clip_edges(model: nn.Module, video: torch.Tensor, target: int | None = None) -> torch.Tensor:
    """A "method" that ignores the model: spatial edge strength of the clip ``(N, T, H, W)``.

    The model-randomisation check must score it 1 (the same map for any model).
    """
    edges = torch.zeros(video.shape[0], *video.shape[2:], dtype=video.dtype, device=video.device)
    edges[..., 1:] = (video[..., 1:] - video[..., :-1]).abs().sum(1)
    return edges
