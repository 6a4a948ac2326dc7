"""What stays fixed while the masks of a batch are optimised: the :class:`Problem`, planned once.

:func:`measuring_call` is the first model call (the input check's probe, which measures memory);
:func:`plan_problem` plans the memory (how many masked clips fit
in one model call, :mod:`fep.ep.memory`), computes the clean logits, builds the perturbation pyramid,
the area loss's references and tie-break, and the initial masks (:mod:`fep.ep.warm_start`). The masks
``(N, A, ...)`` are optimised in chunks (:class:`Part`), each one model call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch

from fep.ep.dct import lowpass
from fep.ep.inputs import ModelInputs, check_logits, model_forward
from fep.ep.memory import chunk_size, describe, item_bytes, saved_activation_bytes
from fep.ep.objectives import area_zero_counts
from fep.ep.perturbation import Perturbation, mask_grid
from fep.ep.settings import AUTOCAST_DTYPES, INIT_SALIENCY, INIT_SALIENCY_SMOOTH, ExplanationSettings
from fep.ep.warm_start import smooth_start, warm_start

__all__ = ["Part", "Problem", "measuring_call", "plan_problem", "model_runner", "chunks_of", "active_chunks"]


@dataclass(frozen=True)
class Part:
    """A chunk of masks: some clips x some areas, as slices (every mask active) or 1-D index tensors."""

    clips: slice | torch.Tensor
    areas: slice | torch.Tensor

    @property
    def index(self):
        """Index of the chunk in any ``(N, A, ...)`` tensor."""
        if isinstance(self.clips, slice):
            return self.clips, self.areas
        return self.clips[:, None], self.areas[None, :]

    def pick(self, values: tuple) -> tuple:
        """The chunk's entries of a per-area tuple."""
        return values[self.areas] if isinstance(self.areas, slice) else tuple(values[a] for a in self.areas.tolist())


@dataclass
class Problem:
    """What stays fixed while the masks of one batch of clips are optimised (built by :func:`plan_problem`).

    Attributes:
        run_model: masked clips ``(B, C, T, H, W)`` → logits ``(B, K)`` (checked, counted).
        pyramid: the perturbed copies of the clips.
        targets: ``(N, A)`` class of each mask.
        chunks: the :class:`Part` s of the first iteration; each is one model call.
        pairs_per_call: most (clip, area) masks in one chunk.
        reference: per area, how many ranked mask values the area loss pushes to 0.
        tiebreak: fixed noise ``(1, 1, T, H, W)`` that breaks ties in the area loss's ranking.
        shape: of the mask parameters ``(N, A, T, h, w)``.
        size: frame size ``(H, W)``.
        clean_logits: the model's logits on the untouched clips ``(N, K)``.
        memory: one line on the memory estimate and the chunking.
        init: the initial mask parameters ``(N, A, T, h, w)``.
        schedule_length: the iterations over which the area weight grows to its final value.
    """

    run_model: Callable[[torch.Tensor], torch.Tensor]
    pyramid: Perturbation
    targets: torch.Tensor
    chunks: list[Part]
    pairs_per_call: int
    reference: tuple[int, ...]
    tiebreak: torch.Tensor
    shape: tuple[int, ...]
    size: tuple[int, int]
    clean_logits: torch.Tensor
    memory: str
    init: torch.Tensor
    schedule_length: int
    calls: list[int] = field(default_factory=lambda: [0])


def measuring_call(
    model, is_image: bool, autocast: str | None, channels_last: bool = False
) -> tuple[Callable, list[int], dict]:
    """The checked, counted model runner, and the first call: clip 0 alone with the input requiring
    grad, which measures the memory an iteration needs per masked clip (``measured["bytes"]``)."""
    calls: list[int] = [0]
    run_model = model_runner(model, is_image, calls, autocast, channels_last)
    measured: dict = {}

    def first_call(clip: torch.Tensor) -> torch.Tensor:
        logits, measured["bytes"] = saved_activation_bytes(model, clip, run_model)
        return logits

    measured["call"] = first_call
    return run_model, calls, measured


