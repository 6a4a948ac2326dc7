r"""The optimisation behind 2D-EP, 3D-EP, STEP and F-EP: one loop, read top to bottom in :func:`optimise_masks`.

All four methods optimise mask parameters :math:`P \in [0,1]^{A \times T \times h \times w}` (one coarse
grid per frame and area, :mod:`fep.ep.perturbation`) to minimise the energy

.. math::

    E(P) = -R\big(f(\Phi(x; m))\big) + \lambda_i\,\mathcal{A}(m) + \mu_i\,\mathcal{C}(m),
    \qquad m = \mathrm{up}(P),

where :math:`\Phi` perturbs the clip :math:`x` outside the mask (blur or fade pyramid), :math:`f` is the
model, :math:`R` the reward of the target class, :math:`\mathcal{A}` the area loss and :math:`\mathcal{C}`
STEP's core loss (:mod:`fep.ep.objectives`, computed for one chunk of masks by :func:`chunk_energy`). The
area weight grows geometrically from :math:`\lambda_0 = 300` to :math:`300 \cdot 1.0035^{800}` over the
run (TorchRay's 800-iteration schedule, the same end point for any iteration count); :math:`\mu_i` is 0
before ``core_start``.

F-EP (the DCT low-pass) changes one thing: before each optimiser step the gradient :math:`G` is
modulated in the DCT domain,

.. math::

    \hat G = \mathrm{IDCT}_3\big(H \odot \mathrm{DCT}_3(G)\big),

with :math:`H` a low-pass response with temporal and spatial cutoffs (:mod:`fep.ep.dct`). Which gradient is
filtered and where the filter sits (gradient, update, parametrisation) is a strategy object
(:mod:`fep.ep.lowpass`); the method (ep2d, ep3d, step, fep) is a preset of the settings (:mod:`fep.bench.methods`).
So the loop below tests no method name: it reads :class:`~fep.ep.settings.ExplanationSettings`.

Several areas (:func:`optimise_sweep`) run in one batch, or chained: one area after another, largest
first. On a GPU a batch of masks costs little more than one; on a CPU a batch of two masked clips costs
about twice one (2.1 to 2.4 times for r2plus1d_18 on two cores, ``benchmarks/bench_speed_paths.py``), so
batching saves nothing there, while each smaller area of a chain starts from the mask of the area just
larger than it, which already covers its evidence, and needs only a short area-weight schedule (the
named defaults' ``chain_schedule``) to shrink onto it. A chain's history is a timeline: its rows are the
chain's iterations in order, and each area's column holds values only while that area ran.

Games (``variant``): ``preserve`` keeps the mask and perturbs the rest; ``delete`` perturbs the mask;
``dual`` plays both on one batch and adds the rewards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import torch
from tqdm.auto import tqdm

from fep.ep.checks import check_model, check_positive_int
from fep.ep.explanation import Explanation
from fep.ep.inputs import model_inputs
from fep.ep.lowpass import LowpassSite, lowpass_site, response_schedule
from fep.ep.model_state import frozen_model
from fep.ep.objectives import area_loss, core_loss, reward
from fep.ep.perturbation import upsample_mask
from fep.ep.problem import Part, Problem, active_chunks, chunks_of, measuring_call, plan_problem
from fep.ep.settings import ExplanationSettings
from fep.ep.stopping import Stopping
from fep.errors import FepTypeError, FepValueError

__all__ = ["HISTORY_KEYS", "ChunkTerms", "explain", "optimise_masks", "optimise_sweep", "chunk_energy"]

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
    targets = problem.targets[part.index].reshape(-1)
    if settings.variant == "dual":
        logits = logits.reshape(n, 2, a, -1)
        rewards = reward(logits[:, 0].reshape(-1, logits.shape[-1]), targets, settings.reward) + reward(
            logits[:, 1].reshape(-1, logits.shape[-1]), targets, settings.reward, deleted=True
        )
    else:
        rewards = reward(logits, targets, settings.reward, deleted=settings.variant == "delete")
    rewards = rewards.reshape(n, a)
    length = problem.schedule_length
    area_weight = settings.area_weight * _growth(settings, length) ** min(i, length - 1)
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
        a mask stopped), and which mask ran how long (:class:`~fep.ep.stopping.Stopping`).
    """
    base = problem.init.clone()
    leaf, chunks = site.leaf(base), problem.chunks
    stopping = Stopping(settings.areas, problem.shape[0], settings.auto, base.device, problem.schedule_length,
                        settings.named_defaults.energy_tolerance)
    optimizer = _optimizer(settings, leaf)
    # Preallocated so recording a step is one copy, with no host sync and no growing lists; NaN where a
    # mask has stopped.
    history = {key: base.new_full((settings.max_iterations, *problem.shape[:2]), float("nan")) for key in HISTORY_KEYS}
    shown = base.new_empty(*problem.shape[:3], *problem.size) if callback is not None else None
    bar = _progress_bar(settings, progress)
    for i in range(settings.max_iterations):
        response, grads = responses(i), None
        area_error, scale = base.new_zeros(problem.shape[:2]), base.new_ones(problem.shape[:2])
        for part in chunks:
            params = site.params(leaf[part.index], base[part.index], response)
            mask = upsample_mask(params, problem.size, settings.mask_step)
            if shown is not None:
                shown[part.index] = mask.detach()
            terms = chunk_energy(problem, settings, mask, part, i)
            del mask
            chunk_grads = site.gradients(terms, leaf, response)
            grads = chunk_grads if grads is None else tuple(g + c for g, c in zip(grads, chunk_grads, strict=True))
            _record(history, i, part, terms, area_error, scale)
        if stopping.update(i, history, area_error, scale):
            chunks = active_chunks(stopping.active, problem.pairs_per_call)
        _step(site, optimizer, leaf, site.combine(grads, response), response, ~stopping.active)
        last = i == settings.max_iterations - 1 or not chunks
        if progress:
            _show(bar, i, history, stopping, converged=not chunks)
        if callback is not None and (i % callback_every == 0 or last):
            callback(i, shown, {key: value[: i + 1] for key, value in history.items()})
        if not chunks:
            break
    bar.close()
    return leaf, base, _stopped_history(history, stopping), stopping


