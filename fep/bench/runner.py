"""Methods × clips → one tidy table of metrics, resumable and shardable.

Every (clip, method) result is its own JSON file under ``OUT/items/``, written atomically; a re-run
skips finished items, so a run killed at any point resumes without losing or corrupting work. Under
``torchrun`` (``RANK`` / ``WORLD_SIZE``; gloo on CPU) each process takes every ``WORLD_SIZE``-th item
and rank 0 merges once all are done. The merged outputs are ``table.csv`` (one row per clip and
method; metrics only, so reruns give identical tables), ``summary.md`` (mean and 95 % interval per
method, plus seconds per item), ``summary.json`` and ``metrics.png`` / ``pareto.png``.

Methods are names, optionally with options in brackets: ``fep``, ``ep3d``, ``gradcam``,
``fep[temporal_cutoff=0.1,spatial_cutoff=0.1]``, ``fep[modulate=energy,lowpass_at=update]``.

Clips: held-out synthetic clips with ground truth (default), or a folder of real videos with a
Kinetics model (``videos=``), where the ground-truth metrics are left empty.

Examples::

    >>> from fep.bench.runner import run_experiments
    >>> table = run_experiments("results/experiments", methods=["gradient", "ep3d", "fep"], clips=8)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from fep.atomic import atomic_write
from fep.bench.clips import Clip, synthetic_clips
from fep.bench.faithfulness import deletion_insertion
from fep.bench.map_metrics import (
    ground_truth_ap,
    high_frequency_share,
    mass_in_ground_truth,
    pointing_game,
    rank_correlation,
    temporal_difference,
    temporal_localisation,
    total_variation,
)
from fep.bench.methods import REGISTRY, Method, parse_method
from fep.bench.report import item_done, item_path, merge
from fep.ep.presets import METHOD_FEP

__all__ = ["DEFAULT_METHODS", "ABLATION_METHODS", "DESIGN_METHODS", "DELETION_STEPS", "run_experiments"]

DEFAULT_METHODS = tuple(REGISTRY)  # every registered method (fep.bench.methods), in its order
ABLATION_METHODS = (
    "fep[temporal_cutoff=0.1,spatial_cutoff=0.1]",
    "fep[temporal_cutoff=0.5,spatial_cutoff=0.5]",
    "fep[temporal_cutoff=0.25,spatial_cutoff=1.0]",
    "fep[temporal_cutoff=1.0,spatial_cutoff=0.25]",
    "fep[filter_type=ideal]",
    "fep[filter_type=butterworth]",
)
DESIGN_METHODS = (
    "fep[modulate=energy]",
    "fep[modulate=energy,lowpass_at=update]",
    "fep[optimizer=adam]",
    "fep[schedule=linear]",
    "fep[preserve_norm=False]",
    "fep[mask_step=14]",
)
# Budgets per item (fast, full): the methods' own are in fep.bench.methods (Method.budget).
DELETION_STEPS = (4, 16)  # log-spaced from 0.25 % of the voxels (fep.bench.faithfulness.removal_fractions)


def _saliency(model, clip: Clip, method: Method, options: dict, fast: bool) -> torch.Tensor:
    budget = {key: values[not fast] for key, values in method.budget.items()}
    return method.saliency(model, clip.video, clip.target, **{**budget, **options})[0]


def _metrics(model, clip: Clip, saliency: torch.Tensor, fast: bool) -> dict:
    s = saliency.detach().double().abs().cpu()  # signed gradients: magnitude is the evidence
    high_t, high_s = high_frequency_share(s)
    td = float(temporal_difference(s))
    row = {
        "temporal_difference": td,
        "temporal_consistency": 1 - td,
        "spatial_tv": float(total_variation(s)),
        "high_freq_temporal": float(high_t),
        "high_freq_spatial": float(high_s),
    }
    steps = DELETION_STEPS[not fast]
    for mode in ("deletion", "insertion"):
        curve = deletion_insertion(model, clip.video, clip.target, s.to(clip.video.device), mode=mode, steps=steps)
        row[f"{mode}_auc"], row[f"{mode}_curve"] = curve["auc"], curve["scores"]
    if clip.evidence is not None:
        row["temporal_localisation"] = temporal_localisation(s, clip.evidence)
    if clip.actor_mask is not None:
        pointing = pointing_game(s, clip.boxes, clip.evidence)
        row.update(
            pointing_frame=pointing["frame"],
            pointing_clip=pointing["clip"],
            gt_ap=ground_truth_ap(s, clip.actor_mask),
            mass_in_gt=mass_in_ground_truth(s, clip.actor_mask),
        )
    return row


def _device_of(model: torch.nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("gloo")
    return rank, world


def run_experiments(
    out: str | os.PathLike,
    methods: Sequence[str] = DEFAULT_METHODS,
    clips: int | Sequence[Clip] = 64,
    model: torch.nn.Module | None = None,
    model_name: str = "toy",
    fast: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
    threads: int = 1,
    sanity: bool = False,
) -> list[dict] | None:
    """Compute every missing (clip, method) item, then merge (rank 0 only under torchrun).

    Args:
        out: results folder (created); ``out/items/`` holds one JSON per item.
        methods: method specs (see module docstring).
        clips: a number of held-out synthetic clips, or prepared :class:`Clip` objects.
        model: the classifier (default: the shipped toy model).
        model_name: recorded in the results.
        fast: few iterations / samples / deletion steps (for tests and notebooks).
        progress: progress bar over items.
        stop_after: stop after computing this many new items (simulates an interruption).
        threads: torch threads per process while computing items. Float sums depend on the thread
            count, so a fixed count (default 1) makes the table independent of how the work is split;
            use ``torchrun --nproc_per_node <cores>`` to use every core.
        sanity: also explain each clip with the architecture re-initialised (``load_model(model_name,
            weights=None)``) and report the rank correlation of the two explanations (the
            model-randomisation check; twice the work).

    Returns:
        The merged table rows on rank 0, None on other ranks or when stopped early.
    """

    from fep.models import load_model

    specs = [(spec, *parse_method(spec)) for spec in methods]
    model = load_model("toy") if model is None else model
    clip_list = synthetic_clips(clips) if isinstance(clips, int) else list(clips)
    device = _device_of(model)  # the clips follow the model (ground truth and metrics stay on the CPU)
    clip_list = [replace(c, video=c.video.to(device)) for c in clip_list]
    out = Path(out)
    (out / "items").mkdir(parents=True, exist_ok=True)
    rank, world = _distributed()
    plan = [(clip, spec) for clip in clip_list for spec in specs]
    mine = [item for i, item in enumerate(plan) if i % world == rank]
    random_model = load_model(model_name, weights=None).to(_device_of(model)) if sanity else None
    run = _Run(
        out=out, model=model, model_name=model_name, fast=fast, progress=progress, stop_after=stop_after,
        clips=clip_list, specs=specs, rank=rank, world=world, mine=mine, random_model=random_model,
    )  # fmt: skip
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _compute_and_merge(run)
    finally:
        torch.set_num_threads(previous_threads)


@dataclass
class _Run:
    """One call of :func:`run_experiments`: what to compute here, and how."""

    out: Path
    model: torch.nn.Module
    model_name: str
    fast: bool
    progress: bool
    stop_after: int | None
    clips: list[Clip]
    specs: list[tuple[str, Method, dict]]
    rank: int
    world: int
    mine: list[tuple[Clip, tuple[str, Method, dict]]]  # this process's share of (clip, spec)
    random_model: torch.nn.Module | None = None  # the same architecture re-initialised (sanity check)

    def todo(self) -> list[tuple[Clip, tuple[str, Method, dict]]]:
        return [(c, s) for c, s in self.mine if not item_done(item_path(self.out, c.id, s[0]), self.fast)]


def _compute_and_merge(run: _Run) -> list[dict] | None:
    from tqdm.auto import tqdm

    todo, computed = run.todo(), 0
    done = len(run.mine) - len(todo)
    bar = tqdm(total=len(run.mine), initial=done, desc=f"items (rank {run.rank})", disable=not run.progress)
    for clip, (spec, method, options) in todo:
        started = time.perf_counter()
        saliency = _saliency(run.model, clip, method, options, run.fast)
        row = {"clip": clip.id, "family": clip.family, "method": spec, "target": clip.target, "fast": run.fast}
        row.update(_metrics(run.model, clip, saliency, run.fast))
        if run.random_model is not None:
            randomised = _saliency(run.random_model, clip, method, options, run.fast)
            row["randomisation_rank_corr"] = rank_correlation(saliency.abs(), randomised.abs())
        row["seconds"] = time.perf_counter() - started
        payload = (json.dumps(row, sort_keys=True) + "\n").encode()
        atomic_write(item_path(run.out, clip.id, spec), lambda f, data=payload: f.write(data))
        bar.update(1)
        computed += 1
        if run.stop_after is not None and computed >= run.stop_after:
            bar.close()
            return None
    bar.close()
    if run.world > 1:
        torch.distributed.barrier()
    if run.rank != 0:
        return None
    budget = REGISTRY[METHOD_FEP].budget
    settings = {
        "ep_iterations": budget["iterations"][not run.fast],
        "ep_areas": budget["areas"][not run.fast],
        "deletion_steps": DELETION_STEPS[not run.fast],
    }
    clip_ids, specs = [c.id for c in run.clips], [s[0] for s in run.specs]
    return merge(run.out, clip_ids, specs, model_name=run.model_name, fast=run.fast, **settings)
