r"""The optimisation behind 2D-EP, 3D-EP, STEP and F-EP: one loop, read top to bottom in :func:`optimise_masks`.

All four methods optimise mask parameters :math:`P \in [0,1]^{A \times T \times h \times w}` (one coarse
grid per frame and area, :mod:`fep.perturbation`) to minimise the energy

.. math::

    E(P) = -R\big(f(\Phi(x; m))\big) + \lambda_i\,\mathcal{A}(m) + \mu_i\,\mathcal{C}(m),
    \qquad m = \mathrm{up}(P),

where :math:`\Phi` perturbs the clip :math:`x` outside the mask (blur or fade pyramid), :math:`f` is the
model, :math:`R` the reward of the target class, :math:`\mathcal{A}` the area loss and :math:`\mathcal{C}`
STEP's core loss (:mod:`fep.objectives`, computed for one chunk of masks by :func:`chunk_energy`). The
area weight grows geometrically from :math:`\lambda_0 = 300` to :math:`300 \cdot 1.0035^{800}` over the
run (TorchRay's 800-iteration schedule, the same end point for any iteration count); :math:`\mu_i` is 0
before ``core_start``.

F-EP (DCT low-pass, DESIGN §5) changes one thing: before each optimiser step the gradient :math:`G` is
modulated in the DCT domain,

.. math::

    \hat G = \mathrm{IDCT}_3\big(H \odot \mathrm{DCT}_3(G)\big),

with :math:`H` a low-pass response with temporal and spatial cutoffs (:mod:`fep.dct`). Which gradient is
filtered and where the filter sits (gradient, update, parametrisation) is a strategy object
(:mod:`fep.lowpass`); the method (ep2d, ep3d, step, fep) is a preset of the settings (:mod:`fep.methods`).
So the loop below tests no method name: it reads :class:`~fep.settings.ExplanationSettings`.

Games (``variant``): ``preserve`` keeps the mask and perturbs the rest; ``delete`` perturbs the mask;
``dual`` plays both on one batch and adds the rewards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from fep._checks import check_positive_int, check_target, check_target_range, check_video
from fep.dct import frequency_response, lowpass
from fep.errors import FepTypeError, FepValueError
from fep.explanation import Explanation
from fep.lowpass import LowpassSite, lowpass_site
from fep.memory import chunk_size, describe, item_bytes, saved_activation_bytes
from fep.model_state import frozen_model, guess_input_channels, model_device
from fep.objectives import area_loss, area_zero_counts, core_loss, reward
from fep.perturbation import Perturbation, mask_grid, upsample_mask
from fep.settings import AUTOCAST_DTYPES, INIT_SALIENCY, SCHEDULE_LINEAR, ExplanationSettings
from fep.stopping import Stopping

__all__ = ["HISTORY_KEYS", "ChunkTerms", "Part", "Problem", "explain", "optimise_masks", "chunk_energy", "warm_start"]

HISTORY_KEYS = ("reward", "area_loss", "core_loss", "energy")
Callback = Callable[[int, torch.Tensor, dict], None]


@dataclass
class ChunkTerms:
    """The energy of one chunk of masks, each term ``(clips, areas)``: ``energy = regular - rewards``;
    ``area_error`` (|share above 0.5 - area|) and ``scale`` (|rewards| + regular) only for ``"auto"``."""

    rewards: torch.Tensor
    area: torch.Tensor
    core: torch.Tensor
    regular: torch.Tensor
    energy: torch.Tensor
    area_error: torch.Tensor | None = None
    scale: torch.Tensor | None = None


@dataclass(frozen=True)
class Part:
    """A chunk of masks: some clips x some areas, as slices (every mask active) or 1-D index tensors."""

    clips: slice | torch.Tensor
    areas: slice | torch.Tensor

    @property
    def grid(self):
        """Index of the chunk in any ``(N, A, ...)`` tensor."""
        if isinstance(self.clips, slice):
            return self.clips, self.areas
        return self.clips[:, None], self.areas[None, :]

    def pick(self, values: tuple) -> tuple:
        """The chunk's entries of a per-area tuple."""
        return values[self.areas] if isinstance(self.areas, slice) else tuple(values[a] for a in self.areas.tolist())