# ---- several areas: one batch, or a chain from the largest ----

def optimise_sweep(
    problem: Problem, settings: ExplanationSettings, site, responses, progress: bool, callback, callback_every: int,
    chained: bool,
) -> tuple[torch.Tensor, dict, Stopping]:  # fmt: skip
    """Every area's mask, in one batch or chained (``chained``, :meth:`ExplanationSettings.chained`).

    Returns:
        ``(params, history, stopping)``: the final mask parameters ``(N, A, T, h, w)``, the
        ``(iterations, N, A)`` history (a timeline for a chain) and who ran how long.
    """
    if not chained:
        leaf, base, history, stopping = optimise_masks(
            problem, settings, site, responses, progress, callback, callback_every
        )
        return site.params(leaf, base, responses(int(stopping.used.max()) - 1)).detach(), history, stopping
    n_clips, n_areas = problem.shape[:2]
    params = problem.init.new_empty(problem.shape)
    stopping = Stopping(settings.areas, n_clips, settings.auto, problem.init.device, problem.schedule_length)
    shown = None if callback is None else problem.init.new_ones(*problem.shape[:3], *problem.size)
    done: list[tuple[int, int, dict]] = []  # (area, first row, history) of the links run so far
    start = None
    for k in sorted(range(n_areas), key=lambda a: -settings.areas[a]):
        link = _link(problem, settings, k, start)
        offset = sum(history["energy"].shape[0] for _, _, history in done)
        forward = None if callback is None else partial(_forward, callback, shown, done, problem.shape[:2], k, offset)
        leaf, base, history, link_stop = optimise_masks(
            link, replace(settings, areas=(settings.areas[k],)), site, responses, progress, forward, callback_every
        )
        params[:, k : k + 1] = site.params(leaf, base, responses(int(link_stop.used.max()) - 1)).detach()
        start = params[:, k : k + 1].clamp(0, 1)
        stopping.used[:, k], stopping.converged[:, k] = link_stop.used[:, 0], link_stop.converged[:, 0]
        done.append((k, offset, history))
    return params, _timeline(done, problem.shape[:2]), stopping


def _link(problem: Problem, settings: ExplanationSettings, area: int, start: torch.Tensor | None) -> Problem:
    """The problem of one area of a chain: its targets, references and start; after the first area, the
    chain's shorter area-weight schedule (under ``iterations="auto"``)."""
    n_clips = problem.shape[0]
    schedule = problem.schedule_length
    if start is not None and settings.auto:
        schedule = settings.named_defaults.chain_schedule or schedule
    return replace(
        problem, targets=problem.targets[:, area : area + 1], chunks=chunks_of(n_clips, 1, problem.pairs_per_call),
        reference=(problem.reference[area],), shape=(n_clips, 1, *problem.shape[2:]),
        init=problem.init[:, area : area + 1] if start is None else start, schedule_length=schedule,
    )  # fmt: skip


