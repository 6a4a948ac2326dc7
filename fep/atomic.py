"""Writing files so that a crash or kill leaves the old file or none, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fep.errors import FepFileNotFoundError

__all__ = ["atomic_write", "atomic_path", "temporary_beside"]


def temporary_beside(path: Path, suffix: str = ".tmp") -> str:
    """A new empty file next to ``path`` (same filesystem, so a rename is atomic), with the permissions
    a normally created file would get (mkstemp's are owner-only)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return tmp


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it into place.

    A crash or kill midway leaves either the old file or none, never a partial one.
    """
    path = Path(path)
    if not path.parent.exists():
        raise FepFileNotFoundError(f"Folder {path.parent} does not exist; create it first or choose another path.")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    return path


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield the name of a temporary file beside ``path`` for a writer that wants a file name (a video
    encoder); it replaces ``path`` when the block ends, and is removed if the block fails."""
    path = Path(path)
    tmp = temporary_beside(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
