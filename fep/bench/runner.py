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

import datetime
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from fep.atomic import atomic_write
from fep.bench.clips import Clip, synthetic_clips
from fep.bench.faithfulness import GAME_AREAS, MIN_MARGIN_GAP, deletion_insertion, matched_area_game
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
from fep.bench.methods import PERTURBATION, REGISTRY, Method, parse_method
from fep.bench.randomisation import CASCADE_DEPTHS, CASCADE_INITS, cascade_depths, parameter_layers, randomised_copy
from fep.bench.report import METRICS, item_done, item_path, merge
from fep.bench.stats import choose_best_other
from fep.errors import FepFileNotFoundError, FepValueError

__all__ = ["score_map", "DEFAULT_METHODS", "ABLATION_METHODS", "DESIGN_METHODS", "DELETION_STEPS", "run_experiments"]

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


def _budget(method: Method, fast: bool) -> dict:
    """The options the runner passes to ``method`` (those left out run at the package defaults)."""
    return {key: values[not fast] for key, values in method.budget.items() if values[not fast] is not None}


def _saliency(model, clip: Clip, method: Method, options: dict, fast: bool) -> torch.Tensor:
    return method.saliency(model, clip.video, clip.target, **{**_budget(method, fast), **options})[0]


def score_map(model, clip: Clip, saliency: torch.Tensor, fast: bool) -> dict:
    """Every metric of one map ``(T, H, W)`` of ``clip``: smoothness, faithfulness (curves and the game),
    and the ground-truth ones where the clip has ground truth (a fast run plays fewer steps and areas)."""
    s = saliency.detach().double().abs().cpu()  # signed gradients: magnitude is the evidence
    row = _smoothness(s, clip)
    steps = DELETION_STEPS[not fast]
    for mode in ("deletion", "insertion"):
        curve = deletion_insertion(model, clip.video, clip.target, s.to(clip.video.device), mode=mode, steps=steps)
        row[f"{mode}_auc"], row[f"{mode}_curve"] = curve["auc"], curve["scores"]
        row[f"{mode}_margin_auc"], row[f"{mode}_margin_curve"] = curve["margin_auc"], curve["margins"]
        row["margin_gap"] = curve["margin_gap"]
    game = matched_area_game(model, clip.video, clip.target, s.to(clip.video.device), areas=_game_areas(fast))
    row.update(
        game_keep=None if game["keep"] is None else sum(game["keep"]) / len(game["keep"]),
        game_remove=None if game["remove"] is None else sum(game["remove"]) / len(game["remove"]),
        game_tied=sum(game["tied"]) / len(game["tied"]),
        game_keep_curve=game["keep"], game_remove_curve=game["remove"], game_tied_curve=game["tied"],
    )  # fmt: skip
    if clip.evidence is not None and not bool(clip.evidence.all()):  # only where time has a window to find
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


def _game_areas(fast: bool) -> tuple[float, ...]:
    """The matched-area game's shares; a fast run (tests, notebooks) plays 0.5, 2 and 10 % only."""
    return GAME_AREAS[::2] if fast else GAME_AREAS


def truth_map(clip: Clip) -> torch.Tensor | None:
    """The map a perfect explanation would draw: the actor, in the evidence frames only where the clip
    has a window (``(T, H, W)`` float64), or None without ground truth."""
    if clip.actor_mask is None:
        return None
    truth = torch.as_tensor(clip.actor_mask).double()
    if clip.evidence is not None and not bool(torch.as_tensor(clip.evidence).all()):
        truth = truth * torch.as_tensor(clip.evidence).double()[:, None, None]
    return truth


def _smoothness(s: torch.Tensor, clip: Clip) -> dict:
    """Temporal difference, spatial TV and high-frequency shares of a map, and, where the clip has ground
    truth, the same of the truth map and the map's distance to them (|TD(s) - TD(GT)|)."""
    high_t, high_s = high_frequency_share(s)
    td, tv = float(temporal_difference(s)), float(total_variation(s))
    row = {
        "temporal_difference": td, "temporal_consistency": 1 - td, "spatial_tv": tv,
        "high_freq_temporal": float(high_t), "high_freq_spatial": float(high_s),
    }  # fmt: skip
    truth = truth_map(clip)
    if truth is not None:
        td_gt, tv_gt = float(temporal_difference(truth)), float(total_variation(truth))
        row.update(gt_temporal_difference=td_gt, gt_spatial_tv=tv_gt)
        row.update(td_error=abs(td - td_gt), tv_error=abs(tv - tv_gt))
    return row


