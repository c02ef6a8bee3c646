"""A time limit on the awaits inside a block that never swallows a cancellation from outside.

``asyncio.wait_for`` before Python 3.12 runs its awaitable as a separate task and returns that
task's result when it finishes in the same step as an outside cancellation, which is lost (a
closed client's download then ran to its end). ``asyncio.timeout`` (3.11+) cancels the running
task itself and tells its own cancellation apart. Its backport ``async_timeout`` (3.10) does too,
except when the time runs out in the very step an outside cancellation comes: then the time
limit wins, as 3.10 cannot tell the two apart.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from asyncio import timeout as time_limit
else:  # pragma: no cover - the lowest-Python leg runs it
    from async_timeout import timeout as time_limit

__all__ = ["time_limit"]