@dataclass
class Problem:
    """What stays fixed while the masks of one batch of clips are optimised (built by :func:`_prepare`).

    Attributes:
        run_model: masked clips ``(B, C, T, H, W)`` → logits ``(B, K)`` (checked, counted).
        pyramid: the perturbed copies of the clips.
        targets: ``(N, A)`` class of each mask.
        chunks: the :class:`Part` s of the first iteration; each is one model call.
        pairs_per_call: most (clip, area) masks in one chunk.
        reference: per area, how many ranked mask values the area loss pushes to 0.
        tiebreak: fixed noise ``(1, 1, T, H, W)`` that breaks ties in the area loss's ranking.
        grid: shape of the mask parameters ``(N, A, T, h, w)``.
        size: frame size ``(H, W)``.
        clean_logits: the model's logits on the untouched clips ``(N, K)``.
        memory: one line on the memory estimate and the chunking.
        init: the initial mask parameters ``(N, A, T, h, w)``.
    """

    run_model: Callable[[torch.Tensor], torch.Tensor]
    pyramid: Perturbation
    targets: torch.Tensor
    chunks: list[Part]
    pairs_per_call: int
    reference: tuple[int, ...]
    tiebreak: torch.Tensor
    grid: tuple[int, ...]
    size: tuple[int, int]
    clean_logits: torch.Tensor
    memory: str
    init: torch.Tensor
    calls: list[int] = field(default_factory=lambda: [0])


def chunk_energy(problem: Problem, settings: ExplanationSettings, mask: torch.Tensor, part: Part, i: int) -> ChunkTerms:
    """The energy terms of one chunk of full-resolution masks ``(n, a, T, H, W)`` at iteration ``i``."""
    areas = part.pick(settings.areas)
    # The regularisers first: their temporaries (a ranking of every mask) are freed before the model's
    # activations exist, which is when memory peaks.
    area = area_loss(mask, part.pick(problem.reference), settings.preset.area_per_frame, problem.tiebreak)
    core_on = settings.core_weight > 0 and i >= settings.core_start
    core = core_loss(mask, areas, settings.core_frames, settings.core_size) if core_on else torch.zeros_like(area)
    area_error = _area_error(mask, areas, settings.preset.area_per_frame) if settings.auto else None
    if settings.variant == "dual":
        masked = torch.cat([problem.pyramid.apply(mask, part.clips), problem.pyramid.apply(1 - mask, part.clips)], 1)
    else:
        masked = problem.pyramid.apply(1 - mask if settings.variant == "delete" else mask, part.clips)
    n, a = mask.shape[:2]
    del mask  # freed before the model runs
    masked = masked.reshape(-1, *masked.shape[-4:])
    if settings.jitter and i % 2 == 0:
        masked = masked.flip(-1)
    logits = problem.run_model(masked)
    targets = problem.targets[part.grid].reshape(-1)
    if settings.variant == "dual":
        logits = logits.reshape(n, 2, a, -1)
        rewards = reward(logits[:, 0].reshape(-1, logits.shape[-1]), targets, settings.reward) + reward(
            logits[:, 1].reshape(-1, logits.shape[-1]), targets, settings.reward, deleted=True
        )
    else:
        rewards = reward(logits, targets, settings.reward, deleted=settings.variant == "delete")
    rewards = rewards.reshape(n, a)
    area_weight = settings.area_weight * _growth(settings) ** min(i, settings.schedule_length - 1)
    regular = area_weight * area + (settings.core_weight if core_on else 0.0) * core
    scale = (rewards.abs() + regular).detach() if settings.auto else None
    return ChunkTerms(rewards, area, core, regular, regular - rewards, area_error, scale)