def _depths(run: _Run, layers: int) -> list[int]:
    """The cascade's depths: top layer, top half, all; a fast run (tests, notebooks) randomises all layers only."""
    return cascade_depths(layers, 1 if run.fast else CASCADE_DEPTHS)


def _cascade(run: _Run, clip: Clip, method: Method, options: dict, saliency: torch.Tensor) -> dict:
    """|rho| of the explanation against the model's with its top layers re-initialised, per depth,
    averaged over initialisations (each a different optimisation seed where the method has one)."""
    layers = len(parameter_layers(run.model))
    row, cascade = {}, []
    for depth in _depths(run, layers):
        rhos = []
        for init in range(run.inits):
            randomised = randomised_copy(run.model, depth, seed=10_000 + init)
            seeded = {**options, "seed": 1 + init} if "seed" in method.options else options
            other = _saliency(randomised, clip, method, seeded, run.fast)
            rhos.append(rank_correlation(saliency.abs(), other.abs()))
        cascade.append([depth, rhos])
    names = ("randomisation_top", "randomisation_half", "randomisation_all")
    for name, (_, rhos) in zip(names[: len(cascade) - 1] + names[-1:], cascade, strict=True):
        row[name] = sum(abs(r) for r in rhos) / len(rhos)
    row["randomisation_rank_corr"] = sum(cascade[-1][1]) / len(cascade[-1][1])  # signed, at full depth
    row["randomisation_cascade"] = cascade
    row["randomisation_layers"] = layers
    return row


def _device_of(model: torch.nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1 and not torch.distributed.is_initialized():
        # One deep-model EP item can run for an hour on a CPU while a finished rank waits at the final
        # barrier; gloo's default 30 minutes killed such a run, so the wait is bounded by days instead.
        torch.distributed.init_process_group("gloo", timeout=datetime.timedelta(days=7))
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
    sanity_clips: int | None = None,
    inits: int = CASCADE_INITS,
    best_other: str | os.PathLike | None = None,
    ep_options: dict | None = None,
) -> list[dict] | None:
    """Compute every missing (clip, method) item, then merge (rank 0 only under torchrun).

    Args:
        out: results folder (created); ``out/items/`` holds one JSON per item.
        methods: method specs (see module docstring).
        clips: a number of held-out synthetic clips (the test split), or prepared :class:`Clip` objects.
        model: the classifier (default: the shipped toy model).
        model_name: recorded in the results.
        fast: few iterations / samples / deletion steps (for tests and notebooks).
        progress, stop_after: a progress bar over items; stop after this many new items (a test's interruption).
        threads: torch threads per process (default 1: float sums, hence the table, do not depend on how
            the work is split); ``torchrun --nproc_per_node <cores>`` uses every core.
        sanity: also run the cascading model-randomisation check (:mod:`fep.bench.randomisation`), on
            the first ``sanity_clips`` clips of each family (None: all), ``inits`` initialisations per depth.
        best_other: a tuning run's folder (or its ``summary.json``): per family and metric, its best
            method other than F-EP is the one F-EP is compared with here. Without it, F-EP is compared
            with 3D-EP only.
        ep_options: options for every perturbation method, under a spec's own (``{"iterations": 60}``:
            the fixed-budget table); without them they run at the package defaults.

    Returns:
        The merged table rows on rank 0, None on other ranks or when stopped early.
    """
    from fep.models import load_model

    specs = [_with_ep_options(spec, *parse_method(spec), ep_options or {}) for spec in methods]
    tuning = _tuning_choice(best_other)
    model = load_model("toy") if model is None else model
    clip_list = _clips_on(synthetic_clips(clips) if isinstance(clips, int) else list(clips), model)
    out = Path(out)
    (out / "items").mkdir(parents=True, exist_ok=True)
    rank, world = _distributed()
    plan = [(clip, spec) for clip in clip_list for spec in specs]
    mine = [item for i, item in enumerate(plan) if i % world == rank]
    checked = _sanity_subset(clip_list, sanity_clips) if sanity else set()
    run = _Run(out=out, model=model, model_name=model_name, fast=fast, progress=progress, stop_after=stop_after,
               clips=clip_list, specs=specs, rank=rank, world=world, mine=mine, checked=checked, inits=inits,
               tuning=tuning)  # fmt: skip
    previous_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        return _compute_and_merge(run)
    finally:
        torch.set_num_threads(previous_threads)


