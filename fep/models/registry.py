"""Every model fep knows, in one registry: what it is, how to build it, what it takes, where its weights
and card are, and which layer Grad-CAM reads.

Loading (:mod:`fep.models.loading`), preprocessing, training (:mod:`fep.models.train`), the CLI's
choices and Grad-CAM's default layer (:func:`cam_layer_of`) all read :data:`REGISTRY`. To add a model,
add one :class:`ModelSpec` line.

Examples::

    >>> from fep.models.registry import REGISTRY
    >>> REGISTRY["mc3_18_synthetic"].shipped, REGISTRY["r2plus1d_18"].cam_layer
    (True, 'layer4')
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

import torch
from torch import nn

import fep.data
from fep.data.synthetic import CLASSES
from fep.errors import FepValueError
from fep.models.networks import SYNTHETIC_ARCHITECTURES

__all__ = ["ModelSpec", "REGISTRY", "MODEL_NAMES", "TOY", "get_spec", "cam_layer_of", "available_models"]

TOY = "toy"
SHIPPED, KINETICS = "shipped", "kinetics"
_RESNET, _S3D = "torchvision.models.video.resnet:VideoResNet", "torchvision.models.video.s3d:S3D"
_MVIT, _SWIN = "torchvision.models.video.mvit:MViT", "torchvision.models.video.swin_transformer:SwinTransformer3d"


@dataclass(frozen=True)
class ModelSpec:
    """One model.

    Attributes:
        name: what users type (``"toy"``, ``"r2plus1d_18"``, ``"mc3_18_synthetic"``).
        architecture: ``"toy"`` or the torchvision architecture it builds.
        weights: ``"shipped"`` (trained on the synthetic task, file and card in ``data/``) or
            ``"kinetics"`` (torchvision's Kinetics-400 checkpoint, downloaded into the torch hub cache).
        model_class: ``"module:Class"`` of the built network (how Grad-CAM recognises an instance).
        cam_layer: dotted path of the layer Grad-CAM-3D reads in a torchvision network (None: fep's own
            networks name theirs in a ``cam_layer`` class attribute; anything else falls back to the last
            ``Conv3d``).
        cam_channels_last: that layer's output is ``(N, T, H, W, C)``.
        min_frames, min_side: the smallest clip the network takes (measured on torchvision 0.29).
        frames, side: the only clip size it takes, when it has one (0: any).
        resize_ratio: torchvision's resize side over its crop side for this family.
    """

    name: str
    architecture: str
    weights: str
    model_class: str
    cam_layer: str | None
    cam_channels_last: bool = False
    min_frames: int = 1
    min_side: int = 8
    frames: int = 0
    side: int = 0
    resize_ratio: float = 1.0

    @property
    def shipped(self) -> bool:
        """Trained on the synthetic task, weights in ``data/``: raw RGB in [0, 1] at 112 px."""
        return self.weights == SHIPPED

    @property
    def weights_file(self) -> Path:
        return fep.data.DATA_DIR / ("toy_model.pt" if self.name == TOY else f"{self.name}.pt")

    @property
    def card_file(self) -> Path:
        return fep.data.DATA_DIR / ("toy_model_card.json" if self.name == TOY else f"{self.name}_card.json")

    @property
    def train_command(self) -> str:
        return f"python -m fep.models.train --model {self.architecture}"

    def build(self) -> nn.Module:
        """The architecture with random weights (seeded for shipped models: the same every time)."""
        if not self.shipped:
            import torchvision

            return torchvision.models.get_model(self.architecture, weights=None)
        from fep.models.networks import SyntheticVideoNet, ToyVideoNet

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return ToyVideoNet() if self.name == TOY else SyntheticVideoNet(self.architecture)

    def categories(self) -> list[str]:
        """Class names of the outputs: the synthetic task's, or Kinetics-400's."""
        if self.shipped:
            return list(CLASSES)
        from fep.models.download import torchvision_weights

        return list(torchvision_weights(self.architecture).meta["categories"])

    def card(self) -> dict:
        return json.loads(self.card_file.read_text())


def _kinetics(name: str, model_class: str, cam_layer: str | None, **size) -> ModelSpec:
    return ModelSpec(name, name, KINETICS, model_class, cam_layer, **size)


def _synthetic(architecture: str) -> ModelSpec:
    return ModelSpec(f"{architecture}_synthetic", architecture, SHIPPED, "fep.models.networks:SyntheticVideoNet", None)


REGISTRY: Mapping[str, ModelSpec] = MappingProxyType({spec.name: spec for spec in (
    ModelSpec(TOY, TOY, SHIPPED, "fep.models.networks:ToyVideoNet", None),
    *(_kinetics(n, _RESNET, "layer4", resize_ratio=128 / 112) for n in ("r3d_18", "mc3_18", "r2plus1d_18")),
    _kinetics("s3d", _S3D, "features", min_frames=13, min_side=224),
    _kinetics("mvit_v1_b", _MVIT, None, frames=16, side=224),
    _kinetics("mvit_v2_s", _MVIT, None, frames=16, side=224),
    *(_kinetics(f"swin3d_{s}", _SWIN, "norm", cam_channels_last=True) for s in "tsb"),
    *(_synthetic(a) for a in SYNTHETIC_ARCHITECTURES),
)})  # fmt: skip
MODEL_NAMES = tuple(REGISTRY)


def available_models() -> tuple[str, ...]:
    """The models a user can run here: every Kinetics-400 model (weights download once) and the shipped
    models whose weights are in the data folder (the other synthetic ones need `fep.models.train` first)."""
    return tuple(name for name, spec in REGISTRY.items() if not spec.shipped or spec.weights_file.is_file())


def get_spec(name: str) -> ModelSpec:
    """The registered model called ``name``; FepValueError naming the choices otherwise."""
    if name not in REGISTRY:
        raise FepValueError(f"Unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}.")
    return REGISTRY[name]


@cache
def _class(path: str) -> type | None:
    module, attribute = path.split(":")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError):  # an older torchvision without this family
        return None


def cam_layer_of(model: nn.Module) -> tuple[nn.Module, bool] | None:
    """Grad-CAM-3D's layer in ``model`` and whether its output is channels-last, or None if unknown.

    A network that names its own layer (a class attribute ``cam_layer``, as fep's networks and test
    models do) is read first; otherwise a registered torchvision family is recognised by its class.
    """
    own = getattr(type(model), "cam_layer", None)
    if isinstance(own, str):
        return model.get_submodule(own), False
    for spec in REGISTRY.values():
        cls = _class(spec.model_class) if spec.cam_layer else None
        if cls is not None and isinstance(model, cls):
            return model.get_submodule(spec.cam_layer), spec.cam_channels_last
    return None


