"""``fep experiments``: methods × clips → a metrics table (:mod:`fep.bench`)."""

from __future__ import annotations

import time
from pathlib import Path

from fep.bench.randomisation import CASCADE_INITS
from fep.cli.explain import device_of
from fep.data.synthetic import FAMILY_NAMES, SPLITS
from fep.errors import FepValueError
from fep.models.registry import MODEL_NAMES

__all__ = ["add_experiments_parser", "cmd_experiments"]


def add_experiments_parser(sub, debug) -> None:
    exp = sub.add_parser(
        "experiments", help="methods x clips -> metrics table (resumable, torchrun-shardable)",
        description="Run explanation methods on held-out synthetic clips (or a folder of videos) and tabulate "
        "the metrics. Finished items are kept, so a re-run resumes; under torchrun the items are sharded.",
    )  # fmt: skip
    exp.add_argument("--fast", action="store_true", help="few clips, iterations and steps (tests, notebooks)")
    exp.add_argument("--clips", type=int, default=None, help="number of held-out synthetic clips (default 64, fast 4)")
    exp.add_argument(
        "--methods", nargs="+", default=None, help="method specs, e.g. gradient ep3d 'fep[filter_type=ideal]'"
    )
    exp.add_argument("--ablation", action="store_true", help="add the F-EP cutoff and filter ablation")
    exp.add_argument("--design", action="store_true", help="add the F-EP design-choice study")
    exp.add_argument("--small-actor", action="store_true", help="use held-out clips with a 14 px actor")
    exp.add_argument(
        "--family", action="append", default=None, choices=(*FAMILY_NAMES, "all"), metavar="FAMILY",
        help=f"task family: {', '.join(FAMILY_NAMES)}, or all (repeatable; --clips per family)",
    )  # fmt: skip
    exp.add_argument("--device", default="cpu", help="cpu (default) or cuda: where the model runs")
    exp.add_argument(
        "--sanity", action="store_true",
        help="also explain with the model re-initialised: the randomisation check column (twice the work)",
    )  # fmt: skip
    exp.add_argument("--videos", type=Path, help="folder of real videos instead of synthetic clips")
    exp.add_argument(
        "--model", default="toy", choices=MODEL_NAMES, metavar="MODEL",
        help="model name (default toy); with --videos a Kinetics model",
    )  # fmt: skip
    exp.add_argument("--weights", help="checkpoint path for --model")
    exp.add_argument("--offline", action="store_true", help="never download weights (the same as FEP_OFFLINE=1)")
    exp.add_argument(
        "--out", type=Path, default=None,
        help="results folder (default: a new results/experiments/run-<date>-<time>; a re-run with --out resumes)",
    )  # fmt: skip
    exp.add_argument(
        "--split", choices=tuple(SPLITS), default="test",
        help="seed range of the synthetic clips: tuning (choose options there) or test (default; the tables)",
    )  # fmt: skip
    exp.add_argument(
        "--sanity-clips", type=int, default=None, metavar="N",
        help="with --sanity, check only the first N clips of each family (the cascade explains each 9 times)",
    )  # fmt: skip
    exp.add_argument(
        "--sanity-inits", type=int, default=CASCADE_INITS, metavar="N",
        help=f"with --sanity, random initialisations per randomised depth (default {CASCADE_INITS})",
    )  # fmt: skip
    exp.add_argument(
        "--best-from", type=Path, default=None, metavar="TUNING_RUN",
        help="a tuning run's folder: F-EP is compared with the best other method per metric there",
    )  # fmt: skip
    exp.add_argument(
        "--ep-iterations", type=int, default=None, metavar="N",
        help="run every EP method for exactly N iterations from a mask of 1 (the fixed-budget table; default: "
        "the package defaults, iterations 'auto')",
    )  # fmt: skip
    debug(exp)
    exp.set_defaults(func=cmd_experiments)


def cmd_experiments(args) -> int:
    from fep import bench as E
    from fep.bench.methods import parse_method
    from fep.models import load_model

    methods = list(args.methods or E.DEFAULT_METHODS)
    methods += list(E.ABLATION_METHODS) if args.ablation else []
    methods += list(E.DESIGN_METHODS) if args.design else []
    for spec in methods:
        parse_method(spec)
    if (args.ablation or args.design) and args.split == "test":
        raise FepValueError(
            "--ablation and --design choose options: run them with --split tuning, not on the test clips."
        )
    if args.ep_iterations is not None and args.ep_iterations < 1:
        raise FepValueError(f"--ep-iterations must be at least 1, got {args.ep_iterations}.")
    count = args.clips if args.clips is not None else (4 if args.fast else 64)
    if count < 1:
        raise FepValueError(f"--clips must be at least 1, got {count}.")
    model = load_model(
        args.model, weights=args.weights or "default", device=device_of(args.device), download=not args.offline
    )
    if args.videos is not None:
        clips = E.video_clips(args.videos, model, args.model)
    elif args.family:
        families = list(FAMILY_NAMES) if "all" in args.family else args.family
        clips = E.family_clips(count, families, split=args.split)
    elif args.small_actor:
        clips = E.small_actor_clips(count)
    else:
        clips = E.synthetic_clips(count, split=args.split)
    out = args.out or Path("results/experiments") / time.strftime("run-%Y%m%d-%H%M%S")
    rows = E.run_experiments(
        out, methods, clips, model=model, model_name=args.model, fast=args.fast, sanity=args.sanity,
        sanity_clips=args.sanity_clips, inits=args.sanity_inits, best_other=args.best_from,
        ep_options=None if args.ep_iterations is None else {"iterations": args.ep_iterations},
    )  # fmt: skip
    if rows is not None:
        print((out / "summary.md").read_text())
        for path in sorted(p for p in out.iterdir() if p.suffix in (".csv", ".md", ".json", ".png")):
            print(path)
    return 0