def optimise_masks(
    problem: Problem, settings: ExplanationSettings, site: LowpassSite, responses, progress: bool,
    callback: Callback | None, callback_every: int,
) -> tuple[torch.Tensor, torch.Tensor, dict, Stopping]:  # fmt: skip
    """The optimisation loop: every iteration, every chunk's energy, one (low-passed) optimiser step.

    Returns:
        ``(leaf, base, history, stopping)``: the optimised tensor and the initial parameters (for
        ``site.params``), per-iteration ``(iterations, N, A)`` tensors of :data:`HISTORY_KEYS` (NaN after
        a mask stopped), and which mask ran how long (:class:`~fep.stopping.Stopping`).
    """
    base = problem.init.clone()
    leaf, chunks = site.leaf(base), problem.chunks
    stopping = Stopping(settings.areas, problem.grid[0], settings.auto, base.device)
    optimizer = _optimizer(settings, leaf)
    # Preallocated so recording a step is one copy, with no host sync and no growing lists; NaN where a
    # mask has stopped.
    history = {key: base.new_full((settings.max_iterations, *problem.grid[:2]), float("nan")) for key in HISTORY_KEYS}
    shown = base.new_empty(*problem.grid[:3], *problem.size) if callback is not None else None
    bar = tqdm(range(settings.max_iterations), desc=settings.method, disable=not progress, leave=False)
    for i in bar:
        response, grads = responses(i), None
        area_error, scale = base.new_zeros(problem.grid[:2]), base.new_ones(problem.grid[:2])
        for part in chunks:
            params = site.params(leaf[part.grid], base[part.grid], response)
            mask = upsample_mask(params, problem.size, settings.mask_step)
            if shown is not None:
                shown[part.grid] = mask.detach()
            terms = chunk_energy(problem, settings, mask, part, i)
            del mask
            chunk_grads = site.gradients(terms, leaf, response)
            grads = chunk_grads if grads is None else tuple(g + c for g, c in zip(grads, chunk_grads, strict=True))
            _record(history, i, part, terms, area_error, scale)
        if stopping.update(i, history, area_error, scale):
            chunks = _active_chunks(stopping.active, problem.pairs_per_call)
        _step(site, optimizer, leaf, site.combine(grads, response), response, ~stopping.active)
        last = i == settings.max_iterations - 1 or not chunks
        if progress and (i % 10 == 0 or last):
            bar.set_postfix(energy=f"{history['energy'][i].nanmean().item():.3f}", active=int(stopping.active.sum()))
        if callback is not None and (i % callback_every == 0 or last):
            callback(i, shown, {key: value[: i + 1] for key, value in history.items()})
        if not chunks:
            break
    bar.close()
    return leaf, base, _stopped_history(history, stopping), stopping


def explain(
    model: torch.nn.Module, video: torch.Tensor, target, settings: ExplanationSettings, *, progress: bool = True,
    callback: Callback | None = None, callback_every: int = 1,
) -> Explanation:  # fmt: skip
    """Explain ``video`` for ``target`` with ``settings`` (what :func:`fep.extremal_perturbation` does).

    Checks the model, clip and targets, borrows the model (:func:`~fep.model_state.frozen_model`),
    prepares the :class:`Problem`, runs :func:`optimise_masks` and scores the final masks.
    """
    started = time.perf_counter()
    check_positive_int("callback_every", callback_every)
    if callback is not None and not callable(callback):
        raise FepTypeError(f"callback must be callable, got {type(callback).__name__}.")
    if not isinstance(model, torch.nn.Module):
        raise FepTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    is_image = isinstance(video, torch.Tensor) and video.ndim == 4
    video = check_video(video)
    targets = check_target(target, video.shape[0])
    device = model_device(model)
    if device is not None and device != video.device:
        raise FepValueError(
            f"The model is on {device} but the video is on {video.device}; move one of them, e.g. video.to('{device}')."
        )
    if settings.autocast is not None and video.device.type != "cuda":
        raise FepValueError(
            f"autocast={settings.autocast!r} runs the model in reduced precision on CUDA, but the clip is on "
            f"{video.device}; move model and clip to a GPU, or leave autocast=None."
        )
    site = lowpass_site(settings.modulate, settings.lowpass_at, settings.preserve_norm)
    rng_devices = [video.device] if video.device.type == "cuda" else []
    # frozen_model also restores torch's global settings; fork_rng covers a CUDA generator not yet
    # initialised when the call starts.
    with frozen_model(model), torch.random.fork_rng(devices=rng_devices), torch.enable_grad():
        torch.manual_seed(settings.seed)
        problem = _prepare(model, video, targets, settings, is_image)
        responses = _responses(settings, problem)
        leaf, base, history, stopping = optimise_masks(
            problem, settings, site, responses, progress, callback, callback_every
        )
        with torch.no_grad():
            final_response = responses(int(stopping.used.max()) - 1)
            masks, kept_prob = _final_masks(problem, settings, site.params(leaf, base, final_response))
            target_t = problem.targets[:, 0]
            clean_prob = problem.clean_logits.softmax(1).gather(1, target_t[:, None]).squeeze(1)
    return Explanation(
        masks=masks.detach().float().cpu(),
        areas=settings.areas,
        target=targets,
        method=settings.method,
        history={key: value.float().cpu().numpy() for key, value in history.items()},
        settings={**settings.to_dict(), "memory": problem.memory, "callback_every": callback_every},
        scores={"original_prob": clean_prob.float().cpu().numpy(), "masked_prob": kept_prob.float().cpu().numpy()},
        wall_time=time.perf_counter() - started,
        model_calls=problem.calls[0],
        iterations_used=stopping.used.cpu().numpy(),
        stop_reason=stopping.reasons(),
    )


