"""Methods × clips → one tidy table of metrics, resumable and shardable.

Every (clip, method) result is its own JSON file under ``OUT/items/``, written atomically; a re-run
skips finished items, so a run killed at any point resumes without losing or corrupting work. Under
``torchrun`` (``RANK`` / ``WORLD_SIZE``; gloo on CPU) each process takes every ``WORLD_SIZE``-th item
and rank 0 merges once all are done. The merged outputs are ``table.csv`` (one row per clip and
method; metrics only, so reruns give identical tables), ``summary.md`` (mean and 95 % interval per
method, plus seconds per item), ``summary.json`` and ``metrics.png`` / ``pareto.png``.

Methods are names, optionally with options in brackets: ``fep``, ``ep3d``, ``gradcam``,
``fep[temporal_cutoff=0.1,spatial_cutoff=0.1]``, ``fep[modulate=energy,where=update]``.

Clips: held-out synthetic clips with ground truth (default), or a folder of real videos with a
Kinetics model (``videos=``), where the ground-truth metrics are left empty.

Examples::

    >>> from fep.experiments import run_experiments
    >>> table = run_experiments("results/experiments", methods=["gradient", "ep3d", "fep"], clips=8)
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from fep.atomic import atomic_write
from fep.errors import FepFileNotFoundError, FepValueError
from fep.methods import METHOD_FEP, REGISTRY, Method, label_of
from fep.methods import parse_method as parse_method_spec
from fep.metrics import (
    deletion_insertion,
    ground_truth_ap,
    high_frequency_share,
    mass_in_ground_truth,
    pointing_game,
    rank_correlation,
    temporal_difference,
    temporal_localisation,
    total_variation,
)
from fep.model_state import frozen_model

__all__ = [
    "DEFAULT_METHODS",
    "ABLATION_METHODS",
    "DESIGN_METHODS",
    "METRICS",
    "Clip",
    "parse_method",
    "synthetic_clips",
    "family_clips",
    "video_clips",
    "run_experiments",
    "merge",
    "load_summary",
    "summary_table",
]

DEFAULT_METHODS = tuple(REGISTRY)  # every registered method (fep.methods), in its order
ABLATION_METHODS = (
    "fep[temporal_cutoff=0.1,spatial_cutoff=0.1]",
    "fep[temporal_cutoff=0.5,spatial_cutoff=0.5]",
    "fep[temporal_cutoff=0.25,spatial_cutoff=1.0]",
    "fep[temporal_cutoff=1.0,spatial_cutoff=0.25]",
    "fep[filter=ideal]",
    "fep[filter=butterworth]",
)
DESIGN_METHODS = (
    "fep[modulate=energy]",
    "fep[modulate=energy,where=update]",
    "fep[optimizer=adam]",
    "fep[schedule=linear]",
    "fep[preserve_norm=False]",
    "fep[mask_step=14]",
)
METRICS = (
    "pointing_frame",
    "pointing_clip",
    "gt_ap",
    "mass_in_gt",
    "deletion_auc",
    "insertion_auc",
    "temporal_difference",
    "temporal_consistency",
    "spatial_tv",
    "high_freq_temporal",
    "high_freq_spatial",
    "temporal_localisation",
    "randomisation_rank_corr",
)
# Which way is better for each metric (the paired differences and "best baseline" use it).
HIGHER_IS_BETTER = {
    "pointing_frame", "pointing_clip", "gt_ap", "mass_in_gt", "insertion_auc", "temporal_consistency",
    "temporal_localisation",
}  # fmt: skip
# Budgets per item (fast, full): the methods' own are in fep.methods (Method.budget).
DELETION_STEPS = (4, 16)  # log-spaced from 0.25 % of the voxels (fep.metrics.removal_fractions)


@dataclass
class Clip:
    """One clip to explain: ``video`` ``(1, C, T, H, W)`` as the model expects, its target, and ground
    truth (``boxes`` ``(T, 4)``, ``actor_mask`` ``(T, H, W)``, ``evidence`` ``(T,)``) when known."""

    id: str
    video: torch.Tensor
    target: int
    boxes: torch.Tensor | None = None
    actor_mask: torch.Tensor | None = None
    evidence: torch.Tensor | None = None
    family: str = ""


def parse_method(spec: str) -> tuple[str, dict]:
    """``"fep[temporal_cutoff=0.1,filter=ideal]"`` → ``("fep", {"temporal_cutoff": 0.1, "filter": "ideal"})``.

    The name and every option are checked against the registry (:func:`fep.methods.parse_method`).
    """
    method, options = parse_method_spec(spec)
    return method.name, options


def synthetic_clips(
    count: int = 64, config=None, seed: int = 200_000, model_name: str = "toy", family: str | None = None
) -> list[Clip]:
    """Held-out synthetic clips (seeds never used for training or the model card's evaluation): of a task
    family (:data:`fep.synthetic.FAMILIES`), of ``config``, or (neither) of the held-out variant."""
    from fep.synthetic import FAMILIES, HELD_OUT, generate_clip

    if family is not None:
        if family not in FAMILIES:
            raise FepValueError(f"Unknown family {family!r}; choose one of {', '.join(FAMILIES)}.")
        config = FAMILIES[family]
    config = HELD_OUT if config is None else config
    prefix = family or "synthetic"
    clips = []
    for i in range(count):
        c = generate_clip(config, seed + i, label=i % 4)
        video = c.video[None]
        clips.append(Clip(f"{prefix}_{seed + i}", video, c.label, c.boxes, c.actor_mask, c.evidence, family or ""))
    return clips


def family_clips(count: int, families: Sequence[str]) -> list[Clip]:
    """``count`` held-out clips of each family, family by family."""
    return [clip for family in families for clip in synthetic_clips(count, family=family)]


def video_clips(folder: str | os.PathLike, model, model_name: str, frames: int = 16) -> list[Clip]:
    """Every video in ``folder``, preprocessed for ``model_name``; the target is the predicted class."""
    from fep.models import preprocess
    from fep.video import load_video

    folder = Path(folder)
    if not folder.is_dir():
        raise FepFileNotFoundError(f"No folder of videos at {folder}; check the path.")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv", ".webm"))
    if not paths:
        raise FepFileNotFoundError(f"{folder} contains no video files (.mp4, .avi, .mov, .mkv, .webm).")
    clips = []
    for path in paths:
        video = preprocess(load_video(path, num_frames=frames).frames, model_name)
        with frozen_model(model), torch.no_grad():
            target = int(model(video).argmax(1)[0])
        clips.append(Clip(path.stem, video, target))
    return clips


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


def _item_path(out: Path, clip_id: str, method: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", method)
    return out / "items" / f"{clip_id}__{safe}.json"


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

    specs = [(spec, *parse_method_spec(spec)) for spec in methods]
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
        return [(c, s) for c, s in self.mine if not _done(_item_path(self.out, c.id, s[0]), self.fast)]


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
        atomic_write(_item_path(run.out, clip.id, spec), lambda f, data=payload: f.write(data))
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


def _done(path: Path, fast: bool | None = None) -> bool:
    """A finished item (parses), made with the same budget when ``fast`` is given: an item from a
    ``fast=True`` run is not reused by a full run into the same folder (or the other way round)."""
    try:
        item = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return fast is None or item.get("fast", fast) == fast


def _mean_ci(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, 1.96 * math.sqrt(var / len(values))


def merge(out: str | os.PathLike, clip_ids: Sequence[str], methods: Sequence[str], **info) -> list[dict]:
    """Read the items of a run and write ``table.csv``, ``summary.md``, ``summary.json`` and plots.

    With task families, everything is per family; ``summary.md`` also gives, per family and metric, the
    paired differences (over the same clips) F-EP - 3D-EP and F-EP - the best other method.
    """
    out = Path(out)
    # A run killed while writing leaves hidden temporary files (atomic_write's); every rank is done
    # when merge runs, so none of them is still being written.
    for stale in [*out.glob(".*.tmp"), *(out / "items").glob(".*.tmp")]:
        stale.unlink(missing_ok=True)
    rows, seconds = _read_items(out, clip_ids, methods)
    _write_table(out, rows)
    families = list(dict.fromkeys(r.get("family", "") for r in rows))
    summary = {
        f: {m: _summary_of([r for r in rows if r["method"] == m and r.get("family", "") == f]) for m in methods}
        for f in families
    }
    for m in methods:
        for family in families:
            summary[family][m]["seconds"] = _mean_ci(seconds[(family, m)])
    shown = [k for k in METRICS if any(not math.isnan(summary[f][m][k][0]) for f in families for m in methods)]
    paired = {f: _paired([r for r in rows if r.get("family", "") == f], methods, shown) for f in families}
    lines = _summary_markdown(summary, paired, methods, shown, len(set(clip_ids)))
    atomic_write(out / "summary.md", lambda f: f.write(("\n".join(lines) + "\n").encode()))
    flat = summary[families[0]] if families == [""] else summary
    payload = {"info": info, "clips": len(clip_ids), "methods": list(methods), "summary": flat, "paired": paired}
    atomic_write(out / "summary.json", lambda f: f.write((json.dumps(payload, indent=2) + "\n").encode()))
    for family in families:
        suffix = f"_{family}" if family else ""
        _plots(out, summary[family], methods, shown, suffix)
        _curve_plot(out, [r for r in rows if r.get("family", "") == family], methods, suffix)
    return rows


def _read_items(out: Path, clip_ids: Sequence[str], methods: Sequence[str]) -> tuple[list[dict], dict]:
    rows, seconds = [], {}
    for clip_id in clip_ids:
        for method in methods:
            path = _item_path(out, clip_id, method)
            if not _done(path):
                raise FepFileNotFoundError(f"Item {path.name} is missing; re-run the experiments to finish them.")
            row = json.loads(path.read_text())
            seconds.setdefault((row.get("family", ""), method), []).append(row.pop("seconds"))
            rows.append(row)
    return rows, seconds


def _write_table(out: Path, rows: list[dict]) -> None:
    columns = ["clip", "family", "method", "target", *METRICS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{row[k]:.6f}" if isinstance(row.get(k), float) else row.get(k, "")) for k in columns})
    atomic_write(out / "table.csv", lambda f: f.write(buffer.getvalue().encode()))


def _summary_of(rows: list[dict]) -> dict:
    return {k: _mean_ci([r.get(k, math.nan) for r in rows]) for k in METRICS}


def _paired(rows: list[dict], methods: Sequence[str], shown: Sequence[str]) -> dict:
    """Per metric: F-EP - 3D-EP and F-EP - the best other method by mean, paired over clips (mean, 95 %)."""
    if "fep" not in methods:
        return {}
    by = {(r["clip"], r["method"]): r for r in rows}
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    result = {}
    for key in shown:
        if key in ("temporal_consistency",):  # the complement of temporal_difference: said once
            continue
        sign = 1 if key in HIGHER_IS_BETTER else -1
        value = _paired_value(key)
        means = {m: _mean_ci([value(by[(c, m)]) for c in clips])[0] for m in methods}
        others = [m for m in methods if m != "fep" and not math.isnan(means[m])]
        if math.isnan(means["fep"]) or not others:
            continue
        best = max(others, key=lambda m: sign * means[m])
        entry = {}
        for label, other in (("3D-EP", "ep3d"), ("best", best)):
            if other in methods:
                diffs = [value(by[(c, "fep")]) - value(by[(c, other)]) for c in clips]
                better = "higher" if sign > 0 else "lower"
                entry[label] = {"method": other, "difference": _mean_ci(diffs), "better_if": better}
        result[key] = entry
    return result


def _paired_value(key: str):
    """What the paired comparison compares: the metric, except for the randomisation check, where any
    sign of correlation with the re-initialised model's explanation is shared structure, so |rho|."""
    if key == "randomisation_rank_corr":
        return lambda row: abs(row.get(key, math.nan))
    return lambda row: row.get(key, math.nan)


def _verdict(difference: tuple[float, float], better_if: str) -> str:
    mean, ci = difference
    if math.isnan(ci) or abs(mean) <= ci:
        return "tie"
    return "F-EP wins" if (mean > 0) == (better_if == "higher") else "F-EP loses"


def _summary_markdown(summary: dict, paired: dict, methods, shown, clips: int) -> list[str]:
    lines = [
        f"Clips: {clips}; mean ± 95 % interval (1.96·s/√n). Higher is better for pointing, gt_ap, mass_in_gt, "
        "insertion_auc, temporal_consistency, temporal_localisation; lower for deletion_auc, temporal_difference, "
        "spatial_tv, high_freq_*, randomisation_rank_corr (the model-randomisation check: 1 = the method ignores "
        "the model; the paired differences compare |rho|: 0 = unrelated maps, a negative rho is shared structure "
        "too). "
        "Deletion/insertion AUCs are over log-spaced shares from 0.25 % of the voxels.",
    ]
    for family, table in summary.items():
        lines += ["", f"### {family}" if family else "", "", "| method | " + " | ".join(shown) + " | seconds |",
                  "|---" * (len(shown) + 2) + "|"]  # fmt: skip
        for m in methods:
            cells = [f"{table[m][k][0]:.3f} ± {table[m][k][1]:.3f}" for k in shown]
            lines.append(f"| `{m}` | " + " | ".join(cells) + f" | {table[m]['seconds'][0]:.1f} |")
        if paired.get(family):
            lines += ["", "| metric | F-EP − 3D-EP | F-EP − best other (which) |", "|---|---|---|"]
            for key, entry in paired[family].items():
                cells = []
                for label in ("3D-EP", "best"):
                    if label in entry:
                        (d, ci), better = entry[label]["difference"], entry[label]["better_if"]
                        name = f" ({entry[label]['method']})" if label == "best" else ""
                        cells.append(f"{d:+.3f} ± {ci:.3f}{name} — {_verdict((d, ci), better)}")
                    else:
                        cells.append("—")
                lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


def _plots(out: Path, summary: dict, methods: Sequence[str], shown: Sequence[str], suffix: str = "") -> None:
    from fep.viz import figure, figure_png

    cols = 4
    rows_n = math.ceil(len(shown) / cols)
    fig = figure(figsize=(4 * cols, 2.8 * rows_n))
    axes = fig.subplots(rows_n, cols, squeeze=False).ravel()
    for ax, key in zip(axes, shown, strict=False):
        means = [summary[m][key][0] for m in methods]
        errs = [0 if math.isnan(summary[m][key][1]) else summary[m][key][1] for m in methods]
        ax.bar(range(len(methods)), means, yerr=errs, color="tab:blue", alpha=0.8)
        ax.set_xticks(range(len(methods)), [label_of(m).replace(" [", "\n[") for m in methods], rotation=90, fontsize=6)
        ax.set_title(key, fontsize=9)
    for ax in axes[len(shown) :]:
        ax.set_axis_off()
    fig.tight_layout()
    figure_png(fig, out / f"metrics{suffix}.png")
    if "pointing_frame" in shown:
        fig = figure(figsize=(7.5, 4.2))
        ax = fig.subplots()
        markers = "osD^vP*Xhp<>"
        for i, m in enumerate(methods):  # a legend, not labels at the points: those overlap where methods tie
            x, y = summary[m]["temporal_difference"][0], summary[m]["pointing_frame"][0]
            ax.scatter(x, y, s=40, marker=markers[i % len(markers)], label=label_of(m), alpha=0.85)
        ax.set_xlabel("temporal difference (lower = smoother in time)")
        ax.set_ylabel("pointing game per frame\n(plausibility: agreement with ground truth)")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        figure_png(fig, out / f"pareto{suffix}.png")


def _curve_plot(out: Path, rows: list[dict], methods: Sequence[str], suffix: str = "") -> None:
    """Mean deletion and insertion curves per method (log-spaced shares)."""
    from fep.metrics import removal_fractions
    from fep.viz import figure, figure_png

    if not rows or "deletion_curve" not in rows[0]:
        return
    fig = figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 2)
    for ax, mode in zip(axes, ("deletion", "insertion"), strict=True):
        for m in methods:
            curves = torch.tensor([r[f"{mode}_curve"] for r in rows if r["method"] == m], dtype=torch.float64)
            if len(curves):
                x = removal_fractions(curves.shape[1] - 1)[1:]
                ax.plot([100 * v for v in x], curves.mean(0)[1:].tolist(), marker="o", ms=2, label=label_of(m))
        ax.set_xscale("log")
        ax.set_xlabel(f"voxels {'removed' if mode == 'deletion' else 'revealed'} (%, log scale)")
        ax.set_ylabel("p(target)")
        ax.set_title(f"{mode} (mean over clips)", fontsize=9)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    figure_png(fig, out / f"curves{suffix}.png")


