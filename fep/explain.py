r"""The explanation engine: 2D-EP, 3D-EP, STEP and F-EP on video, behind one entry point.

All four methods optimise mask parameters :math:`P \in [0,1]^{A \times T \times h \times w}`
(one coarse grid per frame and area, see :mod:`fep.perturbation`) to minimise the energy

.. math::

    E(P) = -R\big(f(\Phi(x; m))\big) + \lambda_i\,\mathcal{A}(m) + \mu_i\,\mathcal{C}(m),
    \qquad m = \mathrm{up}(P),

where :math:`\Phi` perturbs the clip :math:`x` outside the mask, :math:`R` is the reward of the
target class, :math:`\mathcal{A}` the area loss and :math:`\mathcal{C}` STEP's core loss
(:mod:`fep.objectives`). The area weight grows geometrically,
:math:`\lambda_i = \lambda_0 (\lambda_{end}/\lambda_0)^{i/800}`-style: by default from 300 to
:math:`300 \cdot 1.0035^{800} \approx 4912` over the run, which is TorchRay's schedule for 800
iterations and the same end point for any other count.

- ``ep2d`` (Li et al.): :math:`\mathcal{A}` per frame (every frame keeps area :math:`a`), averaged.
- ``ep3d``: one sort over the whole :math:`T \times H \times W` volume.
- ``step``: ``ep3d`` plus :math:`\mathcal{C}` with weight 0 until ``core_start`` then ``core_weight``.
- ``fep`` (ours, DESIGN §5): ``ep3d`` whose gradient is low-passed in the DCT domain before each
  optimiser step, :math:`\hat G = \mathrm{IDCT}_3(H \odot \mathrm{DCT}_3(G))` with temporal and
  spatial cutoffs (:mod:`fep.dct`). By default the whole energy gradient is modulated and rescaled to
  its original norm, with TorchRay's SGD (chosen by measurement: ``results/design_study/README.md``).
  Cutoffs (1, 1) make ``fep`` exactly ``ep3d``. Options cover the other design choices:
  ``modulate="reward"`` filters only the model's reward gradient and leaves the area gradient as it is,
  ``optimizer="adam"`` (the most robust choice for very small actors in the study),
  ``where="update"`` filters the optimiser's step instead, ``where="parametrization"``
  optimises DCT coefficients :math:`C` with :math:`P = P_0 + \mathrm{IDCT}_3(\sqrt H \odot C)` —
  for SGD (momentum included) this is the same trajectory as ``modulate="energy"`` on the gradient
  while no clamping happens, since the step in :math:`P` is then
  :math:`-\eta\,\mathrm{IDCT}_3(H \odot \mathrm{DCT}_3(G))`; ``schedule="linear"`` raises the cutoffs
  from a quarter of their value to their value over the first half of the run (coarse to fine).

Games (``variant``): ``preserve`` keeps the mask and perturbs the rest; ``delete`` perturbs the mask;
``dual`` plays both on one batch and adds the rewards.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from fep._checks import (
    check_areas,
    check_choice,
    check_positive_float,
    check_positive_int,
    check_target,
    check_target_range,
    check_unit_interval,
    check_video,
)
from fep.dct import FILTER_GAUSSIAN, frequency_response, idct3
from fep.dct import modulate as dct_modulate
from fep.errors import FepTypeError, FepValueError
from fep.explanation import Explanation
from fep.memory import chunk_size, describe, item_bytes, saved_activation_bytes
from fep.model_state import frozen_model, guess_input_channels, model_device
from fep.objectives import REWARDS, area_loss, area_zero_counts, core_loss
from fep.objectives import reward as reward_of
from fep.perturbation import PERTURBATIONS, Perturbation, mask_grid, upsample_mask

__all__ = [
    "METHOD_EP2D",
    "METHOD_EP3D",
    "METHOD_STEP",
    "METHOD_FEP",
    "METHODS",
    "VARIANT_PRESERVE",
    "VARIANT_DELETE",
    "VARIANT_DUAL",
    "VARIANTS",
    "OPTIMIZERS",
    "MODULATE_REWARD",
    "MODULATE_ENERGY",
    "WHERE_GRADIENT",
    "WHERE_UPDATE",
    "WHERE_PARAMETRIZATION",
    "SCHEDULE_LINEAR",
    "extremal_perturbation",
    "FEP",
]

METHOD_EP2D, METHOD_EP3D, METHOD_STEP, METHOD_FEP = "ep2d", "ep3d", "step", "fep"
METHODS = (METHOD_EP2D, METHOD_EP3D, METHOD_STEP, METHOD_FEP)
VARIANT_PRESERVE, VARIANT_DELETE, VARIANT_DUAL = "preserve", "delete", "dual"
VARIANTS = (VARIANT_PRESERVE, VARIANT_DELETE, VARIANT_DUAL)
OPTIMIZERS = ("sgd", "adam")
MODULATE_REWARD, MODULATE_ENERGY = "reward", "energy"
WHERE_GRADIENT, WHERE_UPDATE, WHERE_PARAMETRIZATION = "gradient", "update", "parametrization"
SCHEDULE_LINEAR = "linear"

# TorchRay's area weight: 300, times 1.0035 per iteration for 800 iterations.
AREA_WEIGHT = 300.0
AREA_WEIGHT_FINAL = 300.0 * 1.0035**800
DEFAULT_LR = {"sgd": 0.1, "adam": 0.05}

Schedule = Callable[[int, int], tuple[float, float]]


def _cutoff_schedule(schedule, temporal_cutoff: float, spatial_cutoff: float) -> Schedule:
    if schedule is None:
        return lambda i, n: (temporal_cutoff, spatial_cutoff)
    if schedule == SCHEDULE_LINEAR:

        def linear(i: int, n: int) -> tuple[float, float]:
            progress = min(1.0, i / max(1.0, 0.5 * n))
            return tuple(c * (0.25 + 0.75 * progress) for c in (temporal_cutoff, spatial_cutoff))

        return linear
    if callable(schedule):
        return schedule
    raise FepValueError(
        f"Unknown schedule {schedule!r}; pass None, 'linear' or a function (iteration, iterations) -> "
        "(temporal_cutoff, spatial_cutoff)."
    )


def _chunks(n_clips: int, n_areas: int, pairs_per_call: int) -> list[tuple[slice, slice]]:
    """(clips, areas) slices covering the N x A grid, each with at most ``pairs_per_call`` pairs:
    whole clips together when all their areas fit, otherwise one clip's areas in groups."""
    if n_areas <= pairs_per_call:
        step = pairs_per_call // n_areas
        return [(slice(c, min(c + step, n_clips)), slice(0, n_areas)) for c in range(0, n_clips, step)]
    return [
        (slice(c, c + 1), slice(a, min(a + pairs_per_call, n_areas)))
        for c in range(n_clips)
        for a in range(0, n_areas, pairs_per_call)
    ]


