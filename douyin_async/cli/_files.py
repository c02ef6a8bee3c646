"""Files the command line replaces whole: written under a random name beside them, then renamed.

A temporary file with a name known in advance is a trap in a shared directory: a symlink
planted there sends the write to another file. ``replacing`` creates its temporary with
``O_CREAT | O_EXCL`` under a random name (``tempfile.mkstemp``), which never follows a link, and
renames it over the target, which replaces a link at the target rather than what it points to.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[IO[bytes]]:
    """A new file for ``path``: renamed over it when the block ends, removed if the block fails.

    The data is flushed to disk before the rename, so ``path`` holds either its old content or
    the new one, whole. The new file gets the old one's permissions (or the umask's for a new file).
    """
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            os.chmod(stream.fileno(), _mode_for(path))
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise


def _mode_for(path: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        status = os.lstat(path)
        if stat.S_ISREG(status.st_mode):
            return status.st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
