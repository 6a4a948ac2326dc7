"""``fep demo`` and ``fep explain``: explain a clip and write masks, overlays, a comparison and a summary.

No partial output is left: results are assembled in a hidden folder beside the destination and moved
into place only when complete (:func:`output_folder`).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch

import fep
from fep.atomic import atomic_write
from fep.bench.map_metrics import high_frequency_share, temporal_difference
from fep.bench.methods import REGISTRY
from fep.cli.options import settings_options
from fep.ep.api import extremal_perturbation
from fep.ep.presets import METHOD_EP3D, METHOD_FEP
from fep.errors import FepFileExistsError, FepFileNotFoundError, FepPermissionError, FepValueError

__all__ = ["output_folder", "cmd_demo", "cmd_explain", "device_of"]


@contextmanager
def output_folder(out: Path, force: bool):
    """Yield a hidden staging folder; on success it replaces ``out`` (only with ``force`` if ``out``
    exists and is not empty). On failure nothing is left behind."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FepFileExistsError(f"{out} exists and is not a folder; choose another --out.")
    if out.exists() and any(out.iterdir()) and not force:
        raise FepFileExistsError(
            f"Output folder {out} already exists; pass --force to replace it or choose another --out."
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        staging.chmod(0o777 & ~_umask())  # mkdtemp's folder is private (0700); the result follows the umask
    except OSError as err:
        raise FepPermissionError(f"Cannot write into {out.parent} ({err.strerror}); choose another --out.") from None
    try:
        yield staging
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            out.rename(old / out.name)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _evidence(mask: torch.Tensor) -> dict:
    """Where a mask ``(T, H, W)`` keeps the clip: its frames and the rows and columns of the voxels above
    0.5, every range as first and last index, both included."""
    kept = mask > 0.5
    frames = [t for t in range(kept.shape[0]) if kept[t].any()]
    if not frames:
        return {"frames": [], "rows": None, "columns": None}
    ys, xs = torch.nonzero(kept.any(dim=0), as_tuple=True)
    return {
        "frames": frames,
        "peak_frame": int(kept.flatten(1).sum(1).argmax()),
        "rows": [int(ys.min()), int(ys.max())],
        "columns": [int(xs.min()), int(xs.max())],
    }


def _explain_and_write(
    model,
    video: torch.Tensor,
    frames: torch.Tensor,
    target: int,
    class_name: str,
    methods,
    args,
    out: Path,
    extra: dict,
    boxes=None,
) -> dict:
    """Run each method, then write masks, overlays, the comparison grid and summary.json into ``out``."""
    from fep import viz

    results, summary_methods = {}, {}
    for method in methods:
        options = {**settings_options(args, exclude=("method",)), "method": method}
        result = extremal_perturbation(model, video, target, progress=True, **options)
        results[method] = result
        result.save(out / f"{method}_masks.npz")
        saliency = result.normalised_saliency[0]
        high_t, high_s = high_frequency_share(saliency)
        summary_methods[method] = {
            "seconds": round(result.wall_time, 2),
            "iterations": args.iterations,
            "iterations_used": result.iterations_used[0].tolist(),
            "stop_reason": result.stop_reason[0],
            "model_calls": result.model_calls,
            "temporal_difference": round(float(temporal_difference(saliency)), 4),
            "high_frequency_share": {"temporal": round(float(high_t), 4), "spatial": round(float(high_s), 4)},
            "target_prob_kept": [round(float(p), 4) for p in result.scores["masked_prob"][0]],
            "reached_areas": [round(float(a), 4) for a in result.reached_areas[0]],
            "evidence_at_area": {str(a): _evidence(result.masks[0, i]) for i, a in enumerate(result.areas)},
            "settings": result.settings,
        }
    first = methods[0]
    areas = results[first].areas
    viz.save_animation(frames, results[first].normalised_saliency[0], out / "overlay.gif", fps=args.fps)
    viz.save_animation(frames, results[first].normalised_saliency[0], out / "overlay.mp4", fps=args.fps)
    rows = {REGISTRY[m].label: r.normalised_saliency[0] for m, r in results.items()}
    rule = "graded by the smallest area keeping it" if results[first].saliency_rule == "nested" else "sum of masks"
    title = f"target: {class_name} — saliency ({rule}, areas {', '.join(map(str, areas))})"
    viz.figure_png(viz.frame_grid(frames, rows, boxes=boxes, title=title), out / "comparison.png")
    summary = {
        **extra,
        "versions": {"fep": fep.__version__, "torch": torch.__version__, "python": platform.python_version()},
        "ranges": "first and last index, both included",
        "target": {"index": target, "name": class_name},
        "areas": list(areas),
        "methods": summary_methods,
        "files": sorted(p.name for p in out.iterdir()) + ["summary.json"],
    }
    atomic_write(out / "summary.json", lambda f: f.write((json.dumps(summary, indent=2) + "\n").encode()))
    return summary


def _report(summary: dict, out: Path) -> None:
    predicted = summary["predicted"]
    print(f"predicted: {predicted['name']} (class {predicted['index']}, p = {predicted['probability']:.3f})")
    for method, info in summary["methods"].items():
        area = str(summary["areas"][-1])
        where = info["evidence_at_area"][area]
        place = (
            "no region kept"
            if where["rows"] is None
            else (
                f"frames {where['frames'][0]}-{where['frames'][-1]} (peak {where['peak_frame']}), "
                f"rows {where['rows'][0]}-{where['rows'][1]}, columns {where['columns'][0]}-{where['columns'][1]}"
            )
        )
        print(
            f"{REGISTRY[method].label:6s} evidence at area {area}: {place}; "
            f"temporal difference {info['temporal_difference']:.3f}; {info['seconds']:.1f} s"
        )
    for name in summary["files"]:
        print(out / name)


def _logits(model, video: torch.Tensor) -> torch.Tensor:
    from fep.ep.model_state import frozen_model

    with frozen_model(model), torch.no_grad():
        return model(video)


def _predict(model, video: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, dict]:
    return _prediction(_logits(model, video), names)


def _prediction(logits: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, dict]:
    probs = logits.softmax(1)[0]
    index = int(probs.argmax())
    return logits, {
        "index": index,
        "name": names[index] if index < len(names) else str(index),
        "probability": float(probs[index]),
    }


def cmd_demo(args) -> int:
    from fep.data.samples import load_sample
    from fep.models import categories, load_model, preprocess

    with output_folder(args.out, args.force) as staging:
        clip, truth = load_sample(args.sample)
        model = load_model("toy")
        names = categories("toy")
        video = preprocess(clip.frames, "toy")
        logits, predicted = _predict(model, video, names)
        target = predicted["index"]
        extra = {
            "command": "fep demo",
            "video": clip.path,
            "model": "toy",
            "predicted": predicted,
            "ground_truth": {"class": truth["class_name"], "evidence_frames": truth["evidence"].nonzero()[0].tolist()},
        }
        summary = _explain_and_write(
            model,
            video,
            clip.frames,
            target,
            names[target],
            (METHOD_FEP, METHOD_EP3D),
            args,
            staging,
            extra,
            boxes=truth["boxes"],
        )
    _report(summary, args.out)
    return 0


def _class_names(args, width: int) -> list[str]:
    """The names of the model's outputs: ``--classes FILE``, else the model's own if their number fits
    the logits, else ``class 0``, ``class 1``, ... (a checkpoint fine-tuned to other classes)."""
    from fep.models import categories

    if args.classes is not None:
        names = [line.strip() for line in Path(args.classes).read_text().splitlines() if line.strip()]
        if len(names) != width:
            raise FepValueError(
                f"{args.classes} names {len(names)} classes but the model has {width} outputs; "
                "write one class name per line, in the order of the model's outputs."
            )
        return names
    own = categories(args.model)
    return own if len(own) == width else [f"class {i}" for i in range(width)]


def _check_explain_args(args) -> None:
    """What can be checked before any file is read or any model is built."""
    if not Path(args.video).is_file():
        raise FepFileNotFoundError(f"No video file at {args.video}; check the path.")
    if args.frames is not None and args.frames < 2:
        raise FepValueError(
            f"--frames {args.frames}: an explanation over time needs at least 2 frames (its temporal difference "
            "compares neighbours); pass --frames 2 or more."
        )
    if args.classes is not None and not Path(args.classes).is_file():
        raise FepFileNotFoundError(f"No class-names file at {args.classes}; check the --classes path.")


def cmd_explain(args) -> int:
    from fep.data.video import load_video
    from fep.models import check_input_size, display_frames, load_model, preprocess, resolve_target

    _check_explain_args(args)
    device = device_of(args.device)
    with output_folder(args.out, args.force) as staging:
        model = load_model(args.model, weights=args.weights or "default", device=device, download=not args.offline)
        clip = load_video(args.video, num_frames=args.frames)
        video = preprocess(clip.frames, args.model, size=args.size).to(device)
        check_input_size(args.model, *video.shape[-3:])
        logits = _logits(model, video)
        names = _class_names(args, logits.shape[1])
        logits, predicted = _prediction(logits, names)
        target = resolve_target(args.target, names, logits.shape[1], predicted=predicted["index"])
        extra = {"command": "fep explain", "video": str(args.video), "model": args.model, "predicted": predicted,
                 "weights": str(args.weights) if args.weights else "default"}  # fmt: skip
        shown = display_frames(clip.frames, args.model, size=args.size)  # the frames the model saw (centre crop)
        summary = _explain_and_write(model, video, shown, target, names[target], (args.method,), args, staging, extra)
    _report(summary, args.out)
    return 0


def device_of(name: str) -> torch.device:
    """``auto``: the GPU when CUDA has one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FepValueError(f"--device {name}: CUDA is not available here; use --device cpu (or auto).")
    try:
        return torch.device(name)
    except RuntimeError:
        raise FepValueError(f"Unknown --device {name!r}; use auto, cpu or cuda (cuda:1, ...).") from None