def plan_problem(
    run_model, calls: list[int], inputs: ModelInputs, activation: int, settings: ExplanationSettings
) -> Problem:
    """Memory plan, clean logits, pyramid, area references, tie-break, after the first (measuring) call."""
    video, targets, first_logits = inputs.video, inputs.targets, inputs.logits
    n_clips, _, frames, height, width = video.shape
    n_areas, per_pair = len(settings.areas), 2 if settings.variant == "dual" else 1
    per_item = item_bytes(activation, video, settings.num_levels if settings.perturbation == "blur" else 0)
    chunk = chunk_size(per_item, n_clips * n_areas * per_pair, video.device, settings.max_batch)
    with torch.no_grad():
        clean = [first_logits] + [run_model(video[s : s + chunk]) for s in range(1, n_clips, chunk)]
    clean_logits = torch.cat(clean)
    pyramid = Perturbation(video, settings.perturbation, settings.num_levels, settings.max_blur)
    grid_h, grid_w = mask_grid(height, width, settings.mask_step)
    per_frame = settings.preset.area_per_frame
    # Fixed random tie-breaking for the area term's ranking (see fep.ep.objectives.area_loss).
    tiebreak = 1e-6 * torch.rand((1, 1, frames, height, width), device=video.device, dtype=video.dtype)
    shape = (n_clips, n_areas, frames, grid_h, grid_w)
    if settings.init in (INIT_SALIENCY, INIT_SALIENCY_SMOOTH):
        init = warm_start(run_model, video, targets, settings.areas, settings.mask_step, _start_smoothing(settings))
    else:
        init = torch.full(shape, float(settings.init), device=video.device, dtype=video.dtype)
    return Problem(
        run_model=run_model,
        pyramid=pyramid,
        targets=torch.tensor(targets, device=video.device)[:, None].expand(n_clips, n_areas),
        chunks=chunks_of(n_clips, n_areas, max(1, chunk // per_pair)),
        pairs_per_call=max(1, chunk // per_pair),
        # Counts, not a reference tensor: the area loss then selects the cut-off instead of sorting.
        reference=area_zero_counts(settings.areas, height * width if per_frame else frames * height * width),
        tiebreak=tiebreak,
        shape=shape,
        size=(height, width),
        clean_logits=clean_logits,
        memory=describe(per_item, chunk, n_clips * n_areas * per_pair),
        init=init,
        schedule_length=settings.schedule_length,
        calls=calls,
    )


def _start_smoothing(settings: ExplanationSettings):
    """How a warm start is smoothed: the 2026-11 start's fixed low-pass for every method, F-EP's own
    response (its cutoffs and filter) for F-EP's own start, nothing for a method without the low-pass."""
    if settings.init == INIT_SALIENCY_SMOOTH:
        return smooth_start
    if not settings.preset.lowpass:
        return None
    return partial(
        lowpass, temporal_cutoff=settings.temporal_cutoff, spatial_cutoff=settings.spatial_cutoff,
        filter_type=settings.filter_type, order=settings.filter_order,
    )  # fmt: skip


def model_runner(
    model: torch.nn.Module, is_image: bool, calls: list[int], autocast: str | None, channels_last: bool = False
) -> Callable[[torch.Tensor], torch.Tensor]:
    forward = model_forward(model, is_image)

    def run_model(clips: torch.Tensor) -> torch.Tensor:
        if channels_last and clips.dim() == 5:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        dtype = AUTOCAST_DTYPES[autocast or "bf16"]
        with torch.autocast(clips.device.type, dtype=dtype, enabled=autocast is not None):
            logits = forward(clips)
        calls[0] += 1
        logits = check_logits(logits, clips.shape[0])
        # The reward, the losses and the optimiser stay in float32.
        return logits.float() if autocast is not None else logits

    return run_model


def chunks_of(n_clips: int, n_areas: int, pairs_per_call: int) -> list[Part]:
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


def active_chunks(active: torch.Tensor, pairs_per_call: int) -> list[Part]:
    """Chunks over the masks still optimised: clips with the same active areas share chunks."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for clip, row in enumerate(active.tolist()):
        areas = tuple(a for a, on in enumerate(row) if on)
        if areas:
            groups.setdefault(areas, []).append(clip)
    device, parts = active.device, []
    for areas, clips in groups.items():
        clips_t, areas_t = torch.tensor(clips, device=device), torch.tensor(areas, device=device)
        for chunk in chunks_of(len(clips), len(areas), pairs_per_call):
            parts.append(Part(clips_t[chunk.clips], areas_t[chunk.areas]))
    return parts