def _timeline(done: list[tuple[int, int, dict]], grid: tuple[int, int], current: dict | None = None) -> dict:
    """The chain's history so far: ``(iterations, N, A)`` per key, each area's rows where it ran."""
    links = done + ([current] if current is not None else [])
    rows = sum(history["energy"].shape[0] for _, _, history in links)
    timeline = {}
    for key, like in links[0][2].items():
        timeline[key] = like.new_full((rows, *grid), float("nan"))
        for area, offset, history in links:
            timeline[key][offset : offset + history[key].shape[0], :, area] = history[key][:, :, 0]
    return timeline


def _forward(callback, shown: torch.Tensor, done: list, grid: tuple[int, int], area: int, offset: int, i: int,
             masks: torch.Tensor, history: dict) -> None:  # fmt: skip
    """A link's callback, seen by the caller as one run: iteration, every area's mask, the timeline."""
    shown[:, area] = masks[:, 0]
    callback(offset + i, shown, _timeline(done, grid, (area, offset, history)))


def explain(
    model: torch.nn.Module, video: torch.Tensor, target, settings: ExplanationSettings, *, progress: bool = True,
    callback: Callback | None = None, callback_every: int = 1, site: LowpassSite | None = None,
) -> Explanation:  # fmt: skip
    """Explain ``video`` for ``target`` with ``settings`` (what :func:`fep.extremal_perturbation` does).

    Checks the model, clip and targets, borrows the model (:func:`~fep.ep.model_state.frozen_model`),
    prepares the :class:`Problem`, runs :func:`optimise_masks` and scores the final masks. ``site``
    replaces the settings' low-pass site (:mod:`fep.ep.anatomy` passes one that records the gradients).
    """
    started = time.perf_counter()
    check_positive_int("callback_every", callback_every)
    if callback is not None and not callable(callback):
        raise FepTypeError(f"callback must be callable, got {type(callback).__name__}.")
    check_model(model)
    is_image = isinstance(video, torch.Tensor) and video.ndim == 4
    on_cuda = isinstance(video, torch.Tensor) and video.device.type == "cuda"
    if settings.autocast == "fp16" and isinstance(video, torch.Tensor) and not on_cuda:
        raise FepValueError(
            f"autocast='fp16' runs the model in half precision on CUDA only, but the clip is on {video.device}; "
            "pass autocast='bf16' on a CPU, move model and clip to a GPU, or leave autocast=None."
        )
    site = site or lowpass_site(settings.modulate, settings.lowpass_at, settings.preserve_norm)
    rng_devices = [video.device] if on_cuda else []
    device = torch.device("cuda" if on_cuda else "cpu")
    channels_last, chained = settings.channels_last(device), settings.chained(device)
    # frozen_model also restores torch's global settings; fork_rng covers a CUDA generator not yet
    # initialised when the call starts.
    with frozen_model(model, channels_last), torch.random.fork_rng(devices=rng_devices), torch.enable_grad():
        torch.manual_seed(settings.seed)
        run_model, calls, measured = measuring_call(model, is_image, settings.autocast, channels_last)
        inputs = model_inputs("extremal_perturbation", model, video, target, first_call=measured["call"])
        video, targets = inputs.video, inputs.targets
        problem = plan_problem(run_model, calls, inputs, measured["bytes"], settings)
        responses = response_schedule(settings, problem.shape[2:], problem.tiebreak)
        params, history, stopping = optimise_sweep(
            problem, settings, site, responses, progress, callback, callback_every, chained
        )
        with torch.no_grad():
            masks, kept_prob = _final_masks(problem, settings, params)
            target_t = problem.targets[:, 0]
            clean_prob = problem.clean_logits.softmax(1).gather(1, target_t[:, None]).squeeze(1)
    ran = {"sweep": "chain" if chained else "batch", "memory_format": "channels_last" if channels_last else "model"}
    return Explanation(
        masks=masks.detach().float().cpu(),
        areas=settings.areas,
        target=targets,
        method=settings.method,
        history={key: value.float().cpu().numpy() for key, value in history.items()},
        settings={**settings.to_dict(), "memory": problem.memory, "callback_every": callback_every, "ran": ran,
                  "target": "predicted" if inputs.predicted else "given"},
        scores={"original_prob": clean_prob.float().cpu().numpy(), "masked_prob": kept_prob.float().cpu().numpy()},
        wall_time=time.perf_counter() - started,
        model_calls=problem.calls[0],
        iterations_used=stopping.used.cpu().numpy(),
        stop_reason=stopping.reasons(),
        reached_areas=_reached_areas(masks, settings.preset.area_per_frame).cpu().numpy(),
    )


