"""The ``fep`` command line (also ``python -m fep``).

Subcommands:

- ``fep demo``: explain a bundled sample clip with the toy model by F-EP and by 3D-EP and write
  ``results/demo/`` (masks, overlay GIF and mp4, a side-by-side PNG, summary.json).
- ``fep explain VIDEO --model NAME``: the same outputs for any video and model.
- ``fep experiments``: methods × clips → metrics table (see :mod:`fep.experiments`).

Any problem with the input (missing file, unknown model, bad option, existing output folder) ends with
exit code 2 and one line on stderr; any other error is a bug and ends with its traceback and exit code 1
(``--debug`` shows tracebacks for input errors too). No partial output is left: results are assembled
in a hidden folder beside the destination and moved into place only when complete.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

import torch

from fep.atomic import atomic_write
from fep.errors import FepError, FepFileExistsError, FepFileNotFoundError, FepPermissionError, FepValueError
from fep.explain import extremal_perturbation
from fep.methods import METHOD_EP3D, METHOD_FEP, PERTURBATION_METHODS, REGISTRY
from fep.metrics import high_frequency_share, temporal_difference

__all__ = ["main", "output_folder"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def _iterations(text: str) -> int | str:
    if text.strip() == "auto":
        return "auto"
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--iterations must be 'auto' or a whole number >= 1, got {text!r}")
    return int(text)


def _areas(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers, e.g. 0.05,0.1") from None
    if not values or not all(0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"areas must be fractions in (0, 1), e.g. 0.05,0.1; got {text!r}")
    return values


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


def _evidence(mask: torch.Tensor) -> dict:
    """Where a mask ``(T, H, W)`` keeps the clip: frames and bounding box of voxels above 0.5."""
    kept = mask > 0.5
    frames = [t for t in range(kept.shape[0]) if kept[t].any()]
    if not frames:
        return {"frames": [], "box_yxyx": None}
    ys, xs = torch.nonzero(kept.any(dim=0), as_tuple=True)
    return {
        "frames": frames,
        "peak_frame": int(kept.flatten(1).sum(1).argmax()),
        "box_yxyx": [int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1],
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
        result = extremal_perturbation(
            model,
            video,
            target,
            method=method,
            areas=args.areas,
            iterations=args.iterations,
            temporal_cutoff=args.temporal_cutoff,
            spatial_cutoff=args.spatial_cutoff,
            max_batch=args.max_batch,
            autocast=getattr(args, "autocast", None),
            progress=True,
        )
        results[method] = result
        result.save(out / f"{method}_masks.npz")
        saliency = result.saliency[0] / len(result.areas)
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
            "evidence_at_area": {str(a): _evidence(result.masks[0, i]) for i, a in enumerate(result.areas)},
        }
    first = methods[0]
    viz.save_animation(frames, results[first].saliency[0], out / "overlay.gif", fps=args.fps)
    viz.save_animation(frames, results[first].saliency[0], out / "overlay.mp4", fps=args.fps)
    rows = {REGISTRY[m].label: r.saliency[0] for m, r in results.items()}
    title = f"target: {class_name} — saliency (sum of masks over areas {', '.join(map(str, args.areas))})"
    viz.figure_png(viz.frame_grid(frames, rows, boxes=boxes, title=title), out / "comparison.png")
    summary = {
        **extra,
        "target": {"index": target, "name": class_name},
        "areas": list(args.areas),
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
        box = where["box_yxyx"]
        place = (
            "no region kept"
            if box is None
            else (
                f"frames {where['frames'][0]}-{where['frames'][-1]} (peak {where['peak_frame']}), "
                f"rows {box[0]}-{box[2]}, columns {box[1]}-{box[3]}"
            )
        )
        print(
            f"{REGISTRY[method].label:6s} evidence at area {area}: {place}; "
            f"temporal difference {info['temporal_difference']:.3f}; {info['seconds']:.1f} s"
        )
    for name in summary["files"]:
        print(out / name)


def _predict(model, video: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, dict]:
    from fep.model_state import frozen_model

    with frozen_model(model), torch.no_grad():
        logits = model(video)
    probs = logits.softmax(1)[0]
    index = int(probs.argmax())
    return logits, {
        "index": index,
        "name": names[index] if index < len(names) else str(index),
        "probability": float(probs[index]),
    }


def cmd_demo(args) -> int:
    from fep.models import categories, load_model, preprocess
    from fep.samples import load_sample

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


def cmd_explain(args) -> int:
    from fep.models import categories, check_input_size, load_model, preprocess, resolve_target
    from fep.video import load_video

    if not Path(args.video).is_file():
        raise FepFileNotFoundError(f"No video file at {args.video}; check the path.")
    device = _device(args.device)
    with output_folder(args.out, args.force) as staging:
        model = load_model(args.model, weights=args.weights or "default", device=device, download=not args.offline)
        names = categories(args.model)
        clip = load_video(args.video, num_frames=args.frames)
        video = preprocess(clip.frames, args.model, size=args.size).to(device)
        check_input_size(args.model, *video.shape[-3:])
        logits, predicted = _predict(model, video, names)
        target = resolve_target(args.target, names, logits.shape[1], predicted=predicted["index"])
        extra = {"command": "fep explain", "video": str(args.video), "model": args.model, "predicted": predicted}
        display = (
            torch.nn.functional.interpolate(
                clip.frames.transpose(0, 1), size=video.shape[-2:], mode="bilinear", align_corners=False
            )
            .transpose(0, 1)
            .clamp(0, 1)
        )
        summary = _explain_and_write(model, video, display, target, names[target], (args.method,), args, staging, extra)
    _report(summary, args.out)
    return 0


def _device(name: str) -> torch.device:
    """``auto``: the GPU when CUDA has one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FepValueError(f"--device {name}: CUDA is not available here; use --device cpu (or auto).")
    try:
        return torch.device(name)
    except RuntimeError:
        raise FepValueError(f"Unknown --device {name!r}; use auto, cpu or cuda (cuda:1, ...).") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fep", description="Explain video classifiers with F-EP (frequency-based extremal perturbation)."
    )
    parser.add_argument("--debug", action="store_true", help="print the full traceback of every error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def debug(p: argparse.ArgumentParser) -> None:
        # SUPPRESS: a subcommand without --debug must not reset `fep --debug explain ...`.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="print full tracebacks")

    def common(p: argparse.ArgumentParser, iterations: int | str, out: str) -> None:
        p.add_argument(
            "--areas", type=_areas, default=(0.05, 0.1), help="comma-separated area fractions (default 0.05,0.1)"
        )
        p.add_argument(
            "--iterations", type=_iterations, default=iterations,
            help=f"optimisation steps, or auto: each mask stops once converged, at most 100 (default {iterations})",
        )  # fmt: skip
        p.add_argument("--out", type=Path, default=Path(out), help=f"output folder (default {out})")
        p.add_argument("--force", action="store_true", help="replace the output folder if it exists")
        p.add_argument("--fps", type=float, default=8.0, help="frame rate of the overlay GIF/mp4 (default 8)")
        p.add_argument("--temporal-cutoff", type=float, default=0.25, help="F-EP temporal cutoff in [0, 1]")
        p.add_argument("--spatial-cutoff", type=float, default=0.25, help="F-EP spatial cutoff in [0, 1]")
        p.add_argument(
            "--max-batch", type=int, default=None, help="most masked clips per model call (default: fit free memory)"
        )

    demo = sub.add_parser(
        "demo",
        help="explain a bundled clip with the toy model by F-EP and 3D-EP",
        description="Explain a bundled sample clip with the toy model by F-EP and by 3D-EP.",
    )
    demo.add_argument("--sample", type=int, default=0, help="which bundled sample clip (default 0)")
    common(demo, "auto", "results/demo")
    debug(demo)
    demo.set_defaults(func=cmd_demo)

    explain = sub.add_parser(
        "explain",
        help="explain any video with any supported model",
        description="Explain a video file with a model and write masks, overlays and a summary.",
    )
    explain.add_argument("video", help="video file (mp4, avi, webm, ...)")
    explain.add_argument(
        "--model", required=True, help="toy, r3d_18, mc3_18, r2plus1d_18, s3d, mvit_v1_b, mvit_v2_s, swin3d_t/s/b"
    )
    explain.add_argument(
        "--weights",
        help="checkpoint path (default: shipped toy weights / Kinetics-400 weights from the torch hub cache, "
        "downloaded there when missing)",
    )
    explain.add_argument("--offline", action="store_true", help="never download weights (the same as FEP_OFFLINE=1)")
    explain.add_argument(
        "--method", choices=PERTURBATION_METHODS, default=METHOD_FEP, help="explanation method (default fep)"
    )
    explain.add_argument("--target", default="auto", help="auto (predicted class), a class index or a class name")
    explain.add_argument("--frames", type=int, default=16, help="frames sampled uniformly from the video (default 16)")
    explain.add_argument("--size", type=int, default=None, help="input side in pixels (default: the model's own)")
    explain.add_argument("--device", default="auto", help="auto (the GPU if CUDA has one), cpu or cuda")
    explain.add_argument(
        "--autocast", choices=("bf16", "fp16"), default=None, help="run the model in bf16/fp16 on a GPU (default: off)"
    )
    common(explain, "auto", "results/explain")
    debug(explain)
    explain.set_defaults(func=cmd_explain)
    _experiments_parser(sub, debug)
    return parser


def _experiments_parser(sub, debug) -> None:
    exp = sub.add_parser(
        "experiments", help="methods x clips -> metrics table (resumable, torchrun-shardable)",
        description="Run explanation methods on held-out synthetic clips (or a folder of videos) and tabulate "
        "the metrics. Finished items are kept, so a re-run resumes; under torchrun the items are sharded.",
    )  # fmt: skip
    exp.add_argument("--fast", action="store_true", help="few clips, iterations and steps (tests, notebooks)")
    exp.add_argument("--clips", type=int, default=None, help="number of held-out synthetic clips (default 64, fast 4)")
    exp.add_argument("--methods", nargs="+", default=None, help="method specs, e.g. gradient ep3d 'fep[filter=ideal]'")
    exp.add_argument("--ablation", action="store_true", help="add the F-EP cutoff and filter ablation")
    exp.add_argument("--design", action="store_true", help="add the F-EP design-choice study")
    exp.add_argument("--small-actor", action="store_true", help="use held-out clips with a 14 px actor")
    exp.add_argument(
        "--family", action="append", default=None,
        help="task family: motion, brief, lookalike, small, scene, or all (repeatable; --clips per family)",
    )  # fmt: skip
    exp.add_argument("--device", default="cpu", help="cpu (default) or cuda: where the model runs")
    exp.add_argument(
        "--sanity", action="store_true",
        help="also explain with the model re-initialised: the randomisation check column (twice the work)",
    )  # fmt: skip
    exp.add_argument("--videos", type=Path, help="folder of real videos instead of synthetic clips")
    exp.add_argument("--model", default="toy", help="model name (default toy); with --videos a Kinetics model")
    exp.add_argument("--weights", help="checkpoint path for --model")
    exp.add_argument("--offline", action="store_true", help="never download weights (the same as FEP_OFFLINE=1)")
    exp.add_argument("--out", type=Path, default=Path("results/experiments"), help="results folder")
    debug(exp)
    exp.set_defaults(func=cmd_experiments)


def cmd_experiments(args) -> int:
    from fep import experiments as E
    from fep.models import MODEL_NAMES, load_model

    if args.model not in MODEL_NAMES:
        raise FepValueError(f"Unknown model {args.model!r}; choose one of {', '.join(MODEL_NAMES)}.")
    methods = list(args.methods or E.DEFAULT_METHODS)
    methods += list(E.ABLATION_METHODS) if args.ablation else []
    methods += list(E.DESIGN_METHODS) if args.design else []
    for spec in methods:
        E.parse_method(spec)
    count = args.clips if args.clips is not None else (4 if args.fast else 64)
    if count < 1:
        raise FepValueError(f"--clips must be at least 1, got {count}.")
    model = load_model(
        args.model, weights=args.weights or "default", device=_device(args.device), download=not args.offline
    )
    if args.videos is not None:
        clips = E.video_clips(args.videos, model, args.model)
    elif args.family:
        from fep.synthetic import FAMILY_NAMES

        families = list(FAMILY_NAMES) if "all" in args.family else args.family
        for family in families:
            if family not in FAMILY_NAMES:
                raise FepValueError(f"Unknown family {family!r}; choose from {', '.join(FAMILY_NAMES)} or all.")
        clips = E.family_clips(count, families)
    elif args.small_actor:
        clips = E.small_actor_clips(count)
    else:
        clips = count
    rows = E.run_experiments(
        args.out, methods, clips, model=model, model_name=args.model, fast=args.fast, sanity=args.sanity
    )
    if rows is not None:
        print((args.out / "summary.md").read_text())
        for path in sorted(p for p in args.out.iterdir() if p.suffix in (".csv", ".md", ".json", ".png")):
            print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    0: success. 2: a problem with the input (a :class:`~fep.errors.FepError` or a usage error), told in
    one line. 1: anything else, which is a bug: its traceback is printed. 130: interrupted.
    ``--debug`` prints the traceback of input errors too.
    """
    from fep.models import MODEL_NAMES

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        for name in ("temporal_cutoff", "spatial_cutoff"):
            value = getattr(args, name, 0.5)
            if not 0 <= value <= 1:
                parser.error(f"--{name.replace('_', '-')} must lie in [0, 1], got {value}")
        if getattr(args, "max_batch", None) is not None and args.max_batch < 1:
            parser.error(f"--max-batch must be at least 1, got {args.max_batch}")
        if args.command == "explain" and args.model not in MODEL_NAMES:
            parser.error(f"unknown model {args.model!r}; choose one of {', '.join(MODEL_NAMES)}")
    except SystemExit as stop:  # argparse exits on --help and on usage errors
        return int(stop.code or 0)
    started = time.perf_counter()
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        print("fep: interrupted; no output was written.", file=sys.stderr)
        return 130
    except FepError as err:  # the input's fault: one line says what and how to fix it
        if args.debug:
            traceback.print_exc()
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"fep: error: {message}", file=sys.stderr)
        return 2
    except Exception:  # fep's fault: show everything needed to find the bug
        traceback.print_exc()
        print(
            "fep: internal error (not a problem with your input); please report it with the traceback above.",
            file=sys.stderr,
        )
        return 1
    print(f"done in {time.perf_counter() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
