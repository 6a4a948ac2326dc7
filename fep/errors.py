"""fep's own error types: every problem with what a user passed in is a :class:`FepError`.

Each type also subclasses the built-in exception that callers caught before it existed
(``FepValueError`` is a ``ValueError``, ``FepFileNotFoundError`` a ``FileNotFoundError``, ...), so
``except ValueError`` keeps working. The ``fep`` command turns a :class:`FepError` into one line and
exit code 2; any other exception is a bug and shows its traceback (exit code 1).

Examples::

    >>> from fep.errors import FepError
    >>> try:
    ...     extremal_perturbation(model, video, target, areas=(1.5,))
    ... except FepError as err:
    ...     print(err)          # Area 1.5 is outside (0, 1); ...
"""

from __future__ import annotations

__all__ = [
    "FepError",
    "FepValueError",
    "FepTypeError",
    "FepIndexError",
    "FepFileNotFoundError",
    "FepFileExistsError",
    "FepPermissionError",
]


class FepError(Exception):
    """Base of every error fep raises about its input: the message names the problem and the fix."""


class FepValueError(FepError, ValueError):
    """A value out of range, an unknown option, a shape that does not fit."""


class FepTypeError(FepError, TypeError):
    """An argument of the wrong type."""


class FepIndexError(FepError, IndexError):
    """An index outside a sequence."""


class FepFileNotFoundError(FepError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class FepFileExistsError(FepError, FileExistsError):
    """An output that exists already and must not be overwritten."""


class FepPermissionError(FepError, PermissionError):
    """A place fep was asked to write into but cannot."""