# ---- the pieces the loop and explain() use ----


def _progress_bar(settings: ExplanationSettings, progress: bool):
    """One bar per explanation; under ``auto`` its total is the cap, shortened to the truth on convergence."""
    cap = f" (auto, at most {settings.max_iterations})" if settings.auto else ""
    return tqdm(total=settings.max_iterations, desc=f"{settings.method}{cap}", unit="it", disable=not progress)


def _show(bar, i: int, history: dict, stopping: Stopping, converged: bool) -> None:
    """The energy and what the run waits for, every iteration; a converged run ends as a complete bar."""
    bar.update(1)
    bar.set_postfix_str(f"energy {history['energy'][i].nanmean().item():.3f}, {stopping.waiting_for(i)}", refresh=False)
    if converged:
        bar.total = bar.n  # every mask converged: the run is complete, not cut short
        widgets = getattr(bar, "container", None)  # tqdm.notebook's widget keeps the max it was created with
        if widgets is not None:
            widgets.children[1].max = bar.n
    bar.refresh()


def _growth(settings: ExplanationSettings, length: int) -> float:
    """Per-iteration factor of the area weight: ``area_weight`` to ``area_weight_final`` in ``length`` iterations."""
    return (settings.area_weight_final / settings.area_weight) ** (1.0 / max(1, length - 1))


def _area_error(mask: torch.Tensor, areas: tuple[float, ...], per_frame: bool) -> torch.Tensor:
    """``(n, a)``: |share of voxels above 0.5 - area|, over the volume or averaged over frames (2D-EP)."""
    with torch.no_grad():
        target = torch.tensor(areas, dtype=mask.dtype, device=mask.device)
        kept = (mask > 0.5).to(mask.dtype)
        if per_frame:
            return (kept.mean(dim=(-2, -1)) - target[None, :, None]).abs().mean(dim=-1)
        return (kept.mean(dim=(-3, -2, -1)) - target[None, :]).abs()


def _reached_areas(masks: torch.Tensor, per_frame: bool) -> torch.Tensor:
    """``(N, A)``: the share of each mask above 0.5 (per frame, averaged, for 2D-EP)."""
    kept = (masks > 0.5).float()
    return kept.mean(dim=(-2, -1)).mean(dim=-1) if per_frame else kept.mean(dim=(-3, -2, -1))


def _record(history: dict, i: int, part: Part, terms: ChunkTerms, area_error, scale) -> None:
    for key, value in zip(HISTORY_KEYS, (terms.rewards, terms.area, terms.core, terms.energy), strict=True):
        history[key][i][part.index] = value.detach()
    if terms.area_error is not None:
        area_error[part.index] = terms.area_error
        scale[part.index] = terms.scale


def _step(site: LowpassSite, optimizer, leaf: torch.Tensor, grad, response, frozen: torch.Tensor) -> None:
    """One optimiser step; masks that have stopped keep their parameters (momentum would move them)."""
    if not bool(frozen.any()):
        return site.step(optimizer, leaf, grad, response)
    kept = leaf.detach()[frozen].clone()
    site.step(optimizer, leaf, grad, response)
    with torch.no_grad():
        leaf[frozen] = kept


def _stopped_history(history: dict, stopping: Stopping) -> dict:
    """The history up to the last iteration run (NaN where a mask had already stopped)."""
    last = int(stopping.used.max())
    return {key: value[:last] for key, value in history.items()}


def _optimizer(settings: ExplanationSettings, leaf: torch.Tensor) -> torch.optim.Optimizer:
    if settings.optimizer == "sgd":
        return torch.optim.SGD([leaf], lr=settings.lr, momentum=settings.momentum, dampening=settings.momentum)
    return torch.optim.Adam([leaf], lr=settings.lr)


def _final_masks(problem: Problem, settings: ExplanationSettings, params: torch.Tensor):
    """Full-resolution masks ``(N, A, T, H, W)`` and the target probability with only each mask kept."""
    masks = params.new_empty(*problem.shape[:3], *problem.size)
    kept_prob = params.new_empty(*problem.shape[:2])
    for part in problem.chunks:
        mask = upsample_mask(params[part.index], problem.size, settings.mask_step).clamp(0, 1)
        masks[part.index] = mask
        masked = problem.pyramid.apply(mask, part.clips)
        logits = problem.run_model(masked.reshape(-1, *masked.shape[-4:]))
        chosen = problem.targets[part.index].reshape(-1, 1)
        kept_prob[part.index] = logits.softmax(1).gather(1, chosen).reshape(mask.shape[:2]).to(kept_prob.dtype)
    return masks, kept_prob
