"""The networks fep defines: the toy model and torchvision architectures for the synthetic task.

Each carries ``cam_layer``, the dotted path of the layer Grad-CAM-3D reads (:func:`fep.models.registry.cam_layer_of`).
"""

from __future__ import annotations

import torch
from torch import nn

from fep.data.synthetic import CLASSES
from fep.errors import FepValueError

__all__ = ["ToyVideoNet", "SyntheticVideoNet", "SYNTHETIC_ARCHITECTURES"]

# torchvision architectures that can be trained from scratch on the synthetic task (fep.models.train).
SYNTHETIC_ARCHITECTURES = ("mc3_18", "r2plus1d_18", "r3d_18")


class ToyVideoNet(nn.Module):
    """A (2+1)D-convolution classifier for :mod:`fep.data.synthetic` clips (about 41k parameters).

    Three stages of a spatial ``1×k×k`` convolution followed by a temporal ``3×1×1`` one, then global
    average pooling and a linear layer. Input ``(N, 3, T, H, W)`` in [0, 1] (it centres the input
    itself); output logits ``(N, 4)`` over :data:`fep.data.synthetic.CLASSES`. The temporal convolutions
    give it a 7-frame receptive field in time: it can only tell the class from motion.
    """

    classes = CLASSES
    cam_layer = "features"  # Grad-CAM-3D's layer (fep.baselines.grad_cam)

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


class SyntheticVideoNet(nn.Module):
    """A torchvision video architecture with 4 outputs for the synthetic task, trained from scratch.

    Input ``(N, 3, T, H, W)`` RGB in [0, 1], like :class:`ToyVideoNet`; the network normalises it with
    Kinetics' mean and std itself. ``net`` is the torchvision model (``net.layer4`` for Grad-CAM-3D).
    """

    classes = CLASSES
    cam_layer = "net.layer4"
    mean = (0.43216, 0.394666, 0.37645)
    std = (0.22803, 0.22145, 0.216989)

    def __init__(self, architecture: str = "mc3_18", num_classes: int = len(CLASSES)) -> None:
        import torchvision

        super().__init__()
        if architecture not in SYNTHETIC_ARCHITECTURES:
            choices = ", ".join(SYNTHETIC_ARCHITECTURES)
            raise FepValueError(f"Unknown architecture {architecture!r}; choose one of {choices}.")
        self.architecture = architecture
        self.net = torchvision.models.get_model(architecture, weights=None, num_classes=num_classes)
        self.register_buffer("_mean", torch.tensor(self.mean).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(self.std).view(1, 3, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self._mean) / self._std)
