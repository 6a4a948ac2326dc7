"""Gradient baselines to compare F-EP with, and frequency-modulated gradients (:mod:`fep.baselines.gradients`)."""

from fep.baselines.gradients import (
    REDUCTIONS,
    default_cam_layer,
    grad_cam,
    gradient_x_input,
    integrated_gradients,
    layer_hooks,
    lowpass_saliency,
    occlusion,
    reduce_channels,
    smoothgrad,
    vanilla_gradient,
)

__all__ = [
    "REDUCTIONS",
    "reduce_channels",
    "vanilla_gradient",
    "gradient_x_input",
    "smoothgrad",
    "integrated_gradients",
    "default_cam_layer",
    "grad_cam",
    "occlusion",
    "lowpass_saliency",
    "layer_hooks",
]
