"""The ``fep`` command line (also ``python -m fep``).

Subcommands:

- ``fep demo``: explain a bundled sample clip with the toy model by F-EP and by 3D-EP and write
  ``results/demo/`` (masks, overlay GIF and mp4, a side-by-side PNG, summary.json).
- ``fep explain VIDEO --model NAME``: the same outputs for any video and model.
- ``fep experiments``: methods × clips → metrics table (see :mod:`fep.bench.runner`).

Any problem with the input (missing file, unknown model, bad option, existing output folder) ends with
exit code 2 and one line on stderr; any other error is a bug and ends with its traceback and exit code 1
(``--debug`` shows tracebacks for input errors too). No partial output is left: results are assembled
in a hidden folder beside the destination and moved into place only when complete.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
import warnings
from pathlib import Path

from fep.cli.experiments import add_experiments_parser
from fep.cli.explain import cmd_demo, cmd_explain, output_folder
from fep.cli.options import add_settings_flags
from fep.errors import FepError

__all__ = ["main", "build_parser", "output_folder"]

# fep demo runs F-EP and 3D-EP on the toy model on the CPU: no --method, no --autocast.
DEMO_FIXED = ("method", "autocast")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fep", description="Explain video classifiers with F-EP (frequency-based extremal perturbation)."
    )
    parser.add_argument("--debug", action="store_true", help="print the full traceback of every error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def debug(p: argparse.ArgumentParser) -> None:
        # SUPPRESS: a subcommand without --debug must not reset `fep --debug explain ...`.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="print full tracebacks")

    def outputs(p: argparse.ArgumentParser, out: str) -> None:
        p.add_argument("--out", type=Path, default=Path(out), help=f"output folder (default {out})")
        p.add_argument("--force", action="store_true", help="replace the output folder if it exists")
        p.add_argument("--fps", type=float, default=8.0, help="frame rate of the overlay GIF/mp4 (default 8)")

    demo = sub.add_parser(
        "demo",
        help="explain a bundled clip with the toy model by F-EP and 3D-EP",
        description="Explain a bundled sample clip with the toy model by F-EP and by 3D-EP.",
    )
    demo.add_argument("--sample", type=int, default=0, help="which bundled sample clip (default 0)")
    add_settings_flags(demo, exclude=DEMO_FIXED)
    outputs(demo, "results/demo")
    debug(demo)
    demo.set_defaults(func=cmd_demo)

    _add_explain_parser(sub, debug, outputs)
    add_experiments_parser(sub, debug)
    return parser


def _add_explain_parser(sub, debug, outputs) -> None:
    from fep.models.registry import available_models

    models = available_models()
    explain = sub.add_parser(
        "explain",
        help="explain any video with any supported model",
        description="Explain a video file with a model and write masks, overlays and a summary.",
    )
    explain.add_argument("video", help="video file (mp4, avi, webm, ...)")
    explain.add_argument("--model", required=True, choices=models, metavar="MODEL", help=", ".join(models))
    explain.add_argument(
        "--weights",
        help="checkpoint path: a state dict of MODEL's architecture, fine-tuned to any number of classes "
        "(default: the shipped weights / Kinetics-400 weights from the torch hub cache, downloaded there when "
        "missing)",
    )
    explain.add_argument(
        "--classes",
        type=Path,
        help="text file with one class name per line, for a fine-tuned checkpoint (default: the model's own "
        "names, or class 0, class 1, ... when the widths differ)",
    )
    explain.add_argument("--offline", action="store_true", help="never download weights (the same as FEP_OFFLINE=1)")
    explain.add_argument("--target", default="auto", help="auto (predicted class), a class index or a class name")
    explain.add_argument(
        "--frames", type=int, default=16, help="frames sampled uniformly from the video, at least 2 (default 16)"
    )
    explain.add_argument("--size", type=int, default=None, help="input side in pixels (default: the model's own)")
    explain.add_argument("--device", default="auto", help="auto (the GPU if CUDA has one), cpu or cuda")
    add_settings_flags(explain)
    outputs(explain, "results/explain")
    debug(explain)
    explain.set_defaults(func=cmd_explain)


def _one_line_note(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"fep: note: {str(message).splitlines()[0]}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    0: success. 2: a problem with the input (a :class:`~fep.errors.FepError` or a usage error), told in
    one line. 1: anything else, which is a bug: its traceback is printed. 130: interrupted.
    ``--debug`` prints the traceback of input errors too.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse exits on --help and on usage errors
        return int(stop.code or 0)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_note  # a warning is a note for the user, not a source line
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