def _with_ep_options(spec: str, method: Method, options: dict, ep_options: dict) -> tuple[str, Method, dict]:
    """A perturbation method's spec with the run's EP options under its own (other methods unchanged)."""
    if method.kind != PERTURBATION or not ep_options:
        return spec, method, options
    return spec, method, {**ep_options, **options}


def _clips_on(clips: list[Clip], model: torch.nn.Module) -> list[Clip]:
    """The clips on the model's device (ground truth and metrics stay on the CPU)."""
    device = _device_of(model)
    return [replace(c, video=c.video.to(device)) for c in clips]


def _sanity_subset(clips: list[Clip], per_family: int | None) -> set[str]:
    """The ids of the first ``per_family`` clips of each family (all with None)."""
    chosen, seen = set(), {}
    for clip in clips:
        seen[clip.family] = seen.get(clip.family, 0) + 1
        if per_family is None or seen[clip.family] <= per_family:
            chosen.add(clip.id)
    return chosen


def _tuning_choice(folder) -> dict | None:
    """From a tuning run's summary: the family → metric → best method other than F-EP, and where it came from."""
    if folder is None:
        return None
    path = Path(folder)
    path = path / "summary.json" if path.is_dir() else path
    if not path.is_file():
        raise FepFileNotFoundError(f"No tuning summary at {path}; run `fep experiments --split tuning` first.")
    summary = json.loads(path.read_text())
    if summary.get("info", {}).get("split") != "tuning":
        raise FepValueError(f"{path} is not a run on the tuning split; the best other method is chosen there only.")
    flat = set(summary["summary"]) <= set(summary["methods"])  # one table without families
    tables = {"": summary["summary"]} if flat else summary["summary"]
    return {
        "source": str(path),
        "families": {family: choose_best_other(table, METRICS) for family, table in tables.items()},
    }


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
    checked: set[str]  # clips that get the cascading randomisation check
    inits: int
    tuning: dict | None

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
        row.update(score_map(run.model, clip, saliency, run.fast))
        if clip.id in run.checked:
            row.update(_cascade(run, clip, method, options, saliency))
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
    clip_ids, specs = [c.id for c in run.clips], [s[0] for s in run.specs]
    return merge(run.out, clip_ids, specs, model_name=run.model_name, fast=run.fast, **_configuration(run))


def _configuration(run: _Run) -> dict:
    """What ran, as the summary states it: the budgets, the EP start, the seeds, the checks' sizes."""
    seeds = sorted(int(c.id.rsplit("_", 1)[1]) for c in run.clips if c.id.rsplit("_", 1)[-1].isdigit())
    ep = _ep_configuration(run)
    return {
        **ep,
        "deletion_steps": DELETION_STEPS[not run.fast],
        "game_areas": list(_game_areas(run.fast)),
        "min_margin_gap": MIN_MARGIN_GAP,
        "split": _split_of(seeds),
        "seeds": [seeds[0], seeds[-1]] if seeds else None,
        "clips": len(run.clips),
        "randomisation": {
            "clips": len(run.checked), "inits": run.inits,
            "depths": _depths(run, len(parameter_layers(run.model))),
            "layers": len(parameter_layers(run.model)),
        } if run.checked else None,
        "best_other_from": None if run.tuning is None else run.tuning["source"],
        "best_other": None if run.tuning is None else run.tuning["families"],
    }  # fmt: skip


def _ep_configuration(run: _Run) -> dict:
    """The perturbation methods' settings as they ran, resolved (``iterations: "auto"`` at the defaults)."""
    from fep.ep.settings import ExplanationSettings

    ep_specs = [(spec, m, o) for spec, m, o in run.specs if m.kind == PERTURBATION]
    if not ep_specs:
        return {}
    resolved = {
        spec: ExplanationSettings(method=m.name, **{k: v for k, v in {**_budget(m, run.fast), **o}.items()
                                                   if k != "progress"})
        for spec, m, o in ep_specs
    }  # fmt: skip
    first = resolved[ep_specs[0][0]]
    return {
        "defaults": first.defaults,
        "iterations": first.iterations,
        "ep_iterations": first.iterations,
        "ep_areas": list(first.areas),
        "ep_saliency": first.saliency,
        "ep_init": {spec: settings.init for spec, settings in resolved.items()},
    }


def _split_of(seeds: list[int]) -> str | None:
    """The named split all the clips' seeds lie in, if one does."""
    from fep.data.synthetic import SPLITS

    for name, seed_range in SPLITS.items():
        if seeds and all(s in seed_range for s in seeds):
            return name
    return None
