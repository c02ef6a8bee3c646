"""The one loop-binding rule, as every part that holds something of an event loop applies it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator

import pytest

from douyin_async import LocalThrottle, Outcome, TransportError
from douyin_async._lifecycle import LoopBound


class Part:
    made = 0

    def __init__(self) -> None:
        Part.made += 1
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def _close(part: Part) -> None:
    await part.close()


@contextlib.contextmanager
def running_in_another_thread(first: Callable[[], Awaitable[object]]) -> Iterator[None]:
    """Another thread runs an event loop that has done ``first`` and keeps running until the block ends."""
    started, stop = threading.Event(), threading.Event()

    async def hold() -> None:
        await first()
        started.set()
        while not stop.is_set():
            await asyncio.sleep(0.01)

    thread = threading.Thread(target=asyncio.run, args=(hold(),))
    thread.start()
    try:
        assert started.wait(10)
        yield
    finally:
        stop.set()
        thread.join(10)


def test_a_part_is_kept_on_its_loop_and_made_again_once_that_loop_is_closed() -> None:
    bound = LoopBound(Part, "the parts", close=_close)

    async def twice() -> tuple[Part, Part]:
        return await bound.aget(), await bound.aget()

    first, again = asyncio.run(twice())
    assert first is again and not first.closed
    second, _ = asyncio.run(twice())  # asyncio.run closed the first loop
    assert second is not first
    assert first.closed, "what a new loop's part replaces is closed, not dropped"


def test_a_part_of_another_threads_running_loop_is_refused() -> None:
    bound = LoopBound(Part, "the parts", close=_close)

    async def use() -> None:
        with pytest.raises(TransportError, match="another event loop"):
            await bound.aget()
        with pytest.raises(TransportError, match="another event loop"):
            bound.get()

    with running_in_another_thread(bound.aget):
        asyncio.run(use())


def test_a_part_of_a_stopped_loop_that_is_not_closed_is_refused_only_where_it_holds_connections() -> None:
    loop = asyncio.new_event_loop()
    connections = LoopBound(Part, "the connections", close=_close)
    queues = LoopBound(Part, "the queues")
    try:
        async def bind() -> None:
            await connections.aget()
            queues.get()

        loop.run_until_complete(bind())

        async def use() -> Part:
            with pytest.raises(TransportError, match="stopped but not closed"):
                await connections.aget()
            return queues.get()

        assert asyncio.run(use()) is queues.value  # queues hold no sockets: made again here
    finally:
        loop.close()


def test_a_local_throttle_follows_the_rule() -> None:
    """The in-process throttle is made again on a new loop, and refused from another thread's."""
    throttle = LocalThrottle(rate_limit=100, max_concurrency=2)

    async def one() -> None:
        ticket = await throttle.acquire()
        await throttle.release(ticket, Outcome.ANSWERED)

    asyncio.run(one())
    asyncio.run(one())  # the first loop is closed: its queues are made again
    with running_in_another_thread(one), pytest.raises(TransportError, match="another event loop"):
        asyncio.run(one())
