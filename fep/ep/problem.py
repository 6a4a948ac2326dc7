"""What stays fixed while the masks of a batch are optimised: the :class:`Problem`, planned once.

:func:`plan_problem` makes the first (measuring) model call, plans the memory (how many masked clips fit
in one model call, :mod:`fep.ep.memory`), computes the clean logits, builds the perturbation pyramid,
the area loss's references and tie-break, and the initial masks (:mod:`fep.ep.warm_start`). The masks
``(N, A, ...)`` are optimised in chunks (:class:`Part`), each one model call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch

from fep.ep.checks import check_target_range
from fep.ep.dct import lowpass
from fep.ep.memory import chunk_size, describe, item_bytes, saved_activation_bytes
from fep.ep.model_state import guess_input_channels
from fep.ep.objectives import area_zero_counts
from fep.ep.perturbation import Perturbation, mask_grid
from fep.ep.settings import AUTOCAST_DTYPES, INIT_SALIENCY, INIT_SALIENCY_SMOOTH, ExplanationSettings
from fep.ep.warm_start import smooth_start, warm_start
from fep.errors import FepValueError

__all__ = ["Part", "Problem", "plan_problem", "model_runner", "chunks_of", "active_chunks"]


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
    calls: list[int] = field(default_factory=lambda: [0])


def plan_problem(
    model, video: torch.Tensor, targets: list[int], settings: ExplanationSettings, is_image: bool
) -> Problem:
    """First (measuring) model call, memory plan, clean logits, pyramid, area references, tie-break."""
    calls = [0]
    run_model = model_runner(model, is_image, calls, settings.autocast)
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


def model_runner(
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
