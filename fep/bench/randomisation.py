"""The model-randomisation check done as Adebayo et al. (NeurIPS 2018) do it: cascading.

The layers that own parameters are re-initialised from the top (the classifier head) down, a few depths
at a time, each with several random initialisations; the explanation of the randomised model is
compared with the trained model's by Spearman's rank correlation of the magnitudes, |ρ|. A method that
explains the *model* loses its map as more layers are randomised (|ρ| falls towards 0); a method that
ignores the model keeps ρ = 1 at every depth. The randomised run uses another optimisation seed, so a
method's own randomness is not counted as shared structure.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["parameter_layers", "cascade_depths", "randomised_copy", "CASCADE_INITS", "CASCADE_DEPTHS"]

CASCADE_DEPTHS = 3  # top layer, top half, all layers
CASCADE_INITS = 3  # random initialisations per depth


def parameter_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules that own parameters themselves, in registration order (the order a forward pass
    meets them in sequential networks): the units a cascade re-initialises."""
    return [(name, m) for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]


def cascade_depths(layers: int, count: int = CASCADE_DEPTHS) -> list[int]:
    """How many top layers each step re-initialises: from 1 to all, ``count`` steps (fewer if the model
    has fewer layers)."""
    if count <= 1 or layers <= 1:
        return [layers]
    steps = [max(1, math.ceil(layers * k / (count - 1))) if k else 1 for k in range(count)]
    return sorted(set(steps))


def randomised_copy(model: nn.Module, depth: int, seed: int) -> nn.Module:
    """A copy of ``model`` whose top ``depth`` parameter layers are re-initialised (seeded); the rest,
    and the model itself, unchanged. A layer without ``reset_parameters`` gets normal noise of its own
    parameters' scale."""
    randomised = copy.deepcopy(model)
    layers = parameter_layers(randomised)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for _, layer in layers[len(layers) - depth :]:
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
            else:
                for p in layer.parameters(recurse=False):
                    p.normal_(0.0, float(p.detach().std()) if p.numel() > 1 else 1.0)
    return randomised
