"""Models: one registry (:mod:`~fep.models.registry`), the networks fep defines
(:mod:`~fep.models.networks`), loading and preprocessing (:mod:`~fep.models.loading`), Kinetics-400
downloads (:mod:`~fep.models.download`) and training on the synthetic task (:mod:`~fep.models.train`)."""

from fep.models.download import (
    DOWNLOAD_TIMEOUT,
    CheckpointError,
    WeightsNotFoundError,
    checkpoint_url,
    download_checkpoint,
)
from fep.models.loading import (
    categories,
    check_input_size,
    display_frames,
    load_model,
    preprocess,
    resolve_target,
    sha256_of,
)
from fep.models.networks import SYNTHETIC_ARCHITECTURES, SyntheticVideoNet, ToyVideoNet
from fep.models.registry import MODEL_NAMES, REGISTRY, TOY, ModelSpec, cam_layer_of, get_spec

__all__ = [
    "load_model",
    "preprocess",
    "display_frames",
    "categories",
    "check_input_size",
    "resolve_target",
    "sha256_of",
    "download_checkpoint",
    "checkpoint_url",
    "DOWNLOAD_TIMEOUT",
    "WeightsNotFoundError",
    "CheckpointError",
    "ToyVideoNet",
    "SyntheticVideoNet",
    "SYNTHETIC_ARCHITECTURES",
    "REGISTRY",
    "MODEL_NAMES",
    "TOY",
    "ModelSpec",
    "get_spec",
    "cam_layer_of",
]
