"""Advisory file locks: the one pattern the downloader's ``.part`` files and the command line's
journal use to keep two processes from writing one file.

POSIX ``flock``; where there is none (Windows) a lock is always granted, and one process per file
is the rule there (documented).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def lock(stream: IO[bytes], *, shared: bool = False, wait: bool = True) -> bool:
    """Lock ``stream``'s file (exclusive unless ``shared``); False when ``wait`` is off and another
    process holds a lock in the way."""
    if fcntl is None:
        return True
    flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
    try:
        fcntl.flock(stream.fileno(), flags)
    except BlockingIOError:
        return False
    return True


def open_locked(
    path: Path,
    open_file: Callable[[Path], IO[bytes]],
    *,
    shared: bool = False,
    wait: bool = True,
    follow_symlinks: bool = True,
) -> IO[bytes] | None:
    """``path`` opened with ``open_file`` and locked, or None when ``wait`` is off and it is held.

    The lock is on the file at ``path`` when it was granted: one that another process renamed over
    it or removed while this one waited is opened again.
    """
    while True:
        stream = open_file(path)
        if not lock(stream, shared=shared, wait=wait):
            stream.close()
            return None
        if same_file(stream, path, follow_symlinks=follow_symlinks):
            return stream
        stream.close()


def same_file(stream: IO[bytes], path: Path, *, follow_symlinks: bool = True) -> bool:
    """Whether ``stream`` is still the file at ``path`` (not one replaced or removed since)."""
    try:
        return os.path.samestat(os.fstat(stream.fileno()), os.stat(path, follow_symlinks=follow_symlinks))
    except FileNotFoundError:
        return False
