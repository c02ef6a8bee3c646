"""Whether a client is open, on which event loop, and which tasks have a call in flight on it.

Closing a client ends the calls in flight with ``ClientClosedError`` (their tasks are
cancelled, and the cancellation is turned into that error where the call began), and a closed
client refuses new calls until it is opened again explicitly: it never opens a session behind
its caller's back. A task cancelled by its owner as well (``asyncio.timeout``, a ``TaskGroup``)
gets its ``CancelledError``, so those keep their meaning. Python 3.10 cannot count a task's
cancellations: there the first one delivered decides, so an owner's that lands in the very step
after the close is taken for the close. A call from another thread's event loop, while the
client's own loop runs, is refused at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Generic, TypeVar

from .errors import ClientClosedError, TransportError

if sys.version_info >= (3, 11):
    from asyncio import timeout
else:  # pragma: no cover - the lowest-Python leg runs it
    from async_timeout import timeout

time_limit = timeout
"""A time limit on the awaits inside a block that never swallows a cancellation from outside.

``asyncio.wait_for`` before Python 3.12 runs its awaitable as a separate task and returns that
task's result when it finishes in the same step as an outside cancellation, which is lost.
``asyncio.timeout`` (3.11+) cancels the running task itself and tells its own cancellation apart;
its backport ``async_timeout`` (3.10) does too, except when the time runs out in the very step an
outside cancellation comes (3.10 cannot tell the two apart).
"""

T = TypeVar("T")

_CLOSING = "the client was closed"
"""The message of the client's own cancellations, which tells them apart on Python 3.10."""


class Lifecycle:
    """Used as ``with lifecycle:`` around each public call (re-entrant within one task)."""

    __slots__ = ("_closed", "_drained", "_ended", "_loop", "_running")

    def __init__(self) -> None:
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: dict[asyncio.Task[object], int] = {}
        self._ended: set[asyncio.Task[object]] = set()
        self._drained: asyncio.Event | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    def open(self) -> None:
        """Accept calls again (``async with`` and ``open()`` do this; a call never does)."""
        self._closed = False
        self._bind(asyncio.get_running_loop())

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        loop_moved(self._loop, "the client", holds_connections=False)
        self._loop = loop

    async def close(self, grace: float = 1.0) -> None:
        """Refuse new calls, cancel those in flight, and wait (up to ``grace`` s) until they have ended."""
        self._closed = True
        current = asyncio.current_task()
        for task in self._running:
            if task is not current and not task.done():
                self._ended.add(task)
                task.cancel(_CLOSING)
        if not self._ended:
            return
        drained = self._drained = asyncio.Event()  # made here: an Event belongs to one loop
        try:  # they unwind, and give their connections back, before the session closes
            async with time_limit(grace):
                await drained.wait()
        except (TimeoutError, asyncio.TimeoutError):
            self._ended.clear()

    def __enter__(self) -> None:
        if self._closed:
            raise ClientClosedError("the client is closed: open it again (async with, or await client.open())")
        task = asyncio.current_task()
        assert task is not None, "a call runs in a task"
        loop = task.get_loop()
        if loop is not self._loop:
            self._bind(loop)
        self._running[task] = self._running.get(task, 0) + 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        depth = self._running.pop(task, 1) - 1
        if depth:
            self._running[task] = depth
        if exc_type is asyncio.CancelledError and task in self._ended:
            self._leave_ended(task)
            if _only_ours(task, exc):
                raise ClientClosedError("the client was closed while this call was in flight") from None
            return  # its owner cancelled it too: a cancellation it goes on as
        if not depth and task in self._ended:
            self._leave_ended(task)

    def _leave_ended(self, task: asyncio.Task[object]) -> None:
        self._ended.discard(task)
        if not self._ended and self._drained is not None:
            self._drained.set()


def _only_ours(task: asyncio.Task[object], exc: BaseException | None) -> bool:
    """Whether the close alone cancelled ``task``; ours is taken back (3.11+) either way."""
    uncancel = getattr(task, "uncancel", None)
    if uncancel is not None:
        return bool(uncancel() == 0)
    return exc is not None and exc.args == (_CLOSING,)  # 3.10: the message of the one delivered


def loop_moved(
    bound: asyncio.AbstractEventLoop | None, what: str, *, owner: str = "client", holds_connections: bool = True
) -> bool:
    """Whether parts bound to the ``bound`` loop must be replaced on the running one.

    The one rule for every part bound to an event loop: it is kept on its own loop; on another it is
    replaced (the caller closes what it replaces with ``close_from_here``) once its loop is closed,
    as after ``asyncio.run``; while its loop runs in another thread it is refused, and open
    connections of a loop that stopped but is not closed are refused too: they can be closed only
    there. ``what`` names the parts in the ``TransportError``, ``owner`` what to close.
    """
    if bound is None or bound is asyncio.get_running_loop():
        return False
    if bound.is_running():
        raise TransportError(f"{what} belong to another event loop (another thread's, running): "
                             f"make one {owner} per loop", retryable=False, sent=False)
    if holds_connections and not bound.is_closed():
        raise TransportError(
            f"{what} belong to another event loop, stopped but not closed: close the {owner} there first "
            f"(loop.run_until_complete({owner}.aclose())), or close that loop", retryable=False, sent=False,
        )
    return True


async def close_from_here(close: Callable[[], Awaitable[object]]) -> None:
    """Close a part of a closed event loop from the running one, as far as that can be done.

    Its sockets cannot be closed without their loop ("Event loop is closed"): the garbage
    collector releases them.
    """
    with contextlib.suppress(RuntimeError):
        await close()


class LoopBound(Generic[T]):
    """A part made on one event loop (a session, semaphores, a Redis client): kept on that loop, and
    on another made again by ``make`` as ``loop_moved`` allows, what it replaces closed by ``close``.

    Every part of the package that holds something of a loop holds it through one of these.
    """

    __slots__ = ("_close", "_make", "_owner", "_what", "loop", "value")

    def __init__(
        self,
        make: Callable[[], T],
        what: str,
        *,
        close: Callable[[T], Awaitable[object]] | None = None,
        owner: str = "client",
    ) -> None:
        self._make, self._close, self._what, self._owner = make, close, what, owner
        self.loop: asyncio.AbstractEventLoop | None = None
        self.value: T | None = None

    def get(self) -> T:
        """The part for the running loop, made now if it is not there (parts with nothing to close)."""
        loop = asyncio.get_running_loop()
        if loop is not self.loop or self.value is None:
            loop_moved(self.loop, self._what, owner=self._owner, holds_connections=False)
            self.value, self.loop = self._make(), loop
        return self.value

    async def aget(self) -> T:
        """The part for the running loop; one of a closed loop is closed from here first."""
        loop = asyncio.get_running_loop()
        if loop is self.loop and self.value is not None:
            return self.value
        old = self.value
        if old is not None and loop_moved(self.loop, self._what, owner=self._owner, holds_connections=True):
            self.value = self.loop = None
            close = self._close
            if close is not None:
                await close_from_here(lambda: close(old))
            if self.value is not None and self.loop is loop:  # made meanwhile, by another call
                return self.value
        self.value, self.loop = self._make(), loop
        return self.value

    def drop(self) -> T | None:
        """Forget the part (its owner closes it), so that the next ``get`` makes a new one."""
        value, self.value, self.loop = self.value, None, None
        return value
