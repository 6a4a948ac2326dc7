"""The explanation flags of ``fep explain`` and ``fep demo``, derived from the settings' fields.

Each :func:`~fep.ep.settings.option` marked ``cli=True`` becomes ``--name-with-dashes`` with the field's
help, its check (so a bad value is refused before any work, with the settings' own sentence) and its
default: the command line, the API and the benchmark share one set of defaults
(:data:`fep.ep.presets.DEFAULTS`).
"""

from __future__ import annotations

import argparse
from dataclasses import Field, fields

from fep.ep.settings import ExplanationSettings
from fep.errors import FepError

__all__ = ["cli_fields", "add_settings_flags", "settings_options"]


def cli_fields(exclude: tuple[str, ...] = ()) -> list[Field]:
    """The settings' fields the command line offers (``cli=True``), minus ``exclude``."""
    return [f for f in fields(ExplanationSettings) if f.metadata["cli"] and f.name not in exclude]


def _parse_text(f: Field, text: str):
    """A flag's text as the field's value: comma lists for tuples, 'auto' or a number, None for 'none'."""
    text = text.strip()
    if text.lower() == "none" and f.default is None:
        return None
    if str(f.type).startswith("tuple"):
        try:
            return tuple(float(v) for v in text.replace(" ", "").split(",") if v)
        except ValueError:
            raise FepError(f"{text!r} is not a comma-separated list of numbers, e.g. 0.05,0.1") from None
    if f.metadata["choices"] is not None and text in f.metadata["choices"]:
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _flag_type(f: Field):
    flag = "--" + f.name.replace("_", "-")

    def parse(text: str):
        try:
            value = _parse_text(f, text)
            check = f.metadata["check"]
            return value if check is None else check(flag, value)
        except FepError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = f.name  # argparse names the type in its messages
    return parse


def add_settings_flags(parser: argparse.ArgumentParser, exclude: tuple[str, ...] = ()) -> None:
    """Add one flag per command-line option of the settings."""
    for f in cli_fields(exclude):
        default = f.default
        shown = "the defaults' areas" if f.name == "areas" and default is None else default
        parser.add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, type=_flag_type(f), default=default,
            metavar=f.name.upper(), help=f"{f.metadata['help']} (default: {shown})",
        )  # fmt: skip


def settings_options(args: argparse.Namespace, exclude: tuple[str, ...] = ()) -> dict:
    """The parsed flags as keywords of :func:`fep.extremal_perturbation`."""
    return {f.name: getattr(args, f.name) for f in cli_fields(exclude) if hasattr(args, f.name)}