# ---- the pieces the loop and explain() use ----


def _growth(settings: ExplanationSettings) -> float:
    """Per-iteration factor of the area weight: from ``area_weight`` to ``area_weight_final`` over the run."""
    return (settings.area_weight_final / settings.area_weight) ** (1.0 / max(1, settings.schedule_length - 1))


def _area_error(mask: torch.Tensor, areas: tuple[float, ...], per_frame: bool) -> torch.Tensor:
    """``(n, a)``: |share of voxels above 0.5 - area|, over the volume or averaged over frames (2D-EP)."""
    with torch.no_grad():
        target = torch.tensor(areas, dtype=mask.dtype, device=mask.device)
        kept = (mask > 0.5).to(mask.dtype)
        if per_frame:
            return (kept.mean(dim=(-2, -1)) - target[None, :, None]).abs().mean(dim=-1)
        return (kept.mean(dim=(-3, -2, -1)) - target[None, :]).abs()


def _record(history: dict, i: int, part: Part, terms: ChunkTerms, area_error, scale) -> None:
    for key, value in zip(HISTORY_KEYS, (terms.rewards, terms.area, terms.core, terms.energy), strict=True):
        history[key][i][part.grid] = value.detach()
    if terms.area_error is not None:
        area_error[part.grid] = terms.area_error
        scale[part.grid] = terms.scale


def _step(site: LowpassSite, optimizer, leaf: torch.Tensor, grad, response, frozen: torch.Tensor) -> None:
    """One optimiser step; masks that have stopped keep their parameters (momentum would move them)."""
    if not bool(frozen.any()):
        return site.step(optimizer, leaf, grad, response)
    kept = leaf.detach()[frozen].clone()
    site.step(optimizer, leaf, grad, response)
    with torch.no_grad():
        leaf[frozen] = kept