def extremal_perturbation(
    model: torch.nn.Module,
    video: torch.Tensor,
    target,
    *,
    method: str = METHOD_FEP,
    areas=(0.05, 0.1, 0.2),
    variant: str = VARIANT_PRESERVE,
    reward: str = "simple",
    perturbation: str = "blur",
    iterations: int = 100,
    lr: float | None = None,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    mask_step: int = 7,
    init: float = 1.0,
    area_weight: float = AREA_WEIGHT,
    area_weight_final: float = AREA_WEIGHT_FINAL,
    temporal_cutoff: float = 0.25,
    spatial_cutoff: float = 0.25,
    filter: str = FILTER_GAUSSIAN,
    filter_order: int = 2,
    modulate: str | None = None,
    where: str = WHERE_GRADIENT,
    preserve_norm: bool | None = None,
    schedule: str | Schedule | None = None,
    core_weight: float | None = None,
    core_start: int | None = None,
    core_frames: int = 7,
    core_size: int = 11,
    jitter: bool = False,
    num_levels: int = 8,
    max_blur: float = 20.0,
    max_batch: int | None = None,
    seed: int = 0,
    progress: bool = True,
    callback: Callable[[int, torch.Tensor, dict], None] | None = None,
    callback_every: int = 1,
) -> Explanation:
    r"""Find the spatiotemporal region of a clip that a video classifier needs (see module docstring).

    Args:
        model: classifier mapping ``(B, C, T, H, W)`` (or ``(B, C, H, W)`` for images) to logits
            ``(B, K)``. Returned exactly as it was (``requires_grad``, train/eval mode).
        video: ``(N, C, T, H, W)`` clips normalised as the model expects, or ``(N, C, H, W)`` images
            (explained as one-frame videos). All N clips and all areas are optimised in one batch.
        target: class index, or one index per clip (list or 1-D tensor).
        method: ``"ep2d"``, ``"ep3d"``, ``"step"`` or ``"fep"``.
        areas: fractions of the clip (of each frame for ``ep2d``) to keep, each in (0, 1).
        variant: ``"preserve"``, ``"delete"`` or ``"dual"``.
        reward: ``"simple"``, ``"contrastive"`` or ``"logprob"`` (:mod:`fep.objectives`).
        perturbation: ``"blur"`` (per-frame Gaussian pyramid) or ``"fade"`` (to zero).
        iterations: optimiser steps. The default 100 is measured (``benchmarks/bench_convergence.py``,
            16 held-out clips): F-EP then meets its area within 0.002 and matches the kept-voxel
            probability and ground-truth AP of 800-iteration 3D-EP, because the area weight reaches
            TorchRay's 800-iteration value whatever the run length.
        lr: learning rate (default 0.1 for SGD, 0.05 for Adam).
        optimizer: ``"sgd"`` (momentum with equal dampening, as TorchRay) or ``"adam"``.
        momentum: SGD momentum (and dampening).
        mask_step: pixels per mask-grid cell (TorchRay: 7).
        init: initial mask value (1 = keep everything).
        area_weight, area_weight_final: the area weight grows geometrically between these.
        temporal_cutoff, spatial_cutoff: F-EP cutoffs in [0, 1] (1 = no modulation).
        filter: ``"ideal"``, ``"gaussian"`` or ``"butterworth"``; ``filter_order`` for Butterworth.
        modulate: ``"energy"`` (the whole gradient, default) or ``"reward"`` (the model's gradient
            only, with ``where="gradient"``).
        where: ``"gradient"``, ``"update"`` or ``"parametrization"``.
        preserve_norm: rescale the modulated gradient (or update) to its original norm per mask
            (default True for ``where="gradient"``, False otherwise; not available with
            ``"parametrization"``).
        schedule: None (fixed cutoffs), ``"linear"`` (coarse to fine) or
            ``f(iteration, iterations) -> (temporal_cutoff, spatial_cutoff)``.
        core_weight: STEP core-loss weight (default 300 for ``step``, 0 otherwise; set it to
            combine F-EP with the STEP loss).
        core_start: iteration at which the core loss switches on (default ``iterations // 20``,
            Li et al.'s 100 of 2000).
        core_frames, core_size: ellipsoid kernel extent in frames and pixels (Li et al.: 7, 11).
        jitter: flip the masked clips horizontally on even iterations, as TorchRay does for images. Off by
            default for every method: it is meant for image classes that are mirror-invariant. For
            classes defined by a direction of motion it is wrong (a mirrored "moves left" clip *is*
            "moves right", so every other step would optimise the wrong class); Kinetics has such
            classes too.
        num_levels, max_blur: perturbation pyramid (TorchRay: 8 levels, sigma 20).
        max_batch: most masked clips per model call; the N x A masked clips of an iteration (2 N x A for
            ``dual``) are split into chunks of at most this many, with the same result as one batch.
            None fits the chunks to the free memory, estimated from one forward pass
            (:mod:`fep.memory`).
        seed: seeds torch's RNG inside the call (the global RNG state is restored afterwards).
        progress: show a tqdm progress bar with the energy.
        callback: ``callback(iteration, masks, history)`` every ``callback_every`` iterations, with
            ``masks`` ``(N, A, T, H, W)`` detached and ``history`` a dict of detached tensors
            ``(iterations so far, N, A)`` (views: copy them to keep them).
        callback_every: how often to call ``callback``.

    Returns:
        :class:`~fep.explanation.Explanation` with ``masks`` ``(N, A, T, H, W)``.

    Raises:
        TypeError, ValueError: for bad input, before the optimisation starts.
        fep.memory.InsufficientMemoryError: when not even one masked clip fits in the free memory.

    Examples::

        >>> from fep.explain import extremal_perturbation
        >>> result = extremal_perturbation(model, video, target=3, method="fep", areas=(0.1,))
        >>> result.masks.shape      # (1, 1, 16, 112, 112)
        >>> result.saliency.shape   # (1, 16, 112, 112)
    """
    started = time.perf_counter()
    settings = {k: v for k, v in locals().items() if k not in ("model", "video", "target", "callback", "started")}

    # ---- validation: everything that can be checked without the model ----
    check_choice("method", method, METHODS)
    check_choice("variant", variant, VARIANTS)
    check_choice("reward", reward, REWARDS)
    check_choice("perturbation", perturbation, PERTURBATIONS)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("where", where, (WHERE_GRADIENT, WHERE_UPDATE, WHERE_PARAMETRIZATION))
    if modulate is None:
        # Measured on the benchmark (results/design_study): filtering the whole gradient beat filtering
        # the reward gradient alone on every metric, so it is the default for every `where`.
        modulate = MODULATE_ENERGY
    check_choice("modulate", modulate, (MODULATE_REWARD, MODULATE_ENERGY))
    if where != WHERE_GRADIENT and modulate == MODULATE_REWARD:
        raise FepValueError(
            f"where={where!r} filters the whole step, not the reward gradient alone; "
            "pass modulate='energy' or use where='gradient'."
        )
    if preserve_norm is None:
        preserve_norm = where == WHERE_GRADIENT
    if preserve_norm and where == WHERE_PARAMETRIZATION:
        raise FepValueError("preserve_norm has no meaning with where='parametrization'; pass preserve_norm=False.")
    areas = check_areas(areas)
    check_positive_int("iterations", iterations)
    check_positive_int("mask_step", mask_step)
    check_positive_int("callback_every", callback_every)
    if max_batch is not None:
        check_positive_int("max_batch", max_batch)
    lr = check_positive_float("lr", DEFAULT_LR[optimizer] if lr is None else lr)
    check_unit_interval("momentum", momentum)
    check_unit_interval("init", init)
    check_positive_float("area_weight", area_weight)
    check_positive_float("area_weight_final", area_weight_final)
    # Building one response validates cutoffs, filter and order with their own messages.
    frequency_response((1, 1, 1), filter, temporal_cutoff, spatial_cutoff, filter_order)
    cutoffs_at = _cutoff_schedule(schedule, float(temporal_cutoff), float(spatial_cutoff))
    if core_weight is None:
        core_weight = 300.0 if method == METHOD_STEP else 0.0
    if core_weight < 0:
        raise FepValueError(f"core_weight must be >= 0, got {core_weight}.")
    core_start = iterations // 20 if core_start is None else int(core_start)
    if callback is not None and not callable(callback):
        raise FepTypeError(f"callback must be callable, got {type(callback).__name__}.")
    if not isinstance(model, torch.nn.Module):
        raise FepTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    is_image = isinstance(video, torch.Tensor) and video.ndim == 4
    video = check_video(video)
    n_clips, channels, frames, height, width = video.shape
    targets = check_target(target, n_clips)
    device = model_device(model)
    if device is not None and device != video.device:
        raise FepValueError(
            f"The model is on {device} but the video is on {video.device}; move one of them, e.g. video.to('{device}')."
        )
    settings.update(
        areas=list(areas),
        modulate=modulate,
        preserve_norm=preserve_norm,
        lr=lr,
        core_weight=core_weight,
        core_start=core_start,
        schedule=schedule if schedule is None or isinstance(schedule, str) else "custom",
    )

    def run_model(clips: torch.Tensor) -> torch.Tensor:
        logits = model(clips[:, :, 0] if is_image else clips)
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != clips.shape[0]:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise FepValueError(
                f"The model returned {shape} for a batch of {clips.shape[0]} clips; fep needs logits of "
                "shape (batch, num_classes) — wrap the model so that it returns them."
            )
        return logits

    n_areas = len(areas)
    per_pair = 2 if variant == VARIANT_DUAL else 1  # masked clips per (clip, area) in the model batch
    rng_devices = [video.device] if video.device.type == "cuda" else []
    # frozen_model also restores torch's global settings; fork_rng covers a CUDA generator not yet
    # initialised when the call starts.
    with frozen_model(model), torch.random.fork_rng(devices=rng_devices), torch.enable_grad():
        torch.manual_seed(seed)
        # First model call: clip 0 alone with the input requiring grad, which measures the memory an
        # iteration needs per masked clip and turns a channel mismatch into a readable error.
        try:
            first_logits, activation = saved_activation_bytes(model, video[:1], run_model)
        except RuntimeError as err:
            expected = guess_input_channels(model)
            if expected is not None and expected != channels:
                plural = "s" if channels != 1 else ""
                raise FepValueError(
                    f"The video has {channels} channel{plural} but the model's first layer takes {expected}; "
                    + (
                        "drop the alpha channel with video[:, :3]."
                        if channels == 4 and expected == 3
                        else "convert the clip to the model's colour format (e.g. RGB: video.expand(-1, 3, ...))."
                    )
                ) from err
            raise
        per_item = item_bytes(activation, video, num_levels if perturbation == "blur" else 0)
        chunk = chunk_size(per_item, n_clips * n_areas * per_pair, video.device, max_batch)
        pairs_per_call = max(1, chunk // per_pair)
        chunks = _chunks(n_clips, n_areas, pairs_per_call)
        model_calls = 1
        with torch.no_grad():
            clean = [first_logits]
            for start in range(1, n_clips, chunk):
                clean.append(run_model(video[start : start + chunk]))
                model_calls += 1
            clean_logits = torch.cat(clean)
        check_target_range(targets, clean_logits.shape[1])
        settings["memory"] = describe(per_item, chunk, n_clips * n_areas * per_pair)

        target_t = torch.tensor(targets, device=video.device)
        pair_targets = target_t[:, None].expand(n_clips, n_areas)
        pert = Perturbation(video, perturbation, num_levels, max_blur)
        grid_h, grid_w = mask_grid(height, width, mask_step)
        per_frame = method == METHOD_EP2D
        # Counts, not a reference tensor: the area loss then selects the cut-off instead of sorting.
        reference = area_zero_counts(areas, height * width if per_frame else frames * height * width)
        # Fixed random tie-breaking for the area term's ranking (see fep.objectives.area_loss).
        tiebreak = 1e-6 * torch.rand((1, 1, frames, height, width), device=video.device, dtype=video.dtype)
        growth = (area_weight_final / area_weight) ** (1.0 / max(1, iterations - 1))

        base = torch.full(
            (n_clips, n_areas, frames, grid_h, grid_w), float(init), device=video.device, dtype=video.dtype
        )
        if where == WHERE_PARAMETRIZATION:
            leaf = torch.zeros_like(base, requires_grad=True)  # DCT coefficients C
        else:
            leaf = base.clone().requires_grad_(True)  # P itself
        if optimizer == "sgd":
            opt = torch.optim.SGD([leaf], lr=lr, momentum=momentum, dampening=momentum)
        else:
            opt = torch.optim.Adam([leaf], lr=lr)

        responses: dict[tuple[float, float], torch.Tensor] = {}

        def response_for(ct: float, cs: float) -> torch.Tensor | None:
            if method != METHOD_FEP or (ct >= 1.0 and cs >= 1.0):
                return None  # identity: F-EP with cutoffs 1 is exactly 3D-EP
            key = (round(ct, 6), round(cs, 6))
            if key not in responses:
                responses[key] = frequency_response(
                    (frames, grid_h, grid_w),
                    filter,
                    min(1.0, ct),
                    min(1.0, cs),
                    filter_order,
                    dtype=video.dtype,
                    device=video.device,
                )
            return responses[key]

        def params_now(response: torch.Tensor | None, part: tuple[slice, slice]) -> torch.Tensor:
            # The DCT acts on (T, h, w) of each mask, so a chunk of masks can be computed on its own.
            if where != WHERE_PARAMETRIZATION:
                return leaf[part]
            coeffs = leaf[part] if response is None else leaf[part] * response.sqrt()
            return (base[part] + idct3(coeffs)).clamp(0, 1)

        # Preallocated so recording a step is one copy, with no host sync and no growing lists.
        history = {
            k: torch.zeros(iterations, n_clips, n_areas, device=video.device, dtype=video.dtype)
            for k in ("reward", "area_loss", "smoothness_loss", "energy")
        }
        full_masks = None
        if callback is not None and len(chunks) > 1:
            full_masks = torch.empty(n_clips, n_areas, frames, height, width, device=video.device, dtype=video.dtype)
        split_reward = method == METHOD_FEP and where == WHERE_GRADIENT and modulate == MODULATE_REWARD
        bar = tqdm(range(iterations), desc=method, disable=not progress, leave=False)
        for i in bar:
            response = response_for(*cutoffs_at(i, iterations))
            only_reward = split_reward and response is not None
            area_w = area_weight * growth**i
            core_w = core_weight if (core_weight > 0 and i >= core_start) else 0.0
            grad = grad_reward = None
            for part in chunks:
                clips_part, areas_part = part
                mask = upsample_mask(params_now(response, part), (height, width), mask_step)
                # The regularisers first: their temporaries (a ranking of every mask) are freed before the
                # model's activations exist, which is when memory peaks.
                areas_l = area_loss(mask, reference[areas_part], per_frame, tiebreak)
                if core_w:
                    core = core_loss(mask, areas[areas_part], core_frames, core_size)
                else:
                    core = torch.zeros_like(areas_l)
                if variant == VARIANT_DUAL:
                    masked = torch.cat([pert.apply(mask, clips_part), pert.apply(1 - mask, clips_part)], dim=1)
                else:
                    masked = pert.apply(1 - mask if variant == VARIANT_DELETE else mask, clips_part)
                pn, pa = mask.shape[:2]
                if full_masks is not None:
                    full_masks[part] = mask.detach()
                # Only a callback needs the mask from here on; otherwise it is freed before the model runs.
                shown = (mask.detach() if full_masks is None else full_masks) if callback is not None else None
                del mask
                masked = masked.reshape(-1, channels, frames, height, width)
                if jitter and i % 2 == 0:
                    masked = masked.flip(-1)
                logits = run_model(masked)
                model_calls += 1
                chosen = pair_targets[part].reshape(-1)
                if variant == VARIANT_DUAL:
                    logits = logits.reshape(pn, 2, pa, -1)
                    rewards = reward_of(logits[:, 0].reshape(-1, logits.shape[-1]), chosen, reward) + reward_of(
                        logits[:, 1].reshape(-1, logits.shape[-1]), chosen, reward, deleted=True
                    )
                else:
                    rewards = reward_of(logits, chosen, reward, deleted=variant == VARIANT_DELETE)
                rewards = rewards.reshape(pn, pa)
                regular = area_w * areas_l + core_w * core
                energy = regular - rewards

                if only_reward:
                    # Only the model's reward gradient is filtered; the area gradient is kept as it is.
                    (part_regular,) = torch.autograd.grad(regular.sum(), leaf, retain_graph=True)
                    (part_reward,) = torch.autograd.grad(-rewards.sum(), leaf)
                    grad = part_regular if grad is None else grad + part_regular
                    grad_reward = part_reward if grad_reward is None else grad_reward + part_reward
                else:
                    (part_grad,) = torch.autograd.grad(energy.sum(), leaf)
                    grad = part_grad if grad is None else grad + part_grad

                for key, value in zip(history, (rewards, areas_l, core, energy), strict=True):
                    history[key][i][part] = value.detach()

            if only_reward:
                grad = dct_modulate(grad_reward, response, preserve_norm) + grad
            elif response is not None and where == WHERE_GRADIENT:
                grad = dct_modulate(grad, response, preserve_norm)
            leaf.grad = grad
            before = leaf.detach().clone() if (where == WHERE_UPDATE and response is not None) else None
            opt.step()
            with torch.no_grad():
                if before is not None:
                    leaf.copy_(before + dct_modulate(leaf - before, response, preserve_norm))
                if where != WHERE_PARAMETRIZATION:
                    leaf.clamp_(0, 1)

            if progress and (i % 10 == 0 or i == iterations - 1):
                bar.set_postfix(energy=f"{history['energy'][i].mean().item():.3f}")
            if callback is not None and (i % callback_every == 0 or i == iterations - 1):
                callback(i, shown, {k: v[: i + 1] for k, v in history.items()})
        bar.close()

        with torch.no_grad():
            final = response_for(*cutoffs_at(iterations - 1, iterations))
            masks = torch.empty(n_clips, n_areas, frames, height, width, device=video.device, dtype=video.dtype)
            kept_prob = torch.empty(n_clips, n_areas, device=video.device, dtype=video.dtype)
            for part in chunks:
                mask = upsample_mask(params_now(final, part), (height, width), mask_step).clamp(0, 1)
                masks[part] = mask
                pn, pa = mask.shape[:2]
                if full_masks is not None:
                    full_masks[part] = mask.detach()
                kept_logits = run_model(pert.apply(mask, part[0]).reshape(-1, channels, frames, height, width))
                model_calls += 1
                chosen = pair_targets[part].reshape(-1, 1)
                kept_prob[part] = kept_logits.softmax(1).gather(1, chosen).reshape(pn, pa).to(kept_prob.dtype)
            clean_prob = clean_logits.softmax(1).gather(1, target_t[:, None]).squeeze(1)

    return Explanation(
        masks=masks.detach().float().cpu(),
        areas=areas,
        target=targets,
        method=method,
        history={k: v.float().cpu().numpy() for k, v in history.items()},
        settings=settings,
        scores={
            "original_prob": clean_prob.float().cpu().numpy(),
            "masked_prob": kept_prob.float().cpu().numpy(),
        },
        wall_time=time.perf_counter() - started,
        model_calls=model_calls,
    )


class FEP:
    """Captum-style wrapper: ``FEP(model).attribute(video, target=...)``.

    Args:
        model: the classifier to explain.
        **defaults: any keyword of :func:`extremal_perturbation` (e.g. ``method="ep3d"``), used by
            every :meth:`attribute` call unless overridden there.

    Examples::

        >>> explainer = FEP(model, areas=(0.1,), iterations=200)
        >>> result = explainer.attribute(video, target=3)
        >>> saliency = result.saliency   # (N, T, H, W)
    """

    def __init__(self, model: torch.nn.Module, **defaults) -> None:
        if not isinstance(model, torch.nn.Module):
            raise FepTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        self.model = model
        self.defaults = defaults

    def attribute(self, inputs: torch.Tensor, target, **kwargs) -> Explanation:
        """Explain ``inputs`` ``(N, C, T, H, W)`` for ``target``; see :func:`extremal_perturbation`."""
        return extremal_perturbation(self.model, inputs, target, **{**self.defaults, **kwargs})