def load_summary(folder: str | os.PathLike) -> dict:
    """The ``summary.json`` of a results folder (e.g. the committed ``results/benchmark_v2/toy``)."""
    path = Path(folder) / "summary.json"
    if not path.is_file():
        raise FepFileNotFoundError(f"No summary.json in {folder}; run `fep experiments --out {folder}` first.")
    return json.loads(path.read_text())


def summary_table(summary: dict, family: str, metrics: Sequence[str], methods: Sequence[str] | None = None) -> str:
    """A Markdown table of one family of a :func:`load_summary` result: mean ± 95 % interval per method."""
    table = summary["summary"][family] if family in summary["summary"] else None
    if table is None:
        raise FepValueError(f"No family {family!r} in this summary; it has {', '.join(summary['summary'])}.")
    methods = list(methods or summary["methods"])
    lines = ["| method | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for m in methods:
        cells = [f"{table[m][k][0]:.3f} ± {table[m][k][1]:.3f}" for k in metrics]
        lines.append(f"| {label_of(m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def small_actor_clips(count: int = 16) -> list[Clip]:
    """Held-out clips with a 14 px actor (1.2 % of the frame): where smoothing meets its limit."""
    from fep.synthetic import HELD_OUT

    return synthetic_clips(count, replace(HELD_OUT, actor_size=14), seed=300_000)