def _active_chunks(active: torch.Tensor, pairs_per_call: int) -> list[Part]:
    """Chunks over the masks still optimised: clips with the same active areas share chunks."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for clip, row in enumerate(active.tolist()):
        areas = tuple(a for a, on in enumerate(row) if on)
        if areas:
            groups.setdefault(areas, []).append(clip)
    device, parts = active.device, []
    for areas, clips in groups.items():
        clips_t, areas_t = torch.tensor(clips, device=device), torch.tensor(areas, device=device)
        for chunk in _chunks(len(clips), len(areas), pairs_per_call):
            parts.append(Part(clips_t[chunk.clips], areas_t[chunk.areas]))
    return parts


def _stopped_history(history: dict, stopping: Stopping) -> dict:
    """The history up to the last iteration run (NaN where a mask had already stopped)."""
    last = int(stopping.used.max())
    return {key: value[:last] for key, value in history.items()}


def _optimizer(settings: ExplanationSettings, leaf: torch.Tensor) -> torch.optim.Optimizer:
    if settings.optimizer == "sgd":
        return torch.optim.SGD([leaf], lr=settings.lr, momentum=settings.momentum, dampening=settings.momentum)
    return torch.optim.Adam([leaf], lr=settings.lr)


def _cutoffs(settings: ExplanationSettings, i: int) -> tuple[float, float]:
    """The cutoffs at iteration ``i`` (a linear schedule rises from a quarter of them over half the run)."""
    ct, cs, n = float(settings.temporal_cutoff), float(settings.spatial_cutoff), settings.schedule_length
    if settings.schedule is None:
        return ct, cs
    if settings.schedule == SCHEDULE_LINEAR:
        progress = min(1.0, i / max(1.0, 0.5 * n))
        return ct * (0.25 + 0.75 * progress), cs * (0.25 + 0.75 * progress)
    return settings.schedule(i, n)


def _responses(settings: ExplanationSettings, problem: Problem) -> Callable[[int], torch.Tensor | None]:
    """``i`` → the low-pass response :math:`H` at iteration ``i``, cached per cutoff pair; None when there
    is nothing to filter (no low-pass in the method's preset, or cutoffs of 1)."""
    cache: dict[tuple[float, float], torch.Tensor] = {}
    grid, like = problem.grid[2:], problem.tiebreak

    def response(i: int) -> torch.Tensor | None:
        ct, cs = _cutoffs(settings, i)
        if not settings.preset.lowpass or (ct >= 1.0 and cs >= 1.0):
            return None  # identity: F-EP with cutoffs 1 is exactly 3D-EP
        key = (round(ct, 6), round(cs, 6))
        if key not in cache:
            cache[key] = frequency_response(
                grid, settings.filter_type, min(1.0, ct), min(1.0, cs), settings.filter_order,
                dtype=like.dtype, device=like.device,
            )  # fmt: skip
        return cache[key]

    return response


def _model_runner(
    model: torch.nn.Module, is_image: bool, calls: list[int], autocast: str | None
) -> Callable[[torch.Tensor], torch.Tensor]:
    def run_model(clips: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=AUTOCAST_DTYPES[autocast or "bf16"], enabled=autocast is not None):
            logits = model(clips[:, :, 0] if is_image else clips)
        calls[0] += 1
        if autocast is not None and isinstance(logits, torch.Tensor):
            logits = logits.float()  # the reward, the losses and the optimiser stay in float32
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != clips.shape[0]:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise FepValueError(
                f"The model returned {shape} for a batch of {clips.shape[0]} clips; fep needs logits of "
                "shape (batch, num_classes) — wrap the model so that it returns them."
            )
        return logits

    return run_model


def _first_call(model, video: torch.Tensor, run_model) -> tuple[torch.Tensor, int]:
    """Clip 0 alone, with the input requiring grad: measures the memory an iteration needs per masked
    clip, and turns a channel mismatch into a readable error."""
    try:
        return saved_activation_bytes(model, video[:1], run_model)
    except RuntimeError as err:
        channels, expected = video.shape[1], guess_input_channels(model)
        if expected is None or expected == channels:
            raise
        fix = (
            "drop the alpha channel with video[:, :3]."
            if channels == 4 and expected == 3
            else "convert the clip to the model's colour format (e.g. RGB: video.expand(-1, 3, ...))."
        )
        plural = "s" if channels != 1 else ""
        raise FepValueError(
            f"The video has {channels} channel{plural} but the model's first layer takes {expected}; " + fix
        ) from err


def _prepare(model, video: torch.Tensor, targets: list[int], settings: ExplanationSettings, is_image: bool) -> Problem:
    """First (measuring) model call, memory plan, clean logits, pyramid, area references, tie-break."""
    calls = [0]
    run_model = _model_runner(model, is_image, calls, settings.autocast)
    n_clips, _, frames, height, width = video.shape
    n_areas, per_pair = len(settings.areas), 2 if settings.variant == "dual" else 1
    first_logits, activation = _first_call(model, video, run_model)
    per_item = item_bytes(activation, video, settings.num_levels if settings.perturbation == "blur" else 0)
    chunk = chunk_size(per_item, n_clips * n_areas * per_pair, video.device, settings.max_batch)
    with torch.no_grad():
        clean = [first_logits] + [run_model(video[s : s + chunk]) for s in range(1, n_clips, chunk)]
    clean_logits = torch.cat(clean)
    check_target_range(targets, clean_logits.shape[1])
    pyramid = Perturbation(video, settings.perturbation, settings.num_levels, settings.max_blur)
    grid_h, grid_w = mask_grid(height, width, settings.mask_step)
    per_frame = settings.preset.area_per_frame
    # Fixed random tie-breaking for the area term's ranking (see fep.objectives.area_loss).
    tiebreak = 1e-6 * torch.rand((1, 1, frames, height, width), device=video.device, dtype=video.dtype)
    grid = (n_clips, n_areas, frames, grid_h, grid_w)
    if settings.init == INIT_SALIENCY:
        init = warm_start(run_model, video, targets, settings.areas, settings.mask_step)
    else:
        init = torch.full(grid, float(settings.init), device=video.device, dtype=video.dtype)
    return Problem(
        run_model=run_model,
        pyramid=pyramid,
        targets=torch.tensor(targets, device=video.device)[:, None].expand(n_clips, n_areas),
        chunks=_chunks(n_clips, n_areas, max(1, chunk // per_pair)),
        pairs_per_call=max(1, chunk // per_pair),
        # Counts, not a reference tensor: the area loss then selects the cut-off instead of sorting.
        reference=area_zero_counts(settings.areas, height * width if per_frame else frames * height * width),
        tiebreak=tiebreak,
        grid=grid,
        size=(height, width),
        clean_logits=clean_logits,
        memory=describe(per_item, chunk, n_clips * n_areas * per_pair),
        init=init,
        calls=calls,
    )


def warm_start(run_model, video: torch.Tensor, targets: list[int], areas: tuple[float, ...], step: int) -> torch.Tensor:
    """Initial mask parameters from the input gradient: ``(N, A, T, h, w)``, 1 on the top ``a`` share of
    grid cells and falling off with the saliency elsewhere.

    One forward and backward pass: the magnitude of the target logit's gradient (max over channels),
    averaged over each mask cell, then low-passed in the DCT domain (cutoffs 0.25) so the start is one
    smooth region rather than scattered gradient peaks; divided by its ``(1 - a)`` quantile and clipped to
    [0, 1]. Graded, not binary: a binary start left the ranking of the voxels outside the top ``a`` to
    ties and lost ground-truth AP (measured: ``benchmarks/results/auto.md``).
    """
    clips = video.detach().requires_grad_(True)
    logits = run_model(clips)
    chosen = torch.tensor(targets, device=video.device)[:, None]
    (grad,) = torch.autograd.grad(logits.gather(1, chosen).sum(), clips)
    saliency = grad.abs().amax(dim=1)  # (N, T, H, W)
    cells = F.avg_pool2d(saliency.flatten(0, 1)[:, None], step, ceil_mode=True)[:, 0]
    cells = lowpass(cells.unflatten(0, saliency.shape[:2]), 0.25, 0.25).flatten(1)  # (N, T*h*w)
    starts = [(cells / torch.quantile(cells, 1 - a, dim=1, keepdim=True).clamp_min(1e-12)).clamp(0, 1) for a in areas]
    grid_h, grid_w = mask_grid(saliency.shape[-2], saliency.shape[-1], step)
    return torch.stack(starts, dim=1).reshape(*saliency.shape[:1], len(areas), saliency.shape[1], grid_h, grid_w)


def _chunks(n_clips: int, n_areas: int, pairs_per_call: int) -> list[Part]:
    """Parts covering the N x A grid, each with at most ``pairs_per_call`` masks: whole clips together
    when all their areas fit, otherwise one clip's areas in groups."""
    if n_areas <= pairs_per_call:
        step = pairs_per_call // n_areas
        return [Part(slice(c, min(c + step, n_clips)), slice(0, n_areas)) for c in range(0, n_clips, step)]
    return [
        Part(slice(c, c + 1), slice(a, min(a + pairs_per_call, n_areas)))
        for c in range(n_clips)
        for a in range(0, n_areas, pairs_per_call)
    ]


def _final_masks(problem: Problem, settings: ExplanationSettings, params: torch.Tensor):
    """Full-resolution masks ``(N, A, T, H, W)`` and the target probability with only each mask kept."""
    masks = params.new_empty(*problem.grid[:3], *problem.size)
    kept_prob = params.new_empty(*problem.grid[:2])
    for part in problem.chunks:
        mask = upsample_mask(params[part.grid], problem.size, settings.mask_step).clamp(0, 1)
        masks[part.grid] = mask
        masked = problem.pyramid.apply(mask, part.clips)
        logits = problem.run_model(masked.reshape(-1, *masked.shape[-4:]))
        chosen = problem.targets[part.grid].reshape(-1, 1)
        kept_prob[part.grid] = logits.softmax(1).gather(1, chosen).reshape(mask.shape[:2]).to(kept_prob.dtype)
    return masks, kept_prob
